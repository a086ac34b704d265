"""Kafka's primitive encodings, edge by edge: varints, classic vs compact strings / bytes /
arrays, nulls, UUIDs, tagged-field order, and length prefixes that must not allocate."""

from __future__ import annotations

import tracemalloc
import uuid
from typing import Any

import construct
import pytest

from client.protocol import codec
from client.protocol import primitives as p
from client.protocol.errors import ProtocolError
from client.protocol.schema import (
    BYTES,
    INT8,
    INT32,
    STRING,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _message(*fields: Field, flexible: str = "1+") -> Message:
    return Message(
        "Probe", api_key=-1, kind="data", valid="0-1", flexible=flexible, fields=list(fields)
    )


# -- varints ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16383, "ff7f"),
        (16384, "808001"),
        (2**28 - 1, "ffffff7f"),
        (2**28, "8080808001"),
        (2**32 - 1, "ffffffff0f"),
    ],
)
def test_uvarint(value: int, wire: str) -> None:
    assert p.UVarint.build(value) == bytes.fromhex(wire)
    assert p.encode_uvarint(value) == bytes.fromhex(wire)
    assert p.UVarint.parse(bytes.fromhex(wire)) == value
    assert p.decode_uvarint(b"\xaa" + bytes.fromhex(wire), 1) == (value, 1 + len(wire) // 2)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (-1, "01"),
        (1, "02"),
        (-64, "7f"),
        (63, "7e"),
        (64, "8001"),
        (-65, "8101"),
        (INT32_MAX, "feffffff0f"),
        (INT32_MIN, "ffffffff0f"),
    ],
)
def test_varint_zigzag(value: int, wire: str) -> None:
    assert p.Varint.build(value) == bytes.fromhex(wire)
    assert p.Varint.parse(bytes.fromhex(wire)) == value
    assert p.Varlong.parse(bytes.fromhex(wire)) == value


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (INT32_MAX + 1, "8080808010"),
        (INT64_MAX, "feffffffffffffffff01"),
        (INT64_MIN, "ffffffffffffffffff01"),
    ],
)
def test_varlong(value: int, wire: str) -> None:
    assert p.Varlong.build(value) == bytes.fromhex(wire)
    assert p.Varlong.parse(bytes.fromhex(wire)) == value


@pytest.mark.parametrize(
    ("codec_", "value"),
    [
        (p.UVarint, -1),
        (p.UVarint, 2**32),
        (p.Varint, INT32_MAX + 1),
        (p.Varint, INT32_MIN - 1),
        (p.Varlong, INT64_MAX + 1),
        (p.Varlong, INT64_MIN - 1),
    ],
)
def test_varints_out_of_range_do_not_build(codec_: construct.Construct, value: int) -> None:
    with pytest.raises(construct.IntegerError):
        codec_.build(value)


@pytest.mark.parametrize(
    ("codec_", "wire"),
    [
        (p.UVarint, "ffffffffff01"),  # 6 bytes
        (p.Varint, "ffffffffff01"),
        (p.Varlong, "ffffffffffffffffffff01"),  # 11 bytes
        (p.UVarint, "80"),  # truncated
        (p.Varlong, ""),
    ],
)
def test_overlong_or_truncated_varints_fail(codec_: construct.Construct, wire: str) -> None:
    with pytest.raises(construct.ConstructError):
        codec_.parse(bytes.fromhex(wire))


def test_decode_uvarint_bounds() -> None:
    with pytest.raises(construct.StreamError):
        p.decode_uvarint(b"\x80\x80", 0)
    with pytest.raises(construct.IntegerError):
        p.decode_uvarint(b"\xff" * 6, 0)


# -- strings, bytes, arrays: classic vs compact, nulls -----------------------------------------

TEXT = _message(Field("text", STRING, nullable="0+"), Field("plain", STRING))
BLOB = _message(Field("blob", BYTES, nullable="0+"), Field("plain", BYTES))
LIST = _message(Field("items", Array(INT32), nullable="0+"), Field("plain", Array(INT8)))


@pytest.mark.parametrize(
    ("message", "version", "value", "wire"),
    [
        (TEXT, 0, {"text": "ab", "plain": ""}, "0002 6162 0000"),
        (TEXT, 1, {"text": "ab", "plain": ""}, "03 6162 01 00"),
        (TEXT, 0, {"text": None, "plain": "é"}, "ffff 0002 c3a9"),
        (TEXT, 1, {"text": None, "plain": "é"}, "00 03 c3a9 00"),
        (BLOB, 0, {"blob": b"\x01", "plain": b""}, "00000001 01 00000000"),
        (BLOB, 1, {"blob": b"\x01", "plain": b""}, "02 01 01 00"),
        (BLOB, 0, {"blob": None, "plain": b"\xff"}, "ffffffff 00000001 ff"),
        (BLOB, 1, {"blob": None, "plain": b"\xff"}, "00 02 ff 00"),
        (LIST, 0, {"items": [1, -1], "plain": []}, "00000002 00000001 ffffffff 00000000"),
        (LIST, 1, {"items": [1, -1], "plain": []}, "03 00000001 ffffffff 01 00"),
        (LIST, 0, {"items": None, "plain": [7]}, "ffffffff 00000001 07"),
        (LIST, 1, {"items": None, "plain": [7]}, "00 02 07 00"),
    ],
)
def test_classic_and_compact_encodings(
    message: Message, version: int, value: dict[str, Any], wire: str
) -> None:
    data = bytes.fromhex(wire.replace(" ", ""))
    assert codec.encode(message, version, value) == data
    assert codec.decode(message, version, data) == value


@pytest.mark.parametrize(
    ("message", "version", "wire"),
    [
        (TEXT, 0, "0000 ffff"),  # null in a non-nullable string
        (TEXT, 1, "01 00 00"),
        (TEXT, 0, "fffe 0000"),  # lengths below -1
        (BLOB, 0, "fffffffe 00000000"),
        (LIST, 0, "00000000 ffffffff"),  # null in a non-nullable array
        (LIST, 1, "01 00 00"),
        (TEXT, 0, "0001 ff 0000"),  # not UTF-8
    ],
)
def test_illegal_nulls_and_lengths_are_protocol_errors(
    message: Message, version: int, wire: str
) -> None:
    with pytest.raises(ProtocolError):
        codec.decode(message, version, bytes.fromhex(wire.replace(" ", "")))


def test_null_does_not_build_where_not_nullable() -> None:
    with pytest.raises(construct.ValidationError):
        codec.encode(TEXT, 1, {"text": "", "plain": None})


# -- UUIDs ------------------------------------------------------------------------------------

IDS = _message(Field("topic_id", UUID))


@pytest.mark.parametrize(
    "value",
    [
        uuid.UUID(int=0),
        uuid.UUID(int=2**128 - 1),
        uuid.UUID("52162c69-bb95-4b45-bdee-6f861a767114"),
    ],
)
def test_uuid(value: uuid.UUID) -> None:
    data = codec.encode(IDS, 1, {"topic_id": value})
    assert data == value.bytes + b"\x00"
    assert codec.decode(IDS, 1, data).topic_id == value


def test_truncated_uuid_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        codec.decode(IDS, 1, bytes(15))


# -- tagged fields ----------------------------------------------------------------------------

TAGGED = _message(
    Field("plain", INT8),
    Field("late", INT32, "1+", tag=5, default=-1),
    Field("early", STRING, "1+", nullable="1+", tag=1),
    Field("nested", Struct([Field("a", INT8, default=-1)]), "1+", tag=2),
)


def test_tagged_fields_are_written_in_tag_order_and_defaults_left_out() -> None:
    assert codec.encode(TAGGED, 1, {"plain": 3}) == bytes.fromhex("03 00".replace(" ", ""))
    data = codec.encode(TAGGED, 1, {"plain": 3, "late": 7, "early": "x", "nested": {"a": 4}})
    assert data == bytes.fromhex("03 03 0102 0278 02020400 0504 00000007".replace(" ", ""))
    decoded = codec.decode(TAGGED, 1, data)
    assert decoded == {"plain": 3, "late": 7, "early": "x", "nested": {"a": 4}}


def test_absent_tagged_fields_decode_to_their_defaults() -> None:
    decoded = codec.decode(TAGGED, 1, bytes.fromhex("0300"))
    assert decoded == {"plain": 3, "late": -1, "early": None, "nested": {"a": -1}}


def test_tagged_fields_are_not_on_the_wire_in_classic_versions() -> None:
    assert codec.encode(TAGGED, 0, {"plain": 3}) == b"\x03"


def test_unknown_and_explicit_default_tags_survive_a_round_trip() -> None:
    # tag 0 (unknown, 1 byte), tag 5 present with its default -1, tag 9 (unknown, empty)
    data = bytes.fromhex("03 03 0001aa 0504ffffffff 0900".replace(" ", ""))
    decoded = codec.decode(TAGGED, 1, data)
    assert decoded.late == -1
    assert codec.encode(TAGGED, 1, decoded) == data


@pytest.mark.parametrize(
    "wire",
    [
        "03 02 0504 00000007 0102 0278",  # descending tags
        "03 02 0102 0278 0102 0279",  # duplicate tag
        "03 01 0503 000000",  # a tagged int32 with too few bytes
        "03 01 0103 027800",  # trailing bytes inside a tagged field
        "03 01 0105 0278",  # a tagged field longer than the frame
        "03 02 0102 0278",  # fewer tagged fields than counted
    ],
)
def test_malformed_tagged_sections_are_protocol_errors(wire: str) -> None:
    with pytest.raises(ProtocolError):
        codec.decode(TAGGED, 1, bytes.fromhex(wire.replace(" ", "")))


def test_decoded_tagged_defaults_are_not_shared() -> None:
    lists = _message(Field("nodes", Array(INT32), "1+", tag=0))
    first = codec.decode(lists, 1, b"\x00")
    first.nodes.append(1)
    assert codec.decode(lists, 1, b"\x00").nodes == []


# -- bounded allocation -----------------------------------------------------------------------

HUGE = [
    (TEXT, 0, "7fff"),  # a 32 KiB string in a 2-byte frame
    (TEXT, 1, "ffffffff07"),  # a 2 GiB compact string
    (BLOB, 0, "7fffffff"),  # a 2 GiB byte string
    (BLOB, 1, "ffffffff0f"),
    (LIST, 0, "7fffffff"),  # 2**31 - 1 elements
    (LIST, 1, "ffffffff0f"),
    (TAGGED, 1, "03 01 01ffffffff0f"),  # a 4 GiB tagged field
    (TAGGED, 1, "03 ffffffff0f 0100"),  # 2**32 - 1 tagged fields
]
ALLOCATION_LIMIT_BYTES = 64 * 1024


@pytest.mark.parametrize(("message", "version", "wire"), HUGE)
def test_length_prefixes_beyond_the_frame_fail_without_allocating(
    message: Message, version: int, wire: str
) -> None:
    data = bytes.fromhex(wire.replace(" ", ""))
    # Build the codecs (construct's and the generated one) outside the measurement: run alone,
    # the first decode of a message would count the generation of its decoder.
    codec.codec_for(message, version)
    codec.compiled_for(message, version)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):
            codec.decode(message, version, data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < ALLOCATION_LIMIT_BYTES
