"""AdminClient's group calls (async and blocking) against groups formed by real clients.

The broker holds two groups on one 3-partition topic of 10 records per partition: ``closed``,
formed by kafka-python, which committed partitions 0 and 1 and left (Empty); and ``active``,
one confluent-kafka member that owns every partition, committed partition 2 and stays (Stable).
Waits are bounded polls of the clients, never sleeps.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import confluent_kafka
import kafka
import pytest

from broker.testing import BrokerFactory
from client import blocking_admin
from client.admin import AdminClient, NewTopic
from client.admin_groups import (
    GroupDescription,
    OffsetAndMetadata,
    PartitionLag,
    decode_consumer_assignment,
    lag_from,
)
from client.errors import (
    GroupIdNotFoundError,
    GroupSubscribedToTopicError,
    KafkaProtocolError,
    NonEmptyGroupError,
    UnknownTopicOrPartitionError,
)
from client.metadata import TopicPartition

BROKER_SETTINGS = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}
PARTITIONS = 3
RECORDS_PER_PARTITION = 10
DEADLINE_S = 20.0
POLL_S = 0.2
SESSION_TIMEOUT_MS = 6000
ACTIVE_CLIENT_ID = "active-client"
# What each group committed: (offset, metadata) by partition.
CLOSED_COMMITS = {0: (4, "checkpoint"), 1: (7, "")}
ACTIVE_COMMITS = {2: (5, "")}


@dataclass(frozen=True)
class Groups:
    """Where the groups live and what they are called."""

    bootstrap: str
    topic: str
    active: str
    closed: str

    def tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)


def _produce(bootstrap: str, topic: str) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    for partition in range(PARTITIONS):
        for index in range(RECORDS_PER_PARTITION):
            producer.produce(topic, b"v%d" % index, partition=partition)
    assert producer.flush(DEADLINE_S) == 0


def _form_closed_group(bootstrap: str, topic: str, group: str) -> None:
    """kafka-python joins, commits CLOSED_COMMITS and leaves (LeaveGroup on close).

    It subscribes only once it has the topic's metadata: subscribed at construction,
    kafka-python 3.0 may join before knowing the partitions, assign nothing, and lose the
    SyncGroup answer of the rebalance that follows (seen about one run in two).
    """
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=1000,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            consumer.poll(timeout_ms=int(POLL_S * 1000))
        consumer.subscribe([topic])
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=int(POLL_S * 1000))
        assert len(consumer.assignment()) == PARTITIONS
        consumer.commit(
            {
                kafka.TopicPartition(topic, partition): kafka.OffsetAndMetadata(offset, meta, -1)
                for partition, (offset, meta) in CLOSED_COMMITS.items()
            }
        )
    finally:
        consumer.close()


@contextlib.contextmanager
def _active_group(bootstrap: str, topic: str, group: str) -> Iterator[None]:
    """A confluent-kafka member owning every partition, ACTIVE_COMMITS committed, until exit."""
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": ACTIVE_CLIENT_ID,
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + DEADLINE_S
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(POLL_S)
        assert len(consumer.assignment()) == PARTITIONS
        offsets = [
            confluent_kafka.TopicPartition(topic, partition, offset)
            for partition, (offset, _) in ACTIVE_COMMITS.items()
        ]
        consumer.commit(offsets=offsets, asynchronous=False)
        yield
    finally:
        consumer.close()


@contextlib.contextmanager
def consumer_groups(factory: BrokerFactory) -> Iterator[Groups]:
    """A broker with the module docstring's two groups (the active one until exit)."""
    broker = factory.start(BROKER_SETTINGS)
    suffix = uuid.uuid4().hex[:8]
    groups = Groups(broker.bootstrap, f"orders-{suffix}", f"active-{suffix}", f"closed-{suffix}")
    with blocking_admin.AdminClient(bootstrap_servers=groups.bootstrap) as admin:
        admin.create_topics([NewTopic(groups.topic, PARTITIONS, 1)])
    _produce(groups.bootstrap, groups.topic)
    _form_closed_group(groups.bootstrap, groups.topic, groups.closed)
    with _active_group(groups.bootstrap, groups.topic, groups.active):
        yield groups


@pytest.fixture
def groups(kafka_broker_factory: BrokerFactory) -> Iterator[Groups]:
    with consumer_groups(kafka_broker_factory) as made:
        yield made


def admin_for(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap}, default_api_timeout_ms=20_000)


def expected_closed_lag(groups: Groups) -> dict[TopicPartition, PartitionLag]:
    return {
        groups.tp(partition): PartitionLag(
            offset, RECORDS_PER_PARTITION, RECORDS_PER_PARTITION - offset, None
        )
        for partition, (offset, _) in CLOSED_COMMITS.items()
    }


def check_active_description(description: GroupDescription, groups: Groups) -> str:
    """The active group as described; returns its one member's id."""
    assert (description.state, description.protocol_type) == ("Stable", "consumer")
    assert description.protocol in ("range", "roundrobin", "cooperative-sticky")
    (member,) = description.members
    assert member.client_id == ACTIVE_CLIENT_ID
    assert isinstance(member.client_host, str)
    assert member.assignment == tuple(groups.tp(p) for p in range(PARTITIONS))
    assert decode_consumer_assignment(member.member_assignment) == member.assignment
    return member.member_id


def check_active_lag(lags: dict[TopicPartition, PartitionLag], groups: Groups, member: str) -> None:
    expected = {}
    for partition in range(PARTITIONS):
        committed = ACTIVE_COMMITS.get(partition, (None, ""))[0]
        lag = None if committed is None else RECORDS_PER_PARTITION - committed
        expected[groups.tp(partition)] = PartitionLag(committed, RECORDS_PER_PARTITION, lag, member)
    assert lags == expected


# -- sans-IO ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 3])
def test_decode_consumer_assignment_matches_kafka_python(version: int) -> None:
    from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment

    encoded = ConsumerProtocolAssignment(version, [("t", [2, 0]), ("u", [1])], b"user").encode()
    expected = (TopicPartition("t", 0), TopicPartition("t", 2), TopicPartition("u", 1))
    assert decode_consumer_assignment(bytes(encoded)) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"\x00",  # half a version
        b"\xff\xff\x00\x00\x00\x00",  # negative version
        b"\x00\x00\x7f\xff\xff\xff",  # a count the bytes cannot hold
        b"\x00\x00\x00\x00\x00\x01\x00\x05ab",  # a topic name cut short
        b"\x00\x00\x00\x00\x00\x01\x00\x01\xff\x00\x00\x00\x00",  # not UTF-8
    ],
)
def test_decode_consumer_assignment_rejects_garbage(data: bytes) -> None:
    with pytest.raises(KafkaProtocolError):
        decode_consumer_assignment(data)


def test_decode_empty_assignment_is_no_partitions() -> None:
    assert decode_consumer_assignment(b"") == ()


def test_lag_from_covers_committed_and_assigned_partitions() -> None:
    a0, a1, b0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
    lags = lag_from(
        committed={a0: OffsetAndMetadata(3, metadata=""), b0: OffsetAndMetadata(9, metadata="m")},
        assigned={a0: "m1", a1: "m2"},
        high_watermarks={a0: 10, a1: 4},  # b0 has no leader
    )
    assert lags == {
        a0: PartitionLag(3, 10, 7, "m1"),
        a1: PartitionLag(None, 4, None, "m2"),
        b0: PartitionLag(9, None, None, None),
    }


# -- against a broker ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_describe_offsets_and_lag(groups: Groups) -> None:
    async with admin_for(groups.bootstrap) as admin:
        listed = {group.group_id: group for group in await admin.list_groups()}
        assert {groups.active, groups.closed} <= set(listed)
        assert (listed[groups.active].state, listed[groups.active].protocol_type) == (
            "Stable",
            "consumer",
        )
        assert listed[groups.closed].state == "Empty"
        stable = await admin.list_groups(states=["Stable"])
        assert [group.group_id for group in stable] == [groups.active]

        described = await admin.describe_groups([groups.active, groups.closed])
        assert list(described) == [groups.active, groups.closed]
        member = check_active_description(described[groups.active], groups)
        assert (described[groups.closed].state, described[groups.closed].members) == ("Empty", ())

        assert await admin.list_group_offsets(groups.closed) == {
            groups.tp(partition): OffsetAndMetadata(offset, metadata=meta)
            for partition, (offset, meta) in CLOSED_COMMITS.items()
        }
        assert await admin.list_group_offsets("no-such-group") == {}
        assert await admin.group_lag(groups.closed) == expected_closed_lag(groups)
        check_active_lag(await admin.group_lag(groups.active), groups, member)

        with pytest.raises(GroupIdNotFoundError, match="no-such-group"):
            await admin.describe_groups(["no-such-group"])
        with pytest.raises(GroupIdNotFoundError):
            await admin.group_lag("no-such-group")


@pytest.mark.anyio
async def test_delete_groups(groups: Groups) -> None:
    async with admin_for(groups.bootstrap) as admin:
        results = await admin.delete_groups(
            [groups.active, groups.closed, "no-such-group"], raise_errors=False
        )
        assert list(results) == [groups.active, groups.closed, "no-such-group"]
        assert isinstance(results[groups.active], NonEmptyGroupError)
        assert results[groups.closed] is None
        assert isinstance(results["no-such-group"], GroupIdNotFoundError)

        assert groups.closed not in {group.group_id for group in await admin.list_groups()}
        assert await admin.list_group_offsets(groups.closed) == {}
        with pytest.raises(GroupIdNotFoundError):
            await admin.describe_groups([groups.closed])
        with pytest.raises(NonEmptyGroupError):
            await admin.delete_groups([groups.active])


@pytest.mark.anyio
async def test_delete_group_offsets(groups: Groups) -> None:
    async with admin_for(groups.bootstrap) as admin:
        # The Empty group loses what is asked for; a partition without a commit is no error.
        deleted = await admin.delete_group_offsets(groups.closed, [groups.tp(0), groups.tp(2)])
        assert deleted == {groups.tp(0): None, groups.tp(2): None}
        assert list(await admin.list_group_offsets(groups.closed)) == [groups.tp(1)]
        # The Stable group's member subscribes to the topic: its offsets stay.
        kept = await admin.delete_group_offsets(groups.active, [groups.tp(2)], raise_errors=False)
        assert list(kept) == [groups.tp(2)]
        assert isinstance(kept[groups.tp(2)], GroupSubscribedToTopicError)
        with pytest.raises(GroupSubscribedToTopicError):
            await admin.delete_group_offsets(groups.active, [groups.tp(2)])
        assert list(await admin.list_group_offsets(groups.active)) == [groups.tp(2)]
        unknown = TopicPartition("no-such-topic", 0)
        missing = await admin.delete_group_offsets(groups.closed, [unknown], raise_errors=False)
        assert isinstance(missing[unknown], UnknownTopicOrPartitionError)
        with pytest.raises(GroupIdNotFoundError):
            await admin.delete_group_offsets("no-such-group", [groups.tp(1)])
    with blocking_admin.AdminClient(
        bootstrap_servers=groups.bootstrap, default_api_timeout_ms=20_000
    ) as blocking:
        assert blocking.delete_group_offsets(groups.closed, [groups.tp(1)]) == {groups.tp(1): None}
        assert blocking.list_group_offsets(groups.closed) == {}


def test_blocking_admin_groups(groups: Groups) -> None:
    with blocking_admin.AdminClient(
        bootstrap_servers=groups.bootstrap, default_api_timeout_ms=20_000
    ) as admin:
        listed = {group.group_id: group.state for group in admin.list_groups()}
        assert (listed[groups.active], listed[groups.closed]) == ("Stable", "Empty")
        assert [group.group_id for group in admin.list_groups(states=["Empty"])] == [groups.closed]

        member = check_active_description(
            admin.describe_groups([groups.active])[groups.active], groups
        )
        check_active_lag(admin.group_lag(groups.active), groups, member)
        assert admin.group_lag(groups.closed) == expected_closed_lag(groups)
        assert set(admin.list_group_offsets(groups.active)) == {groups.tp(2)}

        with pytest.raises(NonEmptyGroupError):
            admin.delete_groups([groups.active])
        assert admin.delete_groups([groups.closed]) == {groups.closed: None}
        with pytest.raises(GroupIdNotFoundError):
            admin.describe_groups([groups.closed])
