"""Consumer micro benchmarks: a 1 MiB Fetch response of 100-byte records, parsed into records.

Each case runs the consumer's whole receive path on one response frame: the Fetch codec,
``Fetcher.handle_response`` (batch headers only) and ``Fetcher.poll`` until every record is
out (CRC check, decompression, the record loop).  ``reference`` decodes the same batches
with ``client.protocol.records.decode_records`` (the straightforward per-record decoder) for a
same-run ratio.  Both codecs carry the same ~9,000 records in 16 KiB batches (the Java
producer's ``batch.size``); the lz4 frame is smaller on the wire.  Figures are compared as
ratios within one run, never asserted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from client.config import ConsumerConfig
from client.fetcher import Fetcher
from client.metadata import (
    BrokerMetadata,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
    TopicPartition,
)
from client.protocol import codec, headers, records
from client.protocol.messages import fetch

MIB = 1024 * 1024
RECORD_BYTES = 100
BATCH_BYTES = 16 * 1024
VERSION = 16
TOPIC_ID = uuid.UUID(int=7)
TP = TopicPartition("bench", 0)
CODECS = {"none": records.COMPRESSION_NONE, "lz4": records.COMPRESSION_LZ4}


def _batches(codec_id: int) -> tuple[bytes, int]:
    """1 MiB of uncompressed records in 16 KiB batches; (the batches, the record count)."""
    per_batch = BATCH_BYTES // (RECORD_BYTES + 8)
    count = MIB // (RECORD_BYTES + 8)
    out = bytearray()
    for first in range(0, count, per_batch):
        values = [
            (b"%010d-" % (first + index)) * 9 + b"x"
            for index in range(min(per_batch, count - first))
        ]
        assert all(len(value) == RECORD_BYTES for value in values)
        items = [records.Record(0, 1_700_000_000_000 + i, None, v) for i, v in enumerate(values)]
        out += records.build_batch(items, base_offset=first, compression=codec_id)
    return bytes(out), count


def _metadata() -> ClusterMetadata:
    partition = PartitionMetadata("bench", 0, 1, 0, (1,), (1,))
    return ClusterMetadata(
        brokers={1: BrokerMetadata(1, "localhost", 9092)},
        topics={"bench": TopicMetadata("bench", TOPIC_ID, False, {0: partition})},
    )


def _response_frame(data: bytes) -> bytes:
    """The Fetch v16 response frame body (after the size prefix) a broker would send."""
    partition = {
        "partition_index": 0,
        "error_code": 0,
        "high_watermark": 1 << 40,
        "aborted_transactions": None,
        "records": data,
    }
    body = {"responses": [{"topic_id": TOPIC_ID, "partitions": [partition]}]}
    return headers.encode_response(fetch.RESPONSE.api_key, VERSION, 1, body)[4:]


def _consume_once(frame: bytes, count: int) -> Callable[[], int]:
    config = ConsumerConfig.from_settings(bootstrap_servers="localhost:9092", max_poll_records=500)
    metadata = _metadata()

    def run() -> int:
        fetcher = Fetcher(config)
        fetcher.assign([TP])
        fetcher.seek(TP, 0)
        request = fetcher.build_fetch(1, metadata, VERSION, now_ms=0)
        assert request is not None
        _, response = headers.decode_response(fetch.RESPONSE.api_key, VERSION, frame)
        fetcher.handle_response(request, response, now_ms=0)
        received = 0
        while polled := fetcher.poll(500):
            received += len(polled[TP])
        return received

    return run


@pytest.mark.parametrize("codec_name", list(CODECS))
def test_consume_fetch_response_1mib(benchmark: BenchmarkFixture, codec_name: str) -> None:
    data, count = _batches(CODECS[codec_name])
    frame = _response_frame(data)
    benchmark.extra_info["records"] = count
    benchmark.extra_info["frame_bytes"] = len(frame)
    assert benchmark(_consume_once(frame, count)) == count


@pytest.mark.parametrize("codec_name", list(CODECS))
def test_reference_decode_records_1mib(benchmark: BenchmarkFixture, codec_name: str) -> None:
    data, count = _batches(CODECS[codec_name])
    positions = [(start, header.size_bytes) for start, header in records.iterate_batches(data)]

    def run() -> int:
        view = memoryview(data)
        return sum(
            len(records.decode_records(view[start : start + size])) for start, size in positions
        )

    benchmark.extra_info["records"] = count
    assert benchmark(run) == count


def test_decode_fetch_response_codec_only(benchmark: BenchmarkFixture) -> None:
    """The Fetch codec alone on the same frame: the part of the path that is not records."""
    data, _ = _batches(records.COMPRESSION_NONE)
    frame = _response_frame(data)
    _, decoded = benchmark(headers.decode_response, fetch.RESPONSE.api_key, VERSION, frame)
    assert len(decoded.responses[0].partitions[0].records) == len(data)
    codec.codec_for(fetch.RESPONSE, VERSION)  # cached: the benchmark measured decoding only
