"""DescribeProducers (61): the active producers of partitions this broker leads (KIP-664).

Each partition is answered from its log's producer state (the idempotent producers whose state
has not expired, ``producer.id.expiration.ms``): id, epoch, last sequence, the newest batch's
timestamp, the coordinator epoch and the first offset of an open transaction (-1: none; this
broker has no transactions).  As Kafka's ``ReplicaManager.activeProducerState``, a partition
the cluster does not have is UNKNOWN_TOPIC_OR_PARTITION, one this broker does not lead
NOT_LEADER_OR_FOLLOWER (the admin client asks the leader).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

NO_OFFSET = -1


def _partition(server: BrokerServer, topic: str, index: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"partition_index": index, "error_message": None}
    image = server.image.topic(topic)
    if image is None or index not in image.partitions:
        return {**entry, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "active_producers": []}
    partition = server.partitions.get((topic, index))
    log_ = server.logs.get(topic, index)
    if partition is None or not partition.is_leader or log_ is None:
        return {**entry, "error_code": ErrorCode.NOT_LEADER_OR_FOLLOWER, "active_producers": []}
    producers = [
        {
            "producer_id": state.producer_id,
            "producer_epoch": state.producer_epoch,
            "last_sequence": state.last_sequence,
            "last_timestamp": state.last_timestamp_ms,
            "coordinator_epoch": state.coordinator_epoch,
            "current_txn_start_offset": (
                NO_OFFSET
                if state.current_txn_first_offset is None
                else state.current_txn_first_offset
            ),
        }
        for _, state in sorted(log_.producer_state.producers.items())
    ]
    return {**entry, "error_code": ErrorCode.NONE, "active_producers": producers}


async def describe_producers(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    return {
        "throttle_time_ms": 0,
        "topics": [
            {
                "name": topic.name,
                "partitions": [
                    _partition(server, topic.name, index) for index in topic.partition_indexes
                ],
            }
            for topic in request.topics
        ],
    }
