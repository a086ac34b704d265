"""FindCoordinator (10) and OffsetFetch (9): the minimum an assign-only consumer needs.

librdkafka's consumer sends FindCoordinator whenever ``group.id`` is set, even with manual
assignment, and may read committed offsets.  On a single node the coordinator of every group
is this broker.  Committed offsets are not stored yet (the consumer-group work adds
``__consumer_offsets``), so OffsetFetch answers "no committed offset" (-1) per partition, which
makes the consumer apply ``auto.offset.reset`` exactly as for a new group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

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
    return {
        "key": key,
        "node_id": server.node_id,
        "host": server.advertised_host,
        "port": server.advertised_port,
        "error_code": ErrorCode.NONE,
        "error_message": None,
    }


async def find_coordinator(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    key_type = request.get("key_type", GROUP_KEY_TYPE)
    if header.api_version >= 4:
        coordinators = [_coordinator(server, key, key_type) for key in request.coordinator_keys]
        return {"throttle_time_ms": 0, "coordinators": coordinators}
    single = _coordinator(server, request.key, key_type)
    return {"throttle_time_ms": 0, **single}


def _no_offsets(
    server: BrokerServer, topics: list[Container] | None, name_key: str
) -> list[dict[str, Any]]:
    if topics is None:
        return []
    return [
        {
            name_key: topic.name,
            "partitions": [
                {
                    "partition_index": index,
                    "committed_offset": -1,
                    "committed_leader_epoch": -1,
                    "metadata": "",
                    "error_code": ErrorCode.NONE,
                }
                for index in topic.partition_indexes
            ],
        }
        for topic in topics
    ]


async def offset_fetch(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    if header.api_version >= 8:
        groups = [
            {
                "group_id": group.group_id,
                "topics": _no_offsets(server, group.topics, "name"),
                "error_code": ErrorCode.NONE,
            }
            for group in request.groups
        ]
        return {"throttle_time_ms": 0, "groups": groups}
    return {
        "throttle_time_ms": 0,
        "topics": _no_offsets(server, request.topics, "name"),
        "error_code": ErrorCode.NONE,
    }
