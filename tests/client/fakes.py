"""A tiny Kafka-protocol server for client tests: it answers ApiVersions itself and hands
every other request to the test, which answers, holds or hangs up as the case needs.

``async with fake_broker(on_request) as broker:`` listens on 127.0.0.1, port 0, for the
duration of the block; ``broker.port`` is the port to connect to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from construct import Container

from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.framing import FrameReader
from client.protocol.headers import RequestHeader
from client.protocol.messages import APIS

API_VERSIONS = 18
MAX_FRAME_BYTES = 1 << 20


@dataclass
class FakeConnection:
    """One accepted client connection."""

    stream: anyio.abc.SocketStream

    async def reply(self, header: RequestHeader, body: dict[str, Any]) -> None:
        frame = headers.encode_response(
            header.api_key, header.api_version, header.correlation_id, body
        )
        await self.stream.send(frame)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send(data)

    async def close(self) -> None:
        await self.stream.aclose()


OnRequest = Callable[[FakeConnection, RequestHeader, Container], Awaitable[None]]


@dataclass
class FakeBroker:
    """The server's state: what it advertises and what it saw."""

    on_request: OnRequest | None
    api_versions_max: int = 4
    advertised: dict[int, tuple[int, int]] = field(default_factory=dict)
    port: int = 0
    api_versions_seen: list[int] = field(default_factory=list)
    client_software: list[tuple[str, str]] = field(default_factory=list)

    def advertised_body(self, error_code: int) -> dict[str, Any]:
        versions = dict(self.advertised)
        versions[API_VERSIONS] = (0, self.api_versions_max)
        return {
            "error_code": error_code,
            "api_keys": [
                {"api_key": key, "min_version": low, "max_version": high}
                for key, (low, high) in sorted(versions.items())
            ],
            "throttle_time_ms": 0,
        }

    async def serve(self, stream: anyio.abc.SocketStream) -> None:
        connection = FakeConnection(stream)
        frames = FrameReader(MAX_FRAME_BYTES)
        async with stream:
            try:
                while True:
                    frames.feed(await stream.receive())
                    while (frame := frames.next_frame()) is not None:
                        await self.dispatch(connection, frame)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    async def dispatch(self, connection: FakeConnection, frame: bytes) -> None:
        header = headers.decode_request_header(frame)
        if header.api_key != API_VERSIONS:
            _, body = headers.decode_request(frame)
            if self.on_request is not None:
                await self.on_request(connection, header, body)
            return
        self.api_versions_seen.append(header.api_version)
        if header.api_version > self.api_versions_max:
            # KIP-511: error 35 in the v0 layout, listing our ApiVersions range.
            body = self.advertised_body(ErrorCode.UNSUPPORTED_VERSION)
            await connection.send_raw(
                headers.encode_response(API_VERSIONS, 0, header.correlation_id, body)
            )
            return
        _, request = headers.decode_request(frame)
        if header.api_version >= 3:
            self.client_software.append(
                (request.client_software_name, request.client_software_version)
            )
        await connection.reply(header, self.advertised_body(ErrorCode.NONE))


def full_range(*api_keys: int) -> dict[int, tuple[int, int]]:
    """Our declarations' whole version range for each API key."""
    return {
        key: (APIS[key][0].valid_versions.low, APIS[key][0].valid_versions.high) for key in api_keys
    }


@asynccontextmanager
async def fake_broker(
    on_request: OnRequest | None = None,
    *,
    api_versions_max: int = 4,
    advertised: dict[int, tuple[int, int]] | None = None,
) -> AsyncIterator[FakeBroker]:
    """Serve a :class:`FakeBroker` on 127.0.0.1 (port 0) for the duration of the block."""
    broker = FakeBroker(on_request, api_versions_max, advertised or full_range(3))
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    broker.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, broker.serve)
        try:
            yield broker
        finally:
            task_group.cancel_scope.cancel()
