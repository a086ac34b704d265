"""The consumer group member (classic protocol), sans-IO: Kafka's AbstractCoordinator and
ConsumerCoordinator as one state machine that never touches a socket or a clock.

The I/O side (:class:`client.consumer.Consumer`, :class:`client.blocking_consumer.Consumer`)
runs this loop, passing ``now_ms`` (monotonic) and the metadata it holds for
:meth:`GroupMember.wanted_topics`:

1. :meth:`GroupMember.poll` → the next FindCoordinator / JoinGroup / SyncGroup to send, if any;
   :meth:`GroupMember.heartbeat` → a Heartbeat when one is due (or the LeaveGroup of an expired
   ``max.poll.interval.ms``).  Send each (FindCoordinator to any broker, the rest to
   :attr:`GroupMember.coordinator`) and hand the answer to :meth:`GroupMember.handle_response`
   or the failure to :meth:`GroupMember.handle_failure`.
2. :meth:`GroupMember.take_event` → :class:`PartitionsRevoked` / :class:`PartitionsAssigned`,
   in order.  The I/O side commits (unless lost), calls the listener, changes the fetcher's
   assignment (with committed offsets from OffsetFetch for added partitions) and then calls
   :meth:`GroupMember.event_done`.  No join starts while an event is unacknowledged, which is
   how "revoke, then join" (eager) and "assign, then rejoin" (cooperative) are ordered.

States (``_TRANSITIONS`` lists every allowed move)::

    UNJOINED --JoinGroup sent--> JOINING --joined--> SYNCING --assignment--> ASSIGNING
    ASSIGNING --events acknowledged--> STABLE --rejoin needed--> UNJOINED
    any --close--> LEFT

Errors, as Kafka's coordinator treats them: REBALANCE_IN_PROGRESS rejoins;
ILLEGAL_GENERATION rejoins with a fresh generation (the partitions are *lost*: revoked without
a commit); UNKNOWN_MEMBER_ID also forgets the member id; MEMBER_ID_REQUIRED (JoinGroup v4+,
KIP-394) rejoins at once with the id the coordinator gave; NOT_COORDINATOR and
COORDINATOR_NOT_AVAILABLE (and a broken connection) rediscover the coordinator;
COORDINATOR_LOAD_IN_PROGRESS retries after ``retry.backoff.ms``; anything else (e.g.
INCONSISTENT_GROUP_PROTOCOL, FENCED_INSTANCE_ID, GROUP_AUTHORIZATION_FAILED) is kept for
:meth:`GroupMember.take_error` and retried after the backoff.

Protocols: EAGER revokes everything before each join; COOPERATIVE (KIP-429, chosen when every
configured assignor supports it, i.e. ``partition.assignment.strategy=cooperative-sticky``)
keeps its partitions through the join, revokes only those the new assignment lacks, and then
rejoins once so they can be handed to their new owner.  Static members (``group.instance.id``,
KIP-345) send no LeaveGroup on close, so a restart within the session timeout keeps the
assignment without a rebalance.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from construct import Container

from client.assignors import (
    Assignor,
    GroupMemberInfo,
    RebalanceProtocol,
    assignors_for,
    cooperative_adjust,
    rebalance_protocol,
    valid_owners,
)
from client.config import ConsumerConfig
from client.consumer_protocol import (
    ASSIGNMENT_VERSION,
    NO_GENERATION,
    PROTOCOL_TYPE,
    Assignment,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from client.errors import KafkaError, error_for
from client.metadata import ClusterMetadata, TopicPartition
from client.protocol.errors import ErrorCode, ProtocolError

OFFSET_COMMIT = 8
OFFSET_FETCH = 9
FIND_COORDINATOR = 10
JOIN_GROUP = 11
HEARTBEAT = 12
LEAVE_GROUP = 13
SYNC_GROUP = 14
# The newest version of each API whose fields this module fills and reads.
MAX_VERSIONS = {
    FIND_COORDINATOR: 3,  # v4 batches keys (KIP-699); one group needs one key
    JOIN_GROUP: 9,
    SYNC_GROUP: 5,
    HEARTBEAT: 4,
    LEAVE_GROUP: 5,
    OFFSET_COMMIT: 8,  # v9 carries KIP-848 member epochs
    OFFSET_FETCH: 7,  # v8 batches groups (KIP-709)
}
GROUP_KEY_TYPE = 0
UNKNOWN_MEMBER_ID = ""
# A JoinGroup waits at the coordinator up to the rebalance timeout; Kafka's client allows
# this much more before giving up on the answer.
JOIN_SLACK_MS = 5000

_REDISCOVER = frozenset({ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE})
_RESET_MEMBER = frozenset({ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_INSTANCE_ID})
_RESET_GENERATION = _RESET_MEMBER | {ErrorCode.ILLEGAL_GENERATION}


class CommitFailedError(KafkaError):
    """The commit cannot succeed: this member's generation is over (a rebalance handed its
    partitions on, ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID) or it is not in the group.  Kafka's
    CommitFailedException; not retriable: the group rejoins, re-consume from the committed
    offsets."""


class MemberState(enum.Enum):
    """Where the member is in the join protocol (see the module docstring)."""

    UNJOINED = "unjoined"
    JOINING = "joining"
    SYNCING = "syncing"
    ASSIGNING = "assigning"
    STABLE = "stable"
    LEFT = "left"


_S = MemberState
_TRANSITIONS: dict[MemberState, frozenset[MemberState]] = {
    _S.UNJOINED: frozenset({_S.UNJOINED, _S.JOINING, _S.LEFT}),
    _S.JOINING: frozenset({_S.UNJOINED, _S.SYNCING, _S.LEFT}),
    _S.SYNCING: frozenset({_S.UNJOINED, _S.ASSIGNING, _S.LEFT}),
    _S.ASSIGNING: frozenset({_S.UNJOINED, _S.STABLE, _S.LEFT}),
    _S.STABLE: frozenset({_S.UNJOINED, _S.LEFT}),
    _S.LEFT: frozenset({_S.LEFT}),
}


class Coordinator(NamedTuple):
    """The broker coordinating the group (FindCoordinator's answer)."""

    node_id: int
    host: str
    port: int


class OffsetAndMetadata(NamedTuple):
    """A committed offset: the next record to consume, its leader epoch (KIP-320), metadata."""

    offset: int
    leader_epoch: int = -1
    metadata: str = ""


# What commit() takes: partition -> next offset to consume (or an OffsetAndMetadata).
Offsets = Mapping[TopicPartition, "int | OffsetAndMetadata"]
# commit_async's callback: (the offsets, None or the error).
CommitCallback = Callable[[dict[TopicPartition, "OffsetAndMetadata"], KafkaError | None], None]


def as_offsets(offsets: Offsets) -> dict[TopicPartition, OffsetAndMetadata]:
    """``offsets`` with every value an :class:`OffsetAndMetadata`."""
    return {
        TopicPartition(*tp): value
        if isinstance(value, OffsetAndMetadata)
        else OffsetAndMetadata(value)
        for tp, value in offsets.items()
    }


@dataclass(frozen=True, slots=True)
class GroupRequest:
    """A request to send: to the coordinator, or (FindCoordinator) to any broker.

    ``round`` ties the answer to the join round it was sent in (stale answers are ignored);
    ``coordinator`` is the coordinator it was sent to.
    """

    api_key: int
    body: dict[str, Any]
    timeout_ms: int
    round: int
    coordinator: Coordinator | None

    @property
    def max_version(self) -> int:
        """The newest version this module can fill in."""
        return MAX_VERSIONS[self.api_key]


@dataclass(frozen=True, slots=True)
class PartitionsRevoked:
    """Stop consuming ``partitions``.  ``lost``: the generation is already over, so the
    partitions may belong to someone else — do not commit (Kafka's onPartitionsLost)."""

    partitions: frozenset[TopicPartition]
    lost: bool = False


@dataclass(frozen=True, slots=True)
class PartitionsAssigned:
    """The member's whole new ``assignment``; ``added`` are new to it (fetch their committed
    offsets before any ``auto.offset.reset``)."""

    assignment: frozenset[TopicPartition]
    added: frozenset[TopicPartition]


RebalanceEvent = PartitionsRevoked | PartitionsAssigned


@dataclass(slots=True)
class _Join:
    """What a successful JoinGroup said, until the SyncGroup is sent."""

    generation_id: int
    protocol_name: str
    leader: bool
    skip_assignment: bool
    members: list[GroupMemberInfo] = field(default_factory=list)
    sync_sent: bool = False


class GroupMember:
    """One consumer's membership of ``group.id``.  See the module docstring."""

    def __init__(self, config: ConsumerConfig) -> None:
        assert config.group_id is not None, "a group member needs group.id"
        self.config = config
        self.group_id: str = config.group_id
        self.assignors: list[Assignor] = assignors_for(config.partition_assignment_strategy)
        self.protocol = rebalance_protocol(self.assignors)
        self.state = MemberState.UNJOINED
        self.coordinator: Coordinator | None = None
        self.member_id = UNKNOWN_MEMBER_ID
        self.generation_id = NO_GENERATION
        self._lookup_in_flight = False
        self._lookup_retry_at_ms = 0.0
        self._round = 0  # bumped per JoinGroup sent
        self._join: _Join | None = None
        self._retry_at_ms = 0.0
        self._rejoin_reason: str | None = "initial join"
        self._owned: frozenset[TopicPartition] = frozenset()
        self._previously_owned: frozenset[TopicPartition] = frozenset()
        self._events: deque[RebalanceEvent] = deque()
        self._unacknowledged = 0
        self._heartbeat_in_flight = False
        self._heartbeat_at_ms = 0.0
        self._last_poll_ms: float | None = None
        self._poll_expired = False
        self._topics: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._subscribed: frozenset[str] = frozenset()
        self._joined_with: frozenset[str] = frozenset()
        self._leader_counts: dict[str, int] | None = None  # the metadata the leader assigned
        self._error: KafkaError | None = None

    # -- state -------------------------------------------------------------------------------

    def _move(self, to: MemberState) -> None:
        assert to in _TRANSITIONS[self.state], f"group member: {self.state} -> {to}"
        self.state = to

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member holds (as last announced through an event)."""
        return self._owned

    @property
    def subscription(self) -> frozenset[str]:
        """The subscribed topics (a pattern's matches as of the last metadata)."""
        return self._subscribed

    @property
    def in_generation(self) -> bool:
        """Whether commits can carry a valid generation now."""
        return self.generation_id != NO_GENERATION and self.state is not MemberState.LEFT

    def take_error(self) -> KafkaError | None:
        """A fatal error kept for the user (raised once from the consumer's poll)."""
        error, self._error = self._error, None
        return error

    def request_rejoin(self, reason: str) -> None:
        """Rejoin at the next :meth:`poll` (a no-op while already rejoining)."""
        if self._rejoin_reason is None:
            self._rejoin_reason = reason

    # -- subscription ------------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str] = (), pattern: re.Pattern[str] | None = None) -> None:
        """Subscribe to ``topics``, or to every topic ``pattern`` fully matches."""
        self._topics = frozenset(topics)
        self._pattern = pattern
        if pattern is None:
            self._set_subscribed(self._topics)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The subscription's pattern (metadata for every topic is then needed)."""
        return self._pattern

    def wanted_topics(self) -> frozenset[str]:
        """Topics the member needs metadata for: its own, plus as leader the whole group's."""
        wanted = set(self._subscribed)
        join = self._join
        if join is not None and join.leader:
            for member in join.members:
                wanted.update(member.subscription.topics)
        if self._leader_counts is not None:
            wanted.update(self._leader_counts)
        return frozenset(wanted)

    def _set_subscribed(self, topics: frozenset[str]) -> None:
        if topics != self._subscribed:
            self._subscribed = topics
            self.request_rejoin(f"subscription changed to {sorted(topics)}")

    def _observe(self, metadata: ClusterMetadata) -> None:
        """Pattern matches, and (leader) partition counts: a change means a rebalance."""
        if self._pattern is not None:
            matched = {
                name
                for name, topic in metadata.topics.items()
                if self._pattern.fullmatch(name)
                and not (topic.is_internal and self.config.exclude_internal_topics)
            }
            self._set_subscribed(frozenset(matched))
        counts = self._leader_counts
        if counts is not None and self.state is MemberState.STABLE:
            now = _partition_counts(metadata, counts.keys())
            if any(now.get(topic, counts[topic]) != counts[topic] for topic in counts):
                self.request_rejoin("partition counts changed")

    # -- the join protocol -------------------------------------------------------------------

    def poll(self, now_ms: float, metadata: ClusterMetadata) -> GroupRequest | None:
        """The next coordination request (FindCoordinator, JoinGroup, SyncGroup), if any."""
        if self.state is MemberState.LEFT or self._unacknowledged or self._events:
            return None
        self._observe(metadata)
        if self.coordinator is None:
            return self._lookup(now_ms)
        if self.state is MemberState.STABLE and self._rejoin_reason is not None:
            self._prepare_rejoin()
            if self._events:
                return None
        if self.state is MemberState.UNJOINED:
            return self._join_request(now_ms)
        if self.state is MemberState.SYNCING:
            return self._sync_request(metadata)
        return None

    def _lookup(self, now_ms: float) -> GroupRequest | None:
        if self._lookup_in_flight or now_ms < self._lookup_retry_at_ms:
            return None
        self._lookup_in_flight = True
        body = {"key": self.group_id, "key_type": GROUP_KEY_TYPE}
        return GroupRequest(FIND_COORDINATOR, body, self.config.request_timeout_ms, 0, None)

    def _prepare_rejoin(self) -> None:
        """STABLE → UNJOINED; eager revokes everything first, cooperative only what is no
        longer subscribed (Kafka's onJoinPrepare)."""
        if self.protocol is RebalanceProtocol.EAGER:
            revoked = self._owned
            self._previously_owned = self._owned
        else:
            revoked = frozenset(tp for tp in self._owned if tp.topic not in self._subscribed)
        self._move(MemberState.UNJOINED)
        self._revoke(revoked, lost=False)

    def _revoke(self, partitions: frozenset[TopicPartition], *, lost: bool) -> None:
        if partitions:
            self._owned -= partitions
            self._events.append(PartitionsRevoked(partitions, lost))

    def _join_request(self, now_ms: float) -> GroupRequest | None:
        if now_ms < self._retry_at_ms or self._poll_expired or not self._subscribed:
            return None
        config = self.config
        owned = self._owned if self.protocol is RebalanceProtocol.COOPERATIVE else None
        subscription = Subscription(
            topics=tuple(sorted(self._subscribed)),
            owned_partitions=tuple(sorted(self._previously_owned if owned is None else owned)),
            generation_id=self.generation_id,
            rack_id=config.client_rack or None,
        )
        metadata = encode_subscription(subscription)
        body = {
            "group_id": self.group_id,
            "session_timeout_ms": config.session_timeout_ms,
            "rebalance_timeout_ms": config.max_poll_interval_ms,
            "member_id": self.member_id,
            "group_instance_id": config.group_instance_id,
            "protocol_type": PROTOCOL_TYPE,
            "protocols": [{"name": a.name, "metadata": metadata} for a in self.assignors],
            "reason": self._rejoin_reason,
        }
        self._move(MemberState.JOINING)
        self._round += 1
        self._rejoin_reason = None
        timeout_ms = max(config.request_timeout_ms, config.max_poll_interval_ms + JOIN_SLACK_MS)
        return GroupRequest(JOIN_GROUP, body, timeout_ms, self._round, self.coordinator)

    def _sync_request(self, metadata: ClusterMetadata) -> GroupRequest | None:
        join = self._join
        assert join is not None
        if join.sync_sent:
            return None
        join.sync_sent = True
        assignments = []
        if join.leader and not join.skip_assignment:
            assignments = self._assign(join, metadata)
        body = {
            "group_id": self.group_id,
            "generation_id": join.generation_id,
            "member_id": self.member_id,
            "group_instance_id": self.config.group_instance_id,
            "protocol_type": PROTOCOL_TYPE,
            "protocol_name": join.protocol_name,
            "assignments": assignments,
        }
        timeout_ms = self.config.request_timeout_ms + self.config.max_poll_interval_ms
        return GroupRequest(SYNC_GROUP, body, timeout_ms, self._round, self.coordinator)

    def _assign(self, join: _Join, metadata: ClusterMetadata) -> list[dict[str, Any]]:
        """The leader's work (Kafka's onLeaderElected): run the chosen assignor."""
        assignor = next(a for a in self.assignors if a.name == join.protocol_name)
        topics = {topic for member in join.members for topic in member.subscription.topics}
        counts = _partition_counts(metadata, topics)
        result = assignor.assign(counts, join.members)
        if self.protocol is RebalanceProtocol.COOPERATIVE:
            result = cooperative_adjust(result, valid_owners(counts, join.members))
        self._leader_counts = counts
        out = []
        for member in join.members:
            version = min(ASSIGNMENT_VERSION, member.subscription.version)
            data = encode_assignment(Assignment(tuple(result[member.member_id])), version)
            out.append({"member_id": member.member_id, "assignment": data})
        return out

    # -- heartbeats and the poll timer --------------------------------------------------------

    def note_poll(self, now_ms: float) -> bool:
        """The application polled: restart the ``max.poll.interval.ms`` timer (KIP-62).
        True if the member had left on an expired timer and now rejoins."""
        self._last_poll_ms = now_ms
        if not self._poll_expired:
            return False
        self._poll_expired = False
        self.request_rejoin("polled again after max.poll.interval.ms expired")
        return True

    def heartbeat(self, now_ms: float) -> GroupRequest | None:
        """A Heartbeat if one is due; the LeaveGroup if ``max.poll.interval.ms`` expired."""
        if not self._heartbeating():
            return None
        last_poll = self._last_poll_ms
        if last_poll is not None and now_ms - last_poll > self.config.max_poll_interval_ms:
            self._poll_expired = True
            return self.leave("consumer poll timeout has expired (max.poll.interval.ms)")
        if self._heartbeat_in_flight or now_ms < self._heartbeat_at_ms:
            return None
        self._heartbeat_in_flight = True
        self._heartbeat_at_ms = now_ms + self.config.heartbeat_interval_ms
        body = {
            "group_id": self.group_id,
            "generation_id": self.generation_id,
            "member_id": self.member_id,
            "group_instance_id": self.config.group_instance_id,
        }
        timeout_ms = min(self.config.request_timeout_ms, self.config.session_timeout_ms)
        return GroupRequest(HEARTBEAT, body, timeout_ms, self._round, self.coordinator)

    def _heartbeating(self) -> bool:
        # Not while JoinGroup / SyncGroup wait at the coordinator: they keep the session.
        return (
            self.coordinator is not None
            and self.generation_id != NO_GENERATION
            and self.state in (MemberState.UNJOINED, MemberState.ASSIGNING, MemberState.STABLE)
        )

    def heartbeat_deadline_ms(self) -> float | None:
        """When :meth:`heartbeat` next has something to send (None: not before an answer)."""
        if not self._heartbeating() or self._heartbeat_in_flight:
            return None
        if self._last_poll_ms is None:
            return self._heartbeat_at_ms
        return min(self._heartbeat_at_ms, self._last_poll_ms + self.config.max_poll_interval_ms + 1)

    def poll_deadline_ms(self) -> float | None:
        """When :meth:`poll` next may have something after returning None (None: not before
        an answer, an acknowledgement, a subscription change or a poll)."""
        if self.state is MemberState.LEFT or self._unacknowledged or self._events:
            return None
        if self.coordinator is None:
            return None if self._lookup_in_flight else self._lookup_retry_at_ms
        if self.state is MemberState.STABLE and self._rejoin_reason is not None:
            return 0.0
        if self.state is MemberState.UNJOINED and self._subscribed and not self._poll_expired:
            return self._retry_at_ms
        return None

    # -- events ------------------------------------------------------------------------------

    def take_event(self) -> RebalanceEvent | None:
        """The next revocation or assignment for the I/O side to carry out, in order."""
        if not self._events:
            return None
        self._unacknowledged += 1
        return self._events.popleft()

    def event_done(self) -> None:
        """The last taken event has been carried out (listener called, fetcher updated)."""
        assert self._unacknowledged > 0, "event_done without take_event"
        self._unacknowledged -= 1
        if self._unacknowledged or self._events or self.state is not MemberState.ASSIGNING:
            return
        self._move(MemberState.STABLE)

    # -- answers -----------------------------------------------------------------------------

    def handle_response(self, request: GroupRequest, response: Container, now_ms: float) -> None:
        """Take the answer to a request from :meth:`poll` or :meth:`heartbeat`."""
        if request.api_key == HEARTBEAT:
            self._heartbeat_in_flight = False  # one at a time, whichever round it was sent in
        if request.api_key == FIND_COORDINATOR:
            self._found(response, now_ms)
        elif request.round != self._round or self.state is MemberState.LEFT:
            pass  # an answer from an earlier join round
        elif request.api_key == JOIN_GROUP:
            self._joined(response, now_ms)
        elif request.api_key == SYNC_GROUP:
            self._synced(response, now_ms)
        elif request.api_key == HEARTBEAT:
            self._heartbeat_answered(response, now_ms)

    def handle_failure(self, request: GroupRequest, error: KafkaError, now_ms: float) -> None:
        """A request failed without an answer (connection broken, timed out)."""
        if request.api_key == FIND_COORDINATOR:
            self._lookup_in_flight = False
            self._lookup_retry_at_ms = now_ms + self.config.retry_backoff_ms
            return
        if request.api_key == HEARTBEAT:
            self._heartbeat_in_flight = False
        self.coordinator_dead(request.coordinator, now_ms)
        if request.round == self._round and request.api_key in (JOIN_GROUP, SYNC_GROUP):
            self._retry_join(now_ms, f"{error} during the join")

    def coordinator_dead(self, coordinator: Coordinator | None, now_ms: float) -> None:
        """Forget ``coordinator`` (if still current): the next poll looks it up again."""
        if coordinator is not None and coordinator == self.coordinator:
            self.coordinator = None
            self._lookup_retry_at_ms = now_ms

    def _found(self, response: Container, now_ms: float) -> None:
        self._lookup_in_flight = False
        code = response.error_code
        if code == ErrorCode.NONE:
            self.coordinator = Coordinator(response.node_id, response.host, response.port)
            self._heartbeat_in_flight = False
            return
        self._lookup_retry_at_ms = now_ms + self.config.retry_backoff_ms
        error = error_for(code, response.get("error_message"))
        if not error.retriable:
            self._error = error

    def _retry_join(self, now_ms: float, reason: str, backoff: bool = True) -> None:
        if self.state in (MemberState.JOINING, MemberState.SYNCING):
            self._move(MemberState.UNJOINED)
            self._join = None
        self._retry_at_ms = now_ms + (self.config.retry_backoff_ms if backoff else 0)
        self._rejoin_reason = self._rejoin_reason or reason

    def _common_error(self, code: int, now_ms: float, what: str) -> bool:
        """Errors every join-protocol answer treats alike; True if ``code`` was one."""
        if code in _REDISCOVER:
            self.coordinator_dead(self.coordinator, now_ms)
        elif code in _RESET_GENERATION:
            self._reset_generation(reset_member_id=code in _RESET_MEMBER)
            if code == ErrorCode.FENCED_INSTANCE_ID:
                self._error = error_for(code, f"{what}: group.instance.id is in use elsewhere")
        elif code == ErrorCode.REBALANCE_IN_PROGRESS:
            self.request_rejoin(f"{what}: rebalance in progress")
            return True
        elif code != ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            return False
        if self.state in (MemberState.JOINING, MemberState.SYNCING):
            self._retry_join(now_ms, f"{what}: {ErrorCode(code).name}")
        return True

    def _reset_generation(self, *, reset_member_id: bool) -> None:
        """The generation is over: what we own is lost (no commit), then rejoin."""
        self.generation_id = NO_GENERATION
        if reset_member_id:
            self.member_id = UNKNOWN_MEMBER_ID
        self._leader_counts = None
        self._previously_owned = frozenset()
        self._revoke(self._owned, lost=True)
        if self.state in (MemberState.ASSIGNING, MemberState.STABLE):
            self._move(MemberState.UNJOINED)
        self.request_rejoin("generation reset")

    def _joined(self, response: Container, now_ms: float) -> None:
        code = response.error_code
        if code == ErrorCode.NONE:
            self.member_id = response.member_id
            self.generation_id = response.generation_id
            leader = response.leader == response.member_id
            self._join = _Join(
                response.generation_id,
                response.protocol_name or "",
                leader,
                bool(response.get("skip_assignment", False)),
                _members(response.members) if leader else [],
            )
            self._move(MemberState.SYNCING)
        elif code == ErrorCode.MEMBER_ID_REQUIRED:
            self.member_id = response.member_id
            self._retry_join(now_ms, "the coordinator assigned a member id", backoff=False)
        elif code == ErrorCode.REBALANCE_IN_PROGRESS:
            self._retry_join(now_ms, "rebalance in progress", backoff=False)
        elif not self._common_error(code, now_ms, "JoinGroup"):
            self._error = error_for(code, "JoinGroup")
            self._retry_join(now_ms, f"JoinGroup failed: {ErrorCode(code).name}")
        if self.state is MemberState.JOINING:
            self._retry_join(now_ms, "JoinGroup failed")

    def _synced(self, response: Container, now_ms: float) -> None:
        code = response.error_code
        if code != ErrorCode.NONE:
            if not self._common_error(code, now_ms, "SyncGroup"):
                self._error = error_for(code, "SyncGroup")
            self._retry_join(now_ms, f"SyncGroup failed: {ErrorCode(code).name}")
            return
        try:
            assigned = frozenset(decode_assignment(bytes(response.assignment)).partitions)
        except ProtocolError as error:
            self._error = KafkaError(f"undecodable assignment from the group leader: {error}")
            self._retry_join(now_ms, "undecodable assignment")
            return
        self._join = None
        self._previously_owned = frozenset()
        self._move(MemberState.ASSIGNING)
        self._heartbeat_at_ms = now_ms + self.config.heartbeat_interval_ms
        revoked = self._owned - assigned
        added = assigned - self._owned
        self._revoke(revoked, lost=False)
        self._owned = assigned
        self._events.append(PartitionsAssigned(assigned, added))
        if revoked and self.protocol is RebalanceProtocol.COOPERATIVE:
            self.request_rejoin("cooperative rebalance: revoked partitions to hand on")

    def _heartbeat_answered(self, response: Container, now_ms: float) -> None:
        code = response.error_code
        if code == ErrorCode.NONE or self.state not in (MemberState.ASSIGNING, _S.STABLE):
            return
        if self._common_error(code, now_ms, "Heartbeat"):
            return
        self._error = error_for(code, "Heartbeat")

    # -- leaving -----------------------------------------------------------------------------

    def leave(self, reason: str) -> GroupRequest | None:
        """Leave the group (close, unsubscribe, poll timeout).  The LeaveGroup to send, or None
        for a static member (KIP-345: it keeps its assignment for session.timeout.ms) or one
        with no member id yet.  The partitions are revoked (lost if the poll timer expired)."""
        lost = self._poll_expired
        coordinator, member_id = self.coordinator, self.member_id
        self._revoke(self._owned, lost=lost)
        self.generation_id = NO_GENERATION
        self.member_id = UNKNOWN_MEMBER_ID
        self._join = None
        self._round += 1
        if self.state is not MemberState.LEFT:
            self._move(MemberState.UNJOINED)
        self.request_rejoin(reason)
        if self.config.group_instance_id is not None or not member_id or coordinator is None:
            return None
        body = {
            "group_id": self.group_id,
            "member_id": member_id,
            "members": [{"member_id": member_id, "group_instance_id": None, "reason": reason}],
        }
        return GroupRequest(LEAVE_GROUP, body, self.config.request_timeout_ms, 0, coordinator)

    def close(self) -> GroupRequest | None:
        """Leave for good (the consumer is closing); see :meth:`leave`."""
        request = self.leave("the consumer is being closed")
        self._move(MemberState.LEFT)
        return request

    # -- offsets -----------------------------------------------------------------------------

    def commit_request(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> GroupRequest:
        """An OffsetCommit of ``offsets`` under the current generation.

        Raises :class:`CommitFailedError` when the member is not in a generation (Kafka
        refuses such commits too: they could overwrite the new owner's)."""
        subscribed = bool(self._subscribed) or self._pattern is not None
        if subscribed and not self.in_generation:
            raise CommitFailedError(
                f"group {self.group_id!r}: not in an active generation (rebalancing); "
                "the partitions may have moved, so the commit is refused"
            )
        if self.coordinator is None:
            raise error_for(ErrorCode.COORDINATOR_NOT_AVAILABLE, f"group {self.group_id!r}")
        # With assign() there is no generation: Kafka commits as generation -1, no member id.
        generation, member_id = (
            (self.generation_id, self.member_id) if subscribed else (NO_GENERATION, "")
        )
        grouped: dict[str, list[dict[str, Any]]] = {}
        for tp, committed in sorted(offsets.items()):
            assert committed.offset >= 0, f"commit of {tp} at {committed.offset}"
            grouped.setdefault(tp.topic, []).append(
                {
                    "partition_index": tp.partition,
                    "committed_offset": committed.offset,
                    "committed_leader_epoch": committed.leader_epoch,
                    "committed_metadata": committed.metadata,
                }
            )
        body = {
            "group_id": self.group_id,
            "generation_id_or_member_epoch": generation,
            "member_id": member_id,
            "group_instance_id": self.config.group_instance_id if subscribed else None,
            "topics": [{"name": name, "partitions": parts} for name, parts in grouped.items()],
        }
        timeout_ms = self.config.request_timeout_ms
        return GroupRequest(OFFSET_COMMIT, body, timeout_ms, self._round, self.coordinator)

    def read_commit(self, request: GroupRequest, response: Container, now_ms: float) -> None:
        """Check an OffsetCommit answer; raises the first partition error (retriable ones —
        coordinator moved or loading — may be retried; CommitFailedError may not)."""
        for topic in response.topics:
            for partition in topic.partitions:
                code = partition.error_code
                if code == ErrorCode.NONE:
                    continue
                what = f"commit of {topic.name}-{partition.partition_index}"
                if code in _REDISCOVER:
                    self.coordinator_dead(request.coordinator, now_ms)
                elif code == ErrorCode.REBALANCE_IN_PROGRESS:
                    self.request_rejoin(f"{what}: rebalance in progress")
                    raise CommitFailedError(f"{what}: the group is rebalancing")
                elif code in _RESET_GENERATION and request.round == self._round:
                    self._reset_generation(reset_member_id=code in _RESET_MEMBER)
                    raise CommitFailedError(f"{what}: {ErrorCode(code).name}")
                raise error_for(code, what)

    def offset_fetch_request(self, partitions: Iterable[TopicPartition]) -> GroupRequest:
        """An OffsetFetch of the group's committed offsets for ``partitions``."""
        grouped: dict[str, list[int]] = {}
        for tp in sorted(set(partitions)):
            grouped.setdefault(tp.topic, []).append(tp.partition)
        body = {
            "group_id": self.group_id,
            "topics": [{"name": name, "partition_indexes": ids} for name, ids in grouped.items()],
            "require_stable": False,  # read_committed is not supported (see client.fetcher)
        }
        timeout_ms = self.config.request_timeout_ms
        return GroupRequest(OFFSET_FETCH, body, timeout_ms, self._round, self.coordinator)

    def read_offset_fetch(
        self, request: GroupRequest, response: Container, now_ms: float
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The committed offsets (partitions with none are left out); raises the error of the
        answer (retriable: coordinator moved or loading, UNSTABLE_OFFSET_COMMIT)."""
        code = response.get("error_code", ErrorCode.NONE)
        if code in _REDISCOVER:
            self.coordinator_dead(request.coordinator, now_ms)
        if code != ErrorCode.NONE:
            raise error_for(code, f"OffsetFetch of group {self.group_id!r}")
        out: dict[TopicPartition, OffsetAndMetadata] = {}
        for topic in response.topics:
            for partition in topic.partitions:
                tp = TopicPartition(topic.name, partition.partition_index)
                if partition.error_code != ErrorCode.NONE:
                    raise error_for(partition.error_code, f"OffsetFetch of {tp}")
                if partition.committed_offset >= 0:
                    out[tp] = OffsetAndMetadata(
                        partition.committed_offset,
                        partition.get("committed_leader_epoch", -1),
                        partition.metadata or "",
                    )
        return out


def _members(entries: Iterable[Container]) -> list[GroupMemberInfo]:
    """The JoinGroup response's members; one whose metadata does not decode subscribes to
    nothing (it gets no partitions rather than failing everyone's rebalance)."""
    out = []
    for entry in entries:
        try:
            subscription = decode_subscription(bytes(entry.metadata))
        except ProtocolError:
            subscription = Subscription(topics=())
        out.append(GroupMemberInfo(entry.member_id, entry.get("group_instance_id"), subscription))
    return out


def _partition_counts(metadata: ClusterMetadata, topics: Iterable[str]) -> dict[str, int]:
    return {
        topic: len(metadata.topics[topic].partitions)
        for topic in topics
        if topic in metadata.topics
    }
