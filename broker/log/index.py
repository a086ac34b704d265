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

OFFSET_ENTRY_BYTES = 8
TIME_ENTRY_BYTES = 12
INT32_MAX = 2147483647

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class CorruptIndexError(Exception):
    """An index file that cannot be trusted; rebuild it from the log."""


def _strictly_increasing(values: array[int]) -> bool:
    return all(map(operator.lt, values, islice(values, 1, None)))


class OffsetIndex:
    """Maps offsets to file positions of the batch to start scanning from."""

    def __init__(self, handle: FileHandle, base_offset: int, max_index_bytes: int) -> None:
        self._handle = handle
        self.base_offset = base_offset
        self.max_entries = max_index_bytes // OFFSET_ENTRY_BYTES
        self._offsets: array[int] = array("i")
        self._positions: array[int] = array("i")
        self._load()

    def _load(self) -> None:
        size = self._handle.size()
        if size % OFFSET_ENTRY_BYTES:
            raise CorruptIndexError(f"offset index of {size} bytes is not whole entries")
        count = size // OFFSET_ENTRY_BYTES
        values = struct.unpack(f">{count * 2}i", self._handle.pread(size, 0))
        self._offsets = array("i", values[0::2])
        self._positions = array("i", values[1::2])
        while len(self._offsets) > 1 and self._offsets[-1] == 0 and self._positions[-1] == 0:
            self._offsets.pop()
            self._positions.pop()
        if len(self._offsets) < count:
            self._handle.truncate(len(self._offsets) * OFFSET_ENTRY_BYTES)

    @property
    def entries(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    @property
    def size_bytes(self) -> int:
        return len(self._offsets) * OFFSET_ENTRY_BYTES

    def last_entry(self) -> tuple[int, int]:
        """(absolute offset, position) of the last entry, or (base offset, 0)."""
        if not self._offsets:
            return self.base_offset, 0
        return self.base_offset + self._offsets[-1], self._positions[-1]

    def sanity_check(self, log_size_bytes: int) -> None:
        """Kafka's checks plus order and bounds: entries increase and point into the log."""
        if not self._offsets:
            return
        if self._offsets[0] < 0 or self._positions[-1] >= max(log_size_bytes, 1):
            raise CorruptIndexError("offset index points outside its segment")
        if not _strictly_increasing(self._offsets) or not _strictly_increasing(self._positions):
            raise CorruptIndexError("offset index entries out of order")

    def append(self, offset: int, position: int) -> None:
        relative = offset - self.base_offset
        assert not self.is_full, "caller rolls before the index fills"
        assert 0 <= relative <= INT32_MAX and 0 <= position <= INT32_MAX
        if self._offsets and (relative <= self._offsets[-1] or position <= self._positions[-1]):
            raise AssertionError(f"offset index entry ({offset}, {position}) out of order")
        self._handle.pwrite(_OFFSET_ENTRY.pack(relative, position), self.size_bytes)
        self._offsets.append(relative)
        self._positions.append(position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """The largest entry with offset <= ``offset``, or (base offset, 0)."""
        slot = bisect.bisect_right(self._offsets, offset - self.base_offset) - 1
        if slot < 0:
            return self.base_offset, 0
        return self.base_offset + self._offsets[slot], self._positions[slot]

    def truncate_to(self, offset: int) -> None:
        """Drop every entry with offset >= ``offset``."""
        keep = bisect.bisect_left(self._offsets, offset - self.base_offset)
        self._truncate_entries(keep)

    def reset(self) -> None:
        self._truncate_entries(0)

    def _truncate_entries(self, keep: int) -> None:
        del self._offsets[keep:]
        del self._positions[keep:]
        self._handle.truncate(keep * OFFSET_ENTRY_BYTES)

    def flush(self) -> None:
        self._handle.fsync()

    def close(self) -> None:
        self._handle.close()


class TimeIndex:
    """Maps timestamps to the offset from which records reach that timestamp."""

    def __init__(self, handle: FileHandle, base_offset: int, max_index_bytes: int) -> None:
        self._handle = handle
        self.base_offset = base_offset
        self.max_entries = max_index_bytes // TIME_ENTRY_BYTES
        self._timestamps: array[int] = array("q")
        self._offsets: array[int] = array("i")
        self._load()

    def _load(self) -> None:
        size = self._handle.size()
        if size % TIME_ENTRY_BYTES:
            raise CorruptIndexError(f"time index of {size} bytes is not whole entries")
        count = size // TIME_ENTRY_BYTES
        values = struct.unpack(">" + "qi" * count, self._handle.pread(size, 0))
        self._timestamps = array("q", values[0::2])
        self._offsets = array("i", values[1::2])
        while len(self._offsets) > 1 and self._offsets[-1] == 0 and self._timestamps[-1] == 0:
            self._offsets.pop()
            self._timestamps.pop()
        if len(self._offsets) < count:
            self._handle.truncate(len(self._offsets) * TIME_ENTRY_BYTES)

    @property
    def entries(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    @property
    def size_bytes(self) -> int:
        return len(self._offsets) * TIME_ENTRY_BYTES

    def last_entry(self) -> tuple[int, int]:
        """(timestamp, absolute offset) of the last entry, or (-1, base offset)."""
        if not self._offsets:
            return -1, self.base_offset
        return self._timestamps[-1], self.base_offset + self._offsets[-1]

    def sanity_check(self, next_offset: int) -> None:
        if not self._offsets:
            return
        if self._offsets[0] < 0 or self.base_offset + self._offsets[-1] >= max(next_offset, 1):
            raise CorruptIndexError("time index points outside its segment")
        if not _strictly_increasing(self._timestamps):
            raise CorruptIndexError("time index timestamps out of order")
        if not all(map(operator.le, self._offsets, islice(self._offsets, 1, None))):
            raise CorruptIndexError("time index offsets out of order")

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> bool:
        """Append only if ``timestamp`` is larger than the last entry's (Kafka's rule);
        returns whether it did."""
        relative = offset - self.base_offset
        assert skip_full_check or not self.is_full, "caller rolls before the index fills"
        assert 0 <= relative <= INT32_MAX
        if self._offsets:
            if relative < self._offsets[-1]:
                raise AssertionError(f"time index offset {offset} below the last entry")
            if timestamp <= self._timestamps[-1]:
                return False
        self._handle.pwrite(_TIME_ENTRY.pack(timestamp, relative), self.size_bytes)
        self._timestamps.append(timestamp)
        self._offsets.append(relative)
        return True

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """The largest entry with timestamp <= ``timestamp``: (timestamp, absolute offset),
        or (-1, base offset) when none is."""
        slot = bisect.bisect_right(self._timestamps, timestamp) - 1
        if slot < 0:
            return -1, self.base_offset
        return self._timestamps[slot], self.base_offset + self._offsets[slot]

    def truncate_to(self, offset: int) -> None:
        """Drop every entry with offset >= ``offset``."""
        keep = bisect.bisect_left(self._offsets, offset - self.base_offset)
        self._truncate_entries(keep)

    def reset(self) -> None:
        self._truncate_entries(0)

    def _truncate_entries(self, keep: int) -> None:
        del self._timestamps[keep:]
        del self._offsets[keep:]
        self._handle.truncate(keep * TIME_ENTRY_BYTES)

    def flush(self) -> None:
        self._handle.fsync()

    def close(self) -> None:
        self._handle.close()
