"""The shell around the sans-IO transaction coordinator (:mod:`broker.core.txn_coordinator`).

- A transactional id's coordinator is the leader of its ``__transaction_state`` partition.
  The partition is loaded by replay on first use and unloaded when its leadership moves; its
  leader epoch is the coordinator epoch the markers carry.
- Every :class:`Write` is appended to its partition and waited on until committed (acks=all)
  before the client is answered; one that is not committed leaves the state unchanged and
  answers NOT_COORDINATOR (the client finds the coordinator again).
- Markers are written by a background task per decided transaction: locally when this
  broker leads the partition, else by WriteTxnMarkers to its leader; a partition that fails
  is retried (after ``retry.backoff.ms``-like pauses) until it succeeds, its topic is gone,
  or this broker is no longer the coordinator.  Then the transaction is completed.
- A timer aborts transactions open past their timeout and removes expired ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio

from broker.core.txn_coordinator import (
    Answer,
    Markers,
    NeedProducerId,
    Step,
    TxnCoordinator,
    TxnCoordinatorConfig,
    Write,
)
from broker.core.txn_log import TopicPartition
from broker.server import internal_topics
from broker.server.clock import wall_ms
from broker.server.internal_topics import TRANSACTION_STATE_TOPIC
from client.connection import Connection
from client.errors import KafkaError
from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

log = logging.getLogger("odradek.transactions")

WRITE_TXN_MARKERS = 27
MARKER_RETRY_BACKOFF_MS = 100
# A marker's partition that answers these is gone: its marker is not needed any more.
_GONE = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID)


class TxnService:
    """Owns the transaction coordinator and runs what it asks for."""

    def __init__(self, server: BrokerServer) -> None:
        config = server.config
        self.server = server
        self.coordinator = TxnCoordinator(
            TxnCoordinatorConfig(
                transaction_state_log_num_partitions=config.transaction_state_log_num_partitions,
                transaction_max_timeout_ms=config.transaction_max_timeout_ms,
                transactional_id_expiration_ms=config.transactional_id_expiration_ms,
            )
        )
        self.markers_in_flight: set[str] = set()

    # ---------------------------------------------------------------- ownership

    async def owner_error(self, transactional_id: str) -> ErrorCode:
        """NONE when this broker coordinates ``transactional_id`` now (loading its partition
        on first use); else the error that sends the client to look again."""
        error = await internal_topics.ensure_transaction_topic(self.server)
        if error not in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        partition = self.coordinator.partition_for(transactional_id)
        local = self.server.partitions.get((TRANSACTION_STATE_TOPIC, partition))
        if local is None or not local.is_leader:
            return ErrorCode.NOT_COORDINATOR
        if not self.coordinator.owns(partition):
            self._load(partition, local.leader_epoch)
        return ErrorCode.NONE

    def ensure_loaded(self) -> None:
        """Load every ``__transaction_state`` partition this broker leads (admin listings)."""
        for (name, partition), local in sorted(self.server.partitions.items()):
            mine = name == TRANSACTION_STATE_TOPIC and local.is_leader
            if mine and not self.coordinator.owns(partition):
                self._load(partition, local.leader_epoch)

    def _load(self, partition: int, coordinator_epoch: int) -> None:
        self.coordinator.begin_load(partition)
        count = 0
        for _offset, key, value, _producer in internal_topics.replay(
            self.server, TRANSACTION_STATE_TOPIC, partition
        ):
            if key is not None:
                self.coordinator.replay(partition, key, value)
                count += 1
        resumed = self.coordinator.load_complete(partition, coordinator_epoch)
        log.info(
            "transaction coordinator loaded %d records from %s-%d (epoch %d), %d to complete",
            count,
            TRANSACTION_STATE_TOPIC,
            partition,
            coordinator_epoch,
            len(resumed),
        )
        for markers in resumed:
            self._start_markers(markers)

    def on_leadership_change(self, partition: int, is_leader: bool, leader_epoch: int) -> None:
        """A lost partition is unloaded; so is one led again in a new epoch (it is loaded
        anew, with the new coordinator epoch, on its next request)."""
        if not self.coordinator.owns(partition):
            return
        if not is_leader or self.coordinator.coordinator_epoch(partition) != leader_epoch:
            self.coordinator.unload(partition)
            log.info("transaction coordinator unloaded %s-%d", TRANSACTION_STATE_TOPIC, partition)

    # ---------------------------------------------------------------- requests

    async def init_producer_id(
        self,
        transactional_id: str,
        timeout_ms: int,
        *,
        expected_producer_id: int,
        expected_epoch: int,
    ) -> Answer:
        error = await self.owner_error(transactional_id)
        if error is not ErrorCode.NONE:
            return Answer(error)
        fresh: int | None = None
        while True:
            step: Step = self.coordinator.init_producer_id(
                transactional_id,
                timeout_ms,
                wall_ms(),
                expected_producer_id=expected_producer_id,
                expected_epoch=expected_epoch,
                fresh_producer_id=fresh,
            )
            if not isinstance(step, NeedProducerId):
                break
            fresh = await self.server.allocate_producer_id()
        if isinstance(step, Answer):
            return step
        error = await self.run_write(step)
        assert step.target is not None
        if error is not ErrorCode.NONE:
            return Answer(error)
        return Answer(step.error, step.target.producer_id, step.target.producer_epoch)

    async def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
    ) -> ErrorCode:
        error = await self.owner_error(transactional_id)
        if error is not ErrorCode.NONE:
            return error
        step = self.coordinator.add_partitions(
            transactional_id, producer_id, producer_epoch, partitions, wall_ms()
        )
        return await self._run(step)

    async def end_txn(
        self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool
    ) -> ErrorCode:
        error = await self.owner_error(transactional_id)
        if error is not ErrorCode.NONE:
            return error
        step = self.coordinator.end_txn(
            transactional_id, producer_id, producer_epoch, commit, wall_ms()
        )
        return await self._run(step)

    async def _run(self, step: Write | Answer) -> ErrorCode:
        if isinstance(step, Answer):
            return step.error
        error = await self.run_write(step)
        return step.error if error is ErrorCode.NONE else error

    # ---------------------------------------------------------------- writes and markers

    async def run_write(self, write: Write) -> ErrorCode:
        """Append ``write`` and wait for its commit; NONE once it is the state."""
        key = (TRANSACTION_STATE_TOPIC, write.partition)
        local = self.server.partitions.get(key)
        if local is None or not local.is_leader:
            self.coordinator.write_failed(write)
            return ErrorCode.NOT_COORDINATOR
        internal_topics.append(
            self.server, TRANSACTION_STATE_TOPIC, write.partition, [(write.key, write.value)]
        )
        required = {key: (local.log_end_offset, local.leader_epoch)}
        timeout_ms = self.server.config.offsets_commit_timeout_ms
        failed = await internal_topics.await_committed(self.server, required, timeout_ms)
        if failed:
            self.coordinator.write_failed(write)
            status = failed[key]
            log.warning(
                "transaction state write for %r not committed: %s",
                write.transactional_id,
                "timed out" if status is None else status.name,
            )
            return ErrorCode.NOT_COORDINATOR
        markers = self.coordinator.written(write)
        if markers is not None:
            self._start_markers(markers)
        return ErrorCode.NONE

    def _start_markers(self, markers: Markers) -> None:
        group = self.server.task_group
        if group is None or markers.transactional_id in self.markers_in_flight:
            return
        self.markers_in_flight.add(markers.transactional_id)
        group.start_soon(self._complete, markers)

    async def _complete(self, markers: Markers) -> None:
        try:
            remaining = set(markers.partitions)
            while remaining:
                if not self._still_coordinator(markers):
                    return
                remaining = await self._write_markers(markers, remaining)
                if remaining:
                    await anyio.sleep(MARKER_RETRY_BACKOFF_MS / 1000)
            completion = self.coordinator.markers_written(markers, wall_ms())
            if completion is not None:
                await self.run_write(completion)
        finally:
            self.markers_in_flight.discard(markers.transactional_id)

    def _still_coordinator(self, markers: Markers) -> bool:
        partition = self.coordinator.partition_for(markers.transactional_id)
        return (
            self.coordinator.owns(partition)
            and self.coordinator.coordinator_epoch(partition) == markers.coordinator_epoch
        )

    async def _write_markers(
        self, markers: Markers, partitions: set[TopicPartition]
    ) -> set[TopicPartition]:
        """One attempt at every partition; returns those still to do."""
        by_leader: dict[int, list[TopicPartition]] = {}
        remaining: set[TopicPartition] = set()
        for topic, index in sorted(partitions):
            image = self.server.image.topic(topic)
            registration = image.partitions.get(index) if image is not None else None
            if registration is None:
                continue  # deleted: nothing to mark
            if registration.leader < 0:
                remaining.add((topic, index))
                continue
            by_leader.setdefault(registration.leader, []).append((topic, index))
        for leader, owned in by_leader.items():
            if leader == self.server.node_id:
                errors = await self.server.write_markers_locally(
                    markers.producer_id,
                    markers.producer_epoch,
                    markers.commit,
                    markers.coordinator_epoch,
                    owned,
                )
            else:
                errors = await self._send_markers(leader, markers, owned)
            for tp, error in errors.items():
                if error is ErrorCode.NONE or error in _GONE:
                    continue
                if error in (
                    ErrorCode.INVALID_PRODUCER_EPOCH,
                    ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                ):
                    # A newer epoch or coordinator wrote this partition since: Kafka gives up
                    # on the partition too (its state moved on without this marker).
                    log.warning("marker for %s-%d refused: %s", tp[0], tp[1], error.name)
                    continue
                remaining.add(tp)
        return remaining

    async def _send_markers(
        self, leader: int, markers: Markers, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        failed = dict.fromkeys(partitions, ErrorCode.NOT_LEADER_OR_FOLLOWER)
        endpoint = self.server.broker_endpoint(leader)
        if endpoint is None:
            return failed
        topics: dict[str, list[int]] = {}
        for topic, index in partitions:
            topics.setdefault(topic, []).append(index)
        request: dict[str, Any] = {
            "markers": [
                {
                    "producer_id": markers.producer_id,
                    "producer_epoch": markers.producer_epoch,
                    "transaction_result": markers.commit,
                    "topics": [
                        {"name": name, "partition_indexes": indexes}
                        for name, indexes in topics.items()
                    ],
                    "coordinator_epoch": markers.coordinator_epoch,
                }
            ]
        }
        try:
            async with Connection.connect(
                endpoint[0],
                endpoint[1],
                client_id=f"odradek-txn-markers-{self.server.node_id}",
                request_timeout_ms=self.server.config.offsets_commit_timeout_ms + 5000,
                sasl=self.server.inter_broker_sasl,
                ssl_context=self.server.inter_broker_ssl,
            ) as connection:
                version = connection.pick_version(WRITE_TXN_MARKERS, 1, 1)
                response = await connection.send(WRITE_TXN_MARKERS, request, version=version)
        except (KafkaError, OSError) as error:
            log.info("WriteTxnMarkers to broker %d failed: %s", leader, error)
            return failed
        errors: dict[TopicPartition, ErrorCode] = {}
        for marker in response.markers:
            for topic in marker.topics:
                for part in topic.partitions:
                    errors[(topic.name, part.partition_index)] = ErrorCode(part.error_code)
        return {tp: errors.get(tp, ErrorCode.NOT_LEADER_OR_FOLLOWER) for tp in partitions}

    # ---------------------------------------------------------------- timers

    async def run_timers(self) -> None:
        """Abort timed-out transactions and drop expired ids, on Kafka's intervals."""
        config = self.server.config
        abort_every = config.transaction_abort_timed_out_transaction_cleanup_interval_ms
        remove_every = config.transaction_remove_expired_transaction_cleanup_interval_ms
        next_removal = wall_ms() + remove_every
        while True:
            await anyio.sleep(abort_every / 1000)
            now = wall_ms()
            remove_ids = now >= next_removal
            if remove_ids:
                next_removal = now + remove_every
            for write in self.coordinator.expire(now, remove_ids=remove_ids):
                if write.target is not None:
                    log.info(
                        "aborting transaction of %r: open longer than its timeout",
                        write.transactional_id,
                    )
                group = self.server.task_group
                if group is None:
                    self.coordinator.write_failed(write)
                else:
                    group.start_soon(self.run_write, write)
