"""Locust: assigned consumers.  Each user consumes one partition (round-robin over the topic)
from the beginning and starts over at its end; every poll that returns records is a
``fetch``.  Before the first consumer starts, the topic is filled to ``--seed-records`` records
if it holds fewer.

    locust -f bench/load/consume.py --headless -u 6 -r 6 -t 30s --host 127.0.0.1:9092 --csv out

Group consumers (``subscribe``) arrive with the consumer-group issue; until then each user is
assigned its partition.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from kafka_user import KafkaUser, option
from locust import task

from client.blocking import Consumer, Producer, TopicPartition

_seeded: set[str] = set()
_seed_lock = threading.Lock()  # a gevent lock under monkey-patching


def seed(bootstrap: str, topic: str, partitions: int, records: int, record_size: int) -> None:
    """Fill ``topic`` to about ``records`` records, spread over its partitions (once)."""
    with _seed_lock:
        if topic in _seeded:
            return
        with Producer(bootstrap_servers=bootstrap, acks="1", linger_ms=5) as producer:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            with Consumer(bootstrap_servers=bootstrap) as probe:
                present = sum(probe.end_offsets(tps).values())
            value = b"x" * record_size
            for index in range(max(records - present, 0)):
                producer.send(topic, value, partition=index % partitions)
            producer.flush(timeout_ms=60_000)
        _seeded.add(topic)


class ConsumerUser(KafkaUser):
    """Reads its partition over and over."""

    consumer_settings: ClassVar[dict[str, Any]] = {"fetch_max_wait_ms": 100}

    def on_start(self) -> None:
        """Create and fill the topic, then take a partition."""
        super().on_start()
        environment = self.environment
        seed(
            self.bootstrap,
            self.topic,
            self.partitions,
            option(environment, "seed_records", 10_000),
            self.record_size,
        )
        self.assigned = [self.next_partition()]

    @task
    def fetch_some(self) -> None:
        """One poll (``fetch``); at the end of the partition, start over."""
        records = self.fetch(self.assigned, timeout_ms=500)
        consumer = self.consumer(self.assigned)
        if not records or records[-1].offset + 1 >= consumer.highwater(self.assigned[0]):
            consumer.seek_to_beginning()
