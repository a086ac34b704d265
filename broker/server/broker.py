"""The broker process: one anyio task-group tree around the core, the logs and the listener.

``BrokerServer`` owns the state a single node needs (metadata image and controller, partition
states, the purgatory, the log manager) and the TCP listener; ``run`` is what
``odradek broker start`` calls.  SIGTERM / SIGINT stop the listener, flush every log, write the
checkpoints and the clean-shutdown marker, and return 0.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from broker import config as broker_config
from broker.config import BrokerConfig
from broker.core.controller import (
    ConfigValidationError,
    Controller,
    ControllerResult,
    ControllerSettings,
)
from broker.core.metadata import (
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicImage,
    record_from_dict,
    record_to_dict,
)
from broker.core.partition import Partition
from broker.core.producer_state import NeedBlock, ProducerIdAllocator
from broker.core.purgatory import Purgatory
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.log.metadata_log import MetadataLog
from broker.log.partition_log import PartitionLog
from broker.server import meta_properties
from broker.server.clock import monotonic_ms, wall_ms
from broker.server.connection import open_listener, serve_listener
from broker.server.dispatcher import Dispatcher
from broker.server.group_service import GroupService
from broker.server.handlers.fetch import DelayedFetch

log = logging.getLogger("odradek.broker")

TopicPartition = tuple[str, int]


class BrokerServer:
    """A single odradek node (combined broker + controller)."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.node_id = config.node_id
        self.log_dirs = [Path(directory).resolve() for directory in config.log_dirs]
        for directory in self.log_dirs:
            directory.mkdir(parents=True, exist_ok=True)
        self.cluster_id = meta_properties.load_or_create(self.log_dirs, self.node_id)
        self.metadata_log = MetadataLog(self.log_dirs[0])
        self.image = MetadataImage()
        for body in self.metadata_log.records:
            self.image.replay(record_from_dict(body))
        self.controller = Controller(
            self.image,
            ControllerSettings(config.num_partitions, config.default_replication_factor),
            _validate_topic_configs,
            random.Random(),
        )
        self.purgatory = Purgatory()
        self._expiry_wakeup = anyio.Event()
        self.partitions: dict[TopicPartition, Partition] = {}
        self.logs = LogManager.open(
            self.log_dirs, self.log_config({}), self._topic_log_config, wall_ms=wall_ms()
        )
        listener = config.listeners[0]
        self.bind_host = listener.host or "0.0.0.0"
        self.bind_port = listener.port
        advertised = (config.advertised_listeners or config.listeners)[0]
        self.advertised_host = advertised.host or "127.0.0.1"
        self.advertised_port = advertised.port
        self.dispatcher = Dispatcher(self)
        self.producer_ids = ProducerIdAllocator(self.image.next_producer_id)
        self.groups = GroupService(self)
        self._sync_partitions()

    # -- configuration --------------------------------------------------------------------

    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        values = broker_config.log_config_values(self.config, overrides)
        return LogConfig(**values)  # type: ignore[arg-type]

    def _topic_log_config(self, topic: str) -> LogConfig:
        image = self.image.topic(topic)
        return self.log_config(image.configs if image else {})

    # -- metadata -------------------------------------------------------------------------

    def commit(self, result: ControllerResult) -> None:
        """Persist a command's records, replay them, then bring the local replicas in line."""
        if not result.records:
            return
        self.metadata_log.append([record_to_dict(record) for record in result.records])
        self.controller.replay(result.records)
        self._apply(result.records)

    def _apply(self, records: Sequence[MetadataRecord]) -> None:
        for record in records:
            if isinstance(record, RemoveTopicRecord):
                self._drop_topic(record.topic_id)
        if any(isinstance(record, PartitionRecord) for record in records):
            self._sync_partitions()

    def _drop_topic(self, topic_id: str) -> None:
        doomed = [key for key, part in self.partitions.items() if str(part.topic_id) == topic_id]
        for key in doomed:
            del self.partitions[key]
        if doomed:
            self.logs.delete_topic(doomed[0][0])

    def register_self(self) -> None:
        """(Re-)register this node with its current endpoint; bumps the broker epoch."""
        previous = self.image.brokers.get(self.node_id)
        epoch = previous.broker_epoch + 1 if previous else 1
        record = RegisterBrokerRecord(
            self.node_id, uuid.uuid4().hex, epoch, self.advertised_host, self.advertised_port
        )
        self.commit(ControllerResult([record], []))

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before, reserving (and persisting) a block if needed."""
        allocated = self.producer_ids.next_id()
        if isinstance(allocated, NeedBlock):
            record = ProducerIdsRecord(self.node_id, allocated.next_producer_id)
            self.commit(ControllerResult([record], []))
            self.producer_ids.on_block(allocated.first_id, allocated.size)
            allocated = self.producer_ids.next_id()
        assert isinstance(allocated, int)
        return allocated

    def _sync_partitions(self) -> None:
        """Create a Partition (and its log) for every local replica the image names."""
        for topic in self.image.topics_by_name.values():
            for index, registration in topic.partitions.items():
                if self.node_id not in registration.replicas:
                    continue
                key = (topic.name, index)
                if key in self.partitions:
                    continue
                self.partitions[key] = self._open_partition(topic, index)
        self._drop_orphan_logs()

    def _open_partition(self, topic: TopicImage, index: int) -> Partition:
        registration = topic.partitions[index]
        log_ = self.logs.get(topic.name, index)
        if log_ is None:
            log_ = self.logs.create(
                topic.name, index, self.log_config(topic.configs), wall_ms=wall_ms()
            )
        partition = Partition(
            topic=topic.name,
            index=index,
            topic_id=topic.topic_id,
            local_broker_id=self.node_id,
            replicas=registration.replicas,
            isr=registration.isr,
            leader=registration.leader,
            leader_epoch=registration.leader_epoch,
            min_insync_replicas=self.min_insync_replicas(topic),
        )
        partition.on_local_append(log_.log_end_offset, 0)
        return partition

    def _drop_orphan_logs(self) -> None:
        """Logs of topics deleted while we were down (the image is the source of truth)."""
        orphans = {
            log_.topic for log_ in self.logs.logs() if log_.topic not in self.image.topics_by_name
        }
        for topic in orphans:
            self.logs.delete_topic(topic)

    def min_insync_replicas(self, topic: TopicImage) -> int:
        value = topic.configs.get("min.insync.replicas")
        return int(value) if value is not None else self.config.min_insync_replicas

    def partition_log(self, topic: str, index: int) -> PartitionLog:
        log_ = self.logs.get(topic, index)
        assert log_ is not None, (topic, index)
        return log_

    def on_appended(self, partition: Partition, size_bytes: int) -> None:
        """After a local append: advance the HW and wake the fetches parked on the partition."""
        log_ = self.partition_log(partition.topic, partition.index)
        partition.on_local_append(log_.log_end_offset, size_bytes)
        for operation in self.purgatory.check_and_complete((partition.topic, partition.index)):
            operation.on_complete()

    def watch_delayed(self, operation: DelayedFetch, keys: list[TopicPartition]) -> None:
        """Park a delayed operation; wake the expiry task if it now has an earlier deadline."""
        earliest = self.purgatory.next_deadline_ms()
        self.purgatory.watch(operation, keys)
        if earliest is None or operation.deadline_ms < earliest:
            self._expiry_wakeup.set()

    async def _expire_delayed(self) -> None:
        """The purgatory's reaper: completes operations whose deadline passed."""
        while True:
            self._expiry_wakeup = anyio.Event()
            deadline = self.purgatory.next_deadline_ms()
            delay = None if deadline is None else max(deadline - monotonic_ms(), 0) / 1000
            with anyio.move_on_after(delay):
                await self._expiry_wakeup.wait()
            for operation in self.purgatory.expire(monotonic_ms()):
                operation.on_complete()

    # -- lifecycle ------------------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = open_listener(self.bind_host, self.bind_port)
        port = int(listener.getsockname()[1])
        if self.advertised_port == 0:
            self.advertised_port = port
        self.register_self()
        log.info(
            "odradek node.id=%d listening on PLAINTEXT://%s:%d, data in %s",
            self.node_id,
            self.advertised_host,
            port,
            ", ".join(str(directory) for directory in self.log_dirs),
        )
        with listener:
            async with anyio.create_task_group() as group:
                group.start_soon(self._housekeeping)
                group.start_soon(self._expire_delayed)
                group.start_soon(self.groups.run_timers)
                task_status.started(port)
                await serve_listener(self, listener)

    async def _housekeeping(self) -> None:
        """Retention and producer-id expiry (producer.id.expiration.ms), on Kafka's interval."""
        interval_s = max(self.config.log_retention_check_interval_ms, 100) / 1000
        while True:
            await anyio.sleep(interval_s)
            now = wall_ms()
            for (topic, index), partition in self.partitions.items():
                log_ = self.logs.get(topic, index)
                if log_ is not None:
                    log_.enforce_retention(now, partition.high_watermark)
                    log_.producer_state.remove_expired(now, self.config.producer_id_expiration_ms)
            self.logs.checkpoint()

    def close(self) -> None:
        self.logs.close()
        self.metadata_log.close()


def _validate_topic_configs(configs: dict[str, str | None]) -> dict[str, str]:
    try:
        return broker_config.validate_topic_configs(configs)
    except broker_config.ConfigError as error:
        raise ConfigValidationError(str(error)) from error


async def _serve_until_signalled(server: BrokerServer) -> None:
    async with anyio.create_task_group() as group:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await group.start(server.serve)
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                group.cancel_scope.cancel()
                break


def _backend_options() -> dict[str, Any]:
    """uvloop when installed (measured faster here), unless ODRADEK_EVENT_LOOP=asyncio."""
    if os.environ.get("ODRADEK_EVENT_LOOP", "uvloop") == "asyncio":
        return {}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


def run(config: BrokerConfig) -> int:
    """Start a broker and serve until SIGTERM/SIGINT; 0 on a clean shutdown."""
    server = BrokerServer(config)
    try:
        anyio.run(
            _serve_until_signalled, server, backend="asyncio", backend_options=_backend_options()
        )
    finally:
        server.close()
        log.info("odradek node.id=%d stopped cleanly", server.node_id)
    return 0
