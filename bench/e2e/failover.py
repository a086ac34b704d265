"""Failover time: kill -9 a partition leader, time until acks=all succeeds again on it.

    python -m bench.e2e.failover [--kills 20] [--rate 2000] [--session-timeout-ms 1500]
        [--producer-config key=value ...] [--trace [--rdkafka-debug metadata,topic,broker]]

Starts a local cluster (a controller and 3 brokers, ``broker.cluster_launcher``), creates a
1-partition topic with RF=3 and min.insync.replicas=2, and runs a confluent-kafka idempotent
acks=all producer writing unique values at ``--rate`` records/s.  Each round kills -9 the
current leader, records the time from the kill to the first successful delivery of a record
produced *after* the kill, restarts the killed broker and waits until it is back in the ISR.
Prints the distribution (p50/p95/max) and checks at the end that every acknowledged value was
read back exactly once.  Goal (issue 7): max under 2 s.

To see where a slow round's time goes: ``--trace`` prints every node's log lines of the
first 3 s after each kill (with the offset from the kill), and ``--rdkafka-debug`` turns on
librdkafka's debug contexts (on stderr, wall-clock stamped; the kill's wall time is printed).
``--producer-config`` overrides producer settings (e.g. the slow test's fast backoffs:
``retry.backoff.ms=20 reconnect.backoff.ms=20 reconnect.backoff.max.ms=200``).
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

from broker.cluster_launcher import LocalCluster, NodeProcess

TOPIC = "failover"
DEADLINE_S = 60.0


class Load:
    """An idempotent acks=all producer in a thread, at a fixed rate, with delivery times."""

    def __init__(self, bootstrap: str, rate: int, overrides: dict[str, str]) -> None:
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 1,
                "message.timeout.ms": 120_000,
                "topic.metadata.refresh.interval.ms": 1000,
                **overrides,
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


class NodeLines:
    """Every node's output lines with when they were read, for ``--trace``."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str, str]] = []

    def __call__(self, node: NodeProcess, line: bytes) -> None:
        who = f"{node.role[0]}{node.node_id}"
        self.lines.append((time.monotonic(), who, line.decode(errors="replace").rstrip()))

    def after(self, moment: float, mark: int, span_s: float = 3.0) -> list[str]:
        return [
            f"  +{(at - moment) * 1000:7.1f} ms {who} {text}"
            for at, who, text in self.lines[mark:]
            if at - moment < span_s
        ]


def run(
    kills: int,
    rate: int,
    session_timeout_ms: int,
    overrides: dict[str, str] | None = None,
    trace: bool = False,
) -> list[float]:
    lines = NodeLines() if trace else None
    with tempfile.TemporaryDirectory(prefix="odradek-failover-") as directory:
        cluster = LocalCluster(
            Path(directory),
            3,
            settings={"broker.session.timeout.ms": str(session_timeout_ms)},
            on_line=lines,
        ).start()
        try:
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            topic = NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})
            for future in admin.create_topics([topic]).values():
                future.result(timeout=30)
            load = Load(cluster.bootstrap, rate, overrides or {})
            load.thread.start()
            _wait("first acks", lambda: load.acked)
            times = []
            for round_number in range(kills):
                leader, _ = _leader(admin)
                mark = len(lines.lines) if lines is not None else 0
                if trace:
                    print(f"round {round_number + 1}: kill at wall {time.time():.3f}")
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
                if lines is not None:
                    print("\n".join(lines.after(killed_at, mark)))
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
    parser.add_argument(
        "--producer-config", nargs="*", default=[], metavar="KEY=VALUE", help="producer settings"
    )
    parser.add_argument("--trace", action="store_true", help="print node logs after each kill")
    parser.add_argument("--rdkafka-debug", default="", help="librdkafka debug contexts")
    arguments = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in arguments.producer_config)
    if arguments.rdkafka_debug:
        overrides["debug"] = arguments.rdkafka_debug
    times = run(
        arguments.kills, arguments.rate, arguments.session_timeout_ms, overrides, arguments.trace
    )
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"failover over {len(times)} kills: p50 {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
