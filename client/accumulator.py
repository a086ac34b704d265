"""The producer's record accumulator: per-partition magic-v2 batches, built as bytes (sans-IO).

No IO, no clock, no event loop: the async :class:`~client.producer.Producer` (and the blocking
facade) pass ``now_ms`` in and act on what comes out, so every rule below lives here once.

**Appending.**  Each partition has a queue of batches; records go into the last one while it has
room (``batch.size`` bytes of uncompressed records; a record larger than that gets a batch of
its own, as in Kafka).  A record is encoded straight into the batch's ``bytearray`` behind 61
reserved header bytes: varints of small values come from a lookup table, so an unkeyed record
without headers is one ``join``.  Sealing (when a batch is first drained) writes the header in
place, compresses the records if a codec is set, and computes the CRC-32C.

**Memory.**  ``buffered_bytes`` counts the bytes of every batch not yet finished; the producer
waits (back-pressure) while ``buffer.memory`` would be exceeded and sets :attr:`exhausted`, which
makes every batch sendable at once, as Kafka's accumulator does.

**Ready and drain.**  A partition's head batch is sendable when it is full (or another batch is
queued behind it), ``linger.ms`` has passed since it was opened, a flush or close is under way,
or memory is exhausted; a retried batch once its backoff has passed.  :meth:`drain` returns, per
leader node, one request's worth of batches (one per partition, up to ``max.request.size``).

**Retries and ordering.**  A batch that fails with a retriable error goes back to the *head* of
its queue, ordered by sequence, and is resent only when nothing else of that partition is in
flight, so records are never reordered by a retry.  ``retries`` and ``delivery.timeout.ms``
(from the first append) bound it; then it fails with a typed
:class:`~client.errors.DeliveryError`, ambiguous (:class:`~client.errors.MaybeWrittenError`) if
any attempt ended without an answer.

**Idempotence (KIP-98, KIP-360).**  A batch gets ``producer_id``, ``producer_epoch`` and its
``base_sequence`` when it is first drained; retries resend the same bytes, so the broker
answers a duplicate with the original offsets.  At most ``max.in.flight`` (<= 5, the broker's
window) batches per partition are in flight.  Each partition remembers the (id, epoch) its
sequences belong to.  When an error cannot be resolved by resending -- OUT_OF_ORDER_SEQUENCE_NUMBER
or UNKNOWN_PRODUCER_ID on the partition's *oldest* unacknowledged batch (the broker lost our
state), or a batch failing for good (its sequence leaves a gap) -- the partition is marked for a
reset and :attr:`bump_required` asks the producer for a new epoch (:attr:`new_id_required`: for
a new producer id, after INVALID_PRODUCER_EPOCH / PRODUCER_FENCED).  Once the partition has
nothing in flight it adopts the new (id, epoch) and sequences restart at 0: its unacknowledged
batches are restamped and resent in order, except those an attempt may already have written
(resending them under a new epoch could duplicate them): they fail as ``MaybeWrittenError``.
Other partitions keep their old stamp until they have nothing unacknowledged.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import crc32c

from client.errors import (
    DeliveryError,
    KafkaError,
    MaybeWrittenError,
    delivery_error,
    error_for,
)
from client.metadata import TopicPartition
from client.protocol.errors import ErrorCode
from client.protocol.primitives import encode_uvarint
from client.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_BYTES,
    COMPRESSION_NONE,
    CRC_OFFSET,
    LOG_OVERHEAD_BYTES,
    MAGIC,
    NO_PRODUCER_ID,
    compress,
)

INT32_MAX = 2**31 - 1
NO_SEQUENCE = -1
NO_OFFSET = -1
# Zigzag varints of 0..N-1 are looked up, not computed: offset deltas, value lengths and
# timestamp deltas of ordinary batches are all below it.
VARINT_TABLE_SIZE = 1 << 14
# The most bytes a record adds beyond its key, value and headers (length, attributes,
# timestamp delta, offset delta, key and value lengths, header count: varints at their widest).
RECORD_OVERHEAD_MAX_BYTES = 5 + 1 + 10 + 5 + 5 + 5 + 5

TRANSACTIONAL_ATTRIBUTE = 0x10  # the batch attribute bit of a transactional producer
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC = struct.Struct(">I")


def _zigzag_varint(value: int) -> bytes:
    return encode_uvarint(((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


_VARINT = tuple(_zigzag_varint(number) for number in range(VARINT_TABLE_SIZE))
_NULL = _zigzag_varint(-1)
# Values shorter than this take the inlined path: their record's length stays in the table.
_FAST_VALUE_LIMIT = VARINT_TABLE_SIZE - 64


def _varint(value: int) -> bytes:
    if 0 <= value < VARINT_TABLE_SIZE:
        return _VARINT[value]
    return _zigzag_varint(value)


Headers = Sequence[tuple[str, bytes | None]]


def encode_record(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
) -> bytes:
    """One v2 record, length prefix included (Kafka protocol guide, "Record")."""
    table = _VARINT
    size = VARINT_TABLE_SIZE
    timestamp = table[timestamp_delta] if 0 <= timestamp_delta < size else _varint(timestamp_delta)
    offset = table[offset_delta] if offset_delta < size else _varint(offset_delta)
    if key is None and not headers and value is not None and len(value) < size:
        length = table[len(value)]
        body_bytes = 3 + len(timestamp) + len(offset) + len(length) + len(value)
        return b"".join(
            (_varint(body_bytes), b"\x00", timestamp, offset, _NULL, length, value, b"\x00")
        )
    body = bytearray(b"\x00")
    body += timestamp
    body += offset
    for field in (key, value):
        if field is None:
            body += _NULL
        else:
            body += _varint(len(field))
            body += field
    body += _varint(len(headers) if headers else 0)
    for header_key, header_value in headers or ():
        encoded = header_key.encode()
        body += _varint(len(encoded))
        body += encoded
        if header_value is None:
            body += _NULL
        else:
            body += _varint(len(header_value))
            body += header_value
    return _varint(len(body)) + bytes(body)


def estimate_record_bytes(key: bytes | None, value: bytes | None, headers: Headers | None) -> int:
    """An upper bound of a record's encoded size (for max.request.size and buffer.memory)."""
    size = RECORD_OVERHEAD_MAX_BYTES + (len(key) if key else 0) + (len(value) if value else 0)
    for header_key, header_value in headers or ():
        size += 10 + len(header_key) * 4 + (len(header_value) if header_value else 0)
    return size


def next_sequence(sequence: int, increment: int) -> int:
    """Sequences wrap from 2**31-1 to 0 (Kafka's DefaultRecordBatch.incrementSequence)."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


class RecordMetadata(NamedTuple):
    """Where a record was written: offset -1 with acks=0 (no answer) or when the broker did not
    say (a DUPLICATE_SEQUENCE_NUMBER answer); timestamp is LogAppendTime if the topic uses it."""

    topic: str
    partition: int
    offset: int
    timestamp: int


class ProducerBatch:
    """One batch of one partition: record bytes behind a reserved header, then its outcome."""

    __slots__ = ("attempts", "base_offset", "base_sequence", "base_timestamp", "buffer",
                 "created_ms", "deadline_ms", "done", "error", "full", "in_flight",
                 "log_append_time_ms", "max_timestamp", "maybe_written", "producer_epoch",
                 "producer_id", "record_count", "reserved_bytes", "retry_at_ms", "sealed",
                 "topic_partition", "waiter")  # fmt: skip

    def __init__(self, topic_partition: TopicPartition, now_ms: int, deadline_ms: int) -> None:
        self.topic_partition = topic_partition
        self.buffer = bytearray(BATCH_HEADER_BYTES)
        self.record_count = 0
        self.base_timestamp = 0
        self.max_timestamp = 0
        self.created_ms = now_ms
        self.deadline_ms = deadline_ms
        self.full = False
        self.sealed = False
        self.reserved_bytes = 0  # what buffer.memory counts: the uncompressed size
        self.in_flight = False
        self.attempts = 0
        self.retry_at_ms = 0
        self.maybe_written = False
        self.producer_id = NO_PRODUCER_ID
        self.producer_epoch = -1
        self.base_sequence = NO_SEQUENCE
        self.done = False
        self.error: DeliveryError | None = None
        self.base_offset = NO_OFFSET
        self.log_append_time_ms = -1
        self.waiter: Any = None  # the shell's completion signal (an anyio.Event, say)

    @property
    def size_bytes(self) -> int:
        """The batch's size on the wire (compressed once sealed)."""
        return len(self.buffer)

    def metadata(self, index: int, timestamp_ms: int) -> RecordMetadata:
        """The result of record ``index`` (appended with ``timestamp_ms``) of a finished batch.

        Raises the batch's :class:`~client.errors.DeliveryError` if it failed.
        """
        assert self.done, "the batch is not finished"
        if self.error is not None:
            raise self.error
        topic, partition = self.topic_partition
        offset = self.base_offset + index if self.base_offset >= 0 else NO_OFFSET
        timestamp = self.log_append_time_ms if self.log_append_time_ms >= 0 else timestamp_ms
        return RecordMetadata(topic, partition, offset, timestamp)

    def seal(self, codec: int, transactional: bool = False) -> None:
        """Compress the records (once) and write the header and CRC-32C for the current stamp;
        ``transactional`` sets the transactional attribute (KIP-98)."""
        count = self.record_count
        assert count > 0 and not self.in_flight
        if not self.sealed:
            self.reserved_bytes = len(self.buffer)
            if codec != COMPRESSION_NONE:
                payload = compress(codec, bytes(memoryview(self.buffer)[BATCH_HEADER_BYTES:]))
                self.buffer = bytearray(BATCH_HEADER_BYTES) + payload
            self.sealed = True
        buffer = self.buffer
        attributes = codec | (TRANSACTIONAL_ATTRIBUTE if transactional else 0)
        _HEADER.pack_into(buffer, 0, 0, len(buffer) - LOG_OVERHEAD_BYTES, -1, MAGIC, 0, attributes,
                          count - 1, self.base_timestamp, self.max_timestamp, self.producer_id,
                          self.producer_epoch, self.base_sequence, count)  # fmt: skip
        _CRC.pack_into(buffer, CRC_OFFSET, crc32c.crc32c(memoryview(buffer)[ATTRIBUTES_OFFSET:]))


class PartitionQueue:
    """A partition's batches (head first) and its idempotence state."""

    __slots__ = ("batches", "in_flight", "needs_reset", "next_sequence", "open", "stamp",
                 "topic_partition", "unacked")  # fmt: skip

    def __init__(self, topic_partition: TopicPartition) -> None:
        self.topic_partition = topic_partition
        self.batches: deque[ProducerBatch] = deque()
        self.open: ProducerBatch | None = None
        self.in_flight = 0
        self.stamp: tuple[int, int] | None = None  # (producer id, epoch) of our sequences
        self.next_sequence = 0
        self.unacked: deque[ProducerBatch] = deque()  # stamped, not finished; by sequence
        self.needs_reset = False


class Drained(NamedTuple):
    """One round of :meth:`RecordAccumulator.drain`.

    ``requests``: leader node id → the batches of one Produce request.  ``next_ready_ms``: when
    another batch may become sendable (None: nothing pending).  ``unknown_leaders``: partitions
    with sendable batches and no known leader (refresh metadata).
    """

    requests: dict[int, list[ProducerBatch]]
    next_ready_ms: int | None
    unknown_leaders: list[TopicPartition]


class RecordAccumulator:
    """Batches per partition, ready/drain, retries, idempotence.  See the module docstring.

    ``on_done`` is called once for every batch when it finishes (succeeded or failed).
    ``codec`` is a ``client.protocol.records.COMPRESSION_*`` value.
    """

    def __init__(
        self,
        *,
        batch_size: int,
        linger_ms: int,
        buffer_memory: int,
        codec: int,
        delivery_timeout_ms: int,
        retries: int,
        retry_backoff_ms: int,
        retry_backoff_max_ms: int,
        max_request_size: int,
        max_in_flight_per_partition: int,
        idempotence: bool,
        on_done: Callable[[ProducerBatch], None] = lambda batch: None,
        transactional: bool = False,
        partition_gate: Callable[[TopicPartition], bool] | None = None,
    ) -> None:
        """``transactional``: batches carry the transactional attribute; ``partition_gate``:
        a partition sends only while it says yes (a transactional producer's partitions wait
        until AddPartitionsToTxn added them)."""
        assert not idempotence or max_in_flight_per_partition <= 5, "KIP-679: at most 5"
        assert batch_size >= 0 and buffer_memory > 0 and max_in_flight_per_partition >= 1
        self.batch_size = batch_size
        self.linger_ms = linger_ms
        self.buffer_memory = buffer_memory
        self.codec = codec
        self.delivery_timeout_ms = delivery_timeout_ms
        self.retries = retries
        self.retry_backoff_ms = retry_backoff_ms
        self.retry_backoff_max_ms = max(retry_backoff_max_ms, retry_backoff_ms)
        self.max_request_size = max_request_size
        self.max_in_flight_per_partition = max_in_flight_per_partition
        self.idempotence = idempotence
        self.transactional = transactional
        self.partition_gate = partition_gate
        self.on_done = on_done
        self.buffered_bytes = 0
        self.exhausted = False  # someone waits for memory: send everything now
        self.flushing = 0
        self.closing = False
        self.bump_required = False
        self.new_id_required = False  # the broker fenced our epoch: a bump must take a new id
        self.incomplete: set[ProducerBatch] = set()
        self._stamp: tuple[int, int] | None = None
        self._by_topic: dict[str, dict[int, PartitionQueue]] = {}
        self._queues: list[PartitionQueue] = []
        self._drain_start = 0

    # -- appending ---------------------------------------------------------------------------

    def _queue(self, topic: str, partition: int) -> PartitionQueue:
        queues = self._by_topic.get(topic)
        if queues is None:
            queues = self._by_topic[topic] = {}
        queue = queues.get(partition)
        if queue is None:
            queue = queues[partition] = PartitionQueue(TopicPartition(topic, partition))
            self._queues.append(queue)
        return queue

    def memory_available(self, record_bytes: int) -> bool:
        """Whether ``buffer.memory`` takes ``record_bytes`` more now."""
        return self.buffered_bytes + record_bytes <= self.buffer_memory

    def append(  # noqa: PLR0917 -- the per-record hot path: positional calls are cheaper
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        timestamp_ms: int,
        now_ms: int,
        abort_on_new_batch: bool = False,
    ) -> tuple[ProducerBatch, int] | None:
        """Add a record; returns its batch and its index in the batch.

        With ``abort_on_new_batch`` nothing is added (None) when the record would need a new
        batch: KIP-480's cue to move unkeyed records to another partition first.  The producer
        checks sizes and memory before; otherwise a record is never refused.
        """
        queues = self._by_topic.get(topic)
        queue = queues.get(partition) if queues is not None else None
        if queue is None:
            queue = self._queue(topic, partition)
        batch = queue.open
        record = b""
        if batch is not None:
            offset_delta = batch.record_count
            timestamp_delta = timestamp_ms - batch.base_timestamp
            if (
                key is None
                and not headers
                and value is not None
                and 0 <= timestamp_delta < VARINT_TABLE_SIZE
                and offset_delta < VARINT_TABLE_SIZE
                and len(value) < _FAST_VALUE_LIMIT
            ):
                # encode_record's common case, inlined: this runs once per record.
                table = _VARINT
                timestamp = table[timestamp_delta]
                offset = table[offset_delta]
                length = table[len(value)]
                body_bytes = 3 + len(timestamp) + len(offset) + len(length) + len(value)
                record = b"".join(
                    (table[body_bytes], b"\x00", timestamp, offset, _NULL, length, value, b"\x00")
                )
            else:
                record = encode_record(offset_delta, timestamp_delta, key, value, headers)
            if len(batch.buffer) + len(record) > self.batch_size:
                batch.full = True
                queue.open = batch = None
        if batch is None:
            if abort_on_new_batch:
                return None
            batch = self._open_batch(queue, timestamp_ms, now_ms)
            record = encode_record(0, 0, key, value, headers)
        index = batch.record_count
        batch.buffer += record
        batch.record_count = index + 1
        if timestamp_ms > batch.max_timestamp:  # noqa: PLR1730 -- cheaper than max() here
            batch.max_timestamp = timestamp_ms
        self.buffered_bytes += len(record)
        if len(batch.buffer) >= self.batch_size:
            batch.full = True
            queue.open = None
        return batch, index

    def _open_batch(self, queue: PartitionQueue, timestamp_ms: int, now_ms: int) -> ProducerBatch:
        batch = ProducerBatch(queue.topic_partition, now_ms, now_ms + self.delivery_timeout_ms)
        batch.base_timestamp = batch.max_timestamp = timestamp_ms
        queue.batches.append(batch)
        queue.open = batch
        self.incomplete.add(batch)
        self.buffered_bytes += BATCH_HEADER_BYTES
        return batch

    # -- draining ----------------------------------------------------------------------------

    def set_producer(self, producer_id: int, producer_epoch: int) -> None:
        """The (id, epoch) from InitProducerId; partitions adopt it as described above."""
        assert self.idempotence and producer_id >= 0 and producer_epoch >= 0
        self._stamp = (producer_id, producer_epoch)
        self.bump_required = self.new_id_required = False

    @property
    def producer(self) -> tuple[int, int] | None:
        """The current (producer id, epoch), None before the first InitProducerId."""
        return self._stamp

    def drain(
        self,
        now_ms: int,
        leader_of: Callable[[TopicPartition], int | None],
        node_has_room: Callable[[int], bool],
    ) -> Drained:
        """Pop the sendable batches, sealed and stamped, grouped per leader (one request each).

        ``leader_of`` maps a partition to its leader's node id (None if unknown);
        ``node_has_room`` says whether a node takes another request now.
        """
        requests: dict[int, list[ProducerBatch]] = {}
        sizes: dict[int, int] = {}
        unknown: list[TopicPartition] = []
        next_ready: int | None = None
        queues = self._queues
        count = len(queues)
        start = self._drain_start % count if count else 0
        self._drain_start += 1
        for position in range(count):
            queue = queues[(start + position) % count]
            ready_at = self._ready_at(queue, now_ms)
            if ready_at is None:
                continue
            if ready_at > now_ms:
                next_ready = ready_at if next_ready is None else min(next_ready, ready_at)
                continue
            node = leader_of(queue.topic_partition)
            if node is None:
                unknown.append(queue.topic_partition)
                continue
            head = queue.batches[0]
            used = sizes.get(node, 0)
            if not node_has_room(node) or (used and used + head.size_bytes > self.max_request_size):
                continue
            self._pop_for_send(queue, head)
            requests.setdefault(node, []).append(head)
            sizes[node] = used + head.size_bytes
        return Drained(requests, next_ready, unknown)

    def _ready_at(self, queue: PartitionQueue, now_ms: int) -> int | None:
        """When the head batch may be sent (<= now: now), or None while it must wait for an
        event (a response, a new epoch)."""
        if not queue.batches:
            return None
        gate = self.partition_gate
        if gate is not None and not gate(queue.topic_partition):
            return None
        if self.idempotence and not self._adopt_stamp(queue):
            return None
        head = queue.batches[0]
        if head.attempts > 0:  # a retry: alone, in order
            return None if queue.in_flight else head.retry_at_ms
        if queue.in_flight >= self.max_in_flight_per_partition:
            return None
        if head.full or len(queue.batches) > 1 or self.flushing or self.closing or self.exhausted:
            return now_ms
        return head.created_ms + self.linger_ms

    def _adopt_stamp(self, queue: PartitionQueue) -> bool:
        """Whether the partition may send (switching it to the current epoch when it can)."""
        stamp = self._stamp
        if stamp is None:
            return False
        if queue.stamp == stamp:
            return not queue.needs_reset
        if queue.in_flight:
            return False  # old-epoch batches unresolved: wait for their answers
        if queue.unacked and not queue.needs_reset:
            # Old-epoch batches to retry (queued first): they keep their stamp; new batches
            # wait until they are acknowledged.
            assert queue.batches[0].attempts > 0
            return True
        self._restart_sequences(queue, stamp)
        return bool(queue.batches)

    def _restart_sequences(self, queue: PartitionQueue, stamp: tuple[int, int]) -> None:
        """Adopt ``stamp``: sequences from 0; unacknowledged batches are restamped in order,
        except those that may already be written (they fail, see the module docstring)."""
        queue.stamp = stamp
        queue.next_sequence = 0
        queue.needs_reset = False
        for batch in list(queue.unacked):
            batch.base_sequence = NO_SEQUENCE
            if batch.maybe_written:
                queue.batches.remove(batch)
                self._finish(batch, self._restamp_error(batch))
        queue.unacked.clear()

    @staticmethod
    def _restamp_error(batch: ProducerBatch) -> DeliveryError:
        cause = KafkaError(
            "an earlier batch of the partition failed and the producer epoch was bumped; this "
            "batch may already be written, so it is not resent under the new epoch"
        )
        topic, partition = batch.topic_partition
        return MaybeWrittenError(cause, topic, partition)

    def _pop_for_send(self, queue: PartitionQueue, batch: ProducerBatch) -> None:
        queue.batches.popleft()
        if queue.open is batch:
            queue.open = None
        if self.idempotence and batch.base_sequence == NO_SEQUENCE:
            assert queue.stamp is not None
            batch.producer_id, batch.producer_epoch = queue.stamp
            batch.base_sequence = queue.next_sequence
            queue.next_sequence = next_sequence(queue.next_sequence, batch.record_count)
            queue.unacked.append(batch)
            batch.seal(self.codec, self.transactional)
        elif not batch.sealed:
            batch.seal(self.codec, self.transactional)
        batch.in_flight = True
        batch.attempts += 1
        queue.in_flight += 1

    # -- outcomes ----------------------------------------------------------------------------

    def completed(
        self,
        batch: ProducerBatch,
        error_code: int,
        *,
        base_offset: int,
        log_append_time_ms: int,
        now_ms: int,
        error_message: str | None = None,
    ) -> KafkaError | None:
        """Apply a partition's answer in a Produce response; returns the error, if any (the
        producer refreshes metadata when its ``invalid_metadata`` says so)."""
        queue = self._landed(batch)
        if queue is None:
            return None
        if error_code in (ErrorCode.NONE, ErrorCode.DUPLICATE_SEQUENCE_NUMBER):
            if batch in queue.unacked:
                queue.unacked.remove(batch)
            batch.base_offset = base_offset if error_code == ErrorCode.NONE else NO_OFFSET
            batch.log_append_time_ms = log_append_time_ms
            self._finish(batch, None)
            return None
        error = error_for(error_code, error_message)
        if error_code in (ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.PRODUCER_FENCED):
            self.new_id_required = True
        if self.idempotence and error_code in (
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            ErrorCode.UNKNOWN_PRODUCER_ID,
        ):
            if queue.unacked and queue.unacked[0] is batch:
                # The broker has no state that leads to our oldest batch: new epoch (KIP-360).
                queue.needs_reset = True
                self.bump_required = True
            self._retry_or_fail(queue, batch, error, now_ms, force_retry=True)
            return error
        self._retry_or_fail(queue, batch, error, now_ms)
        return error

    def failed(
        self, batches: Sequence[ProducerBatch], error: KafkaError, now_ms: int, *, sent: bool
    ) -> None:
        """A whole request failed (connect error, timeout, disconnect).  ``sent``: the request
        may have reached the broker, so its batches may be written (ambiguous)."""
        for batch in batches:
            queue = self._landed(batch)
            if queue is None:
                continue
            batch.maybe_written = batch.maybe_written or sent
            self._retry_or_fail(queue, batch, error, now_ms)

    def acknowledged_without_answer(self, batches: Sequence[ProducerBatch]) -> None:
        """acks=0: the request was written and no answer will come (offsets unknown)."""
        for batch in batches:
            if self._landed(batch) is not None:
                self._finish(batch, None)

    def _landed(self, batch: ProducerBatch) -> PartitionQueue | None:
        """The batch's queue, the batch no longer in flight; None if it was aborted meanwhile."""
        if batch.done:
            return None
        assert batch.in_flight
        topic, partition = batch.topic_partition
        queue = self._by_topic[topic][partition]
        batch.in_flight = False
        queue.in_flight -= 1
        assert queue.in_flight >= 0
        return queue

    def _retry_or_fail(
        self,
        queue: PartitionQueue,
        batch: ProducerBatch,
        error: KafkaError,
        now_ms: int,
        *,
        force_retry: bool = False,
    ) -> None:
        retriable = error.retriable or force_retry
        if retriable and batch.attempts <= self.retries and now_ms < batch.deadline_ms:
            backoff = min(
                self.retry_backoff_ms * 2 ** min(batch.attempts - 1, 30), self.retry_backoff_max_ms
            )
            batch.retry_at_ms = now_ms + backoff
            self._requeue(queue, batch)
            return
        if batch in queue.unacked:
            queue.unacked.remove(batch)
            queue.needs_reset = True  # its sequences leave a gap
            self.bump_required = True
        self._finish(batch, _delivery_error(batch, error))

    @staticmethod
    def _requeue(queue: PartitionQueue, batch: ProducerBatch) -> None:
        """Back at the head, before every batch with a later sequence or none yet."""
        position = 0
        for other in queue.batches:
            if other.attempts == 0 or (
                batch.base_sequence != NO_SEQUENCE and other.base_sequence > batch.base_sequence
            ):
                break
            position += 1
        queue.batches.insert(position, batch)

    def _finish(self, batch: ProducerBatch, error: DeliveryError | None) -> None:
        assert not batch.done
        batch.done = True
        batch.error = error
        self.incomplete.discard(batch)
        self.buffered_bytes -= batch.reserved_bytes if batch.sealed else len(batch.buffer)
        assert self.buffered_bytes >= 0
        self.on_done(batch)

    # -- deadlines and shutdown --------------------------------------------------------------

    def expire(self, now_ms: int) -> None:
        """Fail queued batches whose ``delivery.timeout.ms`` has passed (in-flight ones fail
        when their request ends)."""
        for queue in self._queues:
            while queue.batches and queue.batches[0].deadline_ms <= now_ms:
                batch = queue.batches.popleft()
                if queue.open is batch:
                    queue.open = None
                cause = KafkaError(
                    f"delivery.timeout.ms={self.delivery_timeout_ms} passed after "
                    f"{batch.attempts} attempt(s)"
                )
                if batch in queue.unacked:
                    queue.unacked.remove(batch)
                    queue.needs_reset = True
                    self.bump_required = True
                self._finish(batch, _delivery_error(batch, cause))

    def next_deadline_ms(self) -> int | None:
        """The earliest delivery deadline of a queued batch."""
        deadlines = [queue.batches[0].deadline_ms for queue in self._queues if queue.batches]
        return min(deadlines) if deadlines else None

    def abort(self, cause: KafkaError) -> None:
        """Fail every unfinished batch (closing without waiting): ambiguous if it was sent."""
        for queue in self._queues:
            queue.batches.clear()
            queue.open = None
            queue.unacked.clear()
            queue.in_flight = 0
        for batch in list(self.incomplete):
            batch.maybe_written = batch.maybe_written or batch.in_flight
            batch.in_flight = False
            self._finish(batch, _delivery_error(batch, cause))

    def __repr__(self) -> str:
        return (
            f"<RecordAccumulator {len(self._queues)} partitions, {len(self.incomplete)} batches, "
            f"{self.buffered_bytes} bytes>"
        )


def _delivery_error(batch: ProducerBatch, cause: KafkaError) -> DeliveryError:
    """Maybe-written if any attempt ended without an answer, else as ``cause`` says (a broker
    answer is ambiguous only for the codes ``client.errors`` lists)."""
    topic, partition = batch.topic_partition
    if batch.maybe_written:
        return MaybeWrittenError(cause, topic, partition)
    return delivery_error(cause, topic, partition, request_sent=cause.error_code is not None)
