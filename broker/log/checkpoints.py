"""Kafka's offset checkpoint files (recovery-point-offset-checkpoint,
log-start-offset-checkpoint, replication-offset-checkpoint): a version line "0", a count
line, then one "<topic> <partition> <offset>" line per partition.

Written atomically as Kafka's CheckpointFile does: write "<name>.tmp", fsync it, rename over
the old file, fsync the directory. Reading a missing file gives no entries (a new log
dir); a malformed one raises CheckpointError rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from broker.log.files import Files

RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
"""The high watermark of each partition (Kafka's ReplicaManager writes it per log dir)."""
CHECKPOINT_VERSION = 0
MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
"""A checkpoint larger than this is treated as corrupt rather than read into memory."""


class CheckpointError(Exception):
    """A checkpoint file that does not parse."""


def encode_checkpoint(offsets: Mapping[tuple[str, int], int]) -> bytes:
    lines = [str(CHECKPOINT_VERSION), str(len(offsets))]
    for (topic, partition), offset in sorted(offsets.items()):
        assert " " not in topic and partition >= 0
        lines.append(f"{topic} {partition} {offset}")
    return ("\n".join(lines) + "\n").encode()


def decode_checkpoint(data: bytes, source: str = "checkpoint") -> dict[tuple[str, int], int]:
    try:
        lines = data.decode().splitlines()
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{source}: not text") from error
    if len(lines) < 2 or lines[0].strip() != str(CHECKPOINT_VERSION):
        raise CheckpointError(f"{source}: unsupported version line {lines[:1]!r}")
    try:
        expected = int(lines[1])
    except ValueError as error:
        raise CheckpointError(f"{source}: bad count line {lines[1]!r}") from error
    entries = lines[2:]
    if expected != len(entries):
        raise CheckpointError(f"{source}: expected {expected} entries, found {len(entries)}")
    offsets: dict[tuple[str, int], int] = {}
    for line in entries:
        fields = line.split(" ")
        if len(fields) != 3 or not fields[0]:
            raise CheckpointError(f"{source}: malformed line {line!r}")
        try:
            offsets[(fields[0], int(fields[1]))] = int(fields[2])
        except ValueError as error:
            raise CheckpointError(f"{source}: malformed line {line!r}") from error
    return offsets


def write_file_atomically(files: Files, path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never a
    torn one: write "<name>.tmp", fsync it, rename it over ``path``, fsync the directory."""
    temporary = path.with_name(path.name + ".tmp")
    handle = files.open(temporary)
    try:
        handle.truncate(0)
        handle.pwrite(data, 0)
        handle.fsync()
    finally:
        handle.close()
    files.rename(temporary, path)
    files.fsync_dir(path.parent)


def read_small_file(files: Files, path: Path) -> bytes | None:
    """The whole of ``path``; None if it does not exist; CheckpointError above
    MAX_CHECKPOINT_BYTES."""
    if not files.exists(path):
        return None
    handle = files.open(path, create=False)
    try:
        size = handle.size()
        if size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{path}: {size} bytes is too large for a checkpoint")
        return handle.pread(size, 0)
    finally:
        handle.close()


def write_checkpoint(files: Files, path: Path, offsets: Mapping[tuple[str, int], int]) -> None:
    """Atomically replace ``path`` with the given offsets."""
    write_file_atomically(files, path, encode_checkpoint(offsets))


def read_checkpoint(files: Files, path: Path) -> dict[tuple[str, int], int]:
    """The offsets in ``path``; empty if it does not exist."""
    data = read_small_file(files, path)
    return {} if data is None else decode_checkpoint(data, str(path))
