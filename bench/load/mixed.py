"""Locust: producers and consumers on the same topic, with end-to-end latency.

Producers send as in ``produce.py`` (``produce``); consumers poll from the end of the topic
(``fetch``) and report, for every record, now minus the record's timestamp as ``e2e``: the
time from the producer's ``send`` to the consumer's hand (clocks of one machine, or synced
ones across machines).  ``ODRADEK_CONSUMER_WEIGHT`` (an environment variable: Locust reads
weights before it parses arguments; in a distributed run the master's counts) sets how many
consumers per producer Locust spawns.

``--consumer-mode assigned`` (default): each consumer follows one partition, round-robin per
process -- give every worker at least as many consumers as partitions to read every record.
``--consumer-mode group``: the consumers are members of ``--group-id`` and the coordinator
spreads the partitions over all of them, across workers; each partition handed over is read
from its end (records written during a rebalance are not measured).

    locust -f bench/load/mixed.py --headless -u 12 -r 6 -t 60s --host 127.0.0.1:9092 --csv out
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from kafka_user import KafkaUser
from locust import task

CONSUMER_WEIGHT = int(os.environ.get("ODRADEK_CONSUMER_WEIGHT", "1"))


class MixedProducer(KafkaUser):
    """Sends one record per task and waits for its answer."""

    weight = 1

    @task
    def produce_one(self) -> None:
        """One record, reported as ``produce``."""
        key, value = self.next_record()
        self.produce(value, key)


class MixedConsumer(KafkaUser):
    """Follows the end of its partitions; reports ``fetch`` and ``e2e``."""

    weight = CONSUMER_WEIGHT
    consumer_settings: ClassVar[dict[str, Any]] = {"fetch_max_wait_ms": 100}

    def on_start(self) -> None:
        """Open the consumer at the end of its partitions (only fresh records count)."""
        super().on_start()
        self.start_consumer(from_end=True)

    @task
    def follow(self) -> None:
        """One poll; ``e2e`` for each record it returned."""
        self.report_end_to_end(self.fetch(timeout_ms=500))
