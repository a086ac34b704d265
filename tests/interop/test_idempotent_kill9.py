"""kill -9 of the broker under an idempotent producer, then restart on the same address:
every delivered record is there exactly once (zero duplicates, zero losses)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.support.ports import unused_port

RECORDS = 3000
KILL_AFTER = 800
TIMEOUT_S = 30.0
TOPIC = "idem-kill"


class IdempotentProducer(threading.Thread):
    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.delivered: list[bytes] = []
        self.failed: list[str] = []
        self.enough = threading.Event()

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self.failed.append(str(error))
            return
        self.delivered.append(message.value())
        if len(self.delivered) >= KILL_AFTER:
            self.enough.set()

    def run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "retry.backoff.ms": 20,
                "reconnect.backoff.ms": 20,
                "reconnect.backoff.max.ms": 200,
                "message.timeout.ms": int(TIMEOUT_S * 1000),
            }
        )
        for index in range(RECORDS):
            while True:
                try:
                    producer.produce(
                        TOPIC, b"r-%05d" % index, partition=index % 2, on_delivery=self._on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(TIMEOUT_S)


def _stored(bootstrap: str) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False}
    )
    values: list[bytes] = []
    try:
        for partition in (0, 1):
            tp = TopicPartition(TOPIC, partition, 0)
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            consumer.assign([tp])
            got = 0
            while got < high:
                messages = consumer.consume(1000, 5.0)
                assert messages, f"partition {partition}: {got} of {high}"
                values += [m.value() for m in messages if m.error() is None]
                got += len(messages)
    finally:
        consumer.close()
    return values


def _round(factory: BrokerFactory) -> tuple[int, int, int]:
    port = unused_port()
    overrides = {"listeners": f"PLAINTEXT://127.0.0.1:{port}"}
    data_dir = factory.new_data_dir()
    broker = factory.start(overrides, subprocess=True, data_dir=data_dir)
    with RawConnection(broker.bootstrap) as conn:
        body = {
            "topics": [
                {
                    "name": TOPIC,
                    "num_partitions": 2,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [],
                }
            ],
            "timeout_ms": 1000,
        }
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE
    producer = IdempotentProducer(broker.bootstrap)
    producer.start()
    assert producer.enough.wait(TIMEOUT_S)
    broker.kill()  # type: ignore[union-attr]
    restarted = factory.start(overrides, subprocess=True, data_dir=data_dir)
    producer.join(TIMEOUT_S * 2)
    assert not producer.is_alive()
    stored = Counter(_stored(restarted.bootstrap))
    duplicates = sum(count - 1 for count in stored.values() if count > 1)
    lost = sum(1 for value in producer.delivered if value not in stored)
    return duplicates, lost, len(producer.delivered)


def test_kill9_under_idempotent_producer(kafka_broker_factory: BrokerFactory) -> None:
    duplicates, lost, delivered = _round(kafka_broker_factory)
    assert (duplicates, lost) == (0, 0)
    assert delivered >= KILL_AFTER


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(20))
def test_kill9_under_idempotent_producer_rounds(
    kafka_broker_factory: BrokerFactory, round_: int
) -> None:
    duplicates, lost, delivered = _round(kafka_broker_factory)
    print(f"round {round_}: delivered={delivered} duplicates={duplicates} lost={lost}")
    assert (duplicates, lost) == (0, 0)
