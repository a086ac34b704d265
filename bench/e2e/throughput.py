"""End-to-end produce/consume throughput against odradek, driven by confluent-kafka.

    python -m bench.e2e.throughput [--records 200000] [--size 100] [--partitions 1,6] [--acks 1]

Starts a broker subprocess on a free port with a temporary data dir (or uses --bootstrap),
produces N records as fast as librdkafka goes, then consumes them from the beginning with an
assigned consumer, and prints records/s and MB/s per partition count.  For ratios against other
brokers use the peer harness (bench/README.md); this tool tracks our own figures run to run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker.testing import ProcessBroker

DEADLINE_S = 300.0


def _create_topic(bootstrap: str, partitions: int) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(timeout=30)
    return name


def produce(
    bootstrap: str, topic: str, records: int, size: int, acks: str, *, idempotence: bool = False
) -> float:
    """Seconds to deliver ``records`` after a warm-up record (so that client start-up, e.g.
    librdkafka's ~0.5 s producer-id timer, is not counted)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "enable.idempotence": idempotence,
        }
    )
    value = b"x" * size
    delivered = 0

    def on_delivery(error: object, _message: object) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1

    producer.produce(topic, value)
    producer.flush(DEADLINE_S)
    start = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(DEADLINE_S)
    elapsed = time.perf_counter() - start
    assert delivered == records, (delivered, records)
    return elapsed


def consume(bootstrap: str, topic: str, partitions: int, records: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = 0
    start = time.perf_counter()
    deadline = start + DEADLINE_S
    while seen < records and time.perf_counter() < deadline:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                seen += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    assert seen == records, (seen, records)
    return elapsed


def _compare_idempotence(bootstrap: str, records: int, size: int, reps: int = 3) -> None:
    """acks=all plain vs idempotent, interleaved so a noisy machine hits both alike."""
    ratios = []
    for _ in range(reps):
        plain = records / produce(bootstrap, _create_topic(bootstrap, 6), records, size, "all")
        idempotent = records / produce(
            bootstrap, _create_topic(bootstrap, 6), records, size, "all", idempotence=True
        )
        ratios.append(idempotent / plain)
        print(
            f"plain {plain:,.0f} rec/s, idempotent {idempotent:,.0f} rec/s, "
            f"ratio {idempotent / plain:.3f}"
        )
    print(f"median idempotent/plain: {sorted(ratios)[len(ratios) // 2]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--partitions", default="1,6")
    parser.add_argument("--acks", default="1")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument(
        "--idempotence-compare",
        action="store_true",
        help="produce only: plain vs idempotent acks=all, interleaved, 3 reps",
    )
    args = parser.parse_args()
    broker = None
    if args.bootstrap is None:
        broker = ProcessBroker(Path(tempfile.mkdtemp(prefix="odradek-bench-")), {}).start()
    bootstrap = args.bootstrap or broker.bootstrap  # type: ignore[union-attr]
    megabytes = args.records * args.size / 1e6
    if args.idempotence_compare:
        try:
            _compare_idempotence(bootstrap, args.records, args.size)
        finally:
            if broker is not None:
                broker.terminate()
        return
    print("| partitions | produce rec/s | MB/s | consume rec/s | MB/s |")
    print("|---|---|---|---|---|")
    try:
        for partitions in (int(p) for p in args.partitions.split(",")):
            topic = _create_topic(bootstrap, partitions)
            produced = produce(bootstrap, topic, args.records, args.size, args.acks)
            consumed = consume(bootstrap, topic, partitions, args.records)
            print(
                f"| {partitions} | {args.records / produced:,.0f} | {megabytes / produced:.1f} "
                f"| {args.records / consumed:,.0f} | {megabytes / consumed:.1f} |"
            )
    finally:
        if broker is not None:
            broker.terminate()


if __name__ == "__main__":
    main()
