"""The consumer's fetch state machine (sans-IO): positions, Fetch requests, buffered records.

Everything a consumer decides lives here; :class:`~client.consumer.Consumer` (and the blocking
facade) only move bytes.  The loop the I/O side runs:

1. :meth:`Fetcher.resets_needed` — partitions without a valid position (new, ``seek_to_*``,
   OFFSET_OUT_OF_RANGE with ``auto.offset.reset`` earliest/latest); resolve each with a
   ListOffsets and report back with :meth:`Fetcher.reset_done` / :meth:`Fetcher.reset_failed`.
2. :meth:`Fetcher.ready_nodes` — brokers with fetchable partitions and no fetch in flight (one
   in-flight fetch per broker, as librdkafka); :meth:`Fetcher.build_fetch` makes the request for
   one of them, :meth:`Fetcher.handle_response` / :meth:`Fetcher.handle_failure` take the answer.
3. :meth:`Fetcher.poll` — hands out up to ``max_records`` buffered records and advances
   positions.  Batches are decoded only here (lazy, see :mod:`client.records_view`).

Prefetch: a partition stays fetchable while less than ``max.partition.fetch.bytes`` of its
records are buffered, so the next fetch is under way while the user processes the last one
(the fetch offset runs ahead of the position).  A :meth:`Fetcher.seek` bumps the partition's
generation: buffered data and answers to fetches sent before it are dropped.

Errors per partition follow Kafka's Fetcher: OFFSET_OUT_OF_RANGE resets per
``auto.offset.reset`` (``none`` raises :class:`PartitionOffsetOutOfRangeError` from
:meth:`poll`); NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, FENCED_LEADER_EPOCH,
UNKNOWN_LEADER_EPOCH and the like ask for a metadata refresh and retry after
``retry.backoff.ms`` (the request carries the leader epoch from metadata, KIP-320); any other
error is raised once from :meth:`poll`.  Group membership will set positions from committed
offsets through :meth:`seek` before any reset, and commit :meth:`positions`.

``isolation.level=read_committed`` (KIP-98) as Kafka's consumer: fetches ask for isolation
level 1, so the broker returns records below the last stable offset only, with the aborted
transactions among them; a transactional batch of a producer whose aborted transaction has
begun (first offset reached, abort marker not yet) is skipped, and markers never reach the
user.
"""

from __future__ import annotations

import heapq
import struct
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from construct import Container

from client.config import ConsumerConfig
from client.errors import KafkaError, OffsetOutOfRangeError, error_for
from client.metadata import ClusterMetadata, TopicPartition
from client.protocol.errors import ErrorCode
from client.records_view import (
    BatchInfo,
    ConsumerRecord,
    batch_payload,
    decode_batch,
    scan_batches,
)

FETCH = 1
TOPIC_ID_MIN_VERSION = 13  # KIP-516: Fetch names topics by id from v13
EARLIEST = -2  # ListOffsets' special timestamps (client.admin.OffsetSpec)
LATEST = -1
CONSUMER_REPLICA_ID = -1
NO_SESSION_ID = 0
FINAL_EPOCH = -1  # KIP-227: session id 0 with epoch -1 is a full fetch that opens no session
_RESET_SPECS = {"earliest": EARLIEST, "latest": LATEST}

# Answers after which Kafka's Fetcher refreshes metadata and fetches the partition again.
_REFRESH_CODES = frozenset(
    {
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.REPLICA_NOT_AVAILABLE,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.FENCED_LEADER_EPOCH,
        ErrorCode.OFFSET_NOT_AVAILABLE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.UNKNOWN_TOPIC_ID,
        ErrorCode.INCONSISTENT_TOPIC_ID,
        ErrorCode.LEADER_NOT_AVAILABLE,
    }
)
# The broker is behind our metadata (UNKNOWN_LEADER_EPOCH) or briefly unable: retry as is.
_RETRY_CODES = frozenset({ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.UNKNOWN_SERVER_ERROR})


class NoOffsetForPartitionError(KafkaError):
    """A partition has no position and ``auto.offset.reset`` is ``none`` (Kafka's
    NoOffsetForPartitionException).  ``partitions`` names them."""

    def __init__(self, partitions: Iterable[TopicPartition]) -> None:
        self.partitions = frozenset(partitions)
        names = ", ".join(sorted(str(tp) for tp in self.partitions))
        super().__init__(f"no position for {names} and auto.offset.reset is none")


class PartitionOffsetOutOfRangeError(OffsetOutOfRangeError):
    """OFFSET_OUT_OF_RANGE with ``auto.offset.reset=none``; ``offsets`` maps each partition to
    the fetch offset the broker refused.  ``seek`` the partition before polling again."""

    def __init__(self, offsets: dict[TopicPartition, int]) -> None:
        self.offsets = offsets
        text = ", ".join(f"{tp} at {offset}" for tp, offset in sorted(offsets.items()))
        super().__init__(f"fetch offsets out of range (auto.offset.reset is none): {text}")


class SentPartition(NamedTuple):
    """What a fetch asked of one partition, to match the answer against the current state."""

    fetch_offset: int
    generation: int


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """A Fetch to send to ``node_id`` at ``version``: the body and what it asked."""

    node_id: int
    version: int
    body: dict[str, Any]
    partitions: dict[TopicPartition, SentPartition]
    topic_names: dict[uuid.UUID, str]
    first: TopicPartition


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What the I/O side must do after a response: refresh metadata, wake pollers."""

    refresh_metadata: bool
    records_ready: bool


class _CompletedFetch:
    """One partition's records from one response; decoded batch by batch as polled."""

    __slots__ = ("aborted", "aborted_producers", "batch_index", "batches", "data", "generation",
                 "pending", "pending_end", "pending_index", "size_bytes", "tp")  # fmt: skip

    def __init__(
        self,
        tp: TopicPartition,
        generation: int,
        data: bytes,
        batches: list[BatchInfo],
        aborted: list[tuple[int, int]] | None = None,
    ) -> None:
        self.tp = tp
        self.generation = generation
        self.data = data
        self.batches = batches
        self.size_bytes = len(data)
        self.batch_index = 0
        self.pending: list[ConsumerRecord] = []  # the decoded batch being handed out
        self.pending_index = 0
        self.pending_end = -1  # next offset after the pending batch
        # read_committed: (first offset, producer id) of the aborted transactions not yet
        # reached, as a heap; the producers whose aborted transaction is under way.
        self.aborted = aborted or []
        heapq.heapify(self.aborted)
        self.aborted_producers: set[int] = set()


@dataclass(slots=True)
class _PartitionState:
    """One assigned partition (Kafka's TopicPartitionState)."""

    position: int | None = None  # next offset to return to the user
    leader_epoch: int = -1  # epoch of the last returned record (for commits, KIP-320)
    reset: int | None = None  # EARLIEST / LATEST / a timestamp to resolve, else None
    reset_in_flight: bool = False
    fetch_offset: int | None = None  # next offset to fetch (>= position: prefetch)
    generation: int = 0
    in_flight: bool = False
    buffered_bytes: int = 0
    stalled: bool = False  # an answer said retry only once the buffer is drained
    retry_at_ms: float = 0.0
    high_watermark: int = -1
    log_start_offset: int = -1
    last_stable_offset: int = -1
    error: KafkaError | None = None
    completed: deque[_CompletedFetch] = field(default_factory=deque)

    def invalidate(self, reset: int | None) -> None:
        """Forget the position and everything buffered (a seek or a reset)."""
        self.generation += 1
        self.reset = reset
        self.reset_in_flight = False
        self.fetch_offset = None
        self.buffered_bytes = 0
        self.stalled = False
        self.completed.clear()


class Fetcher:
    """Positions and buffered fetches of the assigned partitions.  See the module docstring.

    Every method is synchronous and never blocks; times are ``now_ms`` given by the caller.
    """

    def __init__(self, config: ConsumerConfig) -> None:
        self.config = config
        self._states: dict[TopicPartition, _PartitionState] = {}
        self._ready: deque[_CompletedFetch] = deque()  # in arrival order, for fairness

    # -- assignment and positions ------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Replace the assignment; partitions kept keep their positions and buffers."""
        wanted = list(dict.fromkeys(partitions))
        self._states = {tp: self._states.get(tp) or _PartitionState() for tp in wanted}
        self._ready = deque(fetch for fetch in self._ready if fetch.tp in self._states)

    def assignment(self) -> frozenset[TopicPartition]:
        """The assigned partitions."""
        return frozenset(self._states)

    def topics(self) -> set[str]:
        """Topics of the assigned partitions (the metadata the consumer needs)."""
        return {tp.topic for tp in self._states}

    def _state(self, tp: TopicPartition) -> _PartitionState:
        state = self._states.get(tp)
        if state is None:
            raise KafkaError(f"{tp} is not assigned to this consumer")
        return state

    def seek(self, tp: TopicPartition, offset: int, leader_epoch: int = -1) -> None:
        """Fetch from ``offset`` next (Kafka's seek); buffered records are dropped."""
        if offset < 0:
            raise ValueError(f"seek offset must be >= 0, got {offset}")
        state = self._state(tp)
        state.invalidate(None)
        state.position = offset
        state.fetch_offset = offset
        state.leader_epoch = leader_epoch
        state.error = None

    def request_reset(self, tp: TopicPartition, spec: int) -> None:
        """Resolve the position anew with ListOffsets ``spec`` (EARLIEST, LATEST) when next
        needed (Kafka's seekToBeginning / seekToEnd are lazy too)."""
        state = self._state(tp)
        state.invalidate(spec)
        state.position = None
        state.error = None

    def position(self, tp: TopicPartition) -> int | None:
        """The offset of the next record :meth:`poll` returns, or None if not yet known.

        Raises (once) the partition's pending error, e.g. NoOffsetForPartitionError.
        """
        state = self._state(tp)
        error = state.error
        if error is not None:
            state.error = None
            raise error
        return None if state.reset is not None else state.position

    def positions(self) -> dict[TopicPartition, tuple[int, int]]:
        """(position, leader epoch) of every partition whose position is known (to commit)."""
        return {
            tp: (state.position, state.leader_epoch)
            for tp, state in self._states.items()
            if state.position is not None and state.reset is None
        }

    def highwater(self, tp: TopicPartition) -> int:
        """The high watermark the last fetch of ``tp`` reported (-1 before one)."""
        return self._state(tp).high_watermark

    # -- resets ------------------------------------------------------------------------------

    def resets_needed(self, now_ms: float) -> dict[TopicPartition, tuple[int, int]]:
        """Partitions to resolve now, as ``tp → (ListOffsets spec, token)``; marks them in flight.

        A partition with no position takes ``auto.offset.reset``; with ``none`` it gets a
        :class:`NoOffsetForPartitionError` instead (raised from :meth:`poll`).
        """
        strategy = _RESET_SPECS.get(self.config.auto_offset_reset)
        wanted: dict[TopicPartition, tuple[int, int]] = {}
        missing = []
        for tp, state in self._states.items():
            if state.reset is None and state.position is None:
                if strategy is None:
                    missing.append(tp)
                    continue
                state.reset = strategy
            if state.reset is None or state.reset_in_flight or state.retry_at_ms > now_ms:
                continue
            state.reset_in_flight = True
            wanted[tp] = (state.reset, state.generation)
        if missing:
            error = NoOffsetForPartitionError(missing)
            for tp in missing:
                self._states[tp].error = error
        return wanted

    def reset_done(self, tp: TopicPartition, token: int, offset: int, leader_epoch: int) -> None:
        """ListOffsets answered ``offset`` for a reset; ignored if a seek came in between."""
        state = self._states.get(tp)
        if state is None or state.generation != token or not state.reset_in_flight:
            return
        assert offset >= 0, f"reset of {tp} to {offset}"
        self.seek(tp, offset, leader_epoch)

    def reset_failed(
        self, tp: TopicPartition, token: int, error: KafkaError, now_ms: float
    ) -> None:
        """ListOffsets failed for a reset: retry after the backoff, or raise a final error."""
        state = self._states.get(tp)
        if state is None or state.generation != token:
            return
        state.reset_in_flight = False
        state.retry_at_ms = now_ms + self.config.retry_backoff_ms
        if not error.retriable:
            state.error = error

    # -- fetch requests ----------------------------------------------------------------------

    def _fetchable(self, state: _PartitionState, now_ms: float) -> bool:
        return (
            state.reset is None
            and state.fetch_offset is not None
            and not state.in_flight
            and not state.stalled
            and state.error is None
            and state.retry_at_ms <= now_ms
            and state.buffered_bytes < self.config.max_partition_fetch_bytes
        )

    def ready_nodes(
        self, metadata: ClusterMetadata, busy: Iterable[int], now_ms: float
    ) -> tuple[set[int], bool]:
        """(brokers to send a fetch to now, whether metadata lacks a leader we need)."""
        nodes: set[int] = set()
        missing_leader = False
        for tp, state in self._states.items():
            if not self._fetchable(state, now_ms):
                continue
            leader = metadata.leader_for(tp.topic, tp.partition)
            if leader is None:
                missing_leader = True
            else:
                nodes.add(leader.node_id)
        return nodes - set(busy), missing_leader

    def build_fetch(
        self, node_id: int, metadata: ClusterMetadata, max_version: int, now_ms: float
    ) -> FetchRequest | None:
        """The Fetch for every fetchable partition led by ``node_id`` (None if there is none).

        ``max_version`` is the highest both sides support; below v13 if a topic has no id.
        Marks the partitions in flight until :meth:`handle_response` / :meth:`handle_failure`.
        """
        chosen: list[tuple[TopicPartition, _PartitionState, int]] = []
        for tp, state in self._states.items():
            described = metadata.partition(tp.topic, tp.partition)
            if described is None or described.leader != node_id:
                continue
            if self._fetchable(state, now_ms):
                chosen.append((tp, state, described.leader_epoch))
        if not chosen:
            return None
        ids = {tp.topic: metadata.topic_id(tp.topic) for tp, _, _ in chosen}
        version = max_version
        if version >= TOPIC_ID_MIN_VERSION and None in ids.values():
            version = TOPIC_ID_MIN_VERSION - 1
        return self._request(node_id, version, chosen, ids)

    def _request(
        self,
        node_id: int,
        version: int,
        chosen: list[tuple[TopicPartition, _PartitionState, int]],
        ids: dict[str, uuid.UUID | None],
    ) -> FetchRequest:
        config = self.config
        topics: dict[str, list[dict[str, int]]] = {}
        sent: dict[TopicPartition, SentPartition] = {}
        for tp, state, epoch in chosen:
            assert state.fetch_offset is not None
            state.in_flight = True
            sent[tp] = SentPartition(state.fetch_offset, state.generation)
            topics.setdefault(tp.topic, []).append({
                "partition": tp.partition,
                "current_leader_epoch": epoch,
                "fetch_offset": state.fetch_offset,
                "partition_max_bytes": config.max_partition_fetch_bytes,
            })  # fmt: skip
        by_id = version >= TOPIC_ID_MIN_VERSION
        body = {
            "replica_id": CONSUMER_REPLICA_ID,
            "max_wait_ms": config.fetch_max_wait_ms,
            "min_bytes": config.fetch_min_bytes,
            "max_bytes": config.fetch_max_bytes,
            "isolation_level": 1 if config.read_committed else 0,
            "session_id": NO_SESSION_ID,
            "session_epoch": FINAL_EPOCH,
            "topics": [
                {"topic": name, "topic_id": ids[name], "partitions": parts}
                for name, parts in topics.items()
            ],
            "forgotten_topics_data": [],
            "rack_id": config.client_rack,
        }
        names = {topic_id: name for name, topic_id in ids.items() if by_id and topic_id}
        return FetchRequest(node_id, version, body, sent, names, chosen[0][0])

    # -- fetch responses ---------------------------------------------------------------------

    def handle_failure(self, request: FetchRequest, error: KafkaError, now_ms: float) -> bool:
        """The fetch failed as a whole (connection, timeout): back off its partitions.

        Returns whether metadata should be refreshed.
        """
        for tp in request.partitions:
            state = self._states.get(tp)
            if state is not None:
                state.in_flight = False
                state.retry_at_ms = now_ms + self.config.retry_backoff_ms
        return error.invalid_metadata

    def handle_response(
        self, request: FetchRequest, response: Container, now_ms: float
    ) -> FetchOutcome:
        """Fold a Fetch response in: buffer records, schedule resets, note errors."""
        for tp in request.partitions:
            state = self._states.get(tp)
            if state is not None:
                state.in_flight = False
        code = response.get("error_code", ErrorCode.NONE)
        if code != ErrorCode.NONE:
            error = error_for(code, f"Fetch from broker {request.node_id}")
            return FetchOutcome(self.handle_failure(request, error, now_ms), False)
        refresh = ready = False
        for topic in response.responses:
            name = topic.get("topic") or request.topic_names.get(topic.get("topic_id"))
            if name is None:  # an id we did not ask about
                refresh = True
                continue
            for partition in topic.partitions:
                tp = TopicPartition(name, partition.partition_index)
                sent = request.partitions.get(tp)
                state = self._states.get(tp)
                if sent is None or state is None or state.generation != sent.generation:
                    continue  # not asked, unassigned, or seeked since: stale
                more, buffered = self._partition(request, tp, state, partition, now_ms)
                refresh |= more
                ready |= buffered
        return FetchOutcome(refresh, ready)

    def _partition(
        self,
        request: FetchRequest,
        tp: TopicPartition,
        state: _PartitionState,
        partition: Container,
        now_ms: float,
    ) -> tuple[bool, bool]:
        """One partition's answer: (refresh metadata, records or an error are ready)."""
        sent = request.partitions[tp]
        code = partition.error_code
        if code == ErrorCode.NONE:
            state.high_watermark = partition.high_watermark
            state.log_start_offset = partition.get("log_start_offset", -1)
            state.last_stable_offset = partition.get("last_stable_offset", -1)
            aborted = None
            if self.config.read_committed:
                aborted = [
                    (txn.first_offset, txn.producer_id)
                    for txn in partition.get("aborted_transactions") or ()
                ]
            return False, self._buffer(request, tp, sent, state, partition.records, aborted)
        if code == ErrorCode.OFFSET_OUT_OF_RANGE:
            return False, self._out_of_range(tp, sent, state)
        state.retry_at_ms = now_ms + self.config.retry_backoff_ms
        if code in _REFRESH_CODES:
            return True, False
        if code in _RETRY_CODES:
            return False, False
        state.error = error_for(code, f"Fetch {tp} at offset {sent.fetch_offset}")
        return False, True

    def _buffer(  # noqa: PLR0917
        self,
        request: FetchRequest,
        tp: TopicPartition,
        sent: SentPartition,
        state: _PartitionState,
        records: memoryview | bytes | None,
        aborted: list[tuple[int, int]] | None = None,
    ) -> bool:
        if not records:
            return False
        data = bytes(records)  # one copy per partition; decoding slices bytes, not views
        scanned = scan_batches(data)
        if not scanned.batches:
            if scanned.partial_tail and tp == request.first:
                # KIP-74: the first partition always gets its first batch whole; a broker that
                # cut it anyway would make us fetch the same bytes forever.
                state.error = KafkaError(
                    f"{tp}: the batch at offset {sent.fetch_offset} does not fit in the "
                    f"{len(data)} bytes returned; raise max.partition.fetch.bytes"
                )
                return True
            return False
        state.fetch_offset = scanned.batches[-1].next_offset
        state.buffered_bytes += len(data)
        fetch = _CompletedFetch(tp, sent.generation, data, scanned.batches, aborted)
        state.completed.append(fetch)
        self._ready.append(fetch)
        # Kafka's fairness rule: a partition that returned data goes to the back of the order.
        self._states[tp] = self._states.pop(tp)
        return True

    def _out_of_range(
        self, tp: TopicPartition, sent: SentPartition, state: _PartitionState
    ) -> bool:
        if state.position != sent.fetch_offset:
            # Records before the refused offset are still buffered: hand them out first and
            # fetch again once they are gone (then the answer applies to the position).
            state.stalled = True
            return False
        strategy = _RESET_SPECS.get(self.config.auto_offset_reset)
        if strategy is None:
            state.error = PartitionOffsetOutOfRangeError({tp: sent.fetch_offset})
            return True
        state.invalidate(strategy)
        state.position = None
        return False

    # -- poll --------------------------------------------------------------------------------

    def poll(self, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Up to ``max_records`` buffered records by partition, advancing positions.

        Raises the first pending partition error (each once): NoOffsetForPartitionError,
        PartitionOffsetOutOfRangeError, authorization failures, corrupt batches.
        """
        assert max_records >= 1
        self._raise_pending()
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        remaining = max_records
        while remaining > 0 and self._ready:
            fetch = self._ready[0]
            state = self._states.get(fetch.tp)
            if state is None or state.generation != fetch.generation:
                self._ready.popleft()
                continue
            records = self._drain(fetch, state, remaining)
            if records:
                out.setdefault(fetch.tp, []).extend(records)
                remaining -= len(records)
            if fetch.batch_index >= len(fetch.batches) and fetch.pending_index >= len(
                fetch.pending
            ):
                self._ready.popleft()
                state.completed.popleft()
                state.buffered_bytes -= fetch.size_bytes
                if not state.completed:
                    state.stalled = False
        return self._deserialized(out)

    def _raise_pending(self) -> None:
        for state in self._states.values():
            error = state.error
            if error is not None:
                state.error = None
                raise error

    def _drain(
        self, fetch: _CompletedFetch, state: _PartitionState, limit: int
    ) -> list[ConsumerRecord]:
        """Up to ``limit`` records of ``fetch`` from the position on, decoding batches lazily."""
        taken: list[ConsumerRecord] = []
        while len(taken) < limit:
            if fetch.pending_index < len(fetch.pending):
                start = fetch.pending_index
                end = min(len(fetch.pending), start + limit - len(taken))
                chunk = fetch.pending if start == 0 and end == len(fetch.pending) else (
                    fetch.pending[start:end]
                )  # fmt: skip
                taken.extend(chunk)
                fetch.pending_index = end
                last = chunk[-1]
                state.position = last.offset + 1
                state.leader_epoch = last.leader_epoch
                if end == len(fetch.pending):
                    state.position = fetch.pending_end
                continue
            if fetch.batch_index >= len(fetch.batches):
                break
            self._decode_next(fetch, state)
        return taken

    def _decode_next(self, fetch: _CompletedFetch, state: _PartitionState) -> None:
        batch = fetch.batches[fetch.batch_index]
        fetch.batch_index += 1
        position = state.position
        assert position is not None
        # Every batch with a producer id counts for read_committed's bookkeeping, even one
        # before the position (an abort marker ends its transaction all the same).
        aborted = self.config.read_committed and batch.producer_id >= 0 and _aborted(fetch, batch)
        if batch.next_offset <= position:
            return  # wholly before the position (the first batch after a seek)
        if aborted:
            state.position = batch.next_offset
            return
        if batch.is_control:
            state.position = batch.next_offset  # transaction markers are never returned
            return
        payload = batch_payload(fetch.data, batch, check_crc=self.config.check_crcs)
        records = decode_batch(payload, batch, fetch.tp.topic, fetch.tp.partition, position)
        fetch.pending = records
        fetch.pending_index = 0
        fetch.pending_end = batch.next_offset
        if not records:
            state.position = batch.next_offset

    def _deserialized(
        self, out: dict[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        key_of = self.config.key_deserializer
        value_of = self.config.value_deserializer
        if key_of is None and value_of is None:
            return out
        return {
            tp: [
                record._replace(
                    key=record.key if key_of is None else key_of(record.key),
                    value=record.value if value_of is None else value_of(record.value),
                )
                for record in records
            ]
            for tp, records in out.items()
        }

    def has_buffered(self) -> bool:
        """Whether :meth:`poll` would return records or raise right now."""
        return bool(self._ready) or any(state.error for state in self._states.values())

    def next_retry_ms(self, now_ms: float) -> float | None:
        """The earliest backoff still running (when to look again), or None."""
        times = [state.retry_at_ms for state in self._states.values() if state.retry_at_ms > now_ms]
        return min(times) if times else None


_CONTROL_KEY = struct.Struct(">hh")
_ABORT_MARKER = 0


def _aborted(fetch: _CompletedFetch, batch: BatchInfo) -> bool:
    """Kafka's read_committed rule for a batch with a producer id: its producer's aborted
    transactions that begin at or before it are under way; an abort marker ends one; a
    transactional batch of a producer with one under way is dropped."""
    while fetch.aborted and fetch.aborted[0][0] <= batch.base_offset + batch.last_offset_delta:
        fetch.aborted_producers.add(heapq.heappop(fetch.aborted)[1])
    if batch.is_control:
        if _is_abort_marker(fetch, batch):
            fetch.aborted_producers.discard(batch.producer_id)
        return False
    return batch.is_transactional and batch.producer_id in fetch.aborted_producers


def _is_abort_marker(fetch: _CompletedFetch, batch: BatchInfo) -> bool:
    payload = batch_payload(fetch.data, batch, check_crc=False)
    records = decode_batch(payload, batch, fetch.tp.topic, fetch.tp.partition, batch.base_offset)
    key = records[0].key if records else None
    if not isinstance(key, bytes) or len(key) < _CONTROL_KEY.size:
        return False
    control_type: int = _CONTROL_KEY.unpack_from(key)[1]
    return control_type == _ABORT_MARKER
