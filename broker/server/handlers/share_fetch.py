"""ShareFetch (78) and ShareAcknowledge (79): a share group member's reads and
acknowledgements on a partition leader (KIP-932), in its share session.

Order, as Kafka's ``handleShareFetchRequest``: share groups enabled (``share.version`` >= 1,
else UNSUPPORTED_VERSION), a valid member id (INVALID_REQUEST), the session
(:class:`~broker.core.share_session.ShareSessionCache`: SHARE_SESSION_NOT_FOUND,
INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_LIMIT_REACHED, acknowledgements at epoch 0:
INVALID_REQUEST), then the acknowledgements (each partition that carried some gets an entry
with its ``acknowledge_error_code``), then the fetch over every partition of the session.
Epoch -1 applies the acknowledgements, then closes the session and releases what the member
still holds.  Membership of the group is not checked here, as in Kafka: the session is.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.share_partition import AcknowledgementBatch
from broker.core.share_session import RequestKind, SessionPartition
from broker.server.connection import current_connection_state, current_listener
from broker.server.handlers.fetch import MAX_WAIT_MS_LIMIT
from broker.server.handlers.metadata import broker_entry
from broker.server.handlers.share_groups import SHARE_DISABLED, share_groups_enabled
from broker.server.share_service import FetchedPartition, ShareKey
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

MAX_MEMBER_ID_LENGTH = 36
NO_LEADER = {"leader_id": -1, "leader_epoch": -1}
_LEADER_ERRORS = (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH)


def _refused(error: ErrorCode, message: str | None = None, *, fetch: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "throttle_time_ms": 0,
        "error_code": error,
        "error_message": message,
        "responses": [],
        "node_endpoints": [],
    }
    if fetch:
        body["acquisition_lock_timeout_ms"] = 0
    return body


def _precheck(request: Container, *, fetch: bool) -> dict[str, Any] | None:
    member_id = request.member_id
    if not member_id or len(member_id) > MAX_MEMBER_ID_LENGTH:
        return _refused(ErrorCode.INVALID_REQUEST, "Invalid member id in the request.", fetch=fetch)
    if not request.group_id:
        return _refused(ErrorCode.INVALID_REQUEST, "Invalid group id in the request.", fetch=fetch)
    return None


def _acks_of(request: Container) -> dict[SessionPartition, list[AcknowledgementBatch]]:
    acks: dict[SessionPartition, list[AcknowledgementBatch]] = {}
    for topic in request.topics:
        for part in topic.partitions:
            batches = part.acknowledgement_batches
            if batches:
                acks.setdefault((topic.topic_id, part.partition_index), []).extend(
                    AcknowledgementBatch(b.first_offset, b.last_offset, tuple(b.acknowledge_types))
                    for b in batches
                )
    return acks


def _topic_name(server: BrokerServer, topic_id: uuid.UUID) -> str | None:
    image = server.image.topics_by_id.get(topic_id)
    return None if image is None else image.name


def _leader_hint(server: BrokerServer, topic: str | None, index: int) -> dict[str, int]:
    image = server.image.topic(topic) if topic is not None else None
    registration = image.partitions.get(index) if image is not None else None
    if registration is None or registration.leader < 0:
        return dict(NO_LEADER)
    return {"leader_id": registration.leader, "leader_epoch": registration.leader_epoch}


def _apply_acks(
    server: BrokerServer,
    group_id: str,
    member_id: str,
    acks: dict[SessionPartition, list[AcknowledgementBatch]],
) -> dict[SessionPartition, ErrorCode]:
    results: dict[SessionPartition, ErrorCode] = {}
    shares = server.shares
    for (topic_id, index), batches in acks.items():
        assert isinstance(topic_id, uuid.UUID)
        name = _topic_name(server, topic_id)
        if name is None:
            results[(topic_id, index)] = ErrorCode.UNKNOWN_TOPIC_ID
            continue
        key: ShareKey = (group_id, topic_id, index)
        results[(topic_id, index)] = shares.acknowledge(key, name, member_id, batches)
    return results


def _node_endpoints(server: BrokerServer, leaders: set[int]) -> list[dict[str, Any]]:
    endpoints = []
    for broker_id in sorted(leaders):
        registration = server.image.brokers.get(broker_id)
        if registration is not None and not registration.fenced:
            endpoints.append(broker_entry(registration, current_listener.get()))
    return endpoints


def _fetch_all(
    server: BrokerServer,
    group_id: str,
    member_id: str,
    partitions: list[SessionPartition],
    limits: tuple[int, int],
) -> dict[SessionPartition, FetchedPartition]:
    """Read and acquire for the member in each partition; ``limits``: (max bytes, max
    records) of the whole response."""
    max_bytes, max_records = limits
    fetched: dict[SessionPartition, FetchedPartition] = {}
    bytes_left, records_left = max(max_bytes, 0), max(max_records, 1)
    shares = server.shares
    for topic_id, index in partitions:
        assert isinstance(topic_id, uuid.UUID)
        name = _topic_name(server, topic_id)
        if name is None:
            fetched[(topic_id, index)] = FetchedPartition(ErrorCode.UNKNOWN_TOPIC_ID)
            continue
        if records_left <= 0 or bytes_left <= 0:
            continue
        first = not any(f.acquired for f in fetched.values())
        result = shares.fetch_partition(
            (group_id, topic_id, index), name, member_id, bytes_left, records_left, first=first
        )
        fetched[(topic_id, index)] = result
        bytes_left -= len(result.records)
        records_left -= sum(a.last_offset - a.first_offset + 1 for a in result.acquired)
    return fetched


async def share_fetch(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    if not share_groups_enabled(server):
        return _refused(ErrorCode.UNSUPPORTED_VERSION, SHARE_DISABLED, fetch=True)
    if (refused := _precheck(request, fetch=True)) is not None:
        return refused
    group_id, member_id = request.group_id, request.member_id
    acks = _acks_of(request)
    shares = server.shares
    added = [(t.topic_id, p.partition_index) for t in request.topics for p in t.partitions]
    forgotten = [(t.topic_id, i) for t in request.forgotten_topics_data for i in t.partitions]
    owner = shares.owner(current_connection_state.get({}))
    outcome = shares.sessions.update(
        RequestKind.FETCH,
        group_id,
        member_id,
        request.share_session_epoch,
        added,
        forgotten=forgotten,
        has_acknowledgements=bool(acks),
        owner=owner,
    )
    if outcome.error is not ErrorCode.NONE:
        return _refused(outcome.error, fetch=True)
    session = outcome.session
    assert session is not None
    ack_results = _apply_acks(server, group_id, member_id, acks)
    fetched: dict[SessionPartition, FetchedPartition] = {}
    if outcome.closed:
        shares.release_session(session)
    else:
        partitions = list(session.partitions)
        args = (group_id, member_id, partitions, (request.max_bytes, request.max_records))
        fetched = _fetch_all(server, *args)
        max_wait_ms = min(max(request.max_wait_ms, 0), MAX_WAIT_MS_LIMIT)
        nothing = not any(f.acquired or f.error for f in fetched.values())
        if nothing and max_wait_ms > 0 and partitions:
            keys: list[ShareKey] = [(group_id, tid, i) for tid, i in partitions]  # type: ignore[misc]
            await shares.wait(group_id, keys, max_wait_ms)
            if shares.sessions.sessions.get((group_id, member_id)) is session:
                fetched = _fetch_all(server, *args)
    return _fetch_response(server, group_id, ack_results, fetched)


def _fetch_response(
    server: BrokerServer,
    group_id: str,
    ack_results: dict[SessionPartition, ErrorCode],
    fetched: dict[SessionPartition, FetchedPartition],
) -> dict[str, Any]:
    by_topic: dict[uuid.UUID, list[dict[str, Any]]] = {}
    leaders: set[int] = set()
    for key in dict.fromkeys([*ack_results, *fetched]):
        topic_id, index = key
        assert isinstance(topic_id, uuid.UUID)
        result = fetched.get(key, FetchedPartition())
        ack_error = ack_results.get(key, ErrorCode.NONE)
        if not (result.error or result.acquired or key in ack_results):
            continue
        hint = dict(NO_LEADER)
        if result.error in _LEADER_ERRORS or ack_error in _LEADER_ERRORS:
            hint = _leader_hint(server, _topic_name(server, topic_id), index)
            if hint["leader_id"] >= 0:
                leaders.add(hint["leader_id"])
        by_topic.setdefault(topic_id, []).append(
            {
                "partition_index": index,
                "error_code": result.error,
                "error_message": None,
                "acknowledge_error_code": ack_error,
                "acknowledge_error_message": None,
                "current_leader": hint,
                "records": result.records,
                "acquired_records": [a._asdict() for a in result.acquired],
            }
        )
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "acquisition_lock_timeout_ms": server.shares.record_lock_duration_ms(group_id),
        "responses": [
            {"topic_id": topic_id, "partitions": parts} for topic_id, parts in by_topic.items()
        ],
        "node_endpoints": _node_endpoints(server, leaders),
    }


async def share_acknowledge(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    if not share_groups_enabled(server):
        return _refused(ErrorCode.UNSUPPORTED_VERSION, SHARE_DISABLED, fetch=False)
    if (refused := _precheck(request, fetch=False)) is not None:
        return refused
    group_id, member_id = request.group_id, request.member_id
    shares = server.shares
    outcome = shares.sessions.update(
        RequestKind.ACKNOWLEDGE,
        group_id,
        member_id,
        request.share_session_epoch,
        (),
        owner=shares.owner(current_connection_state.get({})),
    )
    if outcome.error is not ErrorCode.NONE:
        return _refused(outcome.error, fetch=False)
    results = _apply_acks(server, group_id, member_id, _acks_of(request))
    if outcome.closed:
        assert outcome.session is not None
        shares.release_session(outcome.session)
    by_topic: dict[uuid.UUID, list[dict[str, Any]]] = {}
    leaders: set[int] = set()
    for (topic_id, index), error in results.items():
        assert isinstance(topic_id, uuid.UUID)
        hint = dict(NO_LEADER)
        if error in _LEADER_ERRORS:
            hint = _leader_hint(server, _topic_name(server, topic_id), index)
            if hint["leader_id"] >= 0:
                leaders.add(hint["leader_id"])
        by_topic.setdefault(topic_id, []).append(
            {"partition_index": index, "error_code": error, "error_message": None,
             "current_leader": hint}
        )  # fmt: skip
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "responses": [
            {"topic_id": topic_id, "partitions": parts} for topic_id, parts in by_topic.items()
        ],
        "node_endpoints": _node_endpoints(server, leaders),
    }
