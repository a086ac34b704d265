"""Partition assignors: how the group leader splits the subscribed partitions among members.

Each is a pure function of (partition counts, member subscriptions) with Kafka's name, so a
mixed group agrees on one by name (JoinGroup lists a member's assignors by preference; the
coordinator picks one every member supports):

* ``range`` (Kafka's RangeAssignor): per topic, members sorted, each takes a contiguous range;
  the first ``partitions % members`` take one more.
* ``roundrobin`` (RoundRobinAssignor): every subscribed partition, sorted, dealt to the sorted
  members in turn (skipping members not subscribed to its topic).
* ``cooperative-sticky`` (CooperativeStickyAssignor, KIP-429): balanced (member counts differ
  by at most one where subscriptions allow), keeping every member's still-valid owned
  partitions where balance permits, so a rebalance moves as few partitions as possible.  Under
  the cooperative protocol a partition changing owner is first only revoked (left out of the
  assignment, see :func:`cooperative_adjust`); the next rebalance hands it to its new owner.

Members are ordered by ``group.instance.id`` when they have one, then member id, so static
members keep their partitions across restarts and the result never depends on dict order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from client.consumer_protocol import Subscription
from client.errors import IllegalConfigError
from client.metadata import TopicPartition


class RebalanceProtocol(enum.Enum):
    """EAGER: revoke everything before each join.  COOPERATIVE (KIP-429): keep owned
    partitions through the rebalance, revoke only what moves, then rejoin once."""

    EAGER = "eager"
    COOPERATIVE = "cooperative"


@dataclass(frozen=True, slots=True)
class GroupMemberInfo:
    """A member as the leader sees it in the JoinGroup response."""

    member_id: str
    group_instance_id: str | None
    subscription: Subscription

    def sort_key(self) -> tuple[bool, str, str]:
        """Static members first by instance id, then everyone by member id (Kafka's
        MemberInfo ordering)."""
        instance = self.group_instance_id
        return (instance is None, instance or "", self.member_id)


Assignments = dict[str, list[TopicPartition]]


class Assignor(Protocol):
    """A named assignment strategy."""

    name: str
    protocols: tuple[RebalanceProtocol, ...]

    def assign(
        self, partition_counts: Mapping[str, int], members: Sequence[GroupMemberInfo]
    ) -> Assignments:
        """member id → its partitions (sorted) for every member, given each subscribed
        topic's partition count (topics missing from ``partition_counts`` are skipped)."""
        ...


def _sorted_members(members: Sequence[GroupMemberInfo]) -> list[GroupMemberInfo]:
    ordered = sorted(members, key=GroupMemberInfo.sort_key)
    assert len({member.member_id for member in ordered}) == len(ordered), "duplicate member id"
    return ordered


def _empty(members: Sequence[GroupMemberInfo]) -> Assignments:
    return {member.member_id: [] for member in members}


class RangeAssignor:
    """Kafka's RangeAssignor (``range``), eager only."""

    name: str = "range"
    protocols: tuple[RebalanceProtocol, ...] = (RebalanceProtocol.EAGER,)

    def assign(
        self, partition_counts: Mapping[str, int], members: Sequence[GroupMemberInfo]
    ) -> Assignments:
        """Per topic, contiguous ranges to the sorted subscribers."""
        out = _empty(members)
        ordered = _sorted_members(members)
        for topic in sorted(partition_counts):
            subscribers = [m for m in ordered if topic in m.subscription.topics]
            if not subscribers:
                continue
            count = partition_counts[topic]
            each, extra = divmod(count, len(subscribers))
            start = 0
            for index, member in enumerate(subscribers):
                length = each + (1 if index < extra else 0)
                out[member.member_id] += [
                    TopicPartition(topic, p) for p in range(start, start + length)
                ]
                start += length
            assert start == count
        return out


class RoundRobinAssignor:
    """Kafka's RoundRobinAssignor (``roundrobin``), eager only."""

    name: str = "roundrobin"
    protocols: tuple[RebalanceProtocol, ...] = (RebalanceProtocol.EAGER,)

    def assign(
        self, partition_counts: Mapping[str, int], members: Sequence[GroupMemberInfo]
    ) -> Assignments:
        """Every partition, in (topic, partition) order, to the next subscribed member."""
        out = _empty(members)
        ordered = _sorted_members(members)
        if not ordered:
            return out
        turn = 0
        for tp in _all_partitions(partition_counts, ordered):
            for step in range(len(ordered)):
                member = ordered[(turn + step) % len(ordered)]
                if tp.topic in member.subscription.topics:
                    out[member.member_id].append(tp)
                    turn = (turn + step + 1) % len(ordered)
                    break
        return out


def _all_partitions(
    partition_counts: Mapping[str, int], members: Iterable[GroupMemberInfo]
) -> list[TopicPartition]:
    wanted = {topic for member in members for topic in member.subscription.topics}
    return [
        TopicPartition(topic, partition)
        for topic in sorted(wanted & partition_counts.keys())
        for partition in range(partition_counts[topic])
    ]


def valid_owners(
    partition_counts: Mapping[str, int], members: Sequence[GroupMemberInfo]
) -> dict[TopicPartition, str]:
    """Each partition's current owner by the members' own claims: the partition must still
    exist and be subscribed by its claimant; of two claims the higher generation wins (the other
    is a zombie's, KIP-792), a tie goes to the first member in order."""
    owners: dict[TopicPartition, tuple[int, str]] = {}
    for member in _sorted_members(members):
        subscription = member.subscription
        for tp in subscription.owned_partitions:
            if tp.topic not in subscription.topics:
                continue
            if not 0 <= tp.partition < partition_counts.get(tp.topic, 0):
                continue
            claim = owners.get(tp)
            if claim is None or subscription.generation_id > claim[0]:
                owners[tp] = (subscription.generation_id, member.member_id)
    return {tp: member_id for tp, (_, member_id) in owners.items()}


class CooperativeStickyAssignor:
    """Kafka's CooperativeStickyAssignor (``cooperative-sticky``): balanced and sticky.

    1. Every member keeps its valid owned partitions (:func:`valid_owners`).
    2. Unowned partitions go, in order, to the subscribed member with the fewest.
    3. While some member holds at least two more than a member that could take one of its
       partitions, its highest such partition moves there.  Each move narrows the gap, so the
       loop ends (bounded by partitions x members), and only surplus partitions ever move.
    """

    name: str = "cooperative-sticky"
    protocols: tuple[RebalanceProtocol, ...] = (
        RebalanceProtocol.COOPERATIVE,
        RebalanceProtocol.EAGER,
    )

    def assign(
        self, partition_counts: Mapping[str, int], members: Sequence[GroupMemberInfo]
    ) -> Assignments:
        """The sticky, balanced assignment (not yet adjusted for the cooperative protocol)."""
        ordered = _sorted_members(members)
        topics = {m.member_id: set(m.subscription.topics) for m in ordered}
        out = _empty(ordered)
        for tp, owner in sorted(valid_owners(partition_counts, ordered).items()):
            out[owner].append(tp)
        owned = {tp for partitions in out.values() for tp in partitions}
        for tp in _all_partitions(partition_counts, ordered):
            if tp in owned:
                continue
            takers = [m.member_id for m in ordered if tp.topic in topics[m.member_id]]
            out[min(takers, key=lambda member_id: len(out[member_id]))].append(tp)
        _balance(out, topics, [m.member_id for m in ordered])
        return {member_id: sorted(partitions) for member_id, partitions in out.items()}


def _balance(out: Assignments, topics: Mapping[str, set[str]], order: list[str]) -> None:
    """Move single partitions from the fullest to the emptiest eligible member (see above)."""
    limit = sum(len(partitions) for partitions in out.values()) * max(len(order), 1) + 1
    for _ in range(limit):
        move = _best_move(out, topics, order)
        if move is None:
            return
        donor, receiver, tp = move
        out[donor].remove(tp)
        out[receiver].append(tp)
    raise AssertionError("cooperative-sticky balancing did not converge")


def _best_move(
    out: Assignments, topics: Mapping[str, set[str]], order: list[str]
) -> tuple[str, str, TopicPartition] | None:
    best: tuple[int, str, str, TopicPartition] | None = None
    for donor in sorted(order, key=lambda member_id: -len(out[member_id])):
        for receiver in sorted(order, key=lambda member_id: len(out[member_id])):
            gap = len(out[donor]) - len(out[receiver])
            if gap < 2:
                break
            movable = [tp for tp in out[donor] if tp.topic in topics[receiver]]
            if movable and (best is None or gap > best[0]):
                best = (gap, donor, receiver, max(movable))
    return None if best is None else best[1:]


def cooperative_adjust(
    assignments: Mapping[str, list[TopicPartition]], owners: Mapping[TopicPartition, str]
) -> Assignments:
    """KIP-429's first phase: a partition assigned to a member other than its current owner is
    left unassigned this round, so the owner revokes it (and rejoins) before anyone else may
    fetch it; the follow-up rebalance assigns it."""
    return {
        member_id: [tp for tp in partitions if owners.get(tp, member_id) == member_id]
        for member_id, partitions in assignments.items()
    }


ASSIGNORS: dict[str, type[RangeAssignor | RoundRobinAssignor | CooperativeStickyAssignor]] = {
    "range": RangeAssignor,
    "roundrobin": RoundRobinAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
}
# The Java class names are accepted too (what Java clients are configured with).
_JAVA_NAMES = {
    "org.apache.kafka.clients.consumer.RangeAssignor": "range",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor": "roundrobin",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": "cooperative-sticky",
}


def assignors_for(names: Iterable[str]) -> list[Assignor]:
    """The assignors ``partition.assignment.strategy`` names, in its order."""
    out: list[Assignor] = []
    for name in names:
        key = _JAVA_NAMES.get(name, name)
        if key not in ASSIGNORS:
            raise IllegalConfigError(
                f"unknown partition.assignment.strategy {name!r}: one of {', '.join(ASSIGNORS)}",
                "partition.assignment.strategy",
            )
        out.append(ASSIGNORS[key]())
    if not out:
        raise IllegalConfigError(
            "partition.assignment.strategy names no assignor", "partition.assignment.strategy"
        )
    return out


def rebalance_protocol(assignors: Sequence[Assignor]) -> RebalanceProtocol:
    """COOPERATIVE if every configured assignor supports it, else EAGER (Kafka's rule: the
    highest protocol all of them share)."""
    if all(RebalanceProtocol.COOPERATIVE in a.protocols for a in assignors):
        return RebalanceProtocol.COOPERATIVE
    return RebalanceProtocol.EAGER
