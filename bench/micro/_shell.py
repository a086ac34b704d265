"""A broker shell without sockets, for the handler-level micro benchmarks.

:func:`start_shell` builds the ``BrokerServer`` that ``odradek broker start`` builds (node 1,
broker and controller in one process, data in a temporary directory) but never serves it: no
listener, no tasks, no event loop.  Two peer brokers (2 and 3) are registered and unfenced in
the controller's image, as live followers would be, so a topic can have three replicas with
node 1 leading them or following one of the peers (whose fetcher is created but never runs).

Requests go in as frames through ``Dispatcher.handle``, the connection's entry point (header
and body decode, the handler, the response encode).  Produce with acks=0/1, an acks=all produce
that parks, and a Fetch that finds at least ``min_bytes`` all answer without suspending, so
:func:`finish_now` runs the coroutine to its end in one step; it fails loudly if a handler ever
parks (the benchmark would then be measuring some other path).
"""

from __future__ import annotations

import uuid
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from construct import Container

from broker.core.controller import NewTopic
from broker.server.broker import BrokerServer
from broker.server.clock import monotonic_ms
from broker.server.connection import DeferredResponse
from broker.testing import broker_config
from client.protocol import headers
from client.protocol import records as r
from client.protocol.errors import ErrorCode

T = TypeVar("T")
LOCAL = 1
PEERS = (2, 3)
T0 = 1_700_000_000_000
Parts = Sequence[bytes | bytearray | memoryview]


def start_shell(directory: Path) -> BrokerServer:
    """Node 1 in combined mode, registered, with live peers 2 and 3 in its image."""
    server = BrokerServer(broker_config(directory))
    server.register_self()
    controller = server.controller_server
    assert controller is not None
    for broker_id in PEERS:
        registered = controller.apply(
            controller.cluster.register_broker(
                broker_id,
                f"bench-peer-{broker_id}",
                host="127.0.0.1",
                port=0,
                rack=None,
                now_ms=monotonic_ms(),
                metadata_offset=controller.metadata_offset,
            )
        )
        beat = controller.apply(
            controller.cluster.heartbeat(
                broker_id,
                registered.broker_epoch,
                current_metadata_offset=controller.metadata_offset,
                want_fence=False,
                want_shut_down=False,
                now_ms=monotonic_ms(),
            )
        )
        assert beat.error_code is ErrorCode.NONE and not beat.is_fenced, beat
    assert all(server.image.brokers[b].active for b in (LOCAL, *PEERS))
    return server


def create_topic(
    server: BrokerServer, name: str, partitions: int, replicas: tuple[int, ...]
) -> uuid.UUID:
    """A topic whose every partition has ``replicas`` (the first one leads)."""
    assignments = {index: replicas for index in range(partitions)}
    result = server.controller.create_topics(
        [NewTopic(name, -1, -1, assignments)], validate_only=False
    )
    server.commit(result)
    (created,) = result.results
    assert created.error_code is ErrorCode.NONE and created.topic_id is not None, created
    for index in range(partitions):
        assert server.partitions[(name, index)].leader == replicas[0]
    return created.topic_id


def broker_epoch(server: BrokerServer, broker_id: int) -> int:
    return server.image.brokers[broker_id].broker_epoch


def finish_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that must complete without suspending; its result."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("the handler suspended: this path needs an event loop")


def request_frame(api_key: int, version: int, body: dict[str, Any]) -> bytes:
    """A request frame as the connection hands it to the dispatcher (no size prefix)."""
    return headers.encode_request(api_key, version, 7, "bench", body)[4:]


def handle(server: BrokerServer, frame: bytes) -> Parts:
    """The dispatcher's answer to one frame: the response's pieces, size prefix included."""
    parts = finish_now(server.dispatcher.handle(frame))
    assert parts is not None and not isinstance(parts, DeferredResponse), parts
    return parts


def handle_deferred(server: BrokerServer, frame: bytes) -> DeferredResponse:
    """The dispatcher's answer to a request that waits (an acks=all produce)."""
    answer = finish_now(server.dispatcher.handle(frame))
    assert isinstance(answer, DeferredResponse), answer
    return answer


def decode_parts(api_key: int, version: int, parts: Parts) -> Container:
    """The response body the client would decode from those pieces."""
    frame = b"".join(parts)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    _, body = headers.decode_response(api_key, version, frame[4:])
    return body


def batch_of_about(
    size_bytes: int,
    record_bytes: int = 1000,
    *,
    base_offset: int = 0,
    leader_epoch: int = -1,
    producer_id: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """A v2 batch of ``record_bytes`` values, about ``size_bytes`` long."""
    count = max(size_bytes // (record_bytes + 20), 1)
    items = [r.Record(0, T0 + i, b"key", b"v" * record_bytes, []) for i in range(count)]
    return r.build_batch(
        items,
        base_offset=base_offset,
        partition_leader_epoch=leader_epoch,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=base_sequence,
    )


def records_in(batch: bytes) -> int:
    (header,) = [h for _, h in r.iterate_batches(batch)]
    return header.record_count


def produce_body(
    topic: str, batches: dict[int, bytes], acks: int, timeout_ms: int = 30_000
) -> dict[str, Any]:
    return {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": timeout_ms,
        "topic_data": [
            {
                "name": topic,
                "partition_data": [
                    {"index": index, "records": data} for index, data in batches.items()
                ],
            }
        ],
    }
