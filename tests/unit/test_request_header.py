"""The in-place request-header read agrees with the codec on every header it takes, and
leaves everything else (tagged fields, bad UTF-8, short frames) to the codec."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.protocol import codec, headers
from client.protocol.errors import ProtocolError
from client.protocol.headers import REQUEST_HEADER, decode_request_header
from client.protocol.primitives import Reader, encode_uvarint

# (api key, version) pairs whose request header is v1 (Produce v7), v2 (Produce v9, Fetch 12).
HEADER_V1, HEADER_V2 = (0, 7), (1, 12)


def _by_codec(frame: bytes) -> headers.RequestHeader:
    api_key, api_version = struct.unpack_from(">hh", frame)
    stream = Reader(frame)
    header_version = headers.request_header_version(api_key, api_version)
    decoded = codec.decode_from(REQUEST_HEADER, header_version, stream)
    return headers.RequestHeader(
        decoded.request_api_key,
        decoded.request_api_version,
        decoded.correlation_id,
        decoded.client_id,
        stream.tell(),
    )


def _frame(api: tuple[int, int], correlation: int, client_id: bytes | None, tail: bytes) -> bytes:
    head = struct.pack(">hhi", *api, correlation)
    if client_id is None:
        return head + b"\xff\xff" + tail
    return head + struct.pack(">h", len(client_id)) + client_id + tail


@given(
    api=st.sampled_from([HEADER_V1, HEADER_V2]),
    correlation=st.integers(-(2**31), 2**31 - 1),
    client_id=st.none() | st.text(max_size=40).map(str.encode),
    body=st.binary(max_size=8),
)
def test_in_place_read_equals_the_codec(
    api: tuple[int, int], correlation: int, client_id: bytes | None, body: bytes
) -> None:
    tags = b"\x00" if api == HEADER_V2 else b""
    frame = _frame(api, correlation, client_id, tags + body)
    assert decode_request_header(frame) == _by_codec(frame)


def test_tagged_fields_in_a_v2_header_go_through_the_codec() -> None:
    tags = encode_uvarint(1) + encode_uvarint(7) + encode_uvarint(2) + b"hi"
    frame = _frame(HEADER_V2, 5, b"c", tags + b"body")
    header = decode_request_header(frame)
    assert header == _by_codec(frame)
    assert frame[header.body_offset :] == b"body"


@pytest.mark.parametrize(
    "frame",
    [
        _frame(HEADER_V1, 1, b"\xff\xfe", b""),  # not UTF-8
        struct.pack(">hhih", 0, 7, 1, 20) + b"short",  # client id runs past the frame
        struct.pack(">hhi", 0, 7, 1) + b"\x00",  # no room for the length
        _frame(HEADER_V2, 1, b"c", b""),  # v2 header without its tagged-field section
        struct.pack(">hhih", 0, 7, 1, -5),  # negative length other than -1
    ],
)
def test_malformed_headers_are_refused(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_request_header(frame)
