"""Kafka's offset checkpoint files (recovery-point-offset-checkpoint,
log-start-offset-checkpoint): a version line "0", a count line, then one
"<topic> <partition> <offset>" line per partition.

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


def write_checkpoint(files: Files, path: Path, offsets: Mapping[tuple[str, int], int]) -> None:
    """Atomically replace ``path`` with the given offsets."""
    temporary = path.with_name(path.name + ".tmp")
    data = encode_checkpoint(offsets)
    handle = files.open(temporary)
    try:
        handle.truncate(0)
        handle.pwrite(data, 0)
        handle.fsync()
    finally:
        handle.close()
    files.rename(temporary, path)
    files.fsync_dir(path.parent)


def read_checkpoint(files: Files, path: Path) -> dict[tuple[str, int], int]:
    """The offsets in ``path``; empty if it does not exist."""
    if not files.exists(path):
        return {}
    handle = files.open(path, create=False)
    try:
        size = handle.size()
        if size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{path}: {size} bytes is too large for a checkpoint")
        data = handle.pread(size, 0)
    finally:
        handle.close()
    return decode_checkpoint(data, str(path))
