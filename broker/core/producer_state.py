"""Per-partition producer state for idempotent producers (KIP-98), sans-IO.

Kafka's ``ProducerStateManager``/``ProducerAppendInfo``/``ProducerStateEntry`` in one file.
For each producer id seen on a partition we keep its epoch and the metadata of its last five
batches, so that a retried batch is answered with its original offsets instead of being
written twice (replication.md, P11).  The leader calls :meth:`ProducerStateManager.check`
before an append and :meth:`ProducerStateManager.update` after it; followers and log recovery
call only ``update``, for every batch they read, so the state is a fold of the log's batch
headers (from the newest snapshot on).  The rules, all current Kafka:

- ``producer_id < 0``: not idempotent, always appended, no state.
- ``base_sequence < 0`` with a producer id: ``INVALID_RECORD`` (Kafka's ``LogValidator``).
- Same epoch and exactly the sequence range of a cached batch: a duplicate, answered with the
  cached offsets and no error (current Kafka never sends ``DUPLICATE_SEQUENCE_NUMBER``).
- Epoch below the current one: ``INVALID_PRODUCER_EPOCH`` (Kafka 2.7+ answers produce so;
  ``PRODUCER_FENCED`` stays with the transaction coordinator).  A higher epoch must start at
  sequence 0, else ``OUT_OF_ORDER_SEQUENCE_NUMBER``; the same epoch must continue at
  ``last_sequence + 1`` (with wrap-around), else ``OUT_OF_ORDER_SEQUENCE_NUMBER``.
- No state for the producer: any sequence is accepted.  Kafka did answer
  ``UNKNOWN_PRODUCER_ID`` for a nonzero first sequence before 2.5; KIP-360 removed that, and
  the client now bumps its epoch itself on an unresolvable sequence.

Transactions (KIP-98): a transactional batch opens a transaction for its producer at its
first offset (``current_txn_first_offset``) unless one is open; an end-transaction marker
(a control batch the coordinator has written, :meth:`ProducerStateManager.complete_txn`)
closes it.  The first unstable offset is the first offset of the oldest transaction that is
open or whose marker is not yet below the high watermark; the last stable offset (LSO) is
the lower of it and the high watermark, and ``read_committed`` consumers read below it.  A
marker carries the producer epoch the coordinator holds: a higher one (the coordinator
fenced the producer) clears the window, so the fenced epoch is refused and the new one
starts at sequence 0.  Partition verification (KIP-890) is not done: as in Kafka before
3.6, a transactional batch is taken on trust.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import crc32c

from client.protocol.errors import ErrorCode

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
MAX_SEQUENCE = 2**31 - 1
MAX_PRODUCER_ID = 2**63 - 1
NUM_BATCHES_TO_RETAIN = 5
# Kafka has no such bound; we keep one so a flood of producer ids cannot exhaust memory.
# 10,000 full entries are ~12 MB in memory and ~2 MB of snapshot; far above any real number of
# producers writing one partition at once.  Beyond it the producer idle longest in log
# order is forgotten (its next batch is then treated as from an unknown producer).
MAX_PRODUCERS_PER_PARTITION = 10_000
PRODUCER_ID_BLOCK_SIZE = 1000  # Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE
SNAPSHOT_VERSION = 1


def increment_sequence(sequence: int, increment: int) -> int:
    """``sequence + increment`` wrapping from 2**31-1 to 0 (``DefaultRecordBatch``)."""
    assert 0 <= sequence <= MAX_SEQUENCE and 0 <= increment <= MAX_SEQUENCE
    return (sequence + increment) % (MAX_SEQUENCE + 1)


def _in_sequence(last_sequence: int, next_sequence: int) -> bool:
    return next_sequence == increment_sequence(last_sequence, 1)


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """The producer fields of one v2 batch header.

    ``last_sequence`` is ``base_sequence + lastOffsetDelta`` with wrap-around; readers of
    the log should derive it from ``lastOffsetDelta`` (compaction can shrink the record count
    but never the offset span); :meth:`of` derives it from a producer's record count.
    """

    producer_id: int
    producer_epoch: int
    base_sequence: int
    last_sequence: int
    record_count: int
    is_transactional: bool = False

    def __post_init__(self) -> None:
        assert -(2**63) <= self.producer_id <= MAX_PRODUCER_ID
        assert -(2**15) <= self.producer_epoch < 2**15
        assert -(2**31) <= self.base_sequence <= MAX_SEQUENCE
        assert -(2**31) <= self.last_sequence <= MAX_SEQUENCE
        assert self.record_count >= 1

    @classmethod
    def of(
        cls,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
        record_count: int,
        is_transactional: bool = False,
    ) -> BatchInfo:
        """A batch as a producer builds it: one sequence number per record."""
        last_sequence = (
            increment_sequence(base_sequence, record_count - 1)
            if base_sequence >= 0
            else NO_SEQUENCE
        )
        return cls(
            producer_id,
            producer_epoch,
            base_sequence,
            last_sequence,
            record_count,
            is_transactional,
        )

    @property
    def is_idempotent(self) -> bool:
        """Kafka's ``hasProducerId``: batches without one carry no producer state."""
        return self.producer_id > NO_PRODUCER_ID


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """What the duplicate window remembers of one appended batch."""

    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int
    max_timestamp: int


@dataclass(frozen=True, slots=True)
class ProducerStateEntry:
    """One producer's state on one partition; replaced, never mutated.

    ``batches`` holds the newest batches of ``producer_epoch`` only (an epoch change clears
    it), oldest first, never empty.  ``last_timestamp_ms`` is the newest batch's max
    timestamp, as Kafka's ``lastTimestamp``: it comes from the log, so every replica expires
    a producer at the same moment.
    """

    producer_id: int
    producer_epoch: int
    batches: tuple[BatchMetadata, ...]  # empty only after a marker with a new epoch
    last_timestamp_ms: int
    coordinator_epoch: int = -1
    current_txn_first_offset: int | None = None

    @property
    def last_sequence(self) -> int:
        """``NO_SEQUENCE`` for an entry a marker left without batches of its epoch."""
        return self.batches[-1].last_sequence if self.batches else NO_SEQUENCE

    @property
    def last_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    def find_duplicate(self, batch: BatchInfo) -> BatchMetadata | None:
        """The cached batch with the same epoch and exactly the same sequence range."""
        if batch.producer_epoch != self.producer_epoch:
            return None
        for cached in self.batches:
            if (
                cached.first_sequence == batch.base_sequence
                and cached.last_sequence == batch.last_sequence
            ):
                return cached
        return None


@dataclass(frozen=True, slots=True)
class Append:
    """Verdict: write the batch, then call :meth:`ProducerStateManager.update`."""


APPEND = Append()


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Verdict: already in the log; answer with no error and these original offsets.

    ``log_append_time_ms`` is the cached batch's max timestamp, which Kafka puts in the
    response's log append time for duplicates.
    """

    first_offset: int
    last_offset: int
    log_append_time_ms: int


@dataclass(frozen=True, slots=True)
class Reject:
    """Verdict: refuse the batch with this partition-level error."""

    error_code: ErrorCode
    message: str


Verdict = Append | Duplicate | Reject


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction a marker at ``last_offset`` ended (Kafka's ``CompletedTxn``)."""

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


class CorruptSnapshotError(ValueError):
    """A snapshot that fails its CRC or its structure; rebuild the state from the log."""


class ProducerStateManager:
    """The producer state of one partition (Kafka's ``ProducerStateManager``)."""

    def __init__(
        self,
        max_batches_per_producer: int = NUM_BATCHES_TO_RETAIN,
        max_producers: int = MAX_PRODUCERS_PER_PARTITION,
    ) -> None:
        assert max_batches_per_producer >= 1 and max_producers >= 1
        self.max_batches_per_producer = max_batches_per_producer
        self.max_producers = max_producers
        # Insertion order is log order of each producer's newest batch: the first entry is
        # the one idle longest, evicted first beyond max_producers.
        self._producers: dict[int, ProducerStateEntry] = {}
        # Open transactions: producer id -> first offset (Kafka's ``ongoingTxns``).
        self._ongoing: dict[int, int] = {}
        # Ended transactions whose marker may be above the high watermark, in marker order
        # (Kafka's ``unreplicatedTxns``): they keep the LSO until the marker is committed.
        self._unreplicated: deque[CompletedTxn] = deque()

    def __len__(self) -> int:
        return len(self._producers)

    @property
    def producers(self) -> Mapping[int, ProducerStateEntry]:
        """A read-only view of the entries, in log order of their newest batch."""
        return MappingProxyType(self._producers)

    def check(self, batch: BatchInfo) -> Verdict:
        """Validate a client's batch before it is appended (leader only)."""
        if not batch.is_idempotent:
            return APPEND
        if batch.base_sequence < 0:
            return Reject(ErrorCode.INVALID_RECORD, "idempotent batch without a base sequence")
        entry = self._producers.get(batch.producer_id)
        if entry is None:
            return APPEND  # KIP-360: no state, any sequence
        duplicate = entry.find_duplicate(batch)
        if duplicate is not None:
            return Duplicate(duplicate.first_offset, duplicate.last_offset, duplicate.max_timestamp)
        verdict = _check_epoch_and_sequence(entry, batch)
        if (
            verdict is APPEND
            and not batch.is_transactional
            and entry.current_txn_first_offset is not None
        ):
            return Reject(
                ErrorCode.INVALID_TXN_STATE,
                f"non-transactional batch while producer {batch.producer_id} has a transaction",
            )
        return verdict

    def check_marker(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int
    ) -> Reject | None:
        """Validate an end-transaction marker before it is written (leader only)."""
        entry = self._producers.get(producer_id)
        if entry is None:
            return None
        if producer_epoch < entry.producer_epoch:
            return Reject(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"marker epoch {producer_epoch} is older than the current {entry.producer_epoch}",
            )
        if coordinator_epoch < entry.coordinator_epoch:
            return Reject(
                ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                f"coordinator epoch {coordinator_epoch} < {entry.coordinator_epoch}",
            )
        return None

    def complete_txn(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        marker_offset: int,
        timestamp_ms: int,
        *,
        is_aborted: bool,
    ) -> CompletedTxn | None:
        """Fold a marker (appended, fetched or read back) into the state; returns the
        transaction it ended, None when the producer had none open here (Kafka's
        ``appendEndTxnMarker``, without its checks: :meth:`check_marker` did those)."""
        # Assigned in place: an entry keeps its position, in log order of its newest batch.
        previous = self._producers.get(producer_id)
        first = None if previous is None else previous.current_txn_first_offset
        batches: tuple[BatchMetadata, ...] = ()
        if previous is not None and previous.producer_epoch == producer_epoch:
            batches = previous.batches
        self._producers[producer_id] = ProducerStateEntry(
            producer_id, producer_epoch, batches, timestamp_ms, coordinator_epoch, None
        )
        self._evict()
        self._ongoing.pop(producer_id, None)
        if first is None:
            return None
        completed = CompletedTxn(producer_id, first, marker_offset, is_aborted)
        self._unreplicated.append(completed)
        return completed

    def first_unstable_offset(self, high_watermark: int) -> int | None:
        """The first offset of the oldest transaction open, or ended by a marker at or
        above ``high_watermark``; None when there is none (all is stable)."""
        unreplicated = self._unreplicated
        while unreplicated and unreplicated[0].last_offset < high_watermark:
            unreplicated.popleft()
        first = min(self._ongoing.values()) if self._ongoing else None
        if unreplicated and (first is None or unreplicated[0].first_offset < first):
            first = unreplicated[0].first_offset
        return first

    def last_stable_offset(self, high_watermark: int) -> int:
        """Kafka's LSO: read_committed consumers read below it."""
        if not self._ongoing and not self._unreplicated:
            return high_watermark
        first = self.first_unstable_offset(high_watermark)
        return high_watermark if first is None else min(first, high_watermark)

    def stable_offset_after(self, completed: CompletedTxn) -> int:
        """The LSO as ``completed`` ends, for its aborted-index entry (Kafka's
        ``lastStableOffset(completedTxn)``): the oldest other open transaction's first
        offset, else the offset after the marker."""
        others = [offset for pid, offset in self._ongoing.items() if pid != completed.producer_id]
        return min(others) if others else completed.last_offset + 1

    def _evict(self) -> None:
        """Beyond ``max_producers``, forget the producer idle longest, sparing those with a
        transaction open (forgetting one would move the LSO past its records)."""
        if len(self._producers) <= self.max_producers:
            return
        evicted = next(
            (pid for pid in self._producers if pid not in self._ongoing),
            next(iter(self._producers)),
        )
        del self._producers[evicted]
        self._ongoing.pop(evicted, None)

    def _index_transactions(self) -> None:
        self._ongoing = {
            entry.producer_id: entry.current_txn_first_offset
            for entry in self._producers.values()
            if entry.current_txn_first_offset is not None
        }
        self._unreplicated.clear()

    def update(
        self, batch: BatchInfo, first_offset: int, last_offset: int, max_timestamp: int
    ) -> None:
        """Record a batch just appended, or read back from the log; others are a no-op."""
        if not batch.is_idempotent:
            return
        assert batch.base_sequence >= 0, "check() refuses such batches"
        assert 0 <= first_offset <= last_offset
        assert increment_sequence(batch.base_sequence, last_offset - first_offset) == (
            batch.last_sequence
        ), "sequence span differs from offset span"
        metadata = BatchMetadata(
            batch.base_sequence, batch.last_sequence, first_offset, last_offset, max_timestamp
        )
        previous = self._producers.pop(batch.producer_id, None)
        entry = _next_entry(previous, batch, metadata, self.max_batches_per_producer)
        self._producers[batch.producer_id] = entry
        if batch.is_transactional and entry.current_txn_first_offset is not None:
            self._ongoing.setdefault(batch.producer_id, entry.current_txn_first_offset)
        if len(self._producers) > self.max_producers:
            self._evict()

    def remove_expired(self, wall_ms: int, producer_id_expiration_ms: int) -> list[int]:
        """Drop producers idle for ``producer.id.expiration.ms``; returns their ids.

        ``wall_ms`` is the wall clock, not the monotonic one: it is compared with batch
        timestamps, as Kafka's ``removeExpiredProducers``.  A producer with a transaction in
        progress never expires (its coordinator ends the transaction first).
        """
        assert producer_id_expiration_ms >= 0
        expired = [
            producer_id
            for producer_id, entry in self._producers.items()
            if entry.current_txn_first_offset is None
            and wall_ms - entry.last_timestamp_ms >= producer_id_expiration_ms
        ]
        for producer_id in expired:
            del self._producers[producer_id]
        return expired

    def truncate_to(self, offset: int) -> None:
        """Forget every batch whose last offset is at or after ``offset`` (log truncation).

        Sound, not exact: every producer left keeps the epoch, newest batch and expiry time a
        rebuild of the truncated log would give, but its window may hold fewer batches, and a
        producer whose cached batches were all truncated is forgotten although older batches
        of it may remain.  That loses no safety: the batches a client may still be retrying
        are its newest, which either survive here or were truncated.  The exact answer is
        Kafka's ``truncateAndReload``: load the newest snapshot at or below ``offset`` and
        replay the log from there; the log layer does that when it has such a snapshot.
        """
        assert offset >= 0
        survivors: list[ProducerStateEntry] = []
        for entry in self._producers.values():
            kept = tuple(b for b in entry.batches if b.last_offset < offset)
            if not kept:
                continue
            txn_first = entry.current_txn_first_offset
            if txn_first is not None and txn_first >= offset:
                txn_first = None
            survivors.append(
                replace(
                    entry,
                    batches=kept,
                    last_timestamp_ms=kept[-1].max_timestamp,
                    current_txn_first_offset=txn_first,
                )
            )
        survivors.sort(key=lambda entry: entry.last_offset)
        self._producers = {entry.producer_id: entry for entry in survivors}
        self._index_transactions()

    def snapshot(self) -> bytes:
        """The state as a versioned, CRC-32C-checked snapshot (cf. Kafka's ``.snapshot``)."""
        return _encode_snapshot(self._producers.values())

    @classmethod
    def from_snapshot(
        cls,
        data: bytes,
        max_batches_per_producer: int = NUM_BATCHES_TO_RETAIN,
        max_producers: int = MAX_PRODUCERS_PER_PARTITION,
    ) -> ProducerStateManager:
        """Load :meth:`snapshot` output; raises :class:`CorruptSnapshotError`."""
        manager = cls(max_batches_per_producer, max_producers)
        entries = _decode_snapshot(data, max_producers)
        for entry in entries:
            batches = entry.batches[-max_batches_per_producer:]
            manager._producers[entry.producer_id] = replace(entry, batches=batches)
        manager._index_transactions()
        return manager


def _check_epoch_and_sequence(entry: ProducerStateEntry, batch: BatchInfo) -> Verdict:
    """Kafka's ``checkProducerEpoch`` then ``checkSequence``, for a known, non-duplicate batch."""
    if batch.producer_epoch < entry.producer_epoch:
        return Reject(
            ErrorCode.INVALID_PRODUCER_EPOCH,
            f"epoch {batch.producer_epoch} is older than the current {entry.producer_epoch}",
        )
    if batch.producer_epoch > entry.producer_epoch:
        if batch.base_sequence == 0:
            return APPEND
        return Reject(
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            f"new epoch {batch.producer_epoch} must start at sequence 0, not {batch.base_sequence}",
        )
    if not entry.batches:  # a marker bumped the epoch: the producer starts again at 0
        if batch.base_sequence == 0:
            return APPEND
        return Reject(
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            f"epoch {batch.producer_epoch} must start at sequence 0, not {batch.base_sequence}",
        )
    if _in_sequence(entry.last_sequence, batch.base_sequence):
        return APPEND
    return Reject(
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
        f"sequence {batch.base_sequence} does not follow {entry.last_sequence}",
    )


def _next_entry(
    previous: ProducerStateEntry | None, batch: BatchInfo, metadata: BatchMetadata, max_batches: int
) -> ProducerStateEntry:
    """Kafka's ``addBatch``: a new epoch clears the window; a transactional batch opens a txn."""
    window: tuple[BatchMetadata, ...] = (metadata,)
    txn_first = None if previous is None else previous.current_txn_first_offset
    if batch.is_transactional and txn_first is None:
        txn_first = metadata.first_offset
    if previous is None:
        return ProducerStateEntry(
            batch.producer_id, batch.producer_epoch, window, metadata.max_timestamp, -1, txn_first
        )
    assert metadata.first_offset > previous.last_offset, "offsets go backwards"
    if previous.producer_epoch == batch.producer_epoch:
        window = (*previous.batches, metadata)[-max_batches:]
    return replace(
        previous,
        producer_epoch=batch.producer_epoch,
        batches=window,
        last_timestamp_ms=metadata.max_timestamp,
        current_txn_first_offset=txn_first,
    )


# Snapshot v1, big-endian: version int16, crc32c uint32 of all that follows, producer count
# int32, then per producer (in log order) its fields and batch count, then its batches.
_HEADER = struct.Struct(">hI")
_COUNT = struct.Struct(">i")
_ENTRY = struct.Struct(">qhqiqB")
_BATCH = struct.Struct(">iiqqq")
_NO_TXN = -1


def _encode_snapshot(entries: Iterable[ProducerStateEntry]) -> bytes:
    parts: list[bytes] = []
    count = 0
    for entry in entries:
        count += 1
        txn_first = entry.current_txn_first_offset
        parts.append(
            _ENTRY.pack(
                entry.producer_id,
                entry.producer_epoch,
                entry.last_timestamp_ms,
                entry.coordinator_epoch,
                _NO_TXN if txn_first is None else txn_first,
                len(entry.batches),
            )
        )
        parts.extend(
            _BATCH.pack(
                b.first_sequence, b.last_sequence, b.first_offset, b.last_offset, b.max_timestamp
            )
            for b in entry.batches
        )
    body = _COUNT.pack(count) + b"".join(parts)
    return _HEADER.pack(SNAPSHOT_VERSION, crc32c.crc32c(body)) + body


def _decode_snapshot(data: bytes, max_producers: int) -> list[ProducerStateEntry]:
    if len(data) < _HEADER.size + _COUNT.size:
        raise CorruptSnapshotError(f"snapshot too short: {len(data)} bytes")
    version, crc = _HEADER.unpack_from(data, 0)
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"unknown snapshot version {version}")
    body = memoryview(data)[_HEADER.size :]
    if crc32c.crc32c(body) != crc:
        raise CorruptSnapshotError("snapshot CRC mismatch")
    (count,) = _COUNT.unpack_from(body, 0)
    if not 0 <= count <= max_producers:
        raise CorruptSnapshotError(f"snapshot holds {count} producers, bound {max_producers}")
    entries: list[ProducerStateEntry] = []
    position = _COUNT.size
    try:
        for _ in range(count):
            entry, position = _decode_entry(body, position)
            entries.append(entry)
    except struct.error as error:
        raise CorruptSnapshotError(f"snapshot truncated: {error}") from error
    if position != len(body):
        raise CorruptSnapshotError(f"{len(body) - position} bytes after the last producer")
    _validate_entries(entries)
    return entries


def _decode_entry(body: memoryview, position: int) -> tuple[ProducerStateEntry, int]:
    producer_id, epoch, last_timestamp_ms, coordinator_epoch, txn_first, batch_count = (
        _ENTRY.unpack_from(body, position)
    )
    position += _ENTRY.size
    batches: list[BatchMetadata] = []
    for _ in range(batch_count):
        batches.append(BatchMetadata(*_BATCH.unpack_from(body, position)))
        position += _BATCH.size
    entry = ProducerStateEntry(
        producer_id,
        epoch,
        tuple(batches),
        last_timestamp_ms,
        coordinator_epoch,
        None if txn_first == _NO_TXN else txn_first,
    )
    return entry, position


def _validate_entries(entries: list[ProducerStateEntry]) -> None:
    """The invariants :meth:`ProducerStateManager.update` keeps, checked after a read."""
    previous_last_offset = -1
    seen: set[int] = set()
    for entry in entries:
        # No batches: left by a marker with a new epoch, which closed any transaction.
        empty_but_open = not entry.batches and entry.current_txn_first_offset is not None
        if entry.producer_id < 0 or entry.producer_id in seen or empty_but_open:
            raise CorruptSnapshotError(f"bad producer entry {entry.producer_id}")
        seen.add(entry.producer_id)
        window_offset = -1
        for batch in entry.batches:
            if not (
                0 <= batch.first_sequence <= MAX_SEQUENCE
                and window_offset < batch.first_offset <= batch.last_offset
                and batch.last_offset - batch.first_offset <= MAX_SEQUENCE
                and increment_sequence(batch.first_sequence, batch.last_offset - batch.first_offset)
                == batch.last_sequence
            ):
                raise CorruptSnapshotError(f"bad batch of producer {entry.producer_id}")
            window_offset = batch.last_offset
        if not entry.batches:  # left by a marker: its place in log order is not kept
            continue
        if entry.last_offset <= previous_last_offset:
            raise CorruptSnapshotError("producers out of log order")
        previous_last_offset = entry.last_offset


@dataclass(frozen=True, slots=True)
class NeedBlock:
    """Effect: persist ``next_producer_id`` (a ProducerIdsRecord), then call ``on_block``."""

    first_id: int
    size: int

    @property
    def next_producer_id(self) -> int:
        return self.first_id + self.size


class ProducerIdAllocator:
    """Hands out producer ids from blocks reserved by a persisted counter.

    As Kafka's controller (``ProducerIdControlManager``, AllocateProducerIds): a block
    ``[first_id, first_id + size)`` is used only after a record with ``next_producer_id =
    first_id + size`` is durable, and a restarted allocator starts from the last such value,
    so ids of a partly used block are abandoned, never handed out twice.
    """

    def __init__(self, next_producer_id: int = 0, block_size: int = PRODUCER_ID_BLOCK_SIZE) -> None:
        """``next_producer_id``: the last persisted value (0 when none was ever persisted)."""
        assert next_producer_id >= 0 and block_size >= 1
        self.block_size = block_size
        self._reserved_end = next_producer_id
        self._next_id = 0
        self._block_end = 0

    def next_id(self) -> int | NeedBlock:
        """The next unused id, or the block to reserve first."""
        if self._next_id < self._block_end:
            producer_id = self._next_id
            self._next_id += 1
            return producer_id
        if self._reserved_end > MAX_PRODUCER_ID - self.block_size:
            raise OverflowError("producer ids exhausted")
        return NeedBlock(self._reserved_end, self.block_size)

    def on_block(self, first_id: int, size: int) -> None:
        """A block whose end is now persisted; it must lie beyond every earlier block."""
        if first_id < self._reserved_end or size < 1 or first_id + size - 1 > MAX_PRODUCER_ID:
            raise ValueError(
                f"block [{first_id}, {first_id + size}) overlaps ids below {self._reserved_end}"
            )
        self._next_id = first_id
        self._block_end = self._reserved_end = first_id + size
