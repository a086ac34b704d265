"""One classic consumer group's state (Kafka's ``GroupMetadata``/``MemberMetadata``), sans-IO.

Every state change of a group goes through :meth:`Group.transition_to`, checked against
:data:`VALID_PREVIOUS_STATES`, Kafka's table::

    Empty               <- PreparingRebalance       (the rebalance ended with no members)
    PreparingRebalance  <- Empty, Stable, CompletingRebalance
    CompletingRebalance <- PreparingRebalance       (all known members rejoined, or the timeout)
    Stable              <- CompletingRebalance      (the leader's SyncGroup was stored)
    Dead                <- any state                (deleted, expired or unloaded)

A group loaded from ``__consumer_offsets`` starts in Stable (members) or Empty (none).  The
coordinator (``group_coordinator``) owns the rules for *when* to transition; this module owns
the bookkeeping: members, the static-member index (KIP-345), pending member ids (KIP-394),
protocol selection and the committed offsets.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.core.consumer_group import ConsumerGroup
from broker.core.group_records import (
    NO_TIMESTAMP,
    GroupMetadataValue,
    MemberMetadataValue,
    OffsetCommitValue,
)


class GroupState(enum.Enum):
    """Kafka's classic group states; the value is the name DescribeGroups/ListGroups report."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


_S = GroupState
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    _S.EMPTY: frozenset({_S.PREPARING_REBALANCE}),
    _S.PREPARING_REBALANCE: frozenset({_S.EMPTY, _S.STABLE, _S.COMPLETING_REBALANCE}),
    _S.COMPLETING_REBALANCE: frozenset({_S.PREPARING_REBALANCE}),
    _S.STABLE: frozenset({_S.COMPLETING_REBALANCE}),
    _S.DEAD: frozenset(GroupState),
}
# Where a rebalance may start (Kafka's ``canRebalance``).
CAN_REBALANCE_STATES = frozenset({_S.EMPTY, _S.STABLE, _S.COMPLETING_REBALANCE})

Protocols = tuple[tuple[str, bytes], ...]
TopicPartition = tuple[str, int]


@dataclass(eq=False, slots=True)
class Member:
    """One member; ``pending_join``/``pending_sync`` hold its parked request, if any.

    ``is_new``: joined in the current rebalance and not yet given a generation; such a
    member's heartbeat deadline is the new-member join timeout, and it may expire while its
    JoinGroup is parked (Kafka's ``MemberMetadata.isNew``).
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    is_new: bool = False
    pending_join: Any = None  # the coordinator's ParkedRequest; typed there
    pending_sync: Any = None
    heartbeat: Any = None  # the coordinator's heartbeat timer

    def metadata(self, protocol_name: str) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol_name:
                return metadata
        raise AssertionError(f"member {self.member_id} does not support {protocol_name}")

    def matches(self, protocols: Protocols) -> bool:
        """Same protocols, in the same order, with the same metadata (Kafka's ``matches``)."""
        return self.protocols == protocols

    def vote(self, candidates: frozenset[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise AssertionError(f"member {self.member_id} supports none of {sorted(candidates)}")


@dataclass(eq=False, slots=True)
class Group:
    """One group's membership, generation and committed offsets."""

    group_id: str
    partition: int
    state: GroupState = GroupState.EMPTY
    state_timestamp_ms: int = NO_TIMESTAMP  # wall clock of the last transition
    generation_id: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)  # in join order
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    pending_members: dict[str, Any] = field(default_factory=dict)  # member id -> its timer
    pending_sync_members: set[str] = field(default_factory=set)
    new_member_added: bool = False
    offsets: dict[TopicPartition, OffsetCommitValue] = field(default_factory=dict)
    # TxnOffsetCommit (KIP-98): offsets of open transactions, by producer id, until the
    # transaction's marker on the group's partition commits or drops them.
    pending_txn_offsets: dict[int, dict[TopicPartition, OffsetCommitValue]] = field(
        default_factory=dict
    )
    has_metadata_record: bool = False  # a GroupMetadataValue of this group is in the log
    # KIP-848: the consumer-protocol membership of this group id, if it has been one (the
    # classic state stays Empty meanwhile); see broker.core.consumer_membership.
    consumer: ConsumerGroup | None = None
    join_timer: Any = None
    sync_timer: Any = None

    def transition_to(self, state: GroupState, wall_ms: int) -> None:
        assert self.state in VALID_PREVIOUS_STATES[state], f"{self.state} -> {state}"
        self.state = state
        self.state_timestamp_ms = wall_ms

    def is_(self, state: GroupState) -> bool:
        return self.state is state

    @property
    def size(self) -> int:
        """Members plus member ids handed out and not yet used (both count against the max)."""
        return len(self.members) + len(self.pending_members)

    @property
    def awaiting_join_count(self) -> int:
        return sum(1 for member in self.members.values() if member.pending_join is not None)

    @property
    def rebalance_timeout_ms(self) -> int:
        """The longest rebalance timeout of the members (Kafka's ``rebalanceTimeoutMs``)."""
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def has_all_members_joined(self) -> bool:
        return self.awaiting_join_count == len(self.members) and not self.pending_members

    def add(self, member: Member) -> None:
        assert member.member_id not in self.members
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        self.pending_members.pop(member.member_id, None)
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id

    def remove(self, member_id: str) -> Member:
        member = self.members.pop(member_id)
        if member.group_instance_id is not None:
            self.static_members.pop(member.group_instance_id, None)
        self.pending_sync_members.discard(member_id)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def replace_static_member(self, old_member_id: str, new_member_id: str) -> Member:
        """KIP-345: a static member rejoined under a new member id; it keeps its place."""
        member = self.members.pop(old_member_id)
        assert member.group_instance_id is not None
        member.member_id = new_member_id
        self.members[new_member_id] = member
        self.static_members[member.group_instance_id] = new_member_id
        if old_member_id in self.pending_sync_members:
            self.pending_sync_members.discard(old_member_id)
            self.pending_sync_members.add(new_member_id)
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        return member

    def is_static_member_fenced(self, member_id: str, group_instance_id: str | None) -> bool:
        """The instance id is held by another member id (Kafka's ``isStaticMemberFenced``)."""
        if group_instance_id is None:
            return False
        current = self.static_members.get(group_instance_id)
        return current is not None and current != member_id

    def candidate_protocols(self, excluding: str | None = None) -> frozenset[str] | None:
        """Protocols every member (but ``excluding``) supports; None when there are no others."""
        others = [m for m in self.members.values() if m.member_id != excluding]
        if not others:
            return None
        common = {name for name, _ in others[0].protocols}
        for member in others[1:]:
            common &= {name for name, _ in member.protocols}
        return frozenset(common)

    def supports_protocols(
        self, protocol_type: str, protocols: Protocols, member_id: str | None = None
    ) -> bool:
        """Kafka's ``supportsProtocols``: a first member names a type and at least one protocol;
        later ones share the group's type and a protocol with every other member."""
        if not protocol_type or not protocols:
            return False
        candidates = self.candidate_protocols(excluding=member_id)
        if candidates is None:
            return True
        if protocol_type != self.protocol_type:
            return False
        return any(name in candidates for name, _ in protocols)

    def select_protocol(self) -> str:
        """Each member votes for its preferred common protocol; most votes wins.

        Kafka breaks ties by hash order; we break them by the leader's preference, so the
        choice is deterministic.
        """
        candidates = self.candidate_protocols()
        assert candidates, "selecting a protocol for a group without a common one"
        votes = Counter(member.vote(candidates) for member in self.members.values())
        best = max(votes.values())
        leader = self.members.get(self.leader_id) if self.leader_id is not None else None
        preference = [name for name, _ in leader.protocols] if leader else sorted(votes)
        return next(name for name in preference if votes.get(name) == best)

    def elect_joined_leader(self) -> bool:
        """Make a rejoined member the leader if the leader did not rejoin; False if none did."""
        leader = self.members.get(self.leader_id) if self.leader_id is not None else None
        if leader is None or leader.pending_join is not None:
            return leader is not None
        for member in self.members.values():
            if member.pending_join is not None:
                self.leader_id = member.member_id
                return True
        return False

    def metadata_value(self) -> GroupMetadataValue:
        """The group as a ``GroupMetadataValue`` (its members with their selected protocol)."""
        protocol = self.protocol_name
        members = tuple(
            MemberMetadataValue(
                member.member_id,
                member.group_instance_id,
                member.client_id,
                member.client_host,
                member.rebalance_timeout_ms,
                member.session_timeout_ms,
                member.metadata(protocol) if protocol is not None else b"",
                member.assignment,
            )
            for member in self.members.values()
        )
        return GroupMetadataValue(
            self.protocol_type or "",
            self.generation_id,
            protocol,
            self.leader_id if members else None,
            self.state_timestamp_ms,
            members,
        )

    def load(self, value: GroupMetadataValue) -> None:
        """Replay a ``GroupMetadataValue``: Stable with members, Empty without (Kafka's
        ``loadGroup``); the offsets are kept, they have records of their own."""
        assert not any(m.pending_join or m.pending_sync for m in self.members.values())
        self.state = GroupState.STABLE if value.members else GroupState.EMPTY
        self.state_timestamp_ms = value.current_state_timestamp
        self.generation_id = value.generation
        self.protocol_type = value.protocol_type or None
        self.protocol_name = value.protocol
        self.leader_id = value.leader
        self.members = {}
        self.static_members = {}
        self.pending_sync_members = set()
        self.has_metadata_record = True
        for loaded in value.members:
            member = _member_from_value(loaded, self.protocol_type, value.protocol)
            self.members[member.member_id] = member
            if member.group_instance_id is not None:
                self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id not in self.members:
            self.leader_id = next(iter(self.members), None)


def _member_from_value(
    value: MemberMetadataValue, protocol_type: str | None, protocol: str | None
) -> Member:
    protocols: Sequence[tuple[str, bytes]] = (
        ((protocol, value.subscription),) if protocol is not None else ()
    )
    return Member(
        value.member_id,
        value.group_instance_id,
        value.client_id,
        value.client_host,
        value.rebalance_timeout,
        value.session_timeout,
        protocol_type or "",
        tuple(protocols),
        value.assignment,
    )
