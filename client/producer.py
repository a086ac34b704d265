"""The async producer: the IO around :mod:`client.accumulator` (anyio).

::

    async with Producer(bootstrap_servers="localhost:9092", linger_ms=10) as producer:
        future = await producer.send("events", b"value", key=b"user-1")   # enqueued
        metadata = await future                                           # delivered
        await producer.send_and_wait("events", b"another")
        await producer.flush()

``await producer.send(...)`` returns as soon as the record is in its batch (it waits only for
topic metadata or, when ``buffer.memory`` is full, for space: back-pressure, both bounded by
``max.block.ms``) and gives a :class:`RecordFuture`; awaiting that gives the
:class:`~client.accumulator.RecordMetadata` (topic, partition, offset, timestamp) once the
batch's answer came back, or raises a :class:`~client.errors.DeliveryError`:
:class:`~client.errors.MaybeWrittenError` when an attempt ended without an answer (timeout,
disconnect), :class:`~client.errors.DefinitelyFailedError` otherwise.  Errors found before a
record is enqueued (unknown topic after ``max.block.ms``, a record above ``max.request.size``,
a closed producer) are raised by ``send`` itself, as ``DefinitelyFailedError``.

Tasks: a sender (drains sendable batches per leader, one task per Produce request, at most
``max.in.flight.requests.per.connection`` per broker) and a metadata refresher (on demand, after
invalid-metadata errors and unknown leaders, and every ``metadata.max.age.ms``).  ``acks=0``
requests get no answer: their records complete with offset -1 once written.

Idempotence: InitProducerId once at start, to the least loaded broker.  When the accumulator
asks for a new epoch (KIP-360: an unresolvable sequence error, or a sequenced batch that failed
for good) the producer does what the Java client does for a producer without a
``transactional.id``: it bumps the epoch itself (same id, epoch + 1, sequences from 0, which a
broker accepts), because a broker answers a non-transactional InitProducerId with a fresh id
whatever id and epoch it carries.  Only when the epoch is exhausted (32767) or the broker said
INVALID_PRODUCER_EPOCH / PRODUCER_FENCED does it ask InitProducerId for a new id.

Transactions (KIP-98), with ``transactional.id``: ``await producer.init_transactions()`` once
(InitProducerId at the transaction coordinator: it fences any earlier producer of the id),
then per transaction ``begin_transaction()``, ``send(...)`` (each new partition is added with
AddPartitionsToTxn before its first batch goes), optionally ``send_offsets_to_transaction``
(AddOffsetsToTxn, then TxnOffsetCommit at the group coordinator), and
``commit_transaction()`` (flush, then EndTxn) or ``abort_transaction()``.  A failed record
makes the transaction abortable only; PRODUCER_FENCED and the like are fatal
(:mod:`client.transactions`).

Closing (``async with`` exit or :meth:`Producer.close`) sends everything still buffered and
waits for the answers (each batch is bounded by ``delivery.timeout.ms``); leaving the block by
an exception instead fails what is still pending with :class:`~client.errors.KafkaClosedError`
as the cause, so no record is dropped silently.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import anyio
import anyio.abc
import anyio.lowlevel
from construct import Container

from client.accumulator import (
    RECORD_OVERHEAD_MAX_BYTES,
    Headers,
    ProducerBatch,
    RecordAccumulator,
    RecordMetadata,
    estimate_record_bytes,
)
from client.cluster import Cluster
from client.config import ProducerConfig
from client.connection import Connection
from client.errors import (
    DefinitelyFailedError,
    KafkaClosedError,
    KafkaError,
    KafkaProtocolError,
    KafkaTimeoutError,
    error_for,
)
from client.metadata import TopicPartition
from client.partitioner import StickyPartitioner
from client.producer_common import TopicInfo, metadata_wait_failed, place_record, too_large
from client.protocol.records import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
)
from client.transactions import (
    FIND_COORDINATOR,
    CoordinatorCall,
    TransactionManager,
    coordinator_node,
    first_error,
)

PRODUCE = 0
INIT_PRODUCER_ID = 22
MAX_PRODUCER_EPOCH = 2**15 - 1
# Java's transaction.timeout.ms default; InitProducerId requires a value even without
# transactions.
TRANSACTION_TIMEOUT_MS = 60000
# Room a lone record leaves in a request for the batch header and the request's own fields.
REQUEST_OVERHEAD_BYTES = 200
CODECS = {
    "none": COMPRESSION_NONE,
    "gzip": COMPRESSION_GZIP,
    "snappy": COMPRESSION_SNAPPY,
    "lz4": COMPRESSION_LZ4,
    "zstd": COMPRESSION_ZSTD,
}

__all__ = ["Producer", "ProducerStats", "RecordFuture", "RecordMetadata"]


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class RecordFuture:
    """The outcome of one :meth:`Producer.send`: ``await`` it for the RecordMetadata."""

    __slots__ = ("_batch", "_index", "_timestamp_ms")

    def __init__(self, batch: ProducerBatch, index: int, timestamp_ms: int) -> None:
        self._batch = batch
        self._index = index
        self._timestamp_ms = timestamp_ms

    def done(self) -> bool:
        """Whether the record's batch has been answered (or failed)."""
        return self._batch.done

    def result(self) -> RecordMetadata:
        """The metadata of a done record; its DeliveryError if it failed.

        Raises :class:`~client.errors.KafkaError` if called before :meth:`done`.
        """
        if not self._batch.done:
            raise KafkaError("the record is not delivered yet: await the future")
        return self._batch.metadata(self._index, self._timestamp_ms)

    async def wait(self) -> RecordMetadata:
        """Wait for the record's batch; the metadata, or its DeliveryError."""
        await _wait_batch(self._batch)
        return self._batch.metadata(self._index, self._timestamp_ms)

    def __await__(self) -> Generator[Any, None, RecordMetadata]:
        return self.wait().__await__()

    def __repr__(self) -> str:
        state = "done" if self._batch.done else "pending"
        return f"<RecordFuture {self._batch.topic_partition} #{self._index} {state}>"


async def _wait_batch(batch: ProducerBatch) -> None:
    if batch.done:
        return
    if batch.waiter is None:
        batch.waiter = anyio.Event()
    await batch.waiter.wait()


class ProducerStats(NamedTuple):
    """Counters since start: Produce requests written, batches in them (retries included),
    batches resent, InitProducerId calls."""

    produce_requests: int
    batches_sent: int
    retries: int
    init_producer_id_calls: int


class Producer:
    """An async Kafka producer.  See the module docstring.

    ``Producer(settings, **kwargs)`` parses a :class:`~client.config.ProducerConfig` (Kafka
    keys or Python keywords; an unknown key raises
    :class:`~client.errors.IllegalConfigError`).  Use ``async with``: start and close must run
    in the same task.
    """

    def __init__(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = config = ProducerConfig.from_settings(settings, **kwargs)
        self._cluster = Cluster(config)
        self._txn = (
            None
            if config.transactional_id is None
            else TransactionManager(config.transactional_id, config.transaction_timeout_ms)
        )
        self._accumulator = RecordAccumulator(
            batch_size=config.batch_size,
            linger_ms=config.linger_ms,
            buffer_memory=config.buffer_memory,
            codec=CODECS[config.compression_type],
            delivery_timeout_ms=config.delivery_timeout_ms,
            retries=config.retries,
            retry_backoff_ms=config.retry_backoff_ms,
            retry_backoff_max_ms=config.retry_backoff_max_ms,
            max_request_size=config.max_request_size,
            max_in_flight_per_partition=config.max_in_flight_requests_per_connection,
            idempotence=config.enable_idempotence,
            on_done=self._on_batch_done,
            transactional=self._txn is not None,
            partition_gate=None if self._txn is None else self._txn.may_send,
        )
        self._txn_wakeup = anyio.Event()
        self._sticky = StickyPartitioner()
        self._serializing = config.key_serializer is not None or config.value_serializer is not None
        self._max_record_bytes = (
            min(config.buffer_memory, config.max_request_size) - REQUEST_OVERHEAD_BYTES
        )
        self._topics: dict[str, TopicInfo] = {}
        self._in_flight: dict[int, int] = {}
        self._wakeup = anyio.Event()
        self._metadata_wanted = anyio.Event()
        self._memory_freed = anyio.Event()
        self._memory_waiters = 0
        self._bumping = False
        self._stack: contextlib.AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._open = False  # started and not closed: send() accepts records
        self._closed = False
        self._requests = self._batches_sent = self._retries = self._init_calls = 0

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Bootstrap, get a producer id (idempotence) and start the sender."""
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self._cluster)
            if self.config.enable_idempotence and self._txn is None:
                await self._init_producer_id()
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._open = True
        self._task_group.start_soon(self._run_sender)
        self._task_group.start_soon(self._run_metadata)
        if self._txn is not None:
            self._task_group.start_soon(self._run_partition_adds)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close: deliver what is buffered, or (leaving by an exception) fail it at once."""
        await self.close(timeout_ms=None if exc is None else 0)

    async def close(self, timeout_ms: int | None = None) -> None:
        """Send what is buffered and wait for it (at most ``timeout_ms``; None: until every
        batch finished, which ``delivery.timeout.ms`` bounds), fail the rest with
        KafkaClosedError as the cause, stop the tasks and close the connections.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._open = False
        accumulator = self._accumulator
        with anyio.CancelScope(shield=True):
            if timeout_ms != 0:
                accumulator.closing = True  # everything is sendable now
                self._wake()
                with anyio.move_on_after(None if timeout_ms is None else timeout_ms / 1000):
                    while accumulator.incomplete:
                        await _wait_batch(next(iter(accumulator.incomplete)))
            accumulator.abort(KafkaClosedError("the producer was closed before delivery"))
        # The task groups were entered outside the shield: exit them outside it too.
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()
        if self._stack is not None:
            await self._stack.aclose()

    # -- sending -----------------------------------------------------------------------------

    async def send(
        self,
        topic: str,
        value: Any = None,
        *,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordFuture:
        """Enqueue one record; returns once it is in a batch.  ``await`` the result to wait
        for delivery.

        ``key``/``value`` are bytes (or anything ``key.serializer``/``value.serializer``
        turn into bytes); ``headers`` a sequence of (str, bytes | None); ``partition`` skips
        the partitioner; ``timestamp_ms`` defaults to now (CreateTime).  Raises
        :class:`~client.errors.DefinitelyFailedError` if the record cannot be enqueued.
        """
        if not self._open:
            raise DefinitelyFailedError(self._not_open(), topic, -1)
        txn = self._txn
        if txn is not None:
            try:
                txn.check_send()
            except KafkaError as error:
                raise DefinitelyFailedError(error, topic, -1) from error
        if self._serializing:
            key, value = self._serialize(key, value)
        info = self._topics.get(topic)
        if info is None or info.metadata is not self._cluster.metadata:
            info = await self._topic_info(topic)
        if key is None and not headers:
            size = RECORD_OVERHEAD_MAX_BYTES + (len(value) if value else 0)
        else:
            size = estimate_record_bytes(key, value, headers)
        if size > self._max_record_bytes:
            raise self._too_large(topic, partition, size)
        accumulator = self._accumulator
        if accumulator.buffered_bytes + size > accumulator.buffer_memory:
            await self._wait_for_memory(topic, partition, size)
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        batch, index = self._append(topic, partition, key, value, headers, timestamp_ms, info)
        if txn is not None and txn.note_partition(batch.topic_partition):
            self._txn_wakeup.set()
        if batch.full:
            self._wake()
            await anyio.lowlevel.checkpoint()  # let the sender run while the caller loops
        elif index == 0:
            self._wake()  # a new batch: the sender sets its linger deadline
        return RecordFuture(batch, index, timestamp_ms)

    def _append(  # noqa: PLR0917 -- per record
        self,
        topic: str,
        partition: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        timestamp_ms: int,
        info: TopicInfo,
    ) -> tuple[ProducerBatch, int]:
        return place_record(
            self._accumulator,
            self._sticky,
            self.config,
            topic,
            partition,
            key,
            value,
            headers,
            timestamp_ms,
            info,
            _now_ms(),
        )

    def _not_open(self) -> KafkaClosedError:
        if self._closed:
            return KafkaClosedError("the producer is closed")
        return KafkaClosedError("the producer is not started: use `async with Producer(...)`")

    def _serialize(self, key: Any, value: Any) -> tuple[bytes | None, bytes | None]:
        config = self.config
        if config.key_serializer is not None:
            key = config.key_serializer(key)
        if config.value_serializer is not None:
            value = config.value_serializer(value)
        return key, value

    def _too_large(self, topic: str, partition: int | None, size: int) -> DefinitelyFailedError:
        return too_large(self.config, topic, partition, size)

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        *,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordMetadata:
        """:meth:`send`, then wait for delivery."""
        future = await self.send(
            topic, value, key=key, headers=headers, partition=partition, timestamp_ms=timestamp_ms
        )
        return await future

    async def flush(self, timeout_ms: int | None = None) -> None:
        """Send every buffered record now and wait until each one sent before this call is
        answered.  Raises KafkaTimeoutError after ``timeout_ms``; delivery errors stay with
        the records' futures."""
        accumulator = self._accumulator
        pending = list(accumulator.incomplete)
        accumulator.flushing += 1
        self._wake()
        try:
            with anyio.fail_after(None if timeout_ms is None else timeout_ms / 1000):
                for batch in pending:
                    await _wait_batch(batch)
        except TimeoutError:
            raise KafkaTimeoutError(f"flush did not complete within {timeout_ms} ms") from None
        finally:
            accumulator.flushing -= 1

    async def partitions_for(self, topic: str) -> list[int]:
        """The topic's partition ids (waits for metadata up to ``max.block.ms``)."""
        return list((await self._topic_info(topic)).all_partitions)

    def stats(self) -> ProducerStats:
        """Counters since start."""
        return ProducerStats(self._requests, self._batches_sent, self._retries, self._init_calls)

    async def _topic_info(self, topic: str) -> TopicInfo:
        """The topic's partitions, waiting up to ``max.block.ms`` for it to appear."""
        cluster = self._cluster
        timeout_ms = self.config.max_block_ms
        try:
            described = await cluster.retrying(lambda: cluster.topic(topic), timeout_ms=timeout_ms)
        except KafkaError as error:
            raise metadata_wait_failed(topic, timeout_ms, error) from error
        info = TopicInfo.of(cluster.metadata, described)
        self._topics[topic] = info
        return info

    async def _wait_for_memory(self, topic: str, partition: int | None, size: int) -> None:
        """Back-pressure: wait until ``buffer.memory`` takes ``size`` bytes (max.block.ms)."""
        accumulator = self._accumulator
        config = self.config
        self._memory_waiters += 1
        accumulator.exhausted = True
        self._wake()
        try:
            with anyio.fail_after(config.max_block_ms / 1000):
                while not accumulator.memory_available(size):
                    await self._memory_freed.wait()
        except TimeoutError:
            timeout = KafkaTimeoutError(
                f"buffer.memory={config.buffer_memory} still full after {config.max_block_ms} "
                "ms (max.block.ms)"
            )
            raise DefinitelyFailedError(
                timeout, topic, -1 if partition is None else partition
            ) from None
        finally:
            self._memory_waiters -= 1
            accumulator.exhausted = self._memory_waiters > 0

    def _on_batch_done(self, batch: ProducerBatch) -> None:
        if batch.waiter is not None:
            batch.waiter.set()
        if self._memory_waiters:
            self._memory_freed.set()
            self._memory_freed = anyio.Event()

    def _wake(self) -> None:
        if not self._wakeup.is_set():
            self._wakeup.set()

    # -- the sender --------------------------------------------------------------------------

    async def _run_sender(self) -> None:
        accumulator = self._accumulator
        task_group = self._task_group
        assert task_group is not None
        while True:
            self._wakeup = anyio.Event()
            now_ms = _now_ms()
            accumulator.expire(now_ms)
            if accumulator.bump_required and not self._bumping:
                self._bumping = True
                task_group.start_soon(self._bump_epoch)
            while True:
                drained = accumulator.drain(now_ms, self._leader_of, self._node_has_room)
                for node, batches in drained.requests.items():
                    self._in_flight[node] = self._in_flight.get(node, 0) + 1
                    task_group.start_soon(self._send_produce, node, batches)
                if not drained.requests:
                    break
            if drained.unknown_leaders:
                self._metadata_wanted.set()
            deadlines = [
                deadline
                for deadline in (drained.next_ready_ms, accumulator.next_deadline_ms())
                if deadline is not None
            ]
            wait_s = max(min(deadlines) - now_ms, 1) / 1000 if deadlines else None
            with anyio.move_on_after(wait_s):
                await self._wakeup.wait()

    def _leader_of(self, topic_partition: TopicPartition) -> int | None:
        leader = self._cluster.metadata.leader_for(*topic_partition)
        return None if leader is None else leader.node_id

    def _node_has_room(self, node: int) -> bool:
        limit = self.config.max_in_flight_requests_per_connection
        return self._in_flight.get(node, 0) < limit

    async def _send_produce(self, node: int, batches: list[ProducerBatch]) -> None:
        """One Produce request; its answers (or its failure) go to the accumulator."""
        accumulator = self._accumulator
        self._requests += 1
        self._batches_sent += len(batches)
        self._retries += sum(1 for batch in batches if batch.attempts > 1)
        sent = False
        try:
            connection = await self._cluster.connection_to(node)
            version = connection.pick_version(PRODUCE)
            sent = True
            response = await self._produce(connection, version, batches)
        except KafkaError as error:
            accumulator.failed(batches, error, _now_ms(), sent=sent)
            self._cluster.invalidate(error)
            if error.invalid_metadata:
                self._metadata_wanted.set()
        else:
            if response is None:
                accumulator.acknowledged_without_answer(batches)
            else:
                self._apply(response, batches)
        finally:
            self._in_flight[node] -= 1
            self._wake()

    async def _produce(
        self, connection: Connection, version: int, batches: list[ProducerBatch]
    ) -> Container | None:
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for batch in batches:
            topic, partition = batch.topic_partition
            by_topic.setdefault(topic, []).append({"index": partition, "records": batch.buffer})
        acks = self.config.acks
        body = {
            "transactional_id": None,
            "acks": acks,
            "timeout_ms": self.config.request_timeout_ms,
            "topic_data": [
                {"name": topic, "partition_data": data} for topic, data in by_topic.items()
            ],
        }
        if acks == 0:
            await connection.send(PRODUCE, body, version=version, expect_response=False)
            return None
        return await connection.send(PRODUCE, body, version=version)

    def _apply(self, response: Container, batches: list[ProducerBatch]) -> None:
        accumulator = self._accumulator
        pending = {batch.topic_partition: batch for batch in batches}
        now_ms = _now_ms()
        refresh = False
        for topic in response.responses:
            for answer in topic.partition_responses:
                batch = pending.pop(TopicPartition(topic.name, answer.index), None)
                if batch is None:
                    continue  # an answer for a partition we did not send: ignore it
                error = accumulator.completed(
                    batch,
                    answer.error_code,
                    base_offset=answer.base_offset,
                    log_append_time_ms=answer.get("log_append_time_ms", -1),
                    now_ms=now_ms,
                    error_message=answer.get("error_message"),
                )
                if error is not None and error.invalid_metadata:
                    self._cluster.invalidate(error)
                    refresh = True
        if pending:
            missing = KafkaProtocolError(
                "Produce response without an answer for " + ", ".join(map(str, pending))
            )
            accumulator.failed(list(pending.values()), missing, now_ms, sent=True)
        if refresh:
            self._metadata_wanted.set()

    # -- metadata and producer ids -----------------------------------------------------------

    async def _run_metadata(self) -> None:
        max_age_s = self.config.metadata_max_age_ms / 1000
        while True:
            with anyio.move_on_after(max_age_s):
                await self._metadata_wanted.wait()
            self._metadata_wanted = anyio.Event()
            # A failed refresh is retried on the next request for one (spaced by
            # retry.backoff.ms inside the cluster); batches meanwhile wait or expire.
            with contextlib.suppress(KafkaError):
                await self._cluster.refresh_metadata()
            self._wake()

    async def _init_producer_id(self) -> None:
        """A new producer id (InitProducerId, retrying retriable errors up to ``max.block.ms``)."""

        async def attempt() -> tuple[int, int]:
            connection = await self._cluster.any_connection()
            version = connection.pick_version(INIT_PRODUCER_ID)
            body = {
                "transactional_id": None,
                "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS,
                "producer_id": -1,
                "producer_epoch": -1,
            }
            self._init_calls += 1
            response = await connection.send(INIT_PRODUCER_ID, body, version=version)
            if response.error_code:
                raise error_for(response.error_code, f"InitProducerId from {connection.address}")
            return int(response.producer_id), int(response.producer_epoch)

        timeout_ms = self.config.max_block_ms
        producer_id, epoch = await self._cluster.retrying(attempt, timeout_ms=timeout_ms)
        self._accumulator.set_producer(producer_id, epoch)

    async def _bump_epoch(self) -> None:
        """The accumulator asked for a new epoch: bump locally, or get a new id (see above)."""
        accumulator = self._accumulator
        try:
            while accumulator.bump_required:
                current = accumulator.producer
                assert current is not None
                if current[1] < MAX_PRODUCER_EPOCH and not accumulator.new_id_required:
                    accumulator.set_producer(current[0], current[1] + 1)
                    break
                try:
                    await self._init_producer_id()
                except KafkaError:
                    await anyio.sleep(self._cluster.retry_backoff_ms(1) / 1000)
        finally:
            self._bumping = False
            self._wake()

    # -- transactions (KIP-98) ----------------------------------------------------------------

    def _transaction(self) -> TransactionManager:
        if self._txn is None:
            raise KafkaError("this producer has no transactional.id")
        if not self._open:
            raise self._not_open()
        return self._txn

    async def _coordinator_request(self, call: CoordinatorCall) -> Container:
        """One request to the coordinator of the call's key (found anew each attempt),
        retried on retriable errors (CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, loading...)
        until ``max.block.ms``; the answer's top-level or first partition error is raised."""
        cluster = self._cluster

        async def attempt() -> Container:
            connection = await cluster.any_connection()
            found = await connection.send(
                FIND_COORDINATOR,
                call.find_coordinator_body(),
                version=connection.pick_version(FIND_COORDINATOR),
            )
            node = coordinator_node(found, call.key)
            coordinator = await cluster.connection_to(node)
            version = coordinator.pick_version(call.api_key)
            response = await coordinator.send(call.api_key, call.body, version=version)
            code = first_error(response)
            if code:
                raise error_for(code, f"API {call.api_key} at coordinator {node}")
            return response

        return await cluster.retrying(attempt, timeout_ms=self.config.max_block_ms)

    async def init_transactions(self) -> None:
        """Get the transactional id's producer id and epoch (fencing any earlier producer of
        it, whose open transaction the coordinator aborts).  Once, before the first
        transaction."""
        txn = self._transaction()
        self._init_calls += 1
        response = await self._coordinator_request(txn.init_call())
        self._accumulator.set_producer(int(response.producer_id), int(response.producer_epoch))
        txn.initialized()

    def begin_transaction(self) -> None:
        """Start a transaction: records sent from now on commit or abort together."""
        self._transaction().begin()

    async def send_offsets_to_transaction(
        self,
        offsets: Mapping[TopicPartition, int],
        group_id: str,
        *,
        generation_id: int = -1,
        member_id: str = "",
        group_instance_id: str | None = None,
    ) -> None:
        """Commit a consumer group's ``offsets`` (the next offsets to read) with the
        transaction: AddOffsetsToTxn, then TxnOffsetCommit at the group coordinator."""
        txn = self._transaction()
        txn.check_offsets()
        producer = self._accumulator.producer
        assert producer is not None
        try:
            await self._coordinator_request(txn.add_offsets_call(producer, group_id))
            txn.offsets_added = True
            await self._coordinator_request(
                txn.offset_commit_call(
                    producer,
                    offsets,
                    group_id,
                    generation_id=generation_id,
                    member_id=member_id,
                    group_instance_id=group_instance_id,
                )
            )
        except KafkaError as error:
            txn.fail(error)
            raise

    async def commit_transaction(self) -> None:
        """Deliver every record of the transaction, then commit it.  A record that failed
        raises its error (abort then); a fenced producer raises and can only be closed."""
        await self._end_transaction(commit=True)

    async def abort_transaction(self) -> None:
        """Abort the transaction: its records are never read by read_committed consumers."""
        await self._end_transaction(commit=False)

    async def _end_transaction(self, *, commit: bool) -> None:
        txn = self._transaction()
        txn.start_end(commit)
        self._txn_wakeup.set()
        pending = list(self._accumulator.incomplete)
        await self.flush()
        if not txn.delivered(pending, commit):
            return
        producer = self._accumulator.producer
        assert producer is not None
        try:
            await self._coordinator_request(txn.end_call(producer, commit))
        except KafkaError as error:
            txn.fail(error)
            raise
        txn.ended()

    async def _run_partition_adds(self) -> None:
        """AddPartitionsToTxn for the partitions a transaction's records reached, before
        their first batch goes (the accumulator's gate holds them)."""
        txn = self._txn
        assert txn is not None
        while True:
            await self._txn_wakeup.wait()
            self._txn_wakeup = anyio.Event()
            wanted = txn.take_pending()
            producer = self._accumulator.producer
            if not wanted or producer is None:
                continue
            try:
                await self._coordinator_request(txn.add_partitions_call(producer, wanted))
            except KafkaError as error:
                txn.fail(error)
                self._accumulator.abort(error)  # the waiting records cannot be sent
                continue
            txn.added(wanted)
            self._wake()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Producer {self.config.client_id!r} {state} {self._accumulator!r}>"
