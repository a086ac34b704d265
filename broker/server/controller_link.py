"""A broker's link to a remote controller (``process.roles=broker``).

Three duties, each on its own connection to the controller's CONTROLLER listener:

- **lifecycle**: BrokerRegistration, then BrokerHeartbeat every
  ``broker.heartbeat.interval.ms`` (sooner while fenced and catching up) reporting the metadata
  offset applied; the controller fences the broker when this connection drops.  SIGTERM asks
  for a controlled shutdown through the heartbeat and waits for ``should_shut_down``;
- **metadata**: a long-polled Fetch of ``__cluster_metadata`` from the offset applied so far;
  each record is replayed into the broker's image, then applied to its partitions;
- **requests**: AlterPartition, AllocateProducerIds and the forwarded topic commands.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from broker.core.metadata import record_from_dict
from broker.server.controller_server import METADATA_TOPIC
from client.connection import Connection
from client.errors import KafkaError
from client.protocol.errors import ErrorCode
from client.protocol.records import decode_records, iterate_batches

if TYPE_CHECKING:
    from construct import Container

    from broker.server.broker import BrokerServer

log = logging.getLogger("odradek.controller_link")

METADATA_FETCH_WAIT_MS = 500
# As Kafka's clients (reconnect.backoff.ms / reconnect.backoff.max.ms): the wait between
# attempts doubles from the first to the last while the controller stays unreachable.
RETRY_BACKOFF_MS = 50
RETRY_BACKOFF_MAX_MS = 1000
# While it stays unreachable, one log line per this many seconds (not one per attempt).
RETRY_LOG_INTERVAL_S = 10.0
REQUEST_TIMEOUT_MS = 30_000


class _Retry:
    """Backoff and logging for one of the link's connections while the controller is away."""

    def __init__(
        self,
        what: str,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_backoff_ms: int = RETRY_BACKOFF_MAX_MS,
    ) -> None:
        self.what = what
        self.max_backoff_ms = max_backoff_ms
        self.failures = 0
        self.last_logged = 0.0
        self._sleep = sleep
        self._clock = clock

    async def failed(self, error: BaseException, *, unexpected: bool = False) -> None:
        self.failures += 1
        now = self._clock()
        if unexpected:
            log.error("%s failed; retrying", self.what, exc_info=error)
        elif self.failures == 1 or now - self.last_logged >= RETRY_LOG_INTERVAL_S:
            log.warning("%s: %s; retrying (attempt %d)", self.what, error, self.failures)
            self.last_logged = now
        delay_ms = min(RETRY_BACKOFF_MS << min(self.failures - 1, 16), self.max_backoff_ms)
        await self._sleep(delay_ms / 1000)

    def succeeded(self) -> None:
        if self.failures:
            log.info("%s: reachable again after %d failed attempts", self.what, self.failures)
            self.failures = 0


class ControllerLink:
    """Connections from one broker to the (single) controller."""

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        voters = server.config.controller_quorum_voters
        self.host, self.port = voters[0].host, voters[0].port
        self.incarnation_id = uuid.uuid4()
        self.broker_epoch = -1
        self.fenced = True
        self.shutdown_requested = False
        self.should_shut_down = anyio.Event()
        self.unfenced = anyio.Event()
        self._heartbeat_now = anyio.Event()
        self._request_connection: Connection | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._lock = anyio.Lock()

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(self._lifecycle)
            group.start_soon(self._follow_metadata)

    def wake_heartbeat(self) -> None:
        self._heartbeat_now.set()

    def request_shutdown(self) -> None:
        self.shutdown_requested = True
        self._heartbeat_now.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def _lifecycle(self) -> None:
        # A restarted controller gives each broker one session timeout to heartbeat again:
        # reconnect at least once a heartbeat interval, so a broker is not fenced (and its
        # partitions moved) for having backed off (broker.session.timeout.ms is 1500 with
        # the local settings, the backoff would reach 1000).
        retry = _Retry(
            f"controller {self.host}:{self.port}",
            max_backoff_ms=min(
                RETRY_BACKOFF_MAX_MS, max(self.server.config.broker_heartbeat_interval_ms, 1)
            ),
        )
        while True:
            try:
                async with Connection.connect(
                    self.host,
                    self.port,
                    client_id=f"odradek-broker-{self.server.node_id}-lifecycle",
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                ) as connection:
                    if self.server.cluster_id is None:
                        await self._discover_cluster_id(connection)
                    if self.broker_epoch < 0:
                        await self._register(connection)
                    while True:
                        await self._heartbeat(connection)
                        retry.succeeded()
                        await self._wait_heartbeat_interval()
            except (KafkaError, OSError) as error:
                await retry.failed(error)
            except Exception as error:
                await retry.failed(error, unexpected=True)

    async def _discover_cluster_id(self, connection: Connection) -> None:
        response = await connection.send(60, {"include_cluster_authorized_operations": False})
        if ErrorCode(response.error_code) is not ErrorCode.NONE or not response.cluster_id:
            raise KafkaError(f"DescribeCluster: {ErrorCode(response.error_code).name}")
        log.info("joining cluster %s", response.cluster_id)
        self.server.adopt_cluster_id(response.cluster_id)

    async def _register(self, connection: Connection) -> None:
        server = self.server
        response = await connection.send(
            62,
            {
                "broker_id": server.node_id,
                "cluster_id": server.cluster_id,
                "incarnation_id": self.incarnation_id,
                "listeners": [
                    {
                        "name": served.name,
                        "host": served.advertised_host,
                        "port": served.advertised_port,
                        "security_protocol": served.security_protocol,
                    }
                    for served in server.registered_listeners()
                ],
                "features": [],
                "rack": server.config.broker_rack or None,
                "log_dirs": [],
                "previous_broker_epoch": -1,
            },
        )
        error = ErrorCode(response.error_code)
        if error is not ErrorCode.NONE:
            raise KafkaError(f"broker registration refused: {error.name}")
        self.broker_epoch = response.broker_epoch
        self.server.broker_epoch = self.broker_epoch
        log.info("registered with the controller: broker epoch %d", self.broker_epoch)

    async def _heartbeat(self, connection: Connection) -> None:
        response = await connection.send(
            63,
            {
                "broker_id": self.server.node_id,
                "broker_epoch": self.broker_epoch,
                "current_metadata_offset": self.server.metadata_offset,
                "want_fence": False,
                "want_shut_down": self.shutdown_requested,
            },
        )
        error = ErrorCode(response.error_code)
        if error in (ErrorCode.STALE_BROKER_EPOCH, ErrorCode.BROKER_ID_NOT_REGISTERED):
            log.warning("heartbeat: %s; registering again", error.name)
            self.broker_epoch = -1
            await self._register(connection)
            return
        if error is not ErrorCode.NONE:
            raise KafkaError(f"heartbeat refused: {error.name}")
        was_fenced = self.fenced
        self.fenced = bool(response.is_fenced)
        if was_fenced and not self.fenced:
            log.info("unfenced by the controller")
            self.unfenced.set()
        if response.should_shut_down:
            self.should_shut_down.set()

    async def _wait_heartbeat_interval(self) -> None:
        interval_ms = self.server.config.broker_heartbeat_interval_ms
        if self.fenced or self.shutdown_requested:
            interval_ms = min(interval_ms, 50)
        self._heartbeat_now = anyio.Event()
        with anyio.move_on_after(interval_ms / 1000):
            await self._heartbeat_now.wait()

    # -- metadata ----------------------------------------------------------------------------

    async def _follow_metadata(self) -> None:
        retry = _Retry(f"metadata fetch from {self.host}:{self.port}")
        while True:
            try:
                async with Connection.connect(
                    self.host,
                    self.port,
                    client_id=f"odradek-broker-{self.server.node_id}-metadata",
                    request_timeout_ms=REQUEST_TIMEOUT_MS + METADATA_FETCH_WAIT_MS,
                ) as connection:
                    while True:
                        await self._fetch_metadata(connection)
                        retry.succeeded()
            except (KafkaError, OSError) as error:
                await retry.failed(error)
            except Exception as error:
                await retry.failed(error, unexpected=True)

    async def _fetch_metadata(self, connection: Connection) -> None:
        offset = self.server.image.records_replayed
        response = await connection.send(
            1,
            {
                "replica_id": self.server.node_id,  # a KRaft observer names itself
                "max_wait_ms": METADATA_FETCH_WAIT_MS,
                "min_bytes": 1,
                "max_bytes": 64 << 20,
                "isolation_level": 0,
                "session_id": 0,
                "session_epoch": -1,
                "topics": [
                    {
                        "topic": METADATA_TOPIC,
                        "partitions": [
                            {
                                "partition": 0,
                                "current_leader_epoch": -1,
                                "fetch_offset": offset,
                                "last_fetched_epoch": -1,
                                "log_start_offset": -1,
                                "partition_max_bytes": 64 << 20,
                            }
                        ],
                    }
                ],
                "forgotten_topics_data": [],
                "rack_id": "",
            },
            version=12,
        )
        part = response.responses[0].partitions[0]
        error = ErrorCode(part.error_code)
        if error is not ErrorCode.NONE:
            raise KafkaError(f"metadata fetch at offset {offset}: {error.name}")
        data = part.records
        if not data:
            if self.server.image.records_replayed >= part.high_watermark:
                self.server.on_metadata_caught_up()
            return
        bodies: list[Mapping[str, Any]] = []
        for position, header in iterate_batches(data):
            if header.base_offset + header.record_count <= offset:
                continue
            batch = memoryview(data)[position : position + header.size_bytes]
            for index, record in enumerate(decode_records(batch)):
                if header.base_offset + index >= offset and record.value is not None:
                    bodies.append(json.loads(record.value))
        self.server.apply_metadata([record_from_dict(dict(body)) for body in bodies])
        if self.server.image.records_replayed >= part.high_watermark:
            self.server.on_metadata_caught_up()
        if self.fenced:
            self.wake_heartbeat()

    # -- requests ----------------------------------------------------------------------------

    async def send(
        self, api_key: int, body: Mapping[str, Any], version: int | None = None
    ) -> Container:
        """One request on the shared request connection (reopened when it broke)."""
        async with self._lock:
            connection = self._request_connection
            if connection is None or connection.closed:
                assert self._group is not None
                connection = await Connection.start(
                    self._group,
                    self.host,
                    self.port,
                    client_id=f"odradek-broker-{self.server.node_id}-requests",
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                )
                self._request_connection = connection
        return await connection.send(api_key, body, version=version)

    async def close(self) -> None:
        if self._request_connection is not None:
            await self._request_connection.close()
