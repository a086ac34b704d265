"""The aborted-transaction index of a partition log (Kafka's ``TransactionIndex``).

A ``read_committed`` fetch answers, beside the records, the aborted transactions that
overlap them, so the consumer can drop their records.  Each aborted transaction is one
entry, kept in the ``.txnindex`` file of the segment that holds its abort marker, in
Kafka's format: 34 bytes, big-endian ``version int16 (0), producer_id int64, first_offset
int64, last_offset int64, last_stable_offset int64``.  ``last_offset`` is the marker's.

The index is a cache of the log, like producer state: the log rebuilds the entries of
every marker it replays (it cuts the index back to where its replay starts first).  Each
entry is written and fsynced as its marker is appended (aborts are rare), so the entries
below a producer snapshot, which a restart does not replay, are on disk.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from broker.log.files import Files

TXN_INDEX_SUFFIX = ".txnindex"
_ENTRY = struct.Struct(">hqqqq")
_VERSION = 0


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


def _file_name(base_offset: int) -> str:
    return f"{base_offset:020d}{TXN_INDEX_SUFFIX}"


class TransactionIndex:
    """Every aborted transaction of one log, in marker order, over per-segment files."""

    def __init__(self, files: Files, directory: Path) -> None:
        self.files = files
        self.directory = directory
        # (segment base offset, entry), sorted by entry.last_offset (markers are appended
        # in offset order); _ends mirrors the last offsets for bisection.
        self._entries: list[tuple[int, AbortedTxn]] = []
        self._ends: list[int] = []

    @classmethod
    def load(cls, files: Files, directory: Path, segment_bases: list[int]) -> TransactionIndex:
        """Read the ``.txnindex`` files of the segments present; removes the others.  A
        torn last entry is ignored (its marker is replayed or was lost with it)."""
        index = cls(files, directory)
        present = set(segment_bases)
        for name in sorted(files.listdir(directory)):
            if not name.endswith(TXN_INDEX_SUFFIX):
                continue
            stem = name[: -len(TXN_INDEX_SUFFIX)]
            path = directory / name
            if not stem.isdigit() or int(stem) not in present:
                files.remove(path)
                continue
            base = int(stem)
            for entry in _read_entries(files, path):
                if not index._ends or entry.last_offset > index._ends[-1]:
                    index._entries.append((base, entry))
                    index._ends.append(entry.last_offset)
        return index

    @property
    def entries(self) -> list[AbortedTxn]:
        return [entry for _, entry in self._entries]

    def append(self, entry: AbortedTxn, segment_base: int) -> None:
        """Record an aborted transaction whose marker lies in the segment at ``segment_base``."""
        assert not self._ends or entry.last_offset > self._ends[-1], "markers go forwards"
        handle = self.files.open(self.directory / _file_name(segment_base))
        try:
            handle.pwrite(_ENTRY.pack(_VERSION, *entry), handle.size())
            handle.fsync()
        finally:
            handle.close()
        self._entries.append((segment_base, entry))
        self._ends.append(entry.last_offset)

    def collect(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions that may hold records in [fetch_offset, upper_bound):
        marker at or after ``fetch_offset``, first offset below ``upper_bound``."""
        start = bisect.bisect_left(self._ends, fetch_offset)
        return [entry for _, entry in self._entries[start:] if entry.first_offset < upper_bound]

    def truncate_from(self, offset: int) -> None:
        """Forget the entries whose marker is at or after ``offset`` (truncation, replay)."""
        cut = bisect.bisect_left(self._ends, offset)
        if cut == len(self._entries):
            return
        doomed = {base for base, _ in self._entries[cut:]}
        del self._entries[cut:]
        del self._ends[cut:]
        for base in doomed:
            self._rewrite(base)

    def drop_segments_below(self, base_offset: int) -> None:
        """Segments below ``base_offset`` were deleted: drop their entries and files."""
        kept = [(base, entry) for base, entry in self._entries if base >= base_offset]
        gone = {base for base, _ in self._entries if base < base_offset}
        self._entries = kept
        self._ends = [entry.last_offset for _, entry in kept]
        for base in gone:
            self._remove_file(base)

    def merge_segments(self, into: int, merged: Iterable[int]) -> None:
        """Segments ``merged`` became part of the one at ``into`` (compaction groups them):
        their entries move there, in one file written before theirs go."""
        moving = set(merged) - {into}
        if not any(base in moving for base, _ in self._entries):
            return
        self._entries = [(into if base in moving else base, entry) for base, entry in self._entries]
        self._rewrite(into)
        for base in moving:
            self._remove_file(base)

    def clear(self) -> None:
        for base in {base for base, _ in self._entries}:
            self._remove_file(base)
        self._entries.clear()
        self._ends.clear()

    def _rewrite(self, base: int) -> None:
        kept = [entry for entry_base, entry in self._entries if entry_base == base]
        if not kept:
            self._remove_file(base)
            return
        handle = self.files.open(self.directory / _file_name(base))
        try:
            handle.truncate(0)
            handle.pwrite(b"".join(_ENTRY.pack(_VERSION, *entry) for entry in kept), 0)
            handle.fsync()
        finally:
            handle.close()

    def _remove_file(self, base: int) -> None:
        path = self.directory / _file_name(base)
        if self.files.exists(path):
            self.files.remove(path)


def _read_entries(files: Files, path: Path) -> list[AbortedTxn]:
    handle = files.open(path, create=False)
    try:
        data = handle.pread(handle.size(), 0)
    finally:
        handle.close()
    entries = []
    for position in range(0, len(data) - _ENTRY.size + 1, _ENTRY.size):
        version, *fields = _ENTRY.unpack_from(data, position)
        if version != _VERSION:
            break
        entries.append(AbortedTxn(*fields))
    return entries
