"""Compacted topics (cleanup.policy=compact) with unmodified clients.

The broker's cleaner runs every ``log.cleaner.backoff.ms`` (short here); each test waits,
by reading, until a pass has compacted the topic, then checks what every reader gets: each
key's latest value, offsets increasing with gaps, tombstones gone after
``delete.retention.ms``, and the same after a restart, through a new leader in a cluster,
and for committed group offsets (``__consumer_offsets`` is compacted too).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

TIMEOUT_S = 30.0
FAST_CLEANER = {"log.cleaner.backoff.ms": "100", "log.cleaner.min.cleanable.ratio": "0.01"}
TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": "1024",
    "delete.retention.ms": "0",
}


def create(bootstrap: str, name: str, replicas: int = 1, **configs: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, 1, replicas, config={**TOPIC_CONFIGS, **configs})
    for future in admin.create_topics([topic]).values():
        future.result(timeout=TIMEOUT_S)


def write(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "batch.num.messages": 3}
    )
    for key, value in records:
        producer.produce(topic, value, key)
        producer.poll(0)
    assert producer.flush(TIMEOUT_S) == 0


def read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the start to the high watermark."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex}",
         "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )  # fmt: skip
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)
        consumer.assign([TopicPartition(topic, 0, 0)])
        out: list[tuple[int, bytes | None, bytes | None]] = []

        def caught_up() -> bool:
            for message in consumer.consume(1000, timeout=0.2):
                if message.error() is None:
                    out.append((message.offset(), message.key(), message.value()))
            position = consumer.position([TopicPartition(topic, 0)])[0].offset
            return position >= high

        wait_until(caught_up, f"{topic} read to {high}", TIMEOUT_S)
        return out
    finally:
        consumer.close()


def history(keys: int, rounds: int) -> tuple[list[tuple[bytes, bytes | None]], dict[bytes, bytes]]:
    """Writes of ``rounds`` values per key (key 0 deleted at the end), and the latest."""
    records: list[tuple[bytes, bytes | None]] = [
        (b"k%d" % key, b"v%d-%d" % (key, number) + b"." * 40)
        for number in range(rounds)
        for key in range(keys)
    ]
    records.append((b"k0", None))
    latest = {key: value for key, value in records if value is not None and key != b"k0"}
    return records, latest


def closed_segment_keys(directory: Path) -> list[bytes | None]:
    """The keys of the records in a replica's segments but the active (last) one, read
    from its files."""
    from client.protocol.records import decode_records, iterate_batches

    keys: list[bytes | None] = []
    for path in sorted(directory.glob("*.log"))[:-1]:
        data = path.read_bytes()
        for position, header in iterate_batches(data):
            if not header.is_control:
                batch = data[position : position + header.size_bytes]
                keys.extend(record.key for record in decode_records(batch))
    return keys


def test_a_compacted_topic_keeps_each_keys_latest_value(kafka_broker_factory: Any) -> None:
    from kafka import KafkaConsumer, TopicPartition

    broker = kafka_broker_factory.start(FAST_CLEANER)
    bootstrap = str(broker.bootstrap)
    topic = f"cmp-{uuid.uuid4().hex[:8]}"
    create(bootstrap, topic)
    records, latest = history(keys=6, rounds=15)
    write(bootstrap, topic, records)
    # More writes roll the segment holding the tombstone, so a pass can clean it as well.
    write(bootstrap, topic, [(b"tail", b"%d" % i + b"." * 60) for i in range(40)])
    latest[b"tail"] = b"39" + b"." * 60

    def cleaned() -> list[tuple[int, Any, Any]] | None:
        found = read_all(bootstrap, topic)
        keys = [key for _, key, _ in found]
        done = b"k0" not in keys and keys.count(b"k1") == 1
        return found if done else None

    found = wait_until(cleaned, "compaction", TIMEOUT_S)
    offsets = [offset for offset, _, _ in found]
    assert offsets == sorted(set(offsets)) and len(offsets) < len(records)
    final = {key: value for _, key, value in found}
    assert {k: v for k, v in final.items() if k != b"tail"} == {
        k: v for k, v in latest.items() if k != b"tail"
    }
    assert final[b"tail"] == latest[b"tail"]

    # kafka-python reads the same from the compacted log (gaps, rebuilt and empty batches).
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=5_000)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        assert [(m.offset, m.key, m.value) for m in consumer] == found
    finally:
        consumer.close()

    # After a restart the compacted log reads the same.
    data_dir = broker.data_dir
    broker.stop()
    again = str(kafka_broker_factory.start(FAST_CLEANER, data_dir=data_dir).bootstrap)
    assert read_all(again, topic) == found


def test_a_record_without_a_key_is_refused(kafka_broker: Any) -> None:
    from confluent_kafka import KafkaError, Producer

    bootstrap = str(kafka_broker.bootstrap)
    topic = f"cmp-{uuid.uuid4().hex[:8]}"
    create(bootstrap, topic)
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10_000})
    producer.produce(topic, b"no key", on_delivery=lambda error, _: errors.append(error))
    assert producer.flush(TIMEOUT_S) == 0
    assert [error.code() for error in errors] == [KafkaError.INVALID_RECORD]


def test_committed_offsets_survive_compaction_and_a_restart(kafka_broker_factory: Any) -> None:
    """Many commits of one group: ``__consumer_offsets`` is compacted, and a restarted
    broker loads the latest offset of each partition from what is left."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    settings = {
        **FAST_CLEANER,
        "offsets.topic.num.partitions": "1",
        "offsets.topic.segment.bytes": "2048",
        "group.initial.rebalance.delay.ms": "0",
    }
    broker = kafka_broker_factory.start(settings)
    bootstrap = str(broker.bootstrap)
    topic = f"src-{uuid.uuid4().hex[:8]}"

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(timeout=TIMEOUT_S)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "committer",
                         "enable.auto.commit": False})  # fmt: skip
    try:
        for offset in range(1, 121):
            consumer.commit(
                offsets=[TopicPartition(topic, 0, offset), TopicPartition(topic, 1, 2 * offset)],
                asynchronous=False,
            )
    finally:
        consumer.close()
    offsets_dir = broker.data_dir / "__consumer_offsets-0"

    def few_segments_left() -> bool:
        sizes = sum(path.stat().st_size for path in offsets_dir.glob("*.log"))
        return sizes < 120 * 2 * 60  # far less than every commit record

    wait_until(few_segments_left, "__consumer_offsets compacted", TIMEOUT_S)

    data_dir = broker.data_dir
    broker.stop()
    again = str(kafka_broker_factory.start(settings, data_dir=data_dir).bootstrap)
    reader = Consumer({"bootstrap.servers": again, "group.id": "committer"})
    try:
        committed = reader.committed(
            [TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=TIMEOUT_S
        )
    finally:
        reader.close()
    assert [tp.offset for tp in committed] == [120, 240]


def test_a_cluster_compacts_on_every_replica_and_a_new_leader_serves_it(
    kafka_cluster_factory: Any,
) -> None:
    from tests.integration.admin_requests import wait_for_states

    cluster = kafka_cluster_factory.start(brokers=3, overrides=FAST_CLEANER)
    topic = f"cmp-{uuid.uuid4().hex[:8]}"
    create(cluster.bootstrap, topic, replicas=3, **{"min.insync.replicas": "2"})
    records, latest = history(keys=5, rounds=12)
    write(cluster.bootstrap, topic, records)
    write(cluster.bootstrap, topic, [(b"tail", b"%d" % i + b"." * 60) for i in range(40)])
    latest[b"tail"] = b"39" + b"." * 60

    def compacted_everywhere() -> bool:
        """Every replica's closed segments hold each key once (a pass cleaned them all)."""
        for node in cluster.nodes.values():
            keys = closed_segment_keys(node.data_dir / f"{topic}-0")
            if not keys or len(keys) != len(set(keys)):
                return False
        return True

    wait_until(compacted_everywhere, "compaction on every replica", TIMEOUT_S)
    # Replication goes on after compaction: a new write reaches the ISR (acks=all).
    write(cluster.bootstrap, topic, [(b"after", b"compaction")])
    latest[b"after"] = b"compaction"
    (leader, _, _) = wait_for_states(cluster, topic, lambda s: len(s[0][2]) == 3, "a full ISR")[0]
    cluster.nodes[leader].kill()
    wait_for_states(cluster, topic, lambda s: s[0][0] not in (leader, -1), "a new leader")
    found = read_all(cluster.bootstrap, topic)
    offsets = [offset for offset, _, _ in found]
    assert offsets == sorted(set(offsets))
    assert {key: value for _, key, value in found} == latest
