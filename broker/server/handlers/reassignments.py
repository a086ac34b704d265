"""AlterPartitionReassignments (45) and ListPartitionReassignments (46), KIP-455.

The controller (or a combined node) runs ``ClusterControl.alter_partition_reassignments`` and
commits its PartitionRecords before answering; a broker-only node forwards both requests as
they came (KIP-590).  The moving itself is replication as usual: the new replicas follow the
leader, join the ISR once caught up, and the PartitionRecord that brings the last of them in
also drops the removed ones (whose brokers then delete their logs).  v1's
``allow_replication_factor_change`` false refuses a target of another size than the current
replicas with INVALID_REPLICATION_FACTOR.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer

log = logging.getLogger("odradek.controller")


def _replication_factor_error(
    server: ControllerServer, name: str, index: int, target: list[int] | None
) -> str | None:
    topic = server.image.topic(name)
    part = topic.partitions.get(index) if topic is not None else None
    if target is None or part is None:
        return None
    original = [r for r in part.replicas if r not in part.adding_replicas]
    if len(target) == len(original):
        return None
    return f"the replication factor would change from {len(original)} to {len(target)}"


def alter(server: ControllerServer, version: int, request: Container) -> dict[str, Any]:
    allow_change = version < 1 or bool(request.allow_replication_factor_change)
    wanted = []
    refused: dict[tuple[str, int], str] = {}
    for topic in request.topics:
        for p in topic.partitions:
            target = None if p.replicas is None else [int(r) for r in p.replicas]
            problem = None
            if not allow_change:
                problem = _replication_factor_error(server, topic.name, p.partition_index, target)
            if problem is not None:
                refused[(topic.name, p.partition_index)] = problem
            else:
                wanted.append((topic.name, p.partition_index, target))
    answers = server.apply(server.cluster.alter_partition_reassignments(wanted))
    results = {(name, index): (error, message) for name, index, error, message in answers}
    started = [
        f"{name}-{index}" for (name, index), (e, _) in results.items() if e is ErrorCode.NONE
    ]
    if started:
        log.info("partition reassignments changed: %s", ", ".join(started))
    for key, problem_text in refused.items():
        results[key] = (ErrorCode.INVALID_REPLICATION_FACTOR, problem_text)
    topics: dict[str, list[dict[str, Any]]] = {}
    for topic in request.topics:
        for p in topic.partitions:
            error, message = results[(topic.name, p.partition_index)]
            topics.setdefault(topic.name, []).append(
                {
                    "partition_index": p.partition_index,
                    "error_code": error,
                    "error_message": message,
                }
            )
    return {
        "throttle_time_ms": 0,
        "allow_replication_factor_change": allow_change,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "responses": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }


def listing(server: ControllerServer, request: Container) -> dict[str, Any]:
    wanted = None
    if request.topics is not None:
        wanted = [(t.name, list(t.partition_indexes)) for t in request.topics]
    topics: dict[str, list[dict[str, Any]]] = {}
    for name, index, part in server.cluster.list_partition_reassignments(wanted):
        topics.setdefault(name, []).append(
            {
                "partition_index": index,
                "replicas": list(part.replicas),
                "adding_replicas": list(part.adding_replicas),
                "removing_replicas": list(part.removing_replicas),
            }
        )
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }


async def alter_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return alter(server, header.api_version, request)


async def list_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return listing(server, request)


async def alter_reassignments(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    return await server.answered_by_controller(
        header, request, lambda controller: alter(controller, header.api_version, request)
    )


async def list_reassignments(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    return await server.answered_by_controller(
        header, request, lambda controller: listing(controller, request)
    )
