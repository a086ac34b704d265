"""Bad input gets a Kafka error code or a closed connection, never a crash or a hang.

Each test talks raw protocol to a live in-process broker, then proves the broker still serves
a fresh connection.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from broker.testing import BrokerFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

PRODUCE, FETCH, LIST_OFFSETS, METADATA, API_VERSIONS, CREATE_TOPICS = 0, 1, 2, 3, 18, 19


def _create(
    conn: RawConnection, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> Any:
    body = {
        "topics": [
            {
                "name": name,
                "num_partitions": partitions,
                "replication_factor": 1,
                "assignments": [],
                "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()],
            }
        ],
        "timeout_ms": 5000,
    }
    return conn.request(CREATE_TOPICS, 4, body).topics[0]


def _produce(
    conn: RawConnection, topic: str, records: bytes, acks: int = 1, partition: int = 0
) -> Any:
    body = {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": 5000,
        "topic_data": [
            {"name": topic, "partition_data": [{"index": partition, "records": records}]}
        ],
    }
    return conn.request(PRODUCE, 8, body).responses[0].partition_responses[0]


def _still_serving(bootstrap: str) -> None:
    with RawConnection(bootstrap) as conn:
        response = conn.request(API_VERSIONS, 0, {})
        assert response.error_code == ErrorCode.NONE


@pytest.fixture
def broker(kafka_broker_factory: BrokerFactory) -> Any:
    return kafka_broker_factory.start(
        {
            "message.max.bytes": "2000",
            "socket.request.max.bytes": "100000",
            "auto.create.topics.enable": "false",
        }
    )


def test_size_prefix_over_socket_request_max_bytes_closes(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        conn.send_bytes(struct.pack(">i", 100_001) + b"\x00" * 16)
        assert conn.is_closed_by_peer()
    _still_serving(broker.bootstrap)


def test_negative_size_prefix_closes(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        conn.send_bytes(struct.pack(">i", -5))
        assert conn.is_closed_by_peer()
    _still_serving(broker.bootstrap)


def test_garbage_frame_closes(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        conn.send_bytes(struct.pack(">i", 3) + b"\xff\x00\x01")
        assert conn.is_closed_by_peer()
    _still_serving(broker.bootstrap)


def test_truncated_body_closes(broker: Any) -> None:
    frame = headers.encode_request(METADATA, 8, 1, "x", {"topics": [{"name": "abc"}]})
    broken = struct.pack(">i", len(frame) - 4 - 3) + frame[4:-3]
    with RawConnection(broker.bootstrap) as conn:
        conn.send_bytes(broken)
        assert conn.is_closed_by_peer()
    _still_serving(broker.bootstrap)


def test_frame_cut_mid_way_then_disconnect(broker: Any) -> None:
    frame = headers.encode_request(METADATA, 8, 1, "x", {"topics": None})
    with RawConnection(broker.bootstrap) as conn:
        conn.send_bytes(frame[: len(frame) // 2])
    _still_serving(broker.bootstrap)


def test_unknown_api_key_is_answered(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        conn.send_bytes(struct.pack(">ihhih", 10, 999, 0, 77, -1))
        frame = conn.read_frame()
        assert struct.unpack(">ih", frame) == (77, ErrorCode.UNSUPPORTED_VERSION)
        # The connection stays usable.
        assert conn.request(API_VERSIONS, 0, {}).error_code == ErrorCode.NONE


def test_unsupported_api_versions_version_answers_in_v0_layout(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        # A future flexible version: request header v2 (tagged-field section after client_id).
        conn.send_bytes(struct.pack(">ihhihb", 11, API_VERSIONS, 99, 5, -1, 0))
        frame = conn.read_frame()
        correlation_id, body = headers.decode_response(API_VERSIONS, 0, frame)
        assert correlation_id == 5
        assert body.error_code == ErrorCode.UNSUPPORTED_VERSION
        ranges = {entry.api_key: (entry.min_version, entry.max_version) for entry in body.api_keys}
        assert ranges[API_VERSIONS] == (0, 4)


def test_wrong_crc_is_corrupt_message(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        assert _create(conn, "crc").error_code == ErrorCode.NONE
        batch = bytearray(build_batch([b"hello"]))
        batch[-1] ^= 0xFF
        assert _produce(conn, "crc", bytes(batch)).error_code == ErrorCode.CORRUPT_MESSAGE
        good = _produce(conn, "crc", build_batch([b"hello"]))
        assert (good.error_code, good.base_offset) == (ErrorCode.NONE, 0)


def test_batch_over_message_max_bytes(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "big")
        response = _produce(conn, "big", build_batch([b"x" * 5000]))
        assert response.error_code == ErrorCode.MESSAGE_TOO_LARGE


def test_unknown_topic_and_partition(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        missing = _produce(conn, "missing", build_batch([b"v"]))
        assert missing.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        _create(conn, "one")
        assert _produce(conn, "one", build_batch([b"v"]), partition=5).error_code == (
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        )
        metadata = conn.request(
            METADATA, 8, {"topics": [{"name": "missing"}], "allow_auto_topic_creation": True}
        )
        assert metadata.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("name", ["bad name", "a/b", "..", "", "x" * 250])
def test_invalid_topic_names(broker: Any, name: str) -> None:
    with RawConnection(broker.bootstrap) as conn:
        assert _create(conn, name).error_code == ErrorCode.INVALID_TOPIC_EXCEPTION


@pytest.mark.parametrize("count", [0, -7, 1_000_000])
def test_bad_partition_counts(broker: Any, count: int) -> None:
    with RawConnection(broker.bootstrap) as conn:
        assert _create(conn, "parts", count).error_code == ErrorCode.INVALID_PARTITIONS


def test_invalid_acks(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "acks")
        assert _produce(conn, "acks", build_batch([b"v"]), acks=2).error_code == (
            ErrorCode.INVALID_REQUIRED_ACKS
        )


def test_offset_out_of_range(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "range")
        _produce(conn, "range", build_batch([b"a", b"b"]))
        body = {
            "replica_id": -1,
            "max_wait_ms": 0,
            "min_bytes": 1,
            "max_bytes": 1 << 20,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [
                {
                    "topic": "range",
                    "partitions": [
                        {
                            "partition": 0,
                            "fetch_offset": 50,
                            "log_start_offset": -1,
                            "partition_max_bytes": 1 << 20,
                        }
                    ],
                }
            ],
            "forgotten_topics_data": [],
            "rack_id": "",
        }
        response = conn.request(FETCH, 11, body)
        partition = response.responses[0].partitions[0]
        assert partition.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
        assert partition.high_watermark == 2


def test_garbage_topic_config_is_invalid_config(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        bad_value = _create(conn, "cfg1", configs={"retention.ms": "soon"})
        assert bad_value.error_code == ErrorCode.INVALID_CONFIG
        unknown = _create(conn, "cfg2", configs={"retention.msx": "5"})
        assert unknown.error_code == ErrorCode.INVALID_CONFIG
        assert "retention.ms" in (unknown.error_message or "")


def test_failed_acks0_produce_closes_the_connection(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        body = {
            "transactional_id": None,
            "acks": 0,
            "timeout_ms": 1000,
            "topic_data": [
                {
                    "name": "nowhere",
                    "partition_data": [{"index": 0, "records": build_batch([b"v"])}],
                }
            ],
        }
        conn.send_bytes(headers.encode_request(PRODUCE, 8, 9, "x", body))
        assert conn.is_closed_by_peer()
    _still_serving(broker.bootstrap)
