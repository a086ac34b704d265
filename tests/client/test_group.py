"""The sans-IO group member against a scripted coordinator: no sockets, no clock (``now_ms`` is
an argument).  Each test plays the coordinator's answers and checks the requests, events and
state the member produces."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from construct import Container

from client.config import ConsumerConfig
from client.consumer_protocol import (
    Assignment,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from client.errors import KafkaError, NotCoordinatorError
from client.group import (
    FIND_COORDINATOR,
    HEARTBEAT,
    JOIN_GROUP,
    LEAVE_GROUP,
    SYNC_GROUP,
    CommitFailedError,
    Coordinator,
    GroupMember,
    GroupRequest,
    MemberState,
    OffsetAndMetadata,
    PartitionsAssigned,
    PartitionsRevoked,
)
from client.metadata import ClusterMetadata, PartitionMetadata, TopicMetadata, TopicPartition
from client.protocol.errors import ErrorCode

T = TopicPartition
COORDINATOR = Coordinator(1, "127.0.0.1", 9092)
HEARTBEAT_MS = 100
POLL_INTERVAL_MS = 10_000


def metadata(**topics: int) -> ClusterMetadata:
    described = {
        name: TopicMetadata(
            name,
            uuid.uuid4(),
            name.startswith("__"),
            {p: PartitionMetadata(name, p, 1, 0, (1,), (1,)) for p in range(count)},
        )
        for name, count in topics.items()
    }
    return ClusterMetadata(topics=described)


def make_member(**settings: Any) -> GroupMember:
    base: dict[str, Any] = {
        "bootstrap_servers": "k:9092",
        "group_id": "g",
        "heartbeat_interval_ms": HEARTBEAT_MS,
        "session_timeout_ms": 1000,
        "max_poll_interval_ms": POLL_INTERVAL_MS,
        "retry_backoff_ms": 50,
        "partition_assignment_strategy": ["range"],
    }
    return GroupMember(ConsumerConfig.from_settings({**base, **settings}))


def answer(**fields: Any) -> Container:
    return Container(error_code=ErrorCode.NONE, **fields)


def expect(request: GroupRequest | None, api_key: int) -> GroupRequest:
    assert request is not None and request.api_key == api_key, request
    return request


class Script:
    """Drives one member through the protocol with the coordinator's answers."""

    def __init__(self, member: GroupMember, meta: ClusterMetadata) -> None:
        self.member = member
        self.meta = meta
        self.now_ms = 0.0

    def poll(self) -> GroupRequest | None:
        return self.member.poll(self.now_ms, self.meta)

    def find(self) -> None:
        request = expect(self.poll(), FIND_COORDINATOR)
        assert request.body == {"key": "g", "key_type": 0}
        self.member.handle_response(request, answer(node_id=1, host="127.0.0.1", port=9092), 0)
        assert self.member.coordinator == COORDINATOR

    def join(
        self,
        generation: int = 1,
        member_id: str = "m1",
        others: tuple[tuple[str, Subscription], ...] = (),
    ) -> GroupRequest:
        """Answer the next JoinGroup (as leader if ``others`` or alone) and return the SyncGroup."""
        request = expect(self.poll(), JOIN_GROUP)
        own = request.body["protocols"][0]["metadata"]
        members = [Container(member_id=member_id, group_instance_id=None, metadata=own)]
        members += [
            Container(member_id=mid, group_instance_id=None, metadata=encode_subscription(sub))
            for mid, sub in others
        ]
        response = answer(
            generation_id=generation,
            protocol_name=request.body["protocols"][0]["name"],
            leader=member_id,
            member_id=member_id,
            members=members,
        )
        self.member.handle_response(request, response, self.now_ms)
        return expect(self.poll(), SYNC_GROUP)

    def sync(self, request: GroupRequest, partitions: list[TopicPartition]) -> None:
        data = encode_assignment(Assignment(tuple(partitions)))
        self.member.handle_response(request, answer(assignment=data), self.now_ms)

    def events(self) -> list[PartitionsRevoked | PartitionsAssigned]:
        out = []
        while (event := self.member.take_event()) is not None:
            out.append(event)
            self.member.event_done()
        return out

    def stable(self, partitions: list[TopicPartition], generation: int = 1) -> None:
        self.find()
        sync = self.join(generation)
        self.sync(sync, partitions)
        assert self.events() == [PartitionsAssigned(frozenset(partitions), frozenset(partitions))]
        assert self.member.state is MemberState.STABLE


def test_find_join_sync_heartbeat() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=3))
    script.find()
    first = expect(script.poll(), JOIN_GROUP)
    assert first.body["member_id"] == "" and first.body["protocol_type"] == "consumer"
    assert first.body["rebalance_timeout_ms"] == POLL_INTERVAL_MS
    assert decode_subscription(first.body["protocols"][0]["metadata"]).topics == ("t",)
    assert script.poll() is None  # one join at a time
    # KIP-394: the first join is answered with a member id to rejoin with.
    member.handle_response(first, Container(error_code=79, member_id="m1"), 0)
    sync = script.join()
    assert sync.body["generation_id"] == 1 and sync.body["member_id"] == "m1"
    (only,) = sync.body["assignments"]
    assert only["member_id"] == "m1"
    assert decode_assignment(only["assignment"]).partitions == (T("t", 0), T("t", 1), T("t", 2))
    script.sync(sync, [T("t", 0), T("t", 1), T("t", 2)])
    assert member.state.name == "ASSIGNING"
    assert member.poll(0, script.meta) is None  # the assignment must be applied first
    everything = frozenset({T("t", 0), T("t", 1), T("t", 2)})
    assert script.events() == [PartitionsAssigned(everything, everything)]
    assert member.state is MemberState.STABLE
    assert member.heartbeat(HEARTBEAT_MS - 1) is None
    assert member.heartbeat_deadline_ms() == HEARTBEAT_MS
    beat = expect(member.heartbeat(HEARTBEAT_MS), HEARTBEAT)
    assert beat.body == {
        "group_id": "g",
        "generation_id": 1,
        "member_id": "m1",
        "group_instance_id": None,
    }
    assert member.heartbeat(HEARTBEAT_MS * 5) is None  # one in flight
    member.handle_response(beat, answer(), HEARTBEAT_MS)
    assert member.heartbeat_deadline_ms() == 2 * HEARTBEAT_MS


def test_follower_sends_no_assignments() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=2))
    script.find()
    request = expect(script.poll(), JOIN_GROUP)
    response = answer(
        generation_id=4, protocol_name="range", leader="other", member_id="m2", members=[]
    )
    member.handle_response(request, response, 0)
    sync = expect(script.poll(), SYNC_GROUP)
    assert sync.body["assignments"] == []
    assert member.wanted_topics() == frozenset({"t"})


def test_rebalance_in_progress_eager_revokes_all_then_rejoins() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=2))
    script.stable([T("t", 0), T("t", 1)])
    beat = expect(member.heartbeat(HEARTBEAT_MS), HEARTBEAT)
    member.handle_response(beat, Container(error_code=27), HEARTBEAT_MS)
    assert script.poll() is None  # the revocation comes first
    assert script.events() == [PartitionsRevoked(frozenset({T("t", 0), T("t", 1)}), lost=False)]
    assert member.in_generation  # the commit on revocation still has a generation
    rejoin = expect(script.poll(), JOIN_GROUP)
    assert rejoin.body["member_id"] == "m1"
    subscription = decode_subscription(rejoin.body["protocols"][0]["metadata"])
    assert subscription.owned_partitions == (T("t", 0), T("t", 1))  # stickiness hint
    assert subscription.generation_id == 1


@pytest.mark.parametrize(
    ("code", "member_id_after"),
    [(ErrorCode.ILLEGAL_GENERATION, "m1"), (ErrorCode.UNKNOWN_MEMBER_ID, "")],
)
def test_generation_errors_lose_the_partitions(code: ErrorCode, member_id_after: str) -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=1))
    script.stable([T("t", 0)])
    beat = expect(member.heartbeat(HEARTBEAT_MS), HEARTBEAT)
    member.handle_response(beat, Container(error_code=code), HEARTBEAT_MS)
    assert script.events() == [PartitionsRevoked(frozenset({T("t", 0)}), lost=True)]
    assert not member.in_generation and member.member_id == member_id_after
    with pytest.raises(CommitFailedError):
        member.commit_request({T("t", 0): OffsetAndMetadata(3)})
    rejoin = expect(script.poll(), JOIN_GROUP)
    assert rejoin.body["member_id"] == member_id_after
    assert decode_subscription(rejoin.body["protocols"][0]["metadata"]).owned_partitions == ()


def test_not_coordinator_rediscovers_without_rejoining() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=1))
    script.stable([T("t", 0)])
    beat = expect(member.heartbeat(HEARTBEAT_MS), HEARTBEAT)
    member.handle_response(beat, Container(error_code=ErrorCode.NOT_COORDINATOR), HEARTBEAT_MS)
    assert member.coordinator is None and member.heartbeat(10_000) is None
    script.now_ms = HEARTBEAT_MS
    script.find()
    assert script.poll() is None and member.state is MemberState.STABLE
    assert member.heartbeat(HEARTBEAT_MS * 3) is not None


def test_join_errors_rediscover_and_back_off() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=1))
    script.find()
    join = expect(script.poll(), JOIN_GROUP)
    member.handle_response(join, Container(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE), 0)
    assert member.coordinator is None and member.state is MemberState.UNJOINED
    script.find()
    assert script.poll() is None  # retry.backoff.ms first
    assert member.poll_deadline_ms() == 50
    script.now_ms = 50
    join = expect(script.poll(), JOIN_GROUP)
    member.handle_failure(join, KafkaError("connection reset"), 50)
    assert member.coordinator is None


def test_fatal_join_error_is_kept_for_the_user() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=1))
    script.find()
    join = expect(script.poll(), JOIN_GROUP)
    member.handle_response(join, Container(error_code=ErrorCode.INCONSISTENT_GROUP_PROTOCOL), 0)
    error = member.take_error()
    assert error is not None and error.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert member.take_error() is None and member.state is MemberState.UNJOINED


def test_stale_answers_are_ignored() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=1))
    script.stable([T("t", 0)])
    beat = expect(member.heartbeat(HEARTBEAT_MS), HEARTBEAT)
    member.request_rejoin("test")
    assert script.events() == [] and script.poll() is None
    script.events()
    expect(script.poll(), JOIN_GROUP)  # a new round
    member.handle_response(beat, Container(error_code=ErrorCode.UNKNOWN_MEMBER_ID), 1)
    assert member.member_id == "m1" and member.state is MemberState.JOINING


def test_cooperative_revokes_only_what_moves_then_rejoins() -> None:
    member = make_member(partition_assignment_strategy=["cooperative-sticky"])
    member.subscribe(["t"])
    script = Script(member, metadata(t=4))
    everything = [T("t", p) for p in range(4)]
    script.stable(everything)
    member.request_rejoin("a member joined")
    assert script.events() == []  # nothing revoked before a cooperative join
    sync = script.join(generation=2, others=(("m2", Subscription(("t",), generation_id=-1)),))
    by_member = {
        a["member_id"]: decode_assignment(a["assignment"]) for a in sync.body["assignments"]
    }
    kept = set(by_member["m1"].partitions)
    assert len(kept) == 2 and by_member["m2"].partitions == ()  # withheld until revoked
    script.sync(sync, sorted(kept))
    revoked = frozenset(everything) - kept
    assert script.events() == [
        PartitionsRevoked(revoked, lost=False),
        PartitionsAssigned(frozenset(kept), frozenset()),
    ]
    rejoin = expect(script.poll(), JOIN_GROUP)  # second phase
    subscription = decode_subscription(rejoin.body["protocols"][0]["metadata"])
    assert set(subscription.owned_partitions) == kept and subscription.generation_id == 2


def test_poll_timeout_leaves_and_next_poll_rejoins() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=1))
    member.note_poll(0)
    script.stable([T("t", 0)])
    beat = expect(member.heartbeat(HEARTBEAT_MS), HEARTBEAT)
    member.handle_response(beat, answer(), HEARTBEAT_MS)
    leave = expect(member.heartbeat(POLL_INTERVAL_MS + 1), LEAVE_GROUP)
    assert leave.body["members"][0]["member_id"] == "m1"
    assert script.events() == [PartitionsRevoked(frozenset({T("t", 0)}), lost=True)]
    script.now_ms = POLL_INTERVAL_MS + 100
    assert script.poll() is None and member.poll_deadline_ms() is None
    assert member.note_poll(script.now_ms)
    assert expect(script.poll(), JOIN_GROUP).body["member_id"] == ""


def test_close_dynamic_leaves_static_does_not() -> None:
    dynamic = make_member()
    dynamic.subscribe(["t"])
    Script(dynamic, metadata(t=1)).stable([T("t", 0)])
    leave = expect(dynamic.close(), LEAVE_GROUP)
    assert leave.coordinator == COORDINATOR and dynamic.state is MemberState.LEFT
    static = make_member(group_instance_id="host-1")
    static.subscribe(["t"])
    script = Script(static, metadata(t=1))
    script.find()
    join = expect(script.poll(), JOIN_GROUP)
    assert join.body["group_instance_id"] == "host-1"
    assert static.close() is None  # KIP-345: keep the assignment for session.timeout.ms
    assert script.poll() is None


def test_commit_bodies_and_errors() -> None:
    member = make_member()
    member.subscribe(["t"])
    script = Script(member, metadata(t=2))
    script.stable([T("t", 0), T("t", 1)])
    request = member.commit_request(
        {T("t", 1): OffsetAndMetadata(7, 3, "m"), T("t", 0): OffsetAndMetadata(5)}
    )
    assert request.body["generation_id_or_member_epoch"] == 1
    assert request.body["member_id"] == "m1"
    (topic,) = request.body["topics"]
    assert [p["committed_offset"] for p in topic["partitions"]] == [5, 7]
    assert topic["partitions"][1]["committed_leader_epoch"] == 3

    def reply(code: int) -> Container:
        partitions = [Container(partition_index=0, error_code=code)]
        return Container(topics=[Container(name="t", partitions=partitions)])

    member.read_commit(request, reply(0), 0)
    with pytest.raises(NotCoordinatorError):
        member.read_commit(request, reply(ErrorCode.NOT_COORDINATOR), 0)
    assert member.coordinator is None
    script.find()
    with pytest.raises(CommitFailedError):
        member.read_commit(request, reply(ErrorCode.REBALANCE_IN_PROGRESS), 0)
    assert script.poll() is None  # the rejoin starts: eager revokes everything first
    assert script.events() == [PartitionsRevoked(frozenset({T("t", 0), T("t", 1)}))]


def test_offset_fetch_round_trip() -> None:
    member = make_member()
    member.subscribe(["t"])
    Script(member, metadata(t=3)).find()
    request = member.offset_fetch_request([T("t", 2), T("t", 0)])
    assert request.body["topics"] == [{"name": "t", "partition_indexes": [0, 2]}]
    partitions = [
        Container(
            partition_index=0,
            committed_offset=9,
            committed_leader_epoch=2,
            metadata="",
            error_code=0,
        ),
        Container(
            partition_index=2,
            committed_offset=-1,
            committed_leader_epoch=-1,
            metadata=None,
            error_code=0,
        ),
    ]
    response = Container(error_code=0, topics=[Container(name="t", partitions=partitions)])
    assert member.read_offset_fetch(request, response, 0) == {T("t", 0): OffsetAndMetadata(9, 2)}
    with pytest.raises(KafkaError):
        member.read_offset_fetch(request, Container(error_code=14, topics=[]), 0)


def test_pattern_and_metadata_changes_rejoin() -> None:
    member = make_member()
    member.subscribe(pattern=re.compile(r"orders-.*"))
    script = Script(member, metadata(**{"orders-a": 1, "other": 1, "__consumer_offsets": 5}))
    script.find()
    join = expect(script.poll(), JOIN_GROUP)
    assert member.subscription == frozenset({"orders-a"})
    response = answer(
        generation_id=1,
        protocol_name="range",
        leader="m1",
        member_id="m1",
        members=[
            Container(
                member_id="m1",
                group_instance_id=None,
                metadata=join.body["protocols"][0]["metadata"],
            )
        ],
    )
    member.handle_response(join, response, 0)
    script.sync(expect(script.poll(), SYNC_GROUP), [T("orders-a", 0)])
    script.events()
    script.meta = metadata(**{"orders-a": 2, "orders-b": 1})  # leader: count changed; new match
    assert script.poll() is None  # eager: revoke first
    assert member.subscription == frozenset({"orders-a", "orders-b"})
    assert script.events() == [PartitionsRevoked(frozenset({T("orders-a", 0)}))]
    rejoin = expect(script.poll(), JOIN_GROUP)
    assert decode_subscription(rejoin.body["protocols"][0]["metadata"]).topics == (
        "orders-a",
        "orders-b",
    )
