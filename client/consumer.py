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

Group membership (``subscribe()``, commits) will drive the same fetcher: a rebalance calls
``assign``, committed offsets arrive through ``seek`` before any ``auto.offset.reset``, and
commits take :meth:`Consumer.position`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from client.admin import ListedOffset, list_offsets
from client.cluster import Cluster
from client.config import ConsumerConfig
from client.connection import DEFAULT_MAX_FRAME_BYTES, exit_task_group
from client.errors import KafkaClosedError, KafkaError, KafkaTimeoutError
from client.fetcher import EARLIEST, FETCH, LATEST, Fetcher, FetchRequest
from client.metadata import TopicPartition
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
        """Consume exactly these partitions (replacing the assignment; Kafka's assign)."""
        wanted = [TopicPartition(*tp) for tp in partitions]
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
        return await list_offsets(self._cluster, specs, timeout_ms=limit_ms)

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
                self._cluster, specs, timeout_ms=self.config.default_api_timeout_ms
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
