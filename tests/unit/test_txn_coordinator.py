"""The sans-IO transaction coordinator: its state machine, fencing, timeouts, loading, and
the ``__transaction_state`` record format."""

from __future__ import annotations

import pytest

from broker.core.txn_coordinator import (
    MAX_PRODUCER_EPOCH,
    NEED_PRODUCER_ID,
    Answer,
    Markers,
    TxnCoordinator,
    TxnCoordinatorConfig,
    TxnMetadata,
    Write,
)
from broker.core.txn_log import (
    TxnLogError,
    TxnLogValue,
    TxnState,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from client.protocol.errors import ErrorCode

TID = "payments"
T0 = 1_000_000
COORDINATOR_EPOCH = 7
CONFIG = TxnCoordinatorConfig(transaction_state_log_num_partitions=4)


class Shell:
    """What the broker does with the coordinator's steps, synchronously: writes always
    commit, markers always succeed (unless told otherwise)."""

    def __init__(self) -> None:
        self.core = TxnCoordinator(CONFIG)
        self.log: list[tuple[int, bytes, bytes | None]] = []
        self.markers: list[Markers] = []
        self.next_id = 100
        for partition in range(4):
            self.core.begin_load(partition)
            self.core.load_complete(partition, COORDINATOR_EPOCH)

    def run(self, step: Write | Answer) -> ErrorCode:
        if isinstance(step, Answer):
            return step.error
        self.log.append((step.partition, step.key, step.value))
        markers = self.core.written(step)
        if markers is not None:
            self.markers.append(markers)
        return step.error

    def init(self, tid: str = TID, now: int = T0, **kwargs: int) -> Answer:
        fresh = None
        while True:
            step = self.core.init_producer_id(tid, 60_000, now, fresh_producer_id=fresh, **kwargs)
            if step is not NEED_PRODUCER_ID:
                break
            fresh = self.next_id
            self.next_id += 1
        if isinstance(step, Answer):
            return step
        assert isinstance(step, Write) and step.target is not None
        self.run(step)
        return Answer(step.error, step.target.producer_id, step.target.producer_epoch)

    def finish_markers(self, now: int = T0) -> None:
        while self.markers:
            completion = self.core.markers_written(self.markers.pop(0), now)
            if completion is not None:
                self.run(completion)

    def state(self, tid: str = TID) -> TxnMetadata:
        found = self.core.describe(tid)
        assert isinstance(found, TxnMetadata)
        return found


def test_first_init_allocates_a_producer_id_at_epoch_zero() -> None:
    shell = Shell()
    answer = shell.init()
    assert answer == Answer(ErrorCode.NONE, 100, 0)
    assert shell.state().state is TxnState.EMPTY
    again = shell.init()
    assert again == Answer(ErrorCode.NONE, 100, 1)  # the same id, the next epoch


def test_commit_flow_writes_prepare_markers_complete() -> None:
    shell = Shell()
    answer = shell.init()
    pid, epoch = answer.producer_id, answer.producer_epoch
    step = shell.core.add_partitions(TID, pid, epoch, [("t", 0), ("t", 1)], T0 + 1)
    assert shell.run(step) is ErrorCode.NONE
    assert shell.state().state is TxnState.ONGOING and shell.state().start_ms == T0 + 1
    # Adding what is already in: nothing to write.
    assert shell.core.add_partitions(TID, pid, epoch, [("t", 0)], T0 + 2) == Answer(ErrorCode.NONE)
    assert shell.run(shell.core.end_txn(TID, pid, epoch, True, T0 + 3)) is ErrorCode.NONE
    assert shell.state().state is TxnState.PREPARE_COMMIT
    (markers,) = shell.markers
    assert markers == Markers(
        TID, pid, epoch, True, COORDINATOR_EPOCH, frozenset({("t", 0), ("t", 1)})
    )
    # While the markers are being written, the client's retry is told to wait.
    assert shell.core.end_txn(TID, pid, epoch, True, T0 + 4) == Answer(
        ErrorCode.CONCURRENT_TRANSACTIONS
    )
    shell.finish_markers()
    assert shell.state().state is TxnState.COMPLETE_COMMIT and not shell.state().partitions
    assert shell.core.end_txn(TID, pid, epoch, True, T0 + 5) == Answer(ErrorCode.NONE)
    assert shell.core.end_txn(TID, pid, epoch, False, T0 + 5) == Answer(ErrorCode.INVALID_TXN_STATE)


def test_requests_of_a_stale_or_unknown_producer_are_refused() -> None:
    shell = Shell()
    answer = shell.init()
    pid = answer.producer_id
    assert shell.core.add_partitions(TID, pid, 5, [("t", 0)], T0) == Answer(
        ErrorCode.PRODUCER_FENCED
    )
    assert shell.core.add_partitions(TID, pid + 1, 0, [("t", 0)], T0) == Answer(
        ErrorCode.INVALID_PRODUCER_ID_MAPPING
    )
    assert shell.core.end_txn("nobody", pid, 0, True, T0) == Answer(
        ErrorCode.INVALID_PRODUCER_ID_MAPPING
    )
    assert shell.core.end_txn(TID, pid, 0, True, T0) == Answer(ErrorCode.INVALID_TXN_STATE)


def test_a_write_in_flight_makes_other_requests_wait() -> None:
    shell = Shell()
    answer = shell.init()
    step = shell.core.add_partitions(TID, answer.producer_id, 0, [("t", 0)], T0)
    assert isinstance(step, Write)
    assert shell.core.end_txn(TID, answer.producer_id, 0, True, T0) == Answer(
        ErrorCode.CONCURRENT_TRANSACTIONS
    )
    shell.core.write_failed(step)  # not committed: the state stays Empty
    assert shell.state().state is TxnState.EMPTY
    assert shell.run(shell.core.add_partitions(TID, answer.producer_id, 0, [("t", 0)], T0)) == (
        ErrorCode.NONE
    )


def test_init_during_an_open_transaction_fences_and_aborts_it() -> None:
    shell = Shell()
    first = shell.init()
    pid = first.producer_id
    shell.run(shell.core.add_partitions(TID, pid, 0, [("t", 0)], T0))
    retry_later = shell.init(now=T0 + 10)
    assert retry_later.error is ErrorCode.CONCURRENT_TRANSACTIONS
    assert shell.state().state is TxnState.PREPARE_ABORT and shell.state().producer_epoch == 1
    (markers,) = shell.markers
    assert (markers.commit, markers.producer_epoch) == (False, 1)  # the marker fences epoch 0
    shell.finish_markers()
    assert shell.init(now=T0 + 20) == Answer(ErrorCode.NONE, pid, 2)
    # The fenced producer's requests are refused.
    assert shell.core.end_txn(TID, pid, 0, True, T0 + 30) == Answer(ErrorCode.PRODUCER_FENCED)


def test_kip360_bump_checks_the_presented_epoch() -> None:
    shell = Shell()
    shell.init()
    bumped = shell.init(expected_producer_id=100, expected_epoch=0)
    assert bumped == Answer(ErrorCode.NONE, 100, 1)
    # A retry presenting the epoch before the bump gets the same answer again.
    assert shell.init(expected_producer_id=100, expected_epoch=0) == bumped
    assert shell.init(expected_producer_id=100, expected_epoch=7).error is ErrorCode.PRODUCER_FENCED


def test_an_exhausted_epoch_moves_to_a_new_producer_id() -> None:
    shell = Shell()
    shell.init()
    state = shell.state()
    # Replay a record at the last usable epoch.
    worn = TxnLogValue(
        state.producer_id, MAX_PRODUCER_EPOCH, 60_000, TxnState.EMPTY, frozenset(), T0, -1
    )
    partition = shell.core.partition_for(TID)
    shell.core.begin_load(partition)
    shell.core.replay(partition, encode_key(TID), encode_value(worn))
    shell.core.load_complete(partition, COORDINATOR_EPOCH + 1)
    assert shell.init() == Answer(ErrorCode.NONE, 101, 0)


def test_timed_out_transactions_are_aborted_with_a_bumped_epoch() -> None:
    shell = Shell()
    answer = shell.init()
    shell.run(shell.core.add_partitions(TID, answer.producer_id, 0, [("t", 3)], T0))
    assert shell.core.expire(T0 + 60_000) == []
    (abort,) = shell.core.expire(T0 + 60_001)
    shell.run(abort)
    assert shell.state().state is TxnState.PREPARE_ABORT and shell.state().producer_epoch == 1
    shell.finish_markers()
    assert shell.state().state is TxnState.COMPLETE_ABORT


def test_idle_ids_expire_with_a_tombstone() -> None:
    shell = Shell()
    shell.init()
    later = T0 + CONFIG.transactional_id_expiration_ms + 1
    (tombstone,) = shell.core.expire(later)
    assert tombstone.target is None and tombstone.value is None
    shell.run(tombstone)
    assert shell.core.describe(TID) is ErrorCode.TRANSACTIONAL_ID_NOT_FOUND


def test_a_loaded_partition_resumes_decided_transactions_and_respects_ownership() -> None:
    shell = Shell()
    answer = shell.init()
    shell.run(shell.core.add_partitions(TID, answer.producer_id, 0, [("t", 0)], T0))
    shell.run(shell.core.end_txn(TID, answer.producer_id, 0, False, T0))
    # The coordinator dies before the markers; another one replays the log.
    successor = TxnCoordinator(CONFIG)
    partition = successor.partition_for(TID)
    assert successor.end_txn(TID, answer.producer_id, 0, False, T0) == Answer(
        ErrorCode.NOT_COORDINATOR
    )
    successor.begin_load(partition)
    assert successor.end_txn(TID, answer.producer_id, 0, False, T0) == Answer(
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    )
    for record_partition, key, value in shell.log:
        if record_partition == partition:
            successor.replay(partition, key, value)
    successor.replay(partition, b"\x00\x09garbage", b"")  # unreadable: skipped
    (resumed,) = successor.load_complete(partition, COORDINATOR_EPOCH + 1)
    assert (resumed.commit, resumed.coordinator_epoch) == (False, COORDINATOR_EPOCH + 1)
    successor.unload(partition)
    assert successor.describe(TID) is ErrorCode.NOT_COORDINATOR


def test_list_filters() -> None:
    shell = Shell()
    for tid in ("a", "b", "c"):
        shell.init(tid)
    b = shell.state("b")
    shell.run(shell.core.add_partitions("b", b.producer_id, b.producer_epoch, [("t", 0)], T0))
    assert [t.transactional_id for t in shell.core.list()] == ["a", "b", "c"]
    ongoing = shell.core.list(frozenset({TxnState.ONGOING}))
    assert [t.transactional_id for t in ongoing] == ["b"]
    assert [
        t.transactional_id for t in shell.core.list(producer_ids=frozenset({b.producer_id}))
    ] == ["b"]
    assert [t.transactional_id for t in shell.core.list(id_pattern="[ac]")] == ["a", "c"]
    assert shell.core.list(min_duration_ms=10, now_ms=T0 + 5) == []
    assert [t.transactional_id for t in shell.core.list(min_duration_ms=10, now_ms=T0 + 10)] == [
        "b"
    ]


def test_timeout_and_id_validation() -> None:
    core = Shell().core
    assert core.init_producer_id(TID, 0, T0) == Answer(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
    too_long = CONFIG.transaction_max_timeout_ms + 1
    assert core.init_producer_id(TID, too_long, T0) == Answer(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
    assert core.init_producer_id("", 1000, T0) == Answer(ErrorCode.INVALID_REQUEST)


def test_log_records_round_trip_in_kafkas_layout() -> None:
    value = TxnLogValue(
        42,
        3,
        60_000,
        TxnState.PREPARE_COMMIT,
        frozenset({("b", 1), ("a", 0), ("a", 2)}),
        T0,
        T0 - 5,
    )
    encoded = encode_value(value)
    # version 0, pid, epoch, timeout, status, 2 topics: "a" [0, 2], "b" [1], timestamps
    assert encoded[:17] == bytes.fromhex("0000000000000000002a00030000ea6002")
    assert decode_value(encoded) == value
    assert decode_key(encode_key("tx-é")) == "tx-é"
    assert encode_key("ab") == b"\x00\x00\x00\x02ab"
    for bad in (encoded[:-1], b"\x00\x01" + encoded[2:], encoded[:16] + b"\x09" + encoded[17:]):
        with pytest.raises(TxnLogError):
            decode_value(bad)
    assert TxnState.PREPARE_COMMIT.display_name == "PrepareCommit"
