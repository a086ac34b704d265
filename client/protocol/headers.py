"""Request headers v0-v2 and response headers v0-v1, and whole-message encode/decode.

Which header version a message uses follows from whether its API version is flexible
(request header 2 / response header 1 if so, else 1 / 0), with Kafka's one exception: an
ApiVersions *response* always uses header v0, so that a client that does not yet know the
broker's versions can read it.
"""

from __future__ import annotations

import functools
import struct
from typing import Any, NamedTuple

from construct import Container

from client.protocol import codec
from client.protocol.errors import ProtocolError
from client.protocol.messages import APIS
from client.protocol.primitives import Reader
from client.protocol.schema import INT16, INT32, STRING, Field, Message

API_VERSIONS_KEY = 18

REQUEST_HEADER = Message(
    "RequestHeader",
    api_key=-1,
    kind="header",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("request_api_key", INT16),
        Field("request_api_version", INT16),
        Field("correlation_id", INT32),
        # Kafka keeps client_id a classic nullable string even in header v2.
        Field("client_id", STRING, "1+", nullable="1+", flexible="none"),
    ],
)

RESPONSE_HEADER = Message(
    "ResponseHeader",
    api_key=-1,
    kind="header",
    valid="0-1",
    flexible="1+",
    fields=[Field("correlation_id", INT32)],
)

_API_HEADER = struct.Struct(">hhi")
_INT16 = struct.Struct(">h")
_SIZE = struct.Struct(">i")


class RequestHeader(NamedTuple):
    """The decoded request header plus where the body starts in the frame."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int


def is_flexible(api_key: int, api_version: int) -> bool:
    """Whether (api, version) uses flexible encodings; unknown APIs count as not flexible."""
    api = APIS.get(api_key)
    return api is not None and api[0].is_flexible(api_version)


# Both are asked on every request; remembered for the (api, version) pairs seen, a bounded
# number so that a client sending every possible pair cannot grow them.
@functools.lru_cache(maxsize=4096)
def request_header_version(api_key: int, api_version: int) -> int:
    return 2 if is_flexible(api_key, api_version) else 1


@functools.lru_cache(maxsize=4096)
def response_header_version(api_key: int, api_version: int) -> int:
    if api_key == API_VERSIONS_KEY:
        return 0
    return 1 if is_flexible(api_key, api_version) else 0


def decode_request_header(frame: bytes | bytearray | memoryview) -> RequestHeader:
    """Decode the header of a request frame body (the bytes after the size prefix).

    For an API key or version we do not know, the header is read as v1 (no tagged fields),
    which is enough to answer with the correlation id.
    """
    if len(frame) < _API_HEADER.size:
        raise ProtocolError("request shorter than its header")
    api_key, api_version, correlation_id = _API_HEADER.unpack_from(frame, 0)
    version = request_header_version(api_key, api_version)
    if version:
        # The usual header, read in place (it is on every request); anything unusual (short,
        # not UTF-8, tagged fields present) takes the codec below, which also raises.
        (length,) = _INT16.unpack_from(frame, 8) if len(frame) >= 10 else (-2,)
        start = 10
        end = start + max(length, 0)
        if length >= -1 and end < len(frame) + (version == 1):
            try:
                client_id = None if length < 0 else str(frame[start:end], "utf-8")
            except UnicodeDecodeError:
                pass
            else:
                if version == 1:
                    return RequestHeader(api_key, api_version, correlation_id, client_id, end)
                if frame[end] == 0:  # header v2 without tagged fields
                    return RequestHeader(api_key, api_version, correlation_id, client_id, end + 1)
    stream = Reader(frame)
    header = codec.decode_from(REQUEST_HEADER, version, stream)
    return RequestHeader(
        api_key=header.request_api_key,
        api_version=header.request_api_version,
        correlation_id=header.correlation_id,
        client_id=header.client_id,
        body_offset=stream.tell(),
    )


def request_message(api_key: int, api_version: int) -> Message | None:
    """The request declaration for (api, version), or ``None`` if we have no codec for it."""
    api = APIS.get(api_key)
    if api is None or api_version not in api[0].valid_versions:
        return None
    return api[0]


def decode_request(frame: bytes | memoryview) -> tuple[RequestHeader, Container]:
    """Decode a whole request frame body; ``ProtocolError`` if unknown or malformed."""
    header = decode_request_header(frame)
    message = request_message(header.api_key, header.api_version)
    if message is None:
        raise ProtocolError(f"no codec for api {header.api_key} v{header.api_version}")
    body = codec.decode(message, header.api_version, memoryview(frame)[header.body_offset :])
    return header, body


def encode_request(
    api_key: int,
    api_version: int,
    correlation_id: int,
    client_id: str | None,
    body: dict[str, Any] | Container,
) -> bytes:
    """A complete request frame, size prefix included."""
    header = codec.encode(
        REQUEST_HEADER,
        request_header_version(api_key, api_version),
        {
            "request_api_key": api_key,
            "request_api_version": api_version,
            "correlation_id": correlation_id,
            "client_id": client_id,
        },
    )
    payload = codec.encode_parts(APIS[api_key][0], api_version, body)
    return b"".join([_SIZE.pack(len(header) + payload.size), header, *payload.parts])


def encode_response_header(api_key: int, api_version: int, correlation_id: int) -> bytes:
    if response_header_version(api_key, api_version) == 1:
        return _SIZE.pack(correlation_id) + b"\x00"
    return _SIZE.pack(correlation_id)


def encode_response(
    api_key: int, api_version: int, correlation_id: int, body: dict[str, Any] | Container
) -> bytes:
    """A complete response frame, size prefix included."""
    return b"".join(encode_response_parts(api_key, api_version, correlation_id, body))


# Pieces at least this large are sent as they are (records read from a segment); smaller ones
# are joined, so a response is a few writes, never one per field.
LARGE_PART_BYTES = 64 * 1024


def encode_response_parts(
    api_key: int, api_version: int, correlation_id: int, body: dict[str, Any] | Container
) -> list[bytes | bytearray | memoryview]:
    """A complete response frame as a few pieces to write in order, large records uncopied."""
    header = encode_response_header(api_key, api_version, correlation_id)
    payload = codec.encode_parts(APIS[api_key][1], api_version, body)
    pieces: list[bytes | bytearray | memoryview] = []
    pending: list[bytes | bytearray | memoryview] = [_SIZE.pack(len(header) + payload.size), header]
    for part in payload.parts:
        if len(part) >= LARGE_PART_BYTES:
            pieces.append(b"".join(pending))
            pieces.append(part)
            pending = []
        else:
            pending.append(part)
    if pending:
        pieces.append(b"".join(pending))
    return pieces


def decode_response(
    api_key: int, api_version: int, frame: bytes | memoryview
) -> tuple[int, Container]:
    """Decode a response frame body (after the size prefix): (correlation id, body)."""
    stream = Reader(frame)
    header = codec.decode_from(
        RESPONSE_HEADER, response_header_version(api_key, api_version), stream
    )
    body = codec.decode(APIS[api_key][1], api_version, memoryview(frame)[stream.tell() :])
    return header.correlation_id, body
