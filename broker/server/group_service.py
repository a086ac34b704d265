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
- State is loaded on first use by replaying the ``__consumer_offsets`` partitions this broker
  leads (on a single node: all of them), Kafka's coordinator load.
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
from client.protocol.errors import ErrorCode

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
                wall_clock_offset_ms=wall_ms() - monotonic_ms(),
            ),
            member_id_suffix=lambda: str(uuid.uuid4()),
        )
        self.loaded = False
        self._waiters: dict[ParkedRequest, anyio.Event] = {}
        self._wakeup = anyio.Event()

    async def ensure_loaded(self) -> ErrorCode:
        """Create ``__consumer_offsets`` if needed and replay it into the coordinator once."""
        if self.loaded:
            return ErrorCode.NONE
        error = await internal_topics.ensure_offsets_topic(self.server)
        if error not in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        topic = internal_topics.OFFSETS_TOPIC
        count = 0
        for (name, partition), local in sorted(self.server.partitions.items()):
            if name != topic or not local.is_leader:
                continue
            for _offset, key, value in internal_topics.replay(self.server, topic, partition):
                if key is not None:
                    self.coordinator.replay(key, value)
                    count += 1
            self.coordinator.load_complete(partition, monotonic_ms())
        self.loaded = True
        log.info("group coordinator loaded %d records from %s", count, topic)
        return ErrorCode.NONE

    def apply(self, result: CoordinatorResult[Any]) -> Any:
        """Persist the result's records, wake what it completed; returns its response."""
        topic = internal_topics.OFFSETS_TOPIC
        for partition, records in itertools.groupby(result.records, key=lambda r: r.partition):
            pairs = [(record.key, record.value) for record in records]
            internal_topics.append(self.server, topic, partition, pairs)
        for parked in result.completed:
            event = self._waiters.pop(parked, None)
            if event is not None:
                event.set()
        self._wakeup.set()
        return result.response

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

    async def run_timers(self) -> None:
        """Sleep until the coordinator's next deadline (or new work), then expire."""
        while True:
            self._wakeup = anyio.Event()
            deadline = self.coordinator.next_deadline_ms()
            delay = None if deadline is None else max(deadline - monotonic_ms(), 0) / 1000
            with anyio.move_on_after(delay):
                await self._wakeup.wait()
            if self.loaded:
                self.apply(self.coordinator.expire(monotonic_ms()))
