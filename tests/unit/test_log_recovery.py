"""Recovery: what makes kill -9 safe. Torn and corrupted tails, lost and corrupt indexes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from broker.log.config import LogConfig
from broker.log.partition_log import PartitionLog
from client.protocol import records as r

CONFIG = LogConfig(segment_bytes=1 << 20, index_interval_bytes=200)
T0 = 1_700_000_000_000


def open_log(directory: Path, *, needs_recovery: bool, recovery_point: int = 0) -> PartitionLog:
    return PartitionLog.open(
        directory,
        CONFIG,
        recovery_point=recovery_point,
        log_start_offset=0,
        needs_recovery=needs_recovery,
    )


def fill(directory: Path, batches: int = 12, per_batch: int = 3) -> list[tuple[int, int]]:
    """Write batches and close cleanly; returns (file position, next offset) per batch."""
    log = open_log(directory, needs_recovery=False)
    ends = []
    for batch in range(batches):
        data = bytearray(
            r.build_batch(
                [
                    r.Record(0, T0 + batch * 10 + i, b"k", b"v" * 40, [("h", b"x")])
                    for i in range(per_batch)
                ],
                compression=r.COMPRESSION_GZIP if batch % 2 else r.COMPRESSION_NONE,
            )
        )
        checked = r.validate_batches(data, max_batch_bytes=1 << 20)
        result = log.append(data, checked.batches, leader_epoch=1, wall_ms=T0)
        ends.append((log.active_segment.size_bytes, result.last_offset + 1))
    log.flush()
    log.close()
    return ends


def segment_file(directory: Path, suffix: str = ".log") -> Path:
    return directory / f"{0:020d}{suffix}"


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def restore(directory: Path, files: dict[str, bytes]) -> None:
    for path in directory.iterdir():
        path.unlink()
    for name, content in files.items():
        (directory / name).write_bytes(content)


def assert_readable(log: PartitionLog) -> None:
    offset = 0
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20, log.log_end_offset, min_one_batch=True)
        checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
        offset = checked.batches[-1][1].next_offset
    assert offset == log.log_end_offset


def test_truncation_at_every_byte_of_the_tail_batch(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    ends = fill(directory)
    (previous_end, previous_offset), (full_end, full_offset) = ends[-2], ends[-1]
    original = snapshot(directory)
    for cut in range(previous_end, full_end + 1):
        restore(directory, original)
        os.truncate(segment_file(directory), cut)
        log = open_log(directory, needs_recovery=True)
        expected = full_offset if cut == full_end else previous_offset
        assert log.log_end_offset == expected, cut
        assert log.active_segment.size_bytes == (full_end if cut == full_end else previous_end)
        assert log.recovery_point == expected
        assert_readable(log)
        log.close()


def test_flipped_byte_anywhere_in_the_tail_batch(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    ends = fill(directory)
    (previous_end, previous_offset), (full_end, _) = ends[-2], ends[-1]
    original = snapshot(directory)
    for position in range(previous_end, full_end):
        if position - previous_end in range(0, 8) or position - previous_end in range(12, 16):
            continue  # base offset and leader epoch lie outside the CRC
        restore(directory, original)
        content = bytearray(original[segment_file(directory).name])
        content[position] ^= 0x40
        segment_file(directory).write_bytes(content)
        log = open_log(directory, needs_recovery=True)
        assert log.log_end_offset == previous_offset, position
        assert log.active_segment.size_bytes == previous_end
        log.close()


def test_corruption_in_middle_drops_the_rest(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    ends = fill(directory)
    content = bytearray(segment_file(directory).read_bytes())
    content[ends[4][0] + 30] ^= 0xFF
    segment_file(directory).write_bytes(content)
    log = open_log(directory, needs_recovery=True)
    assert log.log_end_offset == ends[4][1]
    assert_readable(log)


def test_zero_filled_tail_is_cut(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    ends = fill(directory)
    with segment_file(directory).open("ab") as handle:
        handle.write(b"\x00" * 5000)
    log = open_log(directory, needs_recovery=True)
    assert log.log_end_offset == ends[-1][1]
    assert log.active_segment.size_bytes == ends[-1][0]


def test_clean_shutdown_skips_recovery(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    ends = fill(directory)
    log = open_log(directory, needs_recovery=False, recovery_point=ends[-1][1])
    assert log.log_end_offset == ends[-1][1]
    assert log.recovery_point == ends[-1][1]


@pytest.mark.parametrize("suffix", [".index", ".timeindex"])
@pytest.mark.parametrize("damage", ["missing", "partial", "garbage", "zeros"])
def test_index_missing_or_corrupt_is_rebuilt(tmp_path: Path, suffix: str, damage: str) -> None:
    directory = tmp_path / "t-0"
    ends = fill(directory, batches=30)
    pristine = {
        name: (directory / f"{0:020d}{name}").read_bytes() for name in (".index", ".timeindex")
    }
    assert pristine[".index"] and pristine[".timeindex"]
    target = segment_file(directory, suffix)
    if damage == "missing":
        target.unlink()
    elif damage == "partial":
        target.write_bytes(target.read_bytes()[:-3])
    elif damage == "garbage":
        target.write_bytes(b"\x7f" * (len(target.read_bytes()) // 12 * 12 + 24))
    else:
        target.write_bytes(target.read_bytes() + b"\x00" * 120)
    log = open_log(directory, needs_recovery=False, recovery_point=ends[-1][1])
    assert log.log_end_offset == ends[-1][1]
    assert_readable(log)
    assert log.offset_for_timestamp(T0 + 55) == (18, T0 + 60)
    log.close()
    for name, content in pristine.items():
        assert (directory / f"{0:020d}{name}").read_bytes() == content, name


def test_orphan_index_and_leftovers_removed(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    fill(directory)
    (directory / f"{500:020d}.index").write_bytes(b"")
    (directory / f"{400:020d}.log.deleted").write_bytes(b"x")
    log = open_log(directory, needs_recovery=False)
    end = log.log_end_offset
    log.close()
    assert sorted(path.name for path in directory.iterdir()) == [
        f"{0:020d}.index",
        f"{0:020d}.log",
        f"{0:020d}.timeindex",
        f"{end:020d}.snapshot",  # the producer-state snapshot written on close
        "leader-epoch-checkpoint",
    ]


def test_recovery_across_segments(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    config = replace(CONFIG, segment_bytes=1500)
    log = PartitionLog.open(
        directory, config, recovery_point=0, log_start_offset=0, needs_recovery=False
    )
    for _ in range(40):
        data = bytearray(r.build_batch([b"x" * 100, b"y" * 100], timestamp_ms=T0))
        log.append(data, r.validate_batches(data, max_batch_bytes=1 << 20).batches,
                   leader_epoch=0, wall_ms=T0)  # fmt: skip
    log.close()
    names = sorted(path.name for path in directory.glob("*.log"))
    assert len(names) > 3
    last = directory / names[-1]
    os.truncate(last, last.stat().st_size - 1)
    again = PartitionLog.open(
        directory, config, recovery_point=40, log_start_offset=0, needs_recovery=True
    )
    assert again.log_end_offset == 78
    assert len(again.segments) == len(names)
