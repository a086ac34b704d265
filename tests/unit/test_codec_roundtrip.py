"""Property tests over every declared message and version: encode / decode round trips, and a
decoder that only ever returns a value or raises ProtocolError (random bytes, truncations)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.protocol import codec, headers
from client.protocol.errors import ProtocolError
from client.protocol.messages import APIS
from client.protocol.schema import Message
from tests.support.message_cases import CASES, Values, quick

FAST = quick(10)  # x several hundred cases; tests/fuzz's slow tier runs long budgets


def test_every_declared_version_is_a_case() -> None:
    expected = sum(
        message.valid_versions.high - message.valid_versions.low + 1
        for request, response in APIS.values()
        for message in (request, response)
    )
    assert len(CASES) == expected > 200


@pytest.mark.parametrize(("message", "version"), CASES)
@FAST
@given(data=st.data())
def test_round_trip(
    values_for: Values, message: Message, version: int, data: st.DataObject
) -> None:
    value = data.draw(values_for(message, version))
    encoded = codec.encode(message, version, value)
    decoded = codec.decode(message, version, encoded)
    assert decoded == value
    assert codec.encode(message, version, decoded) == encoded


def _decodes_or_protocol_error(message: Message, version: int, data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        codec.decode(message, version, data)


@pytest.mark.parametrize(("message", "version"), CASES)
@FAST
@given(data=st.data())
def test_truncations_and_random_bytes(
    values_for: Values, message: Message, version: int, data: st.DataObject
) -> None:
    encoded = codec.encode(message, version, data.draw(values_for(message, version)))
    cut = data.draw(st.integers(0, max(len(encoded) - 1, 0)))
    with pytest.raises(ProtocolError):
        codec.decode(message, version, encoded[:cut] if encoded else b"\x01")
    flipped = bytearray(encoded)
    if flipped:
        position = data.draw(st.integers(0, len(flipped) - 1))
        flipped[position] = data.draw(st.integers(0, 255))
    _decodes_or_protocol_error(message, version, bytes(flipped))
    _decodes_or_protocol_error(message, version, data.draw(st.binary(max_size=64)))


API_VERSIONS = [
    (request.api_key, version)
    for request, _response in APIS.values()
    for version in range(request.valid_versions.low, request.valid_versions.high + 1)
]


@FAST
@given(
    api=st.sampled_from(API_VERSIONS),
    correlation_id=st.integers(-(2**31), 2**31 - 1),
    body=st.binary(max_size=96),
)
def test_request_frames_with_random_bodies(
    api: tuple[int, int], correlation_id: int, body: bytes
) -> None:
    api_key, api_version = api
    frame = headers.encode_request(api_key, api_version, correlation_id, "fuzz", {})[4:]
    header_size = len(frame) - len(codec.encode(APIS[api_key][0], api_version, {}))
    try:
        header, _value = headers.decode_request(frame[:header_size] + body)
    except ProtocolError:
        return
    assert (header.api_key, header.api_version) == api
    assert header.correlation_id == correlation_id


@FAST
@given(frame=st.binary(max_size=128))
def test_random_request_frames(frame: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        headers.decode_request(frame)


def test_absent_tagged_struct_defaults_are_fresh_per_decoded_message() -> None:
    """A tagged field left out on the wire decodes to its default; two decoded partitions must
    not share (and leak mutations through) one default object."""
    fetch_response = APIS[1][1]
    partition = {"partition_index": 0, "error_code": 0, "high_watermark": 5, "records": None}
    body = {"responses": [{"topic": "t", "partitions": [dict(partition), dict(partition)]}]}
    decoded = codec.decode(fetch_response, 12, codec.encode(fetch_response, 12, body))
    first, second = decoded.responses[0].partitions
    assert first.diverging_epoch == second.diverging_epoch
    assert first.diverging_epoch.epoch == -1
    first.diverging_epoch.epoch = 7
    first.current_leader.leader_id = 3
    assert second.diverging_epoch.epoch == -1
    assert second.current_leader.leader_id == -1
    again = codec.decode(fetch_response, 12, codec.encode(fetch_response, 12, body))
    assert again.responses[0].partitions[0].diverging_epoch.epoch == -1
