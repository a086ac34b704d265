"""Locust: consumers re-reading the topic.  Every poll that returns records is a ``fetch``;
a partition read to its end starts over at its beginning (a ``seek`` to its log start offset,
listed once per consumer).  Before the first consumer starts, the topic is filled to
``--seed-records`` records if it holds fewer.

Two kinds of consumers (``--consumer-mode``, ``ODRADEK_CONSUMER_MODE``):

* ``assigned`` (default): each user is assigned one partition, round-robin over the topic per
  process (as many users as partitions per worker read all of it);
* ``group``: each user is a member of the consumer group ``--group-id`` (default
  ``locust-<topic>``) subscribed to the topic; the group coordinator spreads the partitions
  over every member of every worker, offsets are auto-committed, and members joining or
  leaving rebalance the group (no records arrive while it rebalances).

    locust -f bench/load/consume.py --headless -u 6 -r 6 -t 30s --host 127.0.0.1:9092 --csv out
    locust -f bench/load/consume.py --headless -u 6 -r 6 -t 30s --host 127.0.0.1:9092 \\
        --consumer-mode group --group-id readers --csv out
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, ClassVar

from kafka_user import KafkaUser, option
from locust import task

from client.blocking import Consumer, Producer, TopicPartition
from client.errors import KafkaError

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
    """Reads its partitions (assigned, or the group's share) over and over."""

    consumer_settings: ClassVar[dict[str, Any]] = {"fetch_max_wait_ms": 100}

    def on_start(self) -> None:
        """Create and fill the topic, then open the consumer (assigned or subscribed)."""
        super().on_start()
        self.log_starts: dict[TopicPartition, int] = {}
        environment = self.environment
        seed(
            self.bootstrap,
            self.topic,
            self.partitions,
            option(environment, "seed_records", 10_000),
            self.record_size,
        )
        self.start_consumer()

    @task
    def fetch_some(self) -> None:
        """One poll (``fetch``); each partition whose last record came back starts over.  An
        empty poll (everything read, or a group with nothing assigned yet) restarts every
        assigned partition."""
        polled = self.fetch(timeout_ms=500)
        consumer = self.consumer
        if not polled:
            self.start_over(consumer.assignment())
            return
        self.start_over(
            tp
            for tp, records in polled.items()
            if records and records[-1].offset + 1 >= consumer.highwater(tp)
        )

    def start_over(self, partitions: Iterable[TopicPartition]) -> None:
        """Seek ``partitions`` to their log start offsets.  An explicit offset (not a lazy
        ``seek_to_beginning``) keeps every position known, so a group member's commits -- the
        auto-commit, and the one on leaving -- cover all its partitions, and no ListOffsets
        is sent per pass."""
        consumer = self.consumer
        wanted = set(partitions)
        unknown = wanted - self.log_starts.keys()
        if unknown:
            try:
                self.log_starts |= consumer.beginning_offsets(unknown, timeout_ms=5_000)
            except KafkaError:
                consumer.seek_to_beginning(*unknown)  # the fetcher lists them itself
                wanted -= unknown
        for tp in wanted:
            consumer.seek(tp, self.log_starts[tp])
