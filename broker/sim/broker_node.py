"""The simulated broker: the glue of ``broker/server/broker.py``.

It runs the real ``Partition``, ``Purgatory``, ``LogManager``/``PartitionLog`` (on a
:class:`~broker.sim.disk.SimDisk`), the controller link of ``broker/sim/broker_link.py`` and the
replica fetchers of ``broker/sim/fetcher.py``, in the shell's order of operations:

- metadata: records from the link are replayed, then partitions adopt their committed states
  (``_sync_partitions``/``_adopt``); fenced, re-registered or stopping brokers stop holding the
  HW (KIP-841); orphan logs are dropped once the image caught up;
- the listener (produce, consumer and follower fetches, metadata) starts at the first unfence;
  so do ISR expiry (every ``replica.lag.time.max.ms`` / 2) and the HW checkpoint;
- requests: handlers in ``broker/sim/broker_handlers.py``; ISR changes here.

Deviations from the shell, each a bug reported in the sim's notes and selectable as
``faithful`` (see :class:`BrokerNodeSettings`):

- ``stale-replay``: a restarted shell applies each metadata chunk (``MAX_RECORDS_PER_FETCH``)
  to its partitions as it replays, so it acts on old states: as a stale leader whose old ISR is
  itself it advances its HW over records only it holds (P5).  As Kafka's metadata loader, we
  adopt partition states only once the image caught up with the log's end of the first fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.core.metadata import (
    BrokerRegistrationChangeRecord,
    FenceBrokerRecord,
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    PartitionRegistration,
    RegisterBrokerRecord,
    TopicImage,
)
from broker.core.partition import NO_LEADER, IsrProposal, Partition, PartitionState
from broker.core.purgatory import DelayedOperation, Purgatory
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.log.partition_log import PartitionLog
from broker.sim import broker_handlers
from broker.sim.broker_handlers import acks_key
from broker.sim.broker_link import ControllerLink
from broker.sim.fetcher import FetcherManager
from broker.sim.messages import AlterPartitionRequest, AlterPartitionResponse, TopicPartition
from broker.sim.world import Host, RpcError
from client.protocol.errors import ErrorCode

DATA_DIR = Path("/data")
ISR_COMMIT_WAIT_MS = 5_000  # _send_isr_change_remote waits this long for the metadata
CONTROLLED_SHUTDOWN_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class BrokerNodeSettings:
    """The broker keys the simulation varies (Kafka names, ``.`` -> ``_``)."""

    min_insync_replicas: int = 1
    replica_lag_time_max_ms: int = 30_000
    broker_heartbeat_interval_ms: int = 2000
    replica_fetch_wait_max_ms: int = 500
    replica_fetch_max_bytes: int = 1 << 20
    replica_fetch_response_max_bytes: int = 10 << 20
    replica_fetch_backoff_ms: int = 1000
    replica_high_watermark_checkpoint_interval_ms: int = 5000
    log: LogConfig = field(default_factory=LogConfig)
    faithful: frozenset[str] = frozenset()


@dataclass(slots=True)
class IsrWaiter:
    proposal: IsrProposal
    deadline_ms: int


class SimBroker:
    """One broker process."""

    def __init__(self, host: Host, node_id: int, settings: BrokerNodeSettings, hooks: Any) -> None:
        self.host = host
        self.world = host.world
        self.node_id = node_id
        self.settings = settings
        self.hooks = hooks
        self.image = MetadataImage()
        self.partitions: dict[TopicPartition, Partition] = {}
        self.purgatory = Purgatory()
        self.broker_epoch = -1
        self.listening = False
        self.caught_up_once = False
        self.synced = False  # partitions adopted the image at least once
        self._orphans_checked = False
        self.link = ControllerLink(self)
        self.isr_waiters: list[IsrWaiter] = []
        self.logs = LogManager.open(
            [DATA_DIR], settings.log, None, files=host.disk, wall_ms=host.wall_ms()
        )
        self._checkpointed_high_watermarks = self.logs.high_watermarks()
        self.fetchers = FetcherManager(self)

    def log(self, text: str) -> None:
        self.world.log(self.host.name, text)

    def after(self, delay_ms: int, label: str, fn: Callable[[], None]) -> None:
        self.world.after(self.host, delay_ms, label, fn)

    def now(self) -> int:
        return self.world.now_ms

    def wall_ms(self) -> int:
        return self.host.wall_ms()

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        self._sync_partitions()
        self.link.run()

    def on_first_unfence(self) -> None:
        self.listening = True
        self.log(f"unfenced: listening (broker epoch {self.broker_epoch})")
        self.after(self._expiry_interval(), "isr expiry", self._expire_isr)
        interval = self.settings.replica_high_watermark_checkpoint_interval_ms
        self.after(interval, "hw checkpoint", self._checkpoint_high_watermarks)

    # -- controlled shutdown (SIGTERM) -----------------------------------------------------

    def begin_controlled_shutdown(self) -> None:
        self.log("SIGTERM: controlled shutdown")
        self.link.request_shutdown()
        self.after(CONTROLLED_SHUTDOWN_TIMEOUT_MS, "shutdown timeout", self.exit_cleanly)

    def exit_cleanly(self) -> None:
        """BrokerServer.close after the task group ends: checkpoints, flush, clean marker."""
        self.logs.checkpoint(self.high_watermarks())
        self.logs.close()
        self.log("stopped cleanly")
        self.world.stop(self.host.name)

    def on_connection_closed(self, peer: str, channel: str) -> None:
        """The calls on the connection fail on their own; nothing else to do."""

    # -- metadata -------------------------------------------------------------------------

    def apply_metadata(self, records: list[MetadataRecord]) -> None:
        for record in records:
            self.image.replay(record)
        if "stale-replay" not in self.settings.faithful and not self.caught_up_once:
            return  # partitions adopt states only from a caught-up image (Kafka's loader)
        ineligible: dict[int, None] = {}
        for record in records:
            if isinstance(record, FenceBrokerRecord | RegisterBrokerRecord) or (
                isinstance(record, BrokerRegistrationChangeRecord) and record.in_controlled_shutdown
            ):
                ineligible[record.broker_id] = None
        if any(isinstance(record, PartitionRecord) for record in records) or not self.synced:
            self.synced = True
            self._sync_partitions()
        for broker_id in ineligible:
            # KIP-841: a fenced or stopping broker no longer holds back the HW as a joiner.
            for key, partition in self.partitions.items():
                if partition.on_broker_ineligible(broker_id):
                    self.complete_delayed(key)
        self._metadata_changed()

    def on_metadata_caught_up(self) -> None:
        """Logs of topics the (complete) image does not know were deleted while we were down."""
        if not self._orphans_checked:
            self._orphans_checked = True
            self._drop_orphan_logs()

    def _metadata_changed(self) -> None:
        waiters, self.isr_waiters = self.isr_waiters, []
        for waiter in waiters:
            if self._partition_epoch_at_least(waiter.proposal):
                self._on_isr_change_answer(waiter.proposal, ErrorCode.NONE)
            else:
                self.isr_waiters.append(waiter)

    # -- partitions -----------------------------------------------------------------------

    def _sync_partitions(self) -> None:
        now = self.now()
        for topic in self.image.topics_by_name.values():
            for index, registration in topic.partitions.items():
                if self.node_id not in registration.replicas:
                    continue
                key = (topic.name, index)
                partition = self.partitions.get(key)
                if partition is None:
                    partition = self._open_partition(topic, index)
                    self.partitions[key] = partition
                self._adopt(partition, registration, now)

    def _drop_orphan_logs(self) -> None:
        orphans = {log_.topic for log_ in self.logs.logs()} - set(self.image.topics_by_name)
        for topic in sorted(orphans):
            self.log(f"deleting the logs of topic {topic!r}: not in the metadata image")
            self.logs.delete_topic(topic)

    def _open_partition(self, topic: TopicImage, index: int) -> Partition:
        log_ = self.logs.get(topic.name, index)
        if log_ is None:
            log_ = self.logs.create(topic.name, index, self.settings.log, wall_ms=self.wall_ms())
        partition = Partition(
            topic=topic.name,
            index=index,
            topic_id=topic.topic_id,
            local_broker_id=self.node_id,
            replicas=(),
            isr=(),
            leader=NO_LEADER,
            leader_epoch=-1,
            min_insync_replicas=self.min_insync_replicas(topic),
            partition_epoch=-1,
        )
        partition.log_end_offset = log_.log_end_offset
        checkpointed = self._checkpointed_high_watermarks.get((topic.name, index), 0)
        partition.high_watermark = min(checkpointed, log_.log_end_offset)
        return partition

    def _adopt(self, partition: Partition, registration: PartitionRegistration, now: int) -> None:
        if registration.partition_epoch <= partition.partition_epoch:
            return
        state = PartitionState(
            registration.replicas,
            registration.isr,
            registration.leader,
            registration.leader_epoch,
            registration.partition_epoch,
            registration.leader_recovery_state,
        )
        key = (partition.topic, partition.index)
        changed = partition.apply_state(state, now)
        topic = self.image.topics_by_id.get(partition.topic_id)
        if topic is not None:
            partition.min_insync_replicas = self.min_insync_replicas(topic)
        if changed:
            log_ = self.partition_log(*key)
            if partition.is_leader:
                self.fetchers.unfollow(key)
                log_.assign_epoch_start(partition.leader_epoch)
                self.log(
                    f"{key[0]}-{key[1]}: leader at epoch {partition.leader_epoch} (log end "
                    f"{partition.log_end_offset}, HW {partition.high_watermark}, "
                    f"ISR {list(partition.isr)})"
                )
            elif partition.is_follower:
                self.fetchers.follow(partition)
            else:
                self.fetchers.unfollow(key)
        if partition.is_leader:
            partition.maybe_advance_high_watermark()
        self.complete_delayed(key)

    def min_insync_replicas(self, topic: TopicImage) -> int:
        value = topic.configs.get("min.insync.replicas")
        return int(value) if value is not None else self.settings.min_insync_replicas

    def partition_log(self, topic: str, index: int) -> PartitionLog:
        log_ = self.logs.get(topic, index)
        assert log_ is not None, (topic, index)
        return log_

    def partition_logs_view(self) -> Mapping[TopicPartition, PartitionLog]:
        views: dict[TopicPartition, PartitionLog] = {}
        for key in self.partitions:
            log_ = self.logs.get(*key)
            if log_ is not None:
                views[key] = log_
        return views

    def high_watermarks(self) -> dict[TopicPartition, int]:
        return {key: partition.high_watermark for key, partition in self.partitions.items()}

    def on_appended(self, partition: Partition, size_bytes: int) -> None:
        log_ = self.partition_log(partition.topic, partition.index)
        key = (partition.topic, partition.index)
        if partition.on_local_append(log_.log_end_offset, size_bytes):
            self.complete_delayed(key)  # the HW moved: acks=all waiters and consumers
        else:
            self.complete_waiters(key)  # followers' fetches

    def on_follower_fetch(
        self,
        partition: Partition,
        replica_id: int,
        fetch_offset: int,
        replica_epoch: int,
        log_start_offset: int = -1,
    ) -> None:
        registration = self.image.brokers.get(replica_id)
        eligible = (
            registration is not None
            and registration.active
            and (replica_epoch < 0 or replica_epoch == registration.broker_epoch)
        )
        outcome = partition.on_follower_fetch(
            replica_id,
            fetch_offset,
            replica_epoch,
            self.now(),
            eligible,
            log_start_offset=log_start_offset,
        )
        if outcome.high_watermark_advanced:
            self.complete_delayed((partition.topic, partition.index))
        if outcome.proposal is not None:
            self._send_isr_change(outcome.proposal)

    # -- the purgatory --------------------------------------------------------------------

    def complete_delayed(self, key: TopicPartition) -> None:
        """The partition's HW or state changed: retry everything waiting on it."""
        self.complete_waiters(key)
        self.complete_waiters(acks_key(key))

    def complete_waiters(self, key: Hashable) -> None:
        for operation in self.purgatory.check_and_complete(key):
            operation.on_complete()

    def watch_delayed(self, operation: DelayedOperation, keys: Sequence[Hashable]) -> None:
        self.purgatory.watch(operation, keys)
        delay = max(operation.deadline_ms - self.now(), 0)
        self.after(delay, "purgatory expiry", self._expire_delayed)

    def _expire_delayed(self) -> None:
        for operation in self.purgatory.expire(self.now()):
            operation.on_complete()

    # -- ISR changes (AlterPartition) -------------------------------------------------------

    def _send_isr_change(self, proposal: IsrProposal) -> None:
        current = self.partitions[(proposal.topic, proposal.index)].isr
        self.log(
            f"{proposal.topic}-{proposal.index}: proposing ISR {list(proposal.new_isr)} "
            f"(was {list(current)})"
        )
        request = AlterPartitionRequest(
            self.node_id,
            self.broker_epoch,
            proposal.topic_id,
            proposal.index,
            proposal.leader_epoch,
            proposal.partition_epoch,
            tuple(zip(proposal.new_isr, proposal.broker_epochs, strict=True)),
        )

        def on_reply(response: Any) -> None:
            if isinstance(response, RpcError):
                self.log(f"AlterPartition for {proposal.topic}-{proposal.index}: {response.kind}")
                self._on_isr_change_answer(proposal, ErrorCode.UNKNOWN_SERVER_ERROR)
                return
            assert isinstance(response, AlterPartitionResponse)
            if response.error_code is not ErrorCode.NONE:
                self._on_isr_change_answer(proposal, response.error_code)
            elif self._partition_epoch_at_least(proposal):
                self._on_isr_change_answer(proposal, ErrorCode.NONE)
            else:
                deadline = self.now() + ISR_COMMIT_WAIT_MS
                waiter = IsrWaiter(proposal, deadline)
                self.isr_waiters.append(waiter)
                self.after(ISR_COMMIT_WAIT_MS, "isr commit wait", lambda: self._give_up(waiter))

        self.link.send(request, on_reply, "requests")

    def _give_up(self, waiter: IsrWaiter) -> None:
        if waiter in self.isr_waiters:
            self.isr_waiters.remove(waiter)
            self._on_isr_change_answer(waiter.proposal, ErrorCode.NONE)

    def _partition_epoch_at_least(self, proposal: IsrProposal) -> bool:
        partition = self.partitions.get((proposal.topic, proposal.index))
        return partition is None or partition.partition_epoch >= proposal.partition_epoch + 1

    def _on_isr_change_answer(self, proposal: IsrProposal, error: ErrorCode) -> None:
        partition = self.partitions.get((proposal.topic, proposal.index))
        if partition is None:
            return
        if error is not ErrorCode.NONE:
            self.log(
                f"{proposal.topic}-{proposal.index}: ISR change to "
                f"{list(proposal.new_isr)} refused: {error.name}"
            )
        partition.on_isr_change_failed(proposal)
        if partition.is_leader:
            partition.maybe_advance_high_watermark()
        self.complete_delayed((proposal.topic, proposal.index))

    def _expiry_interval(self) -> int:
        return max(self.settings.replica_lag_time_max_ms // 2, 10)

    def _expire_isr(self) -> None:
        lag_ms = self.settings.replica_lag_time_max_ms
        for key, partition in list(self.partitions.items()):
            before = partition.high_watermark
            proposal = partition.maybe_shrink(self.now(), lag_ms)
            if partition.high_watermark != before:
                self.complete_delayed(key)
            if proposal is not None:
                self._send_isr_change(proposal)
        self.after(self._expiry_interval(), "isr expiry", self._expire_isr)

    def _checkpoint_high_watermarks(self) -> None:
        self.logs.checkpoint(self.high_watermarks())
        interval = self.settings.replica_high_watermark_checkpoint_interval_ms
        self.after(interval, "hw checkpoint", self._checkpoint_high_watermarks)

    # -- requests -------------------------------------------------------------------------

    def handle(self, source: str, request: Any, reply: Callable[[Any], None]) -> None:
        if not self.listening:
            reply(RpcError("refused"))  # the client listener starts at the first unfence
            return
        broker_handlers.handle(self, source, request, reply)
