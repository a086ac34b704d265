"""Golden frames from four real clients (tests/golden/README.md): every frame of every API we
declare decodes and re-encodes byte for byte, and the known non-conformant mock responses are
rejected with ProtocolError."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from client.protocol import codec, headers
from client.protocol.errors import ProtocolError
from client.protocol.messages import APIS

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
# Flows answered by tansu; every other flow was answered by the librdkafka mock (README, Flows).
TANSU_FLOWS = frozenset({"create-delete-topic", "list-offsets-tansu", "describe-configs"})
GET_TELEMETRY_SUBSCRIPTIONS = 71  # deliberately not declared (the census: odradek leaves it out)

# The mock's answer to ApiVersions v3/v4, which it does not support: error 35, a one-byte count,
# one entry (key 18, 0-2), throttle time. Neither the v0 layout nor a flexible one (README).
MOCK_API_VERSIONS_UNSUPPORTED_BODY = bytes.fromhex("00230100120000000200000000")
# The mock's LeaveGroup v3 answer: throttle time and error 25 (UNKNOWN_MEMBER_ID), no members.
MOCK_LEAVE_GROUP_V3_BODY = bytes.fromhex("000000000019")
HEADER_V0_SIZE = 8  # size prefix + correlation id
RESPONSE_HEADER_V1_SIZE = 9  # size prefix + correlation id + empty tagged fields
METADATA = 3
# librdkafka 2.16 writes a null Metadata v9+ topics array as a 4-byte zero placeholder instead of
# the 1-byte uvarint 0 (confluentinc/librdkafka#5049): "all topics" requests carry 3 stray bytes.
LIBRDKAFKA_NULL_TOPICS_PLACEHOLDER = b"\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class Frame:
    path: Path
    flow: str
    direction: str
    api_key: int
    api_version: int
    correlation_id: int
    data: bytes

    @property
    def upstream(self) -> str:
        return "tansu" if self.flow in TANSU_FLOWS else "mock"

    @property
    def label(self) -> str:
        return f"{self.path.parent.parent.name}/{self.flow}/{self.path.name}"


def _load_frames() -> list[Frame]:
    frames = []
    for index in sorted(GOLDEN.glob("*/*/index.jsonl")):
        for line in index.read_text().splitlines():
            record = json.loads(line)
            path = index.parent / record["file"]
            data = path.read_bytes()
            assert int.from_bytes(data[:4], "big") == record["size"] == len(data) - 4
            frames.append(
                Frame(
                    path=path,
                    flow=index.parent.name,
                    direction=record["direction"],
                    api_key=record["api_key"],
                    api_version=record["api_version"],
                    correlation_id=record["correlation_id"],
                    data=data,
                )
            )
    return frames


FRAMES = _load_frames()
DECLARED = [frame for frame in FRAMES if frame.api_key in APIS]


def _request_body(frame: Frame) -> bytes:
    header = headers.decode_request_header(frame.data[4:])
    return frame.data[4 + header.body_offset :]


def is_librdkafka_null_topics_bug(frame: Frame) -> bool:
    """A confluent Metadata v9+ "all topics" request with the #5049 placeholder; the same body
    with a correct null array (uvarint 0) must decode, so nothing else is wrong with it."""
    if frame.direction != "request" or frame.api_key != METADATA or frame.api_version < 9:
        return False
    body = _request_body(frame)
    if not body.startswith(LIBRDKAFKA_NULL_TOPICS_PLACEHOLDER):
        return False
    fixed = b"\x00" + body[len(LIBRDKAFKA_NULL_TOPICS_PLACEHOLDER) :]
    request, _response = APIS[METADATA]
    decoded = codec.decode(request, frame.api_version, fixed)
    return decoded.topics is None and codec.encode(request, frame.api_version, decoded) == fixed


def is_mock_metadata_v13_trailing_byte(frame: Frame) -> bool:
    """The mock's Metadata v13 responses end with one stray zero byte after the top-level
    tagged fields; without it they round-trip exactly."""
    if frame.direction != "response" or frame.upstream != "mock":
        return False
    if (frame.api_key, frame.api_version) != (METADATA, 13) or frame.data[-1] != 0:
        return False
    body = frame.data[RESPONSE_HEADER_V1_SIZE:-1]
    _request, response = APIS[METADATA]
    return codec.encode(response, 13, codec.decode(response, 13, body)) == body


def is_known_nonconformant(frame: Frame) -> bool:
    """Frames that a strict decoder must reject, identified by upstream and exact bytes: the 32
    mock responses the README lists, plus two client/mock bugs it does not (see above)."""
    if is_librdkafka_null_topics_bug(frame) or is_mock_metadata_v13_trailing_byte(frame):
        return True
    if frame.direction != "response" or frame.upstream != "mock":
        return False
    body = frame.data[HEADER_V0_SIZE:]
    if frame.api_key == 18 and frame.api_version in (3, 4):
        return body == MOCK_API_VERSIONS_UNSUPPORTED_BODY
    if frame.api_key == 13 and frame.api_version == 3:
        return body == MOCK_LEAVE_GROUP_V3_BODY
    return False


def _round_trip(frame: Frame) -> bytes:
    if frame.direction == "request":
        header, body = headers.decode_request(frame.data[4:])
        assert (header.api_key, header.api_version) == (frame.api_key, frame.api_version)
        assert header.correlation_id == frame.correlation_id
        return headers.encode_request(
            header.api_key, header.api_version, header.correlation_id, header.client_id, body
        )
    correlation_id, body = headers.decode_response(frame.api_key, frame.api_version, frame.data[4:])
    assert correlation_id == frame.correlation_id
    return headers.encode_response(frame.api_key, frame.api_version, correlation_id, body)


@pytest.mark.parametrize("frame", DECLARED, ids=[frame.label for frame in DECLARED])
def test_frame_round_trips_byte_identical(frame: Frame) -> None:
    if is_known_nonconformant(frame):
        with pytest.raises(ProtocolError):
            _round_trip(frame)
        return
    assert _round_trip(frame) == frame.data


def test_golden_set_is_large_and_fully_covered() -> None:
    assert len(FRAMES) == 1060
    assert len(DECLARED) > 900
    undeclared = {frame.api_key for frame in FRAMES} - set(APIS)
    assert undeclared == {GET_TELEMETRY_SUBSCRIPTIONS}
    covered = {(frame.api_key, frame.direction) for frame in DECLARED}
    for api_key in {frame.api_key for frame in DECLARED}:
        assert {(api_key, "request"), (api_key, "response")} <= covered


def test_exactly_the_documented_frames_are_nonconformant() -> None:
    rejected = Counter(
        (frame.api_key, frame.api_version) for frame in DECLARED if is_known_nonconformant(frame)
    )
    assert rejected == {(18, 3): 15, (18, 4): 15, (13, 3): 2, (3, 12): 1, (3, 13): 19}
    assert sum(map(is_librdkafka_null_topics_bug, DECLARED)) == 2
    assert sum(map(is_mock_metadata_v13_trailing_byte, DECLARED)) == 18
    # Correct ApiVersions v3/v4 answers from tansu are in the set and are not rejected.
    tansu_answers = [
        frame
        for frame in DECLARED
        if (frame.api_key, frame.direction, frame.upstream) == (18, "response", "tansu")
        and frame.api_version >= 3
    ]
    assert tansu_answers
    assert not any(map(is_known_nonconformant, tansu_answers))
