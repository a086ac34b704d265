"""The async consumer (anyio): assign, seek, poll, iterate.

    async with Consumer(bootstrap_servers="127.0.0.1:9092", auto_offset_reset="earliest") as c:
        c.assign([TopicPartition("events", 0)])
        async for record in c:
            ...

Every decision is the sans-IO :class:`~client.fetcher.Fetcher`'s; this module only does the
I/O it asks for, in tasks of the consumer's own task group:

* a fetch loop that, whenever something changes (a response, a poll that freed buffer space,
  a seek, a backoff expiring), sends one Fetch to each partition leader that has none in
  flight (all leaders concurrently, one in-flight fetch per broker, as librdkafka), and
  resolves reset positions with ListOffsets;
* the user's ``getmany`` / ``getone`` / ``async for`` take buffered records.  Partitions keep
  being fetched while less than ``max.partition.fetch.bytes`` is buffered, so the next fetch is
  already under way while the user processes the last one (prefetch).

Group membership (``group.id``) drives the same fetcher: :meth:`Consumer.subscribe` hands the
topics (or a pattern) to the sans-IO :class:`~client.group.GroupMember`, and two more tasks do
its I/O on a connection of their own to the group coordinator (a JoinGroup may wait at the
coordinator for the whole rebalance, and a broker answers one request per connection at a
time, so fetches must not queue behind it -- Kafka's client keeps a separate coordinator
connection for the same reason):

* the group task: FindCoordinator, JoinGroup, SyncGroup, then each rebalance event in order --
  on revocation an auto-commit (unless the partitions were lost) and the listener's
  ``on_partitions_revoked``; on assignment OffsetFetch of the added partitions, the fetcher's
  new assignment with those committed offsets ``seek``-ed before any ``auto.offset.reset``,
  and ``on_partitions_assigned``; plus the auto-commit every ``auto.commit.interval.ms``;
* the heartbeat task: a Heartbeat every ``heartbeat.interval.ms``, so a slow listener does not
  cost the membership.  ``getmany`` (and iteration) must still be called within
  ``max.poll.interval.ms``, else the member leaves the group (KIP-62) and rejoins on the next
  call with its partitions lost.

Commits take the position of the next record the user has *not yet been given* (records taken
for ``getone`` / ``async for`` but not handed out yet are not committed); the background
auto-commit stores the positions as of the latest ``getmany`` call, so, as with Kafka's
poll-driven auto-commit, records count as processed once the user asks for more.  ``close`` commits
(auto-commit), revokes and sends LeaveGroup (not for a static ``group.instance.id`` member).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
from construct import Container

from client.admin import ListedOffset, list_offsets
from client.cluster import Cluster
from client.config import ConsumerConfig
from client.connection import DEFAULT_MAX_FRAME_BYTES, Connection, exit_task_group
from client.errors import KafkaClosedError, KafkaError, KafkaTimeoutError, error_for
from client.fetcher import EARLIEST, FETCH, LATEST, Fetcher, FetchRequest
from client.group import (
    CommitCallback,
    Coordinator,
    GroupMember,
    GroupRequest,
    OffsetAndMetadata,
    Offsets,
    PartitionsAssigned,
    PartitionsRevoked,
    RebalanceEvent,
    as_offsets,
)
from client.metadata import ClusterMetadata, TopicPartition
from client.protocol.errors import ErrorCode
from client.records_view import ConsumerRecord

# A fetch may return one batch beyond fetch.max.bytes (KIP-74); leave room for it and framing.
FRAME_SLACK_BYTES = 16 * 1024 * 1024
T = TypeVar("T")
# Iteration waits for records in slices of this length, so every wait has a deadline.
ITERATION_WAIT_MS = 1000


class OffsetAndTimestamp(NamedTuple):
    """An ``offsets_for_times`` answer: the first offset at or after the timestamp."""

    offset: int
    timestamp: int
    leader_epoch: int


class Consumer:
    """An assign-based consumer.  ``Consumer(settings, **kwargs)`` takes Kafka keys
    (``{"fetch.min.bytes": 1}``) or keywords (``fetch_min_bytes=1``); see
    :class:`~client.config.ConsumerConfig`.  Use it as ``async with``.
    """

    def __init__(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = ConsumerConfig.from_settings(settings, **kwargs)
        self._fetcher = Fetcher(self.config)
        frame_bytes = max(DEFAULT_MAX_FRAME_BYTES, self.config.fetch_max_bytes + FRAME_SLACK_BYTES)
        self._cluster = Cluster(self.config, max_frame_bytes=frame_bytes)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._busy_nodes: set[int] = set()
        self._wakeup = anyio.Event()  # the fetch loop has something to look at
        self._data_ready = anyio.Event()  # a poller may find records (or an error)
        self._positions_changed = anyio.Event()
        self._fatal: KafkaError | None = None
        self._closed = False
        # Records taken from the fetcher but not yet handed out one by one (getone, async for).
        self._chunk: list[ConsumerRecord] = []
        self._chunk_index = 0
        self._group: _AsyncGroup | None = None
        self._manual_assignment = False

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Bootstrap and start the fetch loop."""
        await self._cluster.__aenter__()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._fetch_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Stop fetching and close every connection."""
        task_group = self._task_group
        if task_group is None or self._closed:
            return None
        if self._group is not None:
            # Commit, revoke and leave even when closing because of a cancellation; bounded
            # by request.timeout.ms (Kafka's close timeout is 30 s too).
            with anyio.move_on_after(self.config.request_timeout_ms / 1000, shield=True):
                await self._group.close()
        self._closed = True
        self._data_ready.set()  # pollers waiting now see the consumer closed
        task_group.cancel_scope.cancel()
        await exit_task_group(task_group, exc_type, exc, traceback)
        return await self._cluster.__aexit__(exc_type, exc, traceback)

    async def close(self) -> None:
        """Stop fetching and close the connections (what leaving ``async with`` does)."""
        await self.__aexit__(None, None, None)

    def _check_open(self) -> None:
        if self._closed or self._task_group is None:
            raise KafkaClosedError("the consumer is closed (or was never started)")

    # -- assignment and positions ------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Consume exactly these partitions (replacing the assignment; Kafka's assign).
        Not with :meth:`subscribe` (the group decides the assignment then)."""
        if self._group is not None:
            raise KafkaError("assign() after subscribe(): the group assigns the partitions")
        self._manual_assignment = True
        self._set_assignment(TopicPartition(*tp) for tp in partitions)

    def _set_assignment(self, partitions: Iterable[TopicPartition]) -> None:
        wanted = list(partitions)
        self._fetcher.assign(wanted)
        self._cluster.track({tp.topic for tp in wanted})
        self._drop_chunk(lambda tp: tp not in self._fetcher.assignment())
        self._wakeup.set()

    def assignment(self) -> frozenset[TopicPartition]:
        """The assigned partitions."""
        return self._fetcher.assignment()

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """The next record returned for ``partition`` will be the one at ``offset``."""
        self._fetcher.seek(partition, offset)
        self._drop_chunk(lambda tp: tp == partition)
        self._positions_changed.set()
        self._wakeup.set()

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Move to the log start offset (all assigned partitions if none are given); lazy."""
        self._reset(partitions, EARLIEST)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Move to the log end offset (all assigned partitions if none are given); lazy."""
        self._reset(partitions, LATEST)

    def _reset(self, partitions: tuple[TopicPartition, ...], spec: int) -> None:
        chosen = set(partitions or self._fetcher.assignment())
        for tp in chosen:
            self._fetcher.request_reset(tp, spec)
        self._drop_chunk(lambda tp: tp in chosen)
        self._wakeup.set()

    async def position(self, partition: TopicPartition, *, timeout_ms: int | None = None) -> int:
        """The offset of the next record this consumer returns for ``partition``.

        Resolved with ListOffsets (``auto.offset.reset``) if unknown; raises
        :class:`~client.fetcher.NoOffsetForPartitionError` with ``auto.offset.reset=none``,
        :class:`~client.errors.KafkaTimeoutError` after ``default.api.timeout.ms``.
        """
        self._check_open()
        for record in self._chunk[self._chunk_index :]:
            if record.partition == partition.partition and record.topic == partition.topic:
                return record.offset
        limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
        with anyio.move_on_after(limit_ms / 1000):
            while True:
                changed = self._positions_changed
                if changed.is_set():
                    changed = self._positions_changed = anyio.Event()
                offset = self._fetcher.position(partition)
                if offset is not None:
                    return offset
                self._wakeup.set()
                await changed.wait()
        raise KafkaTimeoutError(f"position of {partition} not known within {limit_ms} ms")

    def highwater(self, partition: TopicPartition) -> int:
        """The high watermark of ``partition`` as of the last fetch (-1 before one)."""
        return self._fetcher.highwater(partition)

    def _drop_chunk(self, dropped: Callable[[TopicPartition], bool]) -> None:
        """Forget records taken for iteration but not yet handed out, for some partitions."""
        rest = self._chunk[self._chunk_index :]
        self._chunk = [r for r in rest if not dropped(TopicPartition(r.topic, r.partition))]
        self._chunk_index = 0

    # -- offsets -----------------------------------------------------------------------------

    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        """Each partition's log start offset (ListOffsets EARLIEST)."""
        listed = await self._list(dict.fromkeys(partitions, EARLIEST), timeout_ms)
        return {tp: answer.offset for tp, answer in listed.items()}

    async def end_offsets(
        self, partitions: Iterable[TopicPartition], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        """Each partition's log end offset (the offset the next record will get)."""
        listed = await self._list(dict.fromkeys(partitions, LATEST), timeout_ms)
        return {tp: answer.offset for tp, answer in listed.items()}

    async def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """Per partition, the earliest record whose timestamp is >= the given one (ms), or
        None if there is none (Kafka's offsetsForTimes)."""
        for tp, timestamp in timestamps.items():
            if timestamp < 0:
                raise ValueError(f"timestamp of {tp} must be >= 0, got {timestamp}")
        listed = await self._list(dict(timestamps), timeout_ms)
        return {
            tp: None
            if answer.offset < 0
            else OffsetAndTimestamp(answer.offset, answer.timestamp, answer.leader_epoch)
            for tp, answer in listed.items()
        }

    async def _list(
        self, specs: dict[TopicPartition, int], timeout_ms: int | None
    ) -> dict[TopicPartition, ListedOffset]:
        self._check_open()
        limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
        return await list_offsets(
            self._cluster,
            specs,
            timeout_ms=limit_ms,
            isolation_level=1 if self.config.read_committed else 0,
        )

    # -- group membership --------------------------------------------------------------------

    def subscribe(
        self,
        topics: Iterable[str] | str | re.Pattern[str],
        listener: RebalanceListener | None = None,
    ) -> None:
        """Join ``group.id`` and consume what the group assigns: the named topics, or every
        topic a compiled ``re.Pattern`` fully matches (checked at each metadata refresh,
        ``metadata.max.age.ms``).  Subscribing again replaces the subscription (a rebalance).

        ``listener`` (a :class:`RebalanceListener`) is awaited around every rebalance.
        Assignors: ``partition.assignment.strategy`` (range, roundrobin,
        cooperative-sticky); with only cooperative ones the member rebalances cooperatively.
        """
        self._check_open()
        if self.config.group_id is None:
            raise KafkaError("subscribe() needs group.id")
        if self._manual_assignment:
            raise KafkaError("subscribe() after assign(): use one or the other")
        group = self._group
        if group is None:
            assert self._task_group is not None
            group = self._group = _AsyncGroup(self, self._task_group)
            group.start()
        group.listener = listener
        if isinstance(topics, re.Pattern):
            group.member.subscribe(pattern=topics)
        else:
            names = [topics] if isinstance(topics, str) else list(topics)
            group.member.subscribe(names)
            self._cluster.track(names)
        group.wake()

    def subscription(self) -> frozenset[str]:
        """The subscribed topics (for a pattern, its matches as of the last metadata)."""
        return frozenset() if self._group is None else self._group.member.subscription

    async def commit(
        self, offsets: Offsets | None = None, *, timeout_ms: int | None = None
    ) -> None:
        """Commit ``offsets`` (partition → next offset to consume, or an
        :class:`~client.group.OffsetAndMetadata`), by default the position of every assigned
        partition; waits for the answer (Kafka's commitSync), retrying retriable errors for
        ``default.api.timeout.ms``.  Raises :class:`~client.group.CommitFailedError` if the
        group rebalanced the partitions away meanwhile."""
        group = self._require_group()
        chosen = self._consumed_offsets() if offsets is None else as_offsets(offsets)
        limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
        await group.commit(chosen, limit_ms)

    def commit_async(
        self, offsets: Offsets | None = None, callback: CommitCallback | None = None
    ) -> None:
        """Commit in the background (Kafka's commitAsync); ``callback(offsets, error)`` runs
        when it completes, ``error`` None on success."""
        group = self._require_group()
        chosen = self._consumed_offsets() if offsets is None else as_offsets(offsets)

        async def run() -> None:
            outcome: KafkaError | None = None
            try:
                await group.commit(chosen, self.config.default_api_timeout_ms)
            except KafkaError as failure:
                outcome = failure
            if callback is not None:
                callback(chosen, outcome)

        self._spawn(lambda _: run(), None)

    async def committed(
        self, partitions: Iterable[TopicPartition], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The group's committed offset of each partition (None if it has none)."""
        group = self._require_group()
        wanted = list(partitions)
        limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
        found = await group.committed(wanted, limit_ms)
        return {tp: found.get(tp) for tp in wanted}

    def _require_group(self) -> _AsyncGroup:
        self._check_open()
        if self.config.group_id is None:
            raise KafkaError("commits need group.id")
        if self._group is None:
            assert self._task_group is not None
            # Commits with assign() still go through the coordinator (Kafka allows them).
            self._group = _AsyncGroup(self, self._task_group)
            self._group.start()
        return self._group

    def _consumed_offsets(
        self, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Offsets to commit: the next record the user has not been given, per partition."""
        positions = self._fetcher.positions()
        chosen = positions.keys() if partitions is None else set(partitions) & positions.keys()
        out = {tp: OffsetAndMetadata(*positions[tp]) for tp in chosen}
        for record in self._chunk[self._chunk_index :]:
            tp = TopicPartition(record.topic, record.partition)
            if tp in out and record.offset < out[tp].offset:
                out[tp] = OffsetAndMetadata(record.offset, record.leader_epoch)
        return out

    # -- records -----------------------------------------------------------------------------

    async def getmany(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records by partition, at most ``max_records`` (default ``max.poll.records``).

        Returns as soon as any are buffered, else waits up to ``timeout_ms`` for some (``{}``
        if none came).  Raises a partition's error once (NoOffsetForPartitionError,
        PartitionOffsetOutOfRangeError, authorization failures, corrupt batches).
        """
        self._check_open()
        limit = self.config.max_poll_records if max_records is None else max_records
        if limit < 1:
            raise ValueError(f"max_records must be >= 1, got {limit}")
        if self._group is not None:
            # As Kafka's poll-driven auto-commit: what earlier calls returned counts as processed.
            self._group.polled_offsets = self._consumed_offsets()
            if self._group.member.note_poll(self._now_ms()):
                self._group.wake()
        if self._chunk_index < len(self._chunk):
            return self._from_chunk(limit)
        # A checkpoint even when records are ready: the connection readers and fetches run
        # here, which is what keeps the next fetch in flight while the user works.
        await anyio.lowlevel.checkpoint()
        deadline = anyio.current_time() + timeout_ms / 1000
        while True:
            self._raise_fatal()
            records = self._fetcher.poll(limit)
            if records:
                self._wakeup.set()  # buffer space was freed: more can be fetched
                return records
            left_s = deadline - anyio.current_time()
            if left_s <= 0:
                return {}
            self._wakeup.set()  # let the fetch loop look again (errors, resets) while we wait
            ready = self._data_ready
            if ready.is_set():
                ready = self._data_ready = anyio.Event()
            with anyio.move_on_after(left_s):
                await ready.wait()
            self._check_open()

    async def getone(self) -> ConsumerRecord:
        """The next record, waiting as long as it takes (KafkaClosedError once closed)."""
        index = self._chunk_index
        if index < len(self._chunk):
            self._chunk_index = index + 1
            return self._chunk[index]
        while True:
            polled = await self.getmany(ITERATION_WAIT_MS)
            if polled:
                chunk: list[ConsumerRecord] = []
                for records in polled.values():
                    chunk.extend(records)
                self._chunk = chunk
                self._chunk_index = 1
                return chunk[0]

    def __aiter__(self) -> Self:
        """``async for record in consumer:`` — :meth:`getone` until the consumer is closed."""
        return self

    async def __anext__(self) -> ConsumerRecord:
        """The next record; iteration ends when the consumer is closed."""
        index = self._chunk_index
        if index < len(self._chunk):
            self._chunk_index = index + 1
            return self._chunk[index]
        try:
            return await self.getone()
        except KafkaClosedError:
            raise StopAsyncIteration from None

    def _from_chunk(self, limit: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        start = self._chunk_index
        taken = self._chunk[start : start + limit]
        self._chunk_index = start + len(taken)
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for record in taken:
            out.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return out

    def _raise_fatal(self) -> None:
        error = self._fatal
        if error is not None:
            self._fatal = None
            raise error

    # -- the fetch loop ----------------------------------------------------------------------

    def _now_ms(self) -> float:
        return anyio.current_time() * 1000

    async def _fetch_loop(self) -> None:
        """Start whatever fetches and resets the fetcher wants; sleep until something changes."""
        while True:
            self._wakeup = anyio.Event()
            wait_ms = await self._fetch_round()
            with anyio.move_on_after(wait_ms / 1000):
                await self._wakeup.wait()

    async def _fetch_round(self) -> float:
        """One look at the fetcher; returns how long to sleep at most (ms)."""
        fetcher = self._fetcher
        if not fetcher.assignment():
            return math.inf
        try:
            metadata = await self._cluster.current_metadata(fetcher.topics())
        except KafkaError as error:
            self._note(error)
            return float(self.config.retry_backoff_ms)
        now_ms = self._now_ms()
        resets = fetcher.resets_needed(now_ms)
        if resets:
            self._spawn(self._run_resets, resets)
        if fetcher.has_buffered():
            # resets_needed may have left an error (NoOffsetForPartition) to raise.
            self._data_ready.set()
            self._positions_changed.set()
        nodes, missing_leader = fetcher.ready_nodes(metadata, self._busy_nodes, now_ms)
        for node_id in nodes:
            self._busy_nodes.add(node_id)
            self._spawn(self._fetch_from, node_id)
        if missing_leader:
            self._cluster.invalidate()
            return float(self.config.retry_backoff_ms)
        retry_at = fetcher.next_retry_ms(now_ms)
        return math.inf if retry_at is None else retry_at - now_ms

    def _spawn(self, function: Callable[[T], Coroutine[Any, Any, None]], argument: T) -> None:
        assert self._task_group is not None
        if not self._closed:
            self._task_group.start_soon(function, argument)

    def _note(self, error: KafkaError) -> None:
        """Keep a non-retriable error for the next poll; retriable ones are retried."""
        if not error.retriable:
            self._fatal = error
            self._data_ready.set()

    async def _fetch_from(self, node_id: int) -> None:
        request: FetchRequest | None = None
        config = self.config
        try:
            connection = await self._cluster.connection_to(node_id)
            version = connection.pick_version(FETCH)
            request = self._fetcher.build_fetch(
                node_id, self._cluster.metadata, version, self._now_ms()
            )
            if request is None:
                return
            response = await connection.send(
                FETCH,
                request.body,
                version=request.version,
                timeout_ms=config.request_timeout_ms + config.fetch_max_wait_ms,
            )
        except KafkaError as error:
            self._note(error)
            if request is not None:
                self._fetcher.handle_failure(request, error, self._now_ms())
            self._cluster.invalidate(error)
            # Hold this broker's slot for the backoff, so a failing broker is not hammered.
            await anyio.sleep(config.retry_backoff_ms / 1000)
        else:
            outcome = self._fetcher.handle_response(request, response, self._now_ms())
            if outcome.refresh_metadata:
                self._cluster.invalidate()
            if outcome.records_ready:
                self._data_ready.set()
        finally:
            self._busy_nodes.discard(node_id)
            self._wakeup.set()

    async def _run_resets(self, resets: dict[TopicPartition, tuple[int, int]]) -> None:
        specs = {tp: spec for tp, (spec, _) in resets.items()}
        try:
            listed = await list_offsets(
                self._cluster,
                specs,
                timeout_ms=self.config.default_api_timeout_ms,
                isolation_level=1 if self.config.read_committed else 0,
            )
        except KafkaError as error:
            for tp, (_, token) in resets.items():
                self._fetcher.reset_failed(tp, token, error, self._now_ms())
        else:
            for tp, (_, token) in resets.items():
                answer = listed[tp]
                self._fetcher.reset_done(tp, token, answer.offset, answer.leader_epoch)
        finally:
            self._positions_changed.set()
            self._data_ready.set()
            self._wakeup.set()


# -- group membership ------------------------------------------------------------------------


class RebalanceListener:
    """Rebalance callbacks of the async consumer (Kafka's ConsumerRebalanceListener); override
    what you need.  They run in the consumer's group task, in order, before the fetcher's
    assignment changes (revoked) or after it changed (assigned)."""

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """``revoked`` are about to stop being consumed (commit your own offsets here)."""

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """``assigned`` (the newly added partitions) are about to be consumed."""

    async def on_partitions_lost(self, lost: frozenset[TopicPartition]) -> None:
        """The generation ended before ``lost`` could be revoked: they may already belong to
        another member, so do not commit them.  Defaults to :meth:`on_partitions_revoked`."""
        await self.on_partitions_revoked(lost)


class _AsyncGroup:
    """The I/O of one :class:`~client.group.GroupMember` for the async consumer."""

    def __init__(self, consumer: Consumer, task_group: anyio.abc.TaskGroup) -> None:
        self.consumer = consumer
        self.config = consumer.config
        self.member = GroupMember(consumer.config)
        self.listener: RebalanceListener | None = None
        self._task_group = task_group
        self._scope = anyio.CancelScope()
        self._wakeup = anyio.Event()
        self._heartbeat_wakeup = anyio.Event()
        self._connection: Connection | None = None
        self._connected_to: Coordinator | None = None
        self._connect_lock = anyio.Lock()
        self._next_auto_commit_ms = -math.inf
        self._auto_commit_running = False
        self._all_topics_at_ms = -math.inf  # the last metadata refresh for a pattern
        # Positions at the latest getmany: what auto-commit stores (records handed out before
        # that call count as processed, as with Kafka's poll).
        self.polled_offsets: dict[TopicPartition, OffsetAndMetadata] = {}

    def start(self) -> None:
        """Start the group and heartbeat tasks."""
        self._task_group.start_soon(self._run)

    async def _run(self) -> None:
        with self._scope:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._heartbeat_loop)
                await self._group_loop()

    def wake(self) -> None:
        """Something changed (an answer, a subscription, a poll): look again."""
        self._wakeup.set()
        self._heartbeat_wakeup.set()

    def _now_ms(self) -> float:
        return anyio.current_time() * 1000

    # -- the loops ---------------------------------------------------------------------------

    async def _group_loop(self) -> None:
        member = self.member
        while True:
            self._wakeup = anyio.Event()
            try:
                metadata = await self._metadata()
            except KafkaError as error:
                self.consumer._note(error)
                await anyio.sleep(self.config.retry_backoff_ms / 1000)
                continue
            while (request := member.poll(self._now_ms(), metadata)) is not None:
                self._task_group.start_soon(self._exchange, request)
            while (event := member.take_event()) is not None:
                await self._apply(event)
                member.event_done()
                self._wakeup.set()
            self._maybe_auto_commit()
            fatal = member.take_error()
            if fatal is not None:
                self.consumer._note(fatal)
            await self._sleep(
                self._wakeup,
                member.poll_deadline_ms(),
                self._auto_commit_due(),
                self._pattern_refresh_due_ms(),
            )

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_wakeup = anyio.Event()
            request = self.member.heartbeat(self._now_ms())
            if request is not None:
                self._task_group.start_soon(self._exchange, request)
            await self._sleep(self._heartbeat_wakeup, self.member.heartbeat_deadline_ms())

    async def _sleep(self, wakeup: anyio.Event, *deadlines_ms: float | None) -> None:
        due = [deadline for deadline in deadlines_ms if deadline is not None]
        wait_s = (min(due) - self._now_ms()) / 1000 if due else math.inf
        if wait_s > 0:
            with anyio.move_on_after(wait_s):
                await wakeup.wait()

    async def _metadata(self) -> ClusterMetadata:
        """The metadata the member needs; a pattern needs every topic, every
        ``metadata.max.age.ms``."""
        cluster = self.consumer._cluster
        due = self._pattern_refresh_due_ms()
        if due is not None and due <= self._now_ms():
            await cluster.refresh_metadata(all_topics=True)
            self._all_topics_at_ms = self._now_ms()
        return await cluster.current_metadata(self.member.wanted_topics())

    def _pattern_refresh_due_ms(self) -> float | None:
        if self.member.pattern is None:
            return None
        return self._all_topics_at_ms + self.config.metadata_max_age_ms

    # -- requests ----------------------------------------------------------------------------

    async def _exchange(self, request: GroupRequest) -> None:
        """Send a request of the member's and hand it the answer."""
        member = self.member
        try:
            response = await self.send(request)
        except KafkaError as error:
            member.handle_failure(request, error, self._now_ms())
        else:
            member.handle_response(request, response, self._now_ms())
        finally:
            self.wake()

    async def send(self, request: GroupRequest) -> Container:
        """One request to its broker (FindCoordinator: any), at the best common version."""
        if request.coordinator is None:
            connection = await self.consumer._cluster.any_connection()
        else:
            connection = await self._coordinator_connection(request.coordinator)
        version = connection.pick_version(request.api_key, ours_max=request.max_version)
        return await connection.send(
            request.api_key, request.body, version=version, timeout_ms=request.timeout_ms
        )

    async def _coordinator_connection(self, coordinator: Coordinator) -> Connection:
        async with self._connect_lock:
            connection = self._connection
            if connection is not None and not connection.closed:
                if self._connected_to == coordinator:
                    return connection
                await connection.close()
            config = self.config
            self._connection = None
            connection = await Connection.start(
                self._task_group,
                coordinator.host,
                coordinator.port,
                client_id=config.client_id,
                request_timeout_ms=config.request_timeout_ms,
                max_in_flight=config.max_in_flight_requests_per_connection,
                connect_timeout_ms=config.socket_connection_setup_timeout_ms,
                sasl=config.sasl,
                ssl_context=config.ssl_context(),
            )
            self._connection, self._connected_to = connection, coordinator
            return connection

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], timeout_ms: int) -> T:
        """Retry a coordinator operation over retriable errors (the coordinator moving,
        loading or not known yet: the group task looks it up meanwhile)."""
        deadline = anyio.current_time() + timeout_ms / 1000
        tries = 0
        while True:
            try:
                return await attempt()
            except KafkaError as error:
                if not error.retriable:
                    raise
                tries += 1
                self.wake()
                wait_s = self.consumer._cluster.retry_backoff_ms(tries) / 1000
                if anyio.current_time() + wait_s >= deadline:
                    raise
                await anyio.sleep(wait_s)

    async def _send_checked(self, request: GroupRequest) -> Container:
        try:
            return await self.send(request)
        except KafkaError as error:
            self.member.handle_failure(request, error, self._now_ms())
            raise

    # -- offsets -----------------------------------------------------------------------------

    async def commit(
        self, offsets: dict[TopicPartition, OffsetAndMetadata], timeout_ms: int
    ) -> None:
        """OffsetCommit under the current generation, retried until ``timeout_ms``."""
        if not offsets:
            return

        async def attempt() -> None:
            request = self.member.commit_request(offsets)
            response = await self._send_checked(request)
            self.member.read_commit(request, response, self._now_ms())

        await self._retrying(attempt, timeout_ms)

    async def committed(
        self, partitions: Iterable[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The group's committed offsets for ``partitions`` (those with none left out)."""
        wanted = list(partitions)
        if not wanted:
            return {}

        async def attempt() -> dict[TopicPartition, OffsetAndMetadata]:
            coordinator = self.member.coordinator
            if coordinator is None:
                raise error_for(ErrorCode.COORDINATOR_NOT_AVAILABLE, "group coordinator unknown")
            request = self.member.offset_fetch_request(wanted)
            response = await self._send_checked(request)
            return self.member.read_offset_fetch(request, response, self._now_ms())

        return await self._retrying(attempt, timeout_ms)

    def _auto_commit_due(self) -> float | None:
        if not self.config.enable_auto_commit or not self.member.in_generation:
            return None
        return max(self._next_auto_commit_ms, 0.0)

    def _maybe_auto_commit(self) -> None:
        now_ms = self._now_ms()
        due = self._auto_commit_due()
        if due is None or now_ms < due or self._auto_commit_running:
            return
        self._next_auto_commit_ms = now_ms + self.config.auto_commit_interval_ms
        self._auto_commit_running = True
        self._task_group.start_soon(self._auto_commit)

    async def _auto_commit(self) -> None:
        try:
            assigned = self.consumer.assignment()
            offsets = {tp: o for tp, o in self.polled_offsets.items() if tp in assigned}
            await self.commit(offsets, self.config.request_timeout_ms)
        except KafkaError:
            pass  # as Kafka's auto-commit: a failed round is retried at the next interval
        finally:
            self._auto_commit_running = False

    # -- rebalance events --------------------------------------------------------------------

    async def _apply(self, event: RebalanceEvent) -> None:
        consumer = self.consumer
        if isinstance(event, PartitionsRevoked):
            if self.config.enable_auto_commit and not event.lost:
                offsets = consumer._consumed_offsets(event.partitions)
                # As in Kafka, a failed commit on revocation is not raised to the user.
                with contextlib.suppress(KafkaError):
                    await self.commit(offsets, self.config.default_api_timeout_ms)
            await self._call_listener(event)
            consumer._set_assignment(consumer.assignment() - event.partitions)
            return
        try:
            committed = await self.committed(event.added, self.config.default_api_timeout_ms)
        except KafkaError as error:
            consumer._note(error)  # the added partitions fall back to auto.offset.reset
            committed = {}
        consumer._set_assignment(event.assignment)
        self._next_auto_commit_ms = self._now_ms() + self.config.auto_commit_interval_ms
        for tp, offset in committed.items():
            consumer._fetcher.seek(tp, offset.offset, offset.leader_epoch)
        await self._call_listener(event)

    async def _call_listener(self, event: RebalanceEvent) -> None:
        listener = self.listener
        if listener is None:
            return
        try:
            if isinstance(event, PartitionsAssigned):
                await listener.on_partitions_assigned(event.added)
            elif event.lost:
                await listener.on_partitions_lost(event.partitions)
            else:
                await listener.on_partitions_revoked(event.partitions)
        except Exception as error:  # user code, whatever it raises: surfaced from the next poll
            self.consumer._note(KafkaError(f"rebalance listener raised {error!r}"))

    # -- closing -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the tasks, commit (auto-commit), revoke, and leave the group."""
        self._scope.cancel()
        config = self.config
        if config.enable_auto_commit and self.member.in_generation:
            # Closing: the commit is best effort, as in Kafka's close().
            with contextlib.suppress(KafkaError):
                await self.commit(self.consumer._consumed_offsets(), config.default_api_timeout_ms)
        leave = self.member.close()
        while (event := self.member.take_event()) is not None:
            await self._call_listener(event)
            self.member.event_done()
        self.consumer._set_assignment(())
        connection = self._connection
        if leave is not None and connection is not None and connection.in_flight:
            await connection.close()  # a parked JoinGroup would hold the LeaveGroup back
        if leave is not None:
            # If the LeaveGroup is lost, the session timeout removes us anyway.
            with (
                anyio.move_on_after(config.request_timeout_ms / 1000),
                contextlib.suppress(KafkaError),
            ):
                await self.send(leave)
        if self._connection is not None:
            await self._connection.close()
