"""The transaction APIs (KIP-98, KIP-664), mapped onto the transaction coordinator.

AddPartitionsToTxn (24, v0-3: the client versions), AddOffsetsToTxn (25), EndTxn (26),
WriteTxnMarkers (27, coordinator to partition leader), TxnOffsetCommit (28, to the group
coordinator), DescribeTransactions (65), ListTransactions (66); InitProducerId with a
``transactional.id`` comes here from :mod:`broker.server.handlers.producer_id`.  Field
mapping only: the rules live in :mod:`broker.core.txn_coordinator`, the shell in
:mod:`broker.server.txn_service`.  As Kafka (KIP-588), clients too old to know
PRODUCER_FENCED get INVALID_PRODUCER_EPOCH instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.txn_log import TxnState
from broker.server import internal_topics
from broker.server.clock import monotonic_ms, wall_ms
from broker.server.handlers.groups import _loaded
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer


def _fenced_for(version: int, first_version_with_fenced: int, error: ErrorCode) -> ErrorCode:
    if error is ErrorCode.PRODUCER_FENCED and version < first_version_with_fenced:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return error


async def init_producer_id(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    answer = await server.txns.init_producer_id(
        request.transactional_id,
        request.transaction_timeout_ms,
        expected_producer_id=request.get("producer_id", -1),
        expected_epoch=request.get("producer_epoch", -1),
    )
    return {
        "throttle_time_ms": 0,
        "error_code": _fenced_for(header.api_version, 4, answer.error),
        "producer_id": answer.producer_id,
        "producer_epoch": answer.producer_epoch,
    }


def _unknown_partitions(
    server: BrokerServer, wanted: list[tuple[str, int]]
) -> set[tuple[str, int]]:
    unknown = set()
    for topic, index in wanted:
        image = server.image.topic(topic)
        if image is None or index not in image.partitions:
            unknown.add((topic, index))
    return unknown


async def add_partitions_to_txn(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    wanted = [
        (topic.name, index) for topic in request.v3_and_below_topics for index in topic.partitions
    ]
    unknown = _unknown_partitions(server, wanted)
    if unknown:
        # As Kafka: nothing is added; the unknown ones say why, the rest were not attempted.
        errors = {
            tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if tp in unknown
            else ErrorCode.OPERATION_NOT_ATTEMPTED
            for tp in wanted
        }
    else:
        error = await server.txns.add_partitions(
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            wanted,
        )
        errors = dict.fromkeys(wanted, _fenced_for(header.api_version, 2, error))
    results: dict[str, list[dict[str, Any]]] = {}
    for (topic, index), code in errors.items():
        results.setdefault(topic, []).append(
            {"partition_index": index, "partition_error_code": code}
        )
    return {
        "throttle_time_ms": 0,
        "results_by_topic_v3_and_below": [
            {"name": name, "results_by_partition": parts} for name, parts in results.items()
        ],
    }


async def add_offsets_to_txn(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    error = await internal_topics.ensure_offsets_topic(server)
    if error in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS):
        partition = server.groups.coordinator.partition_for(request.group_id)
        error = await server.txns.add_partitions(
            request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            [(internal_topics.OFFSETS_TOPIC, partition)],
        )
    else:
        error = ErrorCode.COORDINATOR_NOT_AVAILABLE
    return {"throttle_time_ms": 0, "error_code": _fenced_for(header.api_version, 2, error)}


async def end_txn(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    error = await server.txns.end_txn(
        request.transactional_id, request.producer_id, request.producer_epoch, request.committed
    )
    return {
        "throttle_time_ms": 0,
        "error_code": _fenced_for(header.api_version, 2, error),
        "producer_id": -1,
        "producer_epoch": -1,
    }


async def write_txn_markers(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    answers = []
    for marker in request.markers:
        wanted = [
            (topic.name, index) for topic in marker.topics for index in topic.partition_indexes
        ]
        errors = await server.write_markers_locally(
            marker.producer_id,
            marker.producer_epoch,
            marker.transaction_result,
            marker.coordinator_epoch,
            wanted,
        )
        topics: dict[str, list[dict[str, Any]]] = {}
        for (topic, index), code in errors.items():
            topics.setdefault(topic, []).append({"partition_index": index, "error_code": code})
        answers.append(
            {
                "producer_id": marker.producer_id,
                "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
            }
        )
    return {"markers": answers}


async def txn_offset_commit(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    offsets = {
        (topic.name, p.partition_index): (
            p.committed_offset,
            p.get("committed_leader_epoch", -1),
            p.committed_metadata or "",
        )
        for topic in request.topics
        for p in topic.partitions
    }
    error = await _loaded(server, request.group_id)
    if error is ErrorCode.NONE:
        # The producer must hold the transaction, with the offsets partition in it, when
        # this broker coordinates the transaction too; else the epoch is taken on trust
        # (the marker's epoch check fences a zombie's offsets all the same).
        txn_partition = server.txns.coordinator.partition_for(request.transactional_id)
        if server.txns.coordinator.owns(txn_partition):
            error = server.txns.coordinator.check_offsets_commit(
                request.transactional_id, request.producer_id, request.producer_epoch
            )
    if error is ErrorCode.NONE:
        result = server.groups.coordinator.txn_commit(
            group_id=request.group_id,
            producer_id=request.producer_id,
            producer_epoch=request.producer_epoch,
            generation_id=request.get("generation_id", -1),
            member_id=request.get("member_id", ""),
            group_instance_id=request.get("group_instance_id"),
            offsets=offsets,
            now_ms=monotonic_ms(),
        )
        errors = await server.groups.apply(result)
    else:
        errors = dict.fromkeys(offsets, _fenced_for(header.api_version, 2, error))
    topics: dict[str, list[dict[str, Any]]] = {}
    for (topic, index), code in errors.items():
        topics.setdefault(topic, []).append({"partition_index": index, "error_code": code})
    return {
        "throttle_time_ms": 0,
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }


async def describe_transactions(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    states = []
    for transactional_id in request.transactional_ids:
        error = await server.txns.owner_error(transactional_id)
        found = error if error else server.txns.coordinator.describe(transactional_id)
        if isinstance(found, ErrorCode):
            states.append(
                {
                    "error_code": found,
                    "transactional_id": transactional_id,
                    "transaction_state": "",
                    "transaction_timeout_ms": 0,
                    "transaction_start_time_ms": -1,
                    "producer_id": -1,
                    "producer_epoch": -1,
                    "topics": [],
                }
            )
            continue
        topics: dict[str, list[int]] = {}
        for topic, index in sorted(found.partitions):
            topics.setdefault(topic, []).append(index)
        states.append(
            {
                "error_code": ErrorCode.NONE,
                "transactional_id": transactional_id,
                "transaction_state": found.state.display_name,
                "transaction_timeout_ms": found.timeout_ms,
                "transaction_start_time_ms": found.start_ms,
                "producer_id": found.producer_id,
                "producer_epoch": found.producer_epoch,
                "topics": [{"topic": name, "partitions": parts} for name, parts in topics.items()],
            }
        )
    return {"throttle_time_ms": 0, "transaction_states": states}


_STATES_BY_NAME = {state.display_name: state for state in TxnState}


async def list_transactions(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    names = list(request.state_filters)
    unknown = [name for name in names if name not in _STATES_BY_NAME]
    pattern = request.get("transactional_id_pattern")
    answer: dict[str, Any] = {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "unknown_state_filters": unknown,
        "transaction_states": [],
    }
    if pattern:
        try:
            re.compile(pattern)
        except re.error:
            answer["error_code"] = ErrorCode.INVALID_REQUEST
            return answer
    if server.image.topic(internal_topics.TRANSACTION_STATE_TOPIC) is not None:
        server.txns.ensure_loaded()
    listed = server.txns.coordinator.list(
        frozenset(_STATES_BY_NAME[name] for name in names if name in _STATES_BY_NAME),
        frozenset(request.producer_id_filters),
        min_duration_ms=request.get("duration_filter", -1),
        id_pattern=pattern or None,
        now_ms=wall_ms(),
    )
    if names and not any(name in _STATES_BY_NAME for name in names):
        listed = []  # every filter named an unknown state: nothing matches
    answer["transaction_states"] = [
        {
            "transactional_id": txn.transactional_id,
            "producer_id": txn.producer_id,
            "transaction_state": txn.state.display_name,
        }
        for txn in listed
    ]
    return answer
