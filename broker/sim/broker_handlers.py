"""The simulated broker's request handlers: ``handlers/produce.py`` and ``handlers/fetch.py``.

Same order of operations as the shell:

- Produce: the shell's own ``ReplicaManager.append_as_leader`` (``check_produce`` ->
  ``validate_batches`` -> the idempotence check -> ``append`` -> ``on_appended``); acks=all
  parks a ``DelayedProduce`` until ``acks_all_status`` is not None or ``timeout_ms`` passes
  (REQUEST_TIMED_OUT).
- Follower fetch: the shell's own ``ReplicaManager.read_for_follower`` (``check_follower_fetch``;
  on a clean verdict ``on_follower_fetch`` then read to the LEO); a fetch that found nothing
  parks (``DelayedFetch``) until an append or ``max_wait_ms``, then the whole read runs again,
  as ``fetch.handle`` does.
- Consumer fetch (``_read_partition``): leader only, epoch-checked, up to the HW.

Deviation, selectable as ``faithful``: ``duplicate-ack`` replays an old shell bug (found by
seed 37): a retried (duplicate) idempotent batch answered NONE at once.  Kafka, the shell now
and the default here wait for the HW to pass the original batch like any acks=all write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from broker.core.replica_selector import consumer_read_error
from broker.log.partition_log import OffsetOutOfRangeError
from broker.server.replica_manager import ReadBudget, acks_key
from broker.sim.messages import (
    ClientMetadataRequest,
    ClientMetadataResponse,
    ConsumerFetchRequest,
    ConsumerFetchResponse,
    ProduceRequest,
    ProduceResponse,
    ReplicaFetchRequest,
    TopicPartition,
)
from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.sim.broker_node import SimBroker

MAX_WAIT_MS_LIMIT = 5 * 60 * 1000


def handle(broker: SimBroker, source: str, request: Any, reply: Callable[[Any], None]) -> None:
    if isinstance(request, ProduceRequest):
        produce(broker, request, reply)
    elif isinstance(request, ReplicaFetchRequest):
        replica_fetch(broker, request.body, reply)
    elif isinstance(request, ConsumerFetchRequest):
        reply(consumer_fetch(broker, request))
    elif isinstance(request, ClientMetadataRequest):
        reply(client_metadata(broker, request))
    else:
        raise AssertionError(f"broker: unexpected request {request!r}")


# -- produce ------------------------------------------------------------------------------


class DelayedProduce:
    def __init__(
        self, broker: SimBroker, key: TopicPartition, required: tuple[int, int], deadline_ms: int
    ) -> None:
        self.broker = broker
        self.key = key
        self.required = required  # (offset, the leader epoch it was appended in)
        self.deadline_ms = deadline_ms
        self.completed = False
        self.callback: Callable[[], None] = lambda: None

    def status(self) -> ErrorCode | None:
        partition = self.broker.partitions.get(self.key)
        if partition is None:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        offset, epoch = self.required
        return partition.acks_all_status(offset, epoch)

    def try_complete(self, key: Hashable) -> bool:
        return self.status() is not None

    def on_complete(self) -> None:
        self.callback()


def produce(broker: SimBroker, request: ProduceRequest, reply: Callable[[Any], None]) -> None:
    key = (request.topic, request.partition)
    outcome = _append(broker, request)
    if isinstance(outcome, ProduceResponse):
        broker.hooks.produce_answered(broker, key, request, outcome)
        reply(outcome)
        return
    base_offset, required = outcome
    if required is None:  # acks 0 or 1
        response = ProduceResponse(ErrorCode.NONE, base_offset)
        broker.hooks.produce_answered(broker, key, request, response)
        reply(response)
        return
    operation = DelayedProduce(broker, key, required, broker.now() + max(request.timeout_ms, 0))

    def answer() -> None:
        status = operation.status()
        if status is None:
            status = ErrorCode.REQUEST_TIMED_OUT
        response = ProduceResponse(status, base_offset if status is ErrorCode.NONE else -1)
        broker.hooks.produce_answered(broker, key, request, response)
        reply(response)

    operation.callback = answer
    if operation.try_complete(None):
        answer()
    else:
        broker.watch_delayed(operation, [acks_key(key)])


def _append(
    broker: SimBroker, request: ProduceRequest
) -> ProduceResponse | tuple[int, tuple[int, int] | None]:
    """The shell's code (``ReplicaManager.append_as_leader``): the response for a refused
    write (or, with ``faithful`` ``duplicate-ack``, a duplicate), else (base offset,
    (required offset, leader epoch))."""
    outcome = broker.append_as_leader(
        request.topic, request.partition, request.records, request.acks
    )
    if outcome.error is not ErrorCode.NONE:
        return ProduceResponse(outcome.error, -1)
    if outcome.duplicate and "duplicate-ack" in broker.settings.faithful:
        return ProduceResponse(ErrorCode.NONE, outcome.base_offset)
    return outcome.base_offset, outcome.required


# -- follower fetch (the leader's side) ---------------------------------------------------


def _entry(index: int, error: ErrorCode, **values: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "partition_index": index,
        "error_code": error,
        "high_watermark": -1,
        "last_stable_offset": -1,
        "log_start_offset": -1,
        "records": b"",
    }
    entry.update(values)
    return entry


def _read_for_follower(
    broker: SimBroker,
    topic: str,
    part: dict[str, Any],
    budget: ReadBudget,
    replica: tuple[int, int],
) -> dict[str, Any]:
    """The shell's code (``ReplicaManager.read_for_follower``); the records are copied out, as
    a message on the simulated network must not change under the receiver."""
    error, values = broker.read_for_follower(topic, part, budget, replica[0], replica[1])
    if "records" in values:
        values["records"] = bytes(values["records"])
    return _entry(part["partition"], error, **values)


def _read_all(broker: SimBroker, body: dict[str, Any]) -> tuple[list[Any], int]:
    budget = ReadBudget(body.get("max_bytes", 0x7FFFFFFF))
    state = body["replica_state"]
    replica = (state["replica_id"], state["replica_epoch"])
    responses = []
    for topic in body["topics"]:
        topic_id: uuid.UUID = topic["topic_id"]
        image = broker.image.topics_by_id.get(topic_id)
        if image is None:
            partitions = [
                _entry(part["partition"], ErrorCode.UNKNOWN_TOPIC_ID)
                for part in topic["partitions"]
            ]
        else:
            partitions = [
                _read_for_follower(broker, image.name, part, budget, replica)
                for part in topic["partitions"]
            ]
        name = image.name if image is not None else ""
        responses.append({"topic": name, "topic_id": topic_id, "partitions": partitions})
    return responses, budget.total


class DelayedFetch:
    def __init__(
        self, broker: SimBroker, keys: list[TopicPartition], needed: int, deadline_ms: int
    ) -> None:
        self.broker = broker
        self.deadline_ms = deadline_ms
        self.completed = False
        self.needed = needed
        self.start = {key: broker.partitions[key].bytes_appended for key in keys}
        self.callback: Callable[[], None] = lambda: None

    def try_complete(self, key: Hashable) -> bool:
        gained = 0
        for tp, start in self.start.items():
            partition = self.broker.partitions.get(tp)
            if partition is None:
                return True
            gained += partition.bytes_appended - start
        return gained >= self.needed

    def on_complete(self) -> None:
        self.callback()


def replica_fetch(broker: SimBroker, body: dict[str, Any], reply: Callable[[Any], None]) -> None:
    responses, total = _read_all(broker, body)
    min_bytes = body["min_bytes"]
    max_wait_ms = min(max(body["max_wait_ms"], 0), MAX_WAIT_MS_LIMIT)
    errors = any(p["error_code"] for topic in responses for p in topic["partitions"])
    keys = [
        (topic["topic"], p["partition_index"])
        for topic in responses
        for p in topic["partitions"]
        if (topic["topic"], p["partition_index"]) in broker.partitions
    ]
    if total >= min_bytes or max_wait_ms <= 0 or errors or not keys:
        reply(_fetch_response(responses))
        return
    operation = DelayedFetch(broker, keys, min_bytes - total, broker.now() + max_wait_ms)
    operation.callback = lambda: reply(_fetch_response(_read_all(broker, body)[0]))
    broker.watch_delayed(operation, keys)


def _fetch_response(responses: list[Any]) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "session_id": 0,
        "responses": responses,
    }


# -- consumers ----------------------------------------------------------------------------


def consumer_fetch(broker: SimBroker, request: ConsumerFetchRequest) -> ConsumerFetchResponse:
    partition = broker.partitions.get((request.topic, request.partition))
    if partition is None:
        return ConsumerFetchResponse(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, b"")
    log_ = broker.partition_log(request.topic, request.partition)
    if request.from_any_replica:
        error = consumer_read_error(
            partition, request.current_leader_epoch, request.fetch_offset, log_.log_start_offset
        )
    elif not partition.is_leader:
        error = ErrorCode.NOT_LEADER_OR_FOLLOWER
    else:
        error = partition.check_leader_epoch(request.current_leader_epoch)
    if error is not ErrorCode.NONE:
        return ConsumerFetchResponse(error, -1, b"")
    high_watermark = partition.high_watermark
    try:
        data = log_.read(
            request.fetch_offset, request.partition_max_bytes, high_watermark, min_one_batch=True
        )
    except OffsetOutOfRangeError:
        return ConsumerFetchResponse(ErrorCode.OFFSET_OUT_OF_RANGE, high_watermark, b"")
    return ConsumerFetchResponse(ErrorCode.NONE, high_watermark, bytes(data))


def client_metadata(broker: SimBroker, request: ClientMetadataRequest) -> ClientMetadataResponse:
    topic = broker.image.topic(request.topic)
    if topic is None:
        return ClientMetadataResponse({})
    return ClientMetadataResponse(
        {index: (part.leader, part.leader_epoch) for index, part in topic.partitions.items()}
    )
