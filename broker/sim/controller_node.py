"""The simulated controller: ``ClusterControl`` + ``Controller`` over a ``MetadataImage``.

Mirrors ``broker/server/controller_server.py`` and ``handlers/controller_apis.py``: every
command's records are persisted (the metadata log, fsynced per append: it survives any crash),
replayed into the image, and handed to parked metadata fetches.  The registering connection of
each broker is remembered; when it closes (a crash, a reset) the broker is fenced
(``broker_disconnected``).  A restart replays the persisted records into a fresh image (P12):
soft state (heartbeat sessions, parked fetches, remembered connections) is gone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from broker import config as broker_config
from broker.core.cluster_control import ClusterControl, ClusterResult, ClusterSettings
from broker.core.controller import (
    ConfigValidationError,
    Controller,
    ControllerResult,
    ControllerSettings,
    NewTopic,
    TopicResult,
)
from broker.core.metadata import MetadataImage, MetadataRecord, record_from_dict, record_to_dict
from broker.sim.messages import (
    AlterPartitionRequest,
    AlterPartitionResponse,
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
    BrokerRegistrationRequest,
    BrokerRegistrationResponse,
    MetadataFetchRequest,
    MetadataFetchResponse,
)
from broker.sim.world import Host
from client.protocol.errors import ErrorCode

T = TypeVar("T")
TICK_INTERVAL_MS = 50  # controller_server.TICK_INTERVAL_MS
MAX_METADATA_WAIT_MS = 30_000


@dataclass(slots=True)
class MetadataLogDisk:
    """The controller's durable state: the metadata log (every append fsynced)."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def crash(self, rng: random.Random, *, power_loss: bool, torn_writes: bool) -> list[str]:
        """Nothing is lost: every append was fsynced before it was answered."""
        return []


@dataclass(frozen=True, slots=True)
class ControllerNodeSettings:
    cluster: ClusterSettings
    heartbeat_interval_ms: int
    auto_leader_rebalance_enable: bool = True
    leader_imbalance_check_interval_ms: int = 300_000
    max_records_per_fetch: int = 2000


def validate_topic_configs(configs: dict[str, str | None]) -> dict[str, str]:
    try:
        return broker_config.validate_topic_configs(configs)
    except broker_config.ConfigError as error:
        raise ConfigValidationError(str(error)) from error


@dataclass(slots=True)
class ParkedFetch:
    offset: int
    reply: Callable[[Any], None]
    done: bool = False


class SimController:
    """The active controller process."""

    def __init__(self, host: Host, settings: ControllerNodeSettings, rng: random.Random) -> None:
        self.host = host
        self.world = host.world
        self.settings = settings
        self.disk: MetadataLogDisk = host.disk
        self.image = MetadataImage()
        for body in self.disk.records:
            self.image.replay(record_from_dict(body))
        self.controller = Controller(
            self.image,
            ControllerSettings(1, 3),
            validate_topic_configs,
            rng,
            live_brokers=self.image.active_brokers,
        )
        self.cluster = ClusterControl(self.image, settings.cluster, self.world.now_ms)
        self.connections: dict[str, tuple[int, int]] = {}  # peer host -> (broker id, epoch)
        self.parked: list[ParkedFetch] = []
        self.next_balance_ms = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        now = self.world.now_ms
        self.cluster.reset_sessions(now)
        self.next_balance_ms = now + self.settings.leader_imbalance_check_interval_ms
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        interval = min(TICK_INTERVAL_MS, max(self.settings.heartbeat_interval_ms // 2, 1))
        self.world.after(self.host, interval, "controller tick", self._tick)

    def _tick(self) -> None:
        now = self.world.now_ms
        fenced = self.apply(self.cluster.tick(now))
        if fenced:
            self.world.log("controller", f"fenced {fenced}: no heartbeat within the session")
        if self.settings.auto_leader_rebalance_enable and now >= self.next_balance_ms:
            self.next_balance_ms = now + self.settings.leader_imbalance_check_interval_ms
            if self.cluster.imbalance_exceeds_threshold():
                moved = self.apply(self.cluster.elect_preferred_leaders())
                self.world.log("controller", f"preferred leader election moved {moved}")
        self._schedule_tick()

    # -- the metadata log -----------------------------------------------------------------

    @property
    def metadata_offset(self) -> int:
        return len(self.disk.records)

    def commit(self, records: list[MetadataRecord]) -> None:
        """Persist, replay, wake parked metadata fetches (ControllerServer.commit)."""
        if not records:
            return
        self.disk.records.extend(record_to_dict(record) for record in records)
        for record in records:
            self.image.replay(record)
            self.world.log("controller", f"record {self.image.records_replayed - 1}: {record}")
        parked, self.parked = self.parked, []
        for fetch in parked:
            self._answer_fetch(fetch)

    def apply(self, outcome: ClusterResult[T]) -> T:
        for warning in outcome.warnings:
            self.world.log("controller", f"ERROR {warning}")
        self.commit(outcome.records)
        return outcome.result

    def create_topics(self, topics: list[NewTopic]) -> list[TopicResult]:
        """CreateTopics forwarded by a broker (KIP-590), as the admin handler runs it."""
        result: ControllerResult = self.controller.create_topics(topics, validate_only=False)
        self.commit(result.records)
        return result.results

    # -- requests -------------------------------------------------------------------------

    def handle(self, source: str, request: Any, reply: Callable[[Any], None]) -> None:
        if isinstance(request, BrokerRegistrationRequest):
            reply(self._register(source, request))
        elif isinstance(request, BrokerHeartbeatRequest):
            reply(self._heartbeat(source, request))
        elif isinstance(request, AlterPartitionRequest):
            reply(self._alter_partition(request))
        elif isinstance(request, MetadataFetchRequest):
            self._metadata_fetch(request, reply)
        else:
            raise AssertionError(f"controller: unexpected request {request!r}")

    def _register(self, source: str, request: BrokerRegistrationRequest) -> Any:
        outcome = self.cluster.register_broker(
            request.broker_id,
            request.incarnation_id,
            host=request.host,
            port=request.port,
            rack=None,
            now_ms=self.world.now_ms,
            metadata_offset=self.metadata_offset,
        )
        result = self.apply(outcome)
        if result.error_code is ErrorCode.NONE:
            self.connections[source] = (request.broker_id, result.broker_epoch)
        return BrokerRegistrationResponse(result.error_code, result.broker_epoch)

    def _heartbeat(self, source: str, request: BrokerHeartbeatRequest) -> Any:
        outcome = self.cluster.heartbeat(
            request.broker_id,
            request.broker_epoch,
            current_metadata_offset=request.current_metadata_offset,
            want_fence=request.want_fence,
            want_shut_down=request.want_shut_down,
            now_ms=self.world.now_ms,
        )
        result = self.apply(outcome)
        if result.error_code is ErrorCode.NONE:
            self.connections[source] = (request.broker_id, request.broker_epoch)
        return BrokerHeartbeatResponse(result)

    def _alter_partition(self, request: AlterPartitionRequest) -> Any:
        result = self.apply(
            self.cluster.alter_partition(
                request.broker_id,
                request.broker_epoch,
                topic_id=request.topic_id,
                partition_index=request.partition_index,
                leader_epoch=request.leader_epoch,
                partition_epoch=request.partition_epoch,
                new_isr=list(request.new_isr_with_epochs),
            )
        )
        return AlterPartitionResponse(result.error_code, result.registration)

    def _metadata_fetch(self, request: MetadataFetchRequest, reply: Callable[[Any], None]) -> None:
        offset = request.fetch_offset
        if offset < 0 or offset > self.metadata_offset:
            reply(MetadataFetchResponse(ErrorCode.OFFSET_OUT_OF_RANGE, (), self.metadata_offset))
            return
        fetch = ParkedFetch(offset, reply)
        wait_ms = min(max(request.max_wait_ms, 0), MAX_METADATA_WAIT_MS)
        if offset < self.metadata_offset or wait_ms <= 0:
            self._answer_fetch(fetch)
            return
        self.parked.append(fetch)
        self.world.after(
            self.host, wait_ms, "metadata fetch expiry", lambda: self._answer_fetch(fetch)
        )

    def _answer_fetch(self, fetch: ParkedFetch) -> None:
        if fetch.done:
            return
        fetch.done = True
        end = fetch.offset + self.settings.max_records_per_fetch
        bodies = tuple(self.disk.records[fetch.offset : end])
        fetch.reply(MetadataFetchResponse(ErrorCode.NONE, bodies, self.metadata_offset))

    def on_connection_closed(self, peer: str, channel: str) -> None:
        """A broker's registering connection closed: fence it if that epoch is current."""
        if channel not in ("lifecycle", "*"):
            return
        remembered = self.connections.pop(peer, None)
        if remembered is None:
            return
        broker_id, broker_epoch = remembered
        outcome = self.cluster.broker_disconnected(broker_id, broker_epoch, self.world.now_ms)
        if outcome.result:
            self.world.log(
                "controller", f"broker {broker_id} (epoch {broker_epoch}) disconnected: fenced"
            )
        self.apply(outcome)
