"""Producer benchmarks: the accumulator's per-record append and batch seal, and end to end.

The end-to-end group produces ``ODRADEK_BENCH_RECORDS`` (default 200k) 100-byte records to a
subprocess broker with our producer, kafka-python and confluent-kafka (acks=1, one partition,
each client's defaults otherwise, confluent as ``bench/e2e/throughput.py`` drives it), so their
times in one run give the ratios.  With benchmarks disabled (the test run collects bench/micro
with ``--benchmark-disable``) it produces ``SMOKE_RECORDS`` only.  Nothing is asserted about
speed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import anyio
import kafka
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.e2e.throughput import _create_topic
from bench.e2e.throughput import produce as confluent_produce
from broker.testing import BrokerFactory
from client.accumulator import RecordAccumulator
from client.blocking import Consumer as BlockingConsumer
from client.blocking import TopicPartition as BlockingTopicPartition
from client.producer import Producer
from client.protocol.records import (
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
)

MIB = 1024 * 1024
VALUE = b"x" * 100
APPENDS_PER_ROUND = 10_000
RECORDS = int(os.environ.get("ODRADEK_BENCH_RECORDS", "200000"))
SMOKE_RECORDS = 2000


def _accumulator(batch_size: int, codec: int = COMPRESSION_NONE) -> RecordAccumulator:
    return RecordAccumulator(
        batch_size=batch_size,
        linger_ms=5,
        buffer_memory=1 << 30,
        codec=codec,
        delivery_timeout_ms=120_000,
        retries=10,
        retry_backoff_ms=100,
        retry_backoff_max_ms=1000,
        max_request_size=1 << 30,
        max_in_flight_per_partition=5,
        idempotence=False,
    )


def test_append_100_byte_records(benchmark: BenchmarkFixture) -> None:
    """10k appends per round (16 KiB batches, as by default): divide by 10k per record."""

    def setup() -> tuple[tuple[RecordAccumulator], dict[str, Any]]:
        return (_accumulator(16384),), {}

    def append(accumulator: RecordAccumulator) -> None:
        add = accumulator.append
        for _ in range(APPENDS_PER_ROUND):
            add("bench", 0, None, VALUE, None, 1_000_000, 0)

    benchmark.pedantic(append, setup=setup, rounds=30)


def test_append_keyed_records_with_a_header(benchmark: BenchmarkFixture) -> None:
    """The general encoding path: key and one header (10k per round)."""
    headers = [("trace", b"0123456789")]

    def setup() -> tuple[tuple[RecordAccumulator], dict[str, Any]]:
        return (_accumulator(16384),), {}

    def append(accumulator: RecordAccumulator) -> None:
        add = accumulator.append
        for _ in range(APPENDS_PER_ROUND):
            add("bench", 0, b"key-12345", VALUE, headers, 1_000_000, 0)

    benchmark.pedantic(append, setup=setup, rounds=20)


@pytest.mark.parametrize(
    "codec",
    [COMPRESSION_NONE, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD],
    ids=["none", "snappy", "lz4", "zstd"],
)
def test_seal_1_mib_batch(benchmark: BenchmarkFixture, codec: int) -> None:
    """Header, compression and CRC-32C of a 1 MiB batch of 100-byte records."""

    def setup() -> tuple[tuple[Any], dict[str, Any]]:
        accumulator = _accumulator(2 * MIB, codec)
        first = accumulator.append("bench", 0, None, VALUE, None, 1_000_000, 0)
        assert first is not None
        batch = first[0]
        while len(batch.buffer) < MIB:
            accumulator.append("bench", 0, None, VALUE, None, 1_000_000, 0)
        return (batch,), {}

    benchmark.pedantic(lambda batch: batch.seal(codec), setup=setup, rounds=20)


# -- end to end --------------------------------------------------------------------------------


async def _ours(bootstrap: str, topic: str, acks: str, idempotence: bool, records: int) -> None:
    async with Producer(
        bootstrap_servers=bootstrap, acks=acks, enable_idempotence=idempotence
    ) as producer:
        send = producer.send
        for _ in range(records):
            await send(topic, VALUE)
        await producer.flush()


def _kafka_python(bootstrap: str, topic: str, records: int) -> None:
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    for _ in range(records):
        producer.send(topic, VALUE)
    producer.flush()
    producer.close()


@pytest.fixture
def broker_bootstrap(kafka_broker_factory: BrokerFactory) -> str:
    """A subprocess broker: its work does not share our GIL."""
    return str(kafka_broker_factory.start(subprocess=True).bootstrap)


@pytest.mark.benchmark(group="producer-e2e")
@pytest.mark.parametrize("client", ["ours", "ours-acks-all", "ours-idempotent", "kafka-python",
                                    "confluent"])  # fmt: skip
def test_produce_end_to_end(
    benchmark: BenchmarkFixture, broker_bootstrap: str, client: str
) -> None:
    """Produce RECORDS x 100 B (one partition) and wait for every answer."""
    records = RECORDS if benchmark.enabled else SMOKE_RECORDS

    topics: list[str] = []

    def setup() -> tuple[tuple[str], dict[str, Any]]:
        topics.append(_create_topic(broker_bootstrap, 1))
        return (topics[-1],), {}

    def run(topic: str) -> None:
        started = time.perf_counter()
        if client == "ours":
            anyio.run(_ours, broker_bootstrap, topic, "1", False, records)
        elif client == "ours-acks-all":
            anyio.run(_ours, broker_bootstrap, topic, "all", False, records)
        elif client == "ours-idempotent":
            anyio.run(_ours, broker_bootstrap, topic, "all", True, records)
        elif client == "kafka-python":
            _kafka_python(broker_bootstrap, topic, records)
        else:
            confluent_produce(broker_bootstrap, topic, records, len(VALUE), "1")
        elapsed = time.perf_counter() - started
        benchmark.extra_info["records_per_s"] = round(records / elapsed)

    benchmark.pedantic(run, setup=setup, rounds=1, iterations=1)
    # Every record was written (the run waited for every answer); the confluent run sends one
    # warm-up record first (bench.e2e.throughput.produce).
    expected = records + (1 if client == "confluent" else 0)
    with BlockingConsumer(bootstrap_servers=broker_bootstrap) as probe:
        partition = BlockingTopicPartition(topics[-1], 0)
        assert probe.end_offsets([partition]) == {partition: expected}
