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

from broker.core import features
from broker.core.acl import Authorizer
from broker.server import authorization
from broker.server import quotas as client_quotas
from broker.server.connection import DeferredResponse, current_connection_state
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
PRODUCE = 0
FETCH = 1


class Dispatcher:
    """Routes frames to handlers; owns the advertised version table."""

    def __init__(
        self, server: BrokerServer | Any, handlers: dict[int, Handler] | None = None
    ) -> None:
        from broker.server.handlers import HANDLERS, MAX_ADVERTISED_VERSIONS

        if handlers is None:
            handlers = HANDLERS
        self.server = server
        self.quotas: client_quotas.BrokerQuotas | None = getattr(server, "quotas", None)
        # ACL checks (broker/server/authorization.py) when an authorizer is configured.
        self.authorizer: Authorizer | None = getattr(server, "authorizer", None)
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
        quotas = self.quotas
        try:
            if quotas is not None and quotas.active:
                response = await self._handle_within_quotas(quotas, header, body, len(frame))
            elif self.authorizer is not None:
                response = await self._authorized(self.authorizer, header, body)
            else:
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

    async def _handle_within_quotas(
        self,
        quotas: client_quotas.BrokerQuotas,
        header: RequestHeader,
        body: Container,
        frame_size: int,
    ) -> Response:
        """Run the handler, counting the request against its client's quotas; a broken
        quota sets ``throttle_time_ms`` in the response and mutes the connection."""
        state: dict[str, Any] = current_connection_state.get({})
        user = client_quotas.connection_user(state)
        client_id = header.client_id or ""
        api_key = header.api_key
        throttle = 0
        exempt = api_key == client_quotas.WRITE_TXN_MARKERS  # another broker's request
        if api_key == PRODUCE:
            throttle = quotas.produce_throttle_ms(user, client_id, frame_size + _SIZE.size)
            exempt = body.acks == 0  # Kafka leaves acks=0 out of the request quota
        elif api_key == FETCH:
            from broker.server.handlers.fetch import replica_of

            exempt = replica_of(body, header.api_version)[0] >= 0  # a follower's fetch
        authorizer = self.authorizer
        handling = (
            self.handlers[api_key](self.server, header, body)
            if authorizer is None
            else self._authorized(authorizer, header, body)
        )
        if not exempt and quotas.wants_request_time(user, client_id):
            response, nanos = await client_quotas.run_timed(handling)
            throttle = max(throttle, quotas.request_throttle_ms(user, client_id, nanos))
        else:
            response = await handling
        if isinstance(response, dict):
            throttle = max(throttle, int(response.get("throttle_time_ms", 0)))
            if throttle > 0 and "throttle_time_ms" in response:
                response["throttle_time_ms"] = throttle
        elif isinstance(response, Deferred) and throttle > 0:
            response = _with_throttle(response, throttle)
        client_quotas.mute(state, throttle)
        return response

    async def _authorized(
        self, authorizer: Authorizer, header: RequestHeader, body: Container
    ) -> Response:
        """Run the handler on what the principal may do of the request: refused as a whole,
        or with the refused resources answered beside the handler's answer."""
        outcome = authorization.guard(
            authorization.check_for(authorizer), self.server, header, body
        )
        if outcome is None:
            return await self.handlers[header.api_key](self.server, header, body)
        if not isinstance(outcome, authorization.Merge):
            return outcome
        if outcome.base is not None:
            return outcome.alone()
        response = await self.handlers[header.api_key](self.server, header, body)
        if isinstance(response, dict):
            return outcome.apply(response)
        if isinstance(response, Deferred):
            deferred = response

            def finish() -> dict[str, Any]:
                return outcome.apply(deferred.finish())

            return Deferred(finish, deferred.ready, deferred.subscribe)
        return response

    def api_versions_body(self, error_code: ErrorCode, version: int = 0) -> dict[str, Any]:
        """ApiVersions: the APIs advertised and (v3+, KIP-584) the features supported and
        finalized in this node's metadata image.  Below v4 a supported feature whose lowest
        level is 0 is left out, as Kafka does (KAFKA-17011: older Java clients refuse a
        range starting at 0)."""
        image = self.server.image
        lowest = 0 if version >= _FEATURES_FROM_ZERO_VERSION else 1
        return {
            "error_code": error_code,
            "api_keys": [
                {"api_key": key, "min_version": low, "max_version": high}
                for key, (low, high) in sorted(self.advertised.items())
            ],
            "throttle_time_ms": 0,
            "supported_features": [
                {"name": name, "min_version": low, "max_version": high}
                for name, (low, high) in sorted(features.SUPPORTED.items())
                if low >= lowest
            ],
            "finalized_features_epoch": features.finalized_epoch(image),
            "finalized_features": [
                {"name": name, "max_version_level": level, "min_version_level": level}
                for name, level in features.finalized(image).items()
            ],
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


# ApiVersions v4 may report supported feature ranges starting at level 0.
_FEATURES_FROM_ZERO_VERSION = 4


def _with_throttle(deferred: Deferred, throttle_ms: int) -> Deferred:
    def finish() -> dict[str, Any]:
        body = deferred.finish()
        body["throttle_time_ms"] = max(int(body.get("throttle_time_ms", 0)), throttle_ms)
        return body

    return Deferred(finish, deferred.ready, deferred.subscribe)


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
