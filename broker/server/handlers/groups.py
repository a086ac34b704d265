"""The classic consumer-group APIs, mapped onto the group coordinator.

JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13), OffsetCommit (8),
OffsetFetch (9), ListGroups (16), DescribeGroups (15), DeleteGroups (42), OffsetDelete (47).
Field mapping only: the rules live in :mod:`broker.core.group_coordinator`; persistence and
parking in :mod:`broker.server.group_service`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.group_coordinator import (
    JoinGroupResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
)
from broker.core.group_offsets import DescribedGroup
from broker.server.clock import monotonic_ms
from broker.server.connection import current_peer_host
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

AUTHORIZED_OPERATIONS_OMITTED = -(2**31)


async def _loaded(server: BrokerServer, group_id: str | None = None) -> ErrorCode:
    """Whether this broker coordinates ``group_id`` now (None: every group it leads)."""
    if group_id is None:
        return await server.groups.ensure_loaded()
    return await server.groups.owner_error(group_id)


def _join_body(response: JoinGroupResponse, version: int) -> dict[str, Any]:
    legacy = version < 7  # protocol fields were non-nullable strings before v7
    return {
        "throttle_time_ms": 0,
        "error_code": response.error_code,
        "generation_id": response.generation_id,
        "protocol_type": (response.protocol_type or "") if legacy else response.protocol_type,
        "protocol_name": (response.protocol_name or "") if legacy else response.protocol_name,
        "leader": response.leader,
        "skip_assignment": response.skip_assignment,
        "member_id": response.member_id,
        "members": [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "metadata": m.metadata,
            }
            for m in response.members
        ],
    }


async def join_group(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await _loaded(server, request.group_id)
    if error is not ErrorCode.NONE:
        return _join_body(JoinGroupResponse(error, request.member_id), header.api_version)
    result = server.groups.coordinator.join(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=request.get("group_instance_id"),
        client_id=header.client_id or "",
        client_host=current_peer_host.get(),
        session_timeout_ms=request.session_timeout_ms,
        rebalance_timeout_ms=request.get("rebalance_timeout_ms", -1),
        protocol_type=request.protocol_type,
        protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
        version=header.api_version,
        now_ms=monotonic_ms(),
    )
    response = await server.groups.apply(result)
    if response is None:
        assert result.parked is not None
        response = await server.groups.wait(result.parked)
    return _join_body(response, header.api_version)


def _sync_body(response: SyncGroupResponse) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": response.error_code,
        "protocol_type": response.protocol_type,
        "protocol_name": response.protocol_name,
        "assignment": response.assignment,
    }


async def sync_group(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await _loaded(server, request.group_id)
    if error is not ErrorCode.NONE:
        return _sync_body(SyncGroupResponse(error))
    result = server.groups.coordinator.sync(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=request.get("group_instance_id"),
        protocol_type=request.get("protocol_type"),
        protocol_name=request.get("protocol_name"),
        assignments={a.member_id: bytes(a.assignment) for a in request.assignments},
        now_ms=monotonic_ms(),
    )
    response = await server.groups.apply(result)
    if response is None:
        assert result.parked is not None
        response = await server.groups.wait(result.parked)
    return _sync_body(response)


async def heartbeat(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await _loaded(server, request.group_id)
    if error is ErrorCode.NONE:
        error = server.groups.coordinator.heartbeat(
            request.group_id,
            request.generation_id,
            request.member_id,
            request.get("group_instance_id"),
            monotonic_ms(),
        )
    return {"throttle_time_ms": 0, "error_code": error}


async def leave_group(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await _loaded(server, request.group_id)
    if header.api_version >= 3:
        members = [(m.member_id, m.group_instance_id) for m in request.members]
    else:
        members = [(request.member_id, None)]
    if error is not ErrorCode.NONE:
        response = LeaveGroupResponse(error)
    else:
        result = server.groups.coordinator.leave(request.group_id, members, monotonic_ms())
        response = await server.groups.apply(result)
    answers = [
        {
            "member_id": m.member_id,
            "group_instance_id": m.group_instance_id,
            "error_code": m.error_code,
        }
        for m in response.members
    ]
    top = response.error_code
    if header.api_version < 3 and top is ErrorCode.NONE and response.members:
        top = response.members[0].error_code
    return {"throttle_time_ms": 0, "error_code": top, "members": answers}


async def offset_commit(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await _loaded(server, request.group_id)
    offsets = {
        (topic.name, p.partition_index): (
            p.committed_offset,
            p.get("committed_leader_epoch", -1),
            p.committed_metadata or "",
        )
        for topic in request.topics
        for p in topic.partitions
    }
    if error is ErrorCode.NONE:
        result = server.groups.coordinator.commit(
            group_id=request.group_id,
            generation_id=request.get("generation_id_or_member_epoch", -1),
            member_id=request.get("member_id", ""),
            group_instance_id=request.get("group_instance_id"),
            offsets=offsets,
            now_ms=monotonic_ms(),
            retention_time_ms=request.get("retention_time_ms", -1),
        )
        errors = await server.groups.apply(result)
    else:
        errors = dict.fromkeys(offsets, error)
    topics: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), code in errors.items():
        topics.setdefault(topic, []).append({"partition_index": partition, "error_code": code})
    return {
        "throttle_time_ms": 0,
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }


def _fetched(
    server: BrokerServer,
    group_id: str,
    topics: list[Container] | None,
    error: ErrorCode,
    require_stable: bool = False,
) -> list[dict[str, Any]]:
    """Committed offsets; with ``require_stable`` (KIP-447, v7+) a partition whose offset an
    open transaction is committing answers UNSTABLE_OFFSET_COMMIT (the client retries)."""
    wanted = None
    if topics is not None:
        wanted = [(t.name, index) for t in topics for index in t.partition_indexes]
    found = (
        {}
        if error is not ErrorCode.NONE
        else server.groups.coordinator.fetch_offsets(group_id, wanted)
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    keys = wanted if wanted is not None else sorted(found)
    coordinator = server.groups.coordinator
    for topic, partition in keys:
        entry = found.get((topic, partition))
        if require_stable and coordinator.has_pending_offsets(group_id, (topic, partition)):
            grouped.setdefault(topic, []).append(
                {
                    "partition_index": partition,
                    "committed_offset": -1,
                    "committed_leader_epoch": -1,
                    "metadata": "",
                    "error_code": ErrorCode.UNSTABLE_OFFSET_COMMIT,
                }
            )
            continue
        grouped.setdefault(topic, []).append(
            {
                "partition_index": partition,
                "committed_offset": entry.offset if entry else -1,
                "committed_leader_epoch": entry.leader_epoch if entry else -1,
                "metadata": entry.metadata if entry else "",
                "error_code": entry.error_code if entry else error,
            }
        )
    return [{"name": name, "partitions": parts} for name, parts in grouped.items()]


async def offset_fetch(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    stable = bool(request.get("require_stable", False))
    if header.api_version >= 8:
        groups = []
        for g in request.groups:
            error = await _loaded(server, g.group_id)
            if error is ErrorCode.NONE and header.api_version >= 9:
                # KIP-848: a consumer group's member reads with its member id and epoch.
                error = server.groups.coordinator.offset_fetch_error(
                    g.group_id, g.get("member_id"), g.get("member_epoch", -1)
                )
                if error is not ErrorCode.NONE:
                    groups.append({"group_id": g.group_id, "topics": [], "error_code": error})
                    continue
            groups.append(
                {
                    "group_id": g.group_id,
                    "topics": _fetched(server, g.group_id, g.topics, error, stable),
                    "error_code": error,
                }
            )
        return {"throttle_time_ms": 0, "groups": groups}
    error = await _loaded(server, request.group_id)
    return {
        "throttle_time_ms": 0,
        "topics": _fetched(server, request.group_id, request.topics, error, stable),
        "error_code": error,
    }


async def list_groups(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await _loaded(server)
    listed = (
        []
        if error is not ErrorCode.NONE
        else server.groups.coordinator.list_groups(
            request.get("states_filter") or (), request.get("types_filter") or ()
        )
    )
    return {
        "throttle_time_ms": 0,
        "error_code": error,
        "groups": [
            {
                "group_id": g.group_id,
                "protocol_type": g.protocol_type,
                "group_state": g.group_state,
                "group_type": g.group_type,
            }
            for g in listed
        ],
    }


async def describe_groups(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    errors = {group_id: await _loaded(server, group_id) for group_id in request.groups}
    owned = [group_id for group_id in request.groups if errors[group_id] is ErrorCode.NONE]
    found = {g.group_id: g for g in server.groups.coordinator.describe_groups(owned)}
    described = [
        found.get(group_id) or _undescribed(group_id, errors[group_id])
        for group_id in request.groups
    ]
    return {
        "throttle_time_ms": 0,
        "groups": [
            {
                "error_code": g.error_code,
                "group_id": g.group_id,
                "group_state": g.group_state,
                "protocol_type": g.protocol_type,
                "protocol_data": g.protocol_data,
                "members": [
                    {
                        "member_id": m.member_id,
                        "group_instance_id": m.group_instance_id,
                        "client_id": m.client_id,
                        "client_host": m.client_host,
                        "member_metadata": m.member_metadata,
                        "member_assignment": m.member_assignment,
                    }
                    for m in g.members
                ],
                "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
            }
            for g in described
        ],
    }


def _undescribed(group_id: str, error: ErrorCode) -> DescribedGroup:
    return DescribedGroup(error, group_id, "", "", "", ())


async def delete_groups(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    errors = {group_id: await _loaded(server, group_id) for group_id in request.groups_names}
    owned = [group_id for group_id, error in errors.items() if error is ErrorCode.NONE]
    results = dict(errors)
    if owned:
        result = server.groups.coordinator.delete_groups(owned, monotonic_ms())
        results.update(await server.groups.apply(result))
    return {
        "throttle_time_ms": 0,
        "results": [{"group_id": group, "error_code": code} for group, code in results.items()],
    }


async def offset_delete(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    """KIP-496.  A topic the cluster does not have is UNKNOWN_TOPIC_OR_PARTITION per
    partition (as Kafka's metadata check); the rest go to the coordinator."""
    error = await _loaded(server, request.group_id)
    unknown = {topic.name for topic in request.topics if server.image.topic(topic.name) is None}
    wanted = [
        (topic.name, p.partition_index)
        for topic in request.topics
        if topic.name not in unknown
        for p in topic.partitions
    ]
    errors: dict[tuple[str, int], ErrorCode] = {}
    if error is ErrorCode.NONE:
        result = server.groups.coordinator.delete_offsets(request.group_id, wanted, monotonic_ms())
        error, errors = await server.groups.apply(result)
    if error is not ErrorCode.NONE:
        return {"error_code": error, "throttle_time_ms": 0, "topics": []}
    topics: dict[str, list[dict[str, Any]]] = {}
    for topic in request.topics:
        for p in topic.partitions:
            key = (topic.name, p.partition_index)
            code = (
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                if topic.name in unknown
                else errors.get(key, ErrorCode.NONE)
            )
            topics.setdefault(topic.name, []).append(
                {"partition_index": p.partition_index, "error_code": code}
            )
    return {
        "error_code": ErrorCode.NONE,
        "throttle_time_ms": 0,
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }
