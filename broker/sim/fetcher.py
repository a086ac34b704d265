"""The follower side: ``broker/server/replica_fetchers.py`` over the simulated network.

One :class:`SimFetcher` per source broker drives a real ``ReplicaFetchState``: build the Fetch
body, send it (long-polled at the leader), turn the response into effects, apply each with the
shell's own ``ReplicaManager.apply_fetched`` (appends, truncations and their checkpoint, refetch
after a raced append).  As the shell: adding a
partition while a fetch is parked abandons that fetch and starts a new one at once; a failed
fetch (timeout, reset, refused) backs off ``replica.fetch.backoff.ms`` (cut short by new work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.core.replica_fetcher import (
    FetcherSettings,
    ReplicaFetchState,
)
from broker.sim.messages import ReplicaFetchRequest, TopicPartition, broker_host
from broker.sim.world import RpcError

if TYPE_CHECKING:
    from broker.core.partition import Partition
    from broker.sim.broker_node import SimBroker

CONNECTION_TIMEOUT_EXTRA_MS = 30_000


class SimFetcher:
    """Fetches the partitions its broker follows on one leader."""

    def __init__(self, broker: SimBroker, source_broker: int) -> None:
        self.broker = broker
        self.source_broker = source_broker
        settings = broker.settings
        self.state = ReplicaFetchState(
            source_broker,
            FetcherSettings(
                replica_id=broker.node_id,
                max_wait_ms=settings.replica_fetch_wait_max_ms,
                min_bytes=1,
                max_bytes=settings.replica_fetch_response_max_bytes,
                partition_max_bytes=settings.replica_fetch_max_bytes,
                backoff_ms=settings.replica_fetch_backoff_ms,
            ),
        )
        # Every pending continuation (a wait, a fetch in flight) holds the generation it was
        # started in; a kick starts a new one, so the old continuation is ignored.
        self.generation = 0
        self.running = False

    def add(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        log_ = self.broker.partition_log(*key)
        self.state.add_partition(key, partition.topic_id, partition.leader_epoch, log_)
        self._kick()

    def remove(self, key: TopicPartition) -> None:
        self.state.remove_partition(key)

    def _kick(self) -> None:
        """New work: stop waiting, abandon a parked fetch, fetch again now."""
        self.generation += 1
        generation = self.generation
        self.state.reset_session()  # the abandoned fetch may have moved the leader's session
        self.broker.after(0, "fetcher kick", lambda: self._round(generation))

    def _wait(self, delay_ms: int | None) -> None:
        """Wait for a kick, or ``delay_ms`` (None: only a kick)."""
        self.generation += 1
        generation = self.generation
        if delay_ms is not None:
            self.broker.after(delay_ms, "fetcher wait", lambda: self._round(generation))

    def _round(self, generation: int) -> None:
        if generation != self.generation:
            return
        if not self.state.partitions:
            self._wait(None)
            return
        broker = self.broker
        if self.source_broker not in broker.image.brokers:
            self._wait(broker.settings.replica_fetch_backoff_ms)  # no endpoint yet
            return
        now = broker.now()
        request = self.state.build_request(now, broker.broker_epoch)
        if request is None:
            ready = self.state.next_ready_ms()
            self._wait(None if ready is None else max(ready - now, 1))
            return
        timeout = broker.settings.replica_fetch_wait_max_ms + CONNECTION_TIMEOUT_EXTRA_MS
        broker.world.call(
            broker.host,
            broker_host(self.source_broker),
            ReplicaFetchRequest(request),
            lambda response: self._on_response(generation, response),
            timeout_ms=timeout,
            channel=f"fetch-{broker.node_id}",
        )

    def _on_response(self, generation: int, response: Any) -> None:
        if generation != self.generation:
            return  # abandoned: a kick started another fetch
        broker = self.broker
        if isinstance(response, RpcError):
            self.state.reset_session()
            self._wait(broker.settings.replica_fetch_backoff_ms)
            return
        names = {topic.topic_id: topic.name for topic in broker.image.topics_by_name.values()}
        effects = self.state.handle_response(
            response, broker.partition_logs_view(), broker.now(), names
        )
        for effect in effects:
            broker.apply_fetched(self.source_broker, self.state, effect)
        self.generation += 1
        next_generation = self.generation
        broker.after(0, "fetcher next round", lambda: self._round(next_generation))


class FetcherManager:
    """Which leader each followed partition is fetched from (``ReplicaFetcherManager``)."""

    def __init__(self, broker: SimBroker) -> None:
        self.broker = broker
        self.fetchers: dict[int, SimFetcher] = {}
        self.followed: dict[TopicPartition, int] = {}

    def follow(self, partition: Partition) -> None:
        key = (partition.topic, partition.index)
        self.unfollow(key)
        fetcher = self.fetchers.get(partition.leader)
        if fetcher is None:
            fetcher = SimFetcher(self.broker, partition.leader)
            self.fetchers[partition.leader] = fetcher
        fetcher.add(partition)
        self.followed[key] = partition.leader

    def unfollow(self, key: TopicPartition) -> None:
        source = self.followed.pop(key, None)
        if source is not None and source in self.fetchers:
            self.fetchers[source].remove(key)
