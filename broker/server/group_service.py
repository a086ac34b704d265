"""The shell around the sans-IO group coordinator: records to ``__consumer_offsets``, parked
requests, timers.

- Every :class:`CoordinatorResult` goes through :meth:`GroupService.apply`: its records are
  appended to their ``__consumer_offsets`` partitions first (on one node that is the acks=all
  commit), then the parked requests it completed are woken.  Only then is the response sent.
- A parked JoinGroup / SyncGroup waits on an event keyed by its ``ParkedRequest`` handle; the
  coordinator guarantees each is completed exactly once (rebalance done, member removed,
  superseded, or unloaded).
- One timer task sleeps until the coordinator's next deadline and calls ``expire`` (rebalance,
  sync and session timeouts, offsets retention).
- A group's coordinator is the leader of its ``__consumer_offsets`` partition.  A partition's
  state is loaded on first use by replaying it (Kafka's coordinator load) and unloaded when its
  leadership moves away (parked requests answer NOT_COORDINATOR); records are committed with
  acks=all semantics (the HW passes them) before any response goes out.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from typing import TYPE_CHECKING, Any

import anyio

from broker.core.group_coordinator import (
    CoordinatorResult,
    GroupCoordinator,
    GroupCoordinatorConfig,
    ParkedRequest,
)
from broker.server import internal_topics
from broker.server.clock import monotonic_ms, wall_ms
from client.protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

log = logging.getLogger("odradek.groups")


class GroupService:
    """Owns the coordinator and runs what it asks for."""

    def __init__(self, server: BrokerServer) -> None:
        config = server.config
        self.server = server
        self.coordinator = GroupCoordinator(
            config=GroupCoordinatorConfig(
                group_min_session_timeout_ms=config.group_min_session_timeout_ms,
                group_max_session_timeout_ms=config.group_max_session_timeout_ms,
                group_initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
                offsets_topic_num_partitions=config.offsets_topic_num_partitions,
                offsets_retention_minutes=config.offsets_retention_minutes,
                group_consumer_session_timeout_ms=config.group_consumer_session_timeout_ms,
                group_consumer_heartbeat_interval_ms=config.group_consumer_heartbeat_interval_ms,
                group_consumer_assignors=config.group_consumer_assignors,
                group_share_session_timeout_ms=config.group_share_session_timeout_ms,
                group_share_heartbeat_interval_ms=config.group_share_heartbeat_interval_ms,
                group_share_max_size=config.group_share_max_size,
                wall_clock_offset_ms=wall_ms() - monotonic_ms(),
            ),
            member_id_suffix=lambda: str(uuid.uuid4()),
        )
        self.coordinator.group_configs = lambda group_id: server.image.group_configs.get(
            group_id, {}
        )
        self.loaded = False
        self.owned: set[int] = set()
        self._waiters: dict[ParkedRequest, anyio.Event] = {}
        self._wakeup = anyio.Event()

    async def _offsets_topic_ready(self) -> bool:
        error = await internal_topics.ensure_offsets_topic(self.server)
        return error in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS)

    async def owner_error(self, group_id: str) -> ErrorCode:
        """NONE when this broker coordinates ``group_id`` now: it leads the group's
        ``__consumer_offsets`` partition (loaded by replay on first use); else
        NOT_COORDINATOR, so the client looks the coordinator up again."""
        if not await self._offsets_topic_ready():
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        partition = self.coordinator.partition_for(group_id)
        local = self.server.partitions.get((internal_topics.OFFSETS_TOPIC, partition))
        if local is None or not local.is_leader:
            return ErrorCode.NOT_COORDINATOR
        if partition not in self.owned:
            self._load(partition)
        return ErrorCode.NONE

    async def ensure_loaded(self) -> ErrorCode:
        """Load every ``__consumer_offsets`` partition this broker leads (ListGroups & co.)."""
        if not await self._offsets_topic_ready():
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        for (name, partition), local in sorted(self.server.partitions.items()):
            owned = partition in self.owned
            if name == internal_topics.OFFSETS_TOPIC and local.is_leader and not owned:
                self._load(partition)
        return ErrorCode.NONE

    def _load(self, partition: int) -> None:
        """Kafka's coordinator load: replay the partition into the coordinator."""
        topic = internal_topics.OFFSETS_TOPIC
        count = 0
        coordinator = self.coordinator

        def on_marker(producer_id: int, commit: bool) -> None:
            coordinator.complete_txn(partition, producer_id, commit)

        for _offset, key, value, txn_producer_id in internal_topics.replay(
            self.server, topic, partition, on_marker
        ):
            if key is not None:
                coordinator.replay(key, value, txn_producer_id)
                count += 1
        self.coordinator.load_complete(partition, monotonic_ms())
        self.owned.add(partition)
        self.loaded = True
        self._wakeup.set()
        log.info("group coordinator loaded %d records from %s-%d", count, topic, partition)

    def on_txn_marker(self, partition: int, producer_id: int, commit: bool) -> None:
        """A committed end-transaction marker on a ``__consumer_offsets`` partition this
        broker leads: the producer's pending offsets there become committed or go."""
        if partition in self.owned:
            self.coordinator.complete_txn(partition, producer_id, commit)

    def on_leadership_change(self, partition: int, is_leader: bool) -> None:
        """Leadership of a ``__consumer_offsets`` partition moved: a lost partition's groups
        are unloaded (their parked requests answer NOT_COORDINATOR); a won one is loaded on
        its first request."""
        if is_leader or partition not in self.owned:
            return
        self.owned.discard(partition)
        result = self.coordinator.unload_partition(partition, monotonic_ms())
        self._complete(result)
        log.info("group coordinator unloaded %s-%d", internal_topics.OFFSETS_TOPIC, partition)

    async def apply(self, result: CoordinatorResult[Any]) -> Any:
        """Append the result's records and wait until they are committed (acks=all within
        the cluster), then wake what it completed; returns its response."""
        topic = internal_topics.OFFSETS_TOPIC
        required: dict[tuple[str, int], tuple[int, int]] = {}
        runs = itertools.groupby(
            result.records, key=lambda r: (r.partition, r.producer_id, r.producer_epoch)
        )
        for (partition, producer_id, producer_epoch), records in runs:
            pairs = [(record.key, record.value) for record in records]
            local = self.server.partitions.get((topic, partition))
            if local is None or not local.is_leader:
                self._fail_partition(partition)
                raise ProtocolError(f"not the coordinator of {topic}-{partition} any more")
            internal_topics.append(
                self.server,
                topic,
                partition,
                pairs,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
            )
            required[(topic, partition)] = (local.log_end_offset, local.leader_epoch)
        if required:
            await self._await_committed(required)
        self._complete(result)
        return result.response

    async def _await_committed(self, required: dict[tuple[str, int], tuple[int, int]]) -> None:
        timeout_ms = self.server.config.offsets_commit_timeout_ms
        failed = await internal_topics.await_committed(self.server, required, timeout_ms)
        for key, status in failed.items():
            # Not committed: the partition's next leader (or a reload) replays the log,
            # which is the truth; this client reconnects and finds the coordinator again.
            self._fail_partition(key[1])
            name = "REQUEST_TIMED_OUT" if status is None else status.name
            raise ProtocolError(f"offsets commit to {key[0]}-{key[1]} failed: {name}")

    def _fail_partition(self, partition: int) -> None:
        if partition in self.owned:
            self.owned.discard(partition)
            self._complete(self.coordinator.unload_partition(partition, monotonic_ms()))

    def _complete(self, result: CoordinatorResult[Any]) -> None:
        for parked in result.completed:
            event = self._waiters.pop(parked, None)
            if event is not None:
                event.set()
        self._wakeup.set()

    async def wait(self, parked: ParkedRequest) -> Any:
        """The response of a parked request, once the coordinator completed it."""
        if parked.response is None:
            event = anyio.Event()
            self._waiters[parked] = event
            try:
                await event.wait()
            finally:
                self._waiters.pop(parked, None)
        assert parked.response is not None
        return parked.response

    def rearm(self) -> None:
        """A deadline may have moved earlier (a share group member joined or heartbeat):
        the timer task looks again."""
        self._wakeup.set()

    async def run_timers(self) -> None:
        """Sleep until the coordinator's next deadline (or new work), then expire."""
        while True:
            self._wakeup = anyio.Event()
            deadline = self.coordinator.next_deadline_ms()
            delay = None if deadline is None else max(deadline - monotonic_ms(), 0) / 1000
            with anyio.move_on_after(delay):
                await self._wakeup.wait()
            if self.loaded:
                try:
                    await self.apply(self.coordinator.expire(monotonic_ms()))
                except ProtocolError as error:
                    log.warning("group coordinator: %s", error)
