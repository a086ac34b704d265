"""The follower side of replication: one fetcher task per source broker.

Each fetcher drives a :class:`~broker.core.replica_fetcher.ReplicaFetchState` (the sans-IO
decisions) over one connection to the leader's inter-broker listener: long-polled Fetch
requests (``replica.fetch.wait.max.ms``) for every partition it follows there, responses turned
into effects and applied to the local logs — append with the leader's offsets, truncate by leader
epoch, take the high watermark after any truncation.  When partitions are added while a fetch is
parked at the leader, the fetch is abandoned (the connection is closed and reopened) so a new
follower starts at once: failover waits for this round trip.  Each connection opens a KIP-227
fetch session at the leader (the first request asks for one), so the later requests and
responses carry only the partitions that changed; a new connection starts a new session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from broker.core.replica_fetcher import (
    FetcherSettings,
    ReplicaFetchState,
)
from broker.server.clock import monotonic_ms
from client.connection import Connection
from client.errors import KafkaError

if TYPE_CHECKING:
    from broker.core.partition import Partition
    from broker.server.broker import BrokerServer

log = logging.getLogger("odradek.replication")

TopicPartition = tuple[str, int]
FETCH_VERSION = 15


class ReplicaFetcher:
    """Fetches the partitions this broker follows on one leader."""

    def __init__(self, server: BrokerServer, source_broker: int) -> None:
        self.server = server
        self.source_broker = source_broker
        config = server.config
        self.state = ReplicaFetchState(
            source_broker,
            FetcherSettings(
                replica_id=server.node_id,
                max_wait_ms=config.replica_fetch_wait_max_ms,
                min_bytes=1,
                max_bytes=config.replica_fetch_response_max_bytes,
                partition_max_bytes=config.replica_fetch_max_bytes,
                backoff_ms=config.replica_fetch_backoff_ms,
            ),
        )
        self._wakeup = anyio.Event()
        self._connection: Connection | None = None
        self._in_flight: anyio.CancelScope | None = None
        self._scope: anyio.CancelScope | None = None

    def add(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        log_ = self.server.partition_log(*key)
        self.state.add_partition(key, partition.topic_id, partition.leader_epoch, log_)
        self._kick()

    def remove(self, key: TopicPartition) -> None:
        self.state.remove_partition(key)

    def _kick(self) -> None:
        self._wakeup.set()
        if self._in_flight is not None:
            self._in_flight.cancel()

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            while True:
                if not self.state.partitions:
                    await self._wait_for_work(None)
                    continue
                try:
                    await self._fetch_from_leader()
                except (KafkaError, OSError) as error:
                    log.info("fetcher for broker %d: %s", self.source_broker, error)
                    await self._wait_for_work(self.server.config.replica_fetch_backoff_ms)
                except Exception:
                    # A bug here must not take the broker down; back off and start over.
                    log.exception("fetcher for broker %d failed", self.source_broker)
                    await self._wait_for_work(self.server.config.replica_fetch_backoff_ms)

    async def _wait_for_work(self, timeout_ms: int | None) -> None:
        self._wakeup = anyio.Event()
        with anyio.move_on_after(None if timeout_ms is None else timeout_ms / 1000):
            await self._wakeup.wait()

    async def _fetch_from_leader(self) -> None:
        endpoint = self.server.broker_endpoint(self.source_broker)
        if endpoint is None:
            await self._wait_for_work(self.server.config.replica_fetch_backoff_ms)
            return
        host, port = endpoint
        timeout_ms = self.server.config.replica_fetch_wait_max_ms + 30_000
        # Until connected, the leader counts as in doubt for Metadata answers (see
        # BrokerServer.leaders_settled); connected, it is reachable.
        self.server.on_peer_unreachable(self.source_broker)
        async with Connection.connect(
            host,
            port,
            client_id=f"odradek-replica-fetcher-{self.server.node_id}",
            request_timeout_ms=timeout_ms,
            sasl=self.server.inter_broker_sasl,
            ssl_context=self.server.inter_broker_ssl,
        ) as connection:
            self._connection = connection
            self.server.on_peer_reachable(self.source_broker)
            try:
                version = connection.pick_version(1, 12, FETCH_VERSION)
                self.state.reset_session()  # a session lives as long as its connection
                while self.state.partitions:
                    if not await self._one_round(connection, version):
                        break
            except (KafkaError, OSError):
                self.server.on_peer_unreachable(self.source_broker)
                raise
            finally:
                self._connection = None

    def check_peer(self) -> None:
        """Report the source broker unreachable if its end of our connection is closed
        already, even before the reader task noticed (a Metadata request may come first)."""
        connection = self._connection
        if connection is None:
            return  # connecting or backing off: already reported
        try:
            closed = connection.peer_closed()
        except Exception:  # a probe must never fail a Metadata request
            log.debug("probing broker %d failed", self.source_broker, exc_info=True)
            return
        if closed:
            self.server.on_peer_unreachable(self.source_broker)

    async def _one_round(self, connection: Connection, version: int) -> bool:
        """One fetch and its effects; False when the connection must be reopened."""
        now = monotonic_ms()
        request = self.state.build_request(now, self.server.broker_epoch)
        if request is None:
            ready = self.state.next_ready_ms()
            await self._wait_for_work(None if ready is None else max(ready - now, 1))
            return True
        with anyio.CancelScope() as scope:
            self._in_flight = scope
            response = await connection.send(1, request, version=version)
        self._in_flight = None
        if scope.cancelled_caught:
            return False  # new partitions: do not wait out the parked fetch
        names = {topic.topic_id: topic.name for topic in self.server.image.topics_by_name.values()}
        established = self.state.sessions_established
        effects = self.state.handle_response(
            response, self.server.partition_logs_view(), monotonic_ms(), names
        )
        if self.state.sessions_established != established:
            log.info(
                "fetch session %d established with broker %d",
                self.state.session_id,
                self.source_broker,
            )
        for effect in effects:
            self.server.apply_fetched(self.source_broker, self.state, effect)
        return True  # (no checkpoint needed: awaiting the response yielded)


class ReplicaFetcherManager:
    """Which leader each followed partition is fetched from; starts fetchers on demand."""

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        self.fetchers: dict[int, ReplicaFetcher] = {}
        self.followed: dict[TopicPartition, int] = {}
        self._group: anyio.abc.TaskGroup | None = None

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            for fetcher in self.fetchers.values():
                group.start_soon(fetcher.run)
            await anyio.sleep_forever()

    def follow(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        self.unfollow(key)
        fetcher = self.fetchers.get(partition.leader)
        if fetcher is None:
            fetcher = ReplicaFetcher(self.server, partition.leader)
            self.fetchers[partition.leader] = fetcher
            if self._group is not None:
                self._group.start_soon(fetcher.run)
        fetcher.add(partition)
        self.followed[key] = partition.leader

    def check_peers(self) -> None:
        for fetcher in self.fetchers.values():
            fetcher.check_peer()

    def unfollow(self, key: TopicPartition) -> None:
        source = self.followed.pop(key, None)
        if source is not None and source in self.fetchers:
            self.fetchers[source].remove(key)
