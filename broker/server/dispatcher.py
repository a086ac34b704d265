"""Decode a request frame, run its handler, encode the response (or none, for acks=0).

Only APIs with a handler are advertised in ApiVersions, over the version range their
declaration covers.  An unsupported ApiVersions version is answered with UNSUPPORTED_VERSION in
the v0 layout (KIP-511), so the client retries at v0; any other unknown API key or version is
answered with the response header and an UNSUPPORTED_VERSION error code, not a hang-up.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server.connection import DeferredResponse
from client.protocol import codec, headers
from client.protocol.errors import ErrorCode, ProtocolError
from client.protocol.headers import RequestHeader
from client.protocol.messages import APIS
from client.protocol.primitives import Reader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

log = logging.getLogger("odradek.dispatcher")


class Deferred:
    """A handler's answer when all its effects are done and only waiting remains (acks=all):
    the connection may handle the next requests meanwhile; responses still go in order.

    ``finish()`` gives the body once ``ready()``; ``subscribe(callback)`` has ``callback``
    called once when it becomes ready (at once if it is)."""

    __slots__ = ("finish", "ready", "subscribe")

    def __init__(
        self,
        finish: Callable[[], dict[str, Any]],
        ready: Callable[[], bool],
        subscribe: Callable[[Callable[[], None]], None],
    ) -> None:
        self.finish = finish
        self.ready = ready
        self.subscribe = subscribe


Response = dict[str, Any] | Deferred | None
Handler = Callable[[Any, RequestHeader, Container], Awaitable[Response]]

_SIZE = struct.Struct(">i")
_UNSUPPORTED = struct.Struct(">ih")
API_VERSIONS = 18


class Dispatcher:
    """Routes frames to handlers; owns the advertised version table."""

    def __init__(
        self, server: BrokerServer | Any, handlers: dict[int, Handler] | None = None
    ) -> None:
        from broker.server.handlers import HANDLERS, MAX_ADVERTISED_VERSIONS

        if handlers is None:
            handlers = HANDLERS
        self.server = server
        self.handlers: dict[int, Handler] = dict(handlers)
        self.advertised: dict[int, tuple[int, int]] = {}
        for api_key in sorted(self.handlers):
            request = APIS[api_key][0]
            high = min(request.valid_versions.high, MAX_ADVERTISED_VERSIONS.get(api_key, 1 << 15))
            self.advertised[api_key] = (request.valid_versions.low, high)

    def supports(self, api_key: int, api_version: int) -> bool:
        versions = self.advertised.get(api_key)
        return versions is not None and versions[0] <= api_version <= versions[1]

    async def handle(
        self, frame: bytes | bytearray
    ) -> list[bytes | bytearray | memoryview] | DeferredResponse | None:
        header = headers.decode_request_header(frame)
        if not self.supports(header.api_key, header.api_version):
            return self.unsupported(header)
        message = APIS[header.api_key][0]
        # Like Kafka, bytes after the request body are ignored: librdkafka 2.16 writes a null
        # Metadata topics array as a 4-byte placeholder (librdkafka#5049), which Kafka accepts.
        stream = Reader(frame, header.body_offset)
        body = codec.decode_from(message, header.api_version, stream)
        try:
            response = await self.handlers[header.api_key](self.server, header, body)
        except ProtocolError:
            raise
        except Exception:
            # A handler bug must not take the broker down: log it, drop this connection.
            log.exception("handler for api %d v%d failed", header.api_key, header.api_version)
            raise ProtocolError("internal error while handling the request") from None
        if response is None:
            return None
        if isinstance(response, Deferred):
            return _deferred(header, response)
        return headers.encode_response_parts(
            header.api_key, header.api_version, header.correlation_id, response
        )

    def api_versions_body(self, error_code: ErrorCode) -> dict[str, Any]:
        return {
            "error_code": error_code,
            "api_keys": [
                {"api_key": key, "min_version": low, "max_version": high}
                for key, (low, high) in sorted(self.advertised.items())
            ],
            "throttle_time_ms": 0,
        }

    def unsupported(self, header: RequestHeader) -> list[bytes | bytearray | memoryview]:
        log.info(
            "unsupported api %d v%d from %s", header.api_key, header.api_version, header.client_id
        )
        if header.api_key == API_VERSIONS:
            body = self.api_versions_body(ErrorCode.UNSUPPORTED_VERSION)
            return headers.encode_response_parts(API_VERSIONS, 0, header.correlation_id, body)
        payload = _UNSUPPORTED.pack(header.correlation_id, ErrorCode.UNSUPPORTED_VERSION)
        return [_SIZE.pack(len(payload)) + payload]


def _deferred(header: RequestHeader, deferred: Deferred) -> DeferredResponse:
    def encode() -> list[bytes | bytearray | memoryview]:
        try:
            body = deferred.finish()
        except Exception:
            log.exception("handler for api %d v%d failed", header.api_key, header.api_version)
            raise ProtocolError("internal error while handling the request") from None
        return headers.encode_response_parts(
            header.api_key, header.api_version, header.correlation_id, body
        )

    return DeferredResponse(encode, deferred.ready, deferred.subscribe)
