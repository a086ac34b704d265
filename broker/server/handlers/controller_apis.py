"""The controller's APIs, served on its CONTROLLER listener.

BrokerRegistration (62), BrokerHeartbeat (63), AlterPartition (56), AllocateProducerIds (67),
the forwarded commands (19, 20, 37, 33, 44: the broker handlers, run against the controller;
43: ElectLeaders, 64: UnregisterBroker),
ApiVersions (18), and Fetch (1) of ``__cluster_metadata``: how brokers follow the metadata log.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server.clock import monotonic_ms, wall_ms
from broker.server.connection import current_connection_state
from broker.server.controller_server import METADATA_TOPIC
from broker.server.handlers import (
    admin,
    alter_configs,
    api_versions,
    client_quotas,
    describe_quorum,
    elect_leaders,
    features,
    reassignments,
    security,
    unregister_broker,
)
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.controller_server import ControllerServer
    from broker.server.dispatcher import Handler

MAX_METADATA_WAIT_MS = 30_000
log = logging.getLogger("odradek.controller")


def _remember_broker(broker_id: int, broker_epoch: int) -> None:
    """Fence this broker when the connection it speaks on closes."""
    current_connection_state.get()["broker"] = (broker_id, broker_epoch)


async def broker_registration(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    listener = request.listeners[0] if request.listeners else None
    if listener is None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.INVALID_REQUEST, "broker_epoch": -1}
    if request.cluster_id != server.cluster_id:
        log.error(
            "broker %d asked to join cluster %s; this is cluster %s",
            request.broker_id,
            request.cluster_id,
            server.cluster_id,
        )
        error = ErrorCode.INCONSISTENT_CLUSTER_ID
        return {"throttle_time_ms": 0, "error_code": error, "broker_epoch": -1}
    outcome = server.cluster.register_broker(
        request.broker_id,
        str(request.incarnation_id),
        host=listener.host,
        port=listener.port,
        rack=request.rack,
        now_ms=monotonic_ms(),
        metadata_offset=server.metadata_offset,
        # the first listener is the inter-broker one (ControllerLink registers it first)
        listeners=tuple((item.name, item.host, item.port) for item in request.listeners),
    )
    result = server.apply(outcome)
    if result.error_code is ErrorCode.NONE:
        _remember_broker(request.broker_id, result.broker_epoch)
    return {
        "throttle_time_ms": 0,
        "error_code": result.error_code,
        "broker_epoch": result.broker_epoch,
    }


async def broker_heartbeat(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    outcome = server.cluster.heartbeat(
        request.broker_id,
        request.broker_epoch,
        current_metadata_offset=request.current_metadata_offset,
        want_fence=request.want_fence,
        want_shut_down=request.want_shut_down,
        now_ms=monotonic_ms(),
    )
    result = server.apply(outcome)
    if result.error_code is ErrorCode.NONE:
        _remember_broker(request.broker_id, request.broker_epoch)
    return {
        "throttle_time_ms": 0,
        "error_code": result.error_code,
        "is_caught_up": result.is_caught_up,
        "is_fenced": result.is_fenced,
        "should_shut_down": result.should_shut_down,
    }


async def alter_partition(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    version = header.api_version
    topics = []
    for topic in request.topics:
        topic_id = topic.get("topic_id")
        if version < 2:
            image = server.image.topic(topic.topic_name)
            topic_id = image.topic_id if image is not None else uuid.UUID(int=0)
        partitions = []
        for part in topic.partitions:
            if version >= 3:
                new_isr = [(item.broker_id, item.broker_epoch) for item in part.new_isr_with_epochs]
            else:
                new_isr = [(broker, -1) for broker in part.new_isr]
            result = server.apply(
                server.cluster.alter_partition(
                    request.broker_id,
                    request.broker_epoch,
                    topic_id=topic_id,
                    partition_index=part.partition_index,
                    leader_epoch=part.leader_epoch,
                    partition_epoch=part.partition_epoch,
                    new_isr=new_isr,
                )
            )
            registration = result.registration
            partitions.append(
                {
                    "partition_index": part.partition_index,
                    "error_code": result.error_code,
                    "leader_id": registration.leader if registration else -1,
                    "leader_epoch": registration.leader_epoch if registration else -1,
                    "isr": list(registration.isr) if registration else [],
                    "leader_recovery_state": registration.leader_recovery_state
                    if registration
                    else 0,
                    "partition_epoch": registration.partition_epoch if registration else -1,
                }
            )
        topics.append(
            {"topic_name": topic.get("topic_name"), "topic_id": topic_id, "partitions": partitions}
        )
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "topics": topics}


async def allocate_producer_ids(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    result = server.apply(
        server.cluster.allocate_producer_ids(request.broker_id, request.broker_epoch)
    )
    return {
        "throttle_time_ms": 0,
        "error_code": result.error_code,
        "producer_id_start": result.producer_id_start,
        "producer_id_len": result.producer_id_len,
    }


def _metadata_partition(server: ControllerServer, offset: int, error: ErrorCode) -> dict[str, Any]:
    records = server.metadata_batch(offset) if error is ErrorCode.NONE else b""
    return {
        "partition_index": 0,
        "error_code": error,
        "high_watermark": server.metadata_offset,
        "last_stable_offset": server.metadata_offset,
        "log_start_offset": 0,
        "aborted_transactions": None,
        "preferred_read_replica": -1,
        "records": records,
    }


def _replica_id(request: Container) -> int:
    """The fetching node: ``replica_id`` up to Fetch v14, ``replica_state`` from v15."""
    state = request.get("replica_state")
    return int(state.replica_id if state is not None else request.get("replica_id", -1))


async def metadata_fetch(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    """Fetch of ``__cluster_metadata`` partition 0: the metadata log, long-polled."""
    responses = []
    for topic in request.topics:
        name = topic.get("topic")
        partitions = []
        for part in topic.partitions:
            if name != METADATA_TOPIC or part.partition != 0:
                partitions.append(
                    _metadata_partition(server, 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                )
                continue
            offset = part.fetch_offset
            if offset < 0 or offset > server.metadata_offset:
                partitions.append(_metadata_partition(server, 0, ErrorCode.OFFSET_OUT_OF_RANGE))
                continue
            server.on_metadata_fetch(_replica_id(request), offset, wall_ms())
            wait_ms = min(max(request.max_wait_ms, 0), MAX_METADATA_WAIT_MS)
            await server.wait_for_records(offset, wait_ms)
            partitions.append(_metadata_partition(server, offset, ErrorCode.NONE))
        responses.append(
            {"topic": name or "", "topic_id": topic.get("topic_id"), "partitions": partitions}
        )
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "session_id": 0,
        "responses": responses,
    }


async def describe_cluster(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    """The cluster id (a new broker adopts it) and the registered brokers."""
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "endpoint_type": 2,
        "cluster_id": server.cluster_id,
        "controller_id": server.node_id,
        "brokers": [
            {
                "broker_id": registration.broker_id,
                "host": registration.host,
                "port": registration.port,
                "rack": registration.rack,
                "is_fenced": registration.fenced,
            }
            for registration in sorted(server.image.brokers.values(), key=lambda r: r.broker_id)
        ],
        "cluster_authorized_operations": -(2**31),
    }


CONTROLLER_HANDLERS: dict[int, Handler] = {
    1: metadata_fetch,
    18: api_versions.handle,
    19: admin.create_topics,
    20: admin.delete_topics,
    33: alter_configs.alter_configs,
    37: admin.create_partitions,
    43: elect_leaders.handle_on_controller,
    44: alter_configs.incremental_alter_configs,
    45: reassignments.alter_on_controller,
    46: reassignments.list_on_controller,
    49: client_quotas.alter_on_controller,
    51: security.alter_on_controller,
    30: security.create_acls_on_controller,
    31: security.delete_acls_on_controller,
    55: describe_quorum.handle_on_controller,
    57: features.update_on_controller,
    56: alter_partition,
    62: broker_registration,
    63: broker_heartbeat,
    64: unregister_broker.handle_on_controller,
    60: describe_cluster,
    67: allocate_producer_ids,
}
