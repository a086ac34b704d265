"""KIP-848 consumer groups (the ``consumer`` rebalance protocol), sans-IO: one group's members,
epochs, target assignment and reconciliation, plus the server-side assignors.

**Epochs.**  The *group epoch* goes up whenever what the assignment depends on changes: a
member joins or leaves, a member's subscription changes, or a subscribed topic's partition
count (or id) changes.  The *assignment epoch* is the group epoch the target assignment was
computed for; a heartbeat that finds the group epoch ahead runs the assignor again.  Each
member has a *member epoch*: the assignment epoch it is reconciled to.

**Reconciliation** (Kafka's ``CurrentAssignmentBuilder``), on each heartbeat of a member not
at the assignment epoch: the partitions it holds that the target no longer gives it are
*pending revocation*; while the member still reports owning any of them it stays at its epoch
in ``UNREVOKED_PARTITIONS`` and is told only the partitions it may keep.  Once it has let them
go it moves to the target epoch and gets the target's new partitions, except those another
member still holds (assigned or pending revocation): those are *unreleased*
(``UNRELEASED_PARTITIONS``), handed over on a later heartbeat once free.  So no partition is
ever assigned to two members at once.

Assignments name topics by id (``uuid.UUID``): ``Assignment`` maps a topic id to its
partitions.  Nothing here reads a clock or does I/O; the coordinator
(:mod:`broker.core.group_coordinator`) runs the timers and answers the requests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from client.protocol.errors import ErrorCode

Assignment = dict[uuid.UUID, frozenset[int]]
TopicsView = Mapping[str, tuple[uuid.UUID, int]]  # topic name -> (id, partition count)

JOIN_EPOCH = 0
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2
DEFAULT_ASSIGNORS = ("uniform", "range")


class MemberState(Enum):
    STABLE = "stable"
    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    UNRELEASED_PARTITIONS = "unreleased_partitions"


class GroupState(Enum):
    """What ListGroups / ConsumerGroupDescribe report (Kafka's ``ConsumerGroupState``)."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"


class HeartbeatError(Exception):
    """A heartbeat refused with ``code`` (the response carries it and ``message``)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False, slots=True)
class ConsumerMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    session_timer: Any = None
    rebalance_timer: Any = None

    def is_reconciled_to(self, epoch: int) -> bool:
        return self.state is MemberState.STABLE and self.member_epoch == epoch


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None
    rack_id: str | None
    rebalance_timeout_ms: int
    subscribed_topic_names: tuple[str, ...] | None
    subscribed_topic_regex: str | None
    server_assignor: str | None
    owned: Assignment | None  # None: not sent (unchanged since the last heartbeat)
    client_id: str
    client_host: str
    version: int


def validate(request: HeartbeatRequest, assignors: Iterable[str]) -> None:
    """Kafka's request checks (INVALID_REQUEST, UNSUPPORTED_ASSIGNOR), before any state."""
    invalid = ErrorCode.INVALID_REQUEST
    if not request.group_id:
        raise HeartbeatError(ErrorCode.INVALID_GROUP_ID, "GroupId can't be empty.")
    if request.instance_id == "":
        raise HeartbeatError(invalid, "InstanceId can't be empty.")
    if request.rack_id == "":
        raise HeartbeatError(invalid, "RackId can't be empty.")
    epoch = request.member_epoch
    if epoch == JOIN_EPOCH:
        if request.version >= 1 and not request.member_id:
            raise HeartbeatError(invalid, "MemberId can't be empty.")
        if request.rebalance_timeout_ms == -1:
            raise HeartbeatError(invalid, "RebalanceTimeoutMs must be provided in first request.")
        if request.owned is None or request.owned:
            raise HeartbeatError(invalid, "TopicPartitions must be empty when (re-)joining.")
        if not request.subscribed_topic_names and request.subscribed_topic_regex is None:
            raise HeartbeatError(
                invalid,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            )
    elif epoch > 0 or epoch == LEAVE_EPOCH:
        if not request.member_id:
            raise HeartbeatError(invalid, "MemberId can't be empty.")
    elif epoch == STATIC_LEAVE_EPOCH:
        if not request.member_id:
            raise HeartbeatError(invalid, "MemberId can't be empty.")
        if request.instance_id is None:
            raise HeartbeatError(invalid, "InstanceId can't be null.")
    else:
        raise HeartbeatError(invalid, "MemberEpoch is invalid.")
    if request.subscribed_topic_regex is not None:
        try:
            re.compile(request.subscribed_topic_regex)
        except re.error as error:
            raise HeartbeatError(invalid, f"SubscribedTopicRegex is invalid: {error}") from None
    known = tuple(assignors)
    if request.server_assignor is not None and request.server_assignor not in known:
        raise HeartbeatError(
            ErrorCode.UNSUPPORTED_ASSIGNOR,
            f"ServerAssignor {request.server_assignor} is not supported. "
            f"Supported assignors: {', '.join(known)}.",
        )


@dataclass(eq=False, slots=True)
class ConsumerGroup:
    """One group's KIP-848 membership (its committed offsets live in the classic ``Group``
    this hangs off)."""

    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    target: dict[str, Assignment] = field(default_factory=dict)  # member id -> target
    subscription_metadata: dict[str, tuple[uuid.UUID, int]] = field(default_factory=dict)
    assignor_name: str | None = None
    # What __consumer_offsets holds for this group (key -> value bytes), and the shape
    # (epochs, members) it was last fully written for: records are written as a diff.
    written: dict[bytes, bytes] = field(default_factory=dict)
    written_shape: tuple[int, int, frozenset[str]] | None = None

    # -- views --------------------------------------------------------------------------------

    @property
    def state(self) -> GroupState:
        if not self.members:
            return GroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return GroupState.ASSIGNING
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return GroupState.RECONCILING
        return GroupState.STABLE

    def subscribed_topic_names(self, topics: TopicsView) -> set[str]:
        """Every topic a member subscribes to, by name or by regex (existing topics only
        for regexes; internal topics never match a regex)."""
        names: set[str] = set()
        patterns: set[str] = set()
        for member in self.members.values():
            names.update(member.subscribed_topic_names)
            if member.subscribed_topic_regex is not None:
                patterns.add(member.subscribed_topic_regex)
        for pattern in patterns:
            compiled = re.compile(pattern)
            names.update(t for t in topics if not t.startswith("__") and compiled.fullmatch(t))
        return names

    def member_topics(self, member: ConsumerMember, topics: TopicsView) -> set[str]:
        names = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex is not None:
            compiled = re.compile(member.subscribed_topic_regex)
            names.update(t for t in topics if not t.startswith("__") and compiled.fullmatch(t))
        return names

    def held_elsewhere(self, member_id: str) -> set[tuple[uuid.UUID, int]]:
        """Partitions another member holds now (assigned, or not yet revoked)."""
        held: set[tuple[uuid.UUID, int]] = set()
        for other in self.members.values():
            if other.member_id == member_id:
                continue
            for assignment in (other.assigned, other.pending_revocation):
                for topic_id, partitions in assignment.items():
                    held.update((topic_id, p) for p in partitions)
        return held

    # -- membership ---------------------------------------------------------------------------

    def add_member(self, member: ConsumerMember) -> None:
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id

    def remove_member(self, member_id: str) -> ConsumerMember | None:
        """Fence or remove a member: its partitions are free at once; the group epoch goes
        up so the others are reassigned."""
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        if member.instance_id is not None and self.static_members.get(member.instance_id) == (
            member_id
        ):
            del self.static_members[member.instance_id]
        self.target.pop(member_id, None)
        self.group_epoch += 1
        return member

    def refresh_metadata(self, topics: TopicsView) -> bool:
        """Recompute the subscribed topics' ids and partition counts; True if they changed
        (the caller bumps the group epoch)."""
        names = sorted(self.subscribed_topic_names(topics))
        metadata = {name: topics[name] for name in names if name in topics}
        if metadata == self.subscription_metadata:
            return False
        self.subscription_metadata = metadata
        return True

    def compute_target(self, topics: TopicsView, default_assignor: str) -> None:
        """Run the group's assignor for the current group epoch."""
        self.assignor_name = self._pick_assignor(default_assignor)
        subscriptions = {
            member_id: self.member_topics(member, topics) & set(self.subscription_metadata)
            for member_id, member in self.members.items()
        }
        assign = ASSIGNORS[self.assignor_name]
        self.target = assign(subscriptions, self.subscription_metadata, self.target)
        self.assignment_epoch = self.group_epoch

    def _pick_assignor(self, default: str) -> str:
        """The assignor most members ask for (ties by name), else the broker's default."""
        votes: dict[str, int] = {}
        for member in self.members.values():
            if member.server_assignor is not None:
                votes[member.server_assignor] = votes.get(member.server_assignor, 0) + 1
        if not votes:
            return default
        return min(votes, key=lambda name: (-votes[name], name))

    # -- reconciliation -----------------------------------------------------------------------

    def reconcile(self, member: ConsumerMember, owned: Assignment | None) -> None:
        """Move ``member`` towards its target assignment (see the module docstring)."""
        epoch = self.assignment_epoch
        if member.is_reconciled_to(epoch):
            return
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if _owns_any(owned, member.pending_revocation):
                return
            self._next_assignment(member, member.member_epoch + 1, owned)
        else:
            self._next_assignment(member, member.member_epoch, owned)

    def _next_assignment(
        self, member: ConsumerMember, member_epoch: int, owned: Assignment | None
    ) -> None:
        target = self.target.get(member.member_id, {})
        held = self.held_elsewhere(member.member_id)
        keep: Assignment = {}
        revoke: Assignment = {}
        pending: Assignment = {}
        unreleased = False
        for topic_id in set(target) | set(member.assigned):
            wanted = target.get(topic_id, frozenset())
            current = member.assigned.get(topic_id, frozenset())
            kept = current & wanted
            if kept:
                keep[topic_id] = kept
            if current - kept:
                revoke[topic_id] = current - kept
            new = wanted - kept
            free = frozenset(p for p in new if (topic_id, p) not in held)
            if len(free) != len(new):
                unreleased = True
            if free:
                pending[topic_id] = free
        if revoke and _owns_any(owned, revoke):
            member.state = MemberState.UNREVOKED_PARTITIONS
            _set_epoch(member, member_epoch)
            member.assigned = keep
            member.pending_revocation = revoke
            return
        for topic_id, partitions in pending.items():
            keep[topic_id] = keep.get(topic_id, frozenset()) | partitions
        member.state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
        _set_epoch(member, self.assignment_epoch)
        member.assigned = keep
        member.pending_revocation = {}


def _set_epoch(member: ConsumerMember, epoch: int) -> None:
    if epoch != member.member_epoch:
        member.previous_member_epoch = member.member_epoch
        member.member_epoch = epoch


def _owns_any(owned: Assignment | None, partitions: Assignment) -> bool:
    """Whether the member's reported partitions include any of ``partitions``; not reporting
    counts as still owning them (Kafka's ``ownsRevokedPartitions``)."""
    if owned is None:
        return True
    return any(owned.get(topic_id, frozenset()) & parts for topic_id, parts in partitions.items())


def is_subset(owned: Assignment | None, assigned: Assignment) -> bool:
    if owned is None:
        return False
    return all(parts <= assigned.get(topic_id, frozenset()) for topic_id, parts in owned.items())


def check_member_epoch(member: ConsumerMember, received: int, owned: Assignment | None) -> None:
    """FENCED_MEMBER_EPOCH unless ``received`` is the member's epoch, 0 (a rejoin after being
    fenced, KAFKA-19233), or its previous epoch with a subset of its partitions (the response
    that bumped it was lost)."""
    if received in (JOIN_EPOCH, member.member_epoch):
        return
    if received > member.member_epoch:
        raise HeartbeatError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a greater member epoch ({received}) than the one "
            f"known by the group coordinator ({member.member_epoch}). The member must abandon "
            "all its partitions and rejoin.",
        )
    if received != member.previous_member_epoch or not is_subset(owned, member.assigned):
        raise HeartbeatError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a smaller member epoch ({received}) than the one "
            f"known by the group coordinator ({member.member_epoch}). The member must abandon "
            "all its partitions and rejoin.",
        )


# -- assignors ------------------------------------------------------------------------------


def _partitions_of(
    topics: Iterable[str], metadata: Mapping[str, tuple[uuid.UUID, int]]
) -> list[tuple[uuid.UUID, int]]:
    out: list[tuple[uuid.UUID, int]] = []
    for name in sorted(topics):
        topic_id, count = metadata[name]
        out.extend((topic_id, p) for p in range(count))
    return out


def _to_assignment(pairs: Iterable[tuple[uuid.UUID, int]]) -> Assignment:
    grouped: dict[uuid.UUID, set[int]] = {}
    for topic_id, partition in pairs:
        grouped.setdefault(topic_id, set()).add(partition)
    return {topic_id: frozenset(parts) for topic_id, parts in grouped.items()}


def uniform_assignor(
    subscriptions: Mapping[str, set[str]],
    metadata: Mapping[str, tuple[uuid.UUID, int]],
    current: Mapping[str, Assignment],
) -> dict[str, Assignment]:
    """Balanced and sticky (Kafka's default server assignor, ``uniform``): each partition
    goes to one member subscribed to its topic, members' counts differ by at most one where
    their subscriptions allow, and a partition stays with its current owner when it can.

    Homogeneous subscriptions (the usual case) get exact quotas: ``P // M`` each and one more
    for ``P % M`` members, current owners first.  Heterogeneous ones: current partitions are
    kept up to the member's fair share, the rest go to the least loaded eligible member, then
    partitions move from a member with two more than an eligible other until none does.
    Cost: O(P * M) per pass, a few passes.
    """
    members = sorted(subscriptions)
    if not members:
        return {}
    by_id = {topic_id: name for name, (topic_id, _) in metadata.items()}
    topics = {t for s in subscriptions.values() for t in s}
    partitions = _partitions_of(topics, metadata)
    owner: dict[tuple[uuid.UUID, int], str] = {}
    count = dict.fromkeys(members, 0)
    held = {
        m: sorted((t, p) for t, parts in current.get(m, {}).items() for p in parts) for m in members
    }
    if all(subscriptions[m] == subscriptions[members[0]] for m in members):
        floor, extra = divmod(len(partitions), len(members))
        valid = set(partitions)
        for m in members:  # 1. keep up to the floor
            for tp in held[m]:
                if count[m] >= floor:
                    break
                if tp in valid and tp not in owner:
                    owner[tp] = m
                    count[m] += 1
        for m in members:  # 2. one more for those that had more, while extras last
            if extra == 0:
                break
            for tp in held[m]:
                if tp in valid and tp not in owner:
                    owner[tp] = m
                    count[m] += 1
                    extra -= 1
                    break
        free = [tp for tp in partitions if tp not in owner]
        for m in members:  # 3. fill up: the floor first, then the remaining extras
            while count[m] < floor and free:
                owner[free.pop()] = m
                count[m] += 1
        for m in members:
            if not free:
                break
            if count[m] == floor and extra > 0:
                owner[free.pop()] = m
                count[m] += 1
                extra -= 1
        assert not free
    else:
        eligible = {
            tp: [m for m in members if by_id[tp[0]] in subscriptions[m]] for tp in partitions
        }
        share = dict.fromkeys(members, 0.0)
        for candidates in eligible.values():
            for m in candidates:
                share[m] += 1 / len(candidates)
        quota = {m: int(share[m]) + (1 if share[m] % 1 > 1e-9 else 0) for m in members}
        for m in members:
            for tp in held[m]:
                if tp in eligible and m in eligible[tp] and tp not in owner and count[m] < quota[m]:
                    owner[tp] = m
                    count[m] += 1
        for tp in sorted(
            (tp for tp in partitions if tp not in owner), key=lambda t: len(eligible[t])
        ):
            target = min(eligible[tp], key=lambda m: (count[m], m))
            owner[tp] = target
            count[target] += 1
        for _ in range(len(members)):
            moved = False
            for tp in partitions:
                m = owner[tp]
                receiver = min(eligible[tp], key=lambda other: (count[other], other))
                if count[m] - count[receiver] >= 2:
                    owner[tp] = receiver
                    count[m] -= 1
                    count[receiver] += 1
                    moved = True
            if not moved:
                break
    grouped: dict[str, list[tuple[uuid.UUID, int]]] = {m: [] for m in members}
    for tp, m in owner.items():
        grouped[m].append(tp)
    return {m: _to_assignment(tps) for m, tps in grouped.items()}


def range_assignor(
    subscriptions: Mapping[str, set[str]],
    metadata: Mapping[str, tuple[uuid.UUID, int]],
    current: Mapping[str, Assignment],
) -> dict[str, Assignment]:
    """Per topic, the subscribed members (by id) get contiguous ranges, the first ones one
    partition more (co-partitioned topics line up, as with the client-side range)."""
    del current
    pairs: dict[str, list[tuple[uuid.UUID, int]]] = {m: [] for m in subscriptions}
    for name in sorted(metadata):
        topic_id, count = metadata[name]
        members = sorted(m for m, topics in subscriptions.items() if name in topics)
        if not members:
            continue
        base, extra = divmod(count, len(members))
        start = 0
        for index, m in enumerate(members):
            size = base + (1 if index < extra else 0)
            pairs[m].extend((topic_id, p) for p in range(start, start + size))
            start += size
    return {m: _to_assignment(tps) for m, tps in pairs.items()}


Assignor = Callable[
    [Mapping[str, set[str]], Mapping[str, tuple[uuid.UUID, int]], Mapping[str, Assignment]],
    dict[str, Assignment],
]
ASSIGNORS: dict[str, Assignor] = {"uniform": uniform_assignor, "range": range_assignor}
