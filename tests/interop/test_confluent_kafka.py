"""confluent-kafka / librdkafka (unmodified) against a real odradek broker.

Admin, produce (acks 0/1/all and idempotent x every codec), assigned consumption
(beginning, offset, seek, end, long poll), watermarks and ListOffsets, bad produce inputs,
auto-create.  The Python
binding requires a ``group.id`` even for ``assign()``; nothing is committed.

Set ``ODRADEK_INTEROP_DEBUG`` to librdkafka debug contexts (e.g. ``protocol,broker,fetch``)
to have every client log them through ``logging`` (shown by pytest on failure).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

NODE_ID = 1
TIMEOUT_S = 10.0
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# A parked Fetch may wait this long; a record produced meanwhile must arrive well before.
LONG_POLL_MAX_WAIT_MS = 20_000
LONG_POLL_DEADLINE_S = 8.0
PARKED_FOR_MS = 500
DEBUG_CONTEXTS = os.environ.get("ODRADEK_INTEROP_DEBUG", "")
LOG = logging.getLogger("librdkafka")


def client_config(bootstrap: str, **config: Any) -> dict[str, Any]:
    # librdkafka's own log lines go through ``logging`` so pytest captures them.
    settings: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 10_000,
        "logger": LOG,
    }
    if DEBUG_CONTEXTS:
        settings["debug"] = DEBUG_CONTEXTS
    settings.update(config)
    return settings


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient(client_config(bootstrap))


@contextlib.contextmanager
def consumer(bootstrap: str, **config: Any) -> Iterator[Consumer]:
    """An assigned consumer: a group id (the binding insists) but no join, no commit."""
    settings = client_config(
        bootstrap,
        **{
            "group.id": "odradek-interop",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 200,
            **config,
        },
    )
    client = Consumer(settings)
    try:
        yield client
    finally:
        client.close()


def error_code(future: Any) -> int:
    """The KafkaError code a failed admin future carries (or NO_ERROR)."""
    try:
        future.result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return KafkaError.NO_ERROR


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    admin = admin_client(bootstrap)  # kept referenced: a destroyed handle fails its futures
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=configs or {})],
        request_timeout=TIMEOUT_S,
    )
    futures[name].result(timeout=TIMEOUT_S)


def send_all(bootstrap: str, sends: list[dict[str, Any]], **config: Any) -> list[Any]:
    """One producer sends each ``Producer.produce`` kwargs of ``sends``; (error, msg) reports.

    The handle is dropped even when flush raises (a fatal error): a handle kept alive by the
    traceback would go on reconnecting to the stopped broker for the rest of the session.
    """
    client = Producer(client_config(bootstrap, **{"linger.ms": 20, **config}))
    reports: list[tuple[Any, Any]] = []
    try:
        for send in sends:
            client.produce(**send, on_delivery=lambda e, m: reports.append((e, m)))
        assert client.flush(TIMEOUT_S + 5) == 0, "records still undelivered after the flush"
    finally:
        del client
    assert len(reports) == len(sends)
    return reports


def produce(bootstrap: str, topic: str, records: list[Any], **config: Any) -> list[Any]:
    """Send ``records`` (to partition ``index % partitions``); return their reports."""
    partitions = config.pop("partitions", 1)
    sends = [
        {
            "topic": topic,
            "key": record.key,
            "value": record.value,
            "headers": list(record.headers),
            "partition": index % partitions,
            "timestamp": record.timestamp_ms,
        }
        for index, record in enumerate(records)
    ]
    return send_all(bootstrap, sends, **config)


def produce_one(
    bootstrap: str, topic: str, value: bytes, partition: int = 0, **config: Any
) -> list[Any]:
    """Produce one record (key ``k``) and return its delivery report."""
    send = {"topic": topic, "key": b"k", "value": value, "partition": partition}
    return send_all(bootstrap, [send], **config)


def delivered(reports: list[tuple[Any, Any]]) -> list[tuple[int, int, int]]:
    """(partition, offset, timestamp) of each delivery report; every one must be a success."""
    assert [error for error, _ in reports if error is not None] == []
    return sorted((m.partition(), m.offset(), m.timestamp()[1]) for _, m in reports)


def consume_exactly(client: Consumer, count: int, timeout_s: float = 15.0) -> list[Any]:
    """Consume until ``count`` records arrived (bounded); then check no extra record follows."""
    deadline = time.monotonic() + timeout_s
    received: list[Any] = []
    while len(received) < count and time.monotonic() < deadline:
        received.extend(client.consume(num_messages=count - len(received), timeout=0.5))
    errors = [message.error() for message in received if message.error() is not None]
    assert errors == []
    assert len(received) == count, f"got {len(received)} of {count} records by the deadline"
    extra = client.consume(num_messages=1, timeout=0.5)
    assert extra == [], f"unexpected extra records: {[m.offset() for m in extra]}"
    return received


def as_tuples(messages: list[Any]) -> list[tuple[Any, ...]]:
    """Consumed messages as comparable tuples, sorted by (partition, offset)."""
    return sorted(
        (
            m.partition(),
            m.offset(),
            m.key(),
            m.value(),
            tuple(m.headers() or ()),
            m.timestamp()[1],
            m.timestamp()[0],
        )
        for m in messages
    )


def expected_tuples(records: list[Any], partitions: int = 1, first_offset: int = 0) -> list[Any]:
    """What a consumer should read for ``records`` sent to partition ``index % partitions``."""
    expected = []
    for index, record in enumerate(records):
        partition = index % partitions
        offset = first_offset + index // partitions
        expected.append(
            (
                partition,
                offset,
                record.key,
                record.value,
                record.headers,
                record.timestamp_ms,
                TIMESTAMP_CREATE_TIME,
            )
        )
    return sorted(expected)


def wait_until_fetching(
    client: Consumer, stats: list[dict[str, Any]], topic: str, offset: int
) -> None:
    """Poll (bounded) until librdkafka's statistics show partition 0 fetching at ``offset``.

    An OFFSET_END assignment is resolved asynchronously; producing before it is resolved
    would move the end past the new records.
    """
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        assert client.consume(num_messages=1, timeout=0.1) == []
        if stats:
            partition = stats[-1]["topics"].get(topic, {}).get("partitions", {}).get("0", {})
            if partition.get("fetch_state") == "active" and partition["next_offset"] == offset:
                return
    pytest.fail(f"consumer not fetching {topic} [0] at offset {offset}: {stats[-1:]}")


def stats_collector() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    stats: list[dict[str, Any]] = []
    config = {"statistics.interval.ms": 100, "stats_cb": lambda raw: stats.append(json.loads(raw))}
    return stats, config


# ---------------------------------------------------------------------------------- admin


def test_create_list_describe_topics(kafka_broker: Any, topic: str) -> None:
    admin = admin_client(kafka_broker.bootstrap)
    new = NewTopic(
        topic, num_partitions=3, replication_factor=1, config={"retention.ms": "3600000"}
    )
    futures = admin.create_topics([new], request_timeout=TIMEOUT_S)
    assert futures[topic].result(timeout=TIMEOUT_S) is None
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    assert topic in metadata.topics
    listed = metadata.topics[topic]
    assert listed.error is None
    assert sorted(listed.partitions) == [0, 1, 2]
    for partition in listed.partitions.values():
        assert (partition.leader, partition.replicas, partition.isrs) == (NODE_ID, [1], [1])


def test_describe_topics(kafka_broker: Any, topic: str) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=3)
    admin = admin_client(kafka_broker.bootstrap)
    future = admin.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT_S)[topic]
    description = future.result(timeout=TIMEOUT_S)
    assert description.name == topic
    assert not description.is_internal
    partitions = sorted(description.partitions, key=lambda p: p.id)
    assert [p.id for p in partitions] == [0, 1, 2]
    for partition in partitions:
        assert partition.leader.id == NODE_ID
        assert [node.id for node in partition.replicas] == [NODE_ID]
        assert [node.id for node in partition.isr] == [NODE_ID]


def test_describe_topic_and_broker_configs(kafka_broker_factory: Any, topic: str) -> None:
    broker = kafka_broker_factory.start({"num.partitions": "3"})
    create_topic(broker.bootstrap, topic, configs={"retention.ms": "3600000"})
    admin = admin_client(broker.bootstrap)
    topic_resource = ConfigResource(ResourceType.TOPIC, topic)
    broker_resource = ConfigResource(ResourceType.BROKER, str(NODE_ID))
    futures = admin.describe_configs([topic_resource, broker_resource], request_timeout=TIMEOUT_S)
    topic_configs = futures[topic_resource].result(timeout=TIMEOUT_S)
    assert topic_configs["retention.ms"].value == "3600000"
    assert topic_configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert topic_configs["cleanup.policy"].value == "delete"
    broker_configs = futures[broker_resource].result(timeout=TIMEOUT_S)
    assert broker_configs["num.partitions"].value == "3"
    assert broker_configs["auto.create.topics.enable"].value == "true"


def test_create_partitions(kafka_broker: Any, topic: str) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    admin = admin_client(kafka_broker.bootstrap)
    futures = admin.create_partitions([NewPartitions(topic, 5)], request_timeout=TIMEOUT_S)
    assert futures[topic].result(timeout=TIMEOUT_S) is None
    partitions = admin.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions
    assert sorted(partitions) == [0, 1, 2, 3, 4]
    assert {p.leader for p in partitions.values()} == {NODE_ID}
    shrink = admin.create_partitions([NewPartitions(topic, 3)], request_timeout=TIMEOUT_S)
    assert error_code(shrink[topic]) == KafkaError.INVALID_PARTITIONS
    [(error, message)] = produce_one(kafka_broker.bootstrap, topic, b"p4", partition=4)
    assert error is None
    assert (message.partition(), message.offset()) == (4, 0)


def test_delete_topics(kafka_broker: Any, new_topic_name: Callable[[str], str]) -> None:
    doomed, kept = new_topic_name("doomed"), new_topic_name("kept")
    create_topic(kafka_broker.bootstrap, doomed, partitions=2)
    create_topic(kafka_broker.bootstrap, kept)
    admin = admin_client(kafka_broker.bootstrap)
    futures = admin.delete_topics([doomed], request_timeout=TIMEOUT_S)
    assert futures[doomed].result(timeout=TIMEOUT_S) is None
    topics = admin.list_topics(timeout=TIMEOUT_S).topics
    assert doomed not in topics
    assert kept in topics
    again = admin.delete_topics([doomed], request_timeout=TIMEOUT_S)
    assert error_code(again[doomed]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_existing_topic_fails(kafka_broker: Any, topic: str) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    admin = admin_client(kafka_broker.bootstrap)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=4, replication_factor=1)], request_timeout=TIMEOUT_S
    )
    assert error_code(futures[topic]) == KafkaError.TOPIC_ALREADY_EXISTS
    assert len(admin.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions) == 2


INVALID_TOPICS = {
    # case: (name or None for a valid unique one, partitions, replication factor, error)
    "invalid-name": ("bad name!", 1, 1, KafkaError.TOPIC_EXCEPTION),
    "zero-partitions": (None, 0, 1, KafkaError.INVALID_PARTITIONS),
    "replication-factor-2": (None, 1, 2, KafkaError.INVALID_REPLICATION_FACTOR),
}


@pytest.mark.parametrize("case", INVALID_TOPICS)
def test_create_topic_invalid(kafka_broker: Any, topic: str, case: str) -> None:
    name, partitions, replication_factor, error = INVALID_TOPICS[case]
    name = name or topic
    admin = admin_client(kafka_broker.bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)],
        request_timeout=TIMEOUT_S,
    )
    assert error_code(futures[name]) == error
    assert name not in admin.list_topics(timeout=TIMEOUT_S).topics


# -------------------------------------------------------------------------------- produce


# Producer settings per case; idempotence adds InitProducerId and sequenced batches.
DELIVERY = {
    "acks0": {"acks": "0"},
    "acks1": {"acks": "1"},
    "acksall": {"acks": "all"},
    "acksall-idempotent": {"acks": "all", "enable.idempotence": True},
}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("delivery", DELIVERY)
def test_produce_and_consume_back(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]], delivery: str, codec: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    create_topic(bootstrap, topic, partitions=2)
    records = samples(60)
    settings = {**DELIVERY[delivery], "compression.type": codec}
    reports = produce(bootstrap, topic, records, partitions=2, **settings)
    expected = expected_tuples(records, partitions=2)
    if settings["acks"] == "0":  # no response, so librdkafka reports success without offsets
        assert [error for error, _ in reports] == [None] * len(records)
    else:
        assert delivered(reports) == [(p, o, ts) for p, o, _, _, _, ts, _ in expected]
    with consumer(bootstrap) as client:
        client.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in (0, 1)])
        assert as_tuples(consume_exactly(client, len(records))) == expected


# -------------------------------------------------------------------------------- consume


def test_consume_from_beginning(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic)
    records = samples(20)
    produce(kafka_broker.bootstrap, topic, records)
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        assert as_tuples(consume_exactly(client, 20)) == expected_tuples(records)


def test_consume_from_offset_then_seek(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic)
    records = samples(20)
    produce(kafka_broker.bootstrap, topic, records)
    expected = expected_tuples(records)
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0, 7)])
        assert as_tuples(consume_exactly(client, 13)) == expected[7:]
        client.seek(TopicPartition(topic, 0, 15))
        assert as_tuples(consume_exactly(client, 5)) == expected[15:]


def test_consume_from_end(kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]) -> None:
    create_topic(kafka_broker.bootstrap, topic)
    before, after = samples(10, tag="before"), samples(5, tag="after")
    produce(kafka_broker.bootstrap, topic, before)
    stats, stats_config = stats_collector()
    with consumer(kafka_broker.bootstrap, **stats_config) as client:
        client.assign([TopicPartition(topic, 0, OFFSET_END)])
        wait_until_fetching(client, stats, topic, offset=10)
        produce(kafka_broker.bootstrap, topic, after)
        received = as_tuples(consume_exactly(client, 5))
    assert received == expected_tuples(after, first_offset=10)


def test_long_poll_wakes_on_produce(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    """A Fetch parked at the log end answers as soon as a record lands, not at max wait.

    The parked Fetch waits up to 20 s; the record must arrive within 8 s of being produced,
    which only a broker that completes the parked Fetch on append achieves.  librdkafka's
    round-trip statistics show the Fetch really was parked (a broker answering empty
    Fetches at once would also deliver the record quickly).
    """
    create_topic(kafka_broker.bootstrap, topic)
    [record] = samples(1)
    stats, stats_config = stats_collector()
    with consumer(
        kafka_broker.bootstrap, **{"fetch.wait.max.ms": LONG_POLL_MAX_WAIT_MS, **stats_config}
    ) as client:
        client.assign([TopicPartition(topic, 0, OFFSET_END)])
        wait_until_fetching(client, stats, topic, offset=0)
        assert client.consume(num_messages=1, timeout=PARKED_FOR_MS / 1000) == []
        produce(kafka_broker.bootstrap, topic, [record])
        received = consume_exactly(client, 1, timeout_s=LONG_POLL_DEADLINE_S)
    assert as_tuples(received) == expected_tuples([record])
    max_rtt_ms = max(b["rtt"]["max"] for s in stats for b in s["brokers"].values()) / 1000
    assert max_rtt_ms >= PARKED_FOR_MS * 0.8


# -------------------------------------------------------------------------------- offsets


def _produce_0_5_10(bootstrap: str, topic: str, records: list[Any]) -> None:
    """0, 5 and 10 of ``records`` into partitions 0, 1, 2."""
    sends = [
        {"topic": topic, "key": r.key, "value": r.value, "partition": 1 if index < 5 else 2}
        for index, r in enumerate(records)
    ]
    assert [error for error, _ in send_all(bootstrap, sends)] == [None] * len(records)


def test_watermark_offsets(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=3)
    _produce_0_5_10(kafka_broker.bootstrap, topic, samples(15))
    with consumer(kafka_broker.bootstrap) as client:
        watermarks = [
            client.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S, cached=False)
            for p in range(3)
        ]
    assert watermarks == [(0, 0), (0, 5), (0, 10)]


def test_list_offsets_earliest_latest(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=3)
    _produce_0_5_10(kafka_broker.bootstrap, topic, samples(15))
    admin = admin_client(kafka_broker.bootstrap)
    for spec, expected in [(OffsetSpec.earliest(), [0, 0, 0]), (OffsetSpec.latest(), [0, 5, 10])]:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        futures = admin.list_offsets(dict.fromkeys(partitions, spec), request_timeout=TIMEOUT_S)
        assert [futures[tp].result(timeout=TIMEOUT_S).offset for tp in partitions] == expected


def test_offsets_for_times(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]], base_timestamp_ms: int
) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    records = samples(10)  # timestamps base + 0, 10, ... 90, all in partition 0
    produce(kafka_broker.bootstrap, topic, records)
    lookups = [
        (0, base_timestamp_ms - 60_000, 0),
        (0, base_timestamp_ms + 30, 3),
        (0, base_timestamp_ms + 35, 4),
        (0, base_timestamp_ms + 90, 9),
        (0, base_timestamp_ms + 91, -1),
        (1, base_timestamp_ms, -1),
    ]
    with consumer(kafka_broker.bootstrap) as client:
        for partition, target, offset in lookups:
            [found] = client.offsets_for_times(
                [TopicPartition(topic, partition, target)], timeout=TIMEOUT_S
            )
            assert (found.partition, found.offset, found.error) == (partition, offset, None)


def test_list_offsets_for_timestamp(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]], base_timestamp_ms: int
) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    produce(kafka_broker.bootstrap, topic, samples(10))
    admin = admin_client(kafka_broker.bootstrap)
    lookups = [
        (0, base_timestamp_ms + 30, (3, base_timestamp_ms + 30)),
        (0, base_timestamp_ms + 35, (4, base_timestamp_ms + 40)),
        (0, base_timestamp_ms + 91, (-1, -1)),
        (1, base_timestamp_ms, (-1, -1)),
    ]
    for partition, target, expected in lookups:
        tp = TopicPartition(topic, partition)
        futures = admin.list_offsets(
            {tp: OffsetSpec.for_timestamp(target)}, request_timeout=TIMEOUT_S
        )
        result = futures[tp].result(timeout=TIMEOUT_S)
        assert (result.offset, result.timestamp) == expected


# ---------------------------------------------------------------------- bad produce inputs


def test_produce_to_missing_topic_without_auto_create(
    kafka_broker_factory: Any, topic: str
) -> None:
    broker = kafka_broker_factory.start({"auto.create.topics.enable": "false"})
    started = time.monotonic()
    [(error, _)] = produce_one(broker.bootstrap, topic, b"v", **{"message.timeout.ms": 3000})
    assert time.monotonic() - started < 20
    assert error is not None
    assert error.code() in {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._MSG_TIMED_OUT,
    }, error
    assert topic not in admin_client(broker.bootstrap).list_topics(timeout=TIMEOUT_S).topics


@pytest.mark.parametrize("level", ["topic", "broker"])
def test_record_larger_than_max_message_bytes(
    kafka_broker_factory: Any, topic: str, level: str
) -> None:
    """The broker, not the client, refuses: the client's own limit is far larger."""
    if level == "broker":
        broker = kafka_broker_factory.start({"message.max.bytes": "1000"})
        create_topic(broker.bootstrap, topic)
    else:
        broker = kafka_broker_factory.start()
        create_topic(broker.bootstrap, topic, configs={"max.message.bytes": "1000"})
    big = {"message.max.bytes": 10_000_000, "message.send.max.retries": 0}
    [(error, _)] = produce_one(broker.bootstrap, topic, b"x" * 5000, **big)
    assert error is not None
    assert error.code() == KafkaError.MSG_SIZE_TOO_LARGE, error
    [(error, message)] = produce_one(broker.bootstrap, topic, b"y" * 100)
    assert error is None
    assert (message.partition(), message.offset()) == (0, 0)
    with consumer(broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        [received] = consume_exactly(client, 1)
    assert received.value() == b"y" * 100


# ----------------------------------------------------------------------------- auto-create


def test_produce_auto_creates_topic(kafka_broker: Any, topic: str) -> None:
    [(error, message)] = produce_one(kafka_broker.bootstrap, topic, b"auto")
    assert error is None
    assert (message.partition(), message.offset()) == (0, 0)
    metadata = admin_client(kafka_broker.bootstrap).list_topics(timeout=TIMEOUT_S)
    assert topic in metadata.topics
    assert [p.leader for p in metadata.topics[topic].partitions.values()] == [NODE_ID]
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        [received] = consume_exactly(client, 1)
    assert (received.offset(), received.key(), received.value()) == (0, b"k", b"auto")
