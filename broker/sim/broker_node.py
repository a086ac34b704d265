"""The simulated broker: the broker process's :class:`~broker.server.replica_manager.ReplicaManager`
on simulated time, disk and network.

The partition glue is the shell's own code (``ReplicaManager``: adopting committed states,
follower fetches on the leader, the HW's purgatory keys, ISR changes and their answers, the
isr-expiration round, orphan logs), on the real ``Partition``, ``Purgatory`` and
``LogManager``/``PartitionLog`` (on a :class:`~broker.sim.disk.SimDisk`).  What is simulated
here is the transport around it: the controller link of ``broker/sim/broker_link.py``, the
replica fetchers of ``broker/sim/fetcher.py``, the AlterPartition calls (retried after a
transport failure, as the shell does), timers for ISR expiry (every
``replica.lag.time.max.ms`` / 2) and the HW checkpoint, and the listener, which starts at the
first unfence (requests: ``broker/sim/broker_handlers.py``).

Deviations from the shell, each a bug reported in the sim's notes and selectable as
``faithful`` (see :class:`BrokerNodeSettings`):

- ``stale-replay``: a restarted shell applies each metadata chunk (``MAX_RECORDS_PER_FETCH``)
  to its partitions as it replays, so it acts on old states: as a stale leader whose old ISR is
  itself it advances its HW over records only it holds (P5).  As Kafka's metadata loader, we
  adopt partition states only once the image caught up with the log's end of the first fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.core.metadata import (
    MetadataImage,
    MetadataRecord,
)
from broker.core.partition import IsrProposal, Partition
from broker.core.purgatory import DelayedOperation
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.server.replica_manager import ALTER_PARTITION_RETRY_MS, ReplicaManager
from broker.sim import broker_handlers
from broker.sim.broker_link import ControllerLink
from broker.sim.fetcher import FetcherManager
from broker.sim.messages import AlterPartitionRequest, AlterPartitionResponse
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


class SimBroker(ReplicaManager):
    """One broker process."""

    def __init__(self, host: Host, node_id: int, settings: BrokerNodeSettings, hooks: Any) -> None:
        self.host = host
        self.world = host.world
        self.node_id = node_id
        self.settings = settings
        self.hooks = hooks
        logs = LogManager.open(
            [DATA_DIR], settings.log, None, files=host.disk, wall_ms=host.wall_ms()
        )
        self._init_replicas(node_id, MetadataImage(), logs)
        # faithful stale-replay: adopt partition states while replaying (the old shell).
        self.metadata_ready = "stale-replay" in settings.faithful
        self.broker_epoch = -1
        self.listening = False
        self.caught_up_once = False
        self.link = ControllerLink(self)
        self.isr_waiters: list[IsrWaiter] = []
        self.replica_fetchers = FetcherManager(self)

    def log(self, text: str) -> None:
        self.world.log(self.host.name, text)

    def after(self, delay_ms: int, label: str, fn: Callable[[], None]) -> None:
        self.world.after(self.host, delay_ms, label, fn)

    def now(self) -> int:
        return self.world.now_ms

    def wall_ms(self) -> int:
        return self.host.wall_ms()

    # -- ReplicaManager's hooks -----------------------------------------------------------

    def now_ms(self) -> int:
        return self.world.now_ms

    def wall_now_ms(self) -> int:
        return self.host.wall_ms()

    def info(self, message: str) -> None:
        self.log(message)

    def warning(self, message: str) -> None:
        self.log(message)

    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        return self.settings.log  # the simulation varies no per-topic log config

    def default_min_insync_replicas(self) -> int:
        return self.settings.min_insync_replicas

    def on_leadership_change(self, partition: Partition) -> None:
        """No group coordinator in the simulation."""

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
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
        self.on_metadata_records(records)
        self._metadata_changed()

    def _metadata_changed(self) -> None:
        waiters, self.isr_waiters = self.isr_waiters, []
        for waiter in waiters:
            if self._committed(waiter.proposal):
                self.on_isr_change_answer(waiter.proposal, ErrorCode.NONE)
            else:
                self.isr_waiters.append(waiter)

    # -- the purgatory --------------------------------------------------------------------

    def watch_delayed(self, operation: DelayedOperation, keys: Sequence[Hashable]) -> None:
        self.purgatory.watch(operation, keys)
        delay = max(operation.deadline_ms - self.now(), 0)
        self.after(delay, "purgatory expiry", self._expire_delayed)

    def _expire_delayed(self) -> None:
        for operation in self.purgatory.expire(self.now()):
            operation.on_complete()

    # -- ISR changes (AlterPartition) -------------------------------------------------------

    def send_alter_partition(self, proposal: IsrProposal) -> None:
        """As ``BrokerServer._send_alter_partition_remote``: a transport failure is not a
        refusal (the controller may have committed it), so ask again until an answer comes or
        the proposal is superseded; after a success wait (bounded) for the committed state."""
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
                self.log(
                    f"AlterPartition for {proposal.topic}-{proposal.index}: {response.kind};"
                    " retrying"
                )
                self.after(ALTER_PARTITION_RETRY_MS, "alter partition retry", retry)
                return
            assert isinstance(response, AlterPartitionResponse)
            if response.error_code is not ErrorCode.NONE:
                self.on_isr_change_answer(proposal, response.error_code)
            elif self._committed(proposal):
                self.on_isr_change_answer(proposal, ErrorCode.NONE)
            else:
                deadline = self.now() + ISR_COMMIT_WAIT_MS
                waiter = IsrWaiter(proposal, deadline)
                self.isr_waiters.append(waiter)
                self.after(ISR_COMMIT_WAIT_MS, "isr commit wait", lambda: self._give_up(waiter))

        def retry() -> None:
            if not self.alter_partition_superseded(proposal):
                self.link.send(request, on_reply, "requests")

        self.link.send(request, on_reply, "requests")

    def _committed(self, proposal: IsrProposal) -> bool:
        key = (proposal.topic, proposal.index)
        return self.partition_epoch_at_least(key, proposal.partition_epoch + 1)

    def _give_up(self, waiter: IsrWaiter) -> None:
        if waiter in self.isr_waiters:
            self.isr_waiters.remove(waiter)
            self.on_isr_change_answer(waiter.proposal, ErrorCode.NONE)

    def _expiry_interval(self) -> int:
        return max(self.settings.replica_lag_time_max_ms // 2, 10)

    def _expire_isr(self) -> None:
        self.expire_isr_round(self.settings.replica_lag_time_max_ms)
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
