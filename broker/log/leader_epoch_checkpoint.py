"""``leader-epoch-checkpoint`` in a partition directory (Kafka's LeaderEpochCheckpointFile).

A version line "0", a count line, then one "<epoch> <start offset>" line per entry, oldest
first.  Written atomically like the offset checkpoints (tmp file, fsync, rename, fsync the
directory).  Reading distinguishes a missing file (None: a log from before the cache existed)
from a malformed one (LeaderEpochCheckpointError); ``load`` rebuilds the cache from the batch
headers in both cases rather than refuse to open the log.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from broker.core.leader_epoch import EpochEntry, LeaderEpochCache
from broker.log.checkpoints import (
    CHECKPOINT_VERSION,
    CheckpointError,
    read_small_file,
    write_file_atomically,
)
from broker.log.files import Files
from broker.log.segment import LogSegment

log = logging.getLogger("odradek.log")

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"


class LeaderEpochCheckpointError(CheckpointError):
    """A leader-epoch-checkpoint that does not parse or is not strictly increasing."""


def encode(entries: Iterable[EpochEntry]) -> bytes:
    listed = list(entries)
    lines = [str(CHECKPOINT_VERSION), str(len(listed))]
    lines.extend(f"{entry.epoch} {entry.start_offset}" for entry in listed)
    return ("\n".join(lines) + "\n").encode()


def decode(data: bytes, source: str = LEADER_EPOCH_CHECKPOINT) -> list[EpochEntry]:
    """The entries in ``data``; LeaderEpochCheckpointError unless well formed and strictly
    increasing in both fields (what the cache requires)."""
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError as error:
        raise LeaderEpochCheckpointError(f"{source}: not text") from error
    if len(lines) < 2 or lines[0].strip() != str(CHECKPOINT_VERSION):
        raise LeaderEpochCheckpointError(f"{source}: unsupported version line {lines[:1]!r}")
    if not lines[1].strip().isdigit() or int(lines[1]) != len(lines) - 2:
        raise LeaderEpochCheckpointError(f"{source}: count {lines[1]!r}, {len(lines) - 2} lines")
    entries = [_decode_line(line, source) for line in lines[2:]]
    for earlier, later in itertools.pairwise(entries):
        if earlier.epoch >= later.epoch or earlier.start_offset >= later.start_offset:
            raise LeaderEpochCheckpointError(f"{source}: {earlier} then {later}")
    return entries


def _decode_line(line: str, source: str) -> EpochEntry:
    fields = line.split()
    if len(fields) != 2 or not all(field.isdigit() for field in fields):
        raise LeaderEpochCheckpointError(f"{source}: malformed line {line!r}")
    return EpochEntry(int(fields[0]), int(fields[1]))


def checkpoint_path(directory: Path) -> Path:
    return directory / LEADER_EPOCH_CHECKPOINT


def write(files: Files, directory: Path, entries: Iterable[EpochEntry]) -> None:
    """Atomically replace the partition's checkpoint with ``entries``."""
    write_file_atomically(files, checkpoint_path(directory), encode(entries))


def read(files: Files, directory: Path) -> list[EpochEntry] | None:
    """The partition's entries; None without a checkpoint file."""
    path = checkpoint_path(directory)
    try:
        data = read_small_file(files, path)
    except CheckpointError as error:
        raise LeaderEpochCheckpointError(str(error)) from error
    return None if data is None else decode(data, str(path))


def load(
    files: Files,
    directory: Path,
    segments: Sequence[LogSegment],
    *,
    log_start_offset: int,
    log_end_offset: int,
    rescan_from: int | None = None,
) -> LeaderEpochCache:
    """The partition's cache, cut to [log start offset, log end offset) as Kafka's loader does.

    Rebuilt from the batch headers when the checkpoint is missing (a log from before the
    cache), malformed, or empty beside batches (a crash between deleting segments and
    rewriting it). ``rescan_from`` (after an unclean shutdown: the recovery point) assigns
    the epochs of the batches from there again, as Kafka's segment recovery does. Written
    back only when that changed what the file says.
    """
    malformed = False
    try:
        stored = read(files, directory)
    except LeaderEpochCheckpointError as error:
        log.warning("%s: rebuilding the leader epoch cache from the log: %s", directory, error)
        stored, malformed = None, True
    if stored is None or (not stored and any(s.size_bytes for s in segments)):
        cache = LeaderEpochCache()
        assign_from_headers(cache, segments, 0)
    else:
        cache = LeaderEpochCache(stored)
        if rescan_from is not None:
            assign_from_headers(cache, segments, rescan_from)
    cache.truncate_from_end(log_end_offset)
    cache.truncate_from_start(log_start_offset)
    if malformed or cache.entries != tuple(stored or ()):
        write(files, directory, cache.entries)
    return cache


def assign_from_headers(
    cache: LeaderEpochCache, segments: Sequence[LogSegment], from_offset: int
) -> None:
    """Each batch's epoch, from the segment holding ``from_offset`` to the end."""
    for segment in segments:
        if segment.next_offset <= from_offset:
            continue
        for _, header in segment.headers_from(0):
            cache.assign(header.partition_leader_epoch, header.base_offset)
