"""aiokafka (unmodified) against a real odradek broker.

Admin, produce (acks 0/1/all and idempotent x every codec), assigned consumption
(beginning, seek, end, long poll), offset lookups, bad produce inputs, auto-create.  Each
test body is a coroutine run under ``asyncio.wait_for`` so a stuck client fails the test in
bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as aioerrors
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

NODE_ID = 1
TIMEOUT_MS = 10_000
TEST_TIMEOUT_S = 35.0
CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
# A parked Fetch may wait this long; a record produced meanwhile must arrive well before.
LONG_POLL_MAX_WAIT_MS = 20_000
LONG_POLL_DEADLINE_S = 8.0
# Kafka's ConfigSource enum (DescribeConfigs v1+).
DYNAMIC_TOPIC_CONFIG = 1


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, TEST_TIMEOUT_S))


@contextlib.asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def producer(bootstrap: str, **config: Any) -> AsyncIterator[AIOKafkaProducer]:
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": TIMEOUT_MS,
        "linger_ms": 20,
    }
    settings.update(config)
    client = AIOKafkaProducer(**settings)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def consumer(bootstrap: str, **config: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """An assigned consumer: no group, nothing committed."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": TIMEOUT_MS,
        "fetch_max_wait_ms": 200,
    }
    settings.update(config)
    client = AIOKafkaConsumer(**settings)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


def error_names(topic_errors: Any) -> list[tuple[str, str]]:
    """(topic, error class name) per entry of a CreateTopics/CreatePartitions response."""
    return [(entry[0], aioerrors.for_code(entry[1]).__name__) for entry in topic_errors]


async def create_topic(
    bootstrap: str, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    async with admin_client(bootstrap) as admin:
        response = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    assert error_names(response.topic_errors) == [(name, "NoError")]


async def produce(bootstrap: str, topic: str, records: list[Any], **config: Any) -> list[Any]:
    """Send ``records`` (to partition ``index % partitions``); return their RecordMetadata."""
    partitions = config.pop("partitions", 1)
    async with producer(bootstrap, **config) as client:
        futures = [
            await client.send(
                topic,
                key=record.key,
                value=record.value,
                headers=list(record.headers),
                partition=index % partitions,
                timestamp_ms=record.timestamp_ms,
            )
            for index, record in enumerate(records)
        ]
        await client.flush()
        return list(await asyncio.gather(*futures))


async def poll_exactly(client: AIOKafkaConsumer, count: int, timeout_s: float = 15.0) -> list[Any]:
    """Poll until ``count`` records arrived (bounded); then check no extra record follows."""
    deadline = time.monotonic() + timeout_s
    received: list[Any] = []
    while len(received) < count and time.monotonic() < deadline:
        for batch in (await client.getmany(timeout_ms=500)).values():
            received.extend(batch)
    assert len(received) == count, f"got {len(received)} of {count} records by the deadline"
    extra = await client.getmany(timeout_ms=500)
    assert not extra, f"unexpected extra records: {extra}"
    return received


def as_tuples(records: list[Any]) -> list[tuple[Any, ...]]:
    """Consumed records as comparable tuples, sorted by (partition, offset)."""
    return sorted(
        (r.partition, r.offset, r.key, r.value, tuple(r.headers), r.timestamp, r.timestamp_type)
        for r in records
    )


def expected_tuples(records: list[Any], partitions: int = 1, first_offset: int = 0) -> list[Any]:
    """What a consumer should read for ``records`` sent to partition ``index % partitions``."""
    expected = []
    for index, record in enumerate(records):
        partition = index % partitions
        offset = first_offset + index // partitions
        expected.append(
            (partition, offset, record.key, record.value, record.headers, record.timestamp_ms, 0)
        )
    return sorted(expected)


async def partitions_of(admin: AIOKafkaAdminClient, topic: str) -> list[dict[str, Any]]:
    [described] = await admin.describe_topics([topic])
    assert described["error_code"] == 0, described
    return sorted(described["partitions"], key=lambda p: p["partition"])


# ---------------------------------------------------------------------------------- admin


def test_create_list_describe_topics(kafka_broker: Any, topic: str) -> None:
    async def body() -> None:
        async with admin_client(kafka_broker.bootstrap) as admin:
            new = NewTopic(topic, 3, 1, topic_configs={"retention.ms": "3600000"})
            response = await admin.create_topics([new])
            assert error_names(response.topic_errors) == [(topic, "NoError")]
            assert topic in await admin.list_topics()
            partitions = await partitions_of(admin, topic)
            assert [p["partition"] for p in partitions] == [0, 1, 2]
            for partition in partitions:
                assert partition["error_code"] == 0
                assert partition["leader"] == NODE_ID
                assert partition["replicas"] == [NODE_ID]
                assert partition["isr"] == [NODE_ID]

    run(body())


def test_describe_topic_and_broker_configs(kafka_broker_factory: Any, topic: str) -> None:
    broker = kafka_broker_factory.start({"num.partitions": "3"})

    async def body() -> None:
        await create_topic(broker.bootstrap, topic, configs={"retention.ms": "3600000"})
        async with admin_client(broker.bootstrap) as admin:
            responses = await admin.describe_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, topic),
                    ConfigResource(ConfigResourceType.BROKER, str(NODE_ID)),
                ]
            )
        resources = {
            (resource["resource_type"], resource["resource_name"]): resource
            for response in responses
            for resource in response.to_object()["resources"]
        }
        topic_resource = resources[(ConfigResourceType.TOPIC, topic)]
        broker_resource = resources[(ConfigResourceType.BROKER, str(NODE_ID))]
        assert (topic_resource["error_code"], broker_resource["error_code"]) == (0, 0)
        topic_configs = {e["config_names"]: e for e in topic_resource["config_entries"]}
        assert topic_configs["retention.ms"]["config_value"] == "3600000"
        assert topic_configs["retention.ms"]["config_source"] == DYNAMIC_TOPIC_CONFIG
        assert topic_configs["cleanup.policy"]["config_value"] == "delete"
        broker_configs = {
            e["config_names"]: e["config_value"] for e in broker_resource["config_entries"]
        }
        assert broker_configs["num.partitions"] == "3"
        assert broker_configs["auto.create.topics.enable"] == "true"

    run(body())


def test_create_partitions(kafka_broker: Any, topic: str) -> None:
    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic, partitions=2)
        async with admin_client(kafka_broker.bootstrap) as admin:
            response = await admin.create_partitions({topic: NewPartitions(5)})
            assert error_names(response.topic_errors) == [(topic, "NoError")]
            partitions = await partitions_of(admin, topic)
            assert [p["partition"] for p in partitions] == [0, 1, 2, 3, 4]
            assert {p["leader"] for p in partitions} == {NODE_ID}
            with pytest.raises(aioerrors.InvalidPartitionsError):
                await admin.create_partitions({topic: NewPartitions(3)})
        async with producer(kafka_broker.bootstrap) as client:
            metadata = await client.send_and_wait(topic, value=b"p4", partition=4)
        assert (metadata.partition, metadata.offset) == (4, 0)

    run(body())


def test_delete_topics(kafka_broker: Any, new_topic_name: Callable[[str], str]) -> None:
    doomed, kept = new_topic_name("doomed"), new_topic_name("kept")

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, doomed, partitions=2)
        await create_topic(kafka_broker.bootstrap, kept)
        async with admin_client(kafka_broker.bootstrap) as admin:
            response = await admin.delete_topics([doomed])
            assert error_names(response.topic_error_codes) == [(doomed, "NoError")]
            topics = await admin.list_topics()
            assert doomed not in topics
            assert kept in topics
            again = await admin.delete_topics([doomed])
            assert error_names(again.topic_error_codes) == [
                (doomed, "UnknownTopicOrPartitionError")
            ]

    run(body())


def test_create_existing_topic_fails(kafka_broker: Any, topic: str) -> None:
    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic, partitions=2)
        async with admin_client(kafka_broker.bootstrap) as admin:
            response = await admin.create_topics([NewTopic(topic, 4, 1)])
            assert error_names(response.topic_errors) == [(topic, "TopicAlreadyExistsError")]
            assert len(await partitions_of(admin, topic)) == 2

    run(body())


INVALID_TOPICS = {
    # case: (name or None for a valid unique one, partitions, replication factor, error)
    "invalid-name": ("bad name!", 1, 1, "InvalidTopicError"),
    "zero-partitions": (None, 0, 1, "InvalidPartitionsError"),
    "replication-factor-2": (None, 1, 2, "InvalidReplicationFactorError"),
}


@pytest.mark.parametrize("case", INVALID_TOPICS)
def test_create_topic_invalid(kafka_broker: Any, topic: str, case: str) -> None:
    name, partitions, replication_factor, error = INVALID_TOPICS[case]
    name = name or topic

    async def body() -> None:
        async with admin_client(kafka_broker.bootstrap) as admin:
            response = await admin.create_topics([NewTopic(name, partitions, replication_factor)])
            assert error_names(response.topic_errors) == [(name, error)]
            assert name not in await admin.list_topics()

    run(body())


# -------------------------------------------------------------------------------- produce


# Producer settings per case; idempotence adds InitProducerId and sequenced batches.
DELIVERY = {
    "acks0": {"acks": 0},
    "acks1": {"acks": 1},
    "acksall": {"acks": "all"},
    "acksall-idempotent": {"acks": "all", "enable_idempotence": True},
}


@pytest.mark.parametrize("codec", CODECS, ids=lambda codec: codec or "none")
@pytest.mark.parametrize("delivery", DELIVERY)
def test_produce_and_consume_back(
    kafka_broker: Any,
    topic: str,
    samples: Callable[..., list[Any]],
    delivery: str,
    codec: str | None,
) -> None:
    bootstrap = kafka_broker.bootstrap
    records = samples(60)
    expected = expected_tuples(records, partitions=2)
    settings = {**DELIVERY[delivery], "compression_type": codec}

    async def body() -> None:
        await create_topic(bootstrap, topic, partitions=2)
        sent = await produce(bootstrap, topic, records, partitions=2, **settings)
        if settings["acks"] != 0:  # acks=0 has no response, so no offsets to report
            # Offsets only: aiokafka 0.14 stamps every record of a CreateTime batch with the
            # first record's timestamp (MessageBatch.done reassigns its ``timestamp``), so
            # timestamps are checked on the consumed records instead.
            assert sorted((m.partition, m.offset) for m in sent) == [
                (partition, offset) for partition, offset, *_ in expected
            ]
        async with consumer(bootstrap) as client:
            client.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            await client.seek_to_beginning()
            assert as_tuples(await poll_exactly(client, len(records))) == expected

    run(body())


# -------------------------------------------------------------------------------- consume


def test_consume_from_beginning(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    records = samples(20)

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic)
        await produce(kafka_broker.bootstrap, topic, records)
        async with consumer(kafka_broker.bootstrap) as client:
            client.assign([TopicPartition(topic, 0)])
            assert as_tuples(await poll_exactly(client, 20)) == expected_tuples(records)

    run(body())


def test_consume_from_seek_offset(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    records = samples(20)
    partition = TopicPartition(topic, 0)

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic)
        await produce(kafka_broker.bootstrap, topic, records)
        async with consumer(kafka_broker.bootstrap) as client:
            client.assign([partition])
            client.seek(partition, 7)
            received = as_tuples(await poll_exactly(client, 13))
        assert received == expected_tuples(records)[7:]

    run(body())


def test_consume_from_end(kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]) -> None:
    before, after = samples(10, tag="before"), samples(5, tag="after")
    partition = TopicPartition(topic, 0)

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic)
        await produce(kafka_broker.bootstrap, topic, before)
        async with consumer(kafka_broker.bootstrap) as client:
            client.assign([partition])
            await client.seek_to_end(partition)
            assert await client.position(partition) == 10
            assert await client.getmany(timeout_ms=300) == {}
            await produce(kafka_broker.bootstrap, topic, after)
            received = as_tuples(await poll_exactly(client, 5))
        assert received == expected_tuples(after, first_offset=10)

    run(body())


def test_long_poll_wakes_on_produce(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    """A Fetch parked at the log end answers as soon as a record lands, not at max wait.

    The parked Fetch waits up to 20 s; the record must arrive within 8 s of being produced,
    which only a broker that completes the parked Fetch on append achieves.
    """
    [record] = samples(1)
    partition = TopicPartition(topic, 0)

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic)
        async with consumer(
            kafka_broker.bootstrap,
            fetch_max_wait_ms=LONG_POLL_MAX_WAIT_MS,
            request_timeout_ms=30_000,
        ) as client:
            client.assign([partition])
            await client.seek_to_end(partition)
            assert await client.position(partition) == 0
            # The fetcher task now has a Fetch parked at the broker; nothing is there yet.
            assert await client.getmany(timeout_ms=500) == {}
            await produce(kafka_broker.bootstrap, topic, [record])
            received = await poll_exactly(client, 1, timeout_s=LONG_POLL_DEADLINE_S)
        assert as_tuples(received) == expected_tuples([record])

    run(body())


# -------------------------------------------------------------------------------- offsets


def test_earliest_and_latest_offsets(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    records = samples(15)
    partitions = [TopicPartition(topic, index) for index in range(3)]

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic, partitions=3)
        # 0, 5 and 10 records in partitions 0, 1, 2.
        async with producer(kafka_broker.bootstrap) as client:
            for index, record in enumerate(records):
                await client.send(
                    topic, key=record.key, value=record.value, partition=1 if index < 5 else 2
                )
            await client.flush()
        async with consumer(kafka_broker.bootstrap) as client:
            assert await client.beginning_offsets(partitions) == dict.fromkeys(partitions, 0)
            assert await client.end_offsets(partitions) == dict(
                zip(partitions, [0, 5, 10], strict=True)
            )

    run(body())


def test_offsets_for_times(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]], base_timestamp_ms: int
) -> None:
    records = samples(10)  # timestamps base + 0, 10, ... 90, all in partition 0
    partition, empty = TopicPartition(topic, 0), TopicPartition(topic, 1)
    lookups = {
        base_timestamp_ms - 60_000: (0, base_timestamp_ms),
        base_timestamp_ms + 30: (3, base_timestamp_ms + 30),
        base_timestamp_ms + 35: (4, base_timestamp_ms + 40),
        base_timestamp_ms + 90: (9, base_timestamp_ms + 90),
    }

    async def body() -> None:
        await create_topic(kafka_broker.bootstrap, topic, partitions=2)
        await produce(kafka_broker.bootstrap, topic, records)
        async with consumer(kafka_broker.bootstrap) as client:
            for target, (offset, timestamp) in lookups.items():
                found = await client.offsets_for_times({partition: target})
                assert (found[partition].offset, found[partition].timestamp) == (offset, timestamp)
            later = await client.offsets_for_times(
                {partition: base_timestamp_ms + 91, empty: base_timestamp_ms}
            )
            assert later == {partition: None, empty: None}

    run(body())


# ---------------------------------------------------------------------- bad produce inputs


def test_produce_to_missing_topic_without_auto_create(
    kafka_broker_factory: Any, topic: str
) -> None:
    broker = kafka_broker_factory.start({"auto.create.topics.enable": "false"})

    async def body() -> None:
        started = time.monotonic()
        async with producer(broker.bootstrap, request_timeout_ms=3000) as client:
            refused = (aioerrors.KafkaTimeoutError, aioerrors.UnknownTopicOrPartitionError)
            with pytest.raises(refused):
                await client.send_and_wait(topic, key=b"k", value=b"v")
        assert time.monotonic() - started < 20
        async with admin_client(broker.bootstrap) as admin:
            assert topic not in await admin.list_topics()

    run(body())


@pytest.mark.parametrize("level", ["topic", "broker"])
def test_record_larger_than_max_message_bytes(
    kafka_broker_factory: Any, topic: str, level: str
) -> None:
    """The broker, not the client, refuses: the client's own limit is far larger."""
    if level == "broker":
        broker = kafka_broker_factory.start({"message.max.bytes": "1000"})
        configs = None
    else:
        broker = kafka_broker_factory.start()
        configs = {"max.message.bytes": "1000"}

    async def body() -> None:
        await create_topic(broker.bootstrap, topic, configs=configs)
        async with producer(broker.bootstrap, max_request_size=10_000_000) as client:
            with pytest.raises(aioerrors.MessageSizeTooLargeError):
                await client.send_and_wait(topic, key=b"big", value=b"x" * 5000)
            small = await client.send_and_wait(topic, key=b"small", value=b"y" * 100)
        assert (small.partition, small.offset) == (0, 0)
        async with consumer(broker.bootstrap) as client:
            client.assign([TopicPartition(topic, 0)])
            [record] = await poll_exactly(client, 1)
        assert (record.key, record.value) == (b"small", b"y" * 100)

    run(body())


# ----------------------------------------------------------------------------- auto-create


def test_produce_auto_creates_topic(kafka_broker: Any, topic: str) -> None:
    async def body() -> None:
        async with producer(kafka_broker.bootstrap) as client:
            metadata = await client.send_and_wait(topic, key=b"k", value=b"auto")
        assert (metadata.partition, metadata.offset) == (0, 0)
        async with admin_client(kafka_broker.bootstrap) as admin:
            assert topic in await admin.list_topics()
            assert [p["leader"] for p in await partitions_of(admin, topic)] == [NODE_ID]
        async with consumer(kafka_broker.bootstrap) as client:
            client.assign([TopicPartition(topic, 0)])
            [record] = await poll_exactly(client, 1)
        assert (record.offset, record.key, record.value) == (0, b"k", b"auto")

    run(body())
