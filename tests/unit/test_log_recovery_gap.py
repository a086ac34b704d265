"""Recovery after power loss keeps the log dense: a segment that lost its unsynced bytes (all
of them, so nothing is cut and no CRC fails) must not leave later segments after a hole.

Found by the simulation (``python -m tests.sim --seed 13``): with ``flush.messages`` unset, a
rolled segment is never fsynced, while a later one is (a follower's truncation flushes the active
segment); power loss then empties the first segment and keeps the later one, and the log served
offsets 0..N-1 as if they were the records at N.
"""

from __future__ import annotations

import os
from pathlib import Path

from broker.log.config import LogConfig
from broker.log.partition_log import PartitionLog
from broker.log.segment import LOG_SUFFIX, file_name
from client.protocol import records as r

CONFIG = LogConfig(segment_bytes=300, index_interval_bytes=100)


def open_log(directory: Path, *, needs_recovery: bool) -> PartitionLog:
    return PartitionLog.open(
        directory, CONFIG, recovery_point=0, log_start_offset=0, needs_recovery=needs_recovery
    )


def append(log: PartitionLog, value: bytes) -> None:
    data = bytearray(r.build_batch([value]))
    checked = r.validate_batches(data, max_batch_bytes=1 << 20)
    log.append(data, checked.batches, leader_epoch=1, wall_ms=0)


def offsets(log: PartitionLog) -> list[int]:
    found = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20, 1 << 62, min_one_batch=True)
        for _, header in r.iterate_batches(data):
            found.append(header.base_offset)
            offset = header.next_offset
    return found


def test_a_segment_emptied_by_power_loss_drops_the_later_segments(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, needs_recovery=False)
    for index in range(12):
        append(log, b"value-%02d" % index)
    bases = [segment.base_offset for segment in log.segments]
    assert len(bases) >= 3, bases
    log.active_segment.flush()  # only the active segment reached the disk
    del log  # power loss: no close, no clean-shutdown marker
    os.truncate(directory / file_name(bases[0], LOG_SUFFIX), 0)  # its bytes never synced

    reopened = open_log(directory, needs_recovery=True)

    assert offsets(reopened) == list(range(reopened.log_start_offset, reopened.log_end_offset))
    assert reopened.log_end_offset == 0
    assert [segment.base_offset for segment in reopened.segments] == [0]


def test_a_segment_cut_short_drops_the_later_segments(tmp_path: Path) -> None:
    """Part of the first segment survives: the log ends where it does."""
    directory = tmp_path / "t-0"
    log = open_log(directory, needs_recovery=False)
    for index in range(12):
        append(log, b"value-%02d" % index)
    first = log.segments[0]
    batch_bytes = first.size_bytes // (first.next_offset - first.base_offset)
    log.active_segment.flush()
    del log
    os.truncate(directory / file_name(0, LOG_SUFFIX), batch_bytes)  # one whole batch left

    reopened = open_log(directory, needs_recovery=True)

    assert offsets(reopened) == [0]
    assert reopened.log_end_offset == 1
