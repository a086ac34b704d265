"""Produce (0): validate each partition's batches as bytes, append, answer per partition.

Batches are never decoded record by record: ``validate_batches`` checks the v2 headers and
CRCs, the log stamps base offsets and the leader epoch in place (outside the CRC), and the bytes
go to the segment as they came.  ``acks=0`` gets no response at all, as the protocol says.
``acks=all`` is refused before the append while the ISR is below ``min.insync.replicas``
(NOT_ENOUGH_REPLICAS); otherwise the response waits in the purgatory (``DelayedProduce``) until
the high watermark passes every appended batch, the leadership moves (NOT_LEADER_OR_FOLLOWER)
or ``timeout_ms`` passes (REQUEST_TIMED_OUT: the outcome is unknown to the client).  A batch
committed while the maximal ISR is below the minimum gets NOT_ENOUGH_REPLICAS_AFTER_APPEND,
although it is in the log.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.partition import ACKS_ALL, ACKS_NONE
from broker.server.clock import monotonic_ms
from broker.server.connection import current_listener
from broker.server.dispatcher import Deferred
from broker.server.handlers.metadata import broker_entry
from broker.server.replica_manager import acks_key
from client.protocol.errors import ErrorCode, ProtocolError
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer


def _partition_response(
    index: int,
    error: ErrorCode,
    message: str | None = None,
    base_offset: int = -1,
    log_start_offset: int = -1,
) -> dict[str, Any]:
    return {
        "index": index,
        "error_code": error,
        "base_offset": base_offset,
        "log_append_time_ms": -1,
        "log_start_offset": log_start_offset,
        "record_errors": [],
        "error_message": message,
    }


TopicPartition = tuple[str, int]


class DelayedProduce:
    """An acks=all response waiting until the HW passed each partition's appended batch."""

    def __init__(
        self,
        server: BrokerServer,
        required: dict[TopicPartition, tuple[int, int]],
        deadline_ms: int,
    ) -> None:
        self.server = server
        self.required = required  # (offset after the batch, leader epoch it was appended in)
        self.deadline_ms = deadline_ms
        self.completed = False  # set by the purgatory, or at once when nothing has to wait
        # Called once when done (the connection's pipeline sends the answer from there:
        # no task waits for an acks=all produce).
        self.listener: Callable[[], None] | None = None

    def status(self, key: TopicPartition) -> ErrorCode | None:
        partition = self.server.partitions.get(key)
        if partition is None:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        offset, epoch = self.required[key]
        return partition.acks_all_status(offset, epoch)

    def try_complete(self, key: Hashable) -> bool:
        return all(self.status(tp) is not None for tp in self.required)

    def on_complete(self) -> None:
        listener = self.listener
        if listener is not None:
            self.listener = None
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        if self.completed:
            listener()
        else:
            self.listener = listener


def _node_endpoints(server: BrokerServer, responses: list[dict[str, Any]]) -> list[Any]:
    """KIP-951: the endpoints of the leaders named in NOT_LEADER_OR_FOLLOWER answers."""
    leaders = {
        entry["current_leader"]["leader_id"]
        for topic in responses
        for entry in topic["partition_responses"]
        if "current_leader" in entry
    }
    endpoints = []
    for broker_id in sorted(leaders):
        registration = server.image.brokers.get(broker_id)
        if registration is not None:
            endpoints.append(broker_entry(registration, current_listener.get()))
    return endpoints


def append(
    server: BrokerServer, topic: str, index: int, records: bytes | None, acks: int
) -> dict[str, Any]:
    """One partition's response entry (``ReplicaManager.append_as_leader``); an acks=all
    entry carries ``_required_offset`` until the wait is set up."""
    outcome = server.append_as_leader(topic, index, records, acks)
    response = _partition_response(
        index, outcome.error, outcome.message, outcome.base_offset, outcome.log_start_offset
    )
    if outcome.current_leader is not None:
        leader_id, leader_epoch = outcome.current_leader
        response["current_leader"] = {"leader_id": leader_id, "leader_epoch": leader_epoch}
    if outcome.required is not None:
        response["_required_offset"] = outcome.required
    return response


async def handle(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any] | Deferred | None:
    acks = request.acks
    responses = []
    for topic in request.topic_data:
        partitions = [
            append(server, topic.name, data.index, data.records, acks)
            for data in topic.partition_data
        ]
        responses.append({"name": topic.name, "partition_responses": partitions})
    if acks == ACKS_NONE:
        failed = [p for topic in responses for p in topic["partition_responses"] if p["error_code"]]
        if failed:
            # acks=0 has no response to carry the error: like Kafka, close the connection so
            # the client notices, refreshes its metadata and reconnects.
            raise ProtocolError(f"acks=0 produce failed: {ErrorCode(failed[0]['error_code']).name}")
        return None
    body: dict[str, Any] = {"responses": responses, "throttle_time_ms": 0}
    if any("current_leader" in p for topic in responses for p in topic["partition_responses"]):
        body["node_endpoints"] = _node_endpoints(server, responses)
    if acks == ACKS_ALL:
        operation = _delayed_produce(server, responses, request.timeout_ms)
        if operation is not None and operation.completed:
            _finish(operation, responses)
        elif operation is not None:
            # Appended: only the replication wait is left, so the connection may go on reading
            # (its responses still leave in order).
            waiting = operation

            def finish() -> dict[str, Any]:
                _finish(waiting, responses)
                return body

            return Deferred(finish, lambda: waiting.completed, operation.subscribe)
    return body


def _delayed_produce(
    server: BrokerServer, responses: list[dict[str, Any]], timeout_ms: int
) -> DelayedProduce | None:
    """Park the acks=all partitions until their batches are committed; None if none wait."""
    pending: dict[TopicPartition, tuple[int, int]] = {}
    for topic in responses:
        for entry in topic["partition_responses"]:
            required = entry.pop("_required_offset", None)
            if required is not None:
                pending[(topic["name"], entry["index"])] = required
    if not pending:
        return None
    operation = DelayedProduce(server, pending, monotonic_ms() + max(timeout_ms, 0))
    if operation.try_complete(None):
        operation.completed = True
    else:
        server.watch_delayed(operation, [acks_key(key) for key in pending])
    return operation


def _finish(operation: DelayedProduce, responses: list[dict[str, Any]]) -> None:
    """Fill in each waiting partition's outcome: committed, failed, or timed out."""
    for topic in responses:
        for entry in topic["partition_responses"]:
            key = (topic["name"], entry["index"])
            if key not in operation.required:
                continue
            status = operation.status(key)
            if status is None:
                status = ErrorCode.REQUEST_TIMED_OUT
            if status is not ErrorCode.NONE:
                entry["error_code"] = status
                entry["base_offset"] = -1
