"""Consumer groups with unmodified clients: join, consume, commit, resume after a broker
restart, and a two-member rebalance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer
from kafka import KafkaConsumer, TopicPartition

from broker.testing import BrokerFactory

RECORDS = 30
DEADLINE_S = 20.0
GROUP_SETTINGS = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "5",
    "num.partitions": "3",
}


def _produce(bootstrap: str, topic: str, count: int = RECORDS, start: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for index in range(start, start + count):
        producer.produce(topic, b"v-%03d" % index)
    assert producer.flush(DEADLINE_S) == 0


def _confluent_group_read(bootstrap: str, topic: str, group: str, want: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(values) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
        if values:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def _kafka_python_group_read(bootstrap: str, topic: str, group: str, want: int) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(values) < want and time.monotonic() < deadline:
            for message in consumer:
                values.append(message.value)
                if len(values) >= want:
                    break
        if values:
            consumer.commit()
    finally:
        consumer.close()
    return values


def _aiokafka_group_read(bootstrap: str, topic: str, group: str, want: int) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    async def run() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        values: list[bytes] = []
        deadline = time.monotonic() + DEADLINE_S
        try:
            while len(values) < want and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    values += [record.value for record in records]
            if values:
                await consumer.commit()
        finally:
            await consumer.stop()
        return values

    return asyncio.run(run())


READERS: dict[str, Callable[[str, str, str, int], list[bytes]]] = {
    "confluent-kafka": _confluent_group_read,
    "kafka-python": _kafka_python_group_read,
    "aiokafka": _aiokafka_group_read,
}


def _check_group_resumes(factory: BrokerFactory, topic: str, reader: str) -> None:
    broker = factory.start(GROUP_SETTINGS, subprocess=True)
    read = READERS[reader]
    _produce(broker.bootstrap, topic)
    first = read(broker.bootstrap, topic, "g", RECORDS)
    assert sorted(first) == [b"v-%03d" % i for i in range(RECORDS)]
    broker.kill()  # type: ignore[union-attr]
    again = factory.start(GROUP_SETTINGS, subprocess=True, data_dir=broker.data_dir)
    _produce(again.bootstrap, topic, 5, RECORDS)
    # The committed offsets survived the crash: only the new records come back.
    second = read(again.bootstrap, topic, "g", 5)
    assert sorted(second) == [b"v-%03d" % i for i in range(RECORDS, RECORDS + 5)]


def test_confluent_group_commit_survives_kill9(
    kafka_broker_factory: BrokerFactory, new_topic_name: Callable[[str], str]
) -> None:
    _check_group_resumes(kafka_broker_factory, new_topic_name(""), "confluent-kafka")


def test_kafka_python_group_commit_survives_kill9(
    kafka_broker_factory: BrokerFactory, new_topic_name: Callable[[str], str]
) -> None:
    _check_group_resumes(kafka_broker_factory, new_topic_name(""), "kafka-python")


def test_aiokafka_group_commit_survives_kill9(
    kafka_broker_factory: BrokerFactory, new_topic_name: Callable[[str], str]
) -> None:
    _check_group_resumes(kafka_broker_factory, new_topic_name(""), "aiokafka")


def test_two_member_rebalance_splits_partitions(
    kafka_broker_factory: BrokerFactory, new_topic_name: Callable[[str], str]
) -> None:
    broker = kafka_broker_factory.start(GROUP_SETTINGS)
    topic = new_topic_name("")
    _produce(broker.bootstrap, topic)
    settings: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap,
        "group_id": "pair",
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "heartbeat_interval_ms": 200,
        "session_timeout_ms": 6000,
    }
    first = KafkaConsumer(topic, **settings)
    second = KafkaConsumer(topic, **settings)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            first.poll(timeout_ms=200)
            second.poll(timeout_ms=200)
            mine, theirs = first.assignment(), second.assignment()
            if mine and theirs and len(mine | theirs) == 3:
                break
        assert mine and theirs, (mine, theirs)
        assert not (mine & theirs)
        assert mine | theirs == {TopicPartition(topic, p) for p in range(3)}
    finally:
        first.close()
        second.close()


def test_member_client_host_is_reported(
    kafka_broker_factory: BrokerFactory, new_topic_name: Callable[[str], str]
) -> None:
    import anyio

    from client import AdminClient

    broker = kafka_broker_factory.start(GROUP_SETTINGS)
    topic = new_topic_name("")
    _produce(broker.bootstrap, topic, 3)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id="hosts",
        client_id="host-check",
        auto_offset_reset="earliest",
    )

    async def describe() -> Any:
        async with AdminClient(bootstrap_servers=broker.bootstrap) as admin:
            return (await admin.describe_groups(["hosts"]))["hosts"]

    try:
        deadline = time.monotonic() + DEADLINE_S
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)
        (member,) = anyio.run(describe).members
        assert (member.client_id, member.client_host) == ("host-check", "/127.0.0.1")
    finally:
        consumer.close()
