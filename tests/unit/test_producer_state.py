"""Producer state for idempotent producers: windows, sequences, epochs, expiry, rebuilds."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

import crc32c
import pytest

from broker.core.producer_state import (
    APPEND,
    MAX_PRODUCERS_PER_PARTITION,
    MAX_SEQUENCE,
    NUM_BATCHES_TO_RETAIN,
    PRODUCER_ID_BLOCK_SIZE,
    SNAPSHOT_VERSION,
    BatchInfo,
    CorruptSnapshotError,
    Duplicate,
    NeedBlock,
    ProducerIdAllocator,
    ProducerStateEntry,
    ProducerStateManager,
    Reject,
    Verdict,
    increment_sequence,
)
from client.protocol.errors import ErrorCode

PID = 4242
RECORDS = 10


def batch(
    sequence: int, count: int = RECORDS, epoch: int = 0, pid: int = PID, txn: bool = False
) -> BatchInfo:
    return BatchInfo.of(pid, epoch, sequence, count, txn)


@dataclass
class Log:
    """A leader's partition: check, append at the log end, update; the log keeps the headers."""

    state: ProducerStateManager = field(default_factory=ProducerStateManager)
    batches: list[tuple[BatchInfo, int, int, int]] = field(default_factory=list)
    end_offset: int = 0

    def produce(self, info: BatchInfo, timestamp_ms: int = 1_000) -> Verdict:
        verdict = self.state.check(info)
        if verdict == APPEND:
            first, last = self.end_offset, self.end_offset + info.record_count - 1
            self.batches.append((info, first, last, timestamp_ms))
            self.state.update(info, first, last, timestamp_ms)
            self.end_offset = last + 1
        return verdict


def replay(batches: list[tuple[BatchInfo, int, int, int]]) -> ProducerStateManager:
    """What a follower or log recovery builds: update() for every batch read back."""
    state = ProducerStateManager()
    for info, first, last, timestamp_ms in batches:
        state.update(info, first, last, timestamp_ms)
    return state


def entries(state: ProducerStateManager) -> list[tuple[int, ProducerStateEntry]]:
    """The whole state, order included (the order decides eviction)."""
    return list(state.producers.items())


def rejected(code: ErrorCode) -> object:
    class Matches:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Reject) and other.error_code == code

        def __hash__(self) -> int:
            return hash(code)

        def __repr__(self) -> str:
            return f"Reject({code.name})"

    return Matches()


def seven_batches() -> Log:
    log = Log()
    for index in range(7):
        assert log.produce(batch(index * RECORDS), timestamp_ms=1_000 + index) == APPEND
    return log


# --- the window of five ---------------------------------------------------------------------


@pytest.mark.parametrize("back", [1, 2, 3, 4, 5])
def test_retry_of_each_of_the_last_five_batches_is_a_duplicate_with_its_offsets(back: int) -> None:
    log = seven_batches()
    original, first, last, timestamp_ms = log.batches[-back]
    before = log.state.snapshot()
    assert log.produce(original) == Duplicate(first, last, timestamp_ms)
    assert log.state.snapshot() == before  # a duplicate changes nothing
    assert len(log.batches) == 7


@pytest.mark.parametrize("back", [6, 7])
def test_retry_older_than_the_window_is_out_of_order(back: int) -> None:
    log = seven_batches()
    original = log.batches[-back][0]
    assert log.produce(original) == rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)


def test_window_keeps_only_the_newest_batches() -> None:
    log = seven_batches()
    window = log.state.producers[PID].batches
    assert len(window) == NUM_BATCHES_TO_RETAIN
    assert [b.first_sequence for b in window] == [20, 30, 40, 50, 60]


def test_window_size_is_a_parameter() -> None:
    log = Log(state=ProducerStateManager(max_batches_per_producer=2))
    for index in range(4):
        log.produce(batch(index * RECORDS))
    assert log.produce(batch(10)) == rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
    assert log.produce(batch(20)) == Duplicate(20, 29, 1_000)


# --- sequences ------------------------------------------------------------------------------

# (base_sequence, record_count) against a producer whose last batch was 0..9 at epoch 0.
SEQUENCE_CASES = [
    pytest.param(10, 5, APPEND, id="next"),
    pytest.param(11, 5, rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), id="gap-of-one"),
    pytest.param(500, 5, rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), id="far-gap"),
    pytest.param(5, 10, rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), id="overlap"),
    pytest.param(0, 5, rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), id="same-start-shorter"),
    pytest.param(9, 1, rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), id="last-record-again"),
    pytest.param(0, 10, Duplicate(0, 9, 1_000), id="exact-retry"),
]


@pytest.mark.parametrize(("base_sequence", "count", "expected"), SEQUENCE_CASES)
def test_sequence_rules(base_sequence: int, count: int, expected: object) -> None:
    log = Log()
    log.produce(batch(0))
    assert log.produce(batch(base_sequence, count)) == expected


@pytest.mark.parametrize(
    ("sequence", "increment", "expected"),
    [(0, 0, 0), (0, 9, 9), (MAX_SEQUENCE - 1, 1, MAX_SEQUENCE), (MAX_SEQUENCE, 1, 0),
     (MAX_SEQUENCE - 4, 9, 4), (MAX_SEQUENCE, MAX_SEQUENCE, MAX_SEQUENCE - 1)],
)  # fmt: skip
def test_increment_sequence_wraps_at_int32_max(
    sequence: int, increment: int, expected: int
) -> None:
    assert increment_sequence(sequence, increment) == expected


def test_sequences_wrap_from_int32_max_to_zero() -> None:
    log = Log()
    ending_at_max = batch(MAX_SEQUENCE - 9)
    assert log.produce(ending_at_max) == APPEND
    assert log.state.producers[PID].last_sequence == MAX_SEQUENCE
    assert log.produce(ending_at_max) == Duplicate(0, 9, 1_000)
    assert log.produce(batch(1)) == rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
    assert log.produce(batch(0)) == APPEND
    assert log.produce(batch(10)) == APPEND


def test_a_batch_straddling_the_wrap_is_deduplicated() -> None:
    log = Log()
    log.produce(batch(MAX_SEQUENCE - 14))  # ..2**31-5
    straddling = batch(MAX_SEQUENCE - 4)  # 2**31-4 .. 4
    assert straddling.last_sequence == 4
    assert log.produce(straddling) == APPEND
    assert log.produce(straddling) == Duplicate(10, 19, 1_000)
    assert log.produce(batch(5)) == APPEND


# --- epochs ---------------------------------------------------------------------------------

# (epoch, base_sequence) against a producer at epoch 3 whose last batch was 0..9.
EPOCH_CASES = [
    pytest.param(3, 10, APPEND, id="same-epoch-next"),
    pytest.param(4, 0, APPEND, id="bump-starts-at-zero"),
    pytest.param(9, 0, APPEND, id="jump-starts-at-zero"),
    pytest.param(4, 10, rejected(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), id="bump-continues"),
    pytest.param(2, 10, rejected(ErrorCode.INVALID_PRODUCER_EPOCH), id="stale-next"),
    pytest.param(2, 0, rejected(ErrorCode.INVALID_PRODUCER_EPOCH), id="stale-zero"),
    pytest.param(3, 0, Duplicate(0, 9, 1_000), id="same-epoch-retry"),
]


@pytest.mark.parametrize(("epoch", "base_sequence", "expected"), EPOCH_CASES)
def test_epoch_rules(epoch: int, base_sequence: int, expected: object) -> None:
    log = Log()
    log.produce(batch(0, epoch=3))
    assert log.produce(batch(base_sequence, epoch=epoch)) == expected


def test_epoch_bump_resets_the_window_and_fences_the_old_epoch() -> None:
    log = Log()
    for sequence in (0, 10, 20):
        log.produce(batch(sequence, epoch=0))
    assert log.produce(batch(0, epoch=1)) == APPEND
    entry = log.state.producers[PID]
    assert (entry.producer_epoch, len(entry.batches)) == (1, 1)
    # The old epoch's batches, even ones still cached before the bump, are now fenced.
    assert log.produce(batch(20, epoch=0)) == rejected(ErrorCode.INVALID_PRODUCER_EPOCH)
    assert log.produce(batch(30, epoch=0)) == rejected(ErrorCode.INVALID_PRODUCER_EPOCH)
    assert log.produce(batch(0, epoch=1)) == Duplicate(30, 39, 1_000)
    assert log.produce(batch(10, epoch=1)) == APPEND


# --- unknown producers, non-idempotent and invalid batches ----------------------------------


@pytest.mark.parametrize("base_sequence", [0, 1, 17, MAX_SEQUENCE])
@pytest.mark.parametrize("epoch", [0, 5])
def test_unknown_producer_may_start_at_any_sequence(base_sequence: int, epoch: int) -> None:
    """KIP-360 (Kafka 2.5+): no UNKNOWN_PRODUCER_ID from the broker, any first sequence."""
    log = Log()
    assert log.produce(batch(base_sequence, count=1, epoch=epoch)) == APPEND
    entry = log.state.producers[PID]
    assert (entry.producer_epoch, entry.last_sequence) == (epoch, base_sequence)
    assert log.produce(batch(increment_sequence(base_sequence, 1), count=1, epoch=epoch)) == APPEND


@pytest.mark.parametrize("base_sequence", [-1, 0, 7])
def test_non_idempotent_batches_always_append_and_keep_no_state(base_sequence: int) -> None:
    log = Log()
    plain = BatchInfo(-1, -1, base_sequence, base_sequence + 9, RECORDS)
    for _ in range(3):
        assert log.produce(plain) == APPEND
    assert len(log.state) == 0
    assert len(log.batches) == 3


@pytest.mark.parametrize(
    ("info", "code"),
    [
        (BatchInfo(PID, 0, -1, -1, RECORDS), ErrorCode.INVALID_RECORD),
        (BatchInfo(PID, 0, -5, -1, RECORDS), ErrorCode.INVALID_RECORD),
    ],
)
def test_invalid_idempotent_batches_are_refused(info: BatchInfo, code: ErrorCode) -> None:
    log = Log()
    assert log.produce(info) == rejected(code)
    assert len(log.state) == 0


def test_update_refuses_headers_that_contradict_themselves() -> None:
    state = ProducerStateManager()
    with pytest.raises(AssertionError):
        state.update(batch(0, count=10), 0, 4, 1_000)  # ten sequences over five offsets
    state.update(batch(0), 100, 109, 1_000)
    with pytest.raises(AssertionError):
        state.update(batch(10), 50, 59, 1_000)  # offsets going backwards


# --- expiry ---------------------------------------------------------------------------------


def test_remove_expired_drops_producers_idle_at_least_the_expiration() -> None:
    log = Log()
    log.produce(batch(0, pid=1), timestamp_ms=1_000)
    log.produce(batch(0, pid=2), timestamp_ms=5_000)
    log.produce(batch(0, pid=3), timestamp_ms=5_001)
    assert log.state.remove_expired(wall_ms=5_999, producer_id_expiration_ms=5_000) == []
    assert log.state.remove_expired(wall_ms=10_000, producer_id_expiration_ms=5_000) == [1, 2]
    assert list(log.state.producers) == [3]
    # An expired producer is unknown again: any sequence is accepted, nothing is deduplicated.
    assert log.produce(batch(0, pid=1)) == APPEND
    assert log.produce(batch(40, pid=2)) == APPEND


def test_expiry_uses_the_newest_batch_timestamp() -> None:
    log = Log()
    log.produce(batch(0), timestamp_ms=1_000)
    log.produce(batch(10), timestamp_ms=9_000)
    assert log.state.remove_expired(wall_ms=10_000, producer_id_expiration_ms=5_000) == []
    assert log.state.remove_expired(wall_ms=14_000, producer_id_expiration_ms=5_000) == [PID]


def test_a_producer_in_a_transaction_does_not_expire() -> None:
    # Transactional batches reach the state only from the log (check() refuses them for now).
    state = ProducerStateManager()
    state.update(batch(0, txn=True), 0, 9, 1_000)
    state.update(batch(10), 10, 19, 1_000)
    assert state.producers[PID].current_txn_first_offset == 0
    assert state.remove_expired(wall_ms=10**12, producer_id_expiration_ms=1) == []


# --- rebuilds: replay, snapshot, truncation -------------------------------------------------


def random_workload(seed: int, steps: int = 400) -> Log:
    """Several producers with retries, gaps, bumps, stale epochs and plain batches."""
    rng = random.Random(seed)
    log = Log()
    next_sequence = {pid: 0 for pid in range(1, 6)}
    epochs = dict.fromkeys(next_sequence, 0)
    sent: dict[int, list[BatchInfo]] = {pid: [] for pid in next_sequence}
    for step in range(steps):
        pid, roll = rng.choice(list(next_sequence)), rng.random()
        if roll < 0.15 and sent[pid]:
            info = rng.choice(sent[pid][-7:])  # a retry, in or out of the window
        elif roll < 0.20:
            epochs[pid] += 1
            next_sequence[pid] = 0
            info = batch(0, rng.randint(1, 5), epochs[pid], pid)
        elif roll < 0.25:
            info = batch(next_sequence[pid] + rng.randint(1, 3), 2, epochs[pid], pid)  # a gap
        elif roll < 0.30:
            info = BatchInfo(-1, -1, -1, -1, rng.randint(1, 5))
        else:
            info = batch(next_sequence[pid], rng.randint(1, 5), epochs[pid], pid)
        if log.produce(info, timestamp_ms=1_000 + step) == APPEND and info.is_idempotent:
            next_sequence[pid] = increment_sequence(info.last_sequence, 1)
            sent[pid].append(info)
    return log


@pytest.mark.parametrize("seed", range(5))
def test_replaying_the_log_rebuilds_the_incremental_state(seed: int) -> None:
    log = random_workload(seed)
    follower = replay(log.batches)
    assert entries(follower) == entries(log.state)
    assert follower.snapshot() == log.state.snapshot()


@pytest.mark.parametrize("seed", range(5))
def test_snapshot_round_trip_equals_the_state(seed: int) -> None:
    log = random_workload(seed)
    restored = ProducerStateManager.from_snapshot(log.state.snapshot())
    assert entries(restored) == entries(log.state)
    assert restored.snapshot() == log.state.snapshot()


def test_snapshot_then_replay_of_the_suffix_equals_a_full_replay() -> None:
    """Recovery as the log layer does it: the newest snapshot, then the batches after it."""
    log = random_workload(seed=11)
    cut = len(log.batches) // 2
    state = ProducerStateManager.from_snapshot(replay(log.batches[:cut]).snapshot())
    for info, first, last, timestamp_ms in log.batches[cut:]:
        state.update(info, first, last, timestamp_ms)
    assert entries(state) == entries(log.state)


def test_snapshot_of_an_empty_state_round_trips() -> None:
    assert len(ProducerStateManager.from_snapshot(ProducerStateManager().snapshot())) == 0


def test_snapshot_keeps_transaction_fields() -> None:
    state = ProducerStateManager()
    state.update(batch(0, txn=True), 7, 16, 1_000)
    restored = ProducerStateManager.from_snapshot(state.snapshot())
    assert restored.producers[PID].current_txn_first_offset == 7
    assert restored.producers[PID].coordinator_epoch == -1


def test_loading_a_snapshot_into_a_smaller_window_keeps_the_newest_batches() -> None:
    log = seven_batches()
    restored = ProducerStateManager.from_snapshot(log.state.snapshot(), max_batches_per_producer=2)
    assert [b.first_sequence for b in restored.producers[PID].batches] == [50, 60]


@pytest.mark.parametrize("back", [0, 1, 4, 15, 40, 10**6])
@pytest.mark.parametrize("seed", range(3))
def test_truncate_to_is_sound_against_a_rebuild_of_the_prefix(back: int, seed: int) -> None:
    log = random_workload(seed)
    offset = max(0, log.end_offset - back)
    state = replay(log.batches)
    state.truncate_to(offset)
    rebuilt = replay([b for b in log.batches if b[2] < offset])
    assert len(state) > 0 if back <= 15 else len(state) < len(log.state)  # not vacuous
    for producer_id, entry in state.producers.items():
        exact = rebuilt.producers[producer_id]
        assert all(b.last_offset < offset for b in entry.batches)
        assert (entry.producer_epoch, entry.last_timestamp_ms) == (
            exact.producer_epoch,
            exact.last_timestamp_ms,
        )
        assert exact.batches[-len(entry.batches) :] == entry.batches
        # The next in-sequence batch gets the same verdict from both.
        sequence = increment_sequence(entry.last_sequence, 1)
        following = BatchInfo.of(producer_id, entry.producer_epoch, sequence, 1)
        assert state.check(following) == rebuilt.check(following) == APPEND
    assert list(state.producers) == [p for p in rebuilt.producers if p in state.producers]


def test_truncate_to_drops_whole_batches_and_forgets_emptied_producers() -> None:
    log = Log()
    log.produce(batch(0, pid=1))  # 0..9
    log.produce(batch(0, pid=2))  # 10..19
    log.produce(batch(10, pid=1))  # 20..29
    log.state.truncate_to(15)  # inside pid 2's batch: the whole batch goes
    assert list(log.state.producers) == [1]
    assert log.state.producers[1].last_offset == 9
    assert log.state.check(batch(10, pid=1)) == APPEND
    assert log.state.check(batch(33, pid=2)) == APPEND  # unknown again


# --- corrupt snapshots ----------------------------------------------------------------------


def sample_snapshot() -> bytes:
    return random_workload(seed=3, steps=60).state.snapshot()


def test_every_corrupted_byte_is_detected() -> None:
    data = sample_snapshot()
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        with pytest.raises(CorruptSnapshotError):
            ProducerStateManager.from_snapshot(bytes(damaged))


def test_every_truncation_and_any_trailing_byte_is_detected() -> None:
    data = sample_snapshot()
    for length in range(len(data)):
        with pytest.raises(CorruptSnapshotError):
            ProducerStateManager.from_snapshot(data[:length])
    with pytest.raises(CorruptSnapshotError):
        ProducerStateManager.from_snapshot(data + b"\0")


def resealed(body: bytes, version: int = SNAPSHOT_VERSION) -> bytes:
    """A snapshot with a valid CRC around an arbitrary body."""
    return struct.pack(">hI", version, crc32c.crc32c(body)) + body


ENTRY = struct.Struct(">qhqiqB")
BATCH = struct.Struct(">iiqqq")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (struct.pack(">i", 1), "truncated"),
        (struct.pack(">i", -1), "producers"),
        (struct.pack(">i", 1) + ENTRY.pack(PID, 0, 0, -1, 5, 0), "bad producer"),
        (struct.pack(">i", 1) + ENTRY.pack(-3, 0, 0, -1, -1, 1) + BATCH.pack(0, 9, 0, 9, 0),
         "bad producer"),
        (struct.pack(">i", 1) + ENTRY.pack(PID, 0, 0, -1, -1, 1) + BATCH.pack(0, 8, 0, 9, 0),
         "bad batch"),
        (struct.pack(">i", 1) + ENTRY.pack(PID, 0, 0, -1, -1, 2) + BATCH.pack(0, 9, 0, 9, 0)
         + BATCH.pack(10, 19, 5, 14, 0), "bad batch"),
        (struct.pack(">i", 2) + ENTRY.pack(1, 0, 0, -1, -1, 1) + BATCH.pack(0, 9, 10, 19, 0)
         + ENTRY.pack(2, 0, 0, -1, -1, 1) + BATCH.pack(0, 9, 0, 9, 0), "log order"),
        (struct.pack(">i", 2) + ENTRY.pack(1, 0, 0, -1, -1, 1) + BATCH.pack(0, 9, 0, 9, 0)
         + ENTRY.pack(1, 0, 0, -1, -1, 1) + BATCH.pack(10, 19, 10, 19, 0), "bad producer"),
    ],
)  # fmt: skip
def test_structurally_invalid_snapshots_are_detected(body: bytes, reason: str) -> None:
    with pytest.raises(CorruptSnapshotError, match=reason):
        ProducerStateManager.from_snapshot(resealed(body))


def test_unknown_snapshot_version_is_detected() -> None:
    body = sample_snapshot()[6:]
    with pytest.raises(CorruptSnapshotError, match="version"):
        ProducerStateManager.from_snapshot(resealed(body, version=SNAPSHOT_VERSION + 1))


# --- bounds ---------------------------------------------------------------------------------


def test_the_producer_idle_longest_in_log_order_is_evicted_beyond_the_bound() -> None:
    log = Log(state=ProducerStateManager(max_producers=3))
    for pid in (1, 2, 3):
        log.produce(batch(0, pid=pid))
    log.produce(batch(10, pid=1))  # 1 is active again: 2 is now the one idle longest
    log.produce(batch(0, pid=4))
    assert list(log.state.producers) == [3, 1, 4]
    assert entries(replay(log.batches)) != entries(log.state)  # default bound is larger
    bounded = ProducerStateManager(max_producers=3)
    for info, first, last, timestamp_ms in log.batches:
        bounded.update(info, first, last, timestamp_ms)
    assert entries(bounded) == entries(log.state)  # eviction is a pure function of the log


def test_default_bounds_and_snapshot_above_the_bound() -> None:
    assert ProducerStateManager().max_producers == MAX_PRODUCERS_PER_PARTITION
    assert ProducerStateManager().max_batches_per_producer == NUM_BATCHES_TO_RETAIN == 5
    state = ProducerStateManager()
    for pid in range(1, 5):
        state.update(batch(0, pid=pid), pid * 100, pid * 100 + 9, 1_000)
    with pytest.raises(CorruptSnapshotError, match="bound"):
        ProducerStateManager.from_snapshot(state.snapshot(), max_producers=3)


def test_state_never_exceeds_its_bounds_under_a_flood_of_producers() -> None:
    state = ProducerStateManager(max_producers=50)
    for step in range(2_000):
        pid = step % 70
        entry = state.producers.get(pid)
        sequence = 0 if entry is None else increment_sequence(entry.last_sequence, 1)
        state.update(batch(sequence, 1, pid=pid), step, step, step)
        assert len(state) <= 50
        assert all(len(e.batches) <= NUM_BATCHES_TO_RETAIN for e in state.producers.values())


# --- producer ids ---------------------------------------------------------------------------


def test_allocator_hands_out_a_block_after_it_is_reserved() -> None:
    allocator = ProducerIdAllocator()
    need = allocator.next_id()
    assert need == NeedBlock(0, PRODUCER_ID_BLOCK_SIZE)
    assert isinstance(need, NeedBlock) and need.next_producer_id == 1000
    assert allocator.next_id() == need  # asking again does not skip a block
    allocator.on_block(need.first_id, need.size)
    assert [allocator.next_id() for _ in range(1000)] == list(range(1000))
    assert allocator.next_id() == NeedBlock(1000, PRODUCER_ID_BLOCK_SIZE)


def test_allocator_never_reuses_ids_across_restarts() -> None:
    """Crash at random points, including between persisting a block and using it."""
    rng = random.Random(7)
    persisted = 0  # the last ProducerIdsRecord.next_producer_id made durable
    handed_out: list[int] = []
    for _restart in range(50):
        allocator = ProducerIdAllocator(next_producer_id=persisted, block_size=10)
        for _ in range(rng.randint(0, 40)):
            result = allocator.next_id()
            if isinstance(result, NeedBlock):
                if rng.random() < 0.1:
                    break  # crashed before the record was durable
                persisted = result.next_producer_id
                if rng.random() < 0.1:
                    break  # crashed after persisting, before using the block
                allocator.on_block(result.first_id, result.size)
                result = allocator.next_id()
            assert isinstance(result, int)
            handed_out.append(result)
    assert len(handed_out) == len(set(handed_out)) > 100
    assert max(handed_out) < persisted


def test_allocator_refuses_blocks_that_overlap_earlier_ones() -> None:
    allocator = ProducerIdAllocator(next_producer_id=5000)
    with pytest.raises(ValueError, match="overlaps"):
        allocator.on_block(4000, 1000)
    allocator.on_block(7000, 1000)  # a block from a controller further ahead is fine
    assert allocator.next_id() == 7000
    with pytest.raises(ValueError, match="overlaps"):
        allocator.on_block(7500, 1000)
    with pytest.raises(ValueError):
        allocator.on_block(9000, 0)


def test_allocator_reports_exhaustion() -> None:
    allocator = ProducerIdAllocator(next_producer_id=2**63 - 500)
    with pytest.raises(OverflowError):
        allocator.next_id()
