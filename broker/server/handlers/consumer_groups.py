"""KIP-848 consumer groups: ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69), mapped
onto the group coordinator (:mod:`broker.core.consumer_membership` has the rules)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core import features
from broker.core.consumer_group import Assignment, HeartbeatRequest, TopicsView
from broker.core.consumer_membership import ConsumerHeartbeatResponse
from broker.server.clock import monotonic_ms
from broker.server.connection import current_peer_host
from broker.server.handlers.groups import AUTHORIZED_OPERATIONS_OMITTED
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer


def topics_view(server: BrokerServer) -> TopicsView:
    return {
        name: (topic.topic_id, len(topic.partitions))
        for name, topic in server.image.topics_by_name.items()
    }


def _owned(entries: list[Container] | None) -> Assignment | None:
    if entries is None:
        return None
    owned: dict[uuid.UUID, frozenset[int]] = {}
    for entry in entries:
        owned[entry.topic_id] = owned.get(entry.topic_id, frozenset()) | frozenset(entry.partitions)
    return owned


def _assignment_body(assignment: Assignment) -> dict[str, Any]:
    return {
        "topic_partitions": [
            {"topic_id": topic_id, "partitions": sorted(parts)}
            for topic_id, parts in sorted(assignment.items())
        ]
    }


async def consumer_group_heartbeat(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    if features.level(server.image, features.GROUP_VERSION) < 1:
        # As Kafka: the consumer protocol needs group.version 1 (kafka-features upgrade).
        response = ConsumerHeartbeatResponse(
            ErrorCode.UNSUPPORTED_VERSION,
            "The new group coordinator is not enabled: group.version is 0.",
        )
    elif error := (await server.groups.owner_error(request.group_id) if request.group_id else None):
        response = ConsumerHeartbeatResponse(error)
    else:
        names = request.subscribed_topic_names
        heartbeat = HeartbeatRequest(
            group_id=request.group_id,
            member_id=request.member_id,
            member_epoch=request.member_epoch,
            instance_id=request.instance_id,
            rack_id=request.rack_id,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            subscribed_topic_names=None if names is None else tuple(names),
            subscribed_topic_regex=request.get("subscribed_topic_regex"),
            server_assignor=request.server_assignor,
            owned=_owned(request.topic_partitions),
            client_id=header.client_id or "",
            client_host=current_peer_host.get(),
            version=header.api_version,
        )
        result = server.groups.coordinator.consumer_heartbeat(
            heartbeat, topics_view(server), monotonic_ms()
        )
        response = await server.groups.apply(result)
    return {
        "throttle_time_ms": 0,
        "error_code": response.error_code,
        "error_message": response.error_message,
        "member_id": response.member_id,
        "member_epoch": response.member_epoch,
        "heartbeat_interval_ms": response.heartbeat_interval_ms,
        "assignment": None
        if response.assignment is None
        else _assignment_body(response.assignment),
    }


async def consumer_group_describe(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    names = {topic.topic_id: name for name, topic in server.image.topics_by_name.items()}

    def described_assignment(assignment: Assignment) -> dict[str, Any]:
        return {
            "topic_partitions": [
                {"topic_id": topic_id, "topic_name": names.get(topic_id, ""),
                 "partitions": sorted(parts)}
                for topic_id, parts in sorted(assignment.items())
            ]
        }  # fmt: skip

    groups: list[dict[str, Any]] = []
    for group_id in request.group_ids:
        error = await server.groups.owner_error(group_id)
        if error is not ErrorCode.NONE:
            groups.append(_undescribed(group_id, error))
            continue
        described = server.groups.coordinator.describe_consumer_groups([group_id])[0]
        groups.append(
            {
                "error_code": described.error_code,
                "error_message": described.error_message,
                "group_id": group_id,
                "group_state": described.group_state,
                "group_epoch": described.group_epoch,
                "assignment_epoch": described.assignment_epoch,
                "assignor_name": described.assignor_name,
                "members": [
                    {
                        "member_id": m.member.member_id,
                        "instance_id": m.member.instance_id,
                        "rack_id": m.member.rack_id,
                        "member_epoch": m.member.member_epoch,
                        "client_id": m.member.client_id,
                        "client_host": m.member.client_host,
                        "subscribed_topic_names": list(m.member.subscribed_topic_names),
                        "subscribed_topic_regex": m.member.subscribed_topic_regex,
                        "assignment": described_assignment(m.member.assigned),
                        "target_assignment": described_assignment(m.target),
                        "member_type": 1,  # consumer protocol (0 would be classic)
                    }
                    for m in described.members
                ],
                "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
            }
        )
    return {"throttle_time_ms": 0, "groups": groups}


def _undescribed(group_id: str, error: ErrorCode) -> dict[str, Any]:
    return {
        "error_code": error,
        "error_message": None,
        "group_id": group_id,
        "group_state": "",
        "group_epoch": 0,
        "assignment_epoch": 0,
        "assignor_name": "",
        "members": [],
        "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }
