"""ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3), or by timestamp.

By timestamp follows Kafka: the first offset whose record timestamp is >= the target, below the
high watermark; offset -1 / timestamp -1 when there is none.  With isolation level 1
(read_committed, v2+) the bound is the last stable offset, as Kafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server.handlers.leadership import leader_or_error
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3


def _entry(
    index: int, error: ErrorCode, timestamp: int = -1, offset: int = -1, leader_epoch: int = -1
) -> dict[str, Any]:
    return {
        "partition_index": index,
        "error_code": error,
        "timestamp": timestamp,
        "offset": offset,
        "leader_epoch": leader_epoch,
    }


def _lookup(
    server: BrokerServer, topic: str, request: Container, read_committed: bool
) -> dict[str, Any]:
    index = request.partition_index
    partition = leader_or_error(server, topic, index, request.get("current_leader_epoch", -1))
    if isinstance(partition, ErrorCode):
        return _entry(index, partition)
    log_ = server.partition_log(topic, index)
    epoch = partition.leader_epoch
    high_watermark = partition.high_watermark
    if read_committed:
        high_watermark = log_.last_stable_offset(high_watermark)
    target = request.timestamp
    if target == EARLIEST:
        return _entry(index, ErrorCode.NONE, -1, log_.log_start_offset, epoch)
    if target == LATEST:
        if partition.high_watermark_below_epoch_start:
            # KAFKA-2334: a new leader's HW may still be below what the old leader showed.
            return _entry(index, ErrorCode.OFFSET_NOT_AVAILABLE)
        return _entry(index, ErrorCode.NONE, -1, high_watermark, epoch)
    if target == MAX_TIMESTAMP:
        found = log_.max_timestamp_offset()
    elif target >= 0:
        found = log_.offset_for_timestamp(target)
    else:
        return _entry(index, ErrorCode.INVALID_REQUEST)
    if found is None or found[0] >= high_watermark:
        return _entry(index, ErrorCode.NONE, -1, -1, -1)
    offset, timestamp = found
    return _entry(index, ErrorCode.NONE, timestamp, offset, epoch)


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    read_committed = request.get("isolation_level", 0) == 1
    topics = [
        {
            "name": topic.name,
            "partitions": [
                _lookup(server, topic.name, p, read_committed) for p in topic.partitions
            ],
        }
        for topic in request.topics
    ]
    return {"throttle_time_ms": 0, "topics": topics}
