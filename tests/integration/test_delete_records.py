"""DeleteRecords (21) on one node: the log start moves, the records below it are gone for
consumers (OFFSET_OUT_OF_RANGE) and ListOffsets earliest, whole segments below it are deleted,
and the new start survives a kill -9."""

from __future__ import annotations

from pathlib import Path

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import (
    create_topic,
    delete_records,
    fetch,
    list_offset,
    produce,
)

EARLIEST = -2
LATEST = -1
SMALL_SEGMENTS = {"log.segment.bytes": "1024"}


def _segments(data_dir: Path, topic: str, partition: int) -> list[int]:
    return sorted(int(p.stem) for p in (data_dir / f"{topic}-{partition}").glob("*.log"))


def test_delete_records_on_one_node_survives_kill_9(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start(SMALL_SEGMENTS, subprocess=True)
    create_topic(broker.bootstrap, "d", partitions=2)
    end = produce(broker.bootstrap, "d", 0, batches=30)  # batches of 5: 0, 5, ..., 145
    assert end == 150
    produce(broker.bootstrap, "d", 1, batches=2)
    segments = _segments(broker.data_dir, "d", 0)
    assert len(segments) > 3

    answers = delete_records(
        broker.bootstrap,
        {("d", 0): 62, ("d", 1): 1000, ("d", 7): 1, ("nope", 0): 1},
    )
    assert answers == {
        ("d", 0): (ErrorCode.NONE, 62),
        ("d", 1): (ErrorCode.OFFSET_OUT_OF_RANGE, -1),  # above the high watermark
        ("d", 7): (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1),
        ("nope", 0): (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1),
    }
    assert list_offset(broker.bootstrap, "d", 0, EARLIEST) == (ErrorCode.NONE, 62)
    assert list_offset(broker.bootstrap, "d", 1, EARLIEST) == (ErrorCode.NONE, 0)
    error, start, _ = fetch(broker.bootstrap, "d", 0, 0)
    assert (error, start) == (ErrorCode.OFFSET_OUT_OF_RANGE, 62)
    assert fetch(broker.bootstrap, "d", 0, 61)[0] == ErrorCode.OFFSET_OUT_OF_RANGE
    error, start, bases = fetch(broker.bootstrap, "d", 0, 62)
    assert (error, start) == (ErrorCode.NONE, 62)
    assert bases[0] == 60  # the batch holding 62 is read whole, as Kafka
    # Whole segments below the new start are deleted at once; the rest is untouched.
    remaining = _segments(broker.data_dir, "d", 0)
    assert remaining == [base for base in segments if base >= remaining[0]]
    assert remaining[0] <= 62 and len(remaining) < len(segments)
    # Below the current start: nothing moves, the answer is where it is.
    assert delete_records(broker.bootstrap, {("d", 0): 10}, version=0) == {
        ("d", 0): (ErrorCode.NONE, 62)
    }

    broker.kill()  # type: ignore[union-attr]
    broker = kafka_broker_factory.start(SMALL_SEGMENTS, subprocess=True, data_dir=broker.data_dir)
    assert list_offset(broker.bootstrap, "d", 0, EARLIEST) == (ErrorCode.NONE, 62)
    assert fetch(broker.bootstrap, "d", 0, 10)[0] == ErrorCode.OFFSET_OUT_OF_RANGE
    assert list_offset(broker.bootstrap, "d", 0, LATEST) == (ErrorCode.NONE, 150)

    # -1: up to the high watermark; the partition stays writable after it.
    assert delete_records(broker.bootstrap, {("d", 0): -1}, version=1) == {
        ("d", 0): (ErrorCode.NONE, 150)
    }
    assert list_offset(broker.bootstrap, "d", 0, EARLIEST) == (ErrorCode.NONE, 150)
    assert produce(broker.bootstrap, "d", 0, batches=1) == 155
    assert fetch(broker.bootstrap, "d", 0, 150)[2] == [150]


def test_delete_records_refuses_internal_and_compacted_topics(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start()
    create_topic(broker.bootstrap, "c", configs={"cleanup.policy": "compact"})
    create_topic(broker.bootstrap, "both", configs={"cleanup.policy": "compact,delete"})
    produce(broker.bootstrap, "c", 0, batches=1, keyed=True)
    produce(broker.bootstrap, "both", 0, batches=1, keyed=True)
    answers = delete_records(
        broker.bootstrap, {("c", 0): 2, ("both", 0): 2, ("__consumer_offsets", 0): 0}
    )
    assert answers == {
        ("c", 0): (ErrorCode.POLICY_VIOLATION, -1),
        ("both", 0): (ErrorCode.NONE, 2),
        ("__consumer_offsets", 0): (ErrorCode.INVALID_TOPIC_EXCEPTION, -1),
    }
