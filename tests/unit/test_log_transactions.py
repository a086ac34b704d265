"""Transactions in the log: markers, the last stable offset, the aborted-transaction index
(``.txnindex``) across restarts, recovery, truncation and retention, and producer fencing."""

from __future__ import annotations

import struct
from pathlib import Path

from broker.core.producer_state import BatchInfo, Reject
from broker.log.config import LogConfig
from broker.log.partition_log import AppendResult, PartitionLog
from broker.log.txn_index import AbortedTxn
from client.protocol import records as r
from client.protocol.errors import ErrorCode

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256)
T0 = 1_700_000_000_000
LEADER_EPOCH = 3


def open_log(directory: Path, *, needs_recovery: bool = False) -> PartitionLog:
    return PartitionLog.open(
        directory, SMALL, recovery_point=0, log_start_offset=0, needs_recovery=needs_recovery
    )


def produce(
    log: PartitionLog,
    pid: int,
    sequence: int,
    *,
    epoch: int = 0,
    count: int = 2,
    transactional: bool = True,
) -> AppendResult | Reject:
    """As the leader does: check the producer state, then append."""
    data = bytearray(
        r.build_batch(
            [b"x" * 40] * count,
            timestamp_ms=T0,
            producer_id=pid,
            producer_epoch=epoch,
            base_sequence=sequence,
            transactional=transactional,
        )
    )
    checked = r.validate_batches(data, max_batch_bytes=1 << 20)
    verdict = log.producer_state.check(
        BatchInfo.of(pid, epoch, sequence, count, is_transactional=transactional)
    )
    if isinstance(verdict, Reject):
        return verdict
    return log.append(data, checked.batches, leader_epoch=LEADER_EPOCH, wall_ms=T0)


def end_txn(
    log: PartitionLog, pid: int, *, commit: bool, epoch: int = 0, coordinator_epoch: int = 0
) -> AppendResult | Reject:
    refused = log.check_marker(pid, epoch, coordinator_epoch)
    if refused is not None:
        return refused
    return log.append_marker(
        producer_id=pid,
        producer_epoch=epoch,
        coordinator_epoch=coordinator_epoch,
        commit=commit,
        leader_epoch=LEADER_EPOCH,
        wall_ms=T0,
    )


def appended(result: AppendResult | Reject) -> AppendResult:
    assert isinstance(result, AppendResult), result
    return result


def test_marker_is_a_control_batch_in_kafkas_format(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    appended(produce(log, 7, 0))
    marker = appended(end_txn(log, 7, commit=True, epoch=0, coordinator_epoch=9))
    data = log.read(marker.base_offset, 1 << 20, log.log_end_offset, min_one_batch=True)
    header = r.parse_header(data)
    assert header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 0, -1)
    (record,) = r.decode_records(data)
    assert record.key == struct.pack(">hh", 0, 1)  # version 0, COMMIT
    assert record.value == struct.pack(">hi", 0, 9)  # version 0, coordinator epoch


def test_last_stable_offset_waits_for_the_oldest_open_transaction(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    appended(produce(log, 1, 0, transactional=False))  # offsets 0-1, plain idempotent
    first = appended(produce(log, 2, 0))  # 2-3 opens producer 2's transaction
    appended(produce(log, 3, 0))  # 4-5 opens producer 3's
    appended(produce(log, 2, 2))  # 6-7
    end = log.log_end_offset
    assert log.last_stable_offset(end) == first.base_offset == 2
    assert log.last_stable_offset(1) == 1  # never above the high watermark
    commit = appended(end_txn(log, 2, commit=True))  # marker at 8
    # The marker is not below the high watermark yet: the transaction still holds the LSO.
    assert log.last_stable_offset(commit.base_offset) == 2
    assert log.last_stable_offset(commit.base_offset + 1) == 4  # producer 3 is open
    appended(end_txn(log, 3, commit=False))
    assert log.last_stable_offset(log.log_end_offset) == log.log_end_offset


def test_aborted_transactions_are_indexed_and_collected_by_range(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    appended(produce(log, 5, 0))  # 0-1
    abort = appended(end_txn(log, 5, commit=False))  # 2
    appended(produce(log, 5, 2))  # 3-4
    appended(end_txn(log, 5, commit=True))  # 5: committed, not indexed
    appended(produce(log, 6, 0))  # 6-7
    second = appended(end_txn(log, 6, commit=False))  # 8
    assert log.aborted_transactions(0, 100) == [
        AbortedTxn(5, 0, abort.base_offset, abort.base_offset + 1),
        AbortedTxn(6, 6, second.base_offset, second.base_offset + 1),
    ]
    assert [a.producer_id for a in log.aborted_transactions(3, 100)] == [6]
    assert [a.producer_id for a in log.aborted_transactions(0, 6)] == [5]
    assert log.aborted_transactions(9, 100) == []


def test_index_survives_a_clean_restart_and_is_rebuilt_after_a_crash(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory)
    for pid in range(10, 40):  # enough to roll segments (4 KiB each)
        appended(produce(log, pid, 0, count=5))
        appended(end_txn(log, pid, commit=pid % 2 == 0))
    assert len(log.segments) > 2
    expected = log.aborted_transactions(0, log.log_end_offset)
    assert len(expected) == 15
    assert any(name.endswith(".txnindex") for name in (p.name for p in directory.iterdir()))
    log.close()
    assert open_log(directory).aborted_transactions(0, 1 << 40) == expected
    for path in directory.glob("*.txnindex"):
        path.unlink()
    for path in directory.glob("*.snapshot"):
        path.unlink()
    recovered = open_log(directory, needs_recovery=True)
    assert recovered.aborted_transactions(0, 1 << 40) == expected


def test_open_transaction_is_rebuilt_from_snapshot_and_log(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory)
    first = appended(produce(log, 8, 0))
    log.roll(T0)  # snapshots the producer state with the transaction open
    appended(produce(log, 8, 2))
    log.close()
    reopened = open_log(directory, needs_recovery=True)
    assert reopened.last_stable_offset(reopened.log_end_offset) == first.base_offset
    appended(end_txn(reopened, 8, commit=False))
    assert reopened.aborted_transactions(0, 1 << 40) == [AbortedTxn(8, first.base_offset, 4, 5)]


def test_truncation_removes_markers_and_reopens_their_transactions(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    first = appended(produce(log, 4, 0))
    marker = appended(end_txn(log, 4, commit=False))
    assert log.aborted_transactions(0, 100) != []
    log.truncate_to(marker.base_offset)
    assert log.aborted_transactions(0, 100) == []
    assert log.last_stable_offset(log.log_end_offset) == first.base_offset


def test_retention_drops_the_entries_of_deleted_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for pid in range(50, 80):
        appended(produce(log, pid, 0, count=5))
        appended(end_txn(log, pid, commit=False))
    before = log.aborted_transactions(0, 1 << 40)
    log.advance_log_start_offset(log.segments[2].base_offset)
    after = log.aborted_transactions(0, 1 << 40)
    assert after == [a for a in before if a.last_offset >= log.segments[0].base_offset]
    assert len(after) < len(before)


def test_a_marker_with_a_new_epoch_fences_the_old_one(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    appended(produce(log, 9, 0, epoch=0))
    # The coordinator fenced the producer (InitProducerId again): it aborts with epoch 1.
    appended(end_txn(log, 9, commit=False, epoch=1))
    zombie = produce(log, 9, 2, epoch=0)
    assert isinstance(zombie, Reject) and zombie.error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    stale_marker = end_txn(log, 9, commit=True, epoch=0)
    assert isinstance(stale_marker, Reject)
    assert stale_marker.error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    out_of_order = produce(log, 9, 5, epoch=1)
    assert isinstance(out_of_order, Reject)
    assert out_of_order.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    appended(produce(log, 9, 0, epoch=1))


def test_coordinator_epoch_fences_markers_of_an_older_coordinator(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    appended(produce(log, 11, 0))
    appended(end_txn(log, 11, commit=True, coordinator_epoch=4))
    stale = end_txn(log, 11, commit=False, coordinator_epoch=3)
    assert isinstance(stale, Reject)
    assert stale.error_code == ErrorCode.TRANSACTION_COORDINATOR_FENCED


def test_plain_batch_during_a_transaction_is_refused(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    appended(produce(log, 12, 0))
    plain = produce(log, 12, 2, transactional=False)
    assert isinstance(plain, Reject) and plain.error_code == ErrorCode.INVALID_TXN_STATE
    appended(end_txn(log, 12, commit=True))
    appended(produce(log, 12, 2, transactional=False))


def test_follower_replay_gives_the_leaders_index(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "t-0")
    appended(produce(leader, 20, 0))
    appended(produce(leader, 21, 0))
    appended(end_txn(leader, 20, commit=False))
    appended(end_txn(leader, 21, commit=True))
    data = bytearray(leader.read(0, 1 << 20, leader.log_end_offset, min_one_batch=True))
    follower = open_log(tmp_path / "f" / "t-0")
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    follower.append_as_follower(data, checked.batches, wall_ms=T0)
    assert follower.aborted_transactions(0, 100) == leader.aborted_transactions(0, 100)
    end = follower.log_end_offset
    assert follower.last_stable_offset(end) == leader.last_stable_offset(end) == end
