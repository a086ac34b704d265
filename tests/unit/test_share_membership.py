"""KIP-932 share groups in the group coordinator: one protocol per group id, the group's
own configs, session expiry, unloading, ListGroups / DeleteGroups / describe."""

from __future__ import annotations

import dataclasses
import uuid

from broker.core.consumer_group import HeartbeatRequest
from broker.core.group_coordinator import GroupCoordinator, GroupCoordinatorConfig
from broker.core.share_group import ShareHeartbeat
from client.protocol.errors import ErrorCode

TOPIC_ID = uuid.UUID(int=7)
TOPICS = {"t": (TOPIC_ID, 4)}
CONFIG = GroupCoordinatorConfig(
    offsets_topic_num_partitions=1,
    group_share_session_timeout_ms=1000,
    group_share_heartbeat_interval_ms=100,
    group_share_max_size=2,
)


def _coordinator() -> GroupCoordinator:
    return GroupCoordinator(CONFIG)


def _join(member: str) -> ShareHeartbeat:
    return ShareHeartbeat(member, 0, None, ("t",))


def test_a_member_joins_and_gets_every_partition_by_topic_id() -> None:
    coordinator = _coordinator()
    answer = coordinator.share_heartbeat("g", _join("m1"), TOPICS, 0)
    assert answer.error_code is ErrorCode.NONE
    assert answer.member_id == "m1" and answer.member_epoch == 1
    assert answer.heartbeat_interval_ms == 100
    assert answer.assignment == {TOPIC_ID: frozenset(range(4))}
    # An unchanged heartbeat carries no assignment.
    again = coordinator.share_heartbeat("g", ShareHeartbeat("m1", 1, None, None), TOPICS, 10)
    assert again.error_code is ErrorCode.NONE and again.assignment is None


def test_the_groups_own_configs_win_over_the_brokers() -> None:
    coordinator = _coordinator()
    configs = {"g": {"share.heartbeat.interval.ms": "250", "share.session.timeout.ms": "5000"}}
    coordinator.group_configs = lambda group_id: configs.get(group_id, {})
    assert coordinator.share_heartbeat("g", _join("m1"), TOPICS, 0).heartbeat_interval_ms == 250
    assert coordinator.share_heartbeat("h", _join("m1"), TOPICS, 0).heartbeat_interval_ms == 100
    assert coordinator.share_next_deadline_ms() == 1000  # group h's member, the broker's 1000
    coordinator.expire(1000)
    assert set(coordinator.share_groups["g"].members) == {"m1"}
    assert not coordinator.share_groups["h"].members


def test_a_silent_member_is_fenced_and_must_rejoin() -> None:
    coordinator = _coordinator()
    coordinator.share_heartbeat("g", _join("m1"), TOPICS, 0)
    coordinator.share_heartbeat("g", _join("m2"), TOPICS, 0)
    beat = coordinator.share_heartbeat("g", ShareHeartbeat("m1", 1, None, None), TOPICS, 900)
    assert beat.member_epoch == 2  # the group moved on when m2 joined
    assert coordinator.next_deadline_ms() == 1000
    coordinator.expire(1000)  # m2's session ran out
    assert set(coordinator.share_groups["g"].members) == {"m1"}
    late = coordinator.share_heartbeat("g", ShareHeartbeat("m2", 2, None, None), TOPICS, 1001)
    assert late.error_code is ErrorCode.UNKNOWN_MEMBER_ID
    back = coordinator.share_heartbeat("g", _join("m2"), TOPICS, 1002)
    assert back.error_code is ErrorCode.NONE and back.assignment is not None


def test_one_protocol_per_group_id() -> None:
    coordinator = _coordinator()
    coordinator.share_heartbeat("shared", _join("m1"), TOPICS, 0)
    joined = coordinator.join(
        group_id="shared",
        member_id="",
        group_instance_id=None,
        client_id="c",
        client_host="/h",
        session_timeout_ms=10_000,
        rebalance_timeout_ms=10_000,
        protocol_type="consumer",
        protocols=[("range", b"")],
        version=5,
        now_ms=0,
    )
    assert joined.response is not None
    assert joined.response.error_code is ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    heartbeat = HeartbeatRequest(
        group_id="shared", member_id="c1", member_epoch=0, instance_id=None, rack_id=None,
        rebalance_timeout_ms=10_000, subscribed_topic_names=("t",), subscribed_topic_regex=None,
        server_assignor=None, owned={}, client_id="c", client_host="/h", version=0,
    )  # fmt: skip
    consumer = coordinator.consumer_heartbeat(heartbeat, TOPICS, 0).response
    assert consumer is not None and consumer.error_code is ErrorCode.GROUP_ID_NOT_FOUND
    # And the other way round: a consumer group's id is not a share group's.
    other = dataclasses.replace(heartbeat, group_id="consumers")
    assert coordinator.consumer_heartbeat(other, TOPICS, 0).response is not None
    refused = coordinator.share_heartbeat("consumers", _join("m1"), TOPICS, 0)
    assert refused.error_code is ErrorCode.GROUP_ID_NOT_FOUND
    assert refused.error_message is not None and "not a share group" in refused.error_message


def test_max_size_and_bad_requests() -> None:
    coordinator = _coordinator()
    coordinator.share_heartbeat("g", _join("m1"), TOPICS, 0)
    coordinator.share_heartbeat("g", _join("m2"), TOPICS, 0)
    full = coordinator.share_heartbeat("g", _join("m3"), TOPICS, 0)
    assert full.error_code is ErrorCode.GROUP_MAX_SIZE_REACHED
    no_topics = coordinator.share_heartbeat("g", ShareHeartbeat("m4", 0, None, None), TOPICS, 0)
    assert no_topics.error_code is ErrorCode.INVALID_REQUEST
    assert coordinator.share_heartbeat("", _join("m1"), TOPICS, 0).error_code is (
        ErrorCode.INVALID_REQUEST
    )
    unknown = coordinator.share_heartbeat("nope", ShareHeartbeat("m1", 3, None, None), TOPICS, 0)
    assert unknown.error_code is ErrorCode.UNKNOWN_MEMBER_ID
    assert "nope" not in coordinator.share_groups


def test_list_delete_describe_and_unload() -> None:
    coordinator = _coordinator()
    coordinator.share_heartbeat("g", _join("m1"), TOPICS, 0)
    listed = coordinator.list_groups(types_filter=["Share"])
    assert [(g.group_id, g.group_type, g.group_state) for g in listed] == [("g", "share", "Stable")]
    assert coordinator.list_groups(types_filter=["classic"]) == []
    (described,) = coordinator.describe_share_groups(["g"], TOPICS)
    assert described.error_code is ErrorCode.NONE and described.group_state == "Stable"
    assert [m.assignment for m in described.members] == [{TOPIC_ID: frozenset(range(4))}]
    assert coordinator.delete_groups(["g"], 0).response == {"g": ErrorCode.NON_EMPTY_GROUP}
    leave = coordinator.share_heartbeat("g", ShareHeartbeat("m1", -1, None, None), TOPICS, 1)
    assert leave.error_code is ErrorCode.NONE and leave.member_epoch == -1
    assert coordinator.list_groups(states_filter=["empty"])[0].group_id == "g"
    assert coordinator.delete_groups(["g"], 2).response == {"g": ErrorCode.NONE}
    assert coordinator.describe_share_groups(["g"], TOPICS)[0].error_code is (
        ErrorCode.GROUP_ID_NOT_FOUND
    )
    coordinator.share_heartbeat("g", _join("m1"), TOPICS, 3)
    coordinator.unload_partition(0, 4)
    assert not coordinator.share_groups
