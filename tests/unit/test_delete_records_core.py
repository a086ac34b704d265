"""DeleteRecords in the pure core and the log: the follower's log-start rule, the leader's low
watermark over its replicas, and the log moving its start (segments below it deleted, the
start kept across a crash through ``log-start-offset-checkpoint``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.core.partition import UNKNOWN_OFFSET, Partition, PartitionState
from broker.core.replica_fetcher import AppendRecords, UpdateHighWatermark
from broker.core.replication import apply_follower_effect, follower_log_start_offset
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.log.partition_log import OffsetOutOfRangeError, PartitionLog
from client.protocol import records as r

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256)
T0 = 1_700_000_000_000
KEY = ("t", 0)


def _append(log: PartitionLog, count: int = 4) -> None:
    batch = bytearray(r.build_batch([r.Record(0, T0, None, b"v" * 50, []) for _ in range(count)]))
    checked = r.validate_batches(batch, max_batch_bytes=1 << 20)
    log.append(batch, checked.batches, leader_epoch=0, wall_ms=T0)


def _log(directory: Path, batches: int = 60) -> PartitionLog:
    log = PartitionLog.open(
        directory, SMALL, recovery_point=0, log_start_offset=0, needs_recovery=False, wall_ms=T0
    )
    for _ in range(batches):
        _append(log)
    return log


# -- the follower's rule -------------------------------------------------------------------


def test_follower_takes_the_leader_start_bounded_by_its_own_log() -> None:
    # max(own, min(leader's, own LEO)), and never past its own high watermark.
    assert follower_log_start_offset(0, 40, 100, 100) == 40
    assert follower_log_start_offset(50, 40, 100, 100) == 50  # never back
    assert follower_log_start_offset(0, 140, 100, 100) == 100  # not past the own LEO
    assert follower_log_start_offset(0, 90, 100, 60) == 60  # nor the own HW
    assert follower_log_start_offset(30, UNKNOWN_OFFSET, 100, 100) == 30  # leader did not say


@given(
    own=st.integers(0, 50),
    leader=st.integers(-1, 200),
    end=st.integers(0, 200),
    hw=st.integers(0, 200),
)
def test_follower_rule_properties(own: int, leader: int, end: int, hw: int) -> None:
    hw = min(hw, end)
    own = min(own, hw)
    start = follower_log_start_offset(own, leader, end, hw)
    assert start >= own
    assert start <= max(own, hw) <= end
    assert start == own or start == min(leader, end, hw)


def _follower() -> Partition:
    partition = Partition("t", 0, uuid.uuid4(), 2, (1, 2), (1, 2), 1, 3, 1)
    partition.apply_state(PartitionState((1, 2), (1, 2), 1, 3, 1), 0)
    assert partition.is_follower
    return partition


def test_a_follower_applies_the_leader_start_from_an_empty_fetch(tmp_path: Path) -> None:
    log = _log(tmp_path / "t-0")
    partition = _follower()
    partition.on_local_append(log.log_end_offset, 0)
    segments = len(log.segments)
    changed = apply_follower_effect(UpdateHighWatermark(KEY, 240, 130), partition, log, _no_append)
    assert changed  # the next fetch reports the new start to the leader
    assert partition.high_watermark == 240
    assert log.log_start_offset == 130
    assert len(log.segments) < segments  # whole segments below 130 went at once
    assert log.segments[0].base_offset <= 130 < log.segments[0].next_offset
    with pytest.raises(OffsetOutOfRangeError):
        log.read(129, 100, 240, min_one_batch=True)
    assert r.parse_header(log.read(130, 1, 240, min_one_batch=True)).base_offset == 128
    # The same start again, or none: nothing to report.
    assert not apply_follower_effect(UpdateHighWatermark(KEY, 240, 130), partition, log, _no_append)
    assert not apply_follower_effect(UpdateHighWatermark(KEY, 240, -1), partition, log, _no_append)


def test_a_follower_behind_its_high_watermark_stops_there(tmp_path: Path) -> None:
    log = _log(tmp_path / "t-0")  # LEO 240
    partition = _follower()
    partition.on_local_append(log.log_end_offset, 0)
    # The leader's HW (and so ours) is 100 in this response; its start claims 200.
    apply_follower_effect(UpdateHighWatermark(KEY, 100, 200), partition, log, _no_append)
    assert (partition.high_watermark, log.log_start_offset) == (100, 100)


def test_an_append_carries_the_leader_start_too(tmp_path: Path) -> None:
    log = _log(tmp_path / "t-0", batches=10)  # LEO 40
    partition = _follower()
    partition.on_local_append(log.log_end_offset, 0)

    def append(effect: AppendRecords) -> int:
        _append(log)  # stands for the fetched batches: 40..43
        return 1

    effect = AppendRecords(KEY, b"x", leader_high_watermark=44, leader_log_start_offset=42)
    assert apply_follower_effect(effect, partition, log, append)
    assert (log.log_end_offset, partition.high_watermark, log.log_start_offset) == (44, 44, 42)


def _no_append(effect: AppendRecords) -> int:
    raise AssertionError("no records in these responses")


# -- the leader's low watermark --------------------------------------------------------------


def _leader() -> Partition:
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2, 3), (1, 2, 3), 1, 4, 1)
    partition.apply_state(PartitionState((1, 2, 3), (1, 2, 3), 1, 5, 2), 0)
    partition.on_local_append(100, 0)
    return partition


def test_low_watermark_waits_for_every_live_replica() -> None:
    partition = _leader()
    everyone = {1, 2, 3}.__contains__
    # Followers not heard from under this leadership hold it at -1 (Kafka's UnknownOffset).
    assert partition.low_watermark(50, everyone) == UNKNOWN_OFFSET
    outcome = partition.on_follower_fetch(2, 100, -1, 1, True, log_start_offset=50)
    assert outcome.log_start_offset_changed
    assert partition.low_watermark(50, everyone) == UNKNOWN_OFFSET  # 3 still unknown
    partition.on_follower_fetch(3, 100, -1, 2, True, log_start_offset=20)
    assert partition.low_watermark(50, everyone) == 20
    again = partition.on_follower_fetch(3, 100, -1, 3, True, log_start_offset=20)
    assert not again.log_start_offset_changed
    assert partition.on_follower_fetch(
        3, 100, -1, 4, True, log_start_offset=50
    ).log_start_offset_changed
    assert partition.low_watermark(50, everyone) == 50
    assert partition.low_watermark(60, everyone) == 50  # the leader moved further
    # A fetch that does not report a start (-1) leaves what the follower said last.
    assert not partition.on_follower_fetch(3, 100, -1, 5, True).log_start_offset_changed
    assert partition.followers[3].log_start_offset == 50


def test_low_watermark_ignores_replicas_on_dead_brokers() -> None:
    partition = _leader()
    partition.on_follower_fetch(2, 100, -1, 1, True, log_start_offset=50)
    assert partition.low_watermark(50, {1, 2}.__contains__) == 50  # 3 is fenced: not counted
    assert partition.low_watermark(50, {1}.__contains__) == 50


def test_a_new_leadership_forgets_the_followers_starts() -> None:
    partition = _leader()
    partition.on_follower_fetch(2, 100, -1, 1, True, log_start_offset=50)
    partition.on_follower_fetch(3, 100, -1, 1, True, log_start_offset=50)
    assert partition.low_watermark(50, lambda _: True) == 50
    partition.apply_state(PartitionState((1, 2, 3), (1, 2, 3), 1, 6, 3), 10)  # epoch 6
    assert partition.low_watermark(50, lambda _: True) == UNKNOWN_OFFSET


# -- the log ---------------------------------------------------------------------------------


def test_advancing_the_start_deletes_whole_segments_and_keeps_the_rest(tmp_path: Path) -> None:
    log = _log(tmp_path / "t-0")
    bases = [segment.base_offset for segment in log.segments]
    assert len(bases) > 3
    log.advance_log_start_offset(bases[2] + 1)
    assert [s.base_offset for s in log.segments] == bases[2:]
    assert not (tmp_path / "t-0" / f"{bases[0]:020d}.log").exists()
    assert (
        r.parse_header(log.read(bases[2] + 1, 1, 240, min_one_batch=True)).base_offset == bases[2]
    )
    log.advance_log_start_offset(bases[3])  # exactly a segment's base: the one before goes
    assert log.segments[0].base_offset == bases[3]
    log.advance_log_start_offset(log.log_end_offset)  # all: the active segment stays
    assert len(log.segments) == 1 and log.log_start_offset == log.log_end_offset == 240
    with pytest.raises(OffsetOutOfRangeError):
        log.advance_log_start_offset(241)
    log.advance_log_start_offset(10)  # never back
    assert log.log_start_offset == 240


def test_the_start_survives_a_crash_through_the_checkpoint(tmp_path: Path) -> None:
    dirs = [tmp_path / "d"]
    manager = LogManager.open(dirs, SMALL, wall_ms=T0)
    log = manager.create("t", 0, wall_ms=T0)
    for _ in range(60):
        _append(log)
    log.advance_log_start_offset(130)  # mid-segment: only the checkpoint knows 130
    log.flush()
    manager.checkpoint({("t", 0): 240})
    # No close: the process dies here.
    again = LogManager.open(dirs, SMALL, wall_ms=T0)
    reopened = again.get("t", 0)
    assert reopened is not None
    assert reopened.log_start_offset == 130
    with pytest.raises(OffsetOutOfRangeError):
        reopened.read(129, 100, 240, min_one_batch=True)
