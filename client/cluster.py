"""The cluster as a client sees it: a connection pool plus a metadata cache.

``async with Cluster(config) as cluster:`` opens a task group that every connection's reader
runs in, bootstraps (tries each ``bootstrap.servers`` address in turn until one answers a
Metadata request) and on exit closes every connection.  Producers, consumers and the admin
client each own one ``Cluster``.

Connections: one per broker address, reused by every caller (the bootstrap connection too, when
a broker advertises the same address).  A failed connect is retried after an exponential
backoff from ``reconnect.backoff.ms`` up to ``reconnect.backoff.max.ms`` (±20 % jitter, as
Kafka's ``ExponentialBackoff``), and the connect timeout itself grows from
``socket.connection.setup.timeout.ms`` to its ``.max.ms`` (KIP-601).  Connections idle for
``connections.max.idle.ms`` are closed.

Metadata: the newest :class:`~client.metadata.ClusterMetadata` for the topics the client has
asked about.  It is refreshed when older than ``metadata.max.age.ms`` (checked on use), when a
caller reports an error with ``invalid_metadata`` (NOT_LEADER_OR_FOLLOWER,
UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, a broken connection, ...) through
:meth:`Cluster.invalidate`, and on demand.  Refreshes are single-flight and spaced at least
``retry.backoff.ms`` apart.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self, TypeVar

import anyio
import anyio.abc

from client.config import CommonConfig
from client.connection import DEFAULT_MAX_FRAME_BYTES, Connection, exit_task_group
from client.errors import (
    AUTHENTICATION_ERRORS,
    BrokerNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    UnknownTopicOrPartitionError,
    error_for,
)
from client.metadata import (
    METADATA,
    METADATA_MIN_VERSION,
    BrokerMetadata,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
    metadata_request,
)
from client.protocol.errors import ErrorCode

T = TypeVar("T")
JITTER = 0.2  # Kafka's CommonClientConfigs.RETRY_BACKOFF_JITTER / RECONNECT_BACKOFF_JITTER
# How often the idle reaper looks, at most (it also looks at a quarter of the idle limit).
IDLE_CHECK_MAX_S = 30.0

Address = tuple[str, int]


def exponential_backoff_ms(attempt: int, initial_ms: int, max_ms: int) -> float:
    """Kafka's ExponentialBackoff: ``initial * 2**(attempt-1)`` capped at ``max``, ±20 % jitter.

    ``attempt`` counts from 1 (the first retry waits about ``initial_ms``).
    """
    assert attempt >= 1
    if max_ms <= initial_ms:
        return float(max_ms)
    exponent = min(attempt - 1, math.ceil(math.log2(max_ms / max(initial_ms, 1))))
    term = initial_ms * 2**exponent * random.uniform(1 - JITTER, 1 + JITTER)
    return float(min(term, max_ms))


class Cluster:
    """Connections to the cluster's brokers and the metadata cache.  See the module docstring.

    ``max_frame_bytes`` bounds every response frame (a consumer passes one above its
    ``fetch.max.bytes``).  ``allow_auto_topic_creation`` is sent in Metadata requests (Kafka's
    producer sends true, the consumer ``allow.auto.create.topics``, the admin client false).
    Constructing one needs no event loop; ``async with`` starts it.
    """

    def __init__(
        self,
        config: CommonConfig,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        allow_auto_topic_creation: bool = False,
    ) -> None:
        self.config = config
        self.max_frame_bytes = max_frame_bytes
        self.allow_auto_topic_creation = allow_auto_topic_creation
        self._metadata = ClusterMetadata()
        self._tracked: set[str] = set()
        self._stale = True
        self._refreshes = 0
        self._last_refresh_at = -math.inf
        self._last_refresh_covered: frozenset[str] | None = frozenset()
        self._connections: dict[Address, Connection] = {}
        self._connect_locks: dict[Address, anyio.Lock] = {}
        self._failures: dict[Address, int] = {}
        self._next_attempt: dict[Address, float] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._reaper_scope: anyio.CancelScope | None = None
        self._metadata_lock: anyio.Lock | None = None
        self._closed = False

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the task group and bootstrap; see :meth:`bootstrap` for the errors."""
        # anyio primitives need a running event loop, so they are made here, not in __init__.
        self._metadata_lock = anyio.Lock()
        self._reaper_scope = anyio.CancelScope()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            task_group.start_soon(self._close_idle_connections)
            await self.bootstrap()
        except BaseException as error:
            await self.close()
            await exit_task_group(task_group, type(error), error, error.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Close every connection and wait for their readers."""
        await self.close()
        assert self._task_group is not None
        return await exit_task_group(self._task_group, exc_type, exc, traceback)

    async def close(self) -> None:
        """Close every connection; the cluster cannot be used afterwards.  Idempotent."""
        self._closed = True
        if self._reaper_scope is not None:
            self._reaper_scope.cancel()
        connections = list(self._connections.values())
        self._connections.clear()
        with anyio.CancelScope(shield=True):
            for connection in connections:
                await connection.close()

    async def bootstrap(self) -> ClusterMetadata:
        """Fetch metadata from the first ``bootstrap.servers`` address that answers.

        Raises :class:`~client.errors.KafkaConnectionError` naming every address, why each
        failed, and the timeouts used, if none answers.
        """
        failures: list[str] = []
        for host, port in self.config.addresses():
            try:
                connection = await self._connect((host, port))
                return await self._refresh_from(connection, sorted(self._tracked))
            except AUTHENTICATION_ERRORS:
                raise  # refused credentials are final, as in Kafka's clients
            except KafkaError as error:
                failures.append(str(error))
        config = self.config
        raise KafkaConnectionError(
            ",".join(config.bootstrap_servers),
            "no bootstrap server answered ("
            + "; ".join(failures)
            + f"); socket.connection.setup.timeout.ms={config.socket_connection_setup_timeout_ms}"
            f", request.timeout.ms={config.request_timeout_ms}",
        )

    # -- metadata ----------------------------------------------------------------------------

    @property
    def metadata(self) -> ClusterMetadata:
        """The newest snapshot (possibly stale; use :meth:`refresh_metadata` to be sure)."""
        return self._metadata

    def invalidate(self, error: KafkaError | None = None) -> None:
        """Mark metadata stale so the next use refreshes it.

        With ``error``, only if its ``invalid_metadata`` flag says so (NOT_LEADER_OR_FOLLOWER,
        UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, connection failures, ...).
        """
        if error is None or error.invalid_metadata:
            self._stale = True

    def track(self, topics: Iterable[str]) -> None:
        """Add topics to those every refresh asks about.

        A new topic lets the next refresh skip ``retry.backoff.ms``, as Kafka's
        ``requestUpdateForNewTopics`` does: a first send to a topic should not wait.
        """
        new = set(topics) - self._tracked
        if new:
            self._tracked.update(new)
            self._last_refresh_at = -math.inf

    @property
    def tracked_topics(self) -> frozenset[str]:
        """The topics every refresh asks about."""
        return frozenset(self._tracked)

    async def refresh_metadata(
        self, topics: Iterable[str] | None = None, *, all_topics: bool = False
    ) -> ClusterMetadata:
        """Fetch metadata now for the tracked topics plus ``topics`` (or every topic).

        Single-flight: a caller that waited for a refresh covering its topics gets that
        refresh's result.  Refreshes are at least ``retry.backoff.ms`` apart.
        """
        if topics is not None:
            self.track(topics)
        wanted = None if all_topics else frozenset(self._tracked)
        seen = self._refreshes
        assert self._metadata_lock is not None, "use the cluster inside async with"
        async with self._metadata_lock:
            covered = self._last_refresh_covered
            if self._refreshes != seen and (
                covered is None or (wanted is not None and wanted <= covered)
            ):
                return self._metadata
            wait = (
                self._last_refresh_at + self.config.retry_backoff_ms / 1000 - anyio.current_time()
            )
            if wait > 0:
                await anyio.sleep(wait)
            return await self._refresh_any(None if wanted is None else sorted(wanted))

    async def _refresh_any(self, topics: list[str] | None) -> ClusterMetadata:
        """One Metadata round trip to the least loaded broker, trying others on failure."""
        failures: list[str] = []
        for address in self._candidates():
            try:
                connection = await self._connect(address)
                return await self._refresh_from(connection, topics)
            except (KafkaConnectionError, KafkaTimeoutError) as error:
                failures.append(str(error))
        self._last_refresh_at = anyio.current_time()
        raise KafkaConnectionError(
            ",".join(f"{host}:{port}" for host, port in self._candidates()),
            "metadata refresh failed everywhere: " + "; ".join(failures),
        )

    async def _refresh_from(
        self, connection: Connection, topics: list[str] | None
    ) -> ClusterMetadata:
        version = connection.pick_version(METADATA, METADATA_MIN_VERSION)
        self._last_refresh_at = anyio.current_time()
        body = metadata_request(
            version, topics, allow_auto_topic_creation=self.allow_auto_topic_creation
        )
        response = await connection.send(METADATA, body, version=version)
        code = response.get("error_code", ErrorCode.NONE)
        if code != ErrorCode.NONE:
            raise error_for(code, f"Metadata from {connection.address}")
        fresh = ClusterMetadata.from_response(response, anyio.current_time())
        self._metadata = self._metadata.merged(fresh, complete=topics is None)
        self._last_refresh_covered = None if topics is None else frozenset(topics)
        self._refreshes += 1
        self._stale = False
        return self._metadata

    async def current_metadata(self, topics: Iterable[str] = ()) -> ClusterMetadata:
        """The snapshot, refreshed first if stale, too old, or missing one of ``topics``."""
        wanted = set(topics)
        self.track(wanted)
        metadata = self._metadata
        known = metadata.topics.keys() | metadata.topic_errors.keys()
        age_s = anyio.current_time() - metadata.fetched_at
        if self._stale or age_s * 1000 >= self.config.metadata_max_age_ms or not wanted <= known:
            metadata = await self.refresh_metadata()
        return metadata

    async def topic(self, name: str) -> TopicMetadata:
        """A topic's metadata, refreshing if needed, else its error (UnknownTopicOrPartition...).

        A retriable error marks metadata stale, so asking again (after a backoff) refreshes.
        """
        metadata = await self.current_metadata([name])
        described = metadata.topics.get(name)
        if described is None:
            code = metadata.topic_errors.get(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            error = error_for(code, f"topic {name!r}")
            self.invalidate(error)  # the next call asks again (the topic may be appearing)
            raise error
        return described

    async def partitions_for(self, topic: str) -> list[PartitionMetadata]:
        """The topic's partitions, by index."""
        described = await self.topic(topic)
        return [described.partitions[index] for index in described.partition_ids()]

    async def leader_for(self, topic: str, partition: int) -> BrokerMetadata:
        """The broker leading ``topic``-``partition``, refreshing metadata if needed.

        Raises (retriable, metadata is marked stale) UnknownTopicOrPartitionError,
        LeaderNotAvailableError, or the topic's error code from Metadata.
        """
        described = await self.topic(topic)
        state = described.partitions.get(partition)
        if state is None:
            self._stale = True
            raise UnknownTopicOrPartitionError(f"{topic}-{partition} is not in the metadata")
        leader = self._metadata.brokers.get(state.leader)
        if leader is None:
            self._stale = True
            raise LeaderNotAvailableError(
                f"{topic}-{partition} has no leader (leader {state.leader})"
            )
        return leader

    # -- connections -------------------------------------------------------------------------

    async def connection_to(self, node_id: int) -> Connection:
        """The connection to broker ``node_id`` (opened if needed, reused otherwise)."""
        broker = self._metadata.brokers.get(node_id)
        if broker is None:
            await self.refresh_metadata()
            broker = self._metadata.brokers.get(node_id)
            if broker is None:
                raise BrokerNotAvailableError(f"broker {node_id} is not in the metadata")
        return await self._connect((broker.host, broker.port))

    async def leader_connection(self, topic: str, partition: int) -> Connection:
        """The connection to the partition's leader."""
        leader = await self.leader_for(topic, partition)
        return await self._connect((leader.host, leader.port))

    async def any_connection(self) -> Connection:
        """An open connection to the least loaded broker, else the first that accepts one."""
        failures: list[str] = []
        for address in self._candidates():
            try:
                return await self._connect(address)
            except KafkaConnectionError as error:
                failures.append(str(error))
        raise KafkaConnectionError(
            ",".join(f"{host}:{port}" for host, port in self._candidates()),
            "no broker reachable: " + "; ".join(failures),
        )

    async def controller_connection(self) -> Connection:
        """The connection to the controller named by Metadata (where admin requests go).

        Raises BrokerNotAvailableError (retriable) if Metadata names no known broker.
        """
        controller = self._metadata.controller
        if controller is None or self._stale:
            controller = (await self.refresh_metadata()).controller
        if controller is None:
            raise BrokerNotAvailableError(
                f"Metadata names no reachable controller (controller id "
                f"{self._metadata.controller_id})"
            )
        return await self._connect((controller.host, controller.port))

    def _candidates(self) -> list[Address]:
        """Addresses to try for a request any broker can answer: open ones first, least loaded
        first; then known brokers; then the bootstrap list."""
        open_connections = sorted(
            (connection for connection in self._connections.values() if not connection.closed),
            key=lambda connection: connection.in_flight,
        )
        addresses = [(connection.host, connection.port) for connection in open_connections]
        brokers = sorted(self._metadata.brokers.values(), key=lambda broker: broker.node_id)
        addresses += [(broker.host, broker.port) for broker in brokers]
        addresses += self.config.addresses()
        return list(dict.fromkeys(addresses))

    async def _connect(self, address: Address) -> Connection:
        if self._closed or self._task_group is None:
            raise KafkaConnectionError(f"{address[0]}:{address[1]}", "the client is closed")
        lock = self._connect_locks.setdefault(address, anyio.Lock())
        async with lock:
            connection = self._connections.get(address)
            if connection is not None and not connection.closed:
                return connection
            if connection is not None:
                # A disconnect: leaders may have moved.
                del self._connections[address]
                self._stale = True
            wait = self._next_attempt.get(address, -math.inf) - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            connection = await self._open(address)
            self._connections[address] = connection
            return connection

    async def _open(self, address: Address) -> Connection:
        config = self.config
        failures = self._failures.get(address, 0)
        connect_timeout_ms = min(
            config.socket_connection_setup_timeout_ms * 2**failures,
            max(
                config.socket_connection_setup_timeout_max_ms,
                config.socket_connection_setup_timeout_ms,
            ),
        )
        assert self._task_group is not None
        try:
            connection = await Connection.start(
                self._task_group,
                address[0],
                address[1],
                client_id=config.client_id,
                request_timeout_ms=config.request_timeout_ms,
                max_in_flight=config.max_in_flight_requests_per_connection,
                connect_timeout_ms=connect_timeout_ms,
                max_frame_bytes=self.max_frame_bytes,
                sasl=config.sasl,
                ssl_context=config.ssl_context(),
            )
        except (KafkaConnectionError, KafkaTimeoutError):
            self._failures[address] = failures + 1
            backoff_ms = exponential_backoff_ms(
                failures + 1, config.reconnect_backoff_ms, config.reconnect_backoff_max_ms
            )
            self._next_attempt[address] = anyio.current_time() + backoff_ms / 1000
            self._stale = True
            raise
        self._failures.pop(address, None)
        self._next_attempt.pop(address, None)
        return connection

    async def _close_idle_connections(self) -> None:
        limit_s = self.config.connections_max_idle_ms / 1000
        period_s = min(IDLE_CHECK_MAX_S, max(limit_s / 4, 0.001))
        assert self._reaper_scope is not None
        with self._reaper_scope:
            while True:
                await anyio.sleep(period_s)
                now = anyio.current_time()
                for address, connection in list(self._connections.items()):
                    if connection.in_flight == 0 and now - connection.last_used >= limit_s:
                        del self._connections[address]
                        await connection.close()

    # -- retries -----------------------------------------------------------------------------

    def retry_backoff_ms(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): retry.backoff.ms .. .max.ms."""
        config = self.config
        return exponential_backoff_ms(
            attempt,
            config.retry_backoff_ms,
            max(config.retry_backoff_max_ms, config.retry_backoff_ms),
        )

    async def retrying(self, operation: Callable[[], Awaitable[T]], *, timeout_ms: int) -> T:
        """Run ``operation`` until it succeeds, retrying retriable KafkaErrors until the deadline.

        Before each retry: metadata is invalidated if the error says so, then the retry
        backoff passes.  The last error is raised when the next retry would pass the deadline
        (a non-retriable error at once).
        """
        deadline = anyio.current_time() + timeout_ms / 1000
        attempt = 0
        while True:
            try:
                return await operation()
            except KafkaError as error:
                if not error.retriable:
                    raise
                attempt += 1
                self.invalidate(error)
                wait_s = self.retry_backoff_ms(attempt) / 1000
                if anyio.current_time() + wait_s >= deadline:
                    raise
                await anyio.sleep(wait_s)
