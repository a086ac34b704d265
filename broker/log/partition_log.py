"""A partition's log: ordered segments, offsets, flushing, retention and truncation.

Kafka's UnifiedLog/LocalLog/LogLoader semantics in one synchronous class. Appends take
batches already checked by ``records.validate_batches`` and only write headers' offset and
epoch fields in place (a follower's appends keep the leader's); reads return stored bytes.
The log owns the partition's leader-epoch cache (``leader-epoch-checkpoint``, KIP-101),
its producer state and its aborted-transaction index (``.txnindex``); end-transaction
markers are control batches it writes itself (:meth:`PartitionLog.append_marker`).
"""

from __future__ import annotations

import bisect
import logging
import struct
import uuid
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from broker.core.producer_state import (
    BatchInfo,
    ProducerStateManager,
    Reject,
    increment_sequence,
)
from broker.log import cleaner, leader_epoch_checkpoint, partition_metadata, producer_snapshots
from broker.log.config import LogConfig
from broker.log.files import OS_FILES, Files
from broker.log.index import INT32_MAX
from broker.log.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    BatchPlacement,
    IndexSettings,
    LogSegment,
)
from broker.log.txn_index import AbortedTxn, TransactionIndex
from client.protocol import records
from client.protocol.errors import ErrorCode
from client.protocol.records import BatchHeader

_log = logging.getLogger("odradek.log")

_LEFTOVER_SUFFIXES = (".deleted", ".cleaned", ".swap", ".tmp")
# A control record's key: version int16, type int16 (0 abort, 1 commit); its value: version
# int16, coordinator epoch int32 (Kafka's ControlRecordType / EndTransactionMarker).
_CONTROL_KEY = struct.Struct(">hh")
_MARKER_VALUE = struct.Struct(">hi")
CONTROL_TYPE_ABORT = 0
CONTROL_TYPE_COMMIT = 1


class OffsetOutOfRangeError(Exception):
    """A fetch or lookup outside [log start offset, log end offset]."""

    error_code = ErrorCode.OFFSET_OUT_OF_RANGE


class NonContiguousAppendError(Exception):
    """Batches from the leader that do not continue this log: the first base offset is not
    the log end offset, or one batch does not start where the previous ended (Kafka's
    UnexpectedAppendOffsetException / OffsetsOutOfOrderException). The follower has to
    re-fetch from its log end offset; nothing was written."""


class AppendResult(NamedTuple):
    """What an append did (Kafka's LogAppendInfo, trimmed to what the broker answers)."""

    base_offset: int
    last_offset: int
    record_count: int
    size_bytes: int
    max_timestamp: int
    shallow_offset_of_max_timestamp: int
    log_append_time_ms: int
    """-1 unless the topic uses LogAppendTime."""
    log_start_offset: int
    flushed: bool
    rolled: bool


def parse_log_dir_name(name: str) -> tuple[str, int] | None:
    """ "<topic>-<partition>" -> (topic, partition); None for anything else."""
    topic, dash, partition = name.rpartition("-")
    if not dash or not topic or not partition.isdigit():
        return None
    return topic, int(partition)


class PartitionLog:
    """Segments ordered by base offset; the last is the active one."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        files: Files,
        *,
        segments: list[LogSegment],
        log_start_offset: int,
        recovery_point: int,
        rescan_epochs_from: int | None = None,
    ) -> None:
        """``rescan_epochs_from``: after an unclean shutdown, the recovery point; the epochs
        of the batches from there are assigned again (Kafka's LogSegment.recover does)."""
        parsed = parse_log_dir_name(directory.name)
        assert parsed is not None, f"not a partition directory: {directory}"
        assert segments
        self.directory = directory
        self.config = config
        self.files = files
        self.topic, self.partition = parsed
        self._segments = segments
        self._base_offsets = [segment.base_offset for segment in segments]
        self._log_start_offset = log_start_offset
        self._recovery_point = recovery_point
        self._unflushed_messages = 0
        self._last_flush_ms: int | None = None
        self._needs_dir_fsync = False
        assert self.log_start_offset <= self.log_end_offset
        # Producer state belongs to the log (not to the leader): it is a fold of the batch
        # headers, so a follower or a restarted broker rebuilds exactly what the leader had.
        self.txn_index = TransactionIndex.load(files, directory, self._base_offsets)
        self.producer_state = self._load_producer_state()
        self.leader_epoch_cache = leader_epoch_checkpoint.load(
            files,
            directory,
            segments,
            log_start_offset=self._log_start_offset,
            log_end_offset=self.log_end_offset,
            rescan_from=rescan_epochs_from,
        )
        self.topic_id = self._load_topic_id()
        # Compaction: offsets below this were cleaned by the last pass (Kafka's
        # cleaner-offset-checkpoint); the rest is dirty.
        self.first_dirty_offset = self._log_start_offset

    def _load_topic_id(self) -> uuid.UUID | None:
        try:
            return partition_metadata.read(self.files, self.directory)
        except partition_metadata.PartitionMetadataError as error:
            # Written atomically, so this is damage: the broker writes the id it adopts anew.
            _log.error("%s: %s; the topic id will be written again", self.directory, error)
            return None

    def set_topic_id(self, topic_id: uuid.UUID) -> None:
        """Record the incarnation of the topic this log belongs to (``partition.metadata``)."""
        if topic_id != self.topic_id:
            partition_metadata.write(self.files, self.directory, topic_id)
            self.topic_id = topic_id

    # ---- loading ----------------------------------------------------------------------

    def _load_producer_state(self) -> ProducerStateManager:
        """The newest snapshot, then the headers of every batch after it."""
        loaded = producer_snapshots.load_latest(self.files, self.directory, self.log_end_offset)
        start, state = loaded if loaded is not None else (0, ProducerStateManager())
        self.txn_index.truncate_from(start)  # the replay rebuilds the entries from here
        for segment in self._segments:
            if segment.next_offset <= start:
                continue
            position = 0
            if segment.base_offset < start:
                found = segment.translate_offset(start)
                if found is None:
                    continue
                position = found[0]
            for batch_position, header in segment.headers_from(position):
                if header.base_offset < start:
                    continue
                if header.is_control:
                    batch = segment.read_batch(batch_position, header)
                    self._track_marker(state, header, header.base_offset, batch, segment)
                else:
                    _track_producer(state, header, header.base_offset)
        return state

    def _track_marker(
        self,
        state: ProducerStateManager,
        header: BatchHeader,
        offset: int,
        batch: bytes | bytearray | memoryview,
        segment: LogSegment,
    ) -> None:
        """Fold a control batch at ``offset`` into the producer state and, for an abort
        marker, the aborted-transaction index.  Other control records are skipped."""
        if header.producer_id < 0:
            return
        try:
            control = records.decode_records(batch)[0]
        except records.InvalidRecordError:
            _log.error("%s: unreadable control batch at %d", self.directory, offset)
            return
        key, value = control.key or b"", control.value or b""
        if len(key) < _CONTROL_KEY.size or len(value) < _MARKER_VALUE.size:
            return
        _, control_type = _CONTROL_KEY.unpack_from(key)
        if control_type not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT):
            return
        _, coordinator_epoch = _MARKER_VALUE.unpack_from(value)
        completed = state.complete_txn(
            header.producer_id,
            header.producer_epoch,
            coordinator_epoch,
            offset,
            header.max_timestamp,
            is_aborted=control_type == CONTROL_TYPE_ABORT,
        )
        if completed is not None and completed.is_aborted:
            entry = AbortedTxn(
                completed.producer_id,
                completed.first_offset,
                completed.last_offset,
                state.stable_offset_after(completed),
            )
            self.txn_index.append(entry, segment.base_offset)

    def _save_epochs_if(self, changed: bool) -> None:
        """Persist the epoch cache after a change (epoch bumps and truncations: rare)."""
        if changed:
            entries = self.leader_epoch_cache.entries
            leader_epoch_checkpoint.write(self.files, self.directory, entries)

    def write_producer_snapshot(self) -> None:
        """Snapshot the producer state as of the log end offset."""
        producer_snapshots.write_snapshot(
            self.files, self.directory, self.log_end_offset, self.producer_state.snapshot()
        )

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig,
        *,
        recovery_point: int,
        log_start_offset: int,
        needs_recovery: bool,
        files: Files = OS_FILES,
        wall_ms: int = 0,
    ) -> PartitionLog:
        """Load (or create) the log in ``directory``.

        Recovers every segment from the one holding ``recovery_point`` when
        ``needs_recovery`` (unclean shutdown), and any segment whose indexes are missing or
        corrupt. Corruption in a segment drops every later segment (Kafka's LogLoader).
        ``wall_ms`` is the creation time of a new first segment (time-based roll).
        """
        files.mkdir(directory)
        settings = IndexSettings(config.index_interval_bytes, config.max_index_bytes)
        base_offsets = _clean_directory(files, directory)
        segments: list[LogSegment] = []
        suspects: list[int] = []
        for base_offset in base_offsets:
            segment, sound = LogSegment.open(files, directory, base_offset, settings)
            if not sound:
                suspects.append(len(segments))
            segments.append(segment)
        first_unflushed = _first_unflushed(segments, recovery_point) if needs_recovery else None
        _recover(segments, suspects, first_unflushed)
        _drop_covered(segments)
        if not segments:
            start = max(log_start_offset, 0)
            segments.append(LogSegment.create(files, directory, start, settings, wall_ms))
        end = segments[-1].next_offset
        start = min(max(log_start_offset, segments[0].base_offset), end)
        point = end if needs_recovery else min(max(recovery_point, 0), end)
        return cls(
            directory,
            config,
            files,
            segments=segments,
            log_start_offset=start,
            recovery_point=point,
            rescan_epochs_from=max(recovery_point, 0) if needs_recovery else None,
        )

    # ---- properties -------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The next offset to be assigned."""
        return self._segments[-1].next_offset

    @property
    def recovery_point(self) -> int:
        """Everything below this offset is known to be on disk."""
        return self._recovery_point

    @property
    def size_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self._segments)

    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    # ---- appending --------------------------------------------------------------------

    def append(
        self,
        data: bytearray,
        batches: list[tuple[int, BatchHeader]],
        *,
        leader_epoch: int,
        wall_ms: int,
    ) -> AppendResult:
        """Assign offsets in place, roll if due, write, index, and flush per policy.

        ``batches`` is ``validate_batches(data, ...).batches``; only headers are read.
        """
        assert batches and batches[0][0] == 0
        record_count = sum(header.record_count for _, header in batches)
        base_offset = self.log_end_offset
        last_offset = base_offset + record_count - 1
        # Before the bytes: a checkpoint ahead of the log is cut back on load, one behind
        # it would lose an epoch.
        self._save_epochs_if(self.leader_epoch_cache.assign(leader_epoch, base_offset))
        append_time = wall_ms if self.config.message_timestamp_type == "LogAppendTime" else -1
        placements = _placements(batches, base_offset, append_time)
        max_timestamp, offset_of_max = _max_timestamp(placements)
        rolled = self._maybe_roll(len(data), max_timestamp, last_offset, wall_ms)
        next_offset = records.assign_offsets(
            data,
            batches,
            base_offset,
            leader_epoch,
            log_append_time_ms=append_time if append_time >= 0 else None,
        )
        assert next_offset == last_offset + 1
        self.active_segment.append(data, placements)
        assert self.log_end_offset == next_offset
        first_offset = base_offset
        for position, header in batches:
            if header.is_control:
                batch = memoryview(data)[position : position + header.size_bytes]
                self._track_marker(
                    self.producer_state, header, first_offset, batch, self.active_segment
                )
            else:
                _track_producer(self.producer_state, header, first_offset)
            first_offset += header.last_offset_delta + 1
        self._unflushed_messages += record_count
        flushed = self._maybe_flush(wall_ms)
        return AppendResult(
            base_offset=base_offset,
            last_offset=last_offset,
            record_count=record_count,
            size_bytes=len(data),
            max_timestamp=max_timestamp,
            shallow_offset_of_max_timestamp=offset_of_max,
            log_append_time_ms=append_time,
            log_start_offset=self._log_start_offset,
            flushed=flushed,
            rolled=rolled,
        )

    def check_marker(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int
    ) -> Reject | None:
        """Whether an end-transaction marker may be written (WriteTxnMarkers, leader)."""
        return self.producer_state.check_marker(producer_id, producer_epoch, coordinator_epoch)

    def append_marker(
        self,
        *,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        leader_epoch: int,
        wall_ms: int,
    ) -> AppendResult:
        """Write an end-transaction marker (a control batch of one record) as the leader;
        :meth:`check_marker` first."""
        control_type = CONTROL_TYPE_COMMIT if commit else CONTROL_TYPE_ABORT
        marker = records.Record(
            0, wall_ms, _CONTROL_KEY.pack(0, control_type), _MARKER_VALUE.pack(0, coordinator_epoch)
        )
        data = bytearray(
            records.build_batch(
                [marker],
                timestamp_ms=wall_ms,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                transactional=True,
                control=True,
            )
        )
        return self.append(
            data, [(0, records.parse_header(data))], leader_epoch=leader_epoch, wall_ms=wall_ms
        )

    def last_stable_offset(self, high_watermark: int) -> int:
        """Kafka's LSO: below the oldest transaction not yet decided and replicated."""
        return self.producer_state.last_stable_offset(high_watermark)

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions a read_committed fetch of [fetch_offset, upper_bound)
        must list (their records are to be dropped by the consumer)."""
        return self.txn_index.collect(fetch_offset, upper_bound)

    def assign_epoch_start(self, epoch: int) -> bool:
        """A new leader records that ``epoch`` starts at the log end offset at once, before
        any append, so followers truncate correctly even if it never appends (KAFKA-7415).
        Returns whether the cache changed."""
        changed = self.leader_epoch_cache.assign(epoch, self.log_end_offset)
        self._save_epochs_if(changed)
        return changed

    def append_as_follower(
        self,
        data: bytearray | bytes | memoryview,
        batches: list[tuple[int, BatchHeader]],
        *,
        wall_ms: int,
        fetch_offset: int | None = None,
    ) -> AppendResult:
        """Append batches fetched from the leader, keeping its offsets and epochs.

        ``batches`` is ``validate_batches(data, from_client=False, ...).batches`` over whole
        batches only: a fetch response may end with a partial batch, so the caller cuts
        ``data`` to ``segment.records_end(data, LONG_MAX)`` first. No batch may start before
        the previous batch's end, else NonContiguousAppendError (a gap is a compacted
        leader's).  Given ``fetch_offset`` (where the batches were fetched from), the log
        must still end there and the first batch may start after it; without it, the first
        batch starts at the log end, so a response that raced a truncation is not taken for
        a gap. Header-only work; rolls, indexes, producer state and
        flush policy as ``append``. The epoch cache takes each batch's epoch; entries at or
        past the log end offset (an epoch started here but never written) give way to the
        leader's.
        """
        assert batches and batches[0][0] == 0
        last_position, last = batches[-1]
        assert last_position + last.size_bytes == len(data), "whole batches only"
        if fetch_offset is not None and fetch_offset != self.log_end_offset:
            raise NonContiguousAppendError(
                f"{self.topic}-{self.partition}: fetched from {fetch_offset}, but the log now "
                f"ends at {self.log_end_offset}"
            )
        self._check_continues_log(batches, gap_first=fetch_offset is not None)
        base_offset = self.log_end_offset
        cache = self.leader_epoch_cache
        latest = cache.latest_entry
        replaced = cache.entries if latest and latest.start_offset >= base_offset else None
        changed = cache.truncate_from_end(base_offset)
        placements = []
        for position, header in batches:
            changed |= cache.assign(header.partition_leader_epoch, header.base_offset)
            placements.append(BatchPlacement(position, header.last_offset, header.max_timestamp))
        # Re-assigning the entry that was at the log end offset is no change worth an fsync.
        self._save_epochs_if(changed and cache.entries != replaced)
        max_timestamp, offset_of_max = _max_timestamp(placements)
        rolled = self._append_runs(memoryview(data), batches, placements, wall_ms)
        assert self.log_end_offset == last.next_offset
        record_count = sum(header.record_count for _, header in batches)
        self._unflushed_messages += record_count
        flushed = self._maybe_flush(wall_ms)
        return AppendResult(
            base_offset=base_offset,
            last_offset=last.last_offset,
            record_count=record_count,
            size_bytes=len(data),
            max_timestamp=max_timestamp,
            shallow_offset_of_max_timestamp=offset_of_max,
            log_append_time_ms=-1,
            log_start_offset=self._log_start_offset,
            flushed=flushed,
            rolled=rolled,
        )

    def _check_continues_log(
        self, batches: list[tuple[int, BatchHeader]], *, gap_first: bool
    ) -> None:
        expected = self.log_end_offset
        for number, (position, header) in enumerate(batches):
            # A gap is a compacted leader's (its cleaner removed whole batches); a batch
            # behind the log end is never taken (Kafka's UnexpectedAppendOffsetException).
            # Before the first batch, only when it was fetched from this log end.
            exact = number == 0 and not gap_first
            if header.base_offset < expected or (exact and header.base_offset != expected):
                raise NonContiguousAppendError(
                    f"{self.topic}-{self.partition}: batch at byte {position} has base offset "
                    f"{header.base_offset}, expected {expected} (log end offset "
                    f"{self.log_end_offset})"
                )
            expected = header.next_offset

    def _append_runs(
        self,
        data: memoryview,
        batches: list[tuple[int, BatchHeader]],
        placements: list[BatchPlacement],
        wall_ms: int,
    ) -> bool:
        """Write ``data`` as runs of batches the active segment can take, rolling before
        each run when due (a fetched chunk may hold more than a segment or an index has
        room for); usually one run, one write. Returns whether it rolled."""
        rolled = False
        start = 0
        while start < len(placements):
            first = placements[start]
            first_size = batches[start][1].size_bytes
            rolled |= self._maybe_roll(first_size, first.max_timestamp, first.last_offset, wall_ms)
            end = self._run_end(placements, start, len(data))
            begin = first.position
            stop = placements[end].position if end < len(placements) else len(data)
            run = placements[start:end]
            if begin > 0:
                run = [
                    BatchPlacement(p.position - begin, p.last_offset, p.max_timestamp) for p in run
                ]
            self.active_segment.append(data[begin:stop], run)
            # Per run: a roll before the next run snapshots the producer state.
            for position, header in batches[start:end]:
                if header.is_control:
                    batch = data[position : position + header.size_bytes]
                    self._track_marker(
                        self.producer_state, header, header.base_offset, batch, self.active_segment
                    )
                else:
                    _track_producer(self.producer_state, header, header.base_offset)
            start = end
        return rolled

    def _run_end(self, placements: list[BatchPlacement], start: int, total_bytes: int) -> int:
        """End (exclusive) of the run from ``start`` that fits the active segment: within
        segment.bytes, index room for the entries it may add (at most one per batch, and one
        plus one per index.interval.bytes + 1 bytes), int32 relative offsets. At least one
        batch: ``should_roll`` already judged the first."""
        active = self.active_segment
        room_bytes = self.config.segment_bytes - active.size_bytes
        room_entries = min(
            active.offset_index.max_entries - active.offset_index.entries,
            active.time_index.max_entries - active.time_index.entries,
        )
        interval = self.config.index_interval_bytes
        begin = placements[start].position
        end = start + 1
        while end < len(placements):
            stop = placements[end + 1].position if end + 1 < len(placements) else total_bytes
            run_bytes = stop - begin
            entries = min(end + 1 - start, 1 + run_bytes // (interval + 1))
            if (
                run_bytes > room_bytes
                or entries > room_entries
                or placements[end].last_offset - active.base_offset > INT32_MAX
            ):
                break
            end += 1
        return end

    def _maybe_roll(self, size: int, max_timestamp: int, last_offset: int, wall_ms: int) -> bool:
        due = self.active_segment.should_roll(
            size,
            max_timestamp,
            last_offset,
            wall_ms,
            segment_bytes=self.config.segment_bytes,
            segment_ms=self.config.segment_ms - self._roll_jitter_ms(self.active_segment),
        )
        if due and self.active_segment.size_bytes > 0:
            self.roll(wall_ms)
            return True
        return False

    def _roll_jitter_ms(self, segment: LogSegment) -> int:
        """Kafka's ``segment.jitter.ms``: each segment rolls by time up to this much early, so
        that partitions created together do not all roll at once.  Kafka draws it at random
        per segment; here it is a hash of the partition and the segment's base offset (the
        same after a restart, and in tests)."""
        jitter = min(self.config.segment_jitter_ms, self.config.segment_ms)
        if jitter <= 0:
            return 0
        seed = f"{self.topic}-{self.partition}-{segment.base_offset}".encode()
        return zlib.crc32(seed) % jitter

    def roll(self, wall_ms: int) -> LogSegment:
        """Start a new active segment at the log end offset (an empty active one stays)."""
        active = self.active_segment
        if active.size_bytes == 0:
            return active
        active.roll_finished()
        settings = IndexSettings(self.config.index_interval_bytes, self.config.max_index_bytes)
        segment = LogSegment.create(
            self.files, self.directory, self.log_end_offset, settings, wall_ms
        )
        self._segments.append(segment)
        self._base_offsets.append(segment.base_offset)
        self._needs_dir_fsync = True
        self.write_producer_snapshot()
        return segment

    def _maybe_flush(self, wall_ms: int) -> bool:
        if self._last_flush_ms is None:
            self._last_flush_ms = wall_ms
        if (
            self._unflushed_messages >= self.config.flush_interval_messages
            or wall_ms - self._last_flush_ms >= self.config.flush_interval_ms
        ):
            self.flush()
            self._last_flush_ms = wall_ms
            return True
        return False

    def flush(self, up_to: int | None = None) -> None:
        """fsync every segment holding offsets in [recovery point, ``up_to``) and advance
        the recovery point (Kafka's flush(offset))."""
        target = self.log_end_offset if up_to is None else min(up_to, self.log_end_offset)
        if target <= self._recovery_point and not self._needs_dir_fsync:
            return
        for segment in self._segments:
            if segment.next_offset > self._recovery_point and segment.base_offset < target:
                segment.flush()
        if self._needs_dir_fsync:
            self.files.fsync_dir(self.directory)
            self._needs_dir_fsync = False
        self._recovery_point = max(self._recovery_point, target)
        if target == self.log_end_offset:
            self._unflushed_messages = 0

    # ---- reading ----------------------------------------------------------------------

    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._base_offsets, offset) - 1, 0)

    def read(
        self, fetch_offset: int, max_bytes: int, max_offset: int, *, min_one_batch: bool
    ) -> bytes | memoryview:
        """Whole batches from the one holding ``fetch_offset``: none with base offset >=
        ``max_offset`` (the high watermark), at most ``max_bytes`` unless
        ``min_one_batch`` (then at least one batch, KIP-74). Empty at the log end offset."""
        self._check_range(fetch_offset)
        if fetch_offset == self.log_end_offset:
            return b""
        for segment in self._segments[self._segment_index(fetch_offset) :]:
            data = segment.read(fetch_offset, max_bytes, max_offset, min_one_batch=min_one_batch)
            if data is not None:
                return data
        return b""

    def _check_range(self, offset: int) -> None:
        if not self._log_start_offset <= offset <= self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"{self.topic}-{self.partition}: offset {offset} outside "
                f"[{self._log_start_offset}, {self.log_end_offset}]"
            )

    def offset_for_timestamp(self, timestamp_ms: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with timestamp >= ``timestamp_ms`` at or
        after the log start offset; None if there is none (Kafka's fetchOffsetByTimestamp)."""
        for segment in self._segments:
            if segment.largest_timestamp < timestamp_ms or segment.max_timestamp_so_far < 0:
                continue
            _, indexed_offset = segment.time_index.lookup(timestamp_ms)
            start_offset = max(indexed_offset, self._log_start_offset)
            _, position = segment.offset_index.lookup(start_offset)
            found = self._search_segment(segment, position, timestamp_ms)
            if found is not None:
                return found
        return None

    def _search_segment(
        self, segment: LogSegment, position: int, timestamp_ms: int
    ) -> tuple[int, int] | None:
        for batch_position, header in segment.headers_from(position):
            if header.max_timestamp < timestamp_ms or header.last_offset < self._log_start_offset:
                continue
            for record in records.decode_records(segment.read_batch(batch_position, header)):
                if record.timestamp >= timestamp_ms and record.offset >= self._log_start_offset:
                    return record.offset, record.timestamp
        return None

    def max_timestamp_offset(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp (ListOffsets -3,
        KIP-734); the first such record on ties. None for an empty log."""
        best = max(self._segments, key=lambda segment: segment.max_timestamp_so_far)
        if best.max_timestamp_so_far < 0:
            return None
        target = best.max_timestamp_so_far
        _, position = best.offset_index.lookup(best.offset_of_max_timestamp_so_far)
        for batch_position, header in best.headers_from(position):
            if header.max_timestamp == target:
                for record in records.decode_records(best.read_batch(batch_position, header)):
                    if record.timestamp == target:
                        return record.offset, record.timestamp
        return None

    # ---- leader epochs ----------------------------------------------------------------

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) as ``LeaderEpochCache.end_offset_for`` at the log end offset
        (OffsetsForLeaderEpoch, the leader's divergence check, the follower's truncation)."""
        return self.leader_epoch_cache.end_offset_for(epoch, self.log_end_offset)

    def last_fetched_epoch(self) -> int:
        """The epoch a follower reports as ``last_fetched_epoch``: the cache's latest, -1
        when empty (Kafka's UnifiedLog.latestEpoch)."""
        return self.leader_epoch_cache.latest_epoch

    # ---- retention and truncation -----------------------------------------------------

    def enforce_retention(self, wall_ms: int, high_watermark: int | None = None) -> int:
        """Delete segments past retention.ms (by their largest timestamp), beyond
        retention.bytes, or wholly below the log start offset; returns how many.

        As Kafka: only segments wholly below the high watermark go, and when every segment
        would go, a new active one is rolled first, so the log never has none.
        """
        watermark = self.log_end_offset if high_watermark is None else high_watermark
        deleted = 0
        if "delete" in self.config.cleanup_policy:  # a compact-only log keeps its segments
            deleted += self._delete_while(watermark, wall_ms, self._expired_predicate(wall_ms))
            deleted += self._delete_while(watermark, wall_ms, self._oversize_predicate())
        deleted += self._delete_while(
            watermark, wall_ms, lambda segment, following: following <= self._log_start_offset
        )
        return deleted

    def _expired_predicate(self, wall_ms: int) -> Callable[[LogSegment, int], bool]:
        retention_ms = self.config.retention_ms
        return lambda segment, _: (
            retention_ms >= 0 and wall_ms - segment.largest_timestamp > retention_ms
        )

    def _oversize_predicate(self) -> Callable[[LogSegment, int], bool]:
        excess = [self.size_bytes - self.config.retention_bytes]

        def over(segment: LogSegment, _: int) -> bool:
            if self.config.retention_bytes < 0 or excess[0] - segment.size_bytes < 0:
                return False
            excess[0] -= segment.size_bytes
            return True

        return over

    def _delete_while(
        self, watermark: int, wall_ms: int, predicate: Callable[[LogSegment, int], bool]
    ) -> int:
        doomed: list[LogSegment] = []
        for index, segment in enumerate(self._segments):
            last = index == len(self._segments) - 1
            following = self.log_end_offset if last else self._segments[index + 1].base_offset
            if (last and segment.size_bytes == 0) or watermark < following:
                break
            if not predicate(segment, following):
                break
            doomed.append(segment)
        if not doomed:
            return 0
        if len(doomed) == len(self._segments):
            self.roll(wall_ms)
        for segment in doomed:
            segment.delete()
        del self._segments[: len(doomed)]
        del self._base_offsets[: len(doomed)]
        self._log_start_offset = max(self._log_start_offset, self._segments[0].base_offset)
        self._save_epochs_if(self.leader_epoch_cache.truncate_from_start(self._log_start_offset))
        self.txn_index.drop_segments_below(self._segments[0].base_offset)
        return len(doomed)

    # ---- compaction (broker/log/cleaner.py) --------------------------------------------

    @property
    def compacted(self) -> bool:
        return "compact" in self.config.cleanup_policy

    def cleanable_segments(self, wall_ms: int, upper: int) -> list[LogSegment]:
        """The segments a compaction pass may rewrite: before the active one, wholly below
        ``upper`` (the caller's high watermark and last stable offset), and, from the first
        younger than ``min.compaction.lag.ms``, none."""
        lag = self.config.min_compaction_lag_ms
        chosen: list[LogSegment] = []
        for index, segment in enumerate(self._segments[:-1]):
            if self._segments[index + 1].base_offset > upper:
                break
            if lag > 0 and wall_ms - segment.largest_timestamp < lag:
                break
            chosen.append(segment)
        return chosen

    def dirty_ratio(self, segments: Sequence[LogSegment]) -> float:
        """The share of ``segments``' bytes written since the last pass (0 when empty)."""
        total = sum(segment.size_bytes for segment in segments)
        dirty = sum(
            segment.size_bytes
            for segment in segments
            if segment.base_offset >= self.first_dirty_offset
        )
        return dirty / total if total else 0.0

    def clean(self, wall_ms: int, upper: int, *, force: bool = False) -> cleaner.CleanerStats:
        """One compaction pass (``broker/log/cleaner.py``) if the log is compacted and dirty
        enough (``min.cleanable.dirty.ratio``; ``force`` skips that check), all at once."""
        job = self.prepare_clean(wall_ms, upper, force=force)
        if job is None:
            return cleaner.NOTHING
        return self.finish_clean(job, job.run())

    def prepare_clean(
        self, wall_ms: int, upper: int, *, force: bool = False
    ) -> cleaner.CleanJob | None:
        """The work of a pass, if one is due: :meth:`CleanJob.run` reads only segments that
        no longer change and may run in a worker thread; :meth:`finish_clean` swaps the
        results in."""
        if not self.compacted:
            return None
        segments = self.cleanable_segments(wall_ms, upper)
        if not segments:
            return None
        overdue = wall_ms - segments[0].largest_timestamp >= self.config.max_compaction_lag_ms
        ratio = self.dirty_ratio(segments)
        due = ratio > 0 and (overdue or ratio >= self.config.min_cleanable_dirty_ratio)
        if not (force or due):
            return None
        horizon = wall_ms - self.config.delete_retention_ms
        return cleaner.CleanJob(
            segments,
            [segment.largest_timestamp > horizon for segment in segments],
            cleaner.aborted_batches(self.txn_index.entries),
            self._base_offsets[len(segments)],
        )

    def finish_clean(
        self, job: cleaner.CleanJob, results: list[tuple[bytes, int] | None]
    ) -> cleaner.CleanerStats:
        """Swap in what :meth:`CleanJob.run` made, unless the log changed under it (a
        segment deleted by retention, a truncation, the log closed): then nothing."""
        present = set(map(id, self._segments))
        if any(id(segment) not in present for segment in job.segments):
            return cleaner.NOTHING
        before = sum(segment.size_bytes for segment in job.segments)
        removed = sum(cleaned[1] for cleaned in results if cleaned is not None)
        if removed == 0:
            self.first_dirty_offset = max(self.first_dirty_offset, job.end)
            return cleaner.CleanerStats(0, before, before, 0)
        after = rewritten = 0
        for group in self._groups(job.segments, results):
            if len(group) == 1 and group[0][1] is None:
                after += group[0][0].size_bytes
                continue
            data = b"".join(
                segment.read_all() if cleaned is None else cleaned[0] for segment, cleaned in group
            )
            self._replace_segments([segment for segment, _ in group], data)
            after += len(data)
            rewritten += len(group)
        self.first_dirty_offset = max(self.first_dirty_offset, job.end)
        return cleaner.CleanerStats(rewritten, before, after, removed)

    def _groups(
        self, segments: list[LogSegment], results: list[tuple[bytes, int] | None]
    ) -> list[list[tuple[LogSegment, tuple[bytes, int] | None]]]:
        """Consecutive cleaned segments merged while they fit in one (``segment.bytes``, the
        indexes' ``segment.index.bytes``, offsets relative to the first within 32 bits), as
        Kafka's cleaner groups them; a segment left as it was stays alone unless merged."""
        limit = self.config.segment_bytes
        # The sparse offset index holds an entry per index.interval.bytes (8 bytes each).
        per_entry = max(self.config.index_interval_bytes, 1)
        index_limit = self.config.max_index_bytes // 8 * per_entry
        start = self._segments.index(segments[0])
        groups: list[list[tuple[LogSegment, tuple[bytes, int] | None]]] = []
        size = 0
        for number, (segment, cleaned) in enumerate(zip(segments, results, strict=True)):
            length = segment.size_bytes if cleaned is None else len(cleaned[0])
            end = self._base_offsets[start + number + 1] - 1
            fits = (
                groups
                and size + length <= min(limit, index_limit)
                and end - groups[-1][0][0].base_offset <= INT32_MAX
            )
            if fits:
                groups[-1].append((segment, cleaned))
                size += length
            else:
                groups.append([(segment, cleaned)])
                size = length
        return groups

    def _replace_segments(self, group: list[LogSegment], data: bytes) -> None:
        """Swap ``group`` (consecutive segments) for one segment at the first's base holding
        ``data`` (their cleaned batches), crash-safely: the new log is written and synced
        aside, every old index goes, the new log is renamed over the first's, then the
        others are deleted.  A crash before the rename leaves the old segments (indexes
        rebuilt on load); after it, the later ones are wholly covered by the first, and a
        load drops them (``_drop_covered``)."""
        first = group[0]
        start = self._segments.index(first)
        assert self._segments[start : start + len(group)] == group
        cleaned_path = first.path(LOG_SUFFIX + cleaner.CLEANED_SUFFIX)
        handle = self.files.open(cleaned_path)
        handle.truncate(0)
        handle.pwrite(data, 0)
        handle.fsync()
        handle.close()
        for segment in group:
            segment.close()
            for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                if self.files.exists(segment.path(suffix)):
                    self.files.remove(segment.path(suffix))
        self.files.rename(cleaned_path, first.path(LOG_SUFFIX))
        self.files.fsync_dir(self.directory)
        for segment in group[1:]:
            self.files.remove(segment.path(LOG_SUFFIX))
        self.txn_index.merge_segments(first.base_offset, [s.base_offset for s in group])
        self.files.fsync_dir(self.directory)
        settings = IndexSettings(self.config.index_interval_bytes, self.config.max_index_bytes)
        fresh, _ = LogSegment.open(self.files, self.directory, first.base_offset, settings)
        fresh.recover()
        fresh.roll_finished()
        fresh.flush()
        self._segments[start : start + len(group)] = [fresh]
        self._base_offsets[start : start + len(group)] = [fresh.base_offset]

    def advance_log_start_offset(self, offset: int) -> None:
        """DeleteRecords (and a follower taking its leader's start): records below ``offset``
        become invisible, and the segments wholly below it are deleted at once, except the
        active one (retention rolls and deletes that, as ``enforce_retention``).  Never back.
        The caller keeps ``offset`` at or below the high watermark (Kafka refuses more)."""
        if offset > self.log_end_offset:
            raise OffsetOutOfRangeError(f"log start offset {offset} > {self.log_end_offset}")
        self._log_start_offset = max(self._log_start_offset, offset)
        self._save_epochs_if(self.leader_epoch_cache.truncate_from_start(self._log_start_offset))
        doomed = 0
        while doomed + 1 < len(self._segments):
            if self._segments[doomed + 1].base_offset > self._log_start_offset:
                break
            doomed += 1
        for segment in self._segments[:doomed]:
            segment.delete()
        del self._segments[:doomed]
        del self._base_offsets[:doomed]
        self.txn_index.drop_segments_below(self._segments[0].base_offset)

    def truncate_to(self, offset: int) -> None:
        """Remove every offset >= ``offset`` (a follower's truncation to the leader's log);
        a mid-batch offset removes that whole batch, as Kafka. Epoch entries starting at or
        after the new end go too, even when no batch does (an epoch begun at the log end
        offset by ``assign_epoch_start`` and never written)."""
        if offset >= self.log_end_offset:
            self._save_epochs_if(self.leader_epoch_cache.truncate_from_end(offset))
            return
        if offset <= self._log_start_offset:
            self.truncate_fully_and_start_at(offset)
            return
        while len(self._segments) > 1 and self._segments[-1].base_offset > offset:
            self._segments.pop().delete()
            self._base_offsets.pop()
        self.active_segment.truncate_to(offset)
        # The cut must be durable before the checkpoint forgets the epochs of what was cut.
        self.active_segment.flush()
        self._recovery_point = min(self._recovery_point, self.log_end_offset)
        producer_snapshots.delete_snapshots_above(self.files, self.directory, self.log_end_offset)
        self.producer_state = self._load_producer_state()
        self._save_epochs_if(self.leader_epoch_cache.truncate_from_end(self.log_end_offset))

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and start empty at ``offset``."""
        created_ms = self.active_segment.created_ms
        for segment in self._segments:
            segment.delete()
        settings = IndexSettings(self.config.index_interval_bytes, self.config.max_index_bytes)
        segment = LogSegment.create(self.files, self.directory, offset, settings, created_ms)
        self._segments = [segment]
        self._base_offsets = [offset]
        self._log_start_offset = offset
        self._recovery_point = offset
        self._needs_dir_fsync = True
        producer_snapshots.delete_snapshots_above(self.files, self.directory, -1)
        self.txn_index.clear()
        self.producer_state = ProducerStateManager()
        self._save_epochs_if(self.leader_epoch_cache.clear())

    # ---- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self.write_producer_snapshot()
        for segment in self._segments:
            segment.close()

    def relocate(self, directory: Path) -> None:
        """Move the whole log to ``directory`` (another log dir's "<topic>-<partition>") by
        renaming its directory: open files stay open, new ones are made there.  The log is
        flushed first.  OSError from the rename (e.g. another file system) leaves it where it
        was; from a directory fsync after it, the log has moved."""
        assert directory.name == self.directory.name, (directory, self.directory)
        self.flush()
        self.write_producer_snapshot()
        source = self.directory
        self.files.rename(source, directory)
        # Moved: every path follows at once, even if an fsync below fails.
        self.directory = directory
        self.txn_index.directory = directory
        for segment in self._segments:
            segment.directory = directory
        self.files.fsync_dir(directory.parent)
        self.files.fsync_dir(source.parent)

    def delete(self) -> None:
        """Close and remove the whole directory."""
        for segment in self._segments:
            segment.delete()
        self._segments.clear()
        self.files.remove_tree(self.directory)


def _track_producer(state: ProducerStateManager, header: BatchHeader, first_offset: int) -> None:
    """Fold one appended batch (its header, at its assigned offsets) into the producer state."""
    if header.producer_id < 0 or header.is_control:
        return
    batch = BatchInfo(
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        increment_sequence(header.base_sequence, header.last_offset_delta),
        # Its sequence span: a compacted batch may hold fewer records, even none.
        header.last_offset_delta + 1,
        header.is_transactional,
    )
    last_offset = first_offset + header.last_offset_delta
    state.update(batch, first_offset, last_offset, header.max_timestamp)


def _placements(
    batches: list[tuple[int, BatchHeader]], base_offset: int, append_time: int
) -> list[BatchPlacement]:
    placements = []
    next_offset = base_offset
    for position, header in batches:
        next_offset += header.record_count
        timestamp = append_time if append_time >= 0 else header.max_timestamp
        placements.append(BatchPlacement(position, next_offset - 1, timestamp))
    return placements


def _max_timestamp(placements: list[BatchPlacement]) -> tuple[int, int]:
    best = placements[0]
    for placement in placements[1:]:
        if placement.max_timestamp > best.max_timestamp:
            best = placement
    return best.max_timestamp, best.last_offset


def _clean_directory(files: Files, directory: Path) -> list[int]:
    """Remove leftovers of interrupted deletes and index files without a .log; returns
    the base offsets of the segments present."""
    names = files.listdir(directory)
    bases = {name[: -len(LOG_SUFFIX)] for name in names if name.endswith(LOG_SUFFIX)}
    for name in names:
        stem, _, suffix = name.partition(".")
        orphan = f".{suffix}" in (INDEX_SUFFIX, TIME_INDEX_SUFFIX) and stem not in bases
        if orphan or name.endswith(_LEFTOVER_SUFFIXES):
            files.remove(directory / name)
    return sorted(int(stem) for stem in bases if stem.isdigit())


def _first_unflushed(segments: list[LogSegment], recovery_point: int) -> int:
    """Index of the segment holding ``recovery_point``: recovery starts there."""
    bases = [segment.base_offset for segment in segments]
    return max(bisect.bisect_right(bases, recovery_point) - 1, 0)


def _within(segment: LogSegment, end: int) -> bool:
    """Whether ``segment`` lies wholly below ``end``, the end of the segment before it."""
    return segment.base_offset < end and segment.next_offset <= end


def _drop_covered(segments: list[LogSegment]) -> None:
    """Delete segments wholly inside an earlier one: the leftovers of a compaction that
    merged them into it and crashed before deleting them (``_replace_segments``)."""
    index = 0
    while index + 1 < len(segments):
        current, following = segments[index], segments[index + 1]
        if _within(following, current.next_offset):
            _log.warning(
                "%s: segment %d lies within segment %d (a merge by compaction): deleted",
                current.directory.name,
                following.base_offset,
                current.base_offset,
            )
            following.delete()
            del segments[index + 1]
            continue
        index += 1


def _recover(segments: list[LogSegment], suspects: list[int], first_unflushed: int | None) -> None:
    """Recover suspect segments and, after an unclean shutdown, every segment from
    ``first_unflushed``; corruption drops all later segments, and so does a segment that
    recovers to an end short of the next one's base offset (it lost unsynced bytes without a
    torn batch to cut): the log must stay dense."""
    chosen = set(suspects)
    if first_unflushed is not None:
        chosen.update(range(first_unflushed, len(segments)))
    for index in sorted(chosen):
        if index >= len(segments):
            break
        cut = segments[index].recover() > 0
        following = segments[index + 1] if index + 1 < len(segments) else None
        end = segments[index].next_offset
        broken = following is not None and end != following.base_offset
        if broken and following is not None and _within(following, end):
            broken = False  # merged into this one by compaction: _drop_covered removes it
        if cut or broken:
            for later in segments[index + 1 :]:
                later.delete()
            del segments[index + 1 :]
        segments[index].flush()
