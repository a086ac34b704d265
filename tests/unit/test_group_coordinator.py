"""The classic group coordinator: rebalances, static members, timeouts, offsets, records."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from broker.core.group_coordinator import (
    NEW_MEMBER_JOIN_TIMEOUT_MS,
    CoordinatorResult,
    GroupCoordinator,
    GroupCoordinatorConfig,
    JoinGroupMember,
    JoinGroupResponse,
    ParkedRequest,
    SyncGroupResponse,
)
from broker.core.group_metadata import GroupState
from broker.core.group_offsets import FetchedOffset
from broker.core.group_records import (
    GroupMetadataKey,
    OffsetCommitKey,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    java_string_hash,
    partition_for,
)
from client.consumer_protocol import Subscription, encode_subscription
from client.protocol.errors import ErrorCode

E = ErrorCode
RANGE = (("range", b"sub-range"),)
SESSION_MS = 10_000
REBALANCE_MS = 30_000
CONFIG = GroupCoordinatorConfig(
    group_min_session_timeout_ms=1000,
    group_initial_rebalance_delay_ms=0,
    offsets_topic_num_partitions=50,
)


def coordinator(**overrides: Any) -> GroupCoordinator:
    return GroupCoordinator(dataclasses.replace(CONFIG, **overrides))


def join(
    coord: GroupCoordinator,
    member_id: str = "",
    *,
    now: int,
    group: str = "g",
    client: str = "c",
    instance: str | None = None,
    protocols: Sequence[tuple[str, bytes]] = RANGE,
    version: int = 5,
    session: int = SESSION_MS,
    rebalance: int = REBALANCE_MS,
    protocol_type: str = "consumer",
) -> CoordinatorResult[JoinGroupResponse]:
    return coord.join(
        group_id=group,
        member_id=member_id,
        group_instance_id=instance,
        client_id=client,
        client_host="/127.0.0.1",
        session_timeout_ms=session,
        rebalance_timeout_ms=rebalance,
        protocol_type=protocol_type,
        protocols=protocols,
        version=version,
        now_ms=now,
    )


def sync(
    coord: GroupCoordinator,
    member_id: str,
    generation: int,
    *,
    now: int,
    assignments: dict[str, bytes] | None = None,
    group: str = "g",
    instance: str | None = None,
) -> CoordinatorResult[SyncGroupResponse]:
    return coord.sync(
        group_id=group,
        generation_id=generation,
        member_id=member_id,
        group_instance_id=instance,
        protocol_type=None,
        protocol_name=None,
        assignments=assignments or {},
        now_ms=now,
    )


def commit(
    coord: GroupCoordinator,
    member_id: str,
    generation: int,
    *,
    now: int,
    offsets: dict[tuple[str, int], tuple[int, int, str | None]] | None = None,
    group: str = "g",
    instance: str | None = None,
) -> CoordinatorResult[dict[tuple[str, int], ErrorCode]]:
    return coord.commit(
        group_id=group,
        generation_id=generation,
        member_id=member_id,
        group_instance_id=instance,
        offsets=offsets if offsets is not None else {("t", 0): (42, 3, "m")},
        now_ms=now,
    )


def join_new(coord: GroupCoordinator, *, now: int, **kwargs: Any) -> str:
    """The KIP-394 round: a first JoinGroup only gets a member id."""
    first = join(coord, now=now, **kwargs).response
    assert first is not None and first.error_code is E.MEMBER_ID_REQUIRED
    return first.member_id


def stable_group(
    coord: GroupCoordinator,
    *ids: str,
    now: int = 0,
    protocols: Sequence[tuple[str, bytes]] | dict[str, Sequence[tuple[str, bytes]]] = RANGE,
) -> int:
    """Members ``ids`` (already holding ids from join_new) in one Stable generation;
    ``protocols`` are every member's or, as a dict, each member's."""
    parked: list[ParkedRequest] = []
    generation = -1
    for member_id in ids:
        own = protocols[member_id] if isinstance(protocols, dict) else protocols
        result = join(coord, member_id, now=now, protocols=own)
        if result.response is not None:
            generation = result.response.generation_id
        else:
            assert result.parked is not None
            parked.append(result.parked)
        for done in result.completed:
            assert isinstance(done.response, JoinGroupResponse)
            generation = done.response.generation_id
    leader = coord.groups["g"].leader_id
    assert leader is not None
    for member_id in ids:
        if member_id != leader:
            assert sync(coord, member_id, generation, now=now).parked is not None
    assignments = {member_id: f"assignment-{member_id}".encode() for member_id in ids}
    assert sync(coord, leader, generation, now=now, assignments=assignments).response
    assert coord.groups["g"].state is GroupState.STABLE
    return generation


def completed_responses(result: CoordinatorResult[Any]) -> dict[str, Any]:
    return {parked.member_id: parked.response for parked in result.completed}


# ----------------------------------------------------------------------- one member


def test_single_member_joins_syncs_and_heartbeats() -> None:
    coord = coordinator()
    # v3: no MEMBER_ID_REQUIRED round; with no initial delay the rebalance completes at once.
    joined = join(coord, now=0, version=3)
    assert joined.response == JoinGroupResponse(
        E.NONE,
        "c-1",
        generation_id=1,
        protocol_type="consumer",
        protocol_name="range",
        leader="c-1",
        members=(JoinGroupMember("c-1", None, b"sub-range"),),
    )
    assert joined.records == ()  # nothing to persist before the assignment
    assert coord.groups["g"].state is GroupState.COMPLETING_REBALANCE
    synced = sync(coord, "c-1", 1, now=5, assignments={"c-1": b"tp0"})
    assert synced.response == SyncGroupResponse(E.NONE, "consumer", "range", b"tp0")
    (record,) = synced.records
    assert record.partition == partition_for("g", 50)
    assert decode_key(record.key) == GroupMetadataKey("g")
    assert record.value is not None
    value = decode_group_metadata_value(record.value)
    assert (value.generation, value.protocol, value.leader) == (1, "range", "c-1")
    assert [(m.member_id, m.subscription, m.assignment) for m in value.members] == [
        ("c-1", b"sub-range", b"tp0")
    ]
    assert coord.groups["g"].state is GroupState.STABLE
    assert coord.heartbeat("g", 1, "c-1", None, 3000) is E.NONE
    assert coord.next_deadline_ms() == 3000 + SESSION_MS


def test_member_id_required_round() -> None:
    coord = coordinator()
    first = join(coord, now=0)
    assert first.response == JoinGroupResponse(E.MEMBER_ID_REQUIRED, "c-1")
    assert coord.groups["g"].pending_members.keys() == {"c-1"}
    second = join(coord, "c-1", now=10)
    assert second.response is not None and second.response.error_code is E.NONE
    assert (second.response.member_id, second.response.generation_id) == ("c-1", 1)
    assert not coord.groups["g"].pending_members


def test_unused_member_id_expires_after_the_session_timeout() -> None:
    coord = coordinator()
    join_new(coord, now=0)
    assert coord.next_deadline_ms() == SESSION_MS
    coord.expire(SESSION_MS)
    assert not coord.groups["g"].pending_members
    assert join(coord, "c-1", now=SESSION_MS + 1).response == JoinGroupResponse(
        E.UNKNOWN_MEMBER_ID, "c-1"
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"session": 999}, E.INVALID_SESSION_TIMEOUT),
        ({"session": 1_800_001}, E.INVALID_SESSION_TIMEOUT),
        ({"group": ""}, E.INVALID_GROUP_ID),
        ({"protocols": ()}, E.INCONSISTENT_GROUP_PROTOCOL),
        ({"protocol_type": ""}, E.INCONSISTENT_GROUP_PROTOCOL),
    ],
)
def test_join_rejections(overrides: dict[str, Any], error: ErrorCode) -> None:
    coord = coordinator()
    result = join(coord, now=0, **overrides)
    assert result.response is not None and result.response.error_code is error
    assert "g" not in coord.groups


def test_join_with_no_common_protocol_or_type() -> None:
    coord = coordinator()
    stable_group(coord, join_new(coord, now=0))
    for kwargs in ({"protocols": (("roundrobin", b""),)}, {"protocol_type": "connect"}):
        result = join(coord, now=1, client="d", **kwargs)
        assert result.response == JoinGroupResponse(E.INCONSISTENT_GROUP_PROTOCOL, "")


def test_group_max_size() -> None:
    coord = coordinator(group_max_size=1)
    stable_group(coord, join_new(coord, now=0))
    assert join(coord, now=1).response == JoinGroupResponse(E.GROUP_MAX_SIZE_REACHED, "")


# ----------------------------------------------------------------------- two members


def test_second_member_triggers_a_rebalance_driven_by_heartbeats() -> None:
    coord = coordinator()
    a = join_new(coord, now=0, client="a")
    assert stable_group(coord, a) == 1
    b = join_new(coord, now=100, client="b")
    b_join = join(coord, b, now=100)
    assert b_join.response is None and b_join.parked is not None  # waits for A to rejoin
    assert coord.groups["g"].state is GroupState.PREPARING_REBALANCE
    assert coord.heartbeat("g", 1, a, None, 200) is E.REBALANCE_IN_PROGRESS
    a_join = join(coord, a, now=300)
    assert a_join.response is not None
    assert a_join.response.generation_id == 2 and a_join.response.leader == a
    assert [m.member_id for m in a_join.response.members] == [a, b]
    assert a_join.completed == (b_join.parked,)
    b_response = b_join.parked.response
    assert isinstance(b_response, JoinGroupResponse)
    assert (b_response.generation_id, b_response.leader, b_response.members) == (2, a, ())
    # The follower's SyncGroup waits for the leader's assignment.
    b_sync = sync(coord, b, 2, now=400)
    assert b_sync.response is None and b_sync.parked is not None
    a_sync = sync(coord, a, 2, now=500, assignments={a: b"p0", b: b"p1"})
    assert a_sync.response is not None and a_sync.response.assignment == b"p0"
    assert completed_responses(a_sync) == {b: SyncGroupResponse(E.NONE, "consumer", "range", b"p1")}
    assert coord.groups["g"].state is GroupState.STABLE
    assert coord.heartbeat("g", 2, a, None, 600) is E.NONE
    assert coord.heartbeat("g", 1, b, None, 600) is E.ILLEGAL_GENERATION


@pytest.mark.parametrize(
    ("member", "generation", "instance", "error"),
    [
        ("nobody", 1, None, E.UNKNOWN_MEMBER_ID),
        ("c-1", 0, None, E.ILLEGAL_GENERATION),
        ("c-1", 2, None, E.ILLEGAL_GENERATION),
        ("c-1", 1, None, E.NONE),
    ],
)
def test_heartbeat_checks(
    member: str, generation: int, instance: str | None, error: ErrorCode
) -> None:
    coord = coordinator()
    stable_group(coord, join_new(coord, now=0))
    assert coord.heartbeat("g", generation, member, instance, 10) is error
    assert coord.heartbeat("unknown", 1, "c-1", None, 10) is E.UNKNOWN_MEMBER_ID


def test_late_sync_and_stale_generation_during_a_rebalance() -> None:
    coord = coordinator()
    a = join_new(coord, now=0, client="a")
    stable_group(coord, a)
    b = join_new(coord, now=10, client="b")
    join(coord, b, now=10)
    # During PreparingRebalance: a SyncGroup of the old generation is told to rejoin.
    assert sync(coord, a, 1, now=20).response == SyncGroupResponse(E.REBALANCE_IN_PROGRESS)
    join(coord, a, now=30)  # generation 2 starts
    assert sync(coord, a, 1, now=40).response == SyncGroupResponse(E.ILLEGAL_GENERATION)
    assert coord.heartbeat("g", 2, b, None, 40) is E.NONE  # CompletingRebalance: fine
    # The follower's JoinGroup response got lost: the same JoinGroup gets it again.
    again = join(coord, b, now=50)
    assert again.response is not None and again.response.generation_id == 2


def test_a_rebalance_during_completing_rebalance_fails_parked_syncs() -> None:
    coord = coordinator()
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    join(coord, a, now=0)
    join(coord, b, now=0)
    assert coord.groups["g"].state is GroupState.COMPLETING_REBALANCE
    b_sync = sync(coord, b, 1, now=10)
    assert b_sync.parked is not None
    c = join_new(coord, now=20, client="c")
    c_join = join(coord, c, now=20)
    assert c_join.completed == (b_sync.parked,)
    assert b_sync.parked.response == SyncGroupResponse(E.REBALANCE_IN_PROGRESS)


# ----------------------------------------------------------------------- static members


def test_static_member_rejoin_takes_over_without_a_rebalance() -> None:
    coord = coordinator()
    first = join(coord, now=0, instance="i-1")  # static members skip MEMBER_ID_REQUIRED
    assert first.response is not None and first.response.member_id == "c-1"
    assert sync(coord, "c-1", 1, now=0, assignments={"c-1": b"p0"}, instance="i-1").response
    # The instance restarts and joins without its member id.
    rejoin = join(coord, now=100, instance="i-1")
    assert rejoin.response is not None
    response = rejoin.response
    assert (response.error_code, response.member_id, response.generation_id) == (E.NONE, "c-2", 1)
    assert response.leader == "c-2" and response.skip_assignment
    assert coord.groups["g"].state is GroupState.STABLE
    (record,) = rejoin.records  # the new member id is persisted
    assert record.value is not None
    assert [m.member_id for m in decode_group_metadata_value(record.value).members] == ["c-2"]
    synced = sync(coord, "c-2", 1, now=110, instance="i-1")
    assert synced.response is not None and synced.response.assignment == b"p0"
    # The old incarnation is fenced everywhere.
    assert coord.heartbeat("g", 1, "c-1", "i-1", 120) is E.FENCED_INSTANCE_ID
    assert join(coord, "c-1", now=120, instance="i-1").response == JoinGroupResponse(
        E.FENCED_INSTANCE_ID, "c-1"
    )
    assert commit(coord, "c-1", 1, now=120, instance="i-1").response == {
        ("t", 0): E.FENCED_INSTANCE_ID
    }
    assert coord.leave("g", [("c-1", "i-1")], 120).response is not None
    assert coord.heartbeat("g", 1, "c-2", "i-1", 130) is E.NONE


def test_static_rejoin_fences_the_parked_request_of_the_old_member() -> None:
    coord = coordinator()
    join(coord, now=0, instance="i-1", client="a")
    join(coord, now=0, instance="i-2", client="b")  # rebalance: a must rejoin
    a_rejoin = join(coord, "a-1", now=0, instance="i-1")
    assert a_rejoin.response is not None  # both joined: generation 2
    b_sync = sync(coord, "b-2", 2, now=10, instance="i-2")
    assert b_sync.parked is not None
    replacement = join(coord, now=20, instance="i-2", client="b")
    assert b_sync.parked in replacement.completed
    assert b_sync.parked.response == SyncGroupResponse(E.FENCED_INSTANCE_ID)
    # CompletingRebalance: the leader may hold the old id, so a new rebalance starts.
    assert coord.groups["g"].state is GroupState.PREPARING_REBALANCE


def test_static_member_that_does_not_rejoin_stays_until_its_session_expires() -> None:
    coord = coordinator()
    join(coord, now=0, instance="i-1", client="a")
    a_sync = sync(coord, "a-1", 1, now=0, assignments={"a-1": b"p"}, instance="i-1")
    assert a_sync.response is not None
    b_join = join(coord, now=1000, client="b", version=3)  # dynamic, joins at 1000
    assert b_join.parked is not None
    for now in range(1000, 1000 + REBALANCE_MS, 3000):  # a heartbeats but never rejoins
        assert coord.heartbeat("g", 1, "a-1", "i-1", now) is E.REBALANCE_IN_PROGRESS
        coord.expire(now)
    # The rebalance times out without a-1: a static member is not removed for that.
    done = coord.expire(1000 + REBALANCE_MS)
    assert b_join.parked in done.completed
    assert list(coord.groups["g"].members) == ["a-1", "b-2"]
    assert coord.groups["g"].leader_id == "b-2"  # the leader must be a member that rejoined
    # Its session then ends: every member's timer restarted when the rebalance completed.
    end_ms = 1000 + REBALANCE_MS + SESSION_MS
    assert coord.heartbeat("g", 2, "b-2", None, end_ms - 1) is E.NONE
    coord.expire(end_ms)
    assert list(coord.groups["g"].members) == ["b-2"]


# ----------------------------------------------------------------------- timeouts


def test_session_expiry_removes_the_member_and_rebalances() -> None:
    coord = coordinator()
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    assert stable_group(coord, a, b) == 1
    for now in (3000, 6000, 9000, 12_000):
        assert coord.heartbeat("g", 1, a, None, now) is E.NONE
    # b's last sign of life was its SyncGroup at 0; a's heartbeat at 12000 keeps a.
    assert coord.next_deadline_ms() == SESSION_MS
    expired = coord.expire(SESSION_MS)
    assert expired.completed == () and list(coord.groups["g"].members) == [a]
    assert coord.groups["g"].state is GroupState.PREPARING_REBALANCE
    assert coord.heartbeat("g", 1, a, None, 13_000) is E.REBALANCE_IN_PROGRESS
    rejoin = join(coord, a, now=13_000)
    assert rejoin.response is not None and rejoin.response.generation_id == 2
    assert [m.member_id for m in rejoin.response.members] == [a]


def test_rebalance_timeout_removes_members_that_did_not_rejoin() -> None:
    coord = coordinator()
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    stable_group(coord, a, b)
    c = join_new(coord, now=1000, client="c")
    c_join = join(coord, c, now=1000)
    a_join = join(coord, a, now=2000)
    assert a_join.parked is not None and c_join.parked is not None
    for now in range(2000, 1000 + REBALANCE_MS, 3000):  # b stays alive but never rejoins
        assert coord.heartbeat("g", 1, b, None, now) is E.REBALANCE_IN_PROGRESS
        assert coord.expire(now).completed == ()  # parked members are not expired
    assert coord.groups["g"].join_timer.deadline_ms == 1000 + REBALANCE_MS
    done = coord.expire(1000 + REBALANCE_MS)
    assert set(done.completed) == {a_join.parked, c_join.parked}
    a_response = a_join.parked.response
    assert isinstance(a_response, JoinGroupResponse)
    assert a_response.generation_id == 2 and a_response.leader == a
    assert [m.member_id for m in a_response.members] == [a, c]
    assert list(coord.groups["g"].members) == [a, c]
    assert coord.heartbeat("g", 1, b, None, 1000 + REBALANCE_MS) is E.UNKNOWN_MEMBER_ID


def test_member_that_never_sends_sync_group_is_removed() -> None:
    coord = coordinator()
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    join(coord, a, now=0)
    join(coord, b, now=0)
    assert sync(coord, a, 1, now=10, assignments={a: b"x", b: b"y"}).response is not None
    for now in range(3000, REBALANCE_MS, 3000):  # both heartbeat, b never syncs
        assert coord.heartbeat("g", 1, a, None, now) is E.NONE
        assert coord.heartbeat("g", 1, b, None, now) is E.NONE
    coord.expire(REBALANCE_MS)
    assert list(coord.groups["g"].members) == [a]
    assert coord.groups["g"].state is GroupState.PREPARING_REBALANCE


def test_new_member_join_timeout() -> None:
    coord = coordinator()
    long_ms = 2 * NEW_MEMBER_JOIN_TIMEOUT_MS
    assert join(coord, now=0, version=3, client="a", rebalance=long_ms).response is not None
    sync(coord, "a-1", 1, now=0, assignments={})
    b_join = join(coord, now=1000, version=3, client="b")
    assert b_join.parked is not None
    # a keeps the rebalance open (alive, never rejoining); b cannot heartbeat while parked.
    deadline_ms = 1000 + NEW_MEMBER_JOIN_TIMEOUT_MS
    completed: list[ParkedRequest] = []
    for now in range(3000, deadline_ms + 1, 3000):
        coord.heartbeat("g", 1, "a-1", None, now)
        completed.extend(coord.expire(now).completed)
    completed.extend(coord.expire(deadline_ms).completed)
    assert completed == [b_join.parked]
    assert b_join.parked.response == JoinGroupResponse(E.UNKNOWN_MEMBER_ID, "")
    assert list(coord.groups["g"].members) == ["a-1"]


def test_initial_rebalance_delay_is_extended_while_members_arrive() -> None:
    coord = coordinator(group_initial_rebalance_delay_ms=3000)
    a = join(coord, now=0, version=3, client="a", rebalance=10_000)
    assert a.parked is not None and coord.next_deadline_ms() == 3000
    b = join(coord, now=1000, version=3, client="b", rebalance=10_000)
    assert b.parked is not None
    first = coord.expire(3000)  # b arrived: wait another delay (remaining 7000 -> 4000)
    assert first.completed == () and coord.next_deadline_ms() == 6000
    assert coord.expire(5999).completed == ()
    done = coord.expire(6000)
    assert set(done.completed) == {a.parked, b.parked}
    assert isinstance(a.parked.response, JoinGroupResponse)
    assert a.parked.response.generation_id == 1 and len(a.parked.response.members) == 2


def test_initial_delay_is_capped_by_the_rebalance_timeout() -> None:
    coord = coordinator(group_initial_rebalance_delay_ms=3000)
    join(coord, now=0, version=3, client="a", rebalance=4000)
    for now, client in ((1000, "b"), (3500, "c")):
        join(coord, now=now, version=3, client=client, rebalance=4000)
    coord.expire(3000)  # remaining 1000: one more (shorter) delay
    assert coord.next_deadline_ms() == 4000
    done = coord.expire(4000)  # remaining is 0 now: complete despite c's arrival
    assert len(done.completed) == 3


# ----------------------------------------------------------------------- leaving


def test_leave_rebalances_and_the_last_leaver_empties_the_group() -> None:
    coord = coordinator()
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    stable_group(coord, a, b)
    left = coord.leave("g", [(b, None), ("ghost", None)], 100)
    assert left.response is not None
    assert [(m.member_id, m.error_code) for m in left.response.members] == [
        (b, E.NONE),
        ("ghost", E.UNKNOWN_MEMBER_ID),
    ]
    assert coord.heartbeat("g", 1, a, None, 110) is E.REBALANCE_IN_PROGRESS
    last = coord.leave("g", [(a, None)], 120)
    group = coord.groups["g"]
    assert group.state is GroupState.EMPTY and group.generation_id == 2
    (record,) = last.records
    assert record.value is not None
    assert decode_group_metadata_value(record.value).members == ()
    unknown = coord.leave("nope", [(a, None)], 130).response
    assert unknown is not None and unknown.members[0].error_code is E.UNKNOWN_MEMBER_ID


def test_leave_by_instance_id_and_of_a_pending_member() -> None:
    coord = coordinator()
    join(coord, now=0, instance="i-1")
    pending = join_new(coord, now=0, client="d")
    left = coord.leave("g", [("", "i-1"), (pending, None)], 10)
    assert left.response is not None
    assert [m.error_code for m in left.response.members] == [E.NONE, E.NONE]
    assert not coord.groups["g"].members and not coord.groups["g"].pending_members


# ----------------------------------------------------------------------- offsets


def test_commit_validation() -> None:
    coord = coordinator()
    assert commit(coord, "", 5, now=0).response == {("t", 0): E.ILLEGAL_GENERATION}
    assert "g" not in coord.groups
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    join(coord, a, now=0)
    join(coord, b, now=0)
    cases: list[tuple[str, int, ErrorCode]] = [
        (a, 1, E.REBALANCE_IN_PROGRESS),  # CompletingRebalance
        ("stranger", 1, E.UNKNOWN_MEMBER_ID),
        ("", -1, E.UNKNOWN_MEMBER_ID),  # a simple commit needs a group without members
    ]
    for member_id, generation, error in cases:
        assert commit(coord, member_id, generation, now=1).response == {("t", 0): error}
    sync(coord, a, 1, now=2, assignments={})
    for member_id, generation, error in [(a, 0, E.ILLEGAL_GENERATION), (a, 1, E.NONE)]:
        assert commit(coord, member_id, generation, now=3).response == {("t", 0): error}
    # PreparingRebalance still accepts commits of the current generation (Kafka does).
    join(coord, join_new(coord, now=4, client="c"), now=4)
    assert commit(coord, b, 1, now=5).response == {("t", 0): E.NONE}


def test_commit_metadata_limit_and_records() -> None:
    coord = coordinator(offset_metadata_max_bytes=4)
    result = commit(
        coord,
        "",
        -1,
        now=7,
        offsets={("t", 0): (10, 2, "meta"), ("t", 1): (11, -1, "toolong"), ("u", 0): (5, 1, None)},
    )
    assert result.response == {
        ("t", 0): E.NONE,
        ("t", 1): E.OFFSET_METADATA_TOO_LARGE,
        ("u", 0): E.NONE,
    }
    decoded = [
        (decode_key(r.key), r.value and decode_offset_commit_value(r.value)) for r in result.records
    ]
    assert [
        (key, value.offset, value.leader_epoch, value.metadata, value.commit_timestamp)
        for key, value in decoded
        if value
    ] == [
        (OffsetCommitKey("g", "t", 0), 10, 2, "meta", 7),
        (OffsetCommitKey("g", "u", 0), 5, 1, "", 7),
    ]


def test_offset_fetch() -> None:
    coord = coordinator()
    commit(coord, "", -1, now=0, offsets={("t", 1): (7, 4, "x"), ("a", 0): (1, -1, None)})
    assert coord.fetch_offsets("g", [("t", 1), ("t", 2)]) == {
        ("t", 1): FetchedOffset(7, 4, "x"),
        ("t", 2): FetchedOffset(-1, -1, ""),
    }
    assert list(coord.fetch_offsets("g", None)) == [("a", 0), ("t", 1)]
    assert coord.fetch_offsets("other", None) == {}
    assert coord.fetch_offsets("other", [("t", 0)]) == {("t", 0): FetchedOffset()}


def test_offsets_retention_of_an_empty_group() -> None:
    retention_ms = 60_000
    coord = coordinator(offsets_retention_minutes=1)
    commit(coord, "", -1, now=0)
    assert coord.cleanup(retention_ms - 1).records == ()
    swept = coord.cleanup(retention_ms)
    assert [(decode_key(r.key), r.value) for r in swept.records] == [
        (OffsetCommitKey("g", "t", 0), None)
    ]
    assert "g" not in coord.groups  # no offsets, no members, generation 0: no group tombstone


def test_retention_counts_from_when_the_group_became_empty() -> None:
    coord = coordinator(offsets_retention_minutes=1)
    member = join_new(coord, now=0)
    stable_group(coord, member)
    commit(coord, member, 1, now=10)
    coord.leave("g", [(member, None)], 50_000)
    assert coord.cleanup(60_010).records == ()  # Empty since 50_000
    swept = coord.cleanup(110_000)
    assert [decode_key(r.key) for r in swept.records] == [
        OffsetCommitKey("g", "t", 0),
        GroupMetadataKey("g"),
    ]
    assert all(r.value is None for r in swept.records) and "g" not in coord.groups


def test_expire_runs_the_retention_check_on_its_interval() -> None:
    coord = coordinator(offsets_retention_minutes=1, offsets_retention_check_interval_ms=100_000)
    commit(coord, "", -1, now=0)
    assert coord.next_deadline_ms() == 100_000
    assert len(coord.expire(100_000).records) == 1
    assert coord.next_deadline_ms() == 200_000


# ----------------------------------------------------------------------- admin


def test_list_describe_and_delete() -> None:
    coord = coordinator()
    stable_group(coord, join_new(coord, now=0))
    commit(coord, "", -1, now=0, group="simple")
    assert [(g.group_id, g.protocol_type, g.group_state) for g in coord.list_groups()] == [
        ("g", "consumer", "Stable"),
        ("simple", "", "Empty"),
    ]
    assert [g.group_id for g in coord.list_groups(["empty"])] == ["simple"]
    described, unknown = coord.describe_groups(["g", "nope"])
    assert (described.group_state, described.protocol_data) == ("Stable", "range")
    assert [(m.member_id, m.member_metadata, m.member_assignment) for m in described.members] == [
        ("c-1", b"sub-range", b"assignment-c-1")
    ]
    assert (unknown.error_code, unknown.group_state, unknown.members) == (E.NONE, "Dead", ())
    deleted = coord.delete_groups(["g", "simple", "nope"], 10)
    assert deleted.response == {
        "g": E.NON_EMPTY_GROUP,
        "simple": E.NONE,
        "nope": E.GROUP_ID_NOT_FOUND,
    }
    assert [(decode_key(r.key), r.value) for r in deleted.records] == [
        (OffsetCommitKey("simple", "t", 0), None)
    ]
    assert "simple" not in coord.groups


def _subscribed(*topics: str, version: int = 3) -> tuple[tuple[str, bytes], ...]:
    return (("range", encode_subscription(Subscription(topics=topics), version)),)


def _tombstoned(result: CoordinatorResult[Any]) -> list[OffsetCommitKey]:
    assert all(r.value is None for r in result.records)
    keys = [decode_key(r.key) for r in result.records]
    assert all(isinstance(key, OffsetCommitKey) for key in keys)
    return keys  # type: ignore[return-value]


@pytest.mark.parametrize("version", [0, 1, 3])
def test_offset_delete_keeps_the_subscribed_topics_of_a_consuming_group(version: int) -> None:
    coord = coordinator()
    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    subscriptions = {a: _subscribed("t", version=version), b: _subscribed("u", version=version)}
    generation = stable_group(coord, a, b, protocols=subscriptions)
    offsets = {("t", 0): (5, 1, None), ("u", 0): (6, 1, None), ("old", 2): (7, 1, None)}
    commit(coord, a, generation, now=1, offsets=offsets)
    result = coord.delete_offsets("g", [("t", 0), ("old", 2), ("old", 3), ("u", 0)], 2)
    assert result.response == (
        E.NONE,
        {
            ("t", 0): E.GROUP_SUBSCRIBED_TO_TOPIC,
            ("old", 2): E.NONE,
            ("old", 3): E.NONE,  # nothing committed there: nothing to delete, no error
            ("u", 0): E.GROUP_SUBSCRIBED_TO_TOPIC,
        },
    )
    assert _tombstoned(result) == [OffsetCommitKey("g", "old", 2)]
    assert set(coord.groups["g"].offsets) == {("t", 0), ("u", 0)}
    assert coord.groups["g"].state is GroupState.STABLE


def test_offset_delete_of_an_empty_group_deletes_every_partition_asked_for() -> None:
    coord = coordinator()
    commit(coord, "", -1, now=0, offsets={("t", 0): (1, -1, None), ("t", 1): (2, -1, None)})
    result = coord.delete_offsets("g", [("t", 0)], 1)
    assert result.response == (E.NONE, {("t", 0): E.NONE})
    assert _tombstoned(result) == [OffsetCommitKey("g", "t", 0)]
    fetched = coord.fetch_offsets("g", [("t", 0), ("t", 1)])
    assert [(tp, f.offset) for tp, f in fetched.items()] == [(("t", 0), -1), (("t", 1), 2)]


def test_offset_delete_refuses_unknown_groups_and_other_protocols_with_members() -> None:
    coord = coordinator()
    assert coord.delete_offsets("nope", [("t", 0)], 0).response == (E.GROUP_ID_NOT_FOUND, {})
    member = join_new(coord, now=0, protocol_type="connect")
    joined = join(coord, member, now=0, protocol_type="connect")
    assert joined.response is not None and joined.response.error_code is E.NONE
    refused = coord.delete_offsets("g", [("t", 0)], 1)
    assert (refused.response, refused.records) == ((E.NON_EMPTY_GROUP, {}), ())


def test_offset_delete_with_an_undecodable_subscription_sees_no_subscribed_topic() -> None:
    # Kafka's computeSubscribedTopics: a subscription it cannot parse subscribes to nothing.
    coord = coordinator()
    generation = stable_group(coord, join_new(coord, now=0))  # metadata b"sub-range"
    commit(coord, "c-1", generation, now=1)
    result = coord.delete_offsets("g", [("t", 0)], 2)
    assert result.response == (E.NONE, {("t", 0): E.NONE})
    assert _tombstoned(result) == [OffsetCommitKey("g", "t", 0)]


# ----------------------------------------------------------------------- records and replay


def _snapshot(coord: GroupCoordinator) -> dict[str, Any]:
    return {
        group_id: (
            group.state,
            group.state_timestamp_ms,
            group.generation_id,
            group.protocol_type,
            group.protocol_name,
            group.leader_id,
            [
                (
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.session_timeout_ms,
                    m.rebalance_timeout_ms,
                    m.metadata(group.protocol_name) if group.protocol_name else None,
                    m.assignment,
                )
                for m in group.members.values()
            ],
            dict(group.offsets),
        )
        for group_id, group in sorted(coord.groups.items())
    }


def test_replaying_the_records_rebuilds_the_same_state() -> None:
    coord = coordinator()
    log: list[tuple[int, bytes, bytes | None]] = []

    def keep(result: CoordinatorResult[Any]) -> None:
        log.extend((r.partition, r.key, r.value) for r in result.records)

    a, b = join_new(coord, now=0, client="a"), join_new(coord, now=0, client="b")
    for member_id in (a, b):
        keep(join(coord, member_id, now=0))
    keep(sync(coord, b, 1, now=5))
    keep(sync(coord, a, 1, now=6, assignments={a: b"pa", b: b"pb"}))
    keep(commit(coord, a, 1, now=7, offsets={("t", 0): (5, 1, "x"), ("t", 1): (9, 1, None)}))
    keep(commit(coord, b, 1, now=8, offsets={("t", 0): (6, 1, "y")}))
    keep(commit(coord, "", -1, now=9, group="simple", offsets={("u", 3): (1, -1, None)}))
    keep(commit(coord, "", -1, now=9, group="gone"))
    keep(coord.delete_groups(["gone"], 10))
    keep(join(coord, now=11, group="static", instance="i-1"))
    keep(sync(coord, "c-3", 1, now=12, group="static", assignments={"c-3": b"s"}))
    keep(join(coord, now=13, group="static", instance="i-1"))  # replaced as c-4
    keep(join(coord, now=14, group="left", version=3))
    keep(sync(coord, "c-5", 1, now=15, group="left"))
    keep(coord.leave("left", [("c-5", None)], 16))
    assert {p for p, _, _ in log} == {
        partition_for(g, 50) for g in ("g", "simple", "gone", "static", "left")
    }

    replayed = coordinator()
    for _, key, value in log:
        replayed.replay(key, value)
    assert _snapshot(replayed) == _snapshot(coord)
    assert "gone" not in replayed.groups
    # Loaded members get a session timer; the reloaded group keeps working.
    replayed.load_complete(partition_for("g", 50), 1000)
    assert replayed.heartbeat("g", 1, a, None, 1001) is E.NONE
    assert replayed.fetch_offsets("g", [("t", 0)]) == {("t", 0): FetchedOffset(6, 1, "y")}
    replayed.expire(1000 + SESSION_MS)
    assert list(replayed.groups["g"].members) == [a]  # b never heartbeat after the load


def test_replay_skips_foreign_record_types_and_offsets_outlive_a_group_tombstone() -> None:
    coord = coordinator()
    coord.replay(b"\x00\x0bwhatever", b"")  # a key version we do not use (11: streams groups)
    commit_records = commit(coord, "", -1, now=0).records
    fresh = coordinator()
    stable_group(fresh, join_new(fresh, now=0))
    metadata = [r for r in fresh.leave("g", [("c-1", None)], 1).records]
    loaded = coordinator()
    for record in (*commit_records, *metadata):
        loaded.replay(record.key, record.value)
    loaded.replay(metadata[0].key, None)
    group = loaded.groups["g"]
    assert group.state is GroupState.EMPTY and group.generation_id == 0 and group.offsets


def test_unload_answers_parked_requests_with_not_coordinator() -> None:
    coord = coordinator()
    a = join_new(coord, now=0, client="a")
    stable_group(coord, a)
    b_join = join(coord, join_new(coord, now=1, client="b"), now=1)
    assert b_join.parked is not None
    unloaded = coord.unload_partition(partition_for("g", 50), 2)
    assert unloaded.completed == (b_join.parked,)
    assert b_join.parked.response == JoinGroupResponse(E.NOT_COORDINATOR, "")
    assert (
        not coord.groups and coord.next_deadline_ms() == CONFIG.offsets_retention_check_interval_ms
    )


# ----------------------------------------------------------------------- partitioning


def _java_hash(text: str) -> int:
    """The Java formula, written independently: sum of s[i] * 31**(n-1-i), as a signed int32."""
    units = [
        int.from_bytes(text.encode("utf-16-be")[i : i + 2], "big")
        for i in range(0, len(text.encode("utf-16-be")), 2)
    ]
    total = sum(unit * 31 ** (len(units) - 1 - i) for i, unit in enumerate(units)) % 2**32
    return total - 2**32 if total >= 2**31 else total


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 97),
        ("ab", 97 * 31 + 98),
        ("Aa", 2112),
        ("BB", 2112),
        ("hello", 99162322),
        ("polygenelubricants", -(2**31)),  # Integer.MIN_VALUE: Utils.abs makes it 0
        ("group", _java_hash("group")),
        ("console-consumer-12345", _java_hash("console-consumer-12345")),
        ("grüße-😀", _java_hash("grüße-😀")),  # a surrogate pair counts as two units
    ],
)
def test_java_string_hash(text: str, expected: int) -> None:
    assert java_string_hash(text) == expected


def test_partition_for() -> None:
    assert partition_for("", 50) == 0
    assert partition_for("a", 50) == 97 % 50
    assert partition_for("polygenelubricants", 50) == 0
    negative = "console-consumer-12345"
    hash_code = _java_hash(negative)
    assert partition_for(negative, 50) == abs(hash_code) % 50
    assert partition_for("group", 1) == 0


# ---- transactional offset commits (TxnOffsetCommit, KIP-98) --------------------------------

PRODUCER = 77


def txn_commit(
    coord: GroupCoordinator, offsets: dict[tuple[str, int], int], *, group: str = "g", **kw: Any
) -> CoordinatorResult[dict[tuple[str, int], ErrorCode]]:
    return coord.txn_commit(
        group_id=group,
        producer_id=PRODUCER,
        producer_epoch=3,
        generation_id=kw.get("generation", -1),
        member_id=kw.get("member", ""),
        group_instance_id=None,
        offsets={tp: (offset, -1, "") for tp, offset in offsets.items()},
        now_ms=kw.get("now", 0),
    )


def test_transactional_offsets_wait_for_the_marker() -> None:
    coord = coordinator()
    result = txn_commit(coord, {("t", 0): 10, ("t", 1): 20})
    assert result.response == {("t", 0): E.NONE, ("t", 1): E.NONE}
    assert {(r.producer_id, r.producer_epoch) for r in result.records} == {(PRODUCER, 3)}
    assert coord.fetch_offsets("g", [("t", 0)]) == {("t", 0): FetchedOffset()}
    assert coord.has_pending_offsets("g", ("t", 0))
    partition = coord.partition_for("g")
    coord.complete_txn(partition, PRODUCER, commit=True)
    assert coord.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 10
    assert not coord.has_pending_offsets("g", ("t", 0))
    txn_commit(coord, {("t", 0): 15})
    coord.complete_txn(partition, PRODUCER, commit=False)  # aborted: the offset stays 10
    assert coord.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 10


def test_transactional_offsets_are_replayed_pending_until_their_marker() -> None:
    source = coordinator()
    records = txn_commit(source, {("t", 0): 42}).records
    replica = coordinator()
    for record in records:
        replica.replay(record.key, record.value, txn_producer_id=PRODUCER)
    assert replica.fetch_offsets("g", [("t", 0)]) == {("t", 0): FetchedOffset()}
    replica.complete_txn(replica.partition_for("g"), PRODUCER, commit=True)
    assert replica.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 42


def test_transactional_commit_checks_a_member_and_generation_when_given() -> None:
    coord = coordinator()
    member = join_new(coord, now=0)
    generation = stable_group(coord, member, now=0)
    assert txn_commit(coord, {("t", 0): 1}, member="nobody").response == {
        ("t", 0): E.UNKNOWN_MEMBER_ID
    }
    assert txn_commit(coord, {("t", 0): 1}, member=member, generation=generation + 1).response == {
        ("t", 0): E.ILLEGAL_GENERATION
    }
    assert txn_commit(coord, {("t", 0): 1}, member=member, generation=generation).response == {
        ("t", 0): E.NONE
    }
