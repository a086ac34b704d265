"""Every declared message and version as pytest cases, for the codec property tests."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from client.protocol import codec, headers
from client.protocol.messages import APIS
from client.protocol.schema import Message

Values = Callable[[Message, int], st.SearchStrategy[dict[str, Any]]]
"""The ``values_for`` fixture (tests/unit/conftest.py): a strategy of valid values."""

CASES = [
    pytest.param(message, version, id=f"{message.name}-v{version}")
    for request, response in APIS.values()
    for message in (request, response)
    for version in range(message.valid_versions.low, message.valid_versions.high + 1)
]


def quick(max_examples: int) -> settings:
    """Few deterministic examples per case: there are several hundred cases."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def assert_same(decoded: Any, value: Any, path: str = "") -> None:
    """``decoded`` equals ``value`` field by field (recursively), naming the first difference."""
    if isinstance(value, dict):
        assert sorted(decoded) == sorted(value), path
        for name, item in value.items():
            assert_same(decoded[name], item, f"{path}.{name}")
    elif isinstance(value, list):
        assert isinstance(decoded, list), path
        assert len(decoded) == len(value), path
        for index, (ours, theirs) in enumerate(zip(decoded, value, strict=True)):
            assert_same(ours, theirs, f"{path}[{index}]")
    else:
        assert type(decoded) is type(value), path
        assert decoded == value, path


def round_trip(message: Message, version: int, value: dict[str, Any]) -> bytes:
    """Encode, decode (field by field equal), re-encode (byte-identical); the frame."""
    encoded = codec.encode(message, version, value)
    decoded = codec.decode(message, version, encoded)
    assert_same(decoded, value)
    assert codec.encode(message, version, decoded) == encoded
    return encoded


def i16(*values: int) -> bytes:
    return struct.pack(f">{len(values)}h", *values)


def i32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}i", *values)


def compact_str(text: str) -> bytes:
    """A COMPACT_STRING: uvarint length + 1 (lengths below 127 here), then UTF-8."""
    data = text.encode()
    return bytes([len(data) + 1]) + data


def assert_frame_round_trips(message: Message, version: int, value: dict[str, Any]) -> None:
    """``value`` framed with its header (a request's client id and correlation id, a
    response's correlation id) decodes back field by field; the size prefix is right."""
    if message.kind == "request":
        frame = headers.encode_request(message.api_key, version, 31, "odradek-test", value)
        header, body = headers.decode_request(memoryview(frame)[4:])
        assert (header.api_key, header.api_version) == (message.api_key, version)
        assert (header.correlation_id, header.client_id) == (31, "odradek-test")
    else:
        frame = headers.encode_response(message.api_key, version, 31, value)
        correlation_id, body = headers.decode_response(message.api_key, version, frame[4:])
        assert correlation_id == 31
    assert struct.unpack(">i", frame[:4])[0] == len(frame) - 4
    assert_same(body, value)
