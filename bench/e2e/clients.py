"""Our async producer and consumer against kafka-python, aiokafka and confluent-kafka, on the
same odradek broker, interleaved over repetitions; medians and ratios.

    python -m bench.e2e.clients [--records 200000] [--reps 3]

100-byte records, one partition, acks=1.  The broker runs in its own process.  Each client is
timed from its first send (producers, after connecting) or from assignment (consumers) until
the last record is delivered / received.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import kafka
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import TopicPartition as ConfluentTopicPartition

from bench.e2e.throughput import _create_topic
from bench.e2e.throughput import produce as confluent_produce
from broker.testing import ProcessBroker
from client import Consumer, Producer, TopicPartition

VALUE = b"x" * 100
DEADLINE_S = 120.0


def produce_ours(bootstrap: str, topic: str, records: int) -> float:
    async def run() -> float:
        async with Producer(bootstrap_servers=bootstrap, acks="1", linger_ms=5) as producer:
            await producer.partitions_for(topic)
            start = time.perf_counter()
            for _ in range(records):
                await producer.send(topic, VALUE, partition=0)
            await producer.flush()
            return time.perf_counter() - start

    return anyio.run(run)


def produce_kafka_python(bootstrap: str, topic: str, records: int) -> float:
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    producer.partitions_for(topic)
    start = time.perf_counter()
    for _ in range(records):
        producer.send(topic, VALUE, partition=0)
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return elapsed


def produce_confluent(bootstrap: str, topic: str, records: int) -> float:
    return confluent_produce(bootstrap, topic, records, len(VALUE), "1")


def consume_ours(bootstrap: str, topic: str, records: int) -> float:
    async def run() -> float:
        async with Consumer(bootstrap_servers=bootstrap) as consumer:
            consumer.assign([TopicPartition(topic, 0)])
            consumer.seek(TopicPartition(topic, 0), 0)
            seen = 0
            start = time.perf_counter()
            while seen < records:
                batch = await consumer.getmany(timeout_ms=1000)
                seen += sum(len(chunk) for chunk in batch.values())
            return time.perf_counter() - start

    return anyio.run(run)


def consume_kafka_python(bootstrap: str, topic: str, records: int) -> float:
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = kafka.TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    seen = 0
    start = time.perf_counter()
    while seen < records:
        seen += sum(len(chunk) for chunk in consumer.poll(timeout_ms=1000).values())
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed


def consume_aiokafka(bootstrap: str, topic: str, records: int) -> float:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTopicPartition

    async def run() -> float:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        partition = AioTopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        seen = 0
        start = time.perf_counter()
        while seen < records:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(chunk) for chunk in batch.values())
        elapsed = time.perf_counter() - start
        await consumer.stop()
        return elapsed

    import asyncio

    return asyncio.run(run())


def consume_confluent(bootstrap: str, topic: str, records: int) -> float:
    consumer = ConfluentConsumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False}
    )
    consumer.assign([ConfluentTopicPartition(topic, 0, 0)])
    seen = 0
    start = time.perf_counter()
    deadline = start + DEADLINE_S
    while seen < records and time.perf_counter() < deadline:
        seen += sum(1 for m in consumer.consume(10_000, 1.0) if m.error() is None)
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed


Runner = Callable[[str, str, int], float]
PRODUCERS: dict[str, Runner] = {
    "ours": produce_ours,
    "kafka-python": produce_kafka_python,
    "confluent-kafka": produce_confluent,
}
CONSUMERS: dict[str, Runner] = {
    "ours": consume_ours,
    "kafka-python": consume_kafka_python,
    "aiokafka": consume_aiokafka,
    "confluent-kafka": consume_confluent,
}


def _table(title: str, rates: dict[str, list[float]]) -> None:
    ours = statistics.median(rates["ours"])
    print(f"\n| {title} | median rec/s (min-max) | ours / this |")
    print("|---|---|---|")
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:,.0f} ({min(values):,.0f}-{max(values):,.0f}) "
            f"| {ours / median:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    broker = ProcessBroker(Path(tempfile.mkdtemp(prefix="odradek-clients-")), {}).start()
    try:
        produced: dict[str, list[float]] = {name: [] for name in PRODUCERS}
        consumed: dict[str, list[float]] = {name: [] for name in CONSUMERS}
        source = _create_topic(broker.bootstrap, 1)
        confluent_produce(broker.bootstrap, source, args.records, len(VALUE), "1")
        for _ in range(args.reps):
            for name, run in PRODUCERS.items():
                topic = _create_topic(broker.bootstrap, 1)
                produced[name].append(args.records / run(broker.bootstrap, topic, args.records))
            for name, run in CONSUMERS.items():
                consumed[name].append(args.records / run(broker.bootstrap, source, args.records))
        _table("producer", produced)
        _table("consumer", consumed)
    finally:
        broker.terminate()


if __name__ == "__main__":
    main()
