"""The broker process: one anyio task-group tree around the core, the logs and the listener.

``BrokerServer`` owns the state a single node needs (metadata image and controller, partition
states, the purgatory, the log manager) and the TCP listener; ``run`` is what
``odradek broker start`` calls.  SIGTERM / SIGINT stop the listener, flush every log, write the
checkpoints and the clean-shutdown marker, and return 0.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import uuid
from collections.abc import Callable, Collection, Hashable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.abc import TaskStatus
from construct import Container

from broker import config as broker_config
from broker.config import BrokerConfig
from broker.core import scram_control
from broker.core.acl import Authorizer
from broker.core.client_quotas import QuotaWindow
from broker.core.controller import Controller, ControllerResult, NewTopic, TopicResult
from broker.core.metadata import (
    BROKER_RESOURCE,
    AccessControlEntryRecord,
    ClientQuotaRecord,
    ConfigRecord,
    FenceBrokerRecord,
    MetadataImage,
    MetadataRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveAccessControlEntryRecord,
    UnfenceBrokerRecord,
)
from broker.core.partition import IsrProposal, Partition
from broker.core.peer_watch import PeerWatch
from broker.core.producer_state import NeedBlock, ProducerIdAllocator
from broker.core.purgatory import DelayedOperation
from broker.log.cleaner import CleanerStats, CleanJob
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.log.partition_log import PartitionLog
from broker.server import internal_topics, meta_properties
from broker.server.clock import monotonic_ms, wall_ms
from broker.server.connection import (
    ServedListener,
    current_listener,
    open_listener,
    serve_listener,
)
from broker.server.controller_link import ControllerLink
from broker.server.controller_server import ControllerServer
from broker.server.dispatcher import Dispatcher
from broker.server.group_service import GroupService
from broker.server.internal_topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from broker.server.quotas import BrokerQuotas
from broker.server.replica_fetchers import ReplicaFetcherManager
from broker.server.replica_manager import ALTER_PARTITION_RETRY_MS, ReplicaManager
from broker.server.share_service import ShareService
from broker.server.txn_service import TxnService
from client.errors import KafkaError
from client.protocol import records
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader
from client.sasl import ScramCredential

log = logging.getLogger("odradek.broker")

TopicPartition = tuple[str, int]
CONTROLLED_SHUTDOWN_TIMEOUT_MS = 10_000
# The longest a Metadata answer waits for the controller's verdict on a peer this broker just
# lost (``leaders_settled``).
MAX_SETTLE_WAIT_MS = 2_000


class BrokerServer(ReplicaManager):
    """An odradek broker; with ``process.roles=broker,controller`` also its controller.

    Combined (the single-node default): the controller runs in this process and shares its
    metadata image; commands are calls.  Broker only: a :class:`ControllerLink` registers,
    heartbeats, follows the metadata log and forwards commands to the controller process.
    """

    replica_fetchers: ReplicaFetcherManager

    def __init__(self, config: BrokerConfig) -> None:
        # ``config`` is the static configuration (file, --set, defaults); ``self.config`` has
        # the dynamic broker configs of the metadata on top (``_refresh_dynamic_config``).
        self.static_config = config
        self.config = config
        self.node_id = config.node_id
        self.log_dirs = [Path(directory).resolve() for directory in config.log_dirs]
        for directory in self.log_dirs:
            directory.mkdir(parents=True, exist_ok=True)
        self.controller_server: ControllerServer | None = None
        self.link: ControllerLink | None = None
        self.cluster_id: str | None
        if "controller" in config.process_roles:
            self.cluster_id = meta_properties.load_or_create(
                self.log_dirs, self.node_id, config.cluster_id
            )
            self.controller_server = ControllerServer(config, self.log_dirs[0], self.cluster_id)
            self.image = self.controller_server.image
            self.controller_server.listeners.append(self._apply)
        else:
            # A broker joins the controller's cluster: the id comes from the data dir, the
            # config, or (first start) the controller itself, before registering.
            self.cluster_id = meta_properties.read_cluster_id(self.log_dirs, self.node_id)
            configured = config.cluster_id
            if self.cluster_id is None:
                self.cluster_id = configured
            elif configured is not None and configured != self.cluster_id:
                raise meta_properties.MetaPropertiesError(
                    f"the data directory belongs to cluster {self.cluster_id}, "
                    f"but cluster.id is {configured}"
                )
            self.image = MetadataImage()
            self.link = ControllerLink(self)
        self.forwards_to_controller = self.controller_server is None
        self.broker_epoch = -1
        self.incarnation_id = uuid.uuid4()
        self._expiry_wakeup = anyio.Event()
        self._metadata_changed = anyio.Event()
        self.peer_watch = PeerWatch(self.config.broker_session_timeout_ms)
        self._refresh_dynamic_config()  # a combined node's image is loaded already
        logs = LogManager.open(
            self.log_dirs, self.log_config({}), self._topic_log_config, wall_ms=wall_ms()
        )
        self._init_replicas(self.node_id, self.image, logs)
        # Every listener that is not a controller listener serves clients; the inter-broker
        # one (inter.broker.listener.name, else the first) is where other brokers fetch and
        # send markers.  Each has its own SASL settings (None: PLAINTEXT).
        self.client_listeners = [
            ServedListener.of(config, listener)
            for listener in config.listeners
            if listener.name not in config.controller_listener_names
        ]
        self.inter_broker = self.served_listener(broker_config.inter_broker_listener(config))
        self.inter_broker_sasl = broker_config.inter_broker_sasl(config, self.inter_broker.name)
        self.inter_broker_ssl = broker_config.inter_broker_ssl(config, self.inter_broker.name)
        self.quotas = BrokerQuotas(
            QuotaWindow(config.quota_window_num, config.quota_window_size_seconds * 1000)
        )
        self.quotas.refresh(self.image.client_quotas)
        self.authorizer: Authorizer | None = None
        if config.authorizer_class_name:
            self.authorizer = Authorizer(
                broker_config.super_users(config), config.allow_everyone_if_no_acl_found
            )
            self.authorizer.set_acls(self.image.acls.values())
        self.dispatcher = Dispatcher(self)
        self.producer_ids = ProducerIdAllocator(self.image.next_producer_id)
        self.groups = GroupService(self)
        self.shares = ShareService(self)
        self.txns = TxnService(self)
        self.replica_fetchers = ReplicaFetcherManager(self)
        self._task_group: anyio.abc.TaskGroup | None = None
        # A broker-only node replays the metadata log from the start after a restart: its
        # partitions follow the image only once it has caught up (``metadata_ready``).
        if self.controller_server is not None:
            self.on_metadata_caught_up()  # the shared image is complete already

    def adopt_cluster_id(self, cluster_id: str) -> None:
        """First start of a broker: take the controller's cluster id and record it."""
        self.cluster_id = cluster_id
        meta_properties.write_missing(self.log_dirs, self.node_id, cluster_id)

    def scram_lookup(self, mechanism: str, user: str) -> ScramCredential | None:
        """A user's SCRAM credential from the metadata (for SASL/SCRAM logins)."""
        return scram_control.lookup(self.image, mechanism, user)

    def served_listener(self, name: str) -> ServedListener:
        return next(item for item in self.client_listeners if item.name == name)

    @property
    def advertised_host(self) -> str:
        return self.inter_broker.advertised_host

    @property
    def advertised_port(self) -> int:
        return self.inter_broker.advertised_port

    def registered_listeners(self) -> list[ServedListener]:
        """The listeners to register, the inter-broker one first."""
        first = self.inter_broker
        return [first, *(item for item in self.client_listeners if item is not first)]

    # -- configuration --------------------------------------------------------------------

    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        values = broker_config.log_config_values(self.config, overrides)
        return LogConfig(**values)  # type: ignore[arg-type]

    def _topic_log_config(self, topic: str) -> LogConfig:
        image = self.image.topic(topic)
        return self.log_config(image.configs if image else {})

    def default_min_insync_replicas(self) -> int:
        return self.config.min_insync_replicas

    # -- ReplicaManager's hooks -----------------------------------------------------------

    def now_ms(self) -> int:
        return monotonic_ms()

    def wall_now_ms(self) -> int:
        return wall_ms()

    def info(self, message: str) -> None:
        log.info("%s", message)

    def warning(self, message: str) -> None:
        log.warning("%s", message)

    def on_leadership_change(self, partition: Partition) -> None:
        if partition.topic == OFFSETS_TOPIC:
            self.groups.on_leadership_change(partition.index, partition.is_leader)
        elif partition.topic == TRANSACTION_STATE_TOPIC:
            self.txns.on_leadership_change(
                partition.index, partition.is_leader, partition.leader_epoch
            )

    @property
    def task_group(self) -> anyio.abc.TaskGroup | None:
        """The server's task group once it serves (background work of coordinators)."""
        return self._task_group

    async def write_markers_locally(
        self,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        coordinator_epoch: int,
        partitions: list[tuple[str, int]],
    ) -> dict[tuple[str, int], ErrorCode]:
        """Write an end-transaction marker to each partition this broker leads and wait
        until the markers are committed (WriteTxnMarkers, acks=all as in Kafka)."""
        errors: dict[tuple[str, int], ErrorCode] = {}
        required: dict[tuple[str, int], tuple[int, int]] = {}
        now = wall_ms()
        for key in partitions:
            local = self.partitions.get(key)
            if local is None or not local.is_leader:
                errors[key] = ErrorCode.NOT_LEADER_OR_FOLLOWER
                continue
            log_ = self.partition_log(*key)
            refused = log_.check_marker(producer_id, producer_epoch, coordinator_epoch)
            if refused is not None:
                errors[key] = refused.error_code
                continue
            result = log_.append_marker(
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                coordinator_epoch=coordinator_epoch,
                commit=commit,
                leader_epoch=local.leader_epoch,
                wall_ms=now,
            )
            self.on_appended(local, result.size_bytes)
            required[key] = (local.log_end_offset, local.leader_epoch)
            errors[key] = ErrorCode.NONE
        if required:
            timeout_ms = self.config.offsets_commit_timeout_ms
            failed = await internal_topics.await_committed(self, required, timeout_ms)
            for key, status in failed.items():
                errors[key] = ErrorCode.REQUEST_TIMED_OUT if status is None else status
        for (topic, index), error in errors.items():
            if topic == OFFSETS_TOPIC and error is ErrorCode.NONE:
                self.groups.on_txn_marker(index, producer_id, commit)
        return errors

    # -- metadata -------------------------------------------------------------------------

    @property
    def controller(self) -> Controller:
        assert self.controller_server is not None, "broker-only: commands go to the controller"
        return self.controller_server.controller

    def commit(self, result: ControllerResult) -> None:
        """Combined mode: persist a command's records; the listener applies them here."""
        assert self.controller_server is not None
        self.controller_server.commit(result)

    @property
    def metadata_offset(self) -> int:
        """The offset of the last metadata record applied (-1: none)."""
        return self.image.records_replayed - 1

    def apply_metadata(self, records: Sequence[MetadataRecord]) -> None:
        """Broker only: records fetched from the controller, in log order."""
        for record in records:
            self.image.replay(record)
        self._apply(records)

    def _refresh_dynamic_config(self) -> bool:
        """Take the dynamic broker configs of the image (this broker's over the cluster
        default's) on top of the static ones; whether anything changed."""
        default = self.image.broker_configs.get("", {})
        own = self.image.broker_configs.get(str(self.node_id), {})
        if default == self.config.dynamic_default and own == self.config.dynamic_broker:
            return False
        merged, warnings = broker_config.with_dynamic(self.static_config, default, own)
        for warning in warnings:
            log.warning("%s", warning)
        self.config = merged
        shown = {**merged.dynamic_default, **merged.dynamic_broker}
        log.info("dynamic broker configs in effect: %s", shown or "none")
        return True

    def _dynamic_config_changed(self, records: Sequence[MetadataRecord]) -> bool:
        mine = ("", str(self.node_id))
        return any(
            isinstance(record, ConfigRecord)
            and record.resource_type == BROKER_RESOURCE
            and record.resource_name in mine
            for record in records
        )

    def _apply(self, records: Sequence[MetadataRecord]) -> None:
        now = monotonic_ms()
        reconfigured = self._dynamic_config_changed(records) and self._refresh_dynamic_config()
        if reconfigured and self.metadata_ready:
            self.apply_topic_configs()  # every partition's effective config may change
        for record in records:
            if isinstance(record, FenceBrokerRecord):
                self.peer_watch.on_fenced(record.broker_id, now)
            elif isinstance(record, RegisterBrokerRecord | UnfenceBrokerRecord):
                self.peer_watch.on_registered(record.broker_id)
        if any(isinstance(record, ClientQuotaRecord) for record in records):
            self.quotas.refresh(self.image.client_quotas)
        if self.authorizer is not None and any(
            isinstance(record, AccessControlEntryRecord | RemoveAccessControlEntryRecord)
            for record in records
        ):
            self.authorizer.set_acls(self.image.acls.values())
        self.on_metadata_records(records)
        self._notify_metadata_waiters()

    def _notify_metadata_waiters(self) -> None:
        self._metadata_changed.set()
        self._metadata_changed = anyio.Event()

    async def await_metadata(self, done: Callable[[], bool], timeout_ms: int = 10_000) -> None:
        """Wait (bounded) until the metadata applied here satisfies ``done``."""
        with anyio.move_on_after(timeout_ms / 1000):
            while not done():
                await self._metadata_changed.wait()

    # -- peers this broker just lost or saw fenced (broker/core/peer_watch.py) ---------------

    def on_peer_unreachable(self, broker_id: int) -> None:
        self.peer_watch.on_unreachable(broker_id, monotonic_ms())

    def on_peer_reachable(self, broker_id: int) -> None:
        if self.peer_watch.on_reachable(broker_id):
            self._notify_metadata_waiters()

    def just_fenced_brokers(self) -> set[int]:
        """Brokers fenced less than ``FENCED_LISTING_GRACE_MS`` ago: Metadata answers still
        list them (why: broker/core/peer_watch.py)."""
        return self.peer_watch.listed_while_fenced(monotonic_ms())

    async def leaders_settled(self, topics: Collection[str] | None) -> None:
        """Before a Metadata answer: if it would name as leader a peer this broker has just
        lost its replica-fetch connection to (a kill -9 closes it at once), wait for the
        controller's verdict (the peer fenced, the leader moved) or the connection back.

        Answering at once would send the client back to the dead leader, and clients back
        off exponentially between metadata refreshes (librdkafka's next look came 0.4-1.5 s
        later): the election itself takes ~10 ms.  Bounded by ``MAX_SETTLE_WAIT_MS`` and by
        the session timeout since the loss (after which the controller has fenced a dead
        peer anyway, so a peer still unfenced is alive)."""
        self.replica_fetchers.check_peers()
        suspects = self.peer_watch.suspects(monotonic_ms())
        if not suspects or not self.image.leaders_in_doubt(suspects, topics):
            return
        wait_ms = self.peer_watch.settle_wait_ms(suspects, monotonic_ms(), MAX_SETTLE_WAIT_MS)
        await self.await_metadata(
            lambda: (
                not self.image.leaders_in_doubt(self.peer_watch.suspects(monotonic_ms()), topics)
            ),
            wait_ms,
        )

    def reported_controller_id(self) -> int:
        """KIP-590: clients are given a live broker as the controller; requests to it are
        forwarded to the real controller."""
        live = self.image.active_brokers()
        if self.node_id in live or not live:
            return self.node_id
        return live[0]

    def live_brokers(self) -> list[int]:
        return self.image.active_brokers()

    def partition_leader_endpoint(self, topic: str, index: int) -> tuple[int, str, int] | None:
        """(broker id, host, port) of the partition's live leader, from the metadata."""
        image = self.image.topic(topic)
        registration = image.partitions.get(index) if image is not None else None
        if registration is None or registration.leader < 0:
            return None
        endpoint = self.broker_endpoint(registration.leader, current_listener.get())
        if endpoint is None:
            return None
        return registration.leader, endpoint[0], endpoint[1]

    def broker_endpoint(
        self, broker_id: int, listener: str | None = None
    ) -> tuple[str, int] | None:
        """(host, port) of a broker on ``listener`` (None: its inter-broker listener)."""
        registration = self.image.brokers.get(broker_id)
        if registration is None:
            return None
        return registration.endpoint(listener)

    async def forward_to_controller(self, header: RequestHeader, request: Container) -> Container:
        """KIP-590: send a client's controller command on to the controller, as it came."""
        assert self.link is not None
        return await self.link.send(header.api_key, request, version=header.api_version)

    async def answered_by_controller(
        self,
        header: RequestHeader,
        request: Container,
        answer: Callable[[ControllerServer], dict[str, Any]],
    ) -> Any:
        """A controller command: a combined node ``answer``s it itself, a broker-only node
        forwards it as it came (:meth:`forward_to_controller`)."""
        if not self.forwards_to_controller:
            assert self.controller_server is not None
            return answer(self.controller_server)
        return await self.forward_to_controller(header, request)

    async def create_topics(self, topics: list[NewTopic]) -> list[TopicResult]:
        """Create topics for the broker itself (auto-creation, internal topics)."""
        if self.controller_server is not None:
            result = self.controller.create_topics(topics, validate_only=False)
            self.commit(result)
            return result.results
        assert self.link is not None
        response = await self.link.send(
            19,
            {
                "topics": [
                    {
                        "name": topic.name,
                        "num_partitions": topic.num_partitions,
                        "replication_factor": topic.replication_factor,
                        "assignments": [],
                        "configs": [
                            {"name": key, "value": value} for key, value in topic.configs.items()
                        ],
                    }
                    for topic in topics
                ],
                "timeout_ms": 30_000,
                "validate_only": False,
            },
            version=5,
        )
        results = [
            TopicResult(item.name, ErrorCode(item.error_code), item.error_message)
            for item in response.topics
        ]
        created = [r.name for r in results if r.error_code is ErrorCode.NONE]
        await self.await_metadata(lambda: all(self.image.topic(name) for name in created))
        return results

    # -- registration and heartbeats (combined mode: calls) --------------------------------

    def register_self(self) -> None:
        """Combined mode: register with the local controller and get unfenced at once."""
        server = self.controller_server
        assert server is not None
        result = server.apply(
            server.cluster.register_broker(
                self.node_id,
                self.incarnation_id.hex,
                host=self.advertised_host,
                port=self.advertised_port,
                rack=self.config.broker_rack or None,
                now_ms=monotonic_ms(),
                metadata_offset=server.metadata_offset,
                listeners=tuple(
                    (item.name, item.advertised_host, item.advertised_port)
                    for item in self.registered_listeners()
                ),
            )
        )
        assert result.error_code is ErrorCode.NONE, result
        self.broker_epoch = result.broker_epoch
        self._local_heartbeat(want_shut_down=False)

    def _local_heartbeat(self, *, want_shut_down: bool) -> bool:
        """One heartbeat to the local controller; True when we may shut down."""
        server = self.controller_server
        assert server is not None
        result = server.apply(
            server.cluster.heartbeat(
                self.node_id,
                self.broker_epoch,
                current_metadata_offset=self.metadata_offset,
                want_fence=False,
                want_shut_down=want_shut_down,
                now_ms=monotonic_ms(),
            )
        )
        if result.error_code is not ErrorCode.NONE:
            log.warning("local heartbeat: %s; registering again", ErrorCode(result.error_code).name)
            self.register_self()
            return False
        return result.should_shut_down

    async def _local_heartbeats(self) -> None:
        while True:
            await anyio.sleep(self.config.broker_heartbeat_interval_ms / 1000)
            self._local_heartbeat(want_shut_down=False)

    async def controlled_shutdown(self, timeout_ms: int) -> None:
        """SIGTERM: ask the controller to move our leaderships away, wait (bounded) for it."""
        with anyio.move_on_after(timeout_ms / 1000):
            if self.controller_server is not None:
                while not self._local_heartbeat(want_shut_down=True):
                    # Peers must apply the leadership moves first; heartbeat as metadata moves.
                    with anyio.move_on_after(0.05):
                        await self._metadata_changed.wait()
            elif self.link is not None and self.broker_epoch >= 0:
                self.link.request_shutdown()
                await self.link.should_shut_down.wait()

    # -- producer ids ---------------------------------------------------------------------

    async def allocate_producer_id(self) -> int:
        """A producer id never handed out before, reserving (and persisting) a block if needed."""
        allocated = self.producer_ids.next_id()
        if isinstance(allocated, NeedBlock):
            if self.controller_server is not None:
                record = ProducerIdsRecord(self.node_id, allocated.next_producer_id)
                self.commit(ControllerResult([record], []))
                self.producer_ids.on_block(allocated.first_id, allocated.size)
            else:
                assert self.link is not None
                response = await self.link.send(
                    67, {"broker_id": self.node_id, "broker_epoch": self.broker_epoch}
                )
                error = ErrorCode(response.error_code)
                if error is not ErrorCode.NONE:
                    raise RuntimeError(f"AllocateProducerIds: {error.name}")
                self.producer_ids.on_block(response.producer_id_start, response.producer_id_len)
            allocated = self.producer_ids.next_id()
        assert isinstance(allocated, int)
        return allocated

    # -- ISR changes (AlterPartition) -------------------------------------------------------

    def send_alter_partition(self, proposal: IsrProposal) -> None:
        if self.controller_server is not None:
            server = self.controller_server
            result = server.apply(
                server.cluster.alter_partition(
                    self.node_id,
                    self.broker_epoch,
                    topic_id=proposal.topic_id,
                    partition_index=proposal.index,
                    leader_epoch=proposal.leader_epoch,
                    partition_epoch=proposal.partition_epoch,
                    new_isr=list(zip(proposal.new_isr, proposal.broker_epochs, strict=True)),
                )
            )
            self.on_isr_change_answer(proposal, result.error_code)
            return
        if self._task_group is not None:
            self._task_group.start_soon(self._send_alter_partition_remote, proposal)

    async def _send_alter_partition_remote(self, proposal: IsrProposal) -> None:
        """AlterPartition to the controller.  A transport failure is not a refusal (the
        controller may have committed it): keep the proposal pending and ask again, as Kafka's
        AlterPartitionManager does, until an answer comes or the partition moved on."""
        assert self.link is not None
        key = (proposal.topic, proposal.index)
        while True:
            try:
                error = await self._alter_partition_request(proposal)
                break
            except KafkaError as problem:
                log.info("AlterPartition for %s-%d: %s; retrying", *key, problem)
            if self.alter_partition_superseded(proposal):
                return  # a new state arrived with the metadata
            await anyio.sleep(ALTER_PARTITION_RETRY_MS / 1000)
        if error is ErrorCode.NONE:
            # The committed state arrives with the metadata; wait (bounded) for it.
            await self.await_metadata(
                lambda: self.partition_epoch_at_least(key, proposal.partition_epoch + 1), 5_000
            )
        self.on_isr_change_answer(proposal, error)

    async def _alter_partition_request(self, proposal: IsrProposal) -> ErrorCode:
        assert self.link is not None
        response = await self.link.send(
            56,
            {
                "broker_id": self.node_id,
                "broker_epoch": self.broker_epoch,
                "topics": [
                    {
                        "topic_id": proposal.topic_id,
                        "partitions": [
                            {
                                "partition_index": proposal.index,
                                "leader_epoch": proposal.leader_epoch,
                                "new_isr_with_epochs": [
                                    {"broker_id": broker, "broker_epoch": epoch}
                                    for broker, epoch in zip(
                                        proposal.new_isr, proposal.broker_epochs, strict=True
                                    )
                                ],
                                "leader_recovery_state": 0,
                                "partition_epoch": proposal.partition_epoch,
                            }
                        ],
                    }
                ],
            },
            version=3,
        )
        error = ErrorCode(response.error_code)
        if error is ErrorCode.NONE:
            error = ErrorCode(response.topics[0].partitions[0].error_code)
        return error

    async def _expire_isr(self) -> None:
        """Kafka's isr-expiration task: every replica.lag.time.max.ms / 2."""
        lag_ms = self.config.replica_lag_time_max_ms
        while True:
            await anyio.sleep(max(lag_ms // 2, 10) / 1000)
            self.expire_isr_round(lag_ms)

    async def _checkpoint_high_watermarks(self) -> None:
        interval_s = self.config.replica_high_watermark_checkpoint_interval_ms / 1000
        while True:
            await anyio.sleep(interval_s)
            self.logs.checkpoint(self.high_watermarks())

    # -- the purgatory --------------------------------------------------------------------

    def watch_delayed(self, operation: DelayedOperation, keys: Sequence[Hashable]) -> None:
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
        with contextlib.ExitStack() as sockets:
            bound = []
            for served in self.client_listeners:
                sock = sockets.enter_context(open_listener(served.bind_host, served.bind_port))
                served.bind(int(sock.getsockname()[1]))
                bound.append((served, sock))
            async with anyio.create_task_group() as group:
                self._task_group = group
                group.start_soon(self.replica_fetchers.run)
                if self.controller_server is not None:
                    await group.start(self.controller_server.serve)
                    self.register_self()
                    group.start_soon(self._local_heartbeats)
                else:
                    assert self.link is not None
                    group.start_soon(self.link.run)
                    await self.link.unfenced.wait()
                log.info(
                    "odradek node.id=%d listening on %s, data in %s",
                    self.node_id,
                    ", ".join(served.describe() for served, _ in bound),
                    ", ".join(str(directory) for directory in self.log_dirs),
                )
                group.start_soon(self._housekeeping)
                if self.config.log_cleaner_enable:
                    group.start_soon(self._clean_logs)
                group.start_soon(self._expire_delayed)
                group.start_soon(self._expire_isr)
                group.start_soon(self._checkpoint_high_watermarks)
                group.start_soon(self.groups.run_timers)
                group.start_soon(self.shares.run_timers)
                group.start_soon(self.txns.run_timers)
                for served, sock in bound[1:]:
                    group.start_soon(serve_listener, self, sock, served)
                task_status.started(bound[0][0].bound_port)
                await serve_listener(self, bound[0][1], bound[0][0])

    def on_connection_closed(self, state: dict[str, Any]) -> None:
        """A client connection closed: the share sessions it opened end."""
        self.shares.on_connection_closed(state)

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
            self.logs.checkpoint(self.high_watermarks())

    async def _clean_logs(self) -> None:
        """Compaction of the logs whose cleanup.policy has compact (broker/log/cleaner.py),
        every log.cleaner.backoff.ms, below each partition's high watermark and last stable
        offset.  The reading and rewriting run in a worker thread (the segments involved no
        longer change); the swap runs here, between requests."""
        interval_s = max(self.config.log_cleaner_backoff_ms, 100) / 1000
        while True:
            await anyio.sleep(interval_s)
            for key, log_, job in self._clean_jobs(wall_ms()):
                try:
                    results = await anyio.to_thread.run_sync(job.run)
                except (OSError, ValueError, records.InvalidRecordError):
                    # A segment closed under the job (deleted, truncated): the next pass.
                    log.info("compaction of %s-%d skipped", *key, exc_info=True)
                    continue
                self._note_cleaned(key, log_.finish_clean(job, results))

    def _clean_jobs(self, now: int) -> list[tuple[tuple[str, int], PartitionLog, CleanJob]]:
        """The compaction passes due now, one per compacted log (``prepare_clean``)."""
        jobs = []
        for key, partition in list(self.partitions.items()):
            log_ = self.logs.get(*key)
            if log_ is None or not log_.compacted:
                continue
            upper = min(log_.last_stable_offset(partition.high_watermark), partition.high_watermark)
            job = log_.prepare_clean(now, upper)
            if job is not None:
                jobs.append((key, log_, job))
        return jobs

    def _note_cleaned(self, key: tuple[str, int], stats: CleanerStats) -> None:
        if stats.segments:
            log.info(
                "compacted %s-%d: %d segments, %d -> %d bytes, %d records removed",
                key[0], key[1], stats.segments, stats.bytes_before, stats.bytes_after,
                stats.records_removed,
            )  # fmt: skip

    def close(self) -> None:
        self.logs.checkpoint(self.high_watermarks())
        self.logs.close()
        if self.controller_server is not None:
            self.controller_server.close()


async def _serve_until_signalled(server: BrokerServer) -> None:
    async with anyio.create_task_group() as group:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await group.start(server.serve)
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                await server.controlled_shutdown(CONTROLLED_SHUTDOWN_TIMEOUT_MS)
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


async def _serve_controller_until_signalled(server: ControllerServer) -> None:
    async with anyio.create_task_group() as group:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await group.start(server.serve)
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                group.cancel_scope.cancel()
                break


def _freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, config, the loaded logs) out of the
    cyclic collector's reach: it lives as long as the process, and a full (generation 2)
    collection that walked it stalled a serving broker 30-60 ms (~1-5 ms once frozen, measured
    with gc.callbacks under the linger-0 probe).  Only for a process of its own (``run``):
    brokers inside a test process leave that process's heap alone."""
    gc.collect()
    gc.freeze()


def run_controller(config: BrokerConfig) -> int:
    """``process.roles=controller``: the controller alone, until SIGTERM/SIGINT."""
    directory = Path(config.log_dirs[0]).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    cluster_id = meta_properties.load_or_create([directory], config.node_id, config.cluster_id)
    controller = ControllerServer(config, directory, cluster_id)
    _freeze_startup_heap()
    try:
        anyio.run(
            _serve_controller_until_signalled,
            controller,
            backend="asyncio",
            backend_options=_backend_options(),
        )
    finally:
        controller.close()
        log.info("odradek controller node.id=%d stopped cleanly", config.node_id)
    return 0


def run(config: BrokerConfig) -> int:
    """Start a broker (or a controller) and serve until SIGTERM/SIGINT; 0 when clean."""
    if "broker" not in config.process_roles:
        return run_controller(config)
    server = BrokerServer(config)
    _freeze_startup_heap()
    try:
        anyio.run(
            _serve_until_signalled, server, backend="asyncio", backend_options=_backend_options()
        )
    finally:
        server.close()
        log.info("odradek node.id=%d stopped cleanly", server.node_id)
    return 0
