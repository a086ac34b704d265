"""KIP-932 share groups at the group coordinator: ShareGroupHeartbeat (76) and
ShareGroupDescribe (77), mapped onto :mod:`broker.core.share_membership` (which has the
rules).  Both answer UNSUPPORTED_VERSION while the cluster's ``share.version`` is 0, as
Kafka 4.1+ does."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core import features
from broker.core.share_group import ShareHeartbeat
from broker.core.share_membership import SHARE_ASSIGNOR, TopicIdAssignment
from broker.server.clock import monotonic_ms
from broker.server.connection import current_peer_host
from broker.server.handlers.consumer_groups import topics_view
from broker.server.handlers.groups import AUTHORIZED_OPERATIONS_OMITTED
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

SHARE_DISABLED = "Share groups are not enabled: share.version is 0."


def share_groups_enabled(server: BrokerServer) -> bool:
    return features.level(server.image, features.SHARE_VERSION) >= 1


def _heartbeat_refused(error: ErrorCode, message: str | None = None) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": error,
        "error_message": message,
        "member_id": None,
        "member_epoch": 0,
        "heartbeat_interval_ms": 0,
        "assignment": None,
    }


async def share_group_heartbeat(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    if not share_groups_enabled(server):
        return _heartbeat_refused(ErrorCode.UNSUPPORTED_VERSION, SHARE_DISABLED)
    group_id = request.group_id
    if group_id and (error := await server.groups.owner_error(group_id)) is not ErrorCode.NONE:
        return _heartbeat_refused(error)
    names = request.subscribed_topic_names
    heartbeat = ShareHeartbeat(
        member_id=request.member_id,
        member_epoch=request.member_epoch,
        rack_id=request.rack_id,
        subscribed_topic_names=None if names is None else tuple(names),
        client_id=header.client_id or "",
        client_host=current_peer_host.get(),
    )
    response = server.groups.coordinator.share_heartbeat(
        group_id, heartbeat, topics_view(server), monotonic_ms()
    )
    server.groups.rearm()
    if response.error_code is not ErrorCode.NONE:
        return _heartbeat_refused(response.error_code, response.error_message)
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "member_id": response.member_id,
        "member_epoch": response.member_epoch,
        "heartbeat_interval_ms": response.heartbeat_interval_ms,
        "assignment": None
        if response.assignment is None
        else {"topic_partitions": _topic_partitions(response.assignment)},
    }


def _topic_partitions(
    assignment: TopicIdAssignment, names: dict[uuid.UUID, str] | None = None
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for topic_id, parts in sorted(assignment.items()):
        entry: dict[str, Any] = {"topic_id": topic_id, "partitions": sorted(parts)}
        if names is not None:
            entry["topic_name"] = names.get(topic_id, "")
        entries.append(entry)
    return entries


def _undescribed(group_id: str, error: ErrorCode, message: str | None) -> dict[str, Any]:
    return {
        "error_code": error,
        "error_message": message,
        "group_id": group_id,
        "group_state": "Dead",
        "group_epoch": 0,
        "assignment_epoch": 0,
        "assignor_name": "",
        "members": [],
        "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


async def share_group_describe(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    enabled = share_groups_enabled(server)
    view = topics_view(server)
    names = {topic_id: name for name, (topic_id, _) in view.items()}
    groups: list[dict[str, Any]] = []
    for group_id in request.group_ids:
        if not enabled:
            groups.append(_undescribed(group_id, ErrorCode.UNSUPPORTED_VERSION, SHARE_DISABLED))
            continue
        error = await server.groups.owner_error(group_id)
        if error is not ErrorCode.NONE:
            groups.append(_undescribed(group_id, error, None))
            continue
        described = server.groups.coordinator.describe_share_groups([group_id], view)[0]
        if described.error_code is not ErrorCode.NONE:
            groups.append(_undescribed(group_id, described.error_code, described.error_message))
            continue
        groups.append(
            {
                "error_code": ErrorCode.NONE,
                "error_message": None,
                "group_id": group_id,
                "group_state": described.group_state,
                "group_epoch": described.group_epoch,
                "assignment_epoch": described.assignment_epoch,
                "assignor_name": SHARE_ASSIGNOR,
                "members": [
                    {
                        "member_id": m.member.member_id,
                        "rack_id": m.member.rack_id,
                        "member_epoch": m.member.member_epoch,
                        "client_id": m.member.client_id,
                        "client_host": m.member.client_host,
                        "subscribed_topic_names": sorted(m.member.subscribed),
                        "assignment": {"topic_partitions": _topic_partitions(m.assignment, names)},
                    }
                    for m in described.members
                ],
                "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
            }
        )
    return {"throttle_time_ms": 0, "groups": groups}
