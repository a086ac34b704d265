"""Retries through a misbehaving network: a TCP proxy between the producer and the broker that
swallows Produce responses or answers a Produce itself.

Idempotent retries must leave no duplicate and return the original offsets; without
idempotence a lost answer is reported as maybe-written; a full buffer that never drains fails
``send`` after ``max.block.ms``; an UNKNOWN_PRODUCER_ID on the first batch bumps the epoch
(KIP-360, bumped by the client as Java's does) and delivers everything exactly once.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import kafka
import pytest

from client.admin import AdminClient, NewTopic
from client.errors import DefinitelyFailedError, KafkaTimeoutError, MaybeWrittenError
from client.producer import Producer
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.framing import FrameReader

pytestmark = pytest.mark.anyio

WAIT_S = 30.0
PRODUCE = 0
METADATA = 3
_API_HEADER = struct.Struct(">hhi")
_SIZE = struct.Struct(">i")
MAX_FRAME_BYTES = 64 * 1024 * 1024

# A hook sees (api key, version, correlation id, frame body) and returns a frame to send back
# instead of forwarding the request (None: forward).
RequestHook = Callable[[int, int, int, bytes], bytes | None]


_HANG_UPS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class Proxy:
    """Forwards Kafka connections to ``upstream``; Metadata answers name the proxy instead.

    ``drop_produce_responses`` Produce responses are swallowed (the client times out and
    retries); ``on_request`` may answer a request itself.  Requests must expect answers
    (acks != 0).  ``dropped`` counts swallowed responses.
    """

    def __init__(self, upstream: str, drop_produce_responses: int = 0) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.drop_produce_responses = drop_produce_responses
        self.on_request: RequestHook | None = None
        self.dropped = 0
        self.address = ("127.0.0.1", 0)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.address = listener.extra(anyio.abc.SocketAttribute.local_address)[:2]
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(listener.serve, self._serve)
            yield f"{self.address[0]}:{self.address[1]}"
            task_group.cancel_scope.cancel()

    async def _serve(self, client: anyio.abc.SocketStream) -> None:
        async with client, await anyio.connect_tcp(*self.upstream) as upstream:
            order: deque[tuple[int, int, bytes | None]] = deque()
            lock = anyio.Lock()
            async with anyio.create_task_group() as task_group:
                # Either side may hang up at any moment (the producer drops a connection
                # after a lost answer): a broken pipe ends this proxied connection, nothing more.
                async def requests() -> None:
                    with contextlib.suppress(*_HANG_UPS):
                        await self._pump_requests(client, upstream, order, lock)
                    task_group.cancel_scope.cancel()

                async def responses() -> None:
                    with contextlib.suppress(*_HANG_UPS):
                        await self._pump_responses(client, upstream, order, lock)
                    task_group.cancel_scope.cancel()

                task_group.start_soon(requests)
                task_group.start_soon(responses)

    async def _pump_requests(
        self, client: Any, upstream: Any, order: deque[Any], lock: Any
    ) -> None:
        reader = FrameReader(MAX_FRAME_BYTES)
        while True:
            try:
                reader.feed(await client.receive())
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            while (frame := reader.next_frame()) is not None:
                api_key, version, correlation_id = _API_HEADER.unpack_from(frame)
                fake = (
                    self.on_request(api_key, version, correlation_id, frame)
                    if self.on_request
                    else None
                )
                async with lock:
                    order.append((api_key, version, fake))
                    if fake is None:
                        await upstream.send(_SIZE.pack(len(frame)) + frame)
                    await _flush_fakes(client, order)

    async def _pump_responses(
        self, client: Any, upstream: Any, order: deque[Any], lock: Any
    ) -> None:
        reader = FrameReader(MAX_FRAME_BYTES)
        while True:
            try:
                reader.feed(await upstream.receive())
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            while (frame := reader.next_frame()) is not None:
                async with lock:
                    api_key, version, fake = order.popleft()
                    assert fake is None
                    if api_key == PRODUCE and self.drop_produce_responses > 0:
                        self.drop_produce_responses -= 1
                        self.dropped += 1
                    else:
                        await client.send(self._rewrite(api_key, version, frame))
                    await _flush_fakes(client, order)

    def _rewrite(self, api_key: int, version: int, frame: bytes) -> bytes:
        if api_key != METADATA:
            return _SIZE.pack(len(frame)) + frame
        correlation_id, body = headers.decode_response(api_key, version, frame)
        for broker in body.brokers:
            broker.host, broker.port = self.address
        return headers.encode_response(api_key, version, correlation_id, body)


async def _flush_fakes(client: Any, order: deque[tuple[int, int, bytes | None]]) -> None:
    """Answers the proxy made up go out in request order, once nothing precedes them."""
    while order and order[0][2] is not None:
        _, _, fake = order.popleft()
        assert fake is not None
        await client.send(fake)


def answer_produce(code: ErrorCode, times: int) -> RequestHook:
    """A hook answering the first ``times`` Produce requests with ``code`` (not forwarded)."""
    remaining = [times]

    def hook(api_key: int, version: int, correlation_id: int, frame: bytes) -> bytes | None:
        if api_key != PRODUCE or remaining[0] == 0:
            return None
        remaining[0] -= 1
        _, request = headers.decode_request(frame)
        body = {
            "responses": [
                {
                    "name": topic.name,
                    "partition_responses": [
                        {
                            "index": data.index,
                            "error_code": int(code),
                            "base_offset": -1,
                            "log_append_time_ms": -1,
                            "log_start_offset": -1,
                            "record_errors": [],
                            "error_message": None,
                        }
                        for data in topic.partition_data
                    ],
                }
                for topic in request.topic_data
            ],
            "throttle_time_ms": 0,
        }
        return headers.encode_response(PRODUCE, version, correlation_id, body)

    return hook


async def create_topic(bootstrap: str, topic: str) -> None:
    async with AdminClient(bootstrap_servers=bootstrap) as admin:
        await admin.create_topics([NewTopic(topic, 1, -1)])


def read_values(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """Partition 0's values, by kafka-python: exactly ``count`` (duplicates would show)."""
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_wait_ms=200,
    )  # fmt: skip
    try:
        consumer.assign([kafka.TopicPartition(topic, 0)])
        values: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(values) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in batch)
        assert not consumer.poll(timeout_ms=300), "records beyond those produced"
        return values
    finally:
        consumer.close()


def settings(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "request_timeout_ms": 1_500,
        "retry_backoff_ms": 20,
        "max_block_ms": 10_000,
    }
    config.update(overrides)
    return config


async def test_idempotent_retry_after_a_lost_answer_has_no_duplicates(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    proxy = Proxy(bootstrap, drop_produce_responses=1)
    values = [f"record-{i}".encode() for i in range(50)]
    async with proxy.running() as address, Producer(settings(address, batch_size=200)) as producer:
        assert producer.config.enable_idempotence and producer.config.acks == -1
        futures = [await producer.send(topic_name, value) for value in values]
        with anyio.fail_after(WAIT_S):
            offsets = [(await future).offset for future in futures]
        stats = producer.stats()
    assert proxy.dropped == 1 and stats.retries >= 1  # the lost answer was retried
    assert offsets == list(range(50))  # original offsets, in order, no gap
    assert await anyio.to_thread.run_sync(read_values, bootstrap, topic_name, 50) == values


async def test_a_lost_answer_without_idempotence_is_maybe_written(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    proxy = Proxy(bootstrap, drop_produce_responses=1)
    config = settings(bootstrap, acks=1, retries=0)
    async with (
        proxy.running() as address,
        Producer({**config, "bootstrap_servers": address}) as producer,
    ):
        future = await producer.send(topic_name, b"v")
        with anyio.fail_after(WAIT_S), pytest.raises(MaybeWrittenError) as caught:
            await future
    assert caught.value.ambiguous
    assert await anyio.to_thread.run_sync(read_values, bootstrap, topic_name, 1) == [b"v"]


async def test_delivery_timeout_bounds_a_send_that_never_gets_an_answer(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    proxy = Proxy(bootstrap, drop_produce_responses=10**9)
    config = settings(bootstrap, request_timeout_ms=500, delivery_timeout_ms=1_000, linger_ms=0)
    async with (
        proxy.running() as address,
        Producer({**config, "bootstrap_servers": address}) as producer,
    ):
        started = time.monotonic()
        future = await producer.send(topic_name, b"v")
        with anyio.fail_after(WAIT_S), pytest.raises(MaybeWrittenError, match="may have been"):
            await future
        assert time.monotonic() - started < WAIT_S


async def test_a_full_buffer_that_never_drains_fails_send_after_max_block_ms(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    proxy = Proxy(bootstrap, drop_produce_responses=10**9)
    config = settings(bootstrap, request_timeout_ms=20_000, buffer_memory=3_000, max_block_ms=300,
                      batch_size=1_000, delivery_timeout_ms=30_000)  # fmt: skip
    async with (
        proxy.running() as address,
        Producer({**config, "bootstrap_servers": address}) as producer,
    ):
        futures = []
        with anyio.fail_after(WAIT_S), pytest.raises(DefinitelyFailedError) as caught:
            for _ in range(100):
                futures.append(await producer.send(topic_name, b"v" * 100))
        assert isinstance(caught.value.cause, KafkaTimeoutError)
        assert "buffer.memory" in str(caught.value)
        assert 10 < len(futures) < 30  # the buffer held ~3 KB of records
        await producer.close(timeout_ms=0)
    with pytest.raises(MaybeWrittenError):
        await futures[0]  # sent, never answered: not silently dropped


async def test_unknown_producer_id_on_the_first_batch_bumps_the_epoch(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name)
    proxy = Proxy(bootstrap)
    proxy.on_request = answer_produce(ErrorCode.UNKNOWN_PRODUCER_ID, times=1)
    config = settings(bootstrap, max_in_flight_requests_per_connection=1, batch_size=200)
    values = [f"record-{i}".encode() for i in range(20)]
    async with (
        proxy.running() as address,
        Producer({**config, "bootstrap_servers": address}) as producer,
    ):
        first = producer._accumulator.producer
        futures = [await producer.send(topic_name, value) for value in values]
        with anyio.fail_after(WAIT_S):
            offsets = [(await future).offset for future in futures]
        # Bumped locally, as the Java client does for a non-transactional producer.
        assert producer.stats().init_producer_id_calls == 1
        bumped = producer._accumulator.producer
        assert first is not None and bumped == (first[0], first[1] + 1)
    assert offsets == list(range(20))
    assert await anyio.to_thread.run_sync(read_values, bootstrap, topic_name, 20) == values
