"""The assignors as pure functions: Kafka's range and round-robin layouts, balance, determinism
(member order never matters), and the cooperative-sticky assignor's minimal movement."""

from __future__ import annotations

import itertools
import random

import pytest

from client.assignors import (
    CooperativeStickyAssignor,
    GroupMemberInfo,
    RangeAssignor,
    RebalanceProtocol,
    RoundRobinAssignor,
    assignors_for,
    cooperative_adjust,
    rebalance_protocol,
    valid_owners,
)
from client.consumer_protocol import Subscription
from client.errors import IllegalConfigError
from client.metadata import TopicPartition

T = TopicPartition


def members(
    *specs: tuple[str, tuple[str, ...]] | tuple[str, tuple[str, ...], tuple[TopicPartition, ...]],
    generation: int = 1,
) -> list[GroupMemberInfo]:
    out = []
    for spec in specs:
        owned = spec[2] if len(spec) == 3 else ()
        subscription = Subscription(spec[1], owned_partitions=owned, generation_id=generation)
        out.append(GroupMemberInfo(spec[0], None, subscription))
    return out


def as_partitions(assignment: dict[str, list[TopicPartition]]) -> dict[str, list[str]]:
    return {m: [f"{tp.topic}{tp.partition}" for tp in tps] for m, tps in assignment.items()}


def check_complete(assignment: dict[str, list[TopicPartition]], counts: dict[str, int]) -> None:
    every = [tp for tps in assignment.values() for tp in tps]
    assert len(every) == len(set(every)), "a partition assigned twice"
    assert set(every) == {T(t, p) for t, n in counts.items() for p in range(n)}


def test_range_kafka_layout() -> None:
    # Kafka's documented example: two consumers, two topics of three partitions.
    group = members(("c0", ("t0", "t1")), ("c1", ("t0", "t1")))
    result = RangeAssignor().assign({"t0": 3, "t1": 3}, group)
    assert as_partitions(result) == {"c0": ["t00", "t01", "t10", "t11"], "c1": ["t02", "t12"]}


def test_range_per_topic_subscribers() -> None:
    group = members(("a", ("x",)), ("b", ("x", "y")), ("c", ("y",)))
    result = RangeAssignor().assign({"x": 3, "y": 2, "z": 4}, group)
    assert as_partitions(result) == {"a": ["x0", "x1"], "b": ["x2", "y0"], "c": ["y1"]}


def test_roundrobin_kafka_layout() -> None:
    group = members(("c0", ("t0", "t1")), ("c1", ("t0", "t1")))
    result = RoundRobinAssignor().assign({"t0": 3, "t1": 3}, group)
    assert as_partitions(result) == {"c0": ["t00", "t02", "t11"], "c1": ["t01", "t10", "t12"]}


def test_roundrobin_skips_members_not_subscribed() -> None:
    group = members(("a", ("x",)), ("b", ("x", "y")))
    result = RoundRobinAssignor().assign({"x": 2, "y": 2}, group)
    assert as_partitions(result) == {"a": ["x0"], "b": ["x1", "y0", "y1"]}


ALL = [RangeAssignor(), RoundRobinAssignor(), CooperativeStickyAssignor()]


@pytest.mark.parametrize("assignor", ALL, ids=lambda a: a.name)
@pytest.mark.parametrize(("member_count", "partitions"), [(1, 5), (3, 7), (4, 4), (5, 3)])
def test_balanced_complete_and_order_independent(
    assignor: RangeAssignor, member_count: int, partitions: int
) -> None:
    group = members(*[(f"m{i}", ("t",)) for i in range(member_count)])
    counts = {"t": partitions}
    result = assignor.assign(counts, group)
    check_complete(result, counts)
    sizes = [len(tps) for tps in result.values()]
    assert max(sizes) - min(sizes) <= 1
    for shuffled in itertools.islice(itertools.permutations(group), 6):
        assert assignor.assign(counts, list(shuffled)) == result


def test_static_members_sort_by_instance_id() -> None:
    subscription = Subscription(("t",))
    group = [
        GroupMemberInfo("zzz", "instance-a", subscription),
        GroupMemberInfo("aaa", "instance-b", subscription),
    ]
    result = RangeAssignor().assign({"t": 2}, group)
    assert result == {"zzz": [T("t", 0)], "aaa": [T("t", 1)]}


def moved(before: dict[str, list[TopicPartition]], after: dict[str, list[TopicPartition]]) -> int:
    owner = {tp: m for m, tps in before.items() for tp in tps}
    return sum(1 for m, tps in after.items() for tp in tps if owner.get(tp, m) != m)


def sticky_round(
    previous: dict[str, list[TopicPartition]], names: list[str], counts: dict[str, int]
) -> dict[str, list[TopicPartition]]:
    group = members(*[(n, tuple(counts), tuple(previous.get(n, ()))) for n in names])
    result = CooperativeStickyAssignor().assign(counts, group)
    check_complete(result, counts)
    return result


def test_sticky_join_moves_only_the_newcomers_share() -> None:
    counts = {"t": 12}
    first = sticky_round({}, ["a", "b", "c"], counts)
    second = sticky_round(first, ["a", "b", "c", "d"], counts)
    assert [len(second[m]) for m in "abcd"] == [3, 3, 3, 3]
    assert moved(first, second) == 3  # exactly d's share, one from each


def test_sticky_leave_moves_only_the_leavers_partitions() -> None:
    counts = {"t": 9, "u": 3}
    first = sticky_round({}, ["a", "b", "c", "d"], counts)
    second = sticky_round(first, ["a", "b", "c"], counts)
    assert moved(first, second) == len(first["d"])
    for name in "abc":
        assert set(first[name]) <= set(second[name])


def minimal_moves(survivors: dict[str, list[TopicPartition]], total: int) -> int:
    """Fewest partitions that must leave their owner for a balanced result: the members
    holding most keep the ``total % n`` ceiling slots, everyone gives up what exceeds its
    target."""
    floor, extra = divmod(total, len(survivors))
    holdings = sorted((len(tps) for tps in survivors.values()), reverse=True)
    targets = [floor + 1 if i < extra else floor for i in range(len(holdings))]
    return sum(max(0, held - target) for held, target in zip(holdings, targets, strict=True))


def test_sticky_random_rounds_stay_balanced_and_minimal() -> None:
    rng = random.Random(7)
    counts = {"t": 10, "u": 7}
    names = ["m0", "m1"]
    state = sticky_round({}, names, counts)
    for step in range(60):
        if len(names) > 1 and rng.random() < 0.4:
            names.remove(rng.choice(names))
        else:
            names.append(f"m{step + 2}")
        survivors = {n: state.get(n, []) for n in names}
        after = sticky_round(survivors, names, counts)
        sizes = [len(after[n]) for n in names]
        assert max(sizes) - min(sizes) <= 1
        assert moved(survivors, after) == minimal_moves(survivors, 17)
        state = after


def test_sticky_respects_subscriptions() -> None:
    group = members(("a", ("x",)), ("b", ("x", "y")), ("c", ("y",)))
    result = CooperativeStickyAssignor().assign({"x": 4, "y": 4}, group)
    check_complete(result, {"x": 4, "y": 4})
    assert all(tp.topic == "x" for tp in result["a"])
    assert all(tp.topic == "y" for tp in result["c"])
    assert sorted(len(tps) for tps in result.values()) == [2, 3, 3]


def test_owner_claims_higher_generation_wins_and_invalid_dropped() -> None:
    zombie = GroupMemberInfo(
        "a", None, Subscription(("t",), owned_partitions=(T("t", 0), T("t", 9)), generation_id=3)
    )
    current = GroupMemberInfo(
        "b", None, Subscription(("t",), owned_partitions=(T("t", 0),), generation_id=4)
    )
    assert valid_owners({"t": 2}, [zombie, current]) == {T("t", 0): "b"}


def test_cooperative_adjust_withholds_moving_partitions() -> None:
    counts = {"t": 4}
    group = members(("a", ("t",), tuple(T("t", p) for p in range(4))), ("b", ("t",)))
    result = CooperativeStickyAssignor().assign(counts, group)
    assert len(result["a"]) == 2 and len(result["b"]) == 2
    adjusted = cooperative_adjust(result, valid_owners(counts, group))
    assert adjusted == {"a": result["a"], "b": []}  # b waits one round for a's revocation


def test_protocol_choice_and_names() -> None:
    assert (
        rebalance_protocol(assignors_for(["cooperative-sticky"])) is RebalanceProtocol.COOPERATIVE
    )
    assert rebalance_protocol(assignors_for(["range", "cooperative-sticky"])) is (
        RebalanceProtocol.EAGER
    )
    java = "org.apache.kafka.clients.consumer.RoundRobinAssignor"
    assert [a.name for a in assignors_for([java])] == ["roundrobin"]
    with pytest.raises(IllegalConfigError, match="sticky-ish"):
        assignors_for(["sticky-ish"])
