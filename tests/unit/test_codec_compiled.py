"""The generated codecs (client.protocol.compiled) against the construct codecs they come from.

For every declared message and version: both encoders write the same bytes for the same value,
both decoders return the same value (and stop at the same place) for valid frames, and for
damaged ones (cut, one byte changed, random bytes) either both refuse or both read the same.
"""

from __future__ import annotations

import copy
import pickle
import uuid
from typing import Any

import construct
import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.protocol import codec
from client.protocol.errors import ProtocolError
from client.protocol.messages import APIS
from client.protocol.primitives import Reader
from client.protocol.schema import Array, Field, Message, Struct
from tests.support.message_cases import CASES, Values, quick

FAST = quick(10)


def construct_encode(message: Message, version: int, value: Any) -> bytes:
    parts = codec.Parts()
    codec.codec_for(message, version)._build(value, parts, None, "")
    return b"".join(parts.parts)


def construct_decode(message: Message, version: int, data: bytes) -> tuple[Any, int]:
    """construct's reading of ``data``: (value, bytes read), or (error class, -1)."""
    stream = Reader(data)
    try:
        value = codec.codec_for(message, version)._parse(stream, None, "")
    except (construct.ConstructError, ValueError, OverflowError) as error:
        return type(error), -1
    return value, stream.tell()


def compiled_decode(message: Message, version: int, data: bytes) -> tuple[Any, int]:
    stream = Reader(data)
    try:
        value = codec.decode_from(message, version, stream)
    except ProtocolError as error:
        return type(error), -1
    return value, stream.tell()


def same_reading(message: Message, version: int, data: bytes) -> None:
    expected, expected_end = construct_decode(message, version, data)
    got, got_end = compiled_decode(message, version, data)
    if expected_end < 0:
        assert got_end < 0, f"construct refused ({expected.__name__}), compiled read {got}"
        return
    assert got_end == expected_end
    assert got == expected
    assert _plain(got) == _plain(expected)  # Container's == skips keys starting with "_"


def _plain(value: Any) -> Any:
    """The value with every key (in order) and every item's type, for a strict comparison."""
    if isinstance(value, dict):
        return [(key, _plain(item)) for key, item in value.items()]
    if isinstance(value, list | tuple):
        return [type(value).__name__, *(_plain(item) for item in value)]
    if isinstance(value, memoryview):
        return ("memoryview", bytes(value))
    return (type(value).__name__, value)


def test_every_declared_version_compiles() -> None:
    for case in CASES:
        message, version = case.values
        assert codec.compiled_for(message, version) is not None, case.id  # type: ignore[arg-type]


@pytest.mark.parametrize(("message", "version"), CASES)
@FAST
@given(data=st.data())
def test_same_bytes_and_values_as_construct(
    values_for: Values, message: Message, version: int, data: st.DataObject
) -> None:
    value = data.draw(values_for(message, version))
    encoded = codec.encode(message, version, value)
    assert encoded == construct_encode(message, version, value)
    same_reading(message, version, encoded)


@pytest.mark.parametrize(("message", "version"), CASES)
@FAST
@given(data=st.data())
def test_damaged_frames_read_alike(
    values_for: Values, message: Message, version: int, data: st.DataObject
) -> None:
    encoded = codec.encode(message, version, data.draw(values_for(message, version)))
    same_reading(message, version, encoded[: data.draw(st.integers(0, len(encoded)))])
    if encoded:
        flipped = bytearray(encoded)
        position = data.draw(st.integers(0, len(flipped) - 1))
        flipped[position] = data.draw(st.integers(0, 255))
        same_reading(message, version, bytes(flipped))
    same_reading(message, version, data.draw(st.binary(max_size=48)))


TAGGED = Message(
    "TaggedExample",
    api_key=-1,
    kind="data",
    valid="0-1",
    flexible="1+",
    fields=[
        Field("id", "int32"),
        Field("flag", "bool"),
        Field("name", "string", nullable="0+"),
        Field(
            "items",
            # One array of structs with a tagged struct of its own.
            Array(
                Struct(
                    [
                        Field("offset", "int64"),
                        Field(
                            "epoch",
                            Struct([Field("epoch", "int32", default=-1), Field("end", "int64")]),
                            "1+",
                            tag=0,
                        ),
                    ]
                )
            ),
        ),
        Field("note", "string", "1+", nullable="1+", tag=2),
        Field("uid", "uuid", "1+", tag=3),
    ],
)


def test_tagged_fields_unknown_default_and_set() -> None:
    value = {
        "id": 7,
        "flag": True,
        "name": None,
        "items": [
            {"offset": 5},  # the tagged struct left at its default: not written
            {"offset": 6, "epoch": {"epoch": 3, "end": 99}},
        ],
        "note": "hi",
        "uid": uuid.UUID(int=12345),
    }
    encoded = codec.encode(TAGGED, 1, value)
    assert encoded == construct_encode(TAGGED, 1, value)
    same_reading(TAGGED, 1, encoded)
    decoded = codec.decode(TAGGED, 1, encoded)
    assert decoded["items"][0].epoch == {"epoch": -1, "end": 0}
    assert decoded["items"][1].epoch == {"epoch": 3, "end": 99}
    # An unknown tag (9) and a known tag sent at its default (3 = the zero UUID) survive a
    # round trip byte for byte, through both codecs.
    plain = codec.encode(TAGGED, 1, {**value, "note": None, "uid": uuid.UUID(int=0)})
    assert plain[-1] == 0  # no top-level tagged fields written
    note = bytes([2, 3, 3]) + b"hi"
    uid = bytes([3, 16]) + bytes(16)
    unknown = bytes([9, 2, 0xAB, 0xCD])
    frame = plain[:-1] + bytes([3]) + note + uid + unknown
    same_reading(TAGGED, 1, frame)
    decoded = codec.decode(TAGGED, 1, frame)
    assert decoded.note == "hi"
    assert decoded[codec.UNKNOWN_TAGS] == [(9, b"\xab\xcd")]
    assert decoded[codec.DEFAULT_TAGS] == [3]
    assert codec.encode(TAGGED, 1, decoded) == frame == construct_encode(TAGGED, 1, decoded)


def test_out_of_order_or_overlong_tags_are_refused_by_both() -> None:
    base = codec.encode(TAGGED, 1, {"id": 1, "flag": False, "name": "", "items": []})
    assert base[-1] == 0
    body = base[:-1]
    for tail in (
        bytes([2, 3, 1, 0, 2, 1, 0]),  # tag 3 then tag 2
        bytes([1, 9, 5, 0]),  # says 5 bytes, has 1
        bytes([1, 2, 3, 0x68, 0x69, 0x6A]),  # note "hij" with a length saying "hi"
    ):
        same_reading(TAGGED, 1, body + tail)
        assert compiled_decode(TAGGED, 1, body + tail)[1] == -1


def test_large_records_stay_uncopied() -> None:
    produce = APIS[0][0]
    records = bytes(range(256)) * 64  # 16 KiB: above the small-piece threshold
    value = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 1000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": records}]}],
    }
    parts = codec.encode_parts(produce, 9, value)
    assert any(piece is records for piece in parts.parts)
    assert parts.size == sum(len(piece) for piece in parts.parts)
    assert b"".join(parts.parts) == construct_encode(produce, 9, value)


def test_bad_values_are_refused_as_construct_refuses_them() -> None:
    produce = APIS[0][0]
    for bad, error in (
        ({"acks": 70000}, construct.FormatFieldError),
        ({"topic_data": None}, construct.ValidationError),
    ):
        value = {"transactional_id": None, "acks": 1, "timeout_ms": 0, "topic_data": [], **bad}
        with pytest.raises(error):
            codec.encode(produce, 9, value)
        with pytest.raises(error):
            construct_encode(produce, 9, value)


def test_decoded_structs_behave_as_containers() -> None:
    produce = APIS[0][0]
    value = {
        "transactional_id": "tx",
        "acks": -1,
        "timeout_ms": 1000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 4, "records": b"abc"}]}],
    }
    decoded = codec.decode(produce, 9, codec.encode(produce, 9, value))
    assert isinstance(decoded, construct.Container)
    assert decoded.acks == decoded["acks"] == decoded.get("acks") == -1
    assert decoded.topic_data[0].partition_data[0].index == 4
    assert repr(decoded).startswith("Container(")
    assert not hasattr(decoded, "no_such_field")
    decoded.acks = 1  # Container's setattr writes the item
    assert decoded["acks"] == 1 and decoded.acks == 1
    assert decoded.items is not None and callable(decoded.items)  # dict methods stay methods
    metadata = APIS[3][0]
    request = {"topics": [{"topic_id": uuid.UUID(int=0), "name": "t"}]}
    decoded = codec.decode(metadata, 12, codec.encode(metadata, 12, request))
    copied = copy.deepcopy(decoded)
    assert copied == decoded and copied.topics[0].name == "t"
    restored = pickle.loads(pickle.dumps(decoded))
    assert type(restored) is construct.Container and restored == decoded
