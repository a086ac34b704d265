"""The async producer against a real broker: delivery, interop, acks, batching, partitioning,
back-pressure, config and send errors.

Runs against the ``kafka_broker`` fixture, or any Kafka-protocol broker named by
``ODRADEK_TEST_BOOTSTRAP`` (the ``bootstrap`` fixture).  What we produce is read back by
kafka-python and confluent-kafka consumers.  Every wait has a bound; nothing sleeps to
synchronise.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import anyio
import anyio.to_thread
import confluent_kafka
import kafka
import pytest

from client.admin import AdminClient, NewTopic
from client.errors import (
    DefinitelyFailedError,
    IllegalConfigError,
    KafkaClosedError,
    KafkaTimeoutError,
    MessageTooLargeError,
)
from client.partitioner import partition_for_key
from client.producer import Producer, RecordFuture

pytestmark = pytest.mark.anyio

WAIT_S = 30.0
CONSUME_S = 20.0
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# Explicit CreateTime stamps ten minutes back: a broker that replaced them would be caught.
AGE_MS = 600_000


def settings(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Fast failure and short backoffs for tests."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 20,
        "max_block_ms": 10_000,
    }
    config.update(overrides)
    return config


async def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    async with AdminClient(bootstrap_servers=bootstrap) as admin:
        await admin.create_topics([NewTopic(topic, partitions, -1)])


def read_kafka_python(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Every record of ``topic`` (all partitions) by kafka-python: exactly ``count``."""
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([kafka.TopicPartition(topic, p) for p in sorted(partitions)])
        received: list[Any] = []
        deadline = time.monotonic() + CONSUME_S
        while len(received) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                received.extend(batch)
        assert len(received) == count, f"kafka-python read {len(received)} of {count}"
        assert not consumer.poll(timeout_ms=300), "records beyond those produced"
        return sorted(received, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def read_confluent(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Every record of partition 0 of ``topic`` by confluent-kafka: exactly ``count``."""
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "odradek-producer-test",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 200,
        }
    )
    try:
        consumer.assign(
            [confluent_kafka.TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)]
        )
        received: list[Any] = []
        deadline = time.monotonic() + CONSUME_S
        while len(received) < count and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=count, timeout=0.5):
                assert message.error() is None, message.error()
                received.append(message)
        assert len(received) == count, f"confluent-kafka read {len(received)} of {count}"
        return received
    finally:
        consumer.close()


def samples(count: int) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int]]:
    """(key, value, headers, timestamp) with varied keys, values, header sets."""
    base = int(time.time() * 1000) - AGE_MS
    out = []
    for index in range(count):
        key = None if index % 7 == 3 else f"key-{index}".encode()
        value = None if index % 11 == 5 else f"value-{index}-".encode() * (index % 40)
        headers = [("index", str(index).encode())] if index % 3 else []
        if index % 5 == 1:
            headers += [("dup", b"a"), ("dup", b"b"), ("empty", b"")]
        out.append((key, value, headers, base + index))
    return out


# -- delivery and interop ----------------------------------------------------------------------


async def test_send_enqueues_and_the_future_gives_metadata(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    async with Producer(settings(bootstrap)) as producer:
        futures = [await producer.send(topic_name, f"v{i}".encode()) for i in range(10)]
        assert all(isinstance(future, RecordFuture) for future in futures)
        with anyio.fail_after(WAIT_S):
            results = [await future for future in futures]
        assert [r.offset for r in results] == list(range(10))
        assert {(r.topic, r.partition) for r in results} == {(topic_name, 0)}
        assert futures[3].done() and futures[3].result() == results[3]
        later = await producer.send_and_wait(topic_name, b"x", timestamp_ms=12345)
        assert (later.offset, later.timestamp) == (10, 12345)


@pytest.mark.parametrize("codec", CODECS)
async def test_kafka_python_reads_keys_headers_timestamps(
    bootstrap: str, topic_name: str, codec: str
) -> None:
    await create_topic(bootstrap, topic_name)
    produced = samples(60)
    async with Producer(settings(bootstrap, compression_type=codec, batch_size=2000)) as producer:
        for key, value, headers, timestamp in produced:
            await producer.send(topic_name, value, key=key, headers=headers, partition=0,
                                timestamp_ms=timestamp)  # fmt: skip
        with anyio.fail_after(WAIT_S):
            await producer.flush()
        assert producer.stats().produce_requests > 1  # several batches, each compressed
    records = await anyio.to_thread.run_sync(read_kafka_python, bootstrap, topic_name, 60)
    got = [(r.key, r.value, [tuple(h) for h in r.headers], r.timestamp) for r in records]
    assert got == [(k, v, [tuple(h) for h in hs], ts) for k, v, hs, ts in produced]
    assert [r.offset for r in records] == list(range(60))


@pytest.mark.parametrize("codec", CODECS)
async def test_confluent_kafka_reads_what_we_produce(
    bootstrap: str, topic_name: str, codec: str
) -> None:
    await create_topic(bootstrap, topic_name)
    produced = samples(40)
    async with Producer(settings(bootstrap, compression_type=codec)) as producer:
        for key, value, headers, timestamp in produced:
            await producer.send(topic_name, value, key=key, headers=headers, partition=0,
                                timestamp_ms=timestamp)  # fmt: skip
    records = await anyio.to_thread.run_sync(read_confluent, bootstrap, topic_name, 40)
    got = [(m.key(), m.value(), m.headers() or [], m.timestamp()[1]) for m in records]
    assert got == [(k, v, hs, ts) for k, v, hs, ts in produced]


@pytest.mark.parametrize("acks", ["0", "1", "all"])
async def test_acks(bootstrap: str, topic_name: str, acks: str) -> None:
    await create_topic(bootstrap, topic_name)
    async with Producer(settings(bootstrap, acks=acks)) as producer:
        assert producer.config.enable_idempotence is (acks == "all")
        futures = [await producer.send(topic_name, b"v" * 50) for _ in range(100)]
        with anyio.fail_after(WAIT_S):
            offsets = [(await future).offset for future in futures]
    assert offsets == ([-1] * 100 if acks == "0" else list(range(100)))
    await anyio.to_thread.run_sync(read_kafka_python, bootstrap, topic_name, 100)


# -- batching and partitioning -----------------------------------------------------------------


async def test_linger_gathers_many_sends_into_one_request(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    config = settings(bootstrap, linger_ms=60_000, batch_size=1 << 20, delivery_timeout_ms=120_000)
    async with Producer(config) as producer:
        futures = [await producer.send(topic_name, b"v" * 100) for _ in range(500)]
        assert producer.stats().produce_requests == 0  # lingering: nothing sent yet
        with anyio.fail_after(WAIT_S):
            await producer.flush()
        assert producer.stats().produce_requests == 1
        assert [future.result().offset for future in futures] == list(range(500))


async def test_batch_size_bounds_a_batch(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    config = settings(bootstrap, linger_ms=60_000, batch_size=2_000, delivery_timeout_ms=120_000)
    async with Producer(config) as producer:
        for _ in range(200):
            await producer.send(topic_name, b"v" * 100)
        with anyio.fail_after(WAIT_S):
            await producer.flush()
        # 200 records of ~110 bytes in batches of <= 2000 bytes: 12 or so batches.
        assert 10 <= producer.stats().batches_sent <= 14


async def test_keys_land_where_the_java_client_puts_them(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name, partitions=6)
    keys = [f"user-{i}".encode() for i in range(60)]
    async with Producer(settings(bootstrap)) as producer:
        futures = [await producer.send(topic_name, b"v", key=key) for key in keys]
        with anyio.fail_after(WAIT_S):
            partitions = [(await future).partition for future in futures]
    assert partitions == [partition_for_key(key, 6) for key in keys]
    assert len(set(partitions)) > 1
    records = await anyio.to_thread.run_sync(read_kafka_python, bootstrap, topic_name, 60)
    assert {(r.key, r.partition) for r in records} == set(zip(keys, partitions, strict=True))


async def test_unkeyed_records_stick_to_a_partition_per_batch(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name, partitions=6)
    config = settings(bootstrap, linger_ms=60_000, batch_size=1_200, delivery_timeout_ms=120_000)
    async with Producer(config) as producer:
        futures = [await producer.send(topic_name, b"v" * 100) for _ in range(120)]
        with anyio.fail_after(WAIT_S):
            await producer.flush()
    partitions = [future.result().partition for future in futures]
    runs = [p for i, p in enumerate(partitions) if i == 0 or partitions[i - 1] != p]
    # Batches hold ~10 records: runs of ~10, each on another partition than the last.
    assert 8 <= len(runs) <= 16
    assert all(a != b for a, b in itertools.pairwise(runs))
    assert len(set(partitions)) > 1


# -- back-pressure -----------------------------------------------------------------------------


async def test_buffer_memory_is_never_exceeded(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    limit = 20_000
    config = settings(bootstrap, buffer_memory=limit, batch_size=4_000, linger_ms=60_000,
                      delivery_timeout_ms=120_000)  # fmt: skip
    async with Producer(config) as producer:
        accumulator = producer._accumulator
        peak = 0
        with anyio.fail_after(WAIT_S):
            futures = []
            for _ in range(2_000):  # 240 KB through a 20 KB buffer, lingering 60 s
                futures.append(await producer.send(topic_name, b"v" * 100))
                peak = max(peak, accumulator.buffered_bytes)
            await producer.flush()
    assert peak <= limit
    assert [future.result().offset for future in futures] == list(range(2_000))


# -- config and send errors --------------------------------------------------------------------


def test_config_keys_in_both_spellings_and_unknown_keys_fail() -> None:
    producer = Producer({"bootstrap.servers": "localhost:9092", "linger.ms": "7"}, acks=1)
    assert (producer.config.linger_ms, producer.config.acks) == (7, 1)
    with pytest.raises(IllegalConfigError, match=r"linger\.ms"):
        Producer(bootstrap_servers="localhost:9092", linger_msec=5)
    with pytest.raises(IllegalConfigError, match=r"enable\.idempotence"):
        Producer(bootstrap_servers="localhost:9092", enable_idempotence=True, acks=1)
    with pytest.raises(IllegalConfigError, match=r"compression\.type"):
        Producer(bootstrap_servers="localhost:9092", compression_type="brotli")


async def test_unknown_topic_fails_after_max_block_ms(bootstrap: str, topic_name: str) -> None:
    async with Producer(settings(bootstrap, max_block_ms=300)) as producer:
        with anyio.fail_after(WAIT_S), pytest.raises(DefinitelyFailedError) as caught:
            await producer.send(topic_name, b"v")
    assert isinstance(caught.value.cause, KafkaTimeoutError)
    assert "max.block.ms" in str(caught.value)


async def test_too_large_and_bad_partition_fail_at_send(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    async with Producer(settings(bootstrap, max_request_size=10_000)) as producer:
        with pytest.raises(DefinitelyFailedError) as caught:
            await producer.send(topic_name, b"v" * 20_000)
        assert isinstance(caught.value.cause, MessageTooLargeError)
        with pytest.raises(DefinitelyFailedError, match="partition 3"):
            await producer.send(topic_name, b"v", partition=3)
        assert await producer.partitions_for(topic_name) == [0]


async def test_leaving_by_an_exception_fails_pending_records_typed(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    config = settings(bootstrap, linger_ms=60_000, delivery_timeout_ms=120_000)
    futures: list[RecordFuture] = []
    with pytest.raises(RuntimeError, match="boom"):
        async with Producer(config) as producer:
            futures.append(await producer.send(topic_name, b"v"))
            raise RuntimeError("boom")
    with pytest.raises(DefinitelyFailedError) as caught:
        await futures[0]
    assert isinstance(caught.value.cause, KafkaClosedError)
    with pytest.raises(DefinitelyFailedError, match="closed"):
        await producer.send(topic_name, b"late")
    with pytest.raises(DefinitelyFailedError, match="not started"):
        await Producer(config).send(topic_name, b"early")
