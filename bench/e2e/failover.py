"""Failover time: kill -9 a partition leader, time until acks=all succeeds again on it.

    python -m bench.e2e.failover [--kills 20] [--rate 2000] [--session-timeout-ms 1500]

Starts a local cluster (a controller and 3 brokers, ``broker.cluster_launcher``), creates a
1-partition topic with RF=3 and min.insync.replicas=2, and runs a confluent-kafka idempotent
acks=all producer writing unique values at ``--rate`` records/s.  Each round kills -9 the
current leader, records the time from the kill to the first successful delivery of a record
produced *after* the kill, restarts the killed broker and waits until it is back in the ISR.
Prints the distribution (p50/p95/max) and checks at the end that every acknowledged value was
read back exactly once.  Goal (issue 7): max under 2 s.
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker.cluster_launcher import LocalCluster

TOPIC = "failover"
DEADLINE_S = 60.0


class Load:
    """An idempotent acks=all producer in a thread, at a fixed rate, with delivery times."""

    def __init__(self, bootstrap: str, rate: int) -> None:
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 1,
                "message.timeout.ms": 120_000,
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        self.rate = rate
        self.sent_at: list[float] = []  # index = the record's key; append-only
        self.acked: dict[int, float] = {}
        self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, error: object, message: object) -> None:
        key = int(message.key())  # type: ignore[attr-defined]
        if error is None:
            self.acked[key] = time.monotonic()
        else:
            self.failed += 1

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        sequence = 0
        while not self.stop.is_set():
            now = time.monotonic()
            if now < next_at:
                self.producer.poll(min(next_at - now, 0.01))
                continue
            self.sent_at.append(now)
            self.producer.produce(
                TOPIC,
                key=str(sequence).encode(),
                value=b"v%d" % sequence,
                on_delivery=self._delivered,
            )
            sequence += 1
            next_at += interval
            self.producer.poll(0)
        self.producer.flush(DEADLINE_S)

    def first_ack_after(self, moment: float) -> float | None:
        """When the first record sent after ``moment`` was acknowledged."""
        sent = self.sent_at[:]  # the producer thread appends while we look
        first = bisect.bisect_right(sent, moment)
        times = [self.acked[key] for key in range(first, len(sent)) if key in self.acked]
        return min(times) if times else None


def _leader(admin: AdminClient) -> tuple[int, list[int]]:
    metadata = admin.list_topics(TOPIC, timeout=10)
    partition = metadata.topics[TOPIC].partitions[0]
    return partition.leader, list(partition.isrs)


def _wait(what: str, check: object, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        pause.wait(0.02)


def _read_all(bootstrap: str) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "failover-check"})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    _low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    values: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(values) < high and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    return values


def run(kills: int, rate: int, session_timeout_ms: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="odradek-failover-") as directory:
        cluster = LocalCluster(
            Path(directory), 3, settings={"broker.session.timeout.ms": str(session_timeout_ms)}
        ).start()
        try:
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            topic = NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})
            for future in admin.create_topics([topic]).values():
                future.result(timeout=30)
            load = Load(cluster.bootstrap, rate)
            load.thread.start()
            _wait("first acks", lambda: load.acked)
            times = []
            for round_number in range(kills):
                leader, _ = _leader(admin)
                killed_at = time.monotonic()
                cluster.nodes[leader].kill()
                _wait(
                    "an ack after the kill",
                    lambda at=killed_at: load.first_ack_after(at) is not None,  # type: ignore[misc]
                )
                acked_at = load.first_ack_after(killed_at)
                assert acked_at is not None
                times.append(acked_at - killed_at)
                print(
                    f"round {round_number + 1}: leader {leader} killed, {times[-1] * 1000:.0f} ms"
                )
                cluster.nodes[leader].start()
                admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
                _wait(
                    "the ISR to heal",
                    lambda client=admin: len(_leader(client)[1]) == 3,  # type: ignore[misc]
                )
            load.stop.set()
            load.thread.join(DEADLINE_S)
            values = _read_all(cluster.bootstrap)
            acked_values = {b"v%d" % key for key in load.acked}
            missing = acked_values - set(values)
            duplicates = len(values) - len(set(values))
            print(
                f"acked {len(load.acked)}, failed {load.failed}, read {len(values)}, "
                f"lost {len(missing)}, duplicates {duplicates}"
            )
            assert not missing and duplicates == 0
        finally:
            cluster.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--session-timeout-ms", type=int, default=1500)
    arguments = parser.parse_args()
    times = run(arguments.kills, arguments.rate, arguments.session_timeout_ms)
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"failover over {len(times)} kills: p50 {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
