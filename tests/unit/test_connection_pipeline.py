"""The connection's response pipeline: deferred responses leave in request order, written by
whatever completes them when the socket takes them, by a writer task when it is full."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

import anyio
import pytest

from broker.server.connection import DeferredResponse, FrameSocket, _Pipeline, coalesced_writes

pytestmark = pytest.mark.anyio


class Waiting:
    """A deferred answer completed by the test."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.done = False
        self.listener: Callable[[], None] | None = None

    def complete(self) -> None:
        self.done = True
        if self.listener is not None:
            self.listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        if self.done:
            listener()
        else:
            self.listener = listener

    def response(self) -> DeferredResponse:
        def encode() -> Sequence[bytes]:
            assert self.done
            return [self.payload]

        return DeferredResponse(encode, lambda: self.done, self.subscribe)


def _pair(buffer_bytes: int) -> tuple[socket.socket, socket.socket]:
    left, right = socket.socketpair()
    for sock in (left, right):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    return left, right


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    sock.setblocking(True)
    sock.settimeout(10)
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "closed early"
        data += chunk
    return bytes(data)


async def test_completed_out_of_order_answers_leave_in_request_order() -> None:
    left, right = _pair(1 << 16)
    with left, right:
        async with anyio.create_task_group() as group:
            pipeline = _Pipeline(FrameSocket(left, 1 << 20), group)
            first, second = Waiting(b"first;"), Waiting(b"second;")
            await pipeline.submit(first.response())
            await pipeline.submit(second.response())
            await pipeline.submit([b"inline;"])
            second.complete()  # behind the head: nothing may go yet
            right.setblocking(False)
            with pytest.raises(BlockingIOError):
                right.recv(100)
            first.complete()  # the head: all three go, from this call, no task needed
            assert not pipeline.writing
            assert _read_exactly(right, 20) == b"first;second;inline;"
            assert not pipeline.pending
            group.cancel_scope.cancel()


async def test_a_full_socket_hands_the_rest_to_a_writer_task() -> None:
    left, right = _pair(4096)
    big = bytes(range(256)) * 2048  # 512 KiB: far more than the socket buffers hold
    with left, right:
        async with anyio.create_task_group() as group:
            pipeline = _Pipeline(FrameSocket(left, 1 << 20), group)
            head, tail = Waiting(big), Waiting(b"tail")
            await pipeline.submit(head.response())
            await pipeline.submit(tail.response())
            head.complete()
            assert pipeline.writing  # the socket filled up: a writer task goes on
            tail.complete()  # while the writer writes: it must take this one too, after
            await pipeline.submit([b"+inline"])
            received = await anyio.to_thread.run_sync(
                _read_exactly, right, len(big) + len(b"tail+inline")
            )
            assert received == big + b"tail+inline"
            assert not pipeline.pending
            group.cancel_scope.cancel()


async def test_a_failed_encode_stops_the_connection_not_the_completer() -> None:
    left, right = _pair(1 << 16)
    with left, right:
        async with anyio.create_task_group() as group:
            pipeline = _Pipeline(FrameSocket(left, 1 << 20), group)

            def broken() -> Sequence[bytes]:
                raise RuntimeError("encode failed")

            waiting = Waiting(b"")
            await pipeline.submit(DeferredResponse(broken, lambda: waiting.done, waiting.subscribe))
            waiting.complete()  # must not raise into the task that completed it
            assert isinstance(pipeline.failure, RuntimeError)
            assert group.cancel_scope.cancel_called
        with pytest.raises(RuntimeError):
            await pipeline.submit([b"late"])


class CountingSocket(FrameSocket):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock, 1 << 20)
        self.writes = 0

    def send_now(self, pieces: Sequence[bytes | bytearray | memoryview]) -> list[memoryview]:
        self.writes += 1
        return super().send_now(pieces)


async def test_wakes_inside_a_coalesced_block_write_once_when_it_ends() -> None:
    left, right = _pair(1 << 16)
    with left, right:
        async with anyio.create_task_group() as group:
            counting = CountingSocket(left)
            pipeline = _Pipeline(counting, group)
            answers = [Waiting(f"{index};".encode()) for index in range(3)]
            for answer in answers:
                await pipeline.submit(answer.response())
            with coalesced_writes():
                with coalesced_writes():  # nested: the outer block writes
                    answers[0].complete()
                answers[1].complete()
                answers[2].complete()
                assert counting.writes == 0
            assert counting.writes == 1
            assert _read_exactly(right, 6) == b"0;1;2;"
            group.cancel_scope.cancel()
