"""OffsetForLeaderEpoch (23): where did a leader epoch end, on the partition's leader?

Consumers send it after a leader change to check that their position is still on the log
(KIP-320: a position past the returned end offset means the log was truncated under them);
followers may use it instead of Fetch's diverging epoch (KIP-101).  Like Kafka, only the leader
answers (debug requests too); the client's current leader epoch is fenced first.  The answer is
the largest epoch <= the requested one and the start offset of the next epoch, or the log end
offset for the latest epoch; (-1, -1) when the epoch is unknown (above the latest, none cached).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server.handlers.leadership import leader_or_error
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

UNDEFINED = -1


def _entry(
    index: int, error: ErrorCode, epoch: int = UNDEFINED, end: int = UNDEFINED
) -> dict[str, Any]:
    return {"error_code": error, "partition": index, "leader_epoch": epoch, "end_offset": end}


def _end_offset(server: BrokerServer, topic: str, request: Container) -> dict[str, Any]:
    index = request.partition
    partition = leader_or_error(server, topic, index, request.get("current_leader_epoch", -1))
    if isinstance(partition, ErrorCode):
        return _entry(index, partition)
    epoch, end = server.partition_log(topic, index).end_offset_for_epoch(request.leader_epoch)
    return _entry(index, ErrorCode.NONE, epoch, end)


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    topics = [
        {
            "topic": topic.topic,
            "partitions": [_end_offset(server, topic.topic, p) for p in topic.partitions],
        }
        for topic in request.topics
    ]
    return {"throttle_time_ms": 0, "topics": topics}
