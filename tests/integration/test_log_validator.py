"""What the leader does to a produced batch by its topic's configs (Kafka's LogValidator).

``compression.type``: the leader stores every produced
batch with the topic's codec, recompressing (or decompressing, ``uncompressed``) what a
producer sent with another; ``producer`` keeps the producer's.  Offsets, producer fields and
records are kept, so an idempotent retry is still recognised and consumers read the same
records.  Followers copy the leader's bytes.

``message.timestamp.before.max.ms`` / ``after.max.ms`` (KIP-937): a CreateTime record whose
timestamp lies too far from the broker's clock makes the batch INVALID_TIMESTAMP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from client.protocol.records import (
    CODEC_BY_NAME,
    COMPRESSION_GZIP,
    COMPRESSION_NONE,
    COMPRESSION_ZSTD,
    Record,
    build_batch,
    decode_records,
    iterate_batches,
)
from tests.integration.test_alter_configs import (
    SET,
    TOPIC,
    _codes,
    _create,
    _eventually,
    _incremental,
    _partition,
)
from tests.integration.wire import RawConnection
from tests.support.history import fetch_request

VALUES = [b"value-%d" % i * 20 for i in range(20)]


def _produce(conn: RawConnection, topic: str, batch: bytes, acks: int = 1) -> Any:
    body = {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": 5000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}],
    }
    return conn.request(0, 8, body).responses[0].partition_responses[0]


def _stored(conn: RawConnection, topic: str) -> list[tuple[int, list[bytes | None]]]:
    """(codec, values) of each stored batch, from offset 0."""
    return _batches_of(_fetched(conn, topic))


def _batches_of(data: bytes) -> list[tuple[int, list[bytes | None]]]:
    return [
        (header.compression, [r.value for r in decode_records(data[pos : pos + header.size_bytes])])
        for pos, header in iterate_batches(data)
    ]


def _stored_bytes(conn: RawConnection, topic: str) -> int:
    return len(_fetched(conn, topic))


def _fetched(conn: RawConnection, topic: str) -> bytes:
    body = fetch_request(topic, 0, 0)
    body.update(max_wait_ms=0, min_bytes=0)
    (partition,) = conn.request(1, 12, body).responses[0].partitions
    assert partition.error_code == ErrorCode.NONE, partition
    return bytes(partition.records or b"")


@pytest.fixture
def broker(kafka_broker_factory: BrokerFactory) -> Any:
    return kafka_broker_factory.start({"auto.create.topics.enable": "false"})


@pytest.mark.parametrize("setting", sorted(CODEC_BY_NAME))
def test_batches_are_stored_with_the_topics_codec(broker: Any, setting: str) -> None:
    target = CODEC_BY_NAME[setting]
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t", compression_type=setting)
        for codec in (COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_ZSTD):
            answer = _produce(conn, "t", build_batch(VALUES, compression=codec))
            assert answer.error_code == ErrorCode.NONE, answer
        stored = _stored(conn, "t")
    expected = [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_ZSTD]
    if target is not None:
        expected = [target] * 3
    assert [codec for codec, _ in stored] == expected
    assert all(values == VALUES for _, values in stored)


def test_idempotent_retry_of_a_recompressed_batch(broker: Any) -> None:
    """The retry (sent uncompressed again) is the batch already stored as zstd: the original
    offsets, no second copy."""
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t", compression_type="zstd")
        body = {"transactional_id": None, "transaction_timeout_ms": -1}
        init = conn.request(22, 1, body)
        assert init.error_code == ErrorCode.NONE
        batch = build_batch(VALUES, producer_id=init.producer_id, producer_epoch=0, base_sequence=0)
        first = _produce(conn, "t", batch)
        again = _produce(conn, "t", batch)
        assert (first.error_code, again.error_code) == (ErrorCode.NONE, ErrorCode.NONE)
        assert again.base_offset == first.base_offset == 0
        assert _stored(conn, "t") == [(COMPRESSION_ZSTD, VALUES)]


def test_a_change_applies_to_later_batches_and_consumers_read_them(broker: Any) -> None:
    records = [Record(0, 1_700_000_000_000 + i, b"k%d" % i, v) for i, v in enumerate(VALUES)]
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        assert (
            _produce(conn, "t", build_batch(records, compression=COMPRESSION_GZIP)).error_code == 0
        )
        changed = _incremental(conn, [(TOPIC, "t", [("compression.type", SET, "uncompressed")])])
        assert _codes(changed) == [ErrorCode.NONE]
        assert (
            _produce(conn, "t", build_batch(records, compression=COMPRESSION_GZIP)).error_code == 0
        )
        assert [codec for codec, _ in _stored(conn, "t")] == [COMPRESSION_GZIP, COMPRESSION_NONE]
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "g", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition("t", 0, 0)])
        got: list[Any] = []
        deadline_polls = 200
        while len(got) < 2 * len(records) and deadline_polls:
            deadline_polls -= 1
            got += [m for m in consumer.consume(100, timeout=0.1) if m.error() is None]
    finally:
        consumer.close()
    assert [(m.offset(), m.key(), m.value(), m.timestamp()[1]) for m in got] == [
        (offset, r.key, r.value, r.timestamp) for offset, r in enumerate(records + records)
    ]


def test_followers_store_the_leaders_codec(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=2)
    first = cluster.bootstrap.split(",")[0]
    with RawConnection(first) as conn:
        _create(conn, "c", replication_factor=2, compression_type="lz4")
        metadata, partition = _partition(conn, "c")
    addresses = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
    with RawConnection(addresses[partition.leader_id]) as conn:
        answer = _produce(conn, "c", build_batch(VALUES), acks=-1)
        assert answer.error_code == ErrorCode.NONE
        assert _stored(conn, "c") == [(CODEC_BY_NAME["lz4"], VALUES)]
    follower = next(node for node in partition.replica_nodes if node != partition.leader_id)
    segment = cluster.nodes[follower].data_dir / "c-0" / f"{0:020d}.log"

    def copied() -> list[tuple[int, list[bytes | None]]] | None:
        return _batches_of(segment.read_bytes() if segment.exists() else b"") or None

    assert _eventually(copied, "the follower's copy") == [(CODEC_BY_NAME["lz4"], VALUES)]


def test_the_topics_compression_level_is_used(broker: Any) -> None:
    """KIP-390: compression.zstd.level (and gzip's, lz4's) set how hard the leader works."""
    words = [b"%d-%x" % (i, i * 7919 % 65521) for i in range(4000)]
    values = [b" ".join(words[i : i + 400]) for i in range(0, 4000, 400)]
    sizes = {}
    with RawConnection(broker.bootstrap) as conn:
        for level in ("1", "19"):
            name = f"z{level}"
            _create(conn, name, compression_type="zstd", compression_zstd_level=level)
            assert _produce(conn, name, build_batch(values)).error_code == ErrorCode.NONE
            stored = _stored(conn, name)
            assert stored == [(COMPRESSION_ZSTD, values)]
            sizes[level] = _stored_bytes(conn, name)
    assert sizes["19"] < sizes["1"], sizes


# -- message.timestamp.before.max.ms / after.max.ms (KIP-937) -----------------------------


def test_timestamps_outside_the_topics_bounds_are_refused(broker: Any) -> None:
    now = int(time.time() * 1000)
    hour = 3_600_000
    with RawConnection(broker.bootstrap) as conn:
        _create(
            conn,
            "ts",
            message_timestamp_before_max_ms=str(hour),
            message_timestamp_after_max_ms=str(hour),
        )
        fine = [Record(0, now - hour // 2, None, b"a"), Record(0, now + hour // 2, None, b"b")]
        assert _produce(conn, "ts", build_batch(fine)).error_code == ErrorCode.NONE
        for stale in (now - 2 * hour, now + 2 * hour):
            # The bad record second, past a good base timestamp: checked one by one.
            batch = build_batch([Record(0, now, None, b"ok"), Record(0, stale, None, b"x")])
            answer = _produce(conn, "ts", batch)
            assert answer.error_code == ErrorCode.INVALID_TIMESTAMP
            assert f"Timestamp {stale} of message with offset 1 is out of range" in (
                answer.error_message or ""
            )
        old = build_batch([b"old"], timestamp_ms=now - 2 * hour, compression=COMPRESSION_GZIP)
        assert _produce(conn, "ts", old).error_code == ErrorCode.INVALID_TIMESTAMP
        # The deprecated bound of both sides.
        _create(conn, "diff", message_timestamp_difference_max_ms=str(hour))
        assert _produce(conn, "diff", old).error_code == ErrorCode.INVALID_TIMESTAMP
        # LogAppendTime: the broker sets the timestamps, so any is taken.
        _create(
            conn,
            "append",
            message_timestamp_type="LogAppendTime",
            message_timestamp_before_max_ms="1",
        )
        assert _produce(conn, "append", old).error_code == ErrorCode.NONE
        assert [values for _, values in _stored(conn, "ts")] == [[b"a", b"b"]]
