"""Record batch v2: header view, validation errors, offset assignment, codecs, golden batches."""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import pytest

from client.protocol import records as r
from client.protocol.errors import ErrorCode

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CODECS = [
    r.COMPRESSION_NONE,
    r.COMPRESSION_GZIP,
    r.COMPRESSION_SNAPPY,
    r.COMPRESSION_LZ4,
    r.COMPRESSION_ZSTD,
]
LIMIT = 1 << 20


def sample_records(count: int = 5) -> list[r.Record]:
    return [
        r.Record(
            offset=i,
            timestamp=1_700_000_000_000 + i * 1000,
            key=None if i == 0 else f"key-{i:02}".encode(),
            value=None if i == 1 else f"value-{i:02}".encode() * 30,
            headers=[("h1", b"v1"), ("h2", None)],
        )
        for i in range(count)
    ]


def reseal(batch: bytearray) -> bytearray:
    """Recompute the CRC after editing a field the CRC covers."""
    struct.pack_into(">I", batch, r.CRC_OFFSET, crc32c.crc32c(bytes(batch[r.ATTRIBUTES_OFFSET :])))
    return batch


def expect_error(data: bytes | bytearray, code: ErrorCode, **kwargs: bool) -> None:
    with pytest.raises(r.InvalidRecordError) as caught:
        r.validate_batches(data, max_batch_bytes=LIMIT, **kwargs)
    assert caught.value.error_code == code


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_every_codec(codec: int) -> None:
    records = sample_records()
    batch = r.build_batch(records, base_offset=42, compression=codec)
    header = r.parse_header(batch)
    assert header.compression == codec
    assert header.size_bytes == len(batch)
    assert (header.base_offset, header.last_offset, header.record_count) == (42, 46, 5)
    assert header.max_timestamp == records[-1].timestamp
    decoded = r.decode_records(batch)
    assert [d.offset for d in decoded] == [42, 43, 44, 45, 46]
    for got, want in zip(decoded, records, strict=True):
        assert (got.timestamp, got.key, got.value, got.headers) == (
            want.timestamp,
            want.key,
            want.value,
            want.headers,
        )


@pytest.mark.parametrize("target", CODECS)
@pytest.mark.parametrize("codec", CODECS)
def test_rebuild_batch_with_another_codec(codec: int, target: int) -> None:
    """A topic's compression.type: the records compressed anew, everything else kept."""
    records = sample_records()
    batch = r.build_batch(
        records,
        compression=codec,
        producer_id=7,
        producer_epoch=2,
        base_sequence=40,
        transactional=True,
    )
    header = r.parse_header(batch)
    rebuilt = r.rebuild_batch(header, r.batch_payload(batch, header), 5, codec=target)
    ((position, again),) = r.validate_batches(rebuilt, max_batch_bytes=LIMIT).batches
    assert position == 0 and again.compression == target
    same = ("base_offset", "last_offset_delta", "base_timestamp", "max_timestamp",
            "producer_id", "producer_epoch", "base_sequence", "record_count")  # fmt: skip
    assert [getattr(again, name) for name in same] == [getattr(header, name) for name in same]
    assert again.is_transactional
    assert r.decode_records(rebuilt) == r.decode_records(batch)


def test_header_properties() -> None:
    batch = r.build_batch(
        [b"x"],
        producer_id=7,
        producer_epoch=1,
        base_sequence=0,
        transactional=True,
        timestamp_type=r.TIMESTAMP_LOG_APPEND_TIME,
    )
    header = r.parse_header(batch)
    assert header.magic == 2 and header.is_transactional and not header.is_control
    assert header.timestamp_type == r.TIMESTAMP_LOG_APPEND_TIME
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 1, 0)
    assert r.BATCH_HEADER_BYTES == 61


def test_raw_snappy_block_decodes() -> None:
    import cramjam

    plain = r.build_batch(sample_records(3))
    payload = bytes(cramjam.snappy.compress_raw(plain[r.BATCH_HEADER_BYTES :]))
    batch = bytearray(plain[: r.BATCH_HEADER_BYTES] + payload)
    struct.pack_into(">i", batch, 8, len(batch) - r.LOG_OVERHEAD_BYTES)
    struct.pack_into(">h", batch, r.ATTRIBUTES_OFFSET, r.COMPRESSION_SNAPPY)
    decoded = r.decode_records(reseal(batch))
    assert [d.key for d in decoded] == [rec.key for rec in sample_records(3)]


def test_validate_many_batches() -> None:
    first = r.build_batch(sample_records(3), timestamp_ms=5)
    second = r.build_batch([b"a", b"b"], timestamp_ms=2_000_000_000_000)
    result = r.validate_batches(first + second, max_batch_bytes=LIMIT)
    assert [position for position, _ in result.batches] == [0, len(first)]
    assert result.record_count == 5
    assert result.size_bytes == len(first) + len(second)
    assert result.max_timestamp == 2_000_000_000_000
    assert result.shallow_offset_delta_of_max_timestamp == 4
    assert result.first_timestamp == sample_records()[0].timestamp


def test_crc_mismatch_is_corrupt() -> None:
    batch = bytearray(r.build_batch(sample_records()))
    batch[-1] ^= 0x01
    expect_error(batch, ErrorCode.CORRUPT_MESSAGE)


def test_fields_outside_crc_do_not_matter() -> None:
    batch = bytearray(r.build_batch(sample_records()))
    struct.pack_into(">q", batch, 0, 999)
    struct.pack_into(">i", batch, 12, 77)
    r.validate_batches(batch, max_batch_bytes=LIMIT)


@pytest.mark.parametrize("cut", [1, 11, 12, 30, 61, -1])
def test_truncated_buffer_is_corrupt(cut: int) -> None:
    batch = r.build_batch(sample_records())
    expect_error(batch[:cut], ErrorCode.CORRUPT_MESSAGE)
    expect_error(batch + batch[:cut], ErrorCode.CORRUPT_MESSAGE)


def test_garbage_is_corrupt() -> None:
    expect_error(b"\x00" * 12 + b"\x00\x00\x00\x00\x02" + b"\x00" * 50, ErrorCode.CORRUPT_MESSAGE)


def test_empty_buffer_is_invalid_record() -> None:
    expect_error(b"", ErrorCode.INVALID_RECORD)


def test_bad_magic() -> None:
    batch = bytearray(r.build_batch(sample_records()))
    batch[r.MAGIC_OFFSET] = 1
    expect_error(batch, ErrorCode.INVALID_RECORD)


def test_bad_batch_length() -> None:
    batch = bytearray(r.build_batch(sample_records()))
    struct.pack_into(">i", batch, 8, 10)
    expect_error(batch, ErrorCode.CORRUPT_MESSAGE)


def test_count_mismatch_and_zero_count() -> None:
    batch = bytearray(r.build_batch(sample_records()))
    struct.pack_into(">i", batch, 23, 2)
    expect_error(reseal(batch), ErrorCode.INVALID_RECORD)
    struct.pack_into(">i", batch, 23, -1)
    struct.pack_into(">i", batch, 57, 0)
    expect_error(reseal(batch), ErrorCode.INVALID_RECORD)


def test_unknown_codec() -> None:
    batch = bytearray(r.build_batch(sample_records()))
    struct.pack_into(">h", batch, r.ATTRIBUTES_OFFSET, 5)
    expect_error(reseal(batch), ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)


def test_too_large() -> None:
    batch = r.build_batch(sample_records())
    with pytest.raises(r.InvalidRecordError) as caught:
        r.validate_batches(batch, max_batch_bytes=len(batch) - 1)
    assert caught.value.error_code == ErrorCode.MESSAGE_TOO_LARGE
    r.validate_batches(batch, max_batch_bytes=len(batch))


def test_client_rules() -> None:
    control = r.build_batch([b"x"], control=True)
    expect_error(control, ErrorCode.INVALID_RECORD)
    r.validate_batches(control, max_batch_bytes=LIMIT, from_client=False)
    expect_error(r.build_batch([b"x"], producer_id=3, base_sequence=-1), ErrorCode.INVALID_RECORD)
    two = r.build_batch([b"x"]) * 2
    expect_error(two, ErrorCode.INVALID_RECORD, single_batch=True)


def test_assign_offsets_in_place_keeps_crc() -> None:
    data = bytearray(r.build_batch(sample_records(3)) + r.build_batch([b"a", b"b"]))
    result = r.validate_batches(data, max_batch_bytes=LIMIT)
    assert r.assign_offsets(data, result.batches, 100, 9) == 105
    again = r.validate_batches(data, max_batch_bytes=LIMIT)
    assert [(h.base_offset, h.partition_leader_epoch) for _, h in again.batches] == [
        (100, 9),
        (103, 9),
    ]
    assert [rec.offset for rec in r.decode_records(data[again.batches[1][0] :])] == [103, 104]


def test_assign_offsets_log_append_time_recomputes_crc() -> None:
    data = bytearray(r.build_batch(sample_records(3), compression=r.COMPRESSION_GZIP))
    result = r.validate_batches(data, max_batch_bytes=LIMIT)
    r.assign_offsets(data, result.batches, 0, 0, log_append_time_ms=123)
    header = r.validate_batches(data, max_batch_bytes=LIMIT).batches[0][1]
    assert header.max_timestamp == 123
    assert header.timestamp_type == r.TIMESTAMP_LOG_APPEND_TIME
    assert header.compression == r.COMPRESSION_GZIP
    assert {rec.timestamp for rec in r.decode_records(data)} == {123}


def test_iterate_batches_stops_at_partial_tail() -> None:
    one = r.build_batch(sample_records(2))
    data = one * 3 + one[:40]
    assert [position for position, _ in r.iterate_batches(data)] == [0, len(one), 2 * len(one)]
    assert list(r.iterate_batches(one[:-1])) == []
    with pytest.raises(r.InvalidRecordError):
        list(r.iterate_batches(b"\x00" * 70))


def test_corrupt_compressed_payload() -> None:
    batch = bytearray(r.build_batch(sample_records(), compression=r.COMPRESSION_ZSTD))
    batch[r.BATCH_HEADER_BYTES + 2] ^= 0xFF
    with pytest.raises(r.InvalidRecordError) as caught:
        r.decode_records(batch)
    assert caught.value.error_code == ErrorCode.CORRUPT_MESSAGE


def golden_batches() -> list[tuple[str, bytes]]:
    """Batches found in real clients' Produce frames: magic 2 at +16 and a valid CRC."""
    found = []
    for frame_path in sorted(GOLDEN.glob("*/produce-*/*Produce*-req.bin")):
        frame = frame_path.read_bytes()
        for start in range(len(frame) - r.BATCH_HEADER_BYTES):
            if frame[start + r.MAGIC_OFFSET] != r.MAGIC:
                continue
            try:
                header = r.verify_batch(frame, start, max_batch_bytes=LIMIT)
            except r.InvalidRecordError:
                continue
            found.append(
                (str(frame_path.relative_to(GOLDEN)), frame[start : start + header.size_bytes])
            )
            break
    return found


def test_golden_client_batches_decode() -> None:
    batches = golden_batches()
    assert len(batches) >= 100
    codec_names = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4, "idempotent": 0}
    seen: dict[str, set[bytes]] = {}
    for name, batch in batches:
        flow = name.split("/")[1]
        header = r.validate_batches(batch, max_batch_bytes=LIMIT).batches[0][1]
        assert header.compression == codec_names[flow.split("-")[1]], name
        decoded = r.decode_records(batch)
        assert len(decoded) == header.record_count
        for record in decoded:
            assert record.key is not None and record.value is not None
            assert record.value == b"value-" + record.key[4:]
            assert record.headers == [("h1", b"v1"), ("h2", b"v2")]
        client_flow = name.rsplit("/", 1)[0]
        seen.setdefault(client_flow, set()).update(d.key or b"" for d in decoded)
    for client_flow, keys in seen.items():
        assert keys == {f"key-{i:02}".encode() for i in range(20)}, client_flow
