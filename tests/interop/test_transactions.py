"""Transactions (KIP-98) with unmodified clients: confluent-kafka, kafka-python, aiokafka.

A transactional producer's committed records reach a ``read_committed`` consumer exactly
once and in order; aborted ones never do (a ``read_uncommitted`` consumer sees both, the
markers never); an open transaction holds the last stable offset; a second producer with the
same ``transactional.id`` fences the first and aborts its open transaction; offsets sent to a
transaction (consume-transform-produce) are committed with it, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from broker.testing import InProcessBroker, ProcessBroker
from tests.support.waiting import wait_until

TIMEOUT_S = 15.0

Broker = InProcessBroker | ProcessBroker


def create_topic(bootstrap: str, name: str, partitions: int = 3, replication: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, replication)])
    futures[name].result(TIMEOUT_S)


def txn_producer(bootstrap: str, transactional_id: str, **config: Any) -> Producer:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "linger.ms": 5,
            **config,
        }
    )
    producer.init_transactions(TIMEOUT_S)
    return producer


@contextlib.contextmanager
def consumer(bootstrap: str, isolation: str, **config: Any) -> Iterator[Consumer]:
    client = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"txn-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **config,
        }
    )
    try:
        yield client
    finally:
        client.close()


def read_values(
    bootstrap: str, topic: str, partitions: int, isolation: str, count: int
) -> list[bytes]:
    """Exactly ``count`` values from the start of every partition (then none more within a
    short poll): in partition order, each partition in offset order."""
    with consumer(bootstrap, isolation) as client:
        client.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got: list[tuple[int, int, bytes]] = []

        def drained() -> bool:
            for message in client.consume(100, timeout=0.2):
                assert message.error() is None, message.error()
                got.append((message.partition(), message.offset(), message.value()))
            return len(got) >= count

        wait_until(drained, timeout_s=TIMEOUT_S, what=f"{count} records ({isolation})")
        extra = client.consume(100, timeout=0.5)
        assert [m.value() for m in extra if m.error() is None] == []
    return [value for _, _, value in sorted(got)]


def sent_values(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}-{index}".encode() for index in range(count)]


def test_committed_and_aborted_transactions(kafka_broker: Broker, topic: str) -> None:
    bootstrap = kafka_broker.bootstrap
    create_topic(bootstrap, topic)
    producer = txn_producer(bootstrap, f"txn-{topic}")
    batches = [("first", 9, True), ("aborted", 6, False), ("second", 4, True)]
    for prefix, count, commit in batches:
        producer.begin_transaction()
        for index, value in enumerate(sent_values(prefix, count)):
            producer.produce(topic, value, partition=index % 3)
        if commit:
            producer.commit_transaction(TIMEOUT_S)
        else:
            producer.flush(TIMEOUT_S)  # the records are in the log before the abort
            producer.abort_transaction(TIMEOUT_S)
    committed = read_values(bootstrap, topic, 3, "read_committed", 13)
    expected = sent_values("first", 9) + sent_values("second", 4)
    assert sorted(committed) == sorted(expected)
    everything = read_values(bootstrap, topic, 3, "read_uncommitted", 19)
    assert sorted(everything) == sorted(expected + sent_values("aborted", 6))
    # Three transactions touched every partition: 3 markers each, on top of 19 records.
    with consumer(bootstrap, "read_uncommitted") as client:
        ends = [client.get_watermark_offsets(TopicPartition(topic, p), TIMEOUT_S) for p in range(3)]
    assert sum(high for _, high in ends) == 19 + 3 * 3


def test_open_transaction_holds_the_last_stable_offset(kafka_broker: Broker, topic: str) -> None:
    bootstrap = kafka_broker.bootstrap
    create_topic(bootstrap, topic, partitions=1)
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, b"before", partition=0)
    plain.flush(TIMEOUT_S)
    producer = txn_producer(bootstrap, f"txn-{topic}")
    producer.begin_transaction()
    producer.produce(topic, b"inside", partition=0)
    producer.flush(TIMEOUT_S)
    plain.produce(topic, b"after", partition=0)
    plain.flush(TIMEOUT_S)
    with consumer(bootstrap, "read_committed") as client:
        client.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        seen: list[bytes] = []

        def got(values: list[bytes]) -> Callable[[], bool]:
            def check() -> bool:
                seen.extend(m.value() for m in client.consume(10, timeout=0.2) if not m.error())
                return seen == values

            return check

        wait_until(got([b"before"]), timeout_s=TIMEOUT_S, what="the record before the txn")
        # "after" is above the LSO until the transaction ends.
        assert [m.value() for m in client.consume(10, timeout=1.0) if not m.error()] == []
        producer.commit_transaction(TIMEOUT_S)
        wait_until(got([b"before", b"inside", b"after"]), timeout_s=TIMEOUT_S, what="after commit")


def test_a_new_producer_fences_the_old_and_aborts_its_transaction(
    kafka_broker: Broker, topic: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    create_topic(bootstrap, topic, partitions=1)
    transactional_id = f"txn-{topic}"
    zombie = txn_producer(bootstrap, transactional_id)
    zombie.begin_transaction()
    zombie.produce(topic, b"zombie", partition=0)
    zombie.flush(TIMEOUT_S)
    successor = txn_producer(bootstrap, transactional_id)  # bumps the epoch, aborts
    successor.begin_transaction()
    successor.produce(topic, b"successor", partition=0)
    successor.commit_transaction(TIMEOUT_S)
    with pytest.raises(KafkaException) as raised:
        zombie.commit_transaction(TIMEOUT_S)
    error = raised.value.args[0]
    assert error.fatal() or error.code() in (
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    ), error
    assert read_values(bootstrap, topic, 1, "read_committed", 1) == [b"successor"]


def test_offsets_sent_to_a_transaction_commit_with_it(kafka_broker: Broker, topic: str) -> None:
    """Consume-transform-produce: the input offsets commit only with the output."""
    bootstrap = kafka_broker.bootstrap
    source, sink = f"{topic}-in", f"{topic}-out"
    create_topic(bootstrap, source, partitions=1)
    create_topic(bootstrap, sink, partitions=1)
    plain = Producer({"bootstrap.servers": bootstrap})
    for value in sent_values("in", 10):
        plain.produce(source, value, partition=0)
    plain.flush(TIMEOUT_S)
    group = f"ctp-{uuid.uuid4().hex[:8]}"
    producer = txn_producer(bootstrap, f"txn-{topic}")
    with consumer(bootstrap, "read_committed", **{"group.id": group}) as client:
        client.assign([TopicPartition(source, 0, OFFSET_BEGINNING)])
        taken: list[Any] = []
        wait_until(
            lambda: (
                taken.extend(m for m in client.consume(10, timeout=0.2) if not m.error())
                or len(taken) >= 10
            ),
            timeout_s=TIMEOUT_S,
            what="input records",
        )
        metadata = client.consumer_group_metadata()
        for aborted in (True, False):
            producer.begin_transaction()
            for message in taken[:5] if aborted else taken:
                producer.produce(sink, message.value().replace(b"in", b"out"), partition=0)
            upto = 5 if aborted else 10
            producer.send_offsets_to_transaction(
                [TopicPartition(source, 0, upto)], metadata, TIMEOUT_S
            )
            if aborted:
                producer.abort_transaction(TIMEOUT_S)
                (committed,) = client.committed([TopicPartition(source, 0)], TIMEOUT_S)
                assert committed.offset < 0  # nothing committed by the aborted transaction
            else:
                producer.commit_transaction(TIMEOUT_S)

        def offset_committed() -> bool:
            (committed,) = client.committed([TopicPartition(source, 0)], TIMEOUT_S)
            return committed.offset == 10

        wait_until(offset_committed, timeout_s=TIMEOUT_S, what="offset 10 committed")
    assert read_values(bootstrap, sink, 1, "read_committed", 10) == sent_values("out", 10)


def test_kafka_python_transactional_producer(kafka_broker: Broker, topic: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition

    bootstrap = kafka_broker.bootstrap
    create_topic(bootstrap, topic, partitions=2)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"kp-{topic}",
        request_timeout_ms=10_000,
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for index in range(6):
            producer.send(topic, f"kept-{index}".encode(), partition=index % 2)
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic, b"dropped", partition=0)
        producer.flush()
        producer.abort_transaction()
    finally:
        producer.close(timeout=5)
    reader = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2_000,
    )
    try:
        reader.assign([KTopicPartition(topic, 0), KTopicPartition(topic, 1)])
        reader.seek_to_beginning()
        values: list[bytes] = []
        wait_until(
            lambda: (
                values.extend(r.value for batch in reader.poll(200).values() for r in batch)
                or len(values) >= 6
            ),
            timeout_s=TIMEOUT_S,
            what="committed records",
        )
    finally:
        reader.close()
    assert sorted(values) == sorted(f"kept-{index}".encode() for index in range(6))


def test_aiokafka_transactional_producer(kafka_broker: Broker, topic: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka import TopicPartition as ATopicPartition

    bootstrap = kafka_broker.bootstrap
    create_topic(bootstrap, topic, partitions=1)

    async def scenario() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"ak-{topic}")
        await producer.start()
        try:
            async with producer.transaction():
                for index in range(4):
                    await producer.send(topic, f"kept-{index}".encode(), partition=0)
            await producer.begin_transaction()
            await producer.send_and_wait(topic, b"dropped", partition=0)
            await producer.abort_transaction()
        finally:
            await producer.stop()
        reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await reader.start()
        try:
            reader.assign([ATopicPartition(topic, 0)])
            values: list[bytes] = []
            async with asyncio.timeout(TIMEOUT_S):
                while len(values) < 4:
                    batches = await reader.getmany(timeout_ms=200)
                    values.extend(r.value for batch in batches.values() for r in batch)
            extra = await reader.getmany(timeout_ms=500)
            values.extend(r.value for batch in extra.values() for r in batch)
            return values
        finally:
            await reader.stop()

    assert asyncio.run(scenario()) == [f"kept-{index}".encode() for index in range(4)]


def test_a_transaction_open_past_its_timeout_is_aborted(
    kafka_broker_factory: Any, topic: str
) -> None:
    broker = kafka_broker_factory.start(
        {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100"}
    )
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic, partitions=1)
    producer = txn_producer(bootstrap, f"txn-{topic}", **{"transaction.timeout.ms": 1000})
    producer.begin_transaction()
    producer.produce(topic, b"abandoned", partition=0)
    producer.flush(TIMEOUT_S)
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, b"plain", partition=0)
    plain.flush(TIMEOUT_S)
    # The coordinator aborts it (and fences the producer): the plain record after it
    # becomes readable, the abandoned one never does.
    assert read_values(bootstrap, topic, 1, "read_committed", 1) == [b"plain"]
    with pytest.raises(KafkaException):
        producer.commit_transaction(TIMEOUT_S)
