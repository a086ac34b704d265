"""DeleteRecords (21): the leader of each partition moves its log start offset (KIP-107).

Per partition, in Kafka's order: an internal topic is INVALID_TOPIC_EXCEPTION, a partition the
cluster does not have UNKNOWN_TOPIC_OR_PARTITION, one this broker does not lead
NOT_LEADER_OR_FOLLOWER, a topic whose ``cleanup.policy`` lacks ``delete`` POLICY_VIOLATION;
offset -1 means the high watermark, and an offset above the high watermark (or below -1) is
OFFSET_OUT_OF_RANGE.  Otherwise the log start offset moves there (never back): the records
below become invisible (a consumer fetching there gets OFFSET_OUT_OF_RANGE, ListOffsets
earliest answers the new start), the segments wholly below it are deleted, and
``log-start-offset-checkpoint`` is written at once, so the new start survives a crash.

The answer carries the partition's *low watermark*: the smallest log start offset over the
leader and the replicas on live brokers (``Partition.low_watermark``).  Followers take the
leader's start from their fetch responses (``broker.core.replication``) and report theirs in
their next fetch; the response waits (Kafka's ``DelayedDeleteRecords``, in the purgatory)
until the low watermark reached the offset of every partition, and answers REQUEST_TIMED_OUT
for those still short after ``timeout_ms``.  Losing the leadership meanwhile answers
NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import anyio
from construct import Container

from broker import config as broker_config
from broker.core.controller import INTERNAL_TOPICS
from broker.core.partition import Partition
from broker.server.clock import monotonic_ms
from broker.server.replica_manager import delete_records_key
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

TopicPartition = tuple[str, int]
HIGH_WATERMARK = -1
INVALID_LOW_WATERMARK = -1
CLEANUP_POLICY = "cleanup.policy"


def low_watermark(server: BrokerServer, partition: Partition) -> int:
    """The leader's low watermark; a replica counts while its broker is registered and
    unfenced (Kafka's ``metadataCache.hasAliveBroker``)."""

    def alive(broker_id: int) -> bool:
        registration = server.image.brokers.get(broker_id)
        return registration is not None and not registration.fenced

    log_ = server.partition_log(partition.topic, partition.index)
    return partition.low_watermark(log_.log_start_offset, alive)


class DelayedDeleteRecords:
    """A DeleteRecords response waiting until each partition's low watermark reached the
    offset asked for (or the leadership went)."""

    def __init__(
        self, server: BrokerServer, required: dict[TopicPartition, int], deadline_ms: int
    ) -> None:
        self.server = server
        self.required = required
        self.deadline_ms = deadline_ms
        self.completed = False
        self.decided: dict[TopicPartition, tuple[ErrorCode, int]] = {}
        self.event = anyio.Event()

    def _decide(self, key: TopicPartition) -> tuple[ErrorCode, int] | None:
        partition = self.server.partitions.get(key)
        if partition is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, INVALID_LOW_WATERMARK
        if not partition.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, INVALID_LOW_WATERMARK
        low = low_watermark(self.server, partition)
        return (ErrorCode.NONE, low) if low >= self.required[key] else None

    def try_complete(self, key: Hashable) -> bool:
        for tp in self.required:
            if tp not in self.decided:
                outcome = self._decide(tp)
                if outcome is not None:
                    self.decided[tp] = outcome
        return len(self.decided) == len(self.required)

    def on_complete(self) -> None:
        self.event.set()


def _entry(index: int, error: ErrorCode, low: int = INVALID_LOW_WATERMARK) -> dict[str, Any]:
    return {"partition_index": index, "low_watermark": low, "error_code": error}


def _deletes_allowed(server: BrokerServer, topic: str) -> bool:
    image = server.image.topic(topic)
    configs = image.configs if image is not None else {}
    for item in broker_config.describe_topic_config(server.config, configs):
        if item.name == CLEANUP_POLICY:
            return "delete" in [p.strip() for p in (item.value or "").split(",")]
    return True


def _delete_on_leader(
    server: BrokerServer, topic: str, index: int, offset: int
) -> tuple[dict[str, Any], int | None]:
    """The partition's entry, and the offset its low watermark must reach (None: answered)."""
    if topic in INTERNAL_TOPICS:
        return _entry(index, ErrorCode.INVALID_TOPIC_EXCEPTION), None
    image = server.image.topic(topic)
    if image is None or index not in image.partitions:
        return _entry(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), None
    partition = server.partitions.get((topic, index))
    if partition is None or not partition.is_leader:
        return _entry(index, ErrorCode.NOT_LEADER_OR_FOLLOWER), None
    if not _deletes_allowed(server, topic):
        return _entry(index, ErrorCode.POLICY_VIOLATION), None
    target = partition.high_watermark if offset == HIGH_WATERMARK else offset
    if target < 0 or target > partition.high_watermark:
        return _entry(index, ErrorCode.OFFSET_OUT_OF_RANGE), None
    server.partition_log(topic, index).advance_log_start_offset(target)
    low = low_watermark(server, partition)
    return _entry(index, ErrorCode.NONE, low), (target if low < target else None)


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    topics: list[dict[str, Any]] = []
    waiting: dict[TopicPartition, dict[str, Any]] = {}
    required: dict[TopicPartition, int] = {}
    moved = False
    for topic in request.topics:
        partitions = []
        for part in topic.partitions:
            entry, target = _delete_on_leader(server, topic.name, part.partition_index, part.offset)
            partitions.append(entry)
            moved = moved or entry["error_code"] == ErrorCode.NONE
            if target is not None:
                key = (topic.name, part.partition_index)
                waiting[key] = entry
                required[key] = max(target, required.get(key, target))
        topics.append({"name": topic.name, "partitions": partitions})
    if moved:
        # Kafka leaves this to its periodic checkpoint; an admin deletion is rare enough to
        # persist at once, so a crash cannot bring deleted records back on this replica.
        server.logs.checkpoint(server.high_watermarks())
    if required:
        await _wait(server, required, waiting, max(request.timeout_ms, 0))
    return {"throttle_time_ms": 0, "topics": topics}


async def _wait(
    server: BrokerServer,
    required: dict[TopicPartition, int],
    waiting: dict[TopicPartition, dict[str, Any]],
    timeout_ms: int,
) -> None:
    operation = DelayedDeleteRecords(server, required, monotonic_ms() + timeout_ms)
    if operation.try_complete(None):
        operation.completed = True
    else:
        server.watch_delayed(operation, [delete_records_key(key) for key in required])
        # Set exactly once: by a follower's fetch that completed it, or by the expiry.
        await operation.event.wait()
    for key, entry in waiting.items():
        error, low = operation.decided.get(
            key, (ErrorCode.REQUEST_TIMED_OUT, entry["low_watermark"])
        )
        entry["error_code"] = error
        entry["low_watermark"] = low
