"""Codec micro benchmarks: the data-plane messages at 1 MiB, and the request header.

Figures are for comparison within one run (ratios), never asserted.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from client.protocol import codec, headers
from client.protocol.messages import fetch, produce
from client.protocol.records import build_batch

MIB = 1024 * 1024


def _produce_body(partitions: int, total_bytes: int) -> dict[str, Any]:
    per_partition = total_bytes // partitions
    values = [b"v" * 100] * max(per_partition // 120, 1)
    batch = build_batch(values)
    return {
        "transactional_id": None,
        "acks": 1,
        "timeout_ms": 30000,
        "topic_data": [
            {
                "name": "bench",
                "partition_data": [
                    {"index": index, "records": batch} for index in range(partitions)
                ],
            }
        ],
    }


def _fetch_response(partitions: int, total_bytes: int) -> dict[str, Any]:
    batch = build_batch([b"v" * 100] * max(total_bytes // partitions // 120, 1))
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "session_id": 0,
        "responses": [
            {
                "topic": "bench",
                "partitions": [
                    {
                        "partition_index": index,
                        "error_code": 0,
                        "high_watermark": 10,
                        "last_stable_offset": 10,
                        "log_start_offset": 0,
                        "aborted_transactions": None,
                        "preferred_read_replica": -1,
                        "records": batch,
                    }
                    for index in range(partitions)
                ],
            }
        ],
    }


@pytest.mark.parametrize("partitions", [1, 6, 100])
@pytest.mark.parametrize("version", [8, 10])
def test_decode_produce_request_1mib(
    benchmark: BenchmarkFixture, partitions: int, version: int
) -> None:
    frame = headers.encode_request(0, version, 1, "bench", _produce_body(partitions, MIB))
    body = frame[4:]
    _header, decoded = benchmark(headers.decode_request, body)
    assert len(decoded.topic_data[0].partition_data) == partitions


@pytest.mark.parametrize("partitions", [1, 6, 100])
@pytest.mark.parametrize("version", [11, 16])
def test_encode_fetch_response_1mib(
    benchmark: BenchmarkFixture, partitions: int, version: int
) -> None:
    response = _fetch_response(partitions, MIB)
    if version >= 13:
        import uuid

        response["responses"][0]["topic_id"] = uuid.UUID(int=1)
    frame = benchmark(headers.encode_response, 1, version, 7, response)
    assert len(frame) > MIB * 0.9


def test_encode_produce_request_1mib(benchmark: BenchmarkFixture) -> None:
    body = _produce_body(6, MIB)
    frame = benchmark(codec.encode, produce.REQUEST, 8, body)
    assert len(frame) > MIB * 0.9


def test_decode_fetch_response_1mib(benchmark: BenchmarkFixture) -> None:
    data = codec.encode(fetch.RESPONSE, 11, _fetch_response(6, MIB))
    decoded = benchmark(codec.decode, fetch.RESPONSE, 11, data)
    assert len(decoded.responses[0].partitions) == 6


def test_decode_request_header(benchmark: BenchmarkFixture) -> None:
    frame = headers.encode_request(3, 12, 99, "rdkafka", {"topics": None})[4:]
    header = benchmark(headers.decode_request_header, frame)
    assert header.correlation_id == 99


# -- small messages: the generated codecs against construct's (same run, same values) ----------


def _small_produce_request() -> dict[str, Any]:
    """A librdkafka-sized acks=all Produce at linger.ms=0: one partition, two 100 B records."""
    body = _produce_body(1, 240)
    body["acks"] = -1
    return body


def _produce_response() -> dict[str, Any]:
    partition = {
        "index": 3,
        "error_code": 0,
        "base_offset": 123456,
        "log_append_time_ms": -1,
        "log_start_offset": 0,
        "record_errors": [],
        "error_message": None,
    }
    return {"responses": [{"name": "bench", "partition_responses": [partition]}]}


@pytest.fixture(params=["compiled", "construct"])
def codec_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``construct``: every message takes the construct codec (the generated one is off)."""
    if request.param == "construct":
        monkeypatch.setattr(codec, "compiled_for", lambda message, version: None)
    return str(request.param)


def test_decode_small_produce_request(benchmark: BenchmarkFixture, codec_kind: str) -> None:
    body = headers.encode_request(0, 9, 1, "rdkafka", _small_produce_request())[4:]
    _header, decoded = benchmark(headers.decode_request, body)
    assert decoded.acks == -1
    assert len(decoded.topic_data[0].partition_data[0].records) > 200


def test_encode_produce_response(benchmark: BenchmarkFixture, codec_kind: str) -> None:
    frame = benchmark(headers.encode_response, 0, 9, 7, _produce_response())
    _correlation, decoded = headers.decode_response(0, 9, frame[4:])
    assert decoded.responses[0].partition_responses[0].base_offset == 123456
