"""What the async and the blocking producer share beyond the accumulator: the topic view a
send needs, partition choice (KIP-480 sticky for unkeyed records) and the pre-enqueue errors.

Sans-IO: both producers call these with their own clock and metadata.
"""

from __future__ import annotations

from typing import NamedTuple

from client.accumulator import Headers, ProducerBatch, RecordAccumulator
from client.config import ProducerConfig
from client.errors import (
    DefinitelyFailedError,
    KafkaError,
    KafkaTimeoutError,
    MessageTooLargeError,
    UnknownTopicOrPartitionError,
)
from client.metadata import ClusterMetadata, TopicMetadata
from client.partitioner import StickyPartitioner, partition_for_key


class TopicInfo(NamedTuple):
    """A topic's partitions as of one metadata snapshot."""

    metadata: ClusterMetadata
    partition_count: int
    all_partitions: tuple[int, ...]
    available: tuple[int, ...]

    @classmethod
    def of(cls, metadata: ClusterMetadata, described: TopicMetadata) -> TopicInfo:
        ids = tuple(described.partition_ids())
        available = tuple(p for p in ids if described.partitions[p].leader >= 0)
        return cls(metadata, len(ids), ids, available)


def metadata_wait_failed(topic: str, timeout_ms: int, error: KafkaError) -> DefinitelyFailedError:
    """The error for a send whose topic did not show up within ``max.block.ms``."""
    if error.retriable:
        error = KafkaTimeoutError(
            f"topic {topic!r} not present in metadata after {timeout_ms} ms (max.block.ms): {error}"
        )
    return DefinitelyFailedError(error, topic, -1)


def too_large(
    config: ProducerConfig, topic: str, partition: int | None, size: int
) -> DefinitelyFailedError:
    cause = MessageTooLargeError(
        f"a record of about {size} bytes exceeds max.request.size="
        f"{config.max_request_size} or buffer.memory={config.buffer_memory}"
    )
    return DefinitelyFailedError(cause, topic, -1 if partition is None else partition)


def place_record(  # noqa: PLR0917 -- per record
    accumulator: RecordAccumulator,
    sticky: StickyPartitioner,
    config: ProducerConfig,
    topic: str,
    partition: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    timestamp_ms: int,
    info: TopicInfo,
    now_ms: int,
) -> tuple[ProducerBatch, int]:
    """Choose the partition (unless given) and append; KIP-480 for unkeyed records (the
    accumulator's ``abort_on_new_batch`` says when to move on)."""
    if partition is None:
        if config.partitioner is not None:
            partition = config.partitioner(key, info.all_partitions, info.available)
        elif key is not None and not config.partitioner_ignore_keys:
            partition = partition_for_key(key, info.partition_count)
        else:
            partition = sticky.partition(topic, info.partition_count, info.available)
            placed = accumulator.append(
                topic, partition, key, value, headers, timestamp_ms, now_ms, True
            )
            if placed is not None:
                return placed
            # Its batch is full or was sent: move on (KIP-480).
            partition = sticky.next_partition(topic, info.partition_count, info.available)
    if not 0 <= partition < info.partition_count:
        unknown = UnknownTopicOrPartitionError(
            f"partition {partition} of {topic!r}: it has {info.partition_count}"
        )
        raise DefinitelyFailedError(unknown, topic, partition)
    placed = accumulator.append(topic, partition, key, value, headers, timestamp_ms, now_ms)
    assert placed is not None
    return placed
