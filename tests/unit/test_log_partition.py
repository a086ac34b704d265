"""PartitionLog: append/read across rolls, lookups, retention, truncation, flush policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from broker.log import segment
from broker.log.config import LogConfig
from broker.log.partition_log import AppendResult, OffsetOutOfRangeError, PartitionLog
from client.protocol import records as r

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256)
T0 = 1_700_000_000_000


def open_log(directory: Path, config: LogConfig = SMALL, **kwargs: int | bool) -> PartitionLog:
    options: dict[str, int | bool] = {
        "recovery_point": 0,
        "log_start_offset": 0,
        "needs_recovery": False,
    }
    options.update(kwargs)
    return PartitionLog.open(directory, config, **options)  # type: ignore[arg-type]


def append(
    log: PartitionLog, count: int = 3, timestamp: int = T0, wall_ms: int = T0, size: int = 50
) -> AppendResult:
    batch = r.build_batch(
        [r.Record(0, timestamp + i, f"k{i}".encode(), b"v" * size, []) for i in range(count)]
    )
    data = bytearray(batch)
    checked = r.validate_batches(data, max_batch_bytes=log.config.max_message_bytes)
    return log.append(data, checked.batches, leader_epoch=5, wall_ms=wall_ms)


def offsets_in(data: bytes | memoryview) -> list[int]:
    return [h.base_offset for _, h in r.iterate_batches(data)]


def test_append_assigns_offsets_and_reads_back(tmp_path: Path) -> None:
    log = open_log(tmp_path / "orders-0")
    assert (log.topic, log.partition) == ("orders", 0)
    first = append(log, 3)
    second = append(log, 2, timestamp=T0 + 100)
    assert (first.base_offset, first.last_offset) == (0, 2)
    assert (second.base_offset, second.last_offset) == (3, 4)
    assert second.max_timestamp == T0 + 101 and second.shallow_offset_of_max_timestamp == 4
    assert log.log_end_offset == 5
    data = log.read(0, 1 << 20, 5, min_one_batch=False)
    assert offsets_in(data) == [0, 3]
    decoded = r.decode_records(bytes(data)[r.parse_header(data).size_bytes :])
    assert [record.offset for record in decoded] == [3, 4]
    assert r.parse_header(data).partition_leader_epoch == 5
    assert offsets_in(log.read(4, 1 << 20, 5, min_one_batch=False)) == [3]
    assert log.read(5, 1 << 20, 5, min_one_batch=False) == b""
    with pytest.raises(OffsetOutOfRangeError):
        log.read(6, 100, 6, min_one_batch=False)


def test_read_limits_high_watermark_and_min_one_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    results = [append(log, 2) for _ in range(5)]
    size = results[0].size_bytes
    assert offsets_in(log.read(0, 1 << 20, 4, min_one_batch=False)) == [0, 2]
    assert offsets_in(log.read(0, size * 2 + 10, 100, min_one_batch=False)) == [0, 2]
    assert log.read(0, size - 1, 100, min_one_batch=False) == b""
    assert offsets_in(log.read(0, 1, 100, min_one_batch=True)) == [0]
    assert log.read(4, 1 << 20, 4, min_one_batch=True) == b""


def test_append_and_read_across_rolls(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for _ in range(60):
        append(log, 4)
    assert len(log.segments) > 3
    assert all(s.size_bytes <= SMALL.segment_bytes for s in log.segments)
    assert log.segments[1].path(".log").name == f"{log.segments[1].base_offset:020d}.log"
    seen: list[int] = []
    offset = 0
    while offset < log.log_end_offset:
        data = log.read(offset, 1000, log.log_end_offset, min_one_batch=True)
        batches = list(r.iterate_batches(data))
        assert batches
        seen.extend(h.base_offset for _, h in batches)
        offset = batches[-1][1].next_offset
    assert seen == list(range(0, 240, 4))
    for target in (0, 1, 57, 118, 239):
        data = log.read(target, 10, 240, min_one_batch=True)
        header = r.parse_header(data)
        assert header.base_offset <= target <= header.last_offset


def test_index_entries_written_sparsely(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", replace(SMALL, segment_bytes=1 << 20))
    for _ in range(40):
        append(log, 2)
    index = log.active_segment.offset_index
    assert 5 < index.entries < 40
    for target in range(80):
        found = log.active_segment.translate_offset(target)
        assert found is not None and found[1].base_offset <= target <= found[1].last_offset


def test_roll_by_time_uses_first_batch_timestamp(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", replace(SMALL, segment_ms=1000, segment_bytes=1 << 20))
    append(log, timestamp=T0)
    assert not append(log, timestamp=T0 + 1000).rolled
    assert append(log, timestamp=T0 + 1001).rolled
    assert [s.base_offset for s in log.segments] == [0, 6]


def test_roll_by_time_comes_up_to_segment_jitter_early(tmp_path: Path) -> None:
    """segment.jitter.ms: each segment rolls a fixed amount (per partition and base offset,
    below the jitter) before segment.ms; the amount is the same when the log is reopened."""
    config = replace(SMALL, segment_ms=1000, segment_jitter_ms=400, segment_bytes=1 << 20)
    early = []
    for partition in range(8):
        log = open_log(tmp_path / f"t-{partition}", config)
        append(log, timestamp=T0)
        waited = next(w for w in range(600, 1002) if append(log, timestamp=T0 + w).rolled)
        early.append(1001 - waited)  # rolls once more than segment.ms - jitter has passed
        assert 0 <= early[-1] < 400
    assert len(set(early)) > 1, early  # not every partition rolls at once
    reopened = open_log(tmp_path / "t-0", config)
    assert reopened._roll_jitter_ms(reopened.segments[0]) == early[0]


def test_offset_for_timestamp_and_max_timestamp(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for batch in range(30):
        append(log, 4, timestamp=T0 + batch * 10)
    # batch b holds offsets 4b..4b+3 with timestamps T0+10b .. T0+10b+3
    assert log.offset_for_timestamp(T0) == (0, T0)
    assert log.offset_for_timestamp(T0 + 2) == (2, T0 + 2)
    assert log.offset_for_timestamp(T0 + 5) == (4, T0 + 10)
    assert log.offset_for_timestamp(T0 + 153) == (63, T0 + 153)
    assert log.offset_for_timestamp(T0 + 294) is None
    assert log.max_timestamp_offset() == (119, T0 + 293)
    log.close()
    again = open_log(tmp_path / "t-0", recovery_point=120)
    assert again.offset_for_timestamp(T0 + 153) == (63, T0 + 153)
    assert again.max_timestamp_offset() == (119, T0 + 293)


def test_log_append_time(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", replace(SMALL, message_timestamp_type="LogAppendTime"))
    result = append(log, 3, timestamp=5, wall_ms=T0)
    assert result.log_append_time_ms == T0 and result.max_timestamp == T0
    data = bytes(log.read(0, 1 << 20, 3, min_one_batch=True))
    r.validate_batches(data, max_batch_bytes=1 << 20)
    assert {record.timestamp for record in r.decode_records(data)} == {T0}


def test_retention_by_time(tmp_path: Path) -> None:
    config = replace(SMALL, retention_ms=1000)
    log = open_log(tmp_path / "t-0", config)
    for batch in range(40):
        append(log, 4, timestamp=T0 + batch * 100)
    segments_before = len(log.segments)
    assert log.enforce_retention(wall_ms=T0) == 0
    deleted = log.enforce_retention(wall_ms=T0 + 3000)
    assert 0 < deleted < segments_before
    assert all(s.largest_timestamp >= T0 + 2000 for s in log.segments)
    assert log.log_start_offset == log.segments[0].base_offset
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100, 200, min_one_batch=True)
    end = log.log_end_offset
    log.enforce_retention(wall_ms=T0 + 10**9)
    assert len(log.segments) == 1 and log.active_segment.size_bytes == 0
    assert log.log_start_offset == log.log_end_offset == end
    assert append(log).base_offset == end


def test_retention_by_bytes_and_high_watermark(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", replace(SMALL, retention_bytes=5000))
    for _ in range(60):
        append(log, 4)
    assert log.enforce_retention(T0, high_watermark=0) == 0
    log.enforce_retention(T0)
    assert log.size_bytes <= 5000 + SMALL.segment_bytes
    assert log.size_bytes > 5000 - SMALL.segment_bytes


def test_advance_log_start_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for _ in range(60):
        append(log, 4)
    log.advance_log_start_offset(130)
    assert log.log_start_offset == 130
    with pytest.raises(OffsetOutOfRangeError):
        log.read(129, 100, 240, min_one_batch=True)
    assert r.parse_header(log.read(130, 1, 240, min_one_batch=True)).base_offset == 128
    log.enforce_retention(T0)
    assert log.segments[0].base_offset <= 130 < log.segments[0].next_offset
    assert log.offset_for_timestamp(0) == (130, T0 + 2)
    with pytest.raises(OffsetOutOfRangeError):
        log.advance_log_start_offset(241)


def test_truncate_to(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for _ in range(60):
        append(log, 4)
    log.truncate_to(101)  # mid-batch: the batch holding 101 goes entirely
    assert log.log_end_offset == 100
    assert log.recovery_point <= 100
    assert append(log).base_offset == 100
    log.truncate_to(0)
    assert log.log_end_offset == 0 and len(log.segments) == 1
    assert append(log).base_offset == 0


def test_flush_policy_and_recovery_point(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", replace(SMALL, flush_interval_messages=7))
    assert not append(log, 3).flushed
    assert not append(log, 3).flushed
    assert append(log, 3).flushed
    assert log.recovery_point == 9
    timed = open_log(tmp_path / "t-1", replace(SMALL, flush_interval_ms=100))
    assert not append(timed, wall_ms=T0).flushed
    assert not append(timed, wall_ms=T0 + 99).flushed
    assert append(timed, wall_ms=T0 + 100).flushed
    append(timed)
    timed.flush(up_to=10)
    assert timed.recovery_point == 10


def test_reopen_after_clean_close_keeps_offsets(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for _ in range(50):
        append(log, 4)
    log.advance_log_start_offset(20)
    end, segments = log.log_end_offset, [s.base_offset for s in log.segments]
    log.flush()
    log.close()
    again = open_log(tmp_path / "t-0", recovery_point=end, log_start_offset=20)
    assert again.log_end_offset == end and again.recovery_point == end
    assert again.log_start_offset == 20
    assert [s.base_offset for s in again.segments] == segments
    assert append(again).base_offset == end


def test_delete_removes_directory(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log)
    log.delete()
    assert not (tmp_path / "t-0").exists()


@pytest.mark.parametrize("record_size", [40, 3_000, 20_000])
def test_reads_between_sparse_index_entries_cross_scan_chunks(
    tmp_path: Path, record_size: int
) -> None:
    """With index entries far apart, locating an offset scans headers over several of the
    segment's read chunks (SCAN_CHUNK_BYTES); batches may straddle a chunk's end. Every
    offset must still read back from its own batch, byte-identical to a whole-log read."""
    config = replace(SMALL, segment_bytes=1 << 22, index_interval_bytes=1 << 20)
    log = open_log(tmp_path / "t-0", config)
    results = [append(log, 2, size=record_size) for _ in range(max(40, 12_000 // record_size))]
    assert log.segments[0].size_bytes > 2 * segment.SCAN_CHUNK_BYTES
    everything = bytes(log.read(0, 1 << 30, log.log_end_offset, min_one_batch=False))
    assert offsets_in(everything) == [result.base_offset for result in results]
    for result in results:
        for offset in (result.base_offset, result.last_offset):
            data = log.read(offset, 1 << 30, log.log_end_offset, min_one_batch=False)
            assert offsets_in(data)[0] == result.base_offset
            start = everything.index(bytes(data)[: r.BATCH_HEADER_BYTES])
            assert bytes(data) == everything[start:]
            one = log.read(offset, 1, log.log_end_offset, min_one_batch=True)
            assert offsets_in(one) == [result.base_offset]
    reopened_headers = [h.base_offset for _, h in log.segments[0].headers_from(0)]
    assert reopened_headers == [result.base_offset for result in results]
