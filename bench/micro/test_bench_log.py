"""Storage micro benchmarks: header-only validation, append, index lookups, fetch read,
offset by timestamp.

Figures are for comparison within one run (ratios), never asserted.
"""

from __future__ import annotations

import random
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from broker.log.config import LogConfig
from broker.log.files import OS_FILES
from broker.log.index import OffsetIndex, TimeIndex
from broker.log.partition_log import PartitionLog
from client.protocol import records as r

BATCH_BYTES = 16 * 1024
MIB = 1024 * 1024
T0 = 1_700_000_000_000


def batch_of_about(size_bytes: int, record_bytes: int = 1000) -> bytes:
    count = max(size_bytes // (record_bytes + 20), 1)
    return r.build_batch(
        [r.Record(0, T0 + i, b"key", b"v" * record_bytes, []) for i in range(count)]
    )


def open_log(directory: Path) -> PartitionLog:
    return PartitionLog.open(
        directory,
        LogConfig(segment_bytes=64 * MIB),
        recovery_point=0,
        log_start_offset=0,
        needs_recovery=False,
    )


def test_validate_1mib_of_16kib_batches(benchmark: BenchmarkFixture) -> None:
    one = batch_of_about(BATCH_BYTES)
    data = one * (MIB // len(one))
    result = benchmark(r.validate_batches, data, max_batch_bytes=MIB)
    assert result.size_bytes == len(data)


def test_append_16kib_batch(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    log = open_log(tmp_path / "bench-0")
    data = bytearray(batch_of_about(BATCH_BYTES))
    batches = r.validate_batches(data, max_batch_bytes=MIB).batches

    def append() -> None:
        log.append(data, batches, leader_epoch=0, wall_ms=T0)

    benchmark.pedantic(append, rounds=2000, iterations=1, warmup_rounds=10)
    assert log.log_end_offset > 0
    log.close()


def test_offset_index_lookup(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    index = OffsetIndex(OS_FILES.open(tmp_path / "bench.index"), 0, 10 * MIB)
    for entry in range(1, 100_001):
        index.append(entry * 16, entry * 4096)
    targets = [random.Random(7).randrange(1_600_000) for _ in range(1000)]

    def lookups() -> None:
        for target in targets:
            index.lookup(target)

    benchmark(lookups)  # 1000 lookups per round
    found = [index.lookup(target) for target in targets]
    assert found == [(t // 16 * 16, t // 16 * 4096) if t >= 16 else (0, 0) for t in targets]


def test_time_index_lookup(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """1000 lookups per round in a time index of 100,000 entries (1.2 MB of entries)."""
    index = TimeIndex(OS_FILES.open(tmp_path / "bench.timeindex"), 0, 10 * MIB)
    for entry in range(1, 100_001):
        assert index.maybe_append(T0 + entry * 1000, entry * 16)
    generator = random.Random(11)
    targets = [T0 + generator.randrange(1000, 100_001_000) for _ in range(1000)]

    def lookups() -> list[tuple[int, int]]:
        return [index.lookup(target) for target in targets]

    found = benchmark(lookups)
    expected = [(T0 + (t - T0) // 1000 * 1000, (t - T0) // 1000 * 16) for t in targets]
    assert found == expected


def test_offset_for_timestamp_8mib_log(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """ListOffsets by timestamp on an 8 MiB log of 16 KiB batches (one segment): the time
    index, the offset index, then the batch headers and the records of one batch."""
    log = open_log(tmp_path / "bench-0")
    data = bytearray(batch_of_about(BATCH_BYTES))
    per_batch = r.validate_batches(data, max_batch_bytes=MIB).batches[0][1].record_count
    appends = 8 * MIB // len(data)
    for number in range(appends):
        # Each batch's records are stamped T0 + its first offset + i (one ms per record).
        first = number * per_batch
        batch = bytearray(
            r.build_batch(
                [r.Record(0, T0 + first + i, b"key", b"v" * 1000, []) for i in range(per_batch)]
            )
        )
        batches = r.validate_batches(batch, max_batch_bytes=MIB).batches
        log.append(batch, batches, leader_epoch=0, wall_ms=T0)
    target = appends * per_batch // 2 + per_batch // 2  # mid-log, mid-batch

    found = benchmark(log.offset_for_timestamp, T0 + target)
    assert found == (target, T0 + target)
    log.close()


def test_fetch_read_1mib(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    log = open_log(tmp_path / "bench-0")
    data = bytearray(batch_of_about(BATCH_BYTES))
    batches = r.validate_batches(data, max_batch_bytes=MIB).batches
    for _ in range(8 * MIB // len(data)):
        log.append(data, batches, leader_epoch=0, wall_ms=T0)
    middle = log.log_end_offset // 2
    end = log.log_end_offset

    result = benchmark(log.read, middle, MIB, end, min_one_batch=True)
    assert MIB - len(data) < len(result) <= MIB
    log.close()


def test_tail_read_small_batches(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """A follower's read at the tail of a log of 2-record batches of 100 B (what linger.ms=0
    producers write): the last three batches, from an offset far from an index entry."""
    log = open_log(tmp_path / "bench-0")
    data = bytearray(r.build_batch([r.Record(0, T0 + i, None, b"v" * 100, []) for i in range(2)]))
    batches = r.validate_batches(data, max_batch_bytes=MIB).batches
    appended = 0
    while appended < 10_000 or log.active_segment._bytes_since_last_index_entry < 3_000:
        log.append(data, batches, leader_epoch=0, wall_ms=T0)
        appended += 1
    end = log.log_end_offset

    result = benchmark(log.read, end - 6, MIB, end, min_one_batch=True)
    assert [h.base_offset for _, h in r.iterate_batches(result)] == [end - 6, end - 4, end - 2]
    log.close()


def test_follower_append_1mib_chunk(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """A replica fetcher's append: 1 MiB of 16 KiB batches, offsets kept (header-only)."""
    one = batch_of_about(BATCH_BYTES)
    count = MIB // len(one)
    leader = open_log(tmp_path / "leader-0")
    batches = r.validate_batches(bytearray(one), max_batch_bytes=MIB).batches
    for _ in range(count):
        leader.append(bytearray(one), batches, leader_epoch=3, wall_ms=T0)
    chunk = bytes(leader.read(0, MIB, leader.log_end_offset, min_one_batch=True))
    leader.close()
    headers = r.validate_batches(chunk, max_batch_bytes=MIB, from_client=False).batches
    follower = open_log(tmp_path / "follower-0")

    def setup() -> tuple[tuple[bytes, list[tuple[int, r.BatchHeader]]], dict[str, int]]:
        follower.truncate_fully_and_start_at(0)
        follower.assign_epoch_start(3)  # steady state: the epoch is already known
        return (chunk, headers), {"wall_ms": T0}

    benchmark.pedantic(follower.append_as_follower, setup=setup, rounds=200, warmup_rounds=5)
    assert follower.log_end_offset == headers[-1][1].next_offset
    follower.close()
