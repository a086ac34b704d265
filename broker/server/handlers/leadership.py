"""The check every leader-only read starts with (Fetch, ListOffsets, OffsetForLeaderEpoch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.core.partition import Partition
    from broker.server.broker import BrokerServer


def leader_or_error(
    server: BrokerServer, topic: str, index: int, current_leader_epoch: int
) -> Partition | ErrorCode:
    """The partition if this broker leads it, else the error to answer.  Kafka's order: not
    hosted here, then the client's leader epoch (KIP-320 fencing), then the leadership."""
    partition = server.partitions.get((topic, index))
    if partition is None:
        return server.not_hosted_error(topic, index)
    error = partition.check_leader_epoch(current_leader_epoch)
    if error is not ErrorCode.NONE:
        return error
    if not partition.is_leader:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    return partition
