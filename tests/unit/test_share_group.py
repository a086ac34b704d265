"""KIP-932 share group membership: ShareGroupHeartbeat's rules and the simple assignor."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.core.share_group import (
    ShareGroup,
    ShareGroupSettings,
    ShareHeartbeat,
    simple_assignment,
)
from client.protocol.errors import ErrorCode

COUNTS = {"t": 4, "u": 2}


def _join(member: str, *topics: str) -> ShareHeartbeat:
    return ShareHeartbeat(member, 0, None, topics or ("t",))


def _beat(member: str, epoch: int) -> ShareHeartbeat:
    return ShareHeartbeat(member, epoch, None, None)


def test_fewer_members_than_partitions_split_them() -> None:
    result = simple_assignment({"a": frozenset({"t"}), "b": frozenset({"t"})}, {"t": 5}, {})
    sizes = sorted(len(result[m]["t"]) for m in "ab")
    assert sizes == [2, 3]
    assert result["a"]["t"] | result["b"]["t"] == frozenset(range(5))
    assert not result["a"]["t"] & result["b"]["t"]


def test_more_members_than_partitions_share_them() -> None:
    members = {m: frozenset({"t"}) for m in "abcde"}
    result = simple_assignment(members, {"t": 2}, {})
    # ceil(5 / 2) = 3 members a partition: 6 slots, so one member reads both.
    sizes = sorted(len(result[m]["t"]) for m in members)
    assert sizes == [1, 1, 1, 1, 2]
    holders = [sum(p in result[m]["t"] for m in members) for p in range(2)]
    assert holders == [3, 3]


def test_the_assignor_is_sticky_within_balance() -> None:
    subscriptions = {"a": frozenset({"t"}), "b": frozenset({"t"})}
    first = simple_assignment(subscriptions, {"t": 4}, {})
    subscriptions["c"] = frozenset({"t"})
    second = simple_assignment(subscriptions, {"t": 4}, first)
    for member in "ab":
        assert len(second[member]["t"] - first[member]["t"]) == 0  # kept a subset
    assert sorted(len(second[m].get("t", frozenset())) for m in "abc") == [1, 1, 2]


def test_members_only_get_the_topics_they_subscribe_to() -> None:
    result = simple_assignment({"a": frozenset({"t"}), "b": frozenset({"u"})}, COUNTS, {})
    assert result == {"a": {"t": frozenset(range(4))}, "b": {"u": frozenset({0, 1})}}
    assert simple_assignment({"a": frozenset({"missing"})}, COUNTS, {}) == {"a": {}}


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 12), st.integers(1, 9))
def test_balance_and_coverage(members: int, partitions: int) -> None:
    names = [f"m{i}" for i in range(members)]
    result = simple_assignment({m: frozenset({"t"}) for m in names}, {"t": partitions}, {})
    sizes = [len(result[m].get("t", frozenset())) for m in names]
    assert max(sizes) - min(sizes) <= 1
    covered = frozenset().union(*(result[m].get("t", frozenset()) for m in names))
    assert covered == frozenset(range(partitions))


def test_join_heartbeat_and_leave() -> None:
    group = ShareGroup("g", ShareGroupSettings(session_timeout_ms=1000))
    joined = group.heartbeat(_join("a"), COUNTS, now_ms=0)
    assert joined.error_code is ErrorCode.NONE and joined.member_epoch == 1
    assert joined.assignment == {"t": frozenset(range(4))}
    # Nothing changed: no assignment in the answer.
    steady = group.heartbeat(_beat("a", 1), COUNTS, now_ms=10)
    assert (steady.member_epoch, steady.assignment) == (1, None)
    # A second member joins: both are told their new share at their next heartbeat.
    second = group.heartbeat(_join("b"), COUNTS, now_ms=20)
    assert second.member_epoch == 2 and second.assignment is not None
    moved = group.heartbeat(_beat("a", 1), COUNTS, now_ms=30)
    assert moved.member_epoch == 2 and moved.assignment is not None
    assert moved.assignment["t"] | second.assignment["t"] == frozenset(range(4))
    left = group.heartbeat(ShareHeartbeat("b", -1, None, None), COUNTS, now_ms=40)
    assert (left.error_code, left.member_epoch) == (ErrorCode.NONE, -1)
    assert list(group.members) == ["a"]


def test_epoch_rules() -> None:
    group = ShareGroup("g", ShareGroupSettings())
    group.heartbeat(_join("a"), COUNTS, 0)
    group.heartbeat(_join("b"), COUNTS, 0)
    bumped = group.heartbeat(_beat("a", 1), COUNTS, 0)
    assert bumped.member_epoch == 2
    # The answer with epoch 2 may have been lost: epoch 1 is still accepted once more.
    assert group.heartbeat(_beat("a", 1), COUNTS, 0).error_code is ErrorCode.NONE
    assert group.heartbeat(_beat("a", 7), COUNTS, 0).error_code is ErrorCode.FENCED_MEMBER_EPOCH
    assert group.heartbeat(_beat("zz", 3), COUNTS, 0).error_code is ErrorCode.UNKNOWN_MEMBER_ID
    leave = ShareHeartbeat("zz", -1, None, None)
    assert group.heartbeat(leave, COUNTS, 0).error_code is ErrorCode.UNKNOWN_MEMBER_ID
    # Rejoining at epoch 0 with the same id is accepted.
    assert group.heartbeat(_join("a"), COUNTS, 0).error_code is ErrorCode.NONE


def test_invalid_requests() -> None:
    group = ShareGroup("g", ShareGroupSettings())
    for request in (
        ShareHeartbeat("", 0, None, ("t",)),
        ShareHeartbeat("a", 0, "", ("t",)),
        ShareHeartbeat("a", -2, None, None),
        ShareHeartbeat("a", 0, None, None),
        ShareHeartbeat("a", 0, None, ()),
    ):
        assert group.heartbeat(request, COUNTS, 0).error_code is ErrorCode.INVALID_REQUEST


def test_sessions_expire_and_the_group_has_a_size_limit() -> None:
    group = ShareGroup("g", ShareGroupSettings(session_timeout_ms=100, max_size=2))
    group.heartbeat(_join("a"), COUNTS, 0)
    group.heartbeat(_join("b"), COUNTS, 50)
    full = group.heartbeat(_join("c"), COUNTS, 60)
    assert full.error_code is ErrorCode.GROUP_MAX_SIZE_REACHED
    assert group.expire_sessions(120, COUNTS) == ["a"]
    assert group.heartbeat(_beat("a", 1), COUNTS, 130).error_code is ErrorCode.UNKNOWN_MEMBER_ID
    assert group.members["b"].assignment == {"t": frozenset(range(4))}


def test_a_new_partition_moves_the_group_epoch() -> None:
    group = ShareGroup("g", ShareGroupSettings())
    group.heartbeat(_join("a"), COUNTS, 0)
    grown = group.heartbeat(_beat("a", 1), {"t": 6, "u": 2}, 10)
    assert grown.member_epoch == 2
    assert grown.assignment == {"t": frozenset(range(6))}
