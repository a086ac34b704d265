"""Producer-state snapshots: written on roll and close, used on open, never trusted blindly."""

from __future__ import annotations

from pathlib import Path

from broker.core.producer_state import BatchInfo, Duplicate, ProducerStateManager
from broker.log.config import LogConfig
from broker.log.files import OS_FILES
from broker.log.partition_log import PartitionLog
from broker.log.producer_snapshots import snapshot_offsets, snapshot_path
from client.protocol import records as r

T0 = 1_700_000_000_000


def _open(directory: Path, config: LogConfig, *, needs_recovery: bool = False) -> PartitionLog:
    return PartitionLog.open(
        directory, config, recovery_point=0, log_start_offset=0, needs_recovery=needs_recovery
    )


def _append(log: PartitionLog, producer_id: int, sequence: int, count: int = 2) -> None:
    data = bytearray(
        r.build_batch(
            [b"v" * 50] * count,
            timestamp_ms=T0,
            producer_id=producer_id,
            producer_epoch=0,
            base_sequence=sequence,
        )
    )
    batches = r.validate_batches(data, max_batch_bytes=1 << 20).batches
    log.append(data, batches, leader_epoch=0, wall_ms=T0)


def _fill(log: PartitionLog, producers: int = 3, batches: int = 8) -> None:
    for sequence in range(batches):
        for producer_id in range(producers):
            _append(log, 100 + producer_id, sequence * 2)


def _full_replay(directory: Path, config: LogConfig) -> bytes:
    for offset in snapshot_offsets(OS_FILES, directory):
        snapshot_path(directory, offset).unlink()
    log = _open(directory, config, needs_recovery=True)
    state = log.producer_state.snapshot()
    for segment in log.segments:
        segment.close()
    return state


def test_close_writes_a_snapshot_that_open_uses(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    config = LogConfig()
    log = _open(directory, config)
    _fill(log)
    expected = log.producer_state.snapshot()
    end = log.log_end_offset
    log.close()
    assert snapshot_offsets(OS_FILES, directory) == [end]
    again = _open(directory, config)
    assert again.producer_state.snapshot() == expected
    verdict = again.producer_state.check(BatchInfo.of(100, 0, 14, 2))
    assert isinstance(verdict, Duplicate)
    again.close()
    assert _full_replay(directory, config) == expected


def test_roll_snapshots_and_replay_after_the_newest(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    config = LogConfig(segment_bytes=600)
    log = _open(directory, config)
    _fill(log, batches=10)
    assert len(log.segments) > 3
    expected = log.producer_state.snapshot()
    offsets = snapshot_offsets(OS_FILES, directory)
    assert offsets and offsets[-1] == log.active_segment.base_offset  # written at the last roll
    for segment in log.segments:  # a crash: no close, no final snapshot
        segment.close()
    recovered = _open(directory, config, needs_recovery=True)
    assert recovered.producer_state.snapshot() == expected
    recovered.close()


def test_corrupt_snapshot_is_discarded(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    config = LogConfig()
    log = _open(directory, config)
    _fill(log)
    expected = log.producer_state.snapshot()
    end = log.log_end_offset
    log.close()
    path = snapshot_path(directory, end)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    again = _open(directory, config)
    assert again.producer_state.snapshot() == expected
    assert not path.exists() or path.read_bytes() != bytes(data)
    again.close()


def test_truncation_below_a_snapshot_rebuilds_exactly(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    config = LogConfig(segment_bytes=600)
    log = _open(directory, config)
    _fill(log, batches=10)
    cut = log.log_end_offset // 2
    log.truncate_to(cut)
    assert all(offset <= log.log_end_offset for offset in snapshot_offsets(OS_FILES, directory))
    truncated = log.producer_state.snapshot()
    log.close()
    assert _full_replay(directory, config) == truncated
    assert truncated != ProducerStateManager().snapshot()
