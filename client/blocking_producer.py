"""The blocking producer: the I/O around :mod:`client.accumulator` with plain sockets.

::

    with Producer(bootstrap_servers="127.0.0.1:9092", acks="all") as producer:
        future = producer.send("events", b"value", key=b"user-1")   # enqueued
        metadata = future.get(timeout_ms=10_000)                     # delivered
        producer.send("events", b"another")
        producer.flush()

No thread, no event loop: the calling thread (or greenlet) drives the I/O.  ``send()`` appends
the record to its batch (waiting only for topic metadata, or for ``buffer.memory`` to free up --
back-pressure -- both bounded by ``max.block.ms``) and then, without waiting, sends whatever
batches are ready and reads answers that have already arrived.  Records still lingering
(``linger.ms``), and answers still on the way, are handled by the calls that wait:
:meth:`FutureRecordMetadata.get`, :meth:`Producer.flush`, :meth:`Producer.close` and
:meth:`Producer.poll` (call ``poll(0)`` now and then if you only ``send``, as with
confluent-kafka; a record is never dropped, but without one of these calls a lingering batch
waits for the next ``send``).  While waiting, the deadlines of the accumulator (``linger.ms``,
retry backoffs, ``delivery.timeout.ms``) become socket timeouts: a select over every broker
with requests in flight, so Produce requests to several leaders are pipelined
(``max.in.flight.requests.per.connection`` per broker).

Every rule -- batching, ordering of retries, idempotent sequences and KIP-360 epoch bumps,
delivery timeouts, which failures are ambiguous -- is the accumulator's; errors are those of the
async :class:`client.producer.Producer`: a future's :meth:`~FutureRecordMetadata.get` raises a
:class:`~client.errors.DeliveryError` (:class:`~client.errors.MaybeWrittenError` or
:class:`~client.errors.DefinitelyFailedError`), ``send`` raises ``DefinitelyFailedError`` for a
record it cannot enqueue.

Transactions (``transactional.id``) as the async producer: ``init_transactions()`` once, then
``begin_transaction()``, ``send(...)``, optionally ``send_offsets_to_transaction(...)``, and
``commit_transaction()`` or ``abort_transaction()``; a partition's first record of a
transaction is added with AddPartitionsToTxn (a blocking round trip) before its batch goes.

Under gevent's monkey-patching (Locust) every wait yields to other greenlets.  One producer
may be shared by threads or greenlets (each call holds the producer's lock, so they take
turns); give each Locust user its own for concurrency.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Self

from construct import Container

from client.accumulator import (
    Headers,
    ProducerBatch,
    RecordAccumulator,
    RecordMetadata,
    estimate_record_bytes,
)
from client.blocking_cluster import BlockingCluster
from client.blocking_connection import PendingRequest
from client.config import ProducerConfig
from client.errors import (
    DefinitelyFailedError,
    DeliveryError,
    KafkaClosedError,
    KafkaError,
    KafkaProtocolError,
    KafkaTimeoutError,
    error_for,
)
from client.metadata import TopicPartition
from client.partitioner import StickyPartitioner
from client.producer import (
    CODECS,
    INIT_PRODUCER_ID,
    MAX_PRODUCER_EPOCH,
    PRODUCE,
    REQUEST_OVERHEAD_BYTES,
    TRANSACTION_TIMEOUT_MS,
    ProducerStats,
)
from client.producer_common import TopicInfo, metadata_wait_failed, place_record, too_large
from client.transactions import (
    FIND_COORDINATOR,
    CoordinatorCall,
    TransactionManager,
    coordinator_node,
    first_error,
)

__all__ = ["FutureRecordMetadata", "Producer", "ProducerStats", "RecordMetadata"]

logger = logging.getLogger(__name__)

# The longest one wait lasts before the loop looks at its deadlines again.
POLL_SLICE_MS = 1000


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class FutureRecordMetadata:
    """The outcome of one :meth:`Producer.send` (kafka-python's name): :meth:`get` waits for
    it, driving the producer's I/O meanwhile."""

    __slots__ = ("_batch", "_index", "_producer", "_timestamp_ms")

    def __init__(
        self, producer: Producer, batch: ProducerBatch, index: int, timestamp_ms: int
    ) -> None:
        self._producer = producer
        self._batch = batch
        self._index = index
        self._timestamp_ms = timestamp_ms

    def done(self) -> bool:
        """Whether the record's batch has been answered (or failed)."""
        return self._batch.done

    def get(self, timeout_ms: float | None = None) -> RecordMetadata:
        """Wait for delivery: the RecordMetadata, or the record's DeliveryError.

        ``timeout_ms`` (None: until the batch finishes, which ``delivery.timeout.ms``
        bounds) raises :class:`~client.errors.KafkaTimeoutError` when it passes first; the
        record stays queued.
        """
        if not self._batch.done and not self._producer._wait_batches([self._batch], timeout_ms):
            raise KafkaTimeoutError(f"record not delivered within {timeout_ms} ms")
        return self._batch.metadata(self._index, self._timestamp_ms)

    def exception(self) -> DeliveryError | None:
        """The DeliveryError of a done record, None if it succeeded (or is not done yet)."""
        return self._batch.error if self._batch.done else None

    def add_done_callback(self, callback: Callable[[FutureRecordMetadata], None]) -> None:
        """Call ``callback(future)`` once the record is done (at once if it is).

        Callbacks run in whichever call drives the producer (send, poll, flush, get, close);
        they must not block.  An exception from one is logged, not raised.
        """
        if self._batch.done:
            callback(self)
            return
        if self._batch.waiter is None:
            self._batch.waiter = []
        self._batch.waiter.append(partial(callback, self))

    def __repr__(self) -> str:
        state = "done" if self._batch.done else "pending"
        return f"<FutureRecordMetadata {self._batch.topic_partition} #{self._index} {state}>"


class Producer:
    """A blocking Kafka producer.  See the module docstring.

    ``Producer(settings, **kwargs)`` parses a :class:`~client.config.ProducerConfig`, then
    bootstraps and (with ``enable.idempotence``) gets a producer id, raising
    :class:`~client.errors.KafkaConnectionError` if no bootstrap server answers.  Use it as a
    context manager, or call :meth:`close`.
    """

    def __init__(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = config = ProducerConfig.from_settings(settings, **kwargs)
        self._cluster = BlockingCluster(config)
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
        self._sticky = StickyPartitioner()
        self._max_record_bytes = (
            min(config.buffer_memory, config.max_request_size) - REQUEST_OVERHEAD_BYTES
        )
        self._topics: dict[str, TopicInfo] = {}
        self._lock = threading.RLock()
        self._in_flight: dict[int, int] = {}
        self._requests_in_flight = 0
        self._metadata_wanted = False
        self._bump_retry_at_ms = 0
        self._due_ms: int | None = None  # when the next batch becomes sendable
        self._finished: list[ProducerBatch] = []  # batches whose callbacks are still to run
        self._closed = False
        self._requests = self._batches_sent = self._retries = self._init_calls = 0
        self._batches_done = 0
        try:
            self._cluster.bootstrap()
            if config.enable_idempotence and self._txn is None:
                self._init_producer_id(timeout_ms=config.max_block_ms)
        except BaseException:
            self._cluster.close()
            raise

    def __enter__(self) -> Self:
        """The producer (already connected)."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Close: deliver what is buffered, or (leaving by an exception) fail it at once."""
        self.close(timeout_ms=None if exc_type is None else 0)

    # -- the public calls --------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: Any = None,
        *,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> FutureRecordMetadata:
        """Enqueue one record (the arguments of the async ``send``); returns its future.

        Raises :class:`~client.errors.DefinitelyFailedError` if the record cannot be enqueued
        (closed producer, unknown topic after ``max.block.ms``, a record above
        ``max.request.size``, ``buffer.memory`` still full after ``max.block.ms``).
        """
        with self._lock:
            if self._closed:
                raise DefinitelyFailedError(KafkaClosedError("the producer is closed"), topic, -1)
            txn = self._txn
            if txn is not None:
                try:
                    txn.check_send()
                except KafkaError as error:
                    raise DefinitelyFailedError(error, topic, -1) from error
            config = self.config
            if config.key_serializer is not None:
                key = config.key_serializer(key)
            if config.value_serializer is not None:
                value = config.value_serializer(value)
            info = self._topics.get(topic)
            if info is None or info.metadata is not self._cluster.metadata:
                info = self._topic_info(topic)
            size = estimate_record_bytes(key, value, headers)
            if size > self._max_record_bytes:
                raise self._too_large(topic, partition, size)
            accumulator = self._accumulator
            if not accumulator.memory_available(size):
                self._wait_for_memory(topic, partition, size)
            if timestamp_ms is None:
                timestamp_ms = _wall_ms()
            now_ms = _now_ms()
            batch, index = self._append(topic, partition, key, value, headers, timestamp_ms, info)
            if txn is not None:
                txn.note_partition(batch.topic_partition)
            if index == 0:
                ready_ms = batch.created_ms + self.config.linger_ms
                self._due_ms = ready_ms if self._due_ms is None else min(self._due_ms, ready_ms)
            if (
                batch.full
                or self._requests_in_flight
                or (self._due_ms is not None and now_ms >= self._due_ms)
            ):
                self._run_once(0)  # send what is ready, read what has arrived; no waiting
            return FutureRecordMetadata(self, batch, index, timestamp_ms)

    def send_and_wait(
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
        future = self.send(
            topic, value, key=key, headers=headers, partition=partition, timestamp_ms=timestamp_ms
        )
        return future.get()

    def poll(self, timeout_ms: float = 0) -> int:
        """Drive the I/O once: send ready batches, read answers (callbacks run), waiting up to
        ``timeout_ms`` for one.  Returns how many batches finished during the call."""
        with self._lock:
            before = self._batches_done
            self._run_once(timeout_ms)
            return self._batches_done - before

    def flush(self, timeout_ms: float | None = None) -> None:
        """Send every buffered record now and wait until each one sent before this call is
        answered.  Raises KafkaTimeoutError after ``timeout_ms``; delivery errors stay with
        the records' futures."""
        with self._lock:
            accumulator = self._accumulator
            pending = list(accumulator.incomplete)
            accumulator.flushing += 1
            try:
                if not self._wait_batches(pending, timeout_ms):
                    raise KafkaTimeoutError(f"flush did not complete within {timeout_ms} ms")
            finally:
                accumulator.flushing -= 1

    def close(self, timeout_ms: float | None = None) -> None:
        """Send what is buffered and wait for it (at most ``timeout_ms``; None: until every
        batch finished, which ``delivery.timeout.ms`` bounds), fail the rest with
        KafkaClosedError as the cause and close the connections.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            accumulator = self._accumulator
            try:
                if timeout_ms != 0:
                    accumulator.closing = True  # everything is sendable now
                    self._wait_batches(list(accumulator.incomplete), timeout_ms)
            finally:
                accumulator.abort(KafkaClosedError("the producer was closed before delivery"))
                self._fire_callbacks()
                self._cluster.close()

    def partitions_for(self, topic: str) -> list[int]:
        """The topic's partition ids (waits for metadata up to ``max.block.ms``)."""
        with self._lock:
            return list(self._topic_info(topic).all_partitions)

    def stats(self) -> ProducerStats:
        """Counters since start."""
        return ProducerStats(self._requests, self._batches_sent, self._retries, self._init_calls)

    # -- records to partitions ---------------------------------------------------------------

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

    def _too_large(self, topic: str, partition: int | None, size: int) -> DefinitelyFailedError:
        return too_large(self.config, topic, partition, size)

    def _topic_info(self, topic: str) -> TopicInfo:
        """The topic's partitions, waiting up to ``max.block.ms`` for it to appear."""
        cluster = self._cluster
        timeout_ms = self.config.max_block_ms
        try:
            described = cluster.retrying(lambda: cluster.topic(topic), timeout_ms=timeout_ms)
        except KafkaError as error:
            raise metadata_wait_failed(topic, timeout_ms, error) from error
        info = TopicInfo.of(cluster.metadata, described)
        self._topics[topic] = info
        return info

    def _wait_for_memory(self, topic: str, partition: int | None, size: int) -> None:
        """Back-pressure: drive the I/O until ``buffer.memory`` takes ``size`` bytes."""
        accumulator = self._accumulator
        config = self.config
        accumulator.exhausted = True  # send everything now, as Kafka's accumulator does
        try:
            if not self._wait_until(
                lambda: accumulator.memory_available(size), config.max_block_ms
            ):
                timeout = KafkaTimeoutError(
                    f"buffer.memory={config.buffer_memory} still full after "
                    f"{config.max_block_ms} ms (max.block.ms)"
                )
                raise DefinitelyFailedError(timeout, topic, -1 if partition is None else partition)
        finally:
            accumulator.exhausted = False

    # -- driving the I/O ---------------------------------------------------------------------

    def _wait_batches(self, batches: list[ProducerBatch], timeout_ms: float | None) -> bool:
        with self._lock:
            return self._wait_until(lambda: all(batch.done for batch in batches), timeout_ms)

    def _wait_until(self, condition: Callable[[], bool], timeout_ms: float | None) -> bool:
        """Drive the I/O until ``condition()`` holds (True) or ``timeout_ms`` passes (False)."""
        deadline_ms = None if timeout_ms is None else _now_ms() + timeout_ms
        while not condition():
            left_ms = POLL_SLICE_MS if deadline_ms is None else deadline_ms - _now_ms()
            if left_ms <= 0:
                return False
            self._run_once(min(left_ms, POLL_SLICE_MS))
        return True

    def _run_once(self, timeout_ms: float) -> None:
        """One round: expire, bump the epoch or refresh metadata if needed, send what is
        ready, then wait up to ``timeout_ms`` (less if a batch becomes ready) for answers."""
        accumulator = self._accumulator
        now_ms = _now_ms()
        accumulator.expire(now_ms)
        if accumulator.bump_required and now_ms >= self._bump_retry_at_ms:
            self._bump_epoch()
        if self._metadata_wanted:
            self._metadata_wanted = False
            try:
                self._cluster.refresh_metadata()
            except KafkaError as error:  # retried on the next round; batches wait or expire
                logger.debug("metadata refresh failed: %s", error)
        if self._txn is not None and self._txn.has_pending:
            self._add_partitions(self._txn)
        next_ready_ms = self._send_ready(now_ms)
        deadline_ms = accumulator.next_deadline_ms()
        due = [at for at in (next_ready_ms, deadline_ms) if at is not None]
        if accumulator.bump_required:
            due.append(self._bump_retry_at_ms)
        self._due_ms = min(due) if due else None
        wait_ms = min([timeout_ms, *(at - now_ms for at in due)])
        if wait_ms > 0 or self._requests_in_flight:
            self._cluster.poll(max(wait_ms, 0) / 1000)
        self._fire_callbacks()

    def _send_ready(self, now_ms: int) -> int | None:
        """Drain every sendable batch into Produce requests; returns the next ready time."""
        accumulator = self._accumulator
        while True:
            drained = accumulator.drain(now_ms, self._leader_of, self._node_has_room)
            for node, batches in drained.requests.items():
                self._send_produce(node, batches)
            if not drained.requests:
                break
        if drained.unknown_leaders:
            self._metadata_wanted = True
        return drained.next_ready_ms

    def _leader_of(self, topic_partition: TopicPartition) -> int | None:
        leader = self._cluster.metadata.leader_for(*topic_partition)
        return None if leader is None else leader.node_id

    def _node_has_room(self, node: int) -> bool:
        limit = self.config.max_in_flight_requests_per_connection
        return self._in_flight.get(node, 0) < limit

    def _send_produce(self, node: int, batches: list[ProducerBatch]) -> None:
        """Write one Produce request; its answer (or failure) reaches :meth:`_produce_done`."""
        self._requests += 1
        self._batches_sent += len(batches)
        self._retries += sum(1 for batch in batches if batch.attempts > 1)
        self._in_flight[node] = self._in_flight.get(node, 0) + 1
        self._requests_in_flight += 1
        sent = False
        try:
            connection = self._cluster.connection_to(node)
            version = connection.pick_version(PRODUCE)
            sent = True
            connection.request(
                PRODUCE,
                self._produce_body(batches),
                version=version,
                expect_response=self.config.acks != 0,
                callback=partial(self._produce_done, node, batches),
            )
        except KafkaError as error:
            self._request_finished(node)
            sent = sent and getattr(error, "request_sent", True)
            self._failed(batches, error, sent=sent)

    def _produce_body(self, batches: list[ProducerBatch]) -> dict[str, Any]:
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for batch in batches:
            topic, partition = batch.topic_partition
            by_topic.setdefault(topic, []).append({"index": partition, "records": batch.buffer})
        return {
            "transactional_id": None,
            "acks": self.config.acks,
            "timeout_ms": self.config.request_timeout_ms,
            "topic_data": [
                {"name": topic, "partition_data": data} for topic, data in by_topic.items()
            ],
        }

    def _produce_done(
        self, node: int, batches: list[ProducerBatch], pending: PendingRequest
    ) -> None:
        self._request_finished(node)
        if pending.error is not None:
            self._failed(batches, pending.error, sent=True)
        elif self.config.acks == 0:
            self._accumulator.acknowledged_without_answer(batches)
        else:
            assert pending.response is not None
            self._apply(pending.response, batches)

    def _request_finished(self, node: int) -> None:
        self._in_flight[node] -= 1
        self._requests_in_flight -= 1
        assert self._in_flight[node] >= 0 and self._requests_in_flight >= 0

    def _failed(self, batches: list[ProducerBatch], error: KafkaError, *, sent: bool) -> None:
        self._accumulator.failed(batches, error, _now_ms(), sent=sent)
        self._cluster.invalidate(error)
        if error.invalid_metadata:
            self._metadata_wanted = True

    def _apply(self, response: Container, batches: list[ProducerBatch]) -> None:
        """Each partition's answer to the accumulator (as the async producer's ``_apply``)."""
        accumulator = self._accumulator
        pending = {batch.topic_partition: batch for batch in batches}
        now_ms = _now_ms()
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
                    self._metadata_wanted = True
        if pending:
            missing = KafkaProtocolError(
                "Produce response without an answer for " + ", ".join(map(str, pending))
            )
            accumulator.failed(list(pending.values()), missing, now_ms, sent=True)

    def _on_batch_done(self, batch: ProducerBatch) -> None:
        # Called from inside the accumulator: user callbacks wait until it is consistent.
        self._batches_done += 1
        if batch.waiter:
            self._finished.append(batch)

    def _fire_callbacks(self) -> None:
        finished, self._finished = self._finished, []
        for batch in finished:
            for callback in batch.waiter:
                try:
                    callback()
                except Exception:  # a user callback must not break delivery (as Kafka's)
                    logger.exception("a send callback of %s raised", batch.topic_partition)

    # -- producer ids ------------------------------------------------------------------------

    def _init_producer_id(self, *, timeout_ms: int) -> None:
        """A new producer id (InitProducerId, retrying retriable errors up to ``timeout_ms``)."""

        def attempt() -> tuple[int, int]:
            connection = self._cluster.any_connection()
            version = connection.pick_version(INIT_PRODUCER_ID)
            body = {
                "transactional_id": None,
                "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS,
                "producer_id": -1,
                "producer_epoch": -1,
            }
            self._init_calls += 1
            response = connection.send(INIT_PRODUCER_ID, body, version=version)
            if response.error_code:
                raise error_for(response.error_code, f"InitProducerId from {connection.address}")
            return int(response.producer_id), int(response.producer_epoch)

        producer_id, epoch = self._cluster.retrying(attempt, timeout_ms=timeout_ms)
        self._accumulator.set_producer(producer_id, epoch)

    def _bump_epoch(self) -> None:
        """The accumulator asked for a new epoch: as the async producer, bump it locally (same
        id, epoch + 1; Java's rule without ``transactional.id``), or, when the epoch is
        exhausted or was fenced, get a new id -- one attempt per round (a round must not block
        for long), retried after the backoff."""
        accumulator = self._accumulator
        current = accumulator.producer
        assert current is not None
        if current[1] < MAX_PRODUCER_EPOCH and not accumulator.new_id_required:
            accumulator.set_producer(current[0], current[1] + 1)
            return
        try:
            self._init_producer_id(timeout_ms=0)
        except KafkaError as error:
            logger.debug("InitProducerId for a new producer id failed: %s", error)
            self._bump_retry_at_ms = _now_ms() + int(self._cluster.retry_backoff_ms(1))

    # -- transactions (KIP-98) ----------------------------------------------------------------

    def _transaction(self) -> TransactionManager:
        if self._txn is None:
            raise KafkaError("this producer has no transactional.id")
        if self._closed:
            raise KafkaClosedError("the producer is closed")
        return self._txn

    def _coordinator_request(self, call: CoordinatorCall) -> Container:
        """The call at its coordinator (found anew each attempt), retried on retriable errors
        until ``max.block.ms``; the answer's first error is raised."""
        cluster = self._cluster

        def attempt() -> Container:
            connection = cluster.any_connection()
            found = connection.send(
                FIND_COORDINATOR,
                call.find_coordinator_body(),
                version=connection.pick_version(FIND_COORDINATOR),
            )
            node = coordinator_node(found, call.key)
            coordinator = cluster.connection_to(node)
            version = coordinator.pick_version(call.api_key)
            response = coordinator.send(call.api_key, call.body, version=version)
            code = first_error(response)
            if code:
                raise error_for(code, f"API {call.api_key} at coordinator {node}")
            return response

        return cluster.retrying(attempt, timeout_ms=self.config.max_block_ms)

    def init_transactions(self) -> None:
        """Get the transactional id's producer id and epoch, fencing earlier producers of it
        (the coordinator aborts their open transaction).  Once, before the first one."""
        with self._lock:
            txn = self._transaction()
            self._init_calls += 1
            response = self._coordinator_request(txn.init_call())
            self._accumulator.set_producer(int(response.producer_id), int(response.producer_epoch))
            txn.initialized()

    def begin_transaction(self) -> None:
        """Start a transaction: records sent from now on commit or abort together."""
        with self._lock:
            self._transaction().begin()

    def send_offsets_to_transaction(
        self,
        offsets: Mapping[TopicPartition, int],
        group_id: str,
        *,
        generation_id: int = -1,
        member_id: str = "",
        group_instance_id: str | None = None,
    ) -> None:
        """Commit a group's ``offsets`` (the next ones to read) with the transaction."""
        with self._lock:
            txn = self._transaction()
            txn.check_offsets()
            producer = self._accumulator.producer
            assert producer is not None
            try:
                self._coordinator_request(txn.add_offsets_call(producer, group_id))
                txn.offsets_added = True
                self._coordinator_request(
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

    def commit_transaction(self) -> None:
        """Deliver every record of the transaction, then commit it (a failed record raises
        its error: abort then; a fenced producer raises and can only be closed)."""
        self._end_transaction(commit=True)

    def abort_transaction(self) -> None:
        """Abort the transaction: read_committed consumers never see its records."""
        self._end_transaction(commit=False)

    def _end_transaction(self, *, commit: bool) -> None:
        with self._lock:
            txn = self._transaction()
            txn.start_end(commit)
            pending = list(self._accumulator.incomplete)
            self.flush()
            if not txn.delivered(pending, commit):
                return
            producer = self._accumulator.producer
            assert producer is not None
            try:
                self._coordinator_request(txn.end_call(producer, commit))
            except KafkaError as error:
                txn.fail(error)
                raise
            txn.ended()

    def _add_partitions(self, txn: TransactionManager) -> None:
        """AddPartitionsToTxn for the partitions the transaction's records reached (their
        batches wait at the accumulator's gate until then)."""
        wanted = txn.take_pending()
        producer = self._accumulator.producer
        if not wanted or producer is None:
            return
        try:
            self._coordinator_request(txn.add_partitions_call(producer, wanted))
        except KafkaError as error:
            txn.fail(error)
            self._accumulator.abort(error)  # the waiting records cannot be sent
            return
        txn.added(wanted)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Producer {self.config.client_id!r} {state} {self._accumulator!r}>"
