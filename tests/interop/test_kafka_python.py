"""kafka-python (unmodified) against a real odradek broker.

Admin, produce (acks 1/all x every codec), assigned consumption (beginning, seek, end,
long poll), offset lookups, bad produce inputs, auto-create.  kafka-python's acks=0 is left
out on purpose: a short-lived acks=0 producer puts no Produce on the wire at all (see the
clients census), so nothing could be checked.  kafka-python 3 makes acks=all producers
idempotent by default (KIP-679), so the acks=all cases also cover InitProducerId and
producer-id/sequence batches.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition, errors
from kafka.admin import ConfigResource, ConfigResourceType

NODE_ID = 1
TIMEOUT_MS = 10_000
CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
# A parked Fetch may wait this long; a record produced meanwhile must arrive well before.
LONG_POLL_MAX_WAIT_MS = 20_000
LONG_POLL_DEADLINE_S = 8.0
PARKED_FOR_MS = 500


@contextlib.contextmanager
def admin_client(bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        yield admin
    finally:
        admin.close()


@contextlib.contextmanager
def producer(bootstrap: str, **config: Any) -> Iterator[KafkaProducer]:
    """acks=1 unless told otherwise: kafka-python's default (acks=all) is idempotent, which
    only the acks=all produce tests mean to exercise."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": 1,
        "request_timeout_ms": TIMEOUT_MS,
        "max_block_ms": TIMEOUT_MS,
        "linger_ms": 20,
    }
    settings.update(config)
    client = KafkaProducer(**settings)
    try:
        yield client
    finally:
        client.close(timeout=5)


@contextlib.contextmanager
def consumer(bootstrap: str, **config: Any) -> Iterator[KafkaConsumer]:
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
    client = KafkaConsumer(**settings)
    try:
        yield client
    finally:
        client.close(timeout_ms=5000)


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    with admin_client(bootstrap) as admin:
        settings = {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}
        result = admin.create_topics({name: settings})
    assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(name, 0)]


def produce(bootstrap: str, topic: str, records: list[Any], **config: Any) -> list[Any]:
    """Send ``records`` (to partition ``index % partitions``); return their RecordMetadata."""
    partitions = config.pop("partitions", 1)
    with producer(bootstrap, **config) as client:
        futures = [
            client.send(
                topic,
                key=record.key,
                value=record.value,
                headers=list(record.headers),
                partition=index % partitions,
                timestamp_ms=record.timestamp_ms,
            )
            for index, record in enumerate(records)
        ]
        client.flush(timeout=TIMEOUT_MS / 1000)
        return [future.get(timeout=TIMEOUT_MS / 1000) for future in futures]


def poll_exactly(client: KafkaConsumer, count: int, timeout_s: float = 15.0) -> list[Any]:
    """Poll until ``count`` records arrived (bounded); then check no extra record follows."""
    deadline = time.monotonic() + timeout_s
    received: list[Any] = []
    while len(received) < count and time.monotonic() < deadline:
        for batch in client.poll(timeout_ms=500).values():
            received.extend(batch)
    assert len(received) == count, f"got {len(received)} of {count} records by the deadline"
    extra = client.poll(timeout_ms=500)
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


def partitions_of(admin: KafkaAdminClient, topic: str) -> list[dict[str, Any]]:
    [described] = admin.describe_topics([topic])
    assert described["error_code"] == 0, described
    return sorted(described["partitions"], key=lambda p: p["partition_index"])


# ---------------------------------------------------------------------------------- admin


def test_create_list_describe_topics(kafka_broker: Any, topic: str) -> None:
    with admin_client(kafka_broker.bootstrap) as admin:
        result = admin.create_topics(
            {
                topic: {
                    "num_partitions": 3,
                    "replication_factor": 1,
                    "configs": {"retention.ms": "3600000"},
                }
            }
        )
        assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(topic, 0)]
        assert topic in admin.list_topics()
        partitions = partitions_of(admin, topic)
        assert [p["partition_index"] for p in partitions] == [0, 1, 2]
        for partition in partitions:
            assert partition["error_code"] == 0
            assert partition["leader_id"] == NODE_ID
            assert partition["replica_nodes"] == [NODE_ID]
            assert partition["isr_nodes"] == [NODE_ID]


def test_describe_topic_and_broker_configs(kafka_broker_factory: Any, topic: str) -> None:
    broker = kafka_broker_factory.start({"num.partitions": "3"})
    create_topic(broker.bootstrap, topic, configs={"retention.ms": "3600000"})
    with admin_client(broker.bootstrap) as admin:
        described = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topic),
                ConfigResource(ConfigResourceType.BROKER, str(NODE_ID)),
            ],
            config_filter="all",
        )
    topic_configs = described["topic"][topic]
    assert topic_configs["retention.ms"]["value"] == "3600000"
    assert topic_configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert topic_configs["cleanup.policy"]["value"] == "delete"
    broker_configs = described["broker"][str(NODE_ID)]
    assert broker_configs["num.partitions"]["value"] == "3"
    assert broker_configs["auto.create.topics.enable"]["value"] == "true"


def test_create_partitions(kafka_broker: Any, topic: str) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    with admin_client(kafka_broker.bootstrap) as admin:
        admin.create_partitions({topic: 5})
        partitions = partitions_of(admin, topic)
        assert [p["partition_index"] for p in partitions] == [0, 1, 2, 3, 4]
        assert {p["leader_id"] for p in partitions} == {NODE_ID}
        with pytest.raises(errors.InvalidPartitionsError):
            admin.create_partitions({topic: 3})
    # A new partition takes records.
    with producer(kafka_broker.bootstrap) as client:
        metadata = client.send(topic, value=b"p4", partition=4).get(timeout=TIMEOUT_MS / 1000)
    assert (metadata.partition, metadata.offset) == (4, 0)


def test_delete_topics(kafka_broker: Any, new_topic_name: Callable[[str], str]) -> None:
    doomed, kept = new_topic_name("doomed"), new_topic_name("kept")
    create_topic(kafka_broker.bootstrap, doomed, partitions=2)
    create_topic(kafka_broker.bootstrap, kept)
    with admin_client(kafka_broker.bootstrap) as admin:
        result = admin.delete_topics([doomed])
        assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(doomed, 0)]
        topics = admin.list_topics()
        assert doomed not in topics
        assert kept in topics
        [described] = admin.describe_topics([doomed])
        assert described["error_code"] == errors.UnknownTopicOrPartitionError.errno
        with pytest.raises(errors.UnknownTopicOrPartitionError):
            admin.delete_topics([doomed])


def test_create_existing_topic_fails(kafka_broker: Any, topic: str) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    with admin_client(kafka_broker.bootstrap) as admin:
        with pytest.raises(errors.TopicAlreadyExistsError):
            admin.create_topics({topic: {"num_partitions": 4, "replication_factor": 1}})
        # The original topic is untouched.
        assert len(partitions_of(admin, topic)) == 2


INVALID_TOPICS = {
    # case: (name or None for a valid unique one, partitions, replication factor, error)
    "invalid-name": ("bad name!", 1, 1, errors.InvalidTopicError),
    "zero-partitions": (None, 0, 1, errors.InvalidPartitionsError),
    "replication-factor-2": (None, 1, 2, errors.InvalidReplicationFactorError),
}


@pytest.mark.parametrize("case", INVALID_TOPICS)
def test_create_topic_invalid(kafka_broker: Any, topic: str, case: str) -> None:
    name, partitions, replication_factor, error = INVALID_TOPICS[case]
    name = name or topic
    with admin_client(kafka_broker.bootstrap) as admin:
        with pytest.raises(error):
            admin.create_topics(
                {name: {"num_partitions": partitions, "replication_factor": replication_factor}}
            )
        assert name not in admin.list_topics()


# -------------------------------------------------------------------------------- produce


# Producer settings per case; kafka-python's default acks=all producer is idempotent.
DELIVERY = {
    "acks1": {"acks": 1},
    "acksall": {"acks": "all", "enable_idempotence": False},
    "acksall-idempotent": {"acks": "all"},
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
    create_topic(bootstrap, topic, partitions=2)
    records = samples(60)
    settings = {**DELIVERY[delivery], "compression_type": codec}
    sent = produce(bootstrap, topic, records, partitions=2, **settings)
    expected = expected_tuples(records, partitions=2)
    assert sorted((m.partition, m.offset, m.timestamp) for m in sent) == [
        (partition, offset, timestamp) for partition, offset, _, _, _, timestamp, _ in expected
    ]
    with consumer(bootstrap) as client:
        client.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        client.seek_to_beginning()
        assert as_tuples(poll_exactly(client, len(records))) == expected


# -------------------------------------------------------------------------------- consume


def test_consume_from_beginning(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic)
    records = samples(20)
    produce(kafka_broker.bootstrap, topic, records)
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0)])
        assert as_tuples(poll_exactly(client, 20)) == expected_tuples(records)


def test_consume_from_seek_offset(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic)
    records = samples(20)
    produce(kafka_broker.bootstrap, topic, records)
    partition = TopicPartition(topic, 0)
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([partition])
        client.seek(partition, 7)
        received = as_tuples(poll_exactly(client, 13))
    assert received == expected_tuples(records)[7:]


def test_consume_from_end(kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]) -> None:
    create_topic(kafka_broker.bootstrap, topic)
    before, after = samples(10, tag="before"), samples(5, tag="after")
    produce(kafka_broker.bootstrap, topic, before)
    partition = TopicPartition(topic, 0)
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([partition])
        client.seek_to_end(partition)
        assert client.position(partition, timeout_ms=TIMEOUT_MS) == 10
        assert client.poll(timeout_ms=300) == {}
        produce(kafka_broker.bootstrap, topic, after)
        received = as_tuples(poll_exactly(client, 5))
    assert received == expected_tuples(after, first_offset=10)


def test_long_poll_wakes_on_produce(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    """A Fetch parked at the log end answers as soon as a record lands, not at max wait.

    The parked Fetch waits up to 20 s; the record must arrive within 8 s of being produced,
    which only a broker that completes the parked Fetch on append achieves.  The client's
    fetch latency shows the Fetch really was parked (a broker answering empty Fetches at
    once would also deliver the record quickly).
    """
    create_topic(kafka_broker.bootstrap, topic)
    [record] = samples(1)
    with consumer(
        kafka_broker.bootstrap, fetch_max_wait_ms=LONG_POLL_MAX_WAIT_MS, request_timeout_ms=30_000
    ) as client:
        client.assign([TopicPartition(topic, 0)])
        # These polls send the Fetch, which the broker parks; nothing is there yet.  Three
        # polls, so that the Fetch (sent once metadata and offsets are known, later on a busy
        # machine) has been parked for at least PARKED_FOR_MS when the record is produced.
        for _ in range(3):
            assert client.poll(timeout_ms=PARKED_FOR_MS) == {}
        produce(kafka_broker.bootstrap, topic, [record])
        received = poll_exactly(client, 1, timeout_s=LONG_POLL_DEADLINE_S)
        fetch_metrics = client.metrics()["consumer-fetch-manager-metrics"]
    assert as_tuples(received) == expected_tuples([record])
    assert fetch_metrics["fetch-latency-max"] >= PARKED_FOR_MS * 0.8, fetch_metrics


# -------------------------------------------------------------------------------- offsets


def test_earliest_and_latest_offsets(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]]
) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=3)
    # 0, 5 and 10 records in partitions 0, 1, 2.
    records = samples(15)
    with producer(kafka_broker.bootstrap) as client:
        for index, record in enumerate(records):
            partition = 1 if index < 5 else 2
            client.send(topic, key=record.key, value=record.value, partition=partition)
        client.flush(timeout=TIMEOUT_MS / 1000)
    partitions = [TopicPartition(topic, index) for index in range(3)]
    with consumer(kafka_broker.bootstrap) as client:
        assert client.beginning_offsets(partitions, timeout_ms=TIMEOUT_MS) == dict.fromkeys(
            partitions, 0
        )
        assert client.end_offsets(partitions, timeout_ms=TIMEOUT_MS) == dict(
            zip(partitions, [0, 5, 10], strict=True)
        )


def test_offsets_for_times(
    kafka_broker: Any, topic: str, samples: Callable[..., list[Any]], base_timestamp_ms: int
) -> None:
    create_topic(kafka_broker.bootstrap, topic, partitions=2)
    records = samples(10)  # timestamps base + 0, 10, ... 90, all in partition 0
    produce(kafka_broker.bootstrap, topic, records)
    partition, empty = TopicPartition(topic, 0), TopicPartition(topic, 1)
    lookups = {
        base_timestamp_ms - 60_000: (0, base_timestamp_ms),
        base_timestamp_ms + 30: (3, base_timestamp_ms + 30),
        base_timestamp_ms + 35: (4, base_timestamp_ms + 40),
        base_timestamp_ms + 90: (9, base_timestamp_ms + 90),
    }
    with consumer(kafka_broker.bootstrap) as client:
        for target, (offset, timestamp) in lookups.items():
            found = client.offsets_for_times({partition: target}, timeout_ms=TIMEOUT_MS)
            assert (found[partition].offset, found[partition].timestamp) == (offset, timestamp)
        later = client.offsets_for_times(
            {partition: base_timestamp_ms + 91, empty: base_timestamp_ms}, timeout_ms=TIMEOUT_MS
        )
        assert later == {partition: None, empty: None}


# ---------------------------------------------------------------------- bad produce inputs


def test_produce_to_missing_topic_without_auto_create(
    kafka_broker_factory: Any, topic: str
) -> None:
    broker = kafka_broker_factory.start({"auto.create.topics.enable": "false"})
    started = time.monotonic()
    refused = (errors.KafkaTimeoutError, errors.UnknownTopicOrPartitionError)
    with (
        producer(broker.bootstrap, max_block_ms=3000, request_timeout_ms=3000) as client,
        pytest.raises(refused),
    ):
        client.send(topic, key=b"k", value=b"v").get(timeout=10)
    assert time.monotonic() - started < 20
    with admin_client(broker.bootstrap) as admin:
        assert topic not in admin.list_topics()


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
    with producer(broker.bootstrap, max_request_size=10_000_000, retries=0) as client:
        with pytest.raises(errors.MessageSizeTooLargeError):
            client.send(topic, key=b"big", value=b"x" * 5000).get(timeout=10)
        small = client.send(topic, key=b"small", value=b"y" * 100).get(timeout=10)
    assert (small.partition, small.offset) == (0, 0)
    with consumer(broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0)])
        [record] = poll_exactly(client, 1)
    assert (record.key, record.value) == (b"small", b"y" * 100)


# ----------------------------------------------------------------------------- auto-create


def test_produce_auto_creates_topic(kafka_broker: Any, topic: str) -> None:
    with producer(kafka_broker.bootstrap) as client:
        metadata = client.send(topic, key=b"k", value=b"auto").get(timeout=TIMEOUT_MS / 1000)
    assert (metadata.partition, metadata.offset) == (0, 0)
    with admin_client(kafka_broker.bootstrap) as admin:
        assert topic in admin.list_topics()
        assert [p["leader_id"] for p in partitions_of(admin, topic)] == [NODE_ID]
    with consumer(kafka_broker.bootstrap) as client:
        client.assign([TopicPartition(topic, 0)])
        [record] = poll_exactly(client, 1)
    assert (record.offset, record.key, record.value) == (0, b"k", b"auto")
