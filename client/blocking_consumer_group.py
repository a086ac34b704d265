"""Group membership for the blocking consumer: the I/O of a sans-IO
:class:`~client.group.GroupMember`, driven from :meth:`client.blocking_consumer.Consumer.poll`.

Nothing runs in the background (no thread: the facade must stay gevent-safe), so this is the
Java client's original poll-driven model: each ``poll`` (and ``commit``, ``committed``) calls
:meth:`BlockingGroup.step`, which writes whatever the member wants (FindCoordinator, JoinGroup,
SyncGroup, a due Heartbeat), applies rebalance events (auto-commit and the listener on
revocation; OffsetFetch, the fetcher's new assignment with committed offsets ``seek``-ed before
any ``auto.offset.reset``, and the listener on assignment) and starts the auto-commit every
``auto.commit.interval.ms``.  JoinGroup and SyncGroup are written without waiting (their
answers are read by later polls), so several members may share one thread.

**Call poll often enough**: heartbeats are sent only from inside ``poll``, so the gap between
two calls must stay below ``session.timeout.ms`` (the coordinator then drops the member, which
rejoins on its next poll with its partitions lost) and below ``max.poll.interval.ms``.

Group requests use the cluster's connection to the coordinator's broker (its selector covers
them).  A broker answers one request per connection at a time, so with the cooperative
protocol, fetches from the coordinator's broker wait while a JoinGroup is parked there (at
most the rebalance); with the eager protocol nothing is fetched during a rebalance anyway.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from construct import Container

from client.blocking_connection import BlockingConnection, PendingRequest
from client.errors import KafkaError, error_for
from client.group import (
    CommitCallback,
    GroupMember,
    GroupRequest,
    MemberState,
    OffsetAndMetadata,
    PartitionsAssigned,
    PartitionsRevoked,
    RebalanceEvent,
)
from client.metadata import ClusterMetadata, TopicPartition
from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from client.blocking_consumer import Consumer

T = TypeVar("T")


class BlockingRebalanceListener:
    """Rebalance callbacks of the blocking consumer (Kafka's ConsumerRebalanceListener),
    called from inside ``poll``; override what you need."""

    def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """``revoked`` are about to stop being consumed (commit your own offsets here)."""

    def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """``assigned`` (the newly added partitions) are about to be consumed."""

    def on_partitions_lost(self, lost: frozenset[TopicPartition]) -> None:
        """The generation ended before ``lost`` could be revoked (do not commit them).
        Defaults to :meth:`on_partitions_revoked`."""
        self.on_partitions_revoked(lost)


def _now_ms() -> float:
    return time.monotonic() * 1000


class BlockingGroup:
    """One consumer's group membership (see the module docstring)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.config = consumer.config
        self.member = GroupMember(consumer.config)
        self.listener: BlockingRebalanceListener | None = None
        self._next_auto_commit_ms = math.inf
        self._auto_commit_in_flight = False
        self._all_topics_at_ms = -math.inf  # the last metadata refresh for a pattern

    # -- driving the member ------------------------------------------------------------------

    def step(self) -> None:
        """Write what the member wants now and carry out its rebalance events."""
        member = self.member
        for _ in range(2):  # an acknowledged event may let the member send at once
            try:
                metadata = self._metadata()
            except KafkaError as error:
                self.consumer._note(error)
                return
            while (request := member.poll(_now_ms(), metadata)) is not None:
                self._write(request)
            beat = member.heartbeat(_now_ms())
            if beat is not None:
                self._write(beat)
            applied = False
            while (event := member.take_event()) is not None:
                self._apply(event)
                member.event_done()
                applied = True
            if not applied:
                break
        self._maybe_auto_commit()
        fatal = member.take_error()
        if fatal is not None:
            self.consumer._note(fatal)

    def wait_ms(self) -> float | None:
        """How long the caller may wait before the next :meth:`step` is due (None: no limit)."""
        member = self.member
        due = [
            member.heartbeat_deadline_ms(),
            member.poll_deadline_ms(),
            self._pattern_refresh_due_ms(),
        ]
        if self.config.enable_auto_commit and member.in_generation:
            due.append(self._next_auto_commit_ms)
        known = [deadline for deadline in due if deadline is not None]
        return max(min(known) - _now_ms(), 0.0) if known else None

    def _metadata(self) -> ClusterMetadata:
        """The metadata the member needs; a pattern needs every topic, every
        ``metadata.max.age.ms``."""
        cluster = self.consumer._cluster
        due = self._pattern_refresh_due_ms()
        if due is not None and due <= _now_ms():
            cluster.refresh_metadata(all_topics=True)
            self._all_topics_at_ms = _now_ms()
        return cluster.current_metadata(self.member.wanted_topics())

    def _pattern_refresh_due_ms(self) -> float | None:
        if self.member.pattern is None:
            return None
        return self._all_topics_at_ms + self.config.metadata_max_age_ms

    def _connection(self, request: GroupRequest) -> BlockingConnection:
        cluster = self.consumer._cluster
        if request.coordinator is None:
            return cluster.any_connection()
        return cluster.connection_to(request.coordinator.node_id)

    def _write(
        self, request: GroupRequest, callback: Callable[[PendingRequest], None] | None = None
    ) -> None:
        """Write ``request`` without waiting; the answer goes to the member (or ``callback``)."""
        try:
            connection = self._connection(request)
            version = connection.pick_version(request.api_key, ours_max=request.max_version)
            connection.request(
                request.api_key,
                request.body,
                version=version,
                timeout_ms=request.timeout_ms,
                callback=callback or partial(self._answered, request),
            )
        except KafkaError as error:
            self.member.handle_failure(request, error, _now_ms())

    def _answered(self, request: GroupRequest, pending: PendingRequest) -> None:
        if pending.error is not None:
            self.member.handle_failure(request, pending.error, _now_ms())
            self.consumer._cluster.invalidate(pending.error)
        else:
            assert pending.response is not None
            self.member.handle_response(request, pending.response, _now_ms())

    def send(self, request: GroupRequest) -> Container:
        """Send ``request`` and wait for its answer (other answers are read meanwhile)."""
        try:
            connection = self._connection(request)
            version = connection.pick_version(request.api_key, ours_max=request.max_version)
            return connection.send(
                request.api_key, request.body, version=version, timeout_ms=request.timeout_ms
            )
        except KafkaError as error:
            self.member.handle_failure(request, error, _now_ms())
            raise

    def _retrying(self, attempt: Callable[[], T], timeout_ms: int) -> T:
        """Retry over retriable errors until ``timeout_ms``, stepping the member meanwhile (so
        a moved coordinator is found again)."""
        deadline = time.monotonic() + timeout_ms / 1000
        tries = 0
        while True:
            try:
                return attempt()
            except KafkaError as error:
                if not error.retriable:
                    raise
                tries += 1
                wait_s = self.consumer._cluster.retry_backoff_ms(tries) / 1000
                if time.monotonic() + wait_s >= deadline:
                    raise
                self.consumer._cluster.poll(wait_s)
                self.step()

    # -- offsets -----------------------------------------------------------------------------

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata], timeout_ms: int) -> None:
        """OffsetCommit, waiting for the answer; retriable errors retried until ``timeout_ms``."""
        if not offsets:
            return

        def attempt() -> None:
            request = self.member.commit_request(offsets)
            self.member.read_commit(request, self.send(request), _now_ms())

        self._retrying(attempt, timeout_ms)

    def commit_async(
        self,
        offsets: Mapping[TopicPartition, OffsetAndMetadata],
        callback: CommitCallback | None,
    ) -> None:
        """Write an OffsetCommit; its answer is read by a later poll (no retries, as Kafka's
        commitAsync).  ``callback(offsets, error)`` runs then."""
        chosen = dict(offsets)

        def done(request: GroupRequest, pending: PendingRequest) -> None:
            error = pending.error
            if error is None:
                assert pending.response is not None
                try:
                    self.member.read_commit(request, pending.response, _now_ms())
                except KafkaError as failure:
                    error = failure
            else:
                self.member.handle_failure(request, error, _now_ms())
            if callback is not None:
                callback(chosen, error)

        try:
            request = self.member.commit_request(chosen)
        except KafkaError as error:
            if callback is not None:
                callback(chosen, error)
            return
        self._write(request, partial(done, request))

    def committed(
        self, partitions: Iterable[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The group's committed offsets for ``partitions`` (those with none left out)."""
        wanted = list(partitions)
        if not wanted:
            return {}

        def attempt() -> dict[TopicPartition, OffsetAndMetadata]:
            if self.member.coordinator is None:
                self.step()
                raise error_for(ErrorCode.COORDINATOR_NOT_AVAILABLE, "group coordinator unknown")
            request = self.member.offset_fetch_request(wanted)
            return self.member.read_offset_fetch(request, self.send(request), _now_ms())

        return self._retrying(attempt, timeout_ms)

    def _maybe_auto_commit(self) -> None:
        if not self.config.enable_auto_commit or not self.member.in_generation:
            return
        now_ms = _now_ms()
        if now_ms < self._next_auto_commit_ms or self._auto_commit_in_flight:
            return
        self._next_auto_commit_ms = now_ms + self.config.auto_commit_interval_ms
        offsets = self.consumer._consumed_offsets()
        if not offsets:
            return
        self._auto_commit_in_flight = True

        def done(_: Mapping[TopicPartition, OffsetAndMetadata], __: KafkaError | None) -> None:
            self._auto_commit_in_flight = False  # a failed round is retried next interval

        self.commit_async(offsets, done)

    # -- rebalance events --------------------------------------------------------------------

    def _apply(self, event: RebalanceEvent) -> None:
        consumer = self.consumer
        if isinstance(event, PartitionsRevoked):
            if self.config.enable_auto_commit and not event.lost:
                # As in Kafka, a failed commit on revocation is not raised to the user.
                with contextlib.suppress(KafkaError):
                    offsets = consumer._consumed_offsets(event.partitions)
                    self.commit(offsets, self.config.default_api_timeout_ms)
            self._call_listener(event)
            consumer._set_assignment(consumer.assignment() - event.partitions)
            return
        try:
            found = self.committed(event.added, self.config.default_api_timeout_ms)
        except KafkaError as error:
            consumer._note(error)  # the added partitions fall back to auto.offset.reset
            found = {}
        consumer._set_assignment(event.assignment)
        for tp, offset in found.items():
            consumer._fetcher.seek(tp, offset.offset, offset.leader_epoch)
        self._next_auto_commit_ms = _now_ms() + self.config.auto_commit_interval_ms
        self._call_listener(event)

    def _call_listener(self, event: RebalanceEvent) -> None:
        listener = self.listener
        if listener is None:
            return
        try:
            if isinstance(event, PartitionsAssigned):
                listener.on_partitions_assigned(event.added)
            elif event.lost:
                listener.on_partitions_lost(event.partitions)
            else:
                listener.on_partitions_revoked(event.partitions)
        except Exception as error:  # user code, whatever it raises: surfaced from the next poll
            self.consumer._note(KafkaError(f"rebalance listener raised {error!r}"))

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Commit (auto-commit), revoke, and leave the group (dynamic members only)."""
        config = self.config
        if config.enable_auto_commit and self.member.in_generation:
            # Closing: the commit is best effort, as in Kafka's close().
            with contextlib.suppress(KafkaError):
                self.commit(self.consumer._consumed_offsets(), config.default_api_timeout_ms)
        parked = self.member.state in (MemberState.JOINING, MemberState.SYNCING)
        leave = self.member.close()
        while (event := self.member.take_event()) is not None:
            self._call_listener(event)
            self.member.event_done()
        self.consumer._set_assignment(())
        if leave is not None and parked:
            # A JoinGroup / SyncGroup parked at the coordinator would hold the LeaveGroup back
            # (one request per connection at a time): drop that connection instead.
            with contextlib.suppress(KafkaError):
                self._connection(leave).close("leaving the group")
        if leave is not None:
            # If the LeaveGroup is lost, the session timeout removes us anyway.
            with contextlib.suppress(KafkaError):
                self.send(leave)
