"""The cluster as a blocking client sees it: connections per broker plus the metadata cache.

The blocking twin of :class:`client.cluster.Cluster`, with its rules: bootstrap tries each
``bootstrap.servers`` address in turn; one connection per broker address, shared by every
caller; a failed connect is retried after Kafka's exponential backoff
(``reconnect.backoff.ms`` .. ``reconnect.backoff.max.ms``, :func:`client.cluster.
exponential_backoff_ms`) with a connect timeout growing to
``socket.connection.setup.timeout.max.ms`` (KIP-601); connections idle for
``connections.max.idle.ms`` are closed (checked on use: there is no background task).
Metadata is refreshed when older than ``metadata.max.age.ms``, after :meth:`invalidate` with an
``invalid_metadata`` error (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
LEADER_NOT_AVAILABLE, a broken connection, ...) and on demand, refreshes spaced at least
``retry.backoff.ms`` apart except for newly tracked topics; snapshots are folded by the sans-IO
:class:`~client.metadata.ClusterMetadata`.

:meth:`BlockingCluster.poll` is the one place that waits on several brokers at once: a
``selectors`` selector over every connection with requests in flight (gevent's own selector
under monkey-patching), so pipelined Produce and Fetch requests to several leaders progress
together without threads.
"""

from __future__ import annotations

import contextlib
import math
import selectors
import time
from collections.abc import Callable, Iterable
from typing import Self, TypeVar

from client.blocking_connection import BlockingConnection
from client.cluster import exponential_backoff_ms
from client.config import CommonConfig
from client.connection import DEFAULT_MAX_FRAME_BYTES
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
    TopicMetadata,
    metadata_request,
)
from client.protocol.errors import ErrorCode

T = TypeVar("T")
Address = tuple[str, int]


class BlockingCluster:
    """Connections to the cluster's brokers and the metadata cache (see the module docstring).

    ``BlockingCluster(config).bootstrap()`` (or ``with``) connects; :meth:`close` ends it.
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
        self._last_refresh_s = -math.inf
        self._connections: dict[Address, BlockingConnection] = {}
        self._failures: dict[Address, int] = {}
        self._next_attempt_s: dict[Address, float] = {}
        self._selector: selectors.BaseSelector | None = None
        self._closed = False

    # -- lifetime ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        """Bootstrap; see :meth:`bootstrap`."""
        try:
            self.bootstrap()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close every connection."""
        self.close()

    def close(self) -> None:
        """Close every connection; the cluster cannot be used afterwards.  Idempotent."""
        self._closed = True
        for address in list(self._connections):
            self._drop(address, "connection closed by the client")
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def bootstrap(self) -> ClusterMetadata:
        """Fetch metadata from the first ``bootstrap.servers`` address that answers.

        Raises :class:`~client.errors.KafkaConnectionError` naming every address, why each
        failed, and the timeouts used, if none answers.
        """
        failures: list[str] = []
        for address in self.config.addresses():
            try:
                return self._refresh_from(self._connect(address), sorted(self._tracked))
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
        """The newest snapshot (possibly stale)."""
        return self._metadata

    def invalidate(self, error: KafkaError | None = None) -> None:
        """Mark metadata stale (with ``error``: only if its ``invalid_metadata`` says so)."""
        if error is None or error.invalid_metadata:
            self._stale = True

    def track(self, topics: Iterable[str]) -> None:
        """Add topics to every refresh; a new one lets the next refresh skip the backoff."""
        new = set(topics) - self._tracked
        if new:
            self._tracked.update(new)
            self._last_refresh_s = -math.inf

    def refresh_metadata(
        self, topics: Iterable[str] | None = None, *, all_topics: bool = False
    ) -> ClusterMetadata:
        """Fetch metadata now for the tracked topics plus ``topics`` (or every topic), at
        least ``retry.backoff.ms`` after the last refresh."""
        if topics is not None:
            self.track(topics)
        wait_s = self._last_refresh_s + self.config.retry_backoff_ms / 1000 - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        wanted = None if all_topics else sorted(self._tracked)
        failures: list[str] = []
        for address in self._candidates():
            try:
                return self._refresh_from(self._connect(address), wanted)
            except (KafkaConnectionError, KafkaTimeoutError) as error:
                failures.append(str(error))
        self._last_refresh_s = time.monotonic()
        raise KafkaConnectionError(
            ",".join(f"{host}:{port}" for host, port in self._candidates()),
            "metadata refresh failed everywhere: " + "; ".join(failures),
        )

    def _refresh_from(
        self, connection: BlockingConnection, topics: list[str] | None
    ) -> ClusterMetadata:
        version = connection.pick_version(METADATA, METADATA_MIN_VERSION)
        self._last_refresh_s = time.monotonic()
        body = metadata_request(
            version, topics, allow_auto_topic_creation=self.allow_auto_topic_creation
        )
        response = connection.send(METADATA, body, version=version)
        code = response.get("error_code", ErrorCode.NONE)
        if code != ErrorCode.NONE:
            raise error_for(code, f"Metadata from {connection.address}")
        fresh = ClusterMetadata.from_response(response, time.monotonic())
        self._metadata = self._metadata.merged(fresh, complete=topics is None)
        self._stale = False
        return self._metadata

    def current_metadata(self, topics: Iterable[str] = ()) -> ClusterMetadata:
        """The snapshot, refreshed first if stale, too old, or missing one of ``topics``."""
        wanted = set(topics)
        self.track(wanted)
        metadata = self._metadata
        known = metadata.topics.keys() | metadata.topic_errors.keys()
        age_ms = (time.monotonic() - metadata.fetched_at) * 1000
        if self._stale or age_ms >= self.config.metadata_max_age_ms or not wanted <= known:
            metadata = self.refresh_metadata()
        return metadata

    def topic(self, name: str) -> TopicMetadata:
        """A topic's metadata (refreshing if needed), else its error; a retriable one marks
        metadata stale so that asking again refreshes."""
        metadata = self.current_metadata([name])
        described = metadata.topics.get(name)
        if described is None:
            code = metadata.topic_errors.get(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            error = error_for(code, f"topic {name!r}")
            self.invalidate(error)
            raise error
        return described

    def leader_for(self, topic: str, partition: int) -> BrokerMetadata:
        """The broker leading ``topic``-``partition``; the errors of the async ``leader_for``."""
        state = self.topic(topic).partitions.get(partition)
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

    def connection_to(self, node_id: int) -> BlockingConnection:
        """The connection to broker ``node_id`` (opened if needed, reused otherwise)."""
        broker = self._metadata.brokers.get(node_id)
        if broker is None:
            broker = self.refresh_metadata().brokers.get(node_id)
            if broker is None:
                raise BrokerNotAvailableError(f"broker {node_id} is not in the metadata")
        return self._connect((broker.host, broker.port))

    def any_connection(self) -> BlockingConnection:
        """An open connection to the least loaded broker, else the first that accepts one."""
        failures: list[str] = []
        for address in self._candidates():
            try:
                return self._connect(address)
            except KafkaConnectionError as error:
                failures.append(str(error))
        raise KafkaConnectionError(
            ",".join(f"{host}:{port}" for host, port in self._candidates()),
            "no broker reachable: " + "; ".join(failures),
        )

    def controller_connection(self) -> BlockingConnection:
        """The connection to the controller named by Metadata (where admin requests go)."""
        controller = self._metadata.controller
        if controller is None or self._stale:
            controller = self.refresh_metadata().controller
        if controller is None:
            raise BrokerNotAvailableError(
                f"Metadata names no reachable controller (controller id "
                f"{self._metadata.controller_id})"
            )
        return self._connect((controller.host, controller.port))

    def _candidates(self) -> list[Address]:
        """Open connections (least loaded first), then known brokers, then bootstrap."""
        open_connections = sorted(
            (connection for connection in self._connections.values() if not connection.closed),
            key=lambda connection: connection.in_flight,
        )
        addresses = [(connection.host, connection.port) for connection in open_connections]
        brokers = sorted(self._metadata.brokers.values(), key=lambda broker: broker.node_id)
        addresses += [(broker.host, broker.port) for broker in brokers]
        addresses += self.config.addresses()
        return list(dict.fromkeys(addresses))

    def _connect(self, address: Address) -> BlockingConnection:
        if self._closed:
            raise KafkaConnectionError(f"{address[0]}:{address[1]}", "the client is closed")
        self._close_idle()
        connection = self._connections.get(address)
        if connection is not None and not connection.closed:
            return connection
        if connection is not None:
            self._drop(address, "reconnecting")
            self._stale = True  # a disconnect: leaders may have moved
        wait_s = self._next_attempt_s.get(address, -math.inf) - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)
        connection = self._open(address)
        self._connections[address] = connection
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
        self._selector.register(connection.socket, selectors.EVENT_READ, connection)
        return connection

    def _open(self, address: Address) -> BlockingConnection:
        config = self.config
        failures = self._failures.get(address, 0)
        connect_timeout_ms = min(
            config.socket_connection_setup_timeout_ms * 2**failures,
            max(
                config.socket_connection_setup_timeout_max_ms,
                config.socket_connection_setup_timeout_ms,
            ),
        )
        try:
            connection = BlockingConnection.open(
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
            self._next_attempt_s[address] = time.monotonic() + backoff_ms / 1000
            self._stale = True
            raise
        self._failures.pop(address, None)
        self._next_attempt_s.pop(address, None)
        return connection

    def _drop(self, address: Address, reason: str) -> None:
        connection = self._connections.pop(address)
        if self._selector is not None:
            # A socket the connection closed itself is found by identity (the selector
            # searches its map when fileno() is -1).
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(connection.socket)
        connection.close(reason)

    def _drop_closed(self) -> None:
        for address, connection in list(self._connections.items()):
            if connection.closed:
                self._drop(address, "closed")
                self._stale = True

    def _close_idle(self) -> None:
        limit_s = self.config.connections_max_idle_ms / 1000
        now = time.monotonic()
        for address, connection in list(self._connections.items()):
            if connection.in_flight == 0 and now - connection.last_used >= limit_s:
                self._drop(address, "idle for connections.max.idle.ms")

    # -- waiting -----------------------------------------------------------------------------

    def in_flight(self) -> int:
        """Requests written and not yet answered, over every connection."""
        return sum(connection.in_flight for connection in self._connections.values())

    def poll(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for answers on every connection with requests in flight,
        read them (their callbacks run) and expire requests past their deadlines.

        With nothing in flight it just sleeps ``timeout_s`` (a linger or backoff wait).
        """
        self._drop_closed()
        busy = [connection for connection in self._connections.values() if connection.in_flight]
        if not busy or self._selector is None:
            if timeout_s > 0:
                time.sleep(timeout_s)
            return
        deadlines = [deadline for c in busy if (deadline := c.next_deadline_s()) is not None]
        wait_s = min([timeout_s, *(deadline - time.monotonic() for deadline in deadlines)])
        for key, _ in self._selector.select(max(wait_s, 0.0)):
            connection = key.data
            assert isinstance(connection, BlockingConnection)
            if not connection.closed:
                connection.read_available()
        for connection in busy:
            if not connection.closed:
                connection.expire()
        self._drop_closed()

    # -- retries -----------------------------------------------------------------------------

    def retry_backoff_ms(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): retry.backoff.ms .. .max.ms."""
        config = self.config
        return exponential_backoff_ms(
            attempt,
            config.retry_backoff_ms,
            max(config.retry_backoff_max_ms, config.retry_backoff_ms),
        )

    def retrying(self, operation: Callable[[], T], *, timeout_ms: int) -> T:
        """Run ``operation`` until it succeeds, retrying retriable KafkaErrors (invalidating
        metadata as they say, with the retry backoff) until ``timeout_ms`` would pass."""
        deadline = time.monotonic() + timeout_ms / 1000
        attempt = 0
        while True:
            try:
                return operation()
            except KafkaError as error:
                if not error.retriable:
                    raise
                attempt += 1
                self.invalidate(error)
                wait_s = self.retry_backoff_ms(attempt) / 1000
                if time.monotonic() + wait_s >= deadline:
                    raise
                time.sleep(wait_s)

    def __repr__(self) -> str:
        return f"<BlockingCluster {len(self._connections)} connections, {self._metadata!r}>"
