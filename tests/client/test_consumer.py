"""The async Consumer against a real broker: the ``kafka_broker`` fixture, or any Kafka-protocol
broker named by ``ODRADEK_TEST_BOOTSTRAP``.

Records come from kafka-python, confluent-kafka and aiokafka (every codec), or from raw Produce
requests where a test needs exact batches.  Every wait is bounded by ``fail_after`` or a
``getmany`` timeout; nothing sleeps.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from client.admin import AdminClient, NewTopic
from client.consumer import Consumer, OffsetAndTimestamp
from client.fetcher import NoOffsetForPartitionError, PartitionOffsetOutOfRangeError
from client.metadata import TopicPartition
from client.protocol import records
from client.protocol.errors import ErrorCode
from client.records_view import ConsumerRecord

pytestmark = pytest.mark.anyio

PRODUCE = 0
TIMEOUT_MS = 10_000
DEADLINE_S = 20.0
BASE_TIMESTAMP_MS = 1_700_000_000_000
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
Sample = tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int]


def samples(count: int, tag: str = "r") -> list[Sample]:
    """Keyed records (one unkeyed, one null value) with varied headers, sizes and timestamps."""
    out: list[Sample] = []
    for index in range(count):
        key = None if index == 3 else f"{tag}-key-{index}".encode()
        value = None if index == 5 else (f"{tag}-{index}-".encode() * (index * 7 % 50))
        headers = [("index", str(index).encode())] if index % 2 else []
        if index % 3 == 0:
            headers += [("dup", b"first"), ("dup", b"second"), ("empty", b"")]
        out.append((key, value, headers, BASE_TIMESTAMP_MS + index * 10))
    return out


def as_sample(record: ConsumerRecord) -> Sample:
    headers = [(key, value or b"") for key, value in record.headers]
    return record.key, record.value, headers, record.timestamp


# -- producing with other clients ----------------------------------------------------------


def produce_kafka_python(bootstrap: str, topic: str, sent: list[Sample], codec: str) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        compression_type=None if codec == "none" else codec,
        request_timeout_ms=TIMEOUT_MS,
        max_block_ms=TIMEOUT_MS,
    )
    try:
        futures = [
            producer.send(topic, key=k, value=v, headers=h, partition=0, timestamp_ms=t)
            for k, v, h, t in sent
        ]
        producer.flush(timeout=TIMEOUT_MS / 1000)
        for future in futures:
            future.get(timeout=TIMEOUT_MS / 1000)
    finally:
        producer.close(timeout=5)


def produce_confluent(bootstrap: str, topic: str, sent: list[Sample], codec: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": 1,
        "linger.ms": 20,
        "compression.type": codec,
        "socket.timeout.ms": TIMEOUT_MS,
    })  # fmt: skip
    failures: list[Any] = []
    for k, v, h, t in sent:
        producer.produce(
            topic, key=k, value=v, headers=list(h), partition=0, timestamp=t,
            on_delivery=lambda error, _: failures.append(error) if error else None,
        )  # fmt: skip
    assert producer.flush(TIMEOUT_MS / 1000) == 0
    assert failures == []


async def produce_aiokafka(bootstrap: str, topic: str, sent: list[Sample], codec: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        compression_type=None if codec == "none" else codec,
        request_timeout_ms=TIMEOUT_MS,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=k, value=v, headers=h, partition=0, timestamp_ms=t)
            for k, v, h, t in sent
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def produce_with(
    client: str, bootstrap: str, topic: str, sent: list[Sample], codec: str
) -> None:
    if client == "aiokafka":
        await produce_aiokafka(bootstrap, topic, sent, codec)
        return
    sync = produce_kafka_python if client == "kafka-python" else produce_confluent
    await anyio.to_thread.run_sync(functools.partial(sync, bootstrap, topic, sent, codec))


# -- our own helpers -----------------------------------------------------------------------


@asynccontextmanager
async def admin_for(bootstrap: str) -> AsyncIterator[AdminClient]:
    async with AdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS, default_api_timeout_ms=20_000
    ) as admin:
        yield admin


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    async with admin_for(bootstrap) as admin:
        assert await admin.create_topics([NewTopic(name, partitions, 1)]) == {name: None}


async def produce_batches(bootstrap: str, topic: str, partition: int, batches: list[bytes]) -> None:
    """Raw Produce (acks=all) of exact batches, one request each, in order."""
    async with admin_for(bootstrap) as admin:
        connection = await admin.cluster.leader_connection(topic, partition)
        for batch in batches:
            data = [{"index": partition, "records": batch}]
            body = {
                "transactional_id": None,
                "acks": -1,
                "timeout_ms": TIMEOUT_MS,
                "topic_data": [{"name": topic, "partition_data": data}],
            }
            response = await connection.send(PRODUCE, body)
            assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE


def values_batch(
    values: list[bytes], *, timestamp_ms: int = BASE_TIMESTAMP_MS, codec: int = 0
) -> bytes:
    items = [records.Record(0, timestamp_ms + i, None, v) for i, v in enumerate(values)]
    return records.build_batch(items, compression=codec)


def consumer_for(bootstrap: str, **config: Any) -> Consumer:
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": TIMEOUT_MS,
        "default_api_timeout_ms": 20_000,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": 200,
    }
    settings.update(config)
    return Consumer(**settings)


async def consume_exactly(consumer: Consumer, count: int) -> list[ConsumerRecord]:
    """``count`` records (bounded), then a bounded check that no extra record follows."""
    received: list[ConsumerRecord] = []
    with anyio.fail_after(DEADLINE_S):
        while len(received) < count:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                received.extend(batch)
    assert len(received) == count
    assert await consumer.getmany(timeout_ms=300) == {}
    return received


# -- interop: records from every client and codec ------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka", "aiokafka"])
async def test_consumes_records_of_other_clients(
    bootstrap: str, topic_name: str, client: str, codec: str
) -> None:
    sent = samples(40, tag=client)
    await create_topic(bootstrap, topic_name)
    await produce_with(client, bootstrap, topic_name, sent, codec)
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap) as consumer:
        consumer.assign([tp])
        received = await consume_exactly(consumer, len(sent))
        assert await consumer.position(tp) == len(sent)
    assert [record.offset for record in received] == list(range(len(sent)))
    assert [as_sample(record) for record in received] == sent
    assert {(r.topic, r.partition, r.timestamp_type) for r in received} == {(topic_name, 0, 0)}
    assert all(record.leader_epoch >= 0 for record in received)


# -- positions -----------------------------------------------------------------------------


async def test_from_beginning_offset_and_end(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    values = [f"v{i}".encode() for i in range(10)]
    await produce_batches(
        bootstrap, topic_name, 0, [values_batch(values[:4]), values_batch(values[4:])]
    )
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap) as consumer:
        consumer.assign([tp])
        assert consumer.assignment() == {tp}
        assert [r.value for r in await consume_exactly(consumer, 10)] == values

        consumer.seek(tp, 6)  # inside the second batch: offsets 4 and 5 are skipped
        assert await consumer.position(tp) == 6
        assert [r.offset for r in await consume_exactly(consumer, 4)] == [6, 7, 8, 9]

        consumer.seek_to_beginning()
        assert await consumer.position(tp) == 0
        assert (await consumer.getone()).offset == 0

        consumer.seek_to_end(tp)
        assert await consumer.position(tp) == 10
        assert await consumer.getmany(timeout_ms=300) == {}
        await produce_batches(bootstrap, topic_name, 0, [values_batch([b"late"])])
        record = await consumer.getone()
        assert (record.offset, record.value) == (10, b"late")


async def test_seek_into_a_compressed_batch(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    values = [f"value-{i}".encode() * 20 for i in range(10)]
    batch = values_batch(values, codec=records.COMPRESSION_LZ4)
    await produce_batches(bootstrap, topic_name, 0, [batch])
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, 7)
        assert [r.value for r in await consume_exactly(consumer, 3)] == values[7:]


async def test_latest_reset_starts_at_the_end(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    await produce_batches(bootstrap, topic_name, 0, [values_batch([b"old"] * 3)])
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap, auto_offset_reset="latest") as consumer:
        consumer.assign([tp])
        assert await consumer.position(tp) == 3
        await produce_batches(bootstrap, topic_name, 0, [values_batch([b"new"])])
        assert [(r.offset, r.value) for r in await consume_exactly(consumer, 1)] == [(3, b"new")]


async def test_no_reset_policy_raises(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap, auto_offset_reset="none") as consumer:
        consumer.assign([tp])
        with anyio.fail_after(DEADLINE_S), pytest.raises(NoOffsetForPartitionError):
            await consumer.position(tp)
        with anyio.fail_after(DEADLINE_S), pytest.raises(NoOffsetForPartitionError) as raised:
            while True:
                await consumer.getmany(timeout_ms=1000)
        assert raised.value.partitions == {tp}
        consumer.seek(tp, 0)
        assert await consumer.position(tp) == 0


@pytest.mark.parametrize("policy", ["earliest", "latest", "none"])
async def test_offset_out_of_range(bootstrap: str, topic_name: str, policy: str) -> None:
    await create_topic(bootstrap, topic_name)
    await produce_batches(bootstrap, topic_name, 0, [values_batch([b"a", b"b", b"c"])])
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap, auto_offset_reset=policy) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, 100)
        if policy == "none":
            with anyio.fail_after(DEADLINE_S), pytest.raises(PartitionOffsetOutOfRangeError) as e:
                while True:
                    await consumer.getmany(timeout_ms=1000)
            assert e.value.offsets == {tp: 100}
            assert e.value.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
            return
        if policy == "earliest":
            assert [r.value for r in await consume_exactly(consumer, 3)] == [b"a", b"b", b"c"]
            return
        with anyio.fail_after(DEADLINE_S):
            while await consumer.position(tp) != 3:
                assert await consumer.getmany(timeout_ms=200) == {}
        await produce_batches(bootstrap, topic_name, 0, [values_batch([b"d"])])
        assert [(r.offset, r.value) for r in await consume_exactly(consumer, 1)] == [(3, b"d")]


# -- fetching ------------------------------------------------------------------------------


async def test_long_poll_returns_a_record_produced_while_parked(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    tp = TopicPartition(topic_name, 0)
    # A fetch may wait 30 s at the broker; the record must arrive well before that.
    async with consumer_for(bootstrap, fetch_max_wait_ms=30_000, request_timeout_ms=40_000) as c:
        c.assign([tp])
        assert await c.position(tp) == 0
        received: list[ConsumerRecord] = []

        async def wait_for_record() -> None:
            received.append(await c.getone())

        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(wait_for_record)
                await produce_batches(bootstrap, topic_name, 0, [values_batch([b"wake"])])
        assert [(r.offset, r.value) for r in received] == [(0, b"wake")]


async def test_many_partitions_and_topics(bootstrap: str, topic_name: str) -> None:
    other = f"{topic_name}-b"
    await create_topic(bootstrap, topic_name, partitions=3)
    await create_topic(bootstrap, other)
    layout = {TopicPartition(topic_name, p): 5 + p for p in range(3)} | {
        TopicPartition(other, 0): 7
    }
    for tp, count in layout.items():
        values = [f"{tp}-{i}".encode() for i in range(count)]
        await produce_batches(bootstrap, tp.topic, tp.partition, [values_batch(values)])
    async with consumer_for(bootstrap, max_poll_records=4) as consumer:
        consumer.assign(layout)
        received: dict[TopicPartition, list[ConsumerRecord]] = {}
        with anyio.fail_after(DEADLINE_S):
            while sum(map(len, received.values())) < sum(layout.values()):
                polled = await consumer.getmany(timeout_ms=1000)
                assert sum(map(len, polled.values())) <= 4  # max.poll.records
                for tp, batch in polled.items():
                    received.setdefault(tp, []).extend(batch)
    for tp, count in layout.items():
        assert [r.value for r in received[tp]] == [f"{tp}-{i}".encode() for i in range(count)]
        assert {(r.topic, r.partition) for r in received[tp]} == {tp}


async def test_async_iteration(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    values = [f"it-{i}".encode() for i in range(25)]
    await produce_batches(
        bootstrap, topic_name, 0, [values_batch(values[:10]), values_batch(values[10:])]
    )
    seen: list[bytes | None] = []
    async with consumer_for(bootstrap, max_poll_records=7) as consumer:
        consumer.assign([TopicPartition(topic_name, 0)])
        with anyio.fail_after(DEADLINE_S):
            async for record in consumer:
                seen.append(record.value)
                if len(seen) == 12:
                    # Mid-chunk: the position is the next record to be handed out.
                    assert await consumer.position(TopicPartition(topic_name, 0)) == 12
                if len(seen) == len(values):
                    break
    assert seen == values


async def test_batch_larger_than_max_partition_fetch_bytes(bootstrap: str, topic_name: str) -> None:
    """KIP-74: a batch above the fetch limits is still returned whole, so the consumer moves."""
    await create_topic(bootstrap, topic_name)
    big = [bytes([65 + i]) * 1000 for i in range(20)]  # one ~20 KB batch
    await produce_batches(bootstrap, topic_name, 0, [values_batch(big), values_batch([b"after"])])
    settings = {"max_partition_fetch_bytes": 4096, "fetch_max_bytes": 4096}
    async with consumer_for(bootstrap, **settings) as consumer:
        consumer.assign([TopicPartition(topic_name, 0)])
        received = await consume_exactly(consumer, 21)
    assert [r.value for r in received] == [*big, b"after"]


async def test_deserializers(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    batch = records.build_batch([records.Record(0, BASE_TIMESTAMP_MS, b"k", b"41")])
    await produce_batches(bootstrap, topic_name, 0, [batch])

    def decode(data: bytes | None) -> Any:
        return None if data is None else data.decode()

    async with consumer_for(
        bootstrap, key_deserializer=decode, value_deserializer=lambda data: int(data or b"0") + 1
    ) as consumer:
        consumer.assign([TopicPartition(topic_name, 0)])
        record = await consumer.getone()
    assert (record.key, record.value) == ("k", 42)


# -- offsets -------------------------------------------------------------------------------


async def test_offsets_for_times_and_ends(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name)
    batch = records.build_batch([records.Record(0, ts, None, b"v") for ts in (1000, 2000, 3000)])
    await produce_batches(bootstrap, topic_name, 0, [batch])
    tp = TopicPartition(topic_name, 0)
    async with consumer_for(bootstrap) as consumer:
        assert await consumer.beginning_offsets([tp]) == {tp: 0}
        assert await consumer.end_offsets([tp]) == {tp: 3}
        found = await consumer.offsets_for_times({tp: 1500})
        assert found == {tp: OffsetAndTimestamp(1, 2000, found[tp].leader_epoch)}  # type: ignore[union-attr]
        assert (await consumer.offsets_for_times({tp: 0}))[tp].offset == 0  # type: ignore[union-attr]
        assert (await consumer.offsets_for_times({tp: 3000}))[tp].offset == 2  # type: ignore[union-attr]
        assert await consumer.offsets_for_times({tp: 3001}) == {tp: None}
        with pytest.raises(ValueError):
            await consumer.offsets_for_times({tp: -1})
