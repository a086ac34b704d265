"""FindCoordinator (10): the broker leading the group's ``__consumer_offsets`` partition.

A group's coordinator is the current leader of its partition of ``__consumer_offsets`` (created
on first use, replication factor capped at the live brokers); COORDINATOR_NOT_AVAILABLE while
that partition has no leader.  When the leadership moves, clients get NOT_COORDINATOR from the
old broker and ask again.  Transaction coordinators (key type 1) likewise: the leader of the
id's ``__transaction_state`` partition.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server import internal_topics
from broker.server.internal_topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

log = logging.getLogger("odradek.coordinator")

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1


def _coordinator(server: BrokerServer, key: str, key_type: int) -> dict[str, Any]:
    if key_type not in (GROUP_KEY_TYPE, TRANSACTION_KEY_TYPE):
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": "Invalid key type",
        }
    if not key:
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": "Empty key",
        }
    if key_type == GROUP_KEY_TYPE:
        # The coordinator of a group is the leader of its __consumer_offsets partition.
        partition = server.groups.coordinator.partition_for(key)
        leader = server.partition_leader_endpoint(OFFSETS_TOPIC, partition)
    else:
        partition = server.txns.coordinator.partition_for(key)
        leader = server.partition_leader_endpoint(TRANSACTION_STATE_TOPIC, partition)
    if leader is None:
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE,
            "error_message": "The coordinator is not available.",
        }
    node_id, host, port = leader
    return {
        "key": key,
        "node_id": node_id,
        "host": host,
        "port": port,
        "error_code": ErrorCode.NONE,
        "error_message": None,
    }


async def find_coordinator(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    key_type = request.get("key_type", GROUP_KEY_TYPE)
    if key_type == GROUP_KEY_TYPE:
        error = await internal_topics.ensure_offsets_topic(server)
        if error not in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS):
            log.warning("cannot create %s: %s", OFFSETS_TOPIC, ErrorCode(error).name)
    elif key_type == TRANSACTION_KEY_TYPE:
        error = await internal_topics.ensure_transaction_topic(server)
        if error not in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS):
            log.warning("cannot create %s: %s", TRANSACTION_STATE_TOPIC, ErrorCode(error).name)
    if header.api_version >= 4:
        coordinators = [_coordinator(server, key, key_type) for key in request.coordinator_keys]
        return {"throttle_time_ms": 0, "coordinators": coordinators}
    single = _coordinator(server, request.key, key_type)
    return {"throttle_time_ms": 0, **single}
