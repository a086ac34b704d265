"""The controller process (``process.roles=controller``, or inside a combined node).

It owns the cluster metadata: an append-only, fsynced metadata log whose records fold into the
:class:`~broker.core.metadata.MetadataImage`.  Commands from the core (topic commands, broker
registration and heartbeats, AlterPartition, fencing on the session timeout) return records;
:meth:`ControllerServer.commit` persists them, replays them and wakes every waiting metadata
fetch.  Brokers follow the log as topic ``__cluster_metadata`` partition 0 with ordinary
long-polled Fetch requests (one JSON record per Kafka record, offset = position in the log).

The connection a broker registered on is watched: when it closes (kill -9 closes it at once) the
broker is fenced if its broker epoch still matches, so failover does not wait for the session
timeout.  A single active controller for now; its state is the log, so a quorum can replicate
the same records later without touching the brokers.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskStatus

from broker import config as broker_config
from broker.config import BrokerConfig
from broker.core.cluster_control import ClusterControl, ClusterResult, ClusterSettings
from broker.core.controller import (
    ConfigValidationError,
    Controller,
    ControllerResult,
    ControllerSettings,
)
from broker.core.metadata import MetadataImage, MetadataRecord, record_from_dict, record_to_dict
from broker.log.metadata_log import MetadataLog, next_leader_epoch
from broker.server.clock import monotonic_ms, wall_ms
from broker.server.connection import open_listener, serve_listener
from broker.server.dispatcher import Dispatcher
from client.protocol.records import Record, build_batch

log = logging.getLogger("odradek.controller")

METADATA_TOPIC = "__cluster_metadata"
MAX_RECORDS_PER_FETCH = 2000
TICK_INTERVAL_MS = 50

T = TypeVar("T")
MetadataListener = Callable[[Sequence[MetadataRecord]], None]


def validate_topic_configs(configs: dict[str, str | None]) -> dict[str, str]:
    try:
        return broker_config.validate_topic_configs(configs)
    except broker_config.ConfigError as error:
        raise ConfigValidationError(str(error)) from error


class ControllerServer:
    """The active controller: metadata log, image, commands, and its CONTROLLER listener."""

    forwards_to_controller = False

    def __init__(self, config: BrokerConfig, metadata_dir: Path, cluster_id: str) -> None:
        self.config = config
        self.cluster_id = cluster_id
        self.node_id = config.node_id
        self.metadata_log = MetadataLog(metadata_dir)
        self.leader_epoch = next_leader_epoch(metadata_dir, self.node_id)
        # DescribeQuorum's observers: broker id -> (its next metadata offset, wall ms of that
        # fetch, wall ms of its last fetch at the log end).
        self.observers: dict[int, tuple[int, int, int]] = {}
        self.records: list[dict[str, Any]] = list(self.metadata_log.records)
        self.image = MetadataImage()
        for body in self.records:
            self.image.replay(record_from_dict(body))
        self.controller = Controller(
            self.image,
            ControllerSettings(config.num_partitions, config.default_replication_factor),
            validate_topic_configs,
            random.Random(),
            live_brokers=self.image.active_brokers,
        )
        self.cluster = ClusterControl(
            self.image,
            ClusterSettings(
                broker_session_timeout_ms=config.broker_session_timeout_ms,
                unclean_leader_election_enable=config.unclean_leader_election_enable,
                leader_imbalance_per_broker_percentage=config.leader_imbalance_per_broker_percentage,
            ),
            monotonic_ms(),
        )
        self.listeners: list[MetadataListener] = []
        self._appended = anyio.Event()
        from broker.server.handlers.controller_apis import CONTROLLER_HANDLERS

        self.dispatcher = Dispatcher(self, CONTROLLER_HANDLERS)
        self.port: int | None = None

    # -- the metadata log ----------------------------------------------------------------

    @property
    def metadata_offset(self) -> int:
        """The offset the next record will get (= records in the log)."""
        return len(self.records)

    def commit(self, result: ControllerResult | Sequence[MetadataRecord]) -> None:
        """Persist records, replay them, tell the co-located broker, wake metadata fetches."""
        records = list(result.records if isinstance(result, ControllerResult) else result)
        if not records:
            return
        bodies = [record_to_dict(record) for record in records]
        self.metadata_log.append(bodies)
        self.records.extend(bodies)
        for record in records:
            self.image.replay(record)
        for listener in self.listeners:
            listener(records)
        self._appended.set()
        self._appended = anyio.Event()

    def apply(self, outcome: ClusterResult[T]) -> T:
        """Commit a lifecycle command's records, log its warnings loudly, return its answer."""
        for warning in outcome.warnings:
            log.error("%s", warning)
        self.commit(outcome.records)
        return outcome.result

    def on_metadata_fetch(self, replica_id: int, offset: int, now_wall_ms: int) -> None:
        """A broker fetched the metadata log from ``offset`` (it has everything below)."""
        if replica_id < 0:
            return
        caught_up = self.observers.get(replica_id, (0, -1, -1))[2]
        if offset >= self.metadata_offset:
            caught_up = now_wall_ms
        self.observers[replica_id] = (offset, now_wall_ms, caught_up)

    def metadata_batch(self, offset: int) -> bytes:
        """Records from ``offset`` as one Kafka record batch (empty at the end of the log)."""
        bodies = self.records[offset : offset + MAX_RECORDS_PER_FETCH]
        if not bodies:
            return b""
        now = wall_ms()
        records = [
            Record(0, now, None, json.dumps(body, separators=(",", ":")).encode())
            for body in bodies
        ]
        return bytes(build_batch(records, base_offset=offset, timestamp_ms=now))

    async def wait_for_records(self, offset: int, timeout_ms: int) -> None:
        """Return once the log extends past ``offset``, or after ``timeout_ms``."""
        if offset < self.metadata_offset or timeout_ms <= 0:
            return
        event = self._appended
        with anyio.move_on_after(timeout_ms / 1000):
            await event.wait()

    # -- brokers' connections ----------------------------------------------------------------

    def on_connection_closed(self, state: dict[str, Any]) -> None:
        registered = state.get("broker")
        if registered is None:
            return
        broker_id, broker_epoch = registered
        outcome = self.cluster.broker_disconnected(broker_id, broker_epoch, monotonic_ms())
        if outcome.result:
            log.info("broker %d (epoch %d) disconnected: fenced", broker_id, broker_epoch)
        self.apply(outcome)

    # -- lifecycle -------------------------------------------------------------------------

    def controller_listener(self) -> tuple[str, int] | None:
        for listener in self.config.listeners:
            if listener.name in self.config.controller_listener_names:
                return listener.host or "0.0.0.0", listener.port
        return None

    async def serve(
        self, *, task_status: TaskStatus[int | None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.cluster.reset_sessions(monotonic_ms())
        address = self.controller_listener()
        async with anyio.create_task_group() as group:
            group.start_soon(self._tick)
            if address is None:
                task_status.started(None)
                await anyio.sleep_forever()
            else:
                host, port = address
                listener = open_listener(host, port)
                self.port = int(listener.getsockname()[1])
                log.info(
                    "odradek controller node.id=%d listening on CONTROLLER://%s:%d",
                    self.node_id,
                    host,
                    self.port,
                )
                with listener:
                    task_status.started(self.port)
                    await serve_listener(self, listener)

    async def _tick(self) -> None:
        """Session timeouts, and the preferred-leader check every
        leader.imbalance.check.interval.seconds."""
        interval_ms = min(TICK_INTERVAL_MS, max(self.config.broker_heartbeat_interval_ms // 2, 1))
        next_balance = monotonic_ms() + self.config.leader_imbalance_check_interval_seconds * 1000
        while True:
            await anyio.sleep(interval_ms / 1000)
            now = monotonic_ms()
            fenced = self.apply(self.cluster.tick(now))
            if fenced:
                log.info("fenced brokers %s: no heartbeat within the session timeout", fenced)
            if self.config.auto_leader_rebalance_enable and now >= next_balance:
                next_balance = now + self.config.leader_imbalance_check_interval_seconds * 1000
                if self.cluster.imbalance_exceeds_threshold():
                    moved = self.apply(self.cluster.elect_preferred_leaders())
                    log.info("preferred leader election moved %d partitions", len(moved))

    def close(self) -> None:
        self.metadata_log.close()
