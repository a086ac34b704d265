"""confluent-kafka round trips for tests: produce values and wait for every delivery; read a
topic back through a consumer group, bounded in time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any


def produce_all(settings: Mapping[str, Any], topic: str, values: Iterable[bytes]) -> None:
    """Produce ``values`` to ``topic`` and assert every one was delivered."""
    from confluent_kafka import Producer

    producer = Producer(dict(settings))
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(20.0) == 0


def consume_group(
    settings: Mapping[str, Any], topic: str, count: int, timeout_s: float = 20.0
) -> list[bytes]:
    """Up to ``count`` values of ``topic`` from the earliest offset, read by a consumer of a
    group named after the topic (fewer if ``timeout_s`` passes first)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"group.id": f"g-{topic}", "auto.offset.reset": "earliest", **dict(settings)}
    )
    got: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(message.value() or b"")
    finally:
        consumer.close()
    return got
