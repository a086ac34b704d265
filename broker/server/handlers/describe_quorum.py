"""DescribeQuorum (55): the metadata quorum, as ``kafka-metadata-quorum describe`` shows it.

The quorum is this cluster's one controller (a replicated quorum is the next step): it is the
leader and the only voter, its leader epoch is the one it took on start (``quorum-state`` in
its metadata dir, one more each start), the high watermark is the end of the metadata log
(a record is committed once appended), and the observers are the brokers that fetch the
metadata log from it, each with the offset and wall-clock time of its last fetch and the time it
last fetched at the log end.  A broker-only node forwards the request to the controller as it
came (KIP-590, as KIP-836 has brokers do); a combined node answers itself (its own broker is the
voter, so no observers).  Any topic-partition other than ``__cluster_metadata``-0 is
UNKNOWN_TOPIC_OR_PARTITION.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server.clock import wall_ms
from broker.server.controller_server import METADATA_TOPIC
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer

NO_DIRECTORY = uuid.UUID(int=0)


def _replica(replica_id: int, end: int, fetched_ms: int, caught_up_ms: int) -> dict[str, Any]:
    return {
        "replica_id": replica_id,
        "replica_directory_id": NO_DIRECTORY,
        "log_end_offset": end,
        "last_fetch_timestamp": fetched_ms,
        "last_caught_up_timestamp": caught_up_ms,
    }


def _partition(server: ControllerServer, index: int, topic: str, now_ms: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "partition_index": index,
        "error_message": None,
        "leader_id": -1,
        "leader_epoch": -1,
        "high_watermark": -1,
        "current_voters": [],
        "observers": [],
    }
    if topic != METADATA_TOPIC or index != 0:
        return {**entry, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    end = server.metadata_offset
    observers = [
        _replica(broker_id, offset, fetched_ms, caught_up_ms)
        for broker_id, (offset, fetched_ms, caught_up_ms) in sorted(server.observers.items())
        if broker_id != server.node_id
    ]
    return {
        **entry,
        "error_code": ErrorCode.NONE,
        "leader_id": server.node_id,
        "leader_epoch": server.leader_epoch,
        "high_watermark": end,
        # Kafka reports the leader's own fetch time as -1 and its caught-up time as now.
        "current_voters": [_replica(server.node_id, end, -1, now_ms)],
        "observers": observers,
    }


def answer(server: ControllerServer, request: Container) -> dict[str, Any]:
    now_ms = wall_ms()
    listener = server.controller_listener()
    listeners = []
    if listener is not None:
        name = server.config.controller_listener_names[0]
        listeners = [{"name": name, "host": listener[0], "port": server.port or listener[1]}]
    return {
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "topics": [
            {
                "topic_name": topic.topic_name,
                "partitions": [
                    _partition(server, p.partition_index, topic.topic_name, now_ms)
                    for p in topic.partitions
                ],
            }
            for topic in request.topics
        ],
        "nodes": [{"node_id": server.node_id, "listeners": listeners}],
    }


async def handle_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return answer(server, request)


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    return await server.answered_by_controller(
        header, request, lambda controller: answer(controller, request)
    )
