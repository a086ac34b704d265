"""Producer-state snapshots: ``<offset>.snapshot`` files in a partition directory (Kafka's).

A snapshot named N holds the producer state after every batch below offset N.  The log writes
one when it rolls a segment (N = the new segment's base offset) and when it closes (N = the log
end offset), so opening a log replays only the batch headers after the newest usable snapshot
instead of the whole log.  Snapshots are written atomically (tmp file, fsync, rename); a corrupt
one is deleted and the next older one (or a full replay) is used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from broker.core.producer_state import CorruptSnapshotError, ProducerStateManager
from broker.log.files import Files

log = logging.getLogger("odradek.log")

SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOTS_KEPT = 3


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def snapshot_offsets(files: Files, directory: Path) -> list[int]:
    """Offsets of the snapshots present, oldest first."""
    stems = (
        name[: -len(SNAPSHOT_SUFFIX)]
        for name in files.listdir(directory)
        if name.endswith(SNAPSHOT_SUFFIX)
    )
    return sorted(int(stem) for stem in stems if stem.isdigit())


def write_snapshot(files: Files, directory: Path, offset: int, data: bytes) -> None:
    """Atomically write the snapshot for ``offset`` and keep only the newest few."""
    path = snapshot_path(directory, offset)
    temporary = path.with_name(path.name + ".tmp")
    handle = files.open(temporary)
    try:
        handle.truncate(0)
        handle.pwrite(data, 0)
        handle.fsync()
    finally:
        handle.close()
    files.rename(temporary, path)
    files.fsync_dir(directory)
    for old in snapshot_offsets(files, directory)[:-SNAPSHOTS_KEPT]:
        files.remove(snapshot_path(directory, old))


def delete_snapshots_above(files: Files, directory: Path, offset: int) -> None:
    """Snapshots of state beyond ``offset`` are wrong after a truncation to it."""
    for found in snapshot_offsets(files, directory):
        if found > offset:
            files.remove(snapshot_path(directory, found))


def load_latest(
    files: Files, directory: Path, log_end_offset: int
) -> tuple[int, ProducerStateManager] | None:
    """The newest readable snapshot at or below ``log_end_offset``; corrupt ones are removed."""
    delete_snapshots_above(files, directory, log_end_offset)
    for offset in reversed(snapshot_offsets(files, directory)):
        path = snapshot_path(directory, offset)
        handle = files.open(path, create=False)
        try:
            data = handle.pread(handle.size(), 0)
        finally:
            handle.close()
        try:
            return offset, ProducerStateManager.from_snapshot(data)
        except CorruptSnapshotError as error:
            log.warning("discarding corrupt producer snapshot %s: %s", path, error)
            files.remove(path)
    return None
