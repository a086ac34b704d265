"""ElectLeaders (43): preferred or unclean leader elections by the controller (KIP-183, KIP-460).

A broker-only node forwards the request to the controller as it came (KIP-590), like
CreateTopics, and then waits (bounded by ``timeout_ms``) until its own metadata shows a new
leader epoch for every partition the controller elected, so that a client's next Metadata
request sees the new leaders.  The controller, or a combined node, runs
``ClusterControl.elect_leaders`` and commits its PartitionRecords before answering.  An unknown
election type is INVALID_REQUEST for the whole request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.cluster_control import PREFERRED_ELECTION, UNCLEAN_ELECTION
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer

log = logging.getLogger("odradek.controller")

TopicPartition = tuple[str, int]


def _election_type(version: int, request: Container) -> int:
    return int(request.election_type) if version >= 1 else PREFERRED_ELECTION


def _invalid(request: Container, message: str) -> dict[str, Any]:
    """Kafka's error response: the error for every partition asked for, and at the top."""
    results = [
        {
            "topic": topic.topic,
            "partition_result": [
                {
                    "partition_id": index,
                    "error_code": ErrorCode.INVALID_REQUEST,
                    "error_message": message,
                }
                for index in topic.partitions
            ],
        }
        for topic in request.topic_partitions or []
    ]
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.INVALID_REQUEST,
        "replica_election_results": results,
    }


def answer(server: ControllerServer, version: int, request: Container) -> dict[str, Any]:
    """Elect on the controller, commit, and build the response."""
    election_type = _election_type(version, request)
    if election_type not in (PREFERRED_ELECTION, UNCLEAN_ELECTION):
        return _invalid(request, f"Unknown election type {election_type}")
    wanted = None
    if request.topic_partitions is not None:
        wanted = [(topic.topic, list(topic.partitions)) for topic in request.topic_partitions]
    results = server.apply(server.cluster.elect_leaders(election_type, wanted))
    elected = [
        f"{name}-{item.partition}"
        for name, items in results
        for item in items
        if item.error_code is ErrorCode.NONE
    ]
    if elected:
        kind = "preferred" if election_type == PREFERRED_ELECTION else "unclean"
        log.info("ElectLeaders (%s) elected new leaders for %s", kind, ", ".join(elected))
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "replica_election_results": [
            {
                "topic": name,
                "partition_result": [
                    {
                        "partition_id": item.partition,
                        "error_code": item.error_code,
                        "error_message": item.error_message,
                    }
                    for item in items
                ],
            }
            for name, items in results
        ],
    }


async def handle_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return answer(server, header.api_version, request)


def _leader_epochs(server: BrokerServer) -> dict[TopicPartition, int]:
    return {
        (topic.name, index): registration.leader_epoch
        for topic in server.image.topics_by_name.values()
        for index, registration in topic.partitions.items()
    }


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    if not server.forwards_to_controller:
        assert server.controller_server is not None
        return answer(server.controller_server, header.api_version, request)
    before = _leader_epochs(server)
    response = await server.forward_to_controller(header, request)
    elected = [
        (result.topic, item.partition_id)
        for result in response.replica_election_results
        for item in result.partition_result
        if item.error_code == ErrorCode.NONE
    ]

    def applied() -> bool:
        now = _leader_epochs(server)
        return all(now.get(key, -1) > before.get(key, -1) for key in elected)

    if elected:
        await server.await_metadata(applied, max(request.timeout_ms, 0))
    return dict(response)
