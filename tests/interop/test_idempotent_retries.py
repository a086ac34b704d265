"""Lost Produce responses: every real client's idempotent producer retries, and the broker
answers the retry with the original offsets instead of appending a duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaProducer

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.support.dropping_proxy import DroppingProxy

RECORDS = 60
DROPS = 3
TIMEOUT_S = 20.0


@pytest.fixture
def proxied(kafka_broker_factory: BrokerFactory) -> Iterator[tuple[str, Any, DroppingProxy]]:
    proxy = DroppingProxy(DROPS)
    broker = kafka_broker_factory.start(
        {"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"}
    )
    proxy.start(broker.port)
    try:
        yield f"127.0.0.1:{proxy.port}", broker, proxy
    finally:
        proxy.close()


def _create(broker: Any, topic: str) -> None:
    with RawConnection(broker.bootstrap) as conn:
        body = {
            "topics": [
                {
                    "name": topic,
                    "num_partitions": 1,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [],
                }
            ],
            "timeout_ms": 1000,
        }
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE


def _stored_values(broker: Any, topic: str) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "check", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        while len(values) < high:
            messages = consumer.consume(1000, 5.0)
            assert messages, f"only {len(values)} of {high} records came back"
            values += [m.value() for m in messages if m.error() is None]
    finally:
        consumer.close()
    return values


def _check(broker: Any, topic: str, proxy: DroppingProxy, offsets: list[int]) -> None:
    assert proxy.dropped >= 1, "no response was lost: the test proved nothing"
    stored = _stored_values(broker, topic)
    expected = [b"value-%03d" % i for i in range(RECORDS)]
    assert stored == expected  # no duplicates, nothing lost, in order
    assert offsets == list(range(RECORDS))  # the client saw the original offsets


def _produce_confluent(bootstrap: str, topic: str) -> list[int]:
    offsets: dict[int, int] = {}

    def delivered(index: int) -> Callable[[Any, Any], None]:
        def callback(error: Any, message: Any) -> None:
            assert error is None, error
            offsets[index] = message.offset()

        return callback

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "max.in.flight": 1,
            "retry.backoff.ms": 10,
            "message.timeout.ms": int(TIMEOUT_S * 1000),
        }
    )
    for index in range(RECORDS):
        producer.produce(topic, b"value-%03d" % index, partition=0, on_delivery=delivered(index))
        producer.flush(TIMEOUT_S)
    assert producer.flush(TIMEOUT_S) == 0
    return [offsets[index] for index in range(RECORDS)]


def _produce_kafka_python(bootstrap: str, topic: str) -> list[int]:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        retry_backoff_ms=10,
        reconnect_backoff_ms=10,
        request_timeout_ms=int(TIMEOUT_S * 1000),
    )
    try:
        return [
            producer.send(topic, b"value-%03d" % index, partition=0).get(TIMEOUT_S).offset
            for index in range(RECORDS)
        ]
    finally:
        producer.close(timeout=TIMEOUT_S)


def _produce_aiokafka(bootstrap: str, topic: str) -> list[int]:
    from aiokafka import AIOKafkaProducer

    async def run() -> list[int]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=0,
            retry_backoff_ms=10,
            request_timeout_ms=int(TIMEOUT_S * 1000),
        )
        await producer.start()
        try:
            results = []
            for index in range(RECORDS):
                metadata = await asyncio.wait_for(
                    producer.send_and_wait(topic, b"value-%03d" % index, partition=0), TIMEOUT_S
                )
                results.append(metadata.offset)
            return results
        finally:
            await producer.stop()

    return asyncio.run(run())


@pytest.mark.parametrize(
    "produce",
    [_produce_confluent, _produce_kafka_python, _produce_aiokafka],
    ids=["confluent-kafka", "kafka-python", "aiokafka"],
)
def test_lost_responses_do_not_duplicate(
    proxied: tuple[str, Any, DroppingProxy],
    new_topic_name: Callable[[str], str],
    produce: Callable[[str, str], list[int]],
) -> None:
    bootstrap, broker, proxy = proxied
    topic = new_topic_name("")
    _create(broker, topic)
    offsets = produce(bootstrap, topic)
    _check(broker, topic, proxy, offsets)
