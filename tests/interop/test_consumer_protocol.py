"""KIP-848 consumer groups (``group.protocol=consumer``) with confluent-kafka (librdkafka):
one member takes every partition, a second one gets half of them handed over (revoked
first), the survivor takes everything back when the other leaves, committed offsets are
resumed by a later member, and the admin client lists and describes the group.

The broker heartbeats members every 250 ms (``group.consumer.heartbeat.interval.ms``) so the
handovers are quick; every wait is bounded and polls a condition.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupType, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.testing import BrokerFactory
from tests.support.waiting import wait_until

PARTITIONS = 6
DEADLINE_S = 30.0
SETTINGS = {
    "offsets.topic.num.partitions": "3",
    "group.consumer.heartbeat.interval.ms": "250",
    "group.consumer.session.timeout.ms": "10000",
    # Kafka's start-up checks: each value within its min/max bound.
    "group.consumer.min.heartbeat.interval.ms": "250",
    "group.consumer.min.session.timeout.ms": "10000",
}


@pytest.fixture
def bootstrap(kafka_broker_factory: BrokerFactory) -> str:
    return str(kafka_broker_factory.start(SETTINGS).bootstrap)


def _topic(bootstrap: str) -> str:
    name = f"kip848-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(DEADLINE_S)
    return name


def _produce(bootstrap: str, topic: str, prefix: str, count: int) -> set[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = set()
    for index in range(count):
        value = f"{prefix}-{index}".encode()
        producer.produce(topic, value, partition=index % PARTITIONS)
        values.add(value)
    assert producer.flush(DEADLINE_S) == 0
    return values


def _consumer(bootstrap: str, group: str, **extra: Any) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )


class Member:
    """A subscribed consumer polled by the test; remembers what it read."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.consumer = _consumer(bootstrap, group)
        self.consumer.subscribe([topic])
        self.values: list[bytes] = []

    def poll(self) -> None:
        for message in self.consumer.consume(100, timeout=0.1):
            if message.error() is None:
                self.values.append(message.value())

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}


@pytest.fixture
def members() -> Iterator[list[Member]]:
    made: list[Member] = []
    yield made
    for member in made:
        member.consumer.close()


def _poll_until(members: list[Member], check: Any, what: str) -> None:
    def polled() -> bool:
        for member in members:
            member.poll()
        return bool(check())

    wait_until(polled, what=what, timeout_s=DEADLINE_S)


def test_members_share_partitions_and_hand_them_over(bootstrap: str, members: list[Member]) -> None:
    topic = _topic(bootstrap)
    group = f"g-{uuid.uuid4().hex[:8]}"
    first_batch = _produce(bootstrap, topic, "one", 60)
    a = Member(bootstrap, group, topic)
    members.append(a)
    _poll_until([a], lambda: set(a.values) >= first_batch, "the first member reads everything")
    assert a.partitions() == set(range(PARTITIONS))
    a.consumer.commit(asynchronous=False)

    b = Member(bootstrap, group, topic)
    members.append(b)
    _poll_until(
        [a, b],
        lambda: len(a.partitions()) == len(b.partitions()) == PARTITIONS // 2,
        "an even split",
    )
    assert not a.partitions() & b.partitions()
    second_batch = _produce(bootstrap, topic, "two", 60)
    _poll_until(
        [a, b],
        lambda: second_batch <= set(a.values) | set(b.values),
        "both members read the second batch",
    )
    assert len(a.values) + len(b.values) == 120, "a record was read twice"
    a.consumer.commit(asynchronous=False)
    b.consumer.commit(asynchronous=False)

    a.consumer.close()
    members.remove(a)
    _poll_until([b], lambda: b.partitions() == set(range(PARTITIONS)), "b takes everything")
    third_batch = _produce(bootstrap, topic, "three", 30)
    _poll_until([b], lambda: third_batch <= set(b.values), "b reads the third batch")
    b.consumer.commit(asynchronous=False)
    b.consumer.close()
    members.remove(b)

    # A later member resumes at the committed offsets: nothing is read again.
    fourth_batch = _produce(bootstrap, topic, "four", 12)
    c = Member(bootstrap, group, topic)
    members.append(c)
    _poll_until([c], lambda: fourth_batch <= set(c.values), "a new member resumes")
    c.poll()
    assert set(c.values) == fourth_batch


def test_admin_lists_and_describes_a_consumer_group(bootstrap: str, members: list[Member]) -> None:
    topic = _topic(bootstrap)
    group = f"g-{uuid.uuid4().hex[:8]}"
    _produce(bootstrap, topic, "x", 6)
    a = Member(bootstrap, group, topic)
    members.append(a)
    _poll_until([a], lambda: len(a.values) == 6, "the member reads")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=DEADLINE_S).result(DEADLINE_S)
    found = {g.group_id: g for g in listed.valid}
    assert group in found
    assert found[group].type == ConsumerGroupType.CONSUMER
    described = admin.describe_consumer_groups([group], request_timeout=DEADLINE_S)
    description = described[group].result(DEADLINE_S)
    assert description.group_id == group
    assert len(description.members) == 1
    assigned = {tp.partition for tp in description.members[0].assignment.topic_partitions}
    assert assigned == set(range(PARTITIONS))


def test_a_classic_member_cannot_join_a_consumer_group(
    bootstrap: str, members: list[Member]
) -> None:
    topic = _topic(bootstrap)
    group = f"g-{uuid.uuid4().hex[:8]}"
    _produce(bootstrap, topic, "x", 6)
    a = Member(bootstrap, group, topic)
    members.append(a)
    _poll_until([a], lambda: len(a.values) == 6, "the member reads")
    errors: list[Any] = []
    classic = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "error_cb": errors.append,
        }
    )
    try:
        classic.subscribe([topic])

        def refused() -> bool:
            message = classic.poll(0.2)
            if message is not None and message.error() is not None:
                errors.append(message.error())
            return bool(errors)

        wait_until(refused, what="the classic member is refused", timeout_s=DEADLINE_S)
        assert "INCONSISTENT_GROUP_PROTOCOL" in str(errors[0]) or "protocol" in str(errors[0])
        assert not classic.assignment()
    finally:
        classic.close()
