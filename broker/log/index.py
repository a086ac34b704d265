"""Kafka's sparse segment indexes: ``.index`` (offset -> position) and ``.timeindex``
(timestamp -> offset).

File formats (Kafka's OffsetIndex and TimeIndex, big-endian):
  .index      8-byte entries: int32 offset relative to the segment base, int32 position
  .timeindex  12-byte entries: int64 timestamp, int32 relative offset

Both keep their entries in memory (two C arrays, 8 or 12 bytes an entry) and write each
new entry straight through to the file. Files are never preallocated, so the file length is
always the entry count times the entry size; ``max_index_bytes`` only bounds the count
(Kafka's "index full" roll condition). A crash may still leave a partial entry or a zeroed
tail (a file extended but not synced): loading drops trailing all-zero entries and
``sanity_check`` raises CorruptIndexError for anything else inconsistent, after which the
segment rebuilds its indexes from the log.
"""

from __future__ import annotations

import bisect
import operator
import struct
from array import array
from itertools import islice

from broker.log.files import FileHandle

INT32_MAX = 2147483647


class CorruptIndexError(Exception):
    """An index file that cannot be trusted; rebuild it from the log."""


def _strictly_increasing(values: array[int]) -> bool:
    return all(map(operator.lt, values, islice(values, 1, None)))


class _SparseIndex:
    """What both indexes share: two parallel C arrays (``_keys``, ``_values``) mirrored by a
    file of fixed-size big-endian entries, loaded, appended and truncated the same way."""

    KIND = ""
    KEY_TYPE = "i"
    VALUE_TYPE = "i"

    def __init__(self, handle: FileHandle, base_offset: int, max_index_bytes: int) -> None:
        self._handle = handle
        self.base_offset = base_offset
        self._entry = struct.Struct(">" + self.KEY_TYPE + self.VALUE_TYPE)
        self.max_entries = max_index_bytes // self._entry.size
        self._keys: array[int] = array(self.KEY_TYPE)
        self._values: array[int] = array(self.VALUE_TYPE)
        self._load()

    def _load(self) -> None:
        entry_bytes = self._entry.size
        size = self._handle.size()
        if size % entry_bytes:
            raise CorruptIndexError(f"{self.KIND} index of {size} bytes is not whole entries")
        count = size // entry_bytes
        layout = ">" + (self.KEY_TYPE + self.VALUE_TYPE) * count
        values = struct.unpack(layout, self._handle.pread(size, 0))
        self._keys = array(self.KEY_TYPE, values[0::2])
        self._values = array(self.VALUE_TYPE, values[1::2])
        # A zeroed tail is a file extended but never written (a crash): drop it.
        while len(self._keys) > 1 and self._keys[-1] == 0 and self._values[-1] == 0:
            self._keys.pop()
            self._values.pop()
        if len(self._keys) < count:
            self._handle.truncate(len(self._keys) * entry_bytes)

    @property
    def entries(self) -> int:
        return len(self._keys)

    @property
    def is_full(self) -> bool:
        return len(self._keys) >= self.max_entries

    @property
    def size_bytes(self) -> int:
        return len(self._keys) * self._entry.size

    def _write_entry(self, key: int, value: int) -> None:
        self._handle.pwrite(self._entry.pack(key, value), self.size_bytes)
        self._keys.append(key)
        self._values.append(value)

    def reset(self) -> None:
        self._truncate_entries(0)

    def _truncate_entries(self, keep: int) -> None:
        del self._keys[keep:]
        del self._values[keep:]
        self._handle.truncate(keep * self._entry.size)

    def flush(self) -> None:
        self._handle.fsync()

    def close(self) -> None:
        self._handle.close()


class OffsetIndex(_SparseIndex):
    """Maps offsets to file positions of the batch to start scanning from.

    Keys are offsets relative to the segment's base offset, values file positions.
    """

    KIND = "offset"

    def last_entry(self) -> tuple[int, int]:
        """(absolute offset, position) of the last entry, or (base offset, 0)."""
        if not self._keys:
            return self.base_offset, 0
        return self.base_offset + self._keys[-1], self._values[-1]

    def sanity_check(self, log_size_bytes: int) -> None:
        """Kafka's checks plus order and bounds: entries increase and point into the log."""
        if not self._keys:
            return
        if self._keys[0] < 0 or self._values[-1] >= max(log_size_bytes, 1):
            raise CorruptIndexError("offset index points outside its segment")
        if not _strictly_increasing(self._keys) or not _strictly_increasing(self._values):
            raise CorruptIndexError("offset index entries out of order")

    def append(self, offset: int, position: int) -> None:
        relative = offset - self.base_offset
        assert not self.is_full, "caller rolls before the index fills"
        assert 0 <= relative <= INT32_MAX and 0 <= position <= INT32_MAX
        if self._keys and (relative <= self._keys[-1] or position <= self._values[-1]):
            raise AssertionError(f"offset index entry ({offset}, {position}) out of order")
        self._write_entry(relative, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """The largest entry with offset <= ``offset``, or (base offset, 0)."""
        slot = bisect.bisect_right(self._keys, offset - self.base_offset) - 1
        if slot < 0:
            return self.base_offset, 0
        return self.base_offset + self._keys[slot], self._values[slot]

    def truncate_to(self, offset: int) -> None:
        """Drop every entry with offset >= ``offset``."""
        self._truncate_entries(bisect.bisect_left(self._keys, offset - self.base_offset))


class TimeIndex(_SparseIndex):
    """Maps timestamps to the offset from which records reach that timestamp.

    Keys are timestamps, values offsets relative to the segment's base offset.
    """

    KIND = "time"
    KEY_TYPE = "q"

    def last_entry(self) -> tuple[int, int]:
        """(timestamp, absolute offset) of the last entry, or (-1, base offset)."""
        if not self._values:
            return -1, self.base_offset
        return self._keys[-1], self.base_offset + self._values[-1]

    def sanity_check(self, next_offset: int) -> None:
        if not self._values:
            return
        if self._values[0] < 0 or self.base_offset + self._values[-1] >= max(next_offset, 1):
            raise CorruptIndexError("time index points outside its segment")
        if not _strictly_increasing(self._keys):
            raise CorruptIndexError("time index timestamps out of order")
        if not all(map(operator.le, self._values, islice(self._values, 1, None))):
            raise CorruptIndexError("time index offsets out of order")

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> bool:
        """Append only if ``timestamp`` is larger than the last entry's (Kafka's rule);
        returns whether it did."""
        relative = offset - self.base_offset
        assert skip_full_check or not self.is_full, "caller rolls before the index fills"
        assert 0 <= relative <= INT32_MAX
        if self._values:
            if relative < self._values[-1]:
                raise AssertionError(f"time index offset {offset} below the last entry")
            if timestamp <= self._keys[-1]:
                return False
        self._write_entry(timestamp, relative)
        return True

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """The largest entry with timestamp <= ``timestamp``: (timestamp, absolute offset),
        or (-1, base offset) when none is."""
        slot = bisect.bisect_right(self._keys, timestamp) - 1
        if slot < 0:
            return -1, self.base_offset
        return self._keys[slot], self.base_offset + self._values[slot]

    def truncate_to(self, offset: int) -> None:
        """Drop every entry with offset >= ``offset``."""
        self._truncate_entries(bisect.bisect_left(self._values, offset - self.base_offset))
