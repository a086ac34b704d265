"""A share group's membership (KIP-932), sans-IO: ShareGroupHeartbeat and the simple assignor.

Unlike a KIP-848 consumer group there is no revocation phase: several members may read one
partition at once (records are locked one by one, :mod:`broker.core.share_partition`), so a
member moves straight to its new assignment.  The member id comes from the client; epoch 0
joins (the subscription is then required), -1 leaves, and a heartbeat carries the epoch of
the last answer (or the one before it, if that answer was lost).  The group epoch moves when
a subscription or the subscribed topics' partition counts change; the target assignment is
then recomputed by :func:`simple_assignment`.

The coordinator layer is :mod:`broker.core.share_membership`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from client.protocol.errors import ErrorCode

LEAVE_EPOCH = -1
JOIN_EPOCH = 0
# topic name -> partitions
MemberAssignment = dict[str, frozenset[int]]


def simple_assignment(
    subscriptions: Mapping[str, frozenset[str]],
    partition_counts: Mapping[str, int],
    current: Mapping[str, MemberAssignment],
) -> dict[str, MemberAssignment]:
    """Kafka's ``simple`` assignor's rules, topic by topic: balance first (members of a topic
    hold partition counts that differ by at most one), then stickiness (a member keeps what
    it holds while its share allows).  When a topic's members outnumber its partitions, each
    partition is shared by ceil(members / partitions) of them."""
    result: dict[str, MemberAssignment] = {member: {} for member in subscriptions}
    for topic in sorted({t for topics in subscriptions.values() for t in topics}):
        count = partition_counts.get(topic, 0)
        members = sorted(m for m, topics in subscriptions.items() if topic in topics)
        if count <= 0 or not members:
            continue
        held = {m: set(current.get(m, {}).get(topic, ())) & set(range(count)) for m in members}
        for member, partitions in _assign_topic(members, count, held).items():
            if partitions:
                result[member][topic] = frozenset(partitions)
    return result


def _assign_topic(members: list[str], count: int, held: dict[str, set[int]]) -> dict[str, set[int]]:
    sharing = max(1, -(-len(members) // count))  # ceil
    total = count * sharing
    base, extra = divmod(total, len(members))
    # The members holding more now take the extra slots (stickiness), then by id.
    ranked = sorted(members, key=lambda m: (-len(held[m]), m))
    quota = {m: base + (1 if rank < extra else 0) for rank, m in enumerate(ranked)}
    holders = [0] * count
    assigned: dict[str, set[int]] = {m: set() for m in members}
    for member in ranked:
        for partition in sorted(held[member]):
            if len(assigned[member]) < quota[member] and holders[partition] < sharing:
                assigned[member].add(partition)
                holders[partition] += 1
    for member in ranked:
        while len(assigned[member]) < quota[member]:
            free = [p for p in range(count) if p not in assigned[member]]
            if not free:
                break
            partition = min(free, key=lambda p: (holders[p] >= sharing, holders[p], p))
            assigned[member].add(partition)
            holders[partition] += 1
    return assigned


@dataclass(slots=True)
class ShareMember:
    member_id: str
    member_epoch: int
    previous_epoch: int
    subscribed: frozenset[str]
    rack_id: str | None
    client_id: str
    client_host: str
    assignment: MemberAssignment = field(default_factory=dict)
    # What the last answer told the member (None: nothing yet).
    sent: MemberAssignment | None = None
    session_deadline_ms: int = 0


@dataclass(frozen=True, slots=True)
class ShareHeartbeat:
    member_id: str
    member_epoch: int
    rack_id: str | None
    subscribed_topic_names: tuple[str, ...] | None
    client_id: str = ""
    client_host: str = ""


@dataclass(frozen=True, slots=True)
class ShareHeartbeatResult:
    error_code: ErrorCode
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    # None: not sent (unchanged and not asked for).
    assignment: MemberAssignment | None = None


@dataclass(frozen=True, slots=True)
class ShareGroupSettings:
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 5_000
    max_size: int = 200


class ShareGroup:
    """One share group's members, epochs and target assignment."""

    def __init__(self, group_id: str, settings: ShareGroupSettings) -> None:
        self.group_id = group_id
        self.settings = settings
        self.members: dict[str, ShareMember] = {}
        self.group_epoch = 0
        self.assignment_epoch = 0
        self._partition_counts: dict[str, int] = {}
        self._changed = False  # the members or their subscriptions changed

    @property
    def state(self) -> str:
        return "Stable" if self.members else "Empty"

    def heartbeat(
        self, request: ShareHeartbeat, partition_counts: Mapping[str, int], now_ms: int
    ) -> ShareHeartbeatResult:
        error = _request_error(request)
        if error is not None:
            return ShareHeartbeatResult(ErrorCode.INVALID_REQUEST, error)
        member = self.members.get(request.member_id)
        if request.member_epoch == LEAVE_EPOCH:
            if member is None:
                return ShareHeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID)
            self.remove(request.member_id, partition_counts)
            return ShareHeartbeatResult(ErrorCode.NONE, None, request.member_id, LEAVE_EPOCH)
        if request.member_epoch == JOIN_EPOCH:
            if member is None:
                if len(self.members) >= self.settings.max_size:
                    message = f"The share group has reached its maximum size ({len(self.members)})."
                    return ShareHeartbeatResult(ErrorCode.GROUP_MAX_SIZE_REACHED, message)
                member = ShareMember(
                    request.member_id, 0, 0, frozenset(), request.rack_id,
                    request.client_id, request.client_host,
                )  # fmt: skip
                self.members[request.member_id] = member
        elif member is None:
            return ShareHeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID)
        elif request.member_epoch not in (member.member_epoch, member.previous_epoch):
            message = (
                f"The share group member has epoch {member.member_epoch}, "
                f"not {request.member_epoch}."
            )
            return ShareHeartbeatResult(ErrorCode.FENCED_MEMBER_EPOCH, message)
        if request.rack_id is not None:
            member.rack_id = request.rack_id
        if request.subscribed_topic_names is not None:
            subscribed = frozenset(request.subscribed_topic_names)
            if subscribed != member.subscribed:
                member.subscribed = subscribed
                self._changed = True
        member.session_deadline_ms = now_ms + self.settings.session_timeout_ms
        self._refresh(partition_counts)
        if member.member_epoch != self.assignment_epoch:
            member.previous_epoch = member.member_epoch
            member.member_epoch = self.assignment_epoch
        full = request.member_epoch == JOIN_EPOCH or request.subscribed_topic_names is not None
        send = full or member.assignment != member.sent
        if send:
            member.sent = dict(member.assignment)
        return ShareHeartbeatResult(
            ErrorCode.NONE,
            None,
            member.member_id,
            member.member_epoch,
            dict(member.assignment) if send else None,
        )

    def remove(self, member_id: str, partition_counts: Mapping[str, int] | None = None) -> None:
        """A member left or was fenced: the others share its partitions (``partition_counts``:
        the topics' partition counts, by default those the group last saw)."""
        if self.members.pop(member_id, None) is not None:
            self._changed = True
            self._refresh(self._partition_counts if partition_counts is None else partition_counts)

    def expire_sessions(
        self, now_ms: int, partition_counts: Mapping[str, int] | None = None
    ) -> list[str]:
        """Fence the members whose session deadline passed; their ids."""
        expired = [m for m, member in self.members.items() if member.session_deadline_ms <= now_ms]
        for member_id in expired:
            self.remove(member_id, partition_counts)
        return expired

    def _refresh(self, partition_counts: Mapping[str, int]) -> None:
        """When the members, their subscriptions or the subscribed topics' partition counts
        changed: move the group epoch by one and recompute the target assignment."""
        subscribed = {t for member in self.members.values() for t in member.subscribed}
        counts = {topic: partition_counts.get(topic, 0) for topic in subscribed}
        if counts != self._partition_counts:
            self._partition_counts = counts
            self._changed = True
        if not self._changed:
            return
        self._changed = False
        self.group_epoch += 1
        target = simple_assignment(
            {m: member.subscribed for m, member in self.members.items()},
            counts,
            {m: member.assignment for m, member in self.members.items()},
        )
        for member_id, member in self.members.items():
            member.assignment = target[member_id]
        self.assignment_epoch = self.group_epoch


def _request_error(request: ShareHeartbeat) -> str | None:
    if not request.member_id:
        return "MemberId can't be empty."
    if request.rack_id == "":
        return "RackId can't be empty."
    if request.member_epoch < LEAVE_EPOCH:
        return f"MemberEpoch is {request.member_epoch}, but must be greater than or equal to -1."
    if request.member_epoch == JOIN_EPOCH and not request.subscribed_topic_names:
        return "SubscribedTopicNames must be set in first request."
    return None
