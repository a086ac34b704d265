"""Locust: producers.  Each task sends one record and waits for its answer (``produce``).

    locust -f bench/load/produce.py --headless -u 10 -r 5 -t 30s --host 127.0.0.1:9092 \\
        --acks all --record-size 1024 --keyed true --csv out

Settings (custom arguments or environment variables, see ``kafka_user.py``): ``--topic``,
``--partitions``, ``--acks`` (0, 1, all), ``--record-size``, ``--keyed``, ``--linger-ms``,
``--compression``.
"""

from __future__ import annotations

from kafka_user import KafkaUser
from locust import task


class ProducerUser(KafkaUser):
    """Sends records as fast as its answers come back (no wait time: closed-loop load)."""

    @task
    def produce_one(self) -> None:
        """One record, reported as ``produce``."""
        key, value = self.next_record()
        self.produce(value, key)
