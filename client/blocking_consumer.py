"""The blocking consumer (assign-based): I/O around the sans-IO :class:`~client.fetcher.Fetcher`.

::

    with Consumer(bootstrap_servers="127.0.0.1:9092", auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("events", 0)])
        for tp, records in consumer.poll(timeout_ms=1000).items():
            ...

Every decision (positions, resets, what to fetch from whom, errors per partition, lazy batch
decoding) is the fetcher's, exactly as for the async :class:`client.consumer.Consumer`; this
module moves the bytes, in the calling thread (or greenlet), with no thread of its own:

* :meth:`Consumer.poll` resolves reset positions (ListOffsets to each leader), writes one Fetch
  to every partition leader that has none in flight (all leaders at once, pipelined), then waits
  on all their sockets for answers until records are buffered or ``timeout_ms`` passes;
* before returning records it writes the next fetches (for partitions whose buffer has room),
  so they are under way while the caller processes the records (prefetch); their answers are
  read by the next ``poll``.

Under gevent's monkey-patching (Locust) every wait yields to other greenlets.  One consumer may
be shared (each call holds its lock), but give each Locust user its own.

With ``group.id``, :meth:`Consumer.subscribe` joins the group; membership is driven from
``poll`` (:mod:`client.blocking_consumer_group`), so **poll must be called within
``session.timeout.ms`` and ``max.poll.interval.ms``** -- heartbeats are only sent from it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any, Self

from client.blocking_admin import list_offsets
from client.blocking_cluster import BlockingCluster
from client.blocking_connection import PendingRequest
from client.blocking_consumer_group import BlockingGroup, BlockingRebalanceListener
from client.config import ConsumerConfig
from client.connection import DEFAULT_MAX_FRAME_BYTES
from client.consumer import FRAME_SLACK_BYTES, ITERATION_WAIT_MS, OffsetAndTimestamp
from client.errors import KafkaClosedError, KafkaError, KafkaTimeoutError
from client.fetcher import EARLIEST, FETCH, LATEST, Fetcher, FetchRequest
from client.group import CommitCallback, OffsetAndMetadata, Offsets, as_offsets
from client.metadata import TopicPartition
from client.records_view import ConsumerRecord

__all__ = [
    "BlockingRebalanceListener",
    "Consumer",
    "ConsumerRecord",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "TopicPartition",
]


class Consumer:
    """An assign-based blocking consumer.  ``Consumer(settings, **kwargs)`` takes Kafka keys or
    keywords (see :class:`~client.config.ConsumerConfig`) and bootstraps; use it as a context
    manager or call :meth:`close`."""

    def __init__(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = ConsumerConfig.from_settings(settings, **kwargs)
        self._fetcher = Fetcher(self.config)
        frame_bytes = max(DEFAULT_MAX_FRAME_BYTES, self.config.fetch_max_bytes + FRAME_SLACK_BYTES)
        self._cluster = BlockingCluster(self.config, max_frame_bytes=frame_bytes)
        self._lock = threading.RLock()
        self._busy_nodes: set[int] = set()
        self._fatal: KafkaError | None = None
        self._closed = False
        self._group: BlockingGroup | None = None
        self._manual_assignment = False
        self._cluster.__enter__()

    def __enter__(self) -> Self:
        """The consumer (already connected)."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close every connection."""
        self.close()

    def close(self) -> None:
        """Commit (auto-commit), revoke and leave the group if subscribed, then close the
        connections.  Idempotent."""
        with self._lock:
            if self._group is not None and not self._closed:
                self._group.close()
            self._closed = True
            self._cluster.close()

    def _check_open(self) -> None:
        if self._closed:
            raise KafkaClosedError("the consumer is closed")

    # -- assignment and positions ------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Consume exactly these partitions (replacing the assignment; Kafka's assign).
        Not with :meth:`subscribe` (the group decides the assignment then)."""
        with self._lock:
            if self._group is not None and self._group.member.subscription:
                raise KafkaError("assign() after subscribe(): the group assigns the partitions")
            self._manual_assignment = True
            self._set_assignment(TopicPartition(*tp) for tp in partitions)

    def _set_assignment(self, partitions: Iterable[TopicPartition]) -> None:
        wanted = list(partitions)
        self._fetcher.assign(wanted)
        self._cluster.track({tp.topic for tp in wanted})

    def assignment(self) -> frozenset[TopicPartition]:
        """The assigned partitions."""
        return self._fetcher.assignment()

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """The next record returned for ``partition`` will be the one at ``offset``."""
        with self._lock:
            self._fetcher.seek(partition, offset)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Move to the log start offset (all assigned partitions if none are given); lazy."""
        self._reset(partitions, EARLIEST)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Move to the log end offset (all assigned partitions if none are given); lazy."""
        self._reset(partitions, LATEST)

    def _reset(self, partitions: tuple[TopicPartition, ...], spec: int) -> None:
        with self._lock:
            for tp in set(partitions or self._fetcher.assignment()):
                self._fetcher.request_reset(tp, spec)

    def position(self, partition: TopicPartition, *, timeout_ms: int | None = None) -> int:
        """The offset of the next record :meth:`poll` returns for ``partition``, resolved with
        ListOffsets (``auto.offset.reset``) if unknown; the errors of the async ``position``
        (:class:`~client.errors.KafkaTimeoutError` after ``default.api.timeout.ms``)."""
        limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + limit_ms / 1000
        with self._lock:
            self._check_open()
            while True:
                offset = self._fetcher.position(partition)
                if offset is not None:
                    return offset
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    raise KafkaTimeoutError(
                        f"position of {partition} not known within {limit_ms} ms"
                    )
                self._fetch_round()
                retry_at = self._fetcher.next_retry_ms(self._now_ms())
                if retry_at is not None and self._fetcher.position(partition) is None:
                    time.sleep(min(left_s, max(retry_at - self._now_ms(), 0) / 1000))

    def highwater(self, partition: TopicPartition) -> int:
        """The high watermark of ``partition`` as of the last fetch (-1 before one)."""
        return self._fetcher.highwater(partition)

    # -- offsets -----------------------------------------------------------------------------

    def beginning_offsets(
        self, partitions: Iterable[TopicPartition], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        """Each partition's log start offset (ListOffsets EARLIEST)."""
        listed = self._list(dict.fromkeys(partitions, EARLIEST), timeout_ms)
        return {tp: answer.offset for tp, answer in listed.items()}

    def end_offsets(
        self, partitions: Iterable[TopicPartition], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        """Each partition's log end offset (the offset the next record will get)."""
        listed = self._list(dict.fromkeys(partitions, LATEST), timeout_ms)
        return {tp: answer.offset for tp, answer in listed.items()}

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """Per partition, the earliest record whose timestamp is >= the given one (ms), or
        None if there is none (Kafka's offsetsForTimes)."""
        for tp, timestamp in timestamps.items():
            if timestamp < 0:
                raise ValueError(f"timestamp of {tp} must be >= 0, got {timestamp}")
        listed = self._list(dict(timestamps), timeout_ms)
        return {
            tp: None
            if answer.offset < 0
            else OffsetAndTimestamp(answer.offset, answer.timestamp, answer.leader_epoch)
            for tp, answer in listed.items()
        }

    def _list(self, specs: dict[TopicPartition, int], timeout_ms: int | None) -> Any:
        with self._lock:
            self._check_open()
            limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
            return list_offsets(
                self._cluster,
                specs,
                timeout_ms=limit_ms,
                isolation_level=1 if self.config.read_committed else 0,
            )

    # -- group membership --------------------------------------------------------------------

    def subscribe(
        self,
        topics: Iterable[str] | str | re.Pattern[str],
        listener: BlockingRebalanceListener | None = None,
    ) -> None:
        """Join ``group.id`` and consume what the group assigns: the named topics, or every
        topic a compiled ``re.Pattern`` fully matches.  Membership is driven from
        :meth:`poll` (call it within ``session.timeout.ms`` and ``max.poll.interval.ms``);
        ``listener`` is called from inside it around every rebalance."""
        with self._lock:
            self._check_open()
            if self.config.group_id is None:
                raise KafkaError("subscribe() needs group.id")
            if self._manual_assignment:
                raise KafkaError("subscribe() after assign(): use one or the other")
            group = self._require_group()
            group.listener = listener
            if isinstance(topics, re.Pattern):
                group.member.subscribe(pattern=topics)
            else:
                names = [topics] if isinstance(topics, str) else list(topics)
                group.member.subscribe(names)
                self._cluster.track(names)

    def subscription(self) -> frozenset[str]:
        """The subscribed topics (for a pattern, its matches as of the last metadata)."""
        return frozenset() if self._group is None else self._group.member.subscription

    def commit(self, offsets: Offsets | None = None, *, timeout_ms: int | None = None) -> None:
        """Commit ``offsets`` (default: the position of every assigned partition) and wait for
        the answer (Kafka's commitSync; the errors of the async ``commit``)."""
        with self._lock:
            group = self._require_group()
            chosen = self._consumed_offsets() if offsets is None else as_offsets(offsets)
            limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
            group.commit(chosen, limit_ms)

    def commit_async(
        self, offsets: Offsets | None = None, callback: CommitCallback | None = None
    ) -> None:
        """Write an OffsetCommit and return; ``callback(offsets, error)`` runs from a later
        :meth:`poll` (or commit) that reads the answer."""
        with self._lock:
            group = self._require_group()
            chosen = self._consumed_offsets() if offsets is None else as_offsets(offsets)
            group.commit_async(chosen, callback)

    def committed(
        self, partitions: Iterable[TopicPartition], *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The group's committed offset of each partition (None if it has none)."""
        with self._lock:
            group = self._require_group()
            wanted = list(partitions)
            limit_ms = self.config.default_api_timeout_ms if timeout_ms is None else timeout_ms
            found = group.committed(wanted, limit_ms)
            return {tp: found.get(tp) for tp in wanted}

    def _require_group(self) -> BlockingGroup:
        self._check_open()
        if self.config.group_id is None:
            raise KafkaError("commits need group.id")
        if self._group is None:
            self._group = BlockingGroup(self)
        return self._group

    def _consumed_offsets(
        self, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Offsets to commit: each partition's position (the next record poll returns)."""
        positions = self._fetcher.positions()
        chosen = positions.keys() if partitions is None else set(partitions) & positions.keys()
        return {tp: OffsetAndMetadata(*positions[tp]) for tp in chosen}

    # -- records -----------------------------------------------------------------------------

    def poll(
        self, timeout_ms: float = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records by partition, at most ``max_records`` (default ``max.poll.records``).

        Returns as soon as any are buffered, else waits up to ``timeout_ms`` for some (``{}``
        if none came).  Raises a partition's error once (NoOffsetForPartitionError,
        PartitionOffsetOutOfRangeError, authorization failures, corrupt batches).
        """
        limit = self.config.max_poll_records if max_records is None else max_records
        if limit < 1:
            raise ValueError(f"max_records must be >= 1, got {limit}")
        deadline = time.monotonic() + timeout_ms / 1000
        with self._lock:
            self._check_open()
            group = self._group
            if group is not None:
                group.member.note_poll(self._now_ms())
            while True:
                self._cluster.poll(0)  # answers that already arrived
                if group is not None:
                    group.step()
                self._raise_fatal()
                self._fetch_round()
                records = self._fetcher.poll(limit)
                if records:
                    self._fetch_round()  # prefetch: buffer space was freed
                    return records
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    return {}
                wait_s = min(left_s, self._idle_wait_s())
                group_ms = None if group is None else group.wait_ms()
                if group_ms is not None:
                    wait_s = min(wait_s, max(group_ms, 1) / 1000)
                self._cluster.poll(wait_s)

    def __iter__(self) -> Iterator[ConsumerRecord]:
        """``for record in consumer:`` -- polls until the consumer is closed."""
        while not self._closed:
            for records in self.poll(ITERATION_WAIT_MS).values():
                yield from records

    def _raise_fatal(self) -> None:
        error = self._fatal
        if error is not None:
            self._fatal = None
            raise error

    # -- fetching ----------------------------------------------------------------------------

    def _now_ms(self) -> float:
        return time.monotonic() * 1000

    def _idle_wait_s(self) -> float:
        """How long to wait when nothing is buffered: until a backoff ends, or a slice."""
        now_ms = self._now_ms()
        retry_at = self._fetcher.next_retry_ms(now_ms)
        wait_ms = ITERATION_WAIT_MS if retry_at is None else min(retry_at - now_ms, 1000)
        if not self._busy_nodes and self._fetcher.assignment() and retry_at is None:
            wait_ms = self.config.retry_backoff_ms  # e.g. a leader is missing from metadata
        return max(wait_ms, 1) / 1000

    def _fetch_round(self) -> None:
        """Resolve resets, then write a Fetch to every ready leader (never waits for them)."""
        fetcher = self._fetcher
        if not fetcher.assignment():
            return
        try:
            metadata = self._cluster.current_metadata(fetcher.topics())
        except KafkaError as error:
            self._note(error)
            return
        resets = fetcher.resets_needed(self._now_ms())
        if resets:
            self._run_resets(resets)
        nodes, missing_leader = fetcher.ready_nodes(metadata, self._busy_nodes, self._now_ms())
        for node_id in nodes:
            self._send_fetch(node_id)
        if missing_leader:
            self._cluster.invalidate()

    def _send_fetch(self, node_id: int) -> None:
        request: FetchRequest | None = None
        config = self.config
        try:
            connection = self._cluster.connection_to(node_id)
            version = connection.pick_version(FETCH)
            request = self._fetcher.build_fetch(
                node_id, self._cluster.metadata, version, self._now_ms()
            )
            if request is None:
                return
            connection.request(
                FETCH,
                request.body,
                version=request.version,
                timeout_ms=config.request_timeout_ms + config.fetch_max_wait_ms,
                callback=partial(self._fetch_done, node_id, request),
            )
            self._busy_nodes.add(node_id)
        except KafkaError as error:
            self._fetch_failed(request, error)

    def _fetch_done(self, node_id: int, request: FetchRequest, pending: PendingRequest) -> None:
        self._busy_nodes.discard(node_id)
        if pending.error is not None:
            self._fetch_failed(request, pending.error)
            return
        assert pending.response is not None
        outcome = self._fetcher.handle_response(request, pending.response, self._now_ms())
        if outcome.refresh_metadata:
            self._cluster.invalidate()

    def _fetch_failed(self, request: FetchRequest | None, error: KafkaError) -> None:
        self._note(error)
        if request is not None:
            self._fetcher.handle_failure(request, error, self._now_ms())
        self._cluster.invalidate(error)

    def _note(self, error: KafkaError) -> None:
        """Keep a non-retriable error for the next poll; retriable ones are retried."""
        if not error.retriable:
            self._fatal = error

    def _run_resets(self, resets: dict[TopicPartition, tuple[int, int]]) -> None:
        """One ListOffsets attempt; a failure goes back to the fetcher (which backs off)."""
        specs = {tp: spec for tp, (spec, _) in resets.items()}
        try:
            listed = list_offsets(
                self._cluster,
                specs,
                timeout_ms=0,
                isolation_level=1 if self.config.read_committed else 0,
            )
        except KafkaError as error:
            for tp, (_, token) in resets.items():
                self._fetcher.reset_failed(tp, token, error, self._now_ms())
            return
        for tp, (_, token) in resets.items():
            answer = listed[tp]
            self._fetcher.reset_done(tp, token, answer.offset, answer.leader_epoch)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.assignment())} partitions"
        return f"<Consumer {self.config.client_id!r} {state}>"
