"""KIP-848 consumer groups in the group coordinator (sans-IO): joins, reconciliation with
revocation before reassignment, epochs and fencing, leaves, session and rebalance timeouts,
static members, the classic/consumer protocol boundary, offset commits by member epoch, the
server-side assignors, and a seeded random run of honest clients checking that no partition
is ever owned by two members and that the group always converges.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from typing import Any

import pytest

from broker.core.consumer_group import (
    Assignment,
    HeartbeatRequest,
    range_assignor,
    uniform_assignor,
)
from broker.core.consumer_membership import ConsumerHeartbeatResponse
from broker.core.group_coordinator import GroupCoordinator, GroupCoordinatorConfig
from broker.core.group_timers import counter_suffixes
from client.protocol.errors import ErrorCode

FOO = uuid.UUID(int=1)
BAR = uuid.UUID(int=2)
TOPICS: dict[str, tuple[uuid.UUID, int]] = {"foo": (FOO, 6), "bar": (BAR, 3)}
SESSION_MS = 45_000
GROUP = "g"


def coordinator(**overrides: Any) -> GroupCoordinator:
    config = GroupCoordinatorConfig(**overrides)
    return GroupCoordinator(config, member_id_suffix=counter_suffixes())


def request(member_id: str, epoch: int, **fields: Any) -> HeartbeatRequest:
    base = HeartbeatRequest(
        group_id=GROUP,
        member_id=member_id,
        member_epoch=epoch,
        instance_id=None,
        rack_id=None,
        rebalance_timeout_ms=-1,
        subscribed_topic_names=None,
        subscribed_topic_regex=None,
        server_assignor=None,
        owned=None,
        client_id="client",
        client_host="/127.0.0.1",
        version=1,
    )
    return replace(base, **fields)


def join(
    coord: GroupCoordinator,
    member_id: str,
    now_ms: int = 0,
    topics: tuple[str, ...] = ("foo",),
    view: dict[str, tuple[uuid.UUID, int]] = TOPICS,
    **fields: Any,
) -> ConsumerHeartbeatResponse:
    req = request(
        member_id,
        0,
        rebalance_timeout_ms=fields.pop("rebalance_timeout_ms", 30_000),
        subscribed_topic_names=topics,
        owned={},
        **fields,
    )
    response = coord.consumer_heartbeat(req, view, now_ms).response
    assert response is not None
    return response


def beat(
    coord: GroupCoordinator,
    member_id: str,
    epoch: int,
    owned: Assignment | None,
    *,
    now_ms: int = 0,
    view: dict[str, tuple[uuid.UUID, int]] = TOPICS,
    **fields: Any,
) -> ConsumerHeartbeatResponse:
    response = coord.consumer_heartbeat(
        request(member_id, epoch, owned=owned, **fields), view, now_ms
    ).response
    assert response is not None
    return response


def count(assignment: Assignment | None) -> int:
    assert assignment is not None
    return sum(len(parts) for parts in assignment.values())


def test_a_lone_member_gets_every_partition() -> None:
    coord = coordinator()
    response = join(coord, "m1")
    assert response.error_code is ErrorCode.NONE
    assert (response.member_id, response.member_epoch) == ("m1", 1)
    assert response.heartbeat_interval_ms == 5000
    assert response.assignment == {FOO: frozenset(range(6))}
    # A plain heartbeat with nothing new carries no assignment.
    again = beat(coord, "m1", 1, None)
    assert (again.member_epoch, again.assignment) == (1, None)
    assert coord.list_groups()[0].group_type == "consumer"
    assert coord.list_groups()[0].group_state == "Stable"


def test_partitions_move_only_after_the_old_owner_revoked_them() -> None:
    coord = coordinator()
    first = join(coord, "m1")
    assert first.assignment is not None
    second = join(coord, "m2")
    # m2 is at the new epoch but everything it should get is still m1's: unreleased.
    assert second.member_epoch == 2 and second.assignment == {}
    # m1 is asked to give three partitions up and stays at its epoch meanwhile.
    revoke = beat(coord, "m1", 1, first.assignment)
    assert revoke.member_epoch == 1
    kept = revoke.assignment
    assert kept is not None and count(kept) == 3
    # m2 still gets nothing while m1 reports owning them.
    assert beat(coord, "m2", 2, {}).assignment is None
    # m1 acknowledges (reports only what it kept): it moves to epoch 2.
    done = beat(coord, "m1", 1, kept)
    assert done.member_epoch == 2
    # Now m2 gets the released partitions.
    handed = beat(coord, "m2", 2, {})
    assert handed.assignment is not None and count(handed.assignment) == 3
    assert not (handed.assignment[FOO] & kept[FOO])
    assert coord.list_groups()[0].group_state == "Stable"


def test_leaving_frees_the_partitions_for_the_others() -> None:
    coord = coordinator()
    join(coord, "m1")
    join(coord, "m2")
    m1 = beat(coord, "m1", 1, {FOO: frozenset(range(6))})
    beat(coord, "m1", 1, m1.assignment)
    left = beat(coord, "m1", 2, None, member_epoch=-1)
    assert (left.error_code, left.member_epoch) == (ErrorCode.NONE, -1)
    response = beat(coord, "m2", 2, {})
    assert response.assignment == {FOO: frozenset(range(6))}
    assert response.member_epoch == 3  # m1's join (1), m2's join (2), m1's leave (3)


def test_session_timeout_fences_a_silent_member() -> None:
    coord = coordinator()
    join(coord, "m1", now_ms=0)
    join(coord, "m2", now_ms=1000)
    assert coord.next_deadline_ms() == SESSION_MS
    coord.expire(SESSION_MS)
    assert beat(coord, "m1", 1, None, now_ms=SESSION_MS).error_code is ErrorCode.UNKNOWN_MEMBER_ID
    response = beat(coord, "m2", 2, {}, now_ms=SESSION_MS + 1)
    assert response.assignment == {FOO: frozenset(range(6))}


def test_rebalance_timeout_fences_a_member_that_does_not_revoke() -> None:
    coord = coordinator()
    join(coord, "m1", rebalance_timeout_ms=10_000)
    join(coord, "m2", now_ms=1)
    beat(coord, "m1", 1, {FOO: frozenset(range(6))}, now_ms=100)  # told to revoke
    for now in (2_000, 4_000, 6_000, 8_000):  # keeps heartbeating, never lets go
        beat(coord, "m1", 1, {FOO: frozenset(range(6))}, now_ms=now)
        beat(coord, "m2", 2, {}, now_ms=now)
    coord.expire(10_100)
    assert beat(coord, "m1", 1, None, now_ms=10_200).error_code is ErrorCode.UNKNOWN_MEMBER_ID
    assert beat(coord, "m2", 2, {}, now_ms=10_200).assignment == {FOO: frozenset(range(6))}


def test_member_epochs_are_checked_and_a_fenced_member_rejoins_with_zero() -> None:
    coord = coordinator()
    join(coord, "m1")
    assert beat(coord, "m1", 7, None).error_code is ErrorCode.FENCED_MEMBER_EPOCH
    assert beat(coord, "nobody", 1, None).error_code is ErrorCode.UNKNOWN_MEMBER_ID
    rejoined = join(coord, "m1")
    assert rejoined.error_code is ErrorCode.NONE
    assert rejoined.assignment == {FOO: frozenset(range(6))}
    # The previous epoch with a subset of the partitions is accepted (a lost response).
    join(coord, "m2")
    beat(coord, "m1", 1, {FOO: frozenset(range(6))})
    kept = beat(coord, "m1", 1, {FOO: frozenset(range(3))})
    assert kept.member_epoch == 2
    assert beat(coord, "m1", 1, {FOO: frozenset({0})}).member_epoch == 2
    assert beat(coord, "m1", 1, {FOO: frozenset({5})}).error_code is ErrorCode.FENCED_MEMBER_EPOCH


def test_invalid_requests_are_refused() -> None:
    coord = coordinator()
    no_topics = request("m1", 0, rebalance_timeout_ms=1000, owned={})
    foo = replace(no_topics, subscribed_topic_names=("foo",))
    invalid = ErrorCode.INVALID_REQUEST
    cases = [
        (no_topics, invalid),
        (replace(foo, owned=None), invalid),
        (replace(foo, owned={FOO: frozenset({1})}), invalid),
        (replace(foo, rebalance_timeout_ms=-1), invalid),
        (replace(foo, member_id=""), invalid),
        (replace(no_topics, member_epoch=-3), invalid),
        (replace(no_topics, group_id=""), ErrorCode.INVALID_GROUP_ID),
        (replace(no_topics, subscribed_topic_regex="("), invalid),
        (replace(foo, server_assignor="sticky"), ErrorCode.UNSUPPORTED_ASSIGNOR),
    ]
    for req, code in cases:
        response = coord.consumer_heartbeat(req, TOPICS, 0).response
        assert response is not None and response.error_code is code, req
    # v0 lets the coordinator pick the member id.
    v0 = replace(no_topics, subscribed_topic_names=("foo",), member_id="", version=0)
    response = coord.consumer_heartbeat(v0, TOPICS, 0).response
    assert response is not None and response.error_code is ErrorCode.NONE and response.member_id


def test_static_member_leaves_for_a_while_and_comes_back_under_a_new_id() -> None:
    coord = coordinator()
    join(coord, "a1", instance_id="a")
    join(coord, "b1", instance_id="b")
    kept = beat(coord, "a1", 1, {FOO: frozenset(range(6))}).assignment
    assert beat(coord, "a1", 1, kept).member_epoch == 2
    b = beat(coord, "b1", 2, {})
    assert b.assignment is not None
    left = beat(coord, "a1", 2, None, member_epoch=-2, instance_id="a")
    assert left.member_epoch == -2
    # Another process taking the instance while it is active is refused...
    assert join(coord, "x", instance_id="b").error_code is ErrorCode.UNRELEASED_INSTANCE_ID
    # ...but the departed one comes back with its partitions and no rebalance.
    back = join(coord, "a2", instance_id="a")
    assert back.error_code is ErrorCode.NONE and back.member_epoch == 2
    assert back.assignment == kept
    assert beat(coord, "b1", 2, b.assignment).assignment is None  # nothing changed for b
    wrong = beat(coord, "a1", 2, None, instance_id="a")
    assert wrong.error_code is ErrorCode.FENCED_INSTANCE_ID


def test_one_protocol_per_group_id() -> None:
    coord = coordinator()
    join(coord, "m1")
    classic = coord.join(
        group_id=GROUP, member_id="", group_instance_id=None, client_id="c", client_host="h",
        session_timeout_ms=10_000, rebalance_timeout_ms=10_000, protocol_type="consumer",
        protocols=[("range", b"")], version=5, now_ms=0,
    ).response  # fmt: skip
    assert classic is not None and classic.error_code is ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    other = coordinator()
    other.join(
        group_id=GROUP, member_id="", group_instance_id=None, client_id="c", client_host="h",
        session_timeout_ms=10_000, rebalance_timeout_ms=10_000, protocol_type="consumer",
        protocols=[("range", b"")], version=3, now_ms=0,
    )  # fmt: skip
    assert join(other, "m1").error_code is ErrorCode.GROUP_ID_NOT_FOUND
    described = coord.describe_consumer_groups([GROUP, "missing"])
    assert described[0].error_code is ErrorCode.NONE and described[0].group_epoch == 1
    assert described[0].members[0].member.member_id == "m1"
    assert described[1].error_code is ErrorCode.GROUP_ID_NOT_FOUND
    assert other.describe_consumer_groups([GROUP])[0].error_code is ErrorCode.GROUP_ID_NOT_FOUND
    assert coord.describe_groups([GROUP])[0].group_state == "Dead"
    assert coord.delete_groups([GROUP], 0).response == {GROUP: ErrorCode.NON_EMPTY_GROUP}
    assert [g.group_id for g in coord.list_groups(types_filter=["classic"])] == []
    assert [g.group_id for g in coord.list_groups(types_filter=["Consumer"])] == [GROUP]


def test_offset_commits_carry_the_member_epoch() -> None:
    coord = coordinator()
    join(coord, "m1")

    def commit(member_id: str, epoch: int) -> ErrorCode:
        result = coord.commit(
            group_id=GROUP, generation_id=epoch, member_id=member_id, group_instance_id=None,
            offsets={("foo", 0): (5, -1, "")}, now_ms=0,
        )  # fmt: skip
        assert result.response is not None
        return result.response[("foo", 0)]

    assert commit("m1", 1) is ErrorCode.NONE
    assert commit("m1", 0) is ErrorCode.STALE_MEMBER_EPOCH
    assert commit("other", 1) is ErrorCode.UNKNOWN_MEMBER_ID
    assert commit("", -1) is ErrorCode.UNKNOWN_MEMBER_ID  # an admin commit needs an empty group
    assert coord.offset_fetch_error(GROUP, "m1", 1) is ErrorCode.NONE
    assert coord.offset_fetch_error(GROUP, None, -1) is ErrorCode.NONE  # an admin reads
    assert coord.offset_fetch_error(GROUP, "m1", 0) is ErrorCode.STALE_MEMBER_EPOCH
    assert coord.offset_fetch_error(GROUP, "other", 1) is ErrorCode.UNKNOWN_MEMBER_ID
    beat(coord, "m1", 1, None, member_epoch=-1)
    assert commit("", -1) is ErrorCode.NONE
    assert coord.fetch_offsets(GROUP, [("foo", 0)])[("foo", 0)].offset == 5
    assert coord.delete_groups([GROUP], 0).response == {GROUP: ErrorCode.NONE}


def test_new_partitions_and_regex_subscriptions_rebalance() -> None:
    coord = coordinator()
    join(coord, "m1", topics=(), subscribed_topic_regex="fo+")
    grown = {**TOPICS, "foo": (FOO, 8), "fooo": (uuid.UUID(int=3), 1)}
    response = beat(coord, "m1", 1, {FOO: frozenset(range(6))}, view=grown)
    assert response.member_epoch == 2
    assert response.assignment == {FOO: frozenset(range(8)), uuid.UUID(int=3): frozenset({0})}
    assert "__consumer_offsets" not in coord.groups[GROUP].consumer.subscription_metadata  # type: ignore[union-attr]


def test_unload_drops_the_members() -> None:
    coord = coordinator()
    join(coord, "m1")
    coord.unload_partition(coord.partition_for(GROUP), 0)
    assert coord.next_deadline_ms() is not None  # only the retention check is left
    assert beat(coord, "m1", 1, None).error_code is ErrorCode.UNKNOWN_MEMBER_ID


# -- assignors ------------------------------------------------------------------------------


def _flatten(assignment: dict[str, Assignment]) -> list[tuple[uuid.UUID, int]]:
    return [(t, p) for a in assignment.values() for t, parts in a.items() for p in parts]


@pytest.mark.parametrize("seed", range(40))
def test_uniform_is_complete_balanced_and_sticky(seed: int) -> None:
    rng = random.Random(seed)
    metadata = {
        f"t{i}": (uuid.UUID(int=i + 10), rng.randint(1, 9)) for i in range(rng.randint(1, 4))
    }
    members = [f"m{i}" for i in range(rng.randint(1, 6))]
    subscriptions = {m: set(metadata) for m in members}
    first = uniform_assignor(subscriptions, metadata, {})
    pairs = _flatten(first)
    total = sum(n for _, n in metadata.values())
    assert len(pairs) == len(set(pairs)) == total
    counts = [sum(len(p) for p in first[m].values()) for m in members]
    assert max(counts) - min(counts) <= 1
    # One more member: it takes only what balance needs; the others keep the rest.
    subscriptions["new"] = set(metadata)
    second = uniform_assignor(subscriptions, metadata, first)
    counts = [sum(len(p) for p in a.values()) for a in second.values()]
    assert max(counts) - min(counts) <= 1
    floor = total // (len(members) + 1)
    for m in members:
        kept = sum(len(parts & second[m].get(t, frozenset())) for t, parts in first[m].items())
        had = sum(len(parts) for parts in first[m].values())
        assert kept >= min(had, floor), (m, had, kept)


def test_uniform_respects_subscriptions() -> None:
    metadata = {"a": (uuid.UUID(int=1), 4), "b": (uuid.UUID(int=2), 4)}
    result = uniform_assignor({"x": {"a"}, "y": {"a", "b"}}, metadata, {})
    assert uuid.UUID(int=2) not in result["x"]
    # Balanced where the subscriptions allow: x takes all of a, y all of b.
    assert result == {
        "x": {uuid.UUID(int=1): frozenset(range(4))},
        "y": {uuid.UUID(int=2): frozenset(range(4))},
    }


def test_range_gives_contiguous_ranges() -> None:
    metadata = {"a": (uuid.UUID(int=1), 5)}
    result = range_assignor({"x": {"a"}, "y": {"a"}}, metadata, {})
    assert result == {
        "x": {uuid.UUID(int=1): frozenset({0, 1, 2})},
        "y": {uuid.UUID(int=1): frozenset({3, 4})},
    }


# -- a random run of honest clients ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_random_membership_never_double_assigns_and_converges(seed: int) -> None:
    rng = random.Random(seed)
    coord = coordinator()
    now = 0
    clients: dict[str, dict[str, Any]] = {}  # member id -> {"epoch", "owned"}
    names = iter(f"m{i}" for i in range(1000))

    def step_client(member_id: str) -> None:
        state = clients[member_id]
        response = beat(coord, member_id, state["epoch"], state["owned"], now_ms=now)
        if response.error_code is not ErrorCode.NONE:
            del clients[member_id]  # fenced: an honest client drops everything
            return
        state["epoch"] = response.member_epoch
        if response.assignment is not None:
            state["owned"] = dict(response.assignment)  # revoke and take at once

    def check_no_overlap() -> None:
        seen: set[tuple[uuid.UUID, int]] = set()
        for state in clients.values():
            for topic_id, parts in state["owned"].items():
                for p in parts:
                    assert (topic_id, p) not in seen, f"seed {seed}: {topic_id}/{p} owned twice"
                    seen.add((topic_id, p))

    for _ in range(120):
        now += rng.randint(1, 500)
        action = rng.random()
        if action < 0.15 and len(clients) < 6:
            member_id = next(names)
            response = join(coord, member_id, now_ms=now, topics=("foo", "bar"))
            assert response.error_code is ErrorCode.NONE
            clients[member_id] = {
                "epoch": response.member_epoch,
                "owned": dict(response.assignment or {}),
            }
        elif action < 0.22 and clients:
            member_id = rng.choice(sorted(clients))
            beat(coord, member_id, clients[member_id]["epoch"], None, now_ms=now, member_epoch=-1)
            del clients[member_id]
        elif clients:
            step_client(rng.choice(sorted(clients)))
        check_no_overlap()
    # Quiet heartbeats: the group converges to every partition owned, balanced.
    for _ in range(6):
        for member_id in sorted(clients):
            now += 1
            step_client(member_id)
            check_no_overlap()
    if clients:
        owned = [(t, p) for s in clients.values() for t, parts in s["owned"].items() for p in parts]
        assert len(owned) == 9, f"seed {seed}: {len(owned)} of 9 owned"
        counts = [sum(len(p) for p in s["owned"].values()) for s in clients.values()]
        assert max(counts) - min(counts) <= 1
        assert coord.list_groups()[0].group_state == "Stable"


def test_uniform_scales_to_large_groups() -> None:
    """2,000 partitions over 200 members, homogeneous and not: complete and balanced (exactly
    for homogeneous subscriptions; heterogeneous ones move a partition only to a member that
    shares its topic, so a count may stay two apart where only a chain of moves would help)."""
    metadata = {f"t{i}": (uuid.UUID(int=i + 1), 100) for i in range(20)}
    same = {f"m{i:03}": set(metadata) for i in range(200)}
    first = uniform_assignor(same, metadata, {})
    assert len(_flatten(first)) == len(set(_flatten(first))) == 2000
    assert {sum(len(p) for p in a.values()) for a in first.values()} == {10}
    rng = random.Random(7)
    mixed = {f"m{i:03}": set(rng.sample(sorted(metadata), 5)) for i in range(200)}
    result = uniform_assignor(mixed, metadata, {})
    assert len(set(_flatten(result))) == 2000
    counts = [sum(len(p) for p in a.values()) for a in result.values()]
    assert max(counts) - min(counts) <= 2


# -- persistence ----------------------------------------------------------------------------


class Recorder:
    """A coordinator whose every result's records are kept, in order (the log)."""

    def __init__(self) -> None:
        self.coord = coordinator()
        self.log: list[tuple[bytes, bytes | None]] = []

    def heartbeat(self, req: HeartbeatRequest, now_ms: int = 0) -> ConsumerHeartbeatResponse:
        result = self.coord.consumer_heartbeat(req, TOPICS, now_ms)
        self.log.extend((r.key, r.value) for r in result.records)
        assert result.response is not None
        return result.response

    def reloaded(self, now_ms: int = 0) -> GroupCoordinator:
        fresh = coordinator()
        for key, value in self.log:
            fresh.replay(key, value)
        fresh.load_complete(fresh.partition_for(GROUP), now_ms)
        return fresh


def _join_request(member_id: str, **fields: Any) -> HeartbeatRequest:
    return request(
        member_id, 0, rebalance_timeout_ms=30_000, subscribed_topic_names=("foo",), owned={},
        **fields,
    )  # fmt: skip


def test_membership_survives_a_coordinator_move() -> None:
    rec = Recorder()
    first = rec.heartbeat(_join_request("m1"))
    rec.heartbeat(_join_request("m2", instance_id="i2"))
    kept = rec.heartbeat(request("m1", 1, owned=first.assignment)).assignment
    assert rec.heartbeat(request("m1", 1, owned=kept)).member_epoch == 2
    handed = rec.heartbeat(request("m2", 2, owned={})).assignment
    assert kept is not None and handed is not None
    # Regular heartbeats that change nothing write nothing.
    before = len(rec.log)
    rec.heartbeat(request("m1", 2, owned=kept))
    assert len(rec.log) == before
    moved = rec.reloaded(now_ms=1_000)
    original = rec.coord.describe_consumer_groups([GROUP])[0]
    loaded = moved.describe_consumer_groups([GROUP])[0]
    assert (loaded.group_epoch, loaded.assignment_epoch) == (original.group_epoch, 2)
    assert loaded.group_state == "Stable"
    assert {m.member.member_id: (m.member.member_epoch, m.member.assigned, m.target)
            for m in loaded.members} == {
        m.member.member_id: (m.member.member_epoch, m.member.assigned, m.target)
        for m in original.members
    }  # fmt: skip
    # The members go on at their epochs on the new coordinator: no rebalance.
    again = moved.consumer_heartbeat(request("m1", 2, owned=kept), TOPICS, 1_001).response
    assert again is not None and (again.error_code, again.member_epoch) == (ErrorCode.NONE, 2)
    assert again.assignment is None
    static = moved.consumer_heartbeat(
        request("m2", 2, owned=handed, instance_id="i2"), TOPICS, 1_002
    ).response
    assert static is not None and static.error_code is ErrorCode.NONE
    # Loaded members' sessions run: silent ones are fenced.
    moved.expire(2_000 + SESSION_MS)
    gone = moved.consumer_heartbeat(request("m1", 2, owned=kept), TOPICS, 50_000).response
    assert gone is not None and gone.error_code is ErrorCode.UNKNOWN_MEMBER_ID


def test_leaving_and_deleting_write_tombstones() -> None:
    rec = Recorder()
    rec.heartbeat(_join_request("m1"))
    rec.heartbeat(request("m1", 1, owned=None, member_epoch=-1))
    # The member's records are gone from the log's point of view; the group stays (Empty).
    reloaded = rec.reloaded()
    described = reloaded.describe_consumer_groups([GROUP])[0]
    assert described.error_code is ErrorCode.NONE and described.members == ()
    assert described.group_epoch == 2 and described.group_state == "Empty"
    result = rec.coord.delete_groups([GROUP], 0)
    assert result.response == {GROUP: ErrorCode.NONE}
    rec.log.extend((r.key, r.value) for r in result.records)
    assert GROUP not in rec.reloaded().groups


def test_records_use_kafkas_layout() -> None:
    """Keys: int16 record type and non-flexible strings; values: int16 version 0 and a
    flexible struct (written out by hand from Kafka's ConsumerGroup* definitions)."""
    from broker.core import consumer_group_records as records
    from broker.core.consumer_group import ConsumerGroup, ConsumerMember

    group = ConsumerGroup("g", group_epoch=7, assignment_epoch=6)
    written = records.group_records(group)
    key = records.encode_key(records.ConsumerRecordKey(records.GROUP_METADATA, "g"))
    assert key == b"\x00\x03\x00\x01g"
    assert written[key] == b"\x00\x00" + b"\x00\x00\x00\x07" + b"\x00"
    member = ConsumerMember("m", client_id="c", client_host="/h", member_epoch=7)
    member.assigned = {FOO: frozenset({1, 0})}
    group.members["m"] = member
    member_written = records.member_records(group, member)
    current_key = b"\x00\x08\x00\x01g\x00\x01m"
    assert member_written[current_key] == (
        b"\x00\x00"  # value version 0
        + b"\x00\x00\x00\x07"  # member epoch
        + b"\x00\x00\x00\x00"  # previous member epoch
        + b"\x02"  # state: STABLE
        + b"\x02" + FOO.bytes + b"\x03" + b"\x00\x00\x00\x00\x00\x00\x00\x01" + b"\x00"
        + b"\x01"  # no partitions pending revocation
        + b"\x00"  # tagged fields
    )  # fmt: skip
    assert records.decode_key(current_key) == records.ConsumerRecordKey(8, "g", "m")
