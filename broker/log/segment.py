"""One log segment: ``<base offset:020>.log`` with its ``.index`` and ``.timeindex``.

Semantics follow Kafka's LogSegment: sparse index entries every ``index_interval_bytes``,
roll by size, time (from the first batch's max timestamp, else creation), a full index or a
relative offset that no longer fits an int32; recovery re-validates every batch (framing
and CRC), truncates at the first invalid byte and rebuilds both indexes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from broker.log.files import FileHandle, Files
from broker.log.index import INT32_MAX, CorruptIndexError, OffsetIndex, TimeIndex
from client.protocol import records
from client.protocol.errors import ErrorCode
from client.protocol.records import BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES, BatchHeader

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
RECOVERY_CHUNK_BYTES = 8 * 1024 * 1024
"""Recovery reads the log in chunks of this size (one batch at a time if larger)."""


def file_name(base_offset: int, suffix: str) -> str:
    """Kafka's segment file name: the base offset in 20 digits."""
    return f"{base_offset:020d}{suffix}"


SCAN_CHUNK_BYTES = 16 * 1024
TAIL_BATCHES = 1024
"""The most batches a segment's tail list keeps (a large index.interval.bytes would make it
hold every batch); past it the older half goes and lookups before the rest scan from the
index, as without the list."""


class BatchPlacement(NamedTuple):
    """Where one appended batch sits within the bytes handed to ``LogSegment.append``."""

    position: int
    last_offset: int
    max_timestamp: int


@dataclass(frozen=True, slots=True)
class IndexSettings:
    index_interval_bytes: int
    max_index_bytes: int


class LogSegment:
    """A segment's files plus the in-memory facts Kafka keeps about them."""

    def __init__(
        self,
        files: Files,
        directory: Path,
        base_offset: int,
        settings: IndexSettings,
        created_ms: int,
    ) -> None:
        self.files = files
        self.directory = directory
        self.base_offset = base_offset
        self.settings = settings
        self.created_ms = created_ms
        self._log: FileHandle = files.open(self.path(LOG_SUFFIX))
        self.size_bytes = self._log.size()
        self.next_offset = base_offset
        self.max_timestamp_so_far = -1
        self.offset_of_max_timestamp_so_far = base_offset
        self.first_batch_timestamp: int | None = None
        self._bytes_since_last_index_entry = 0
        # Last offset and position of each batch from the last offset index entry's batch
        # (or the first batch) to the end: a read at the tail — what followers and caught-up
        # consumers do — finds its batch by bisection instead of parsing every header after
        # the index entry (~25 for 150-byte batches and the default index.interval.bytes).
        self._tail_last_offsets: list[int] = []
        self._tail_positions: list[int] = []
        self.offset_index = OffsetIndex(
            files.open(self.path(INDEX_SUFFIX)), base_offset, settings.max_index_bytes
        )
        self.time_index = TimeIndex(
            files.open(self.path(TIME_INDEX_SUFFIX)), base_offset, settings.max_index_bytes
        )

    def path(self, suffix: str) -> Path:
        return self.directory / file_name(self.base_offset, suffix)

    # ---- opening ----------------------------------------------------------------------

    @classmethod
    def create(
        cls, files: Files, directory: Path, base_offset: int, settings: IndexSettings, wall_ms: int
    ) -> LogSegment:
        assert not files.exists(directory / file_name(base_offset, LOG_SUFFIX))
        return cls(files, directory, base_offset, settings, wall_ms)

    @classmethod
    def open(
        cls, files: Files, directory: Path, base_offset: int, settings: IndexSettings
    ) -> tuple[LogSegment, bool]:
        """Load a segment; returns it and whether its indexes were sound.

        Missing or corrupt indexes come back empty and flagged, so the caller recovers the
        segment (Kafka rebuilds such indexes at load).
        """
        log_path = directory / file_name(base_offset, LOG_SUFFIX)
        indexes_present = all(
            files.exists(directory / file_name(base_offset, suffix))
            for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
        )
        created_ms = files.mtime_ms(log_path)
        try:
            segment = cls(files, directory, base_offset, settings, created_ms)
        except CorruptIndexError:
            for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                files.remove(directory / file_name(base_offset, suffix))
            segment = cls(files, directory, base_offset, settings, created_ms)
            return segment, False
        try:
            segment.offset_index.sanity_check(segment.size_bytes)
            segment._load_tail()
            segment.time_index.sanity_check(segment.next_offset)
            last_indexed, _ = segment.offset_index.last_entry()
            if segment.offset_index.entries and last_indexed >= segment.next_offset:
                raise CorruptIndexError("offset index ahead of the log")
        except (CorruptIndexError, records.InvalidRecordError):
            return segment, False
        return segment, indexes_present or segment.size_bytes == 0

    def _load_tail(self) -> None:
        """Next offset and max timestamp: the time index's last entry, then the headers
        after the last offset index entry (Kafka's readNextOffset)."""
        self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far = (
            self.time_index.last_entry()
        )
        self.next_offset = self.base_offset
        _, start = self.offset_index.last_entry()
        self._tail_last_offsets = []
        self._tail_positions = []
        for position, header in self.headers_from(start):
            self._note_batch(header.last_offset, header.max_timestamp)
            self._remember_tail_batch(header.last_offset, position)
        self._bytes_since_last_index_entry = self.size_bytes - start
        self.first_batch_timestamp = None
        if self.size_bytes >= BATCH_HEADER_BYTES:
            self.first_batch_timestamp = self._header_at(0).max_timestamp

    def _note_batch(self, last_offset: int, max_timestamp: int) -> None:
        self.next_offset = last_offset + 1
        if max_timestamp > self.max_timestamp_so_far:
            self.max_timestamp_so_far = max_timestamp
            self.offset_of_max_timestamp_so_far = last_offset

    # ---- reading ----------------------------------------------------------------------

    def _header_at(self, position: int) -> BatchHeader:
        raw = self._log.pread(BATCH_HEADER_BYTES, position)
        if len(raw) < BATCH_HEADER_BYTES:
            raise records.InvalidRecordError(
                ErrorCode.CORRUPT_MESSAGE, f"partial header at {position}"
            )
        header = records.parse_header(raw)
        if header.batch_length < records.MIN_BATCH_LENGTH:
            raise records.InvalidRecordError(
                ErrorCode.CORRUPT_MESSAGE, f"bad batch length at {position}"
            )
        return header

    def headers_from(self, position: int) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each whole batch from ``position`` to the end."""
        for found_at, header, _chunk, _chunk_start in self._scan(position):
            yield found_at, header

    def _scan(self, position: int) -> Iterator[tuple[int, BatchHeader, bytes, int]]:
        """Like ``headers_from``, with the chunk each header was read from and the chunk's
        file position: the file is read in chunks of ``SCAN_CHUNK_BYTES``, not one pread
        per header (between two offset index entries lie up to index.interval.bytes of
        batches, ~25 of one 100-byte record each)."""
        end = self.size_bytes
        chunk = b""
        chunk_start = position
        while position + BATCH_HEADER_BYTES <= end:
            relative = position - chunk_start
            if relative + BATCH_HEADER_BYTES > len(chunk):
                chunk_start, relative = position, 0
                chunk = self._log.pread(min(SCAN_CHUNK_BYTES, end - position), position)
                if len(chunk) < BATCH_HEADER_BYTES:
                    raise records.InvalidRecordError(
                        ErrorCode.CORRUPT_MESSAGE, f"partial header at {position}"
                    )
            header = records.parse_header(chunk, relative)
            if header.batch_length < records.MIN_BATCH_LENGTH:
                raise records.InvalidRecordError(
                    ErrorCode.CORRUPT_MESSAGE, f"bad batch length at {position}"
                )
            if position + header.size_bytes > end:
                return
            yield position, header, chunk, chunk_start
            position += header.size_bytes

    def translate_offset(self, offset: int) -> tuple[int, BatchHeader] | None:
        """The batch holding ``offset`` (or the first one after it), from the index."""
        found = self._locate(offset)
        return None if found is None else (found[0], found[1])

    def _locate(self, offset: int) -> tuple[int, BatchHeader, bytes, int] | None:
        """The first batch whose last offset is >= ``offset``, with the chunk read from its
        position: (position, header, chunk, chunk's file position)."""
        lasts = self._tail_last_offsets
        if lasts and offset > lasts[0]:
            # Past the tail's first batch: every earlier batch ends before ``offset``.
            index = bisect.bisect_left(lasts, offset)
            if index == len(lasts):
                return None
            position = self._tail_positions[index]
            for found in self._scan(position):
                return found
            raise records.InvalidRecordError(
                ErrorCode.CORRUPT_MESSAGE, f"batch at {position} missing"
            )
        _, start = self.offset_index.lookup(offset)
        for found in self._scan(start):
            if found[1].last_offset >= offset:
                return found
        return None

    def read(
        self, offset: int, max_bytes: int, max_offset: int, *, min_one_batch: bool
    ) -> bytes | memoryview | None:
        """Whole batches from the one holding ``offset``, stopping before a batch whose base
        offset is >= ``max_offset`` and at ``max_bytes`` (at least one batch with
        ``min_one_batch``, KIP-74). None when ``offset`` is past this segment."""
        found = self._locate(offset)
        if found is None:
            return None
        start, first, chunk, chunk_start = found
        if first.base_offset >= max_offset:
            return b""
        if first.size_bytes > max_bytes and not min_one_batch:
            return b""
        limit = min(max(max_bytes, first.size_bytes), self.size_bytes - start)
        relative = start - chunk_start
        data: bytes | memoryview
        if relative + limit <= len(chunk):
            # A read near the end (a follower or consumer at the tail): the scan's chunk
            # already holds it.
            data = memoryview(chunk)[relative : relative + limit]
        else:
            data = self._log.pread(limit, start)
        if (
            len(data) == limit
            and start + limit == self.size_bytes
            and max_offset >= self.next_offset
        ):
            return data  # to the segment's end, all below max_offset: nothing to cut
        end = records_end(data, max_offset)
        return data if end == len(data) else memoryview(data)[:end]

    def read_all(self) -> bytes:
        """The whole file (compaction merging this segment into another)."""
        return self._log.pread(self.size_bytes, 0)

    def read_batch(self, position: int, header: BatchHeader) -> bytes:
        return self._log.pread(header.size_bytes, position)

    # ---- writing ----------------------------------------------------------------------

    def should_roll(
        self,
        incoming_bytes: int,
        max_timestamp: int,
        max_offset: int,
        wall_ms: int,
        *,
        segment_bytes: int,
        segment_ms: int,
    ) -> bool:
        """Kafka's LogSegment.shouldRoll (no jitter): size, time, full index, or offsets
        that no longer fit as int32 relative offsets."""
        reference = self.first_batch_timestamp
        if reference is not None and reference >= 0:
            waited = max_timestamp - reference
        else:
            waited = wall_ms - self.created_ms
        return (
            self.size_bytes > segment_bytes - incoming_bytes
            or (self.size_bytes > 0 and waited > segment_ms)
            or self.offset_index.is_full
            or self.time_index.is_full
            or not 0 <= max_offset - self.base_offset <= INT32_MAX
        )

    def append(
        self, data: bytes | bytearray | memoryview, placements: Sequence[BatchPlacement]
    ) -> None:
        """Write ``data`` (whole batches, offsets assigned) at the end; index per batch."""
        assert placements and placements[0].position == 0
        assert self.size_bytes + len(data) <= INT32_MAX
        start = self.size_bytes
        self._log.pwrite(data, start)
        ends = [placement.position for placement in placements[1:]] + [len(data)]
        for placement, end in zip(placements, ends, strict=True):
            self._index_batch(
                placement.last_offset, placement.max_timestamp, start + placement.position
            )
            self._bytes_since_last_index_entry += end - placement.position
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = placements[0].max_timestamp
        self.size_bytes = start + len(data)

    def _index_batch(self, last_offset: int, max_timestamp: int, position: int) -> None:
        assert last_offset >= self.next_offset
        self._note_batch(last_offset, max_timestamp)
        if self._bytes_since_last_index_entry > self.settings.index_interval_bytes:
            self.offset_index.append(last_offset, position)
            self.time_index.maybe_append(
                self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far
            )
            self._bytes_since_last_index_entry = 0
            self._tail_last_offsets = [last_offset]
            self._tail_positions = [position]
        else:
            self._remember_tail_batch(last_offset, position)

    def _remember_tail_batch(self, last_offset: int, position: int) -> None:
        """Add the batch just past the list's end; the list stays a contiguous run of batches
        that reaches the segment's end, whatever its first batch is."""
        lasts = self._tail_last_offsets
        lasts.append(last_offset)
        self._tail_positions.append(position)
        if len(lasts) > TAIL_BATCHES:
            half = len(lasts) // 2
            del lasts[:half]
            del self._tail_positions[:half]

    def recover(self) -> int:
        """Re-validate every batch, rebuild both indexes, truncate at the first invalid
        byte; returns how many bytes were cut (Kafka's LogSegment.recover)."""
        self.offset_index.reset()
        self.time_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp_so_far = -1
        self.offset_of_max_timestamp_so_far = self.base_offset
        self.first_batch_timestamp = None
        self._bytes_since_last_index_entry = 0
        self._tail_last_offsets = []
        self._tail_positions = []
        file_size = self._log.size()
        valid = 0
        for position, header in self._valid_batches(file_size):
            self._index_batch(header.last_offset, header.max_timestamp, position)
            self._bytes_since_last_index_entry += header.size_bytes
            if self.first_batch_timestamp is None:
                self.first_batch_timestamp = header.max_timestamp
            valid = position + header.size_bytes
        if valid < file_size:
            self._log.truncate(valid)
        self.size_bytes = valid
        self.time_index.maybe_append(
            self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far, skip_full_check=True
        )
        return file_size - valid

    def _valid_batches(self, file_size: int) -> Iterator[tuple[int, BatchHeader]]:
        """Batches that pass framing, CRC and offset order checks, up to the first that
        does not (or the end of the file)."""
        chunk_start = 0
        chunk = b""
        position = 0
        expected_offset = self.base_offset
        while position + LOG_OVERHEAD_BYTES <= file_size:
            relative = position - chunk_start
            _, length = records.read_length_prefix(self._fill(chunk, relative, position), 0)
            size = LOG_OVERHEAD_BYTES + length
            if length < records.MIN_BATCH_LENGTH or size > file_size - position:
                return
            if relative + size > len(chunk):
                chunk_start = position
                chunk = self._log.pread(max(RECOVERY_CHUNK_BYTES, size), position)
                relative = 0
            try:
                header = records.verify_batch(chunk, relative, max_batch_bytes=INT32_MAX)
            except records.InvalidRecordError:
                return
            if header.base_offset < expected_offset or header.last_offset_delta < 0:
                return
            if header.last_offset - self.base_offset > INT32_MAX:
                return
            yield position, header
            expected_offset = header.next_offset
            position += header.size_bytes

    def _fill(self, chunk: bytes, relative: int, position: int) -> bytes:
        """The 12-byte length prefix at ``position``, from the chunk when it is there."""
        if relative + LOG_OVERHEAD_BYTES <= len(chunk):
            return chunk[relative : relative + LOG_OVERHEAD_BYTES]
        return self._log.pread(LOG_OVERHEAD_BYTES, position)

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and everything after; returns bytes cut."""
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position, _ = found
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        cut = self.size_bytes - position
        self._log.truncate(position)
        self.size_bytes = position
        self._load_tail()
        return cut

    def roll_finished(self) -> bool:
        """This segment stops being active: its final max timestamp goes into the time
        index, so it survives a reopen (Kafka's onBecomeInactiveSegment). Returns whether
        an entry was added."""
        if self.max_timestamp_so_far < 0:
            return False
        return self.time_index.maybe_append(
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
            skip_full_check=True,
        )

    @property
    def largest_timestamp(self) -> int:
        """Retention's clock: the max timestamp, or the file's mtime without one."""
        if self.max_timestamp_so_far >= 0:
            return self.max_timestamp_so_far
        return self.files.mtime_ms(self.path(LOG_SUFFIX))

    def flush(self) -> None:
        self._log.fsync()
        self.offset_index.flush()
        self.time_index.flush()

    def close(self) -> None:
        """Record the final max timestamp durably, then close the files."""
        if self.roll_finished():
            self.time_index.flush()
        self._log.close()
        self.offset_index.close()
        self.time_index.close()

    def delete(self) -> None:
        """Close and unlink; the .log goes first, so a crash leaves only orphan indexes,
        which loading removes."""
        self._log.close()
        self.offset_index.close()
        self.time_index.close()
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            self.files.remove(self.path(suffix))


def records_end(data: bytes | memoryview, max_offset: int) -> int:
    """Length of the run of whole batches at the start of ``data`` whose base offsets are
    below ``max_offset``; the first batch is always whole (the caller read all of it)."""
    end = 0
    for position, header in records.iterate_batches(data):
        if header.base_offset >= max_offset:
            break
        end = position + header.size_bytes
    return end
