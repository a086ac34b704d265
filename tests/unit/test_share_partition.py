"""KIP-932's share-partition state: acquisition, acknowledgement, locks, the SPSO."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.core.share_partition import (
    AcknowledgementBatch,
    AcknowledgeType,
    AcquiredRecords,
    RecordState,
    SharePartition,
    ShareSettings,
)
from client.protocol.errors import ErrorCode

ACCEPT, RELEASE, REJECT, GAP = (
    int(AcknowledgeType.ACCEPT),
    int(AcknowledgeType.RELEASE),
    int(AcknowledgeType.REJECT),
    int(AcknowledgeType.GAP),
)
LOCK_MS = 30_000


def _partition(start: int = 0, **overrides: int) -> SharePartition:
    return SharePartition(start, ShareSettings(**overrides))


def test_new_records_are_acquired_by_whole_batches_up_to_the_readable_end() -> None:
    share = _partition()
    assert share.can_acquire(readable_end=10)
    assert share.acquire("m1", 0, 9, readable_end=10, now_ms=0) == [AcquiredRecords(0, 9, 1)]
    assert (share.start_offset, share.end_offset) == (0, 10)
    assert share.state_of(5) is RecordState.ACQUIRED
    # Nothing new below the readable end: nothing to acquire.
    assert share.acquire("m2", 10, 19, readable_end=10, now_ms=0) == []
    assert not share.can_acquire(readable_end=10)
    # A read of more than the readable end acquires only up to it.
    assert share.acquire("m2", 10, 19, readable_end=15, now_ms=0) == [AcquiredRecords(10, 14, 1)]


def test_accepting_a_prefix_moves_the_start_offset() -> None:
    share = _partition()
    share.acquire("m1", 0, 9, 10, 0)
    ack = AcknowledgementBatch(0, 3, (ACCEPT,))
    assert share.acknowledge("m1", [ack]) is ErrorCode.NONE
    assert share.start_offset == 4
    # Accepting the middle leaves the SPSO where it is.
    assert share.acknowledge("m1", [AcknowledgementBatch(6, 7, (ACCEPT,))]) is ErrorCode.NONE
    assert share.start_offset == 4
    assert share.state_of(6) is RecordState.ACKNOWLEDGED
    assert share.acknowledge("m1", [AcknowledgementBatch(4, 5, (REJECT,))]) is ErrorCode.NONE
    assert share.start_offset == 8
    assert share.acknowledge("m1", [AcknowledgementBatch(8, 9, (ACCEPT, GAP))]) is ErrorCode.NONE
    assert (share.start_offset, share.end_offset, share.spans) == (10, 10, [])


def test_only_the_acquiring_member_may_acknowledge_and_nothing_applies_on_error() -> None:
    share = _partition()
    share.acquire("m1", 0, 4, 5, 0)
    share.acquire("m2", 5, 9, 10, 0)
    both = [AcknowledgementBatch(0, 4, (ACCEPT,)), AcknowledgementBatch(5, 5, (ACCEPT,))]
    assert share.acknowledge("m1", both) is ErrorCode.INVALID_RECORD_STATE
    assert share.state_of(0) is RecordState.ACQUIRED  # all or nothing
    assert share.acknowledge("m1", [AcknowledgementBatch(8, 12, (ACCEPT,))]) is (
        ErrorCode.INVALID_RECORD_STATE
    )
    # Twice the same offset (above the SPSO): the second time it is no longer acquired.
    assert share.acknowledge("m1", [AcknowledgementBatch(2, 2, (ACCEPT,))]) is ErrorCode.NONE
    assert share.acknowledge("m1", [AcknowledgementBatch(2, 2, (ACCEPT,))]) is (
        ErrorCode.INVALID_RECORD_STATE
    )


def test_acknowledgements_below_the_start_offset_are_ignored() -> None:
    share = _partition()
    share.acquire("m1", 0, 9, 10, 0)
    assert share.acknowledge("m1", [AcknowledgementBatch(0, 4, (ACCEPT,))]) is ErrorCode.NONE
    assert share.start_offset == 5
    # 0-4 are done: acknowledging them again (or by anyone) changes nothing.
    assert share.acknowledge("m2", [AcknowledgementBatch(0, 4, (RELEASE,))]) is ErrorCode.NONE
    assert share.acknowledge("m1", [AcknowledgementBatch(3, 6, (ACCEPT,))]) is ErrorCode.NONE
    assert share.start_offset == 7


def test_malformed_acknowledgements_are_invalid_requests() -> None:
    share = _partition()
    share.acquire("m1", 0, 9, 10, 0)
    for batches in (
        [AcknowledgementBatch(3, 2, (ACCEPT,))],
        [AcknowledgementBatch(0, 3, (ACCEPT, ACCEPT))],
        [AcknowledgementBatch(0, 0, (9,))],
        [AcknowledgementBatch(0, 0, ())],
        [AcknowledgementBatch(2, 3, (ACCEPT,)), AcknowledgementBatch(3, 4, (ACCEPT,))],
    ):
        assert share.acknowledge("m1", batches) is ErrorCode.INVALID_REQUEST, batches
    assert share.acquired_count() == 10


def test_released_records_are_redelivered_with_a_higher_delivery_count() -> None:
    share = _partition(delivery_count_limit=2)
    share.acquire("m1", 0, 9, 10, 0)
    assert share.acknowledge("m1", [AcknowledgementBatch(2, 4, (RELEASE,))]) is ErrorCode.NONE
    assert share.next_fetch_offset() == 2
    assert share.can_acquire(readable_end=10)
    # A read from offset 0 (the batch holding 2) re-acquires only what is available.
    assert share.acquire("m2", 0, 9, 10, 5) == [AcquiredRecords(2, 4, 2)]
    assert share.acknowledge("m2", [AcknowledgementBatch(2, 4, (RELEASE,))]) is ErrorCode.NONE
    # Delivered twice, the limit: archived instead of available.
    assert share.state_of(3) is RecordState.ARCHIVED
    assert share.next_fetch_offset() == 10


def test_expired_locks_make_records_available_again() -> None:
    share = _partition(record_lock_duration_ms=LOCK_MS)
    share.acquire("m1", 0, 4, 5, now_ms=100)
    assert share.next_deadline_ms() == 100 + LOCK_MS
    assert not share.expire_locks(100 + LOCK_MS - 1)
    assert share.expire_locks(100 + LOCK_MS)
    assert share.state_of(0) is RecordState.AVAILABLE and share.next_deadline_ms() is None
    # The late acknowledgement of the old owner is refused.
    late = [AcknowledgementBatch(0, 4, (ACCEPT,))]
    assert share.acknowledge("m1", late) is ErrorCode.INVALID_RECORD_STATE
    assert share.acquire("m2", 0, 4, 5, 200) == [AcquiredRecords(0, 4, 2)]


def test_a_leaving_member_releases_what_it_holds() -> None:
    share = _partition()
    share.acquire("m1", 0, 4, 5, 0)
    share.acquire("m2", 5, 9, 10, 0)
    assert share.release_member("m1")
    assert not share.release_member("m3")
    assert share.state_of(0) is RecordState.AVAILABLE
    assert share.state_of(5) is RecordState.ACQUIRED


def test_the_lock_budget_bounds_new_acquisitions() -> None:
    share = _partition(max_record_locks=5)
    assert share.acquire("m1", 0, 9, 10, 0) == [AcquiredRecords(0, 9, 1)]  # whole batch
    assert not share.can_acquire(readable_end=20)
    assert share.acquire("m1", 10, 19, 20, 0) == []
    share.acknowledge("m1", [AcknowledgementBatch(0, 9, (ACCEPT,))])
    assert share.can_acquire(readable_end=20)


def test_the_log_start_passing_the_start_offset_drops_those_records() -> None:
    share = _partition()
    share.acquire("m1", 0, 9, 10, 0)
    share.advance_start(6)
    assert (share.start_offset, share.end_offset) == (6, 10)
    assert share.state_of(5) is None and share.state_of(6) is RecordState.ACQUIRED
    share.advance_start(20)
    assert (share.start_offset, share.end_offset, share.spans) == (20, 20, [])
    assert share.acquire("m1", 20, 24, 25, 0) == [AcquiredRecords(20, 24, 1)]


def test_a_read_past_the_end_offset_archives_the_skipped_offsets() -> None:
    share = _partition(start=0)
    assert share.acquire("m1", 3, 5, 10, 0) == [AcquiredRecords(3, 5, 1)]
    assert share.start_offset == 3 and share.state_of(3) is RecordState.ACQUIRED


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31))
def test_random_operations_keep_the_spans_consistent(seed: int) -> None:
    """Spans stay sorted, contiguous from the SPSO to the SPEO, and never start finished;
    every record is acquired by at most one member at a time."""
    rng = random.Random(seed)
    share = _partition(delivery_count_limit=3, max_record_locks=50, record_lock_duration_ms=10)
    owners: dict[int, str] = {}
    now = 0
    log_end = 0
    for _ in range(60):
        now += rng.randrange(0, 5)
        log_end += rng.randrange(0, 8)
        action = rng.randrange(4)
        member = rng.choice(["a", "b", "c"])
        if action == 0:
            first = share.next_fetch_offset()
            last = first + rng.randrange(0, 12)
            for item in share.acquire(member, first, last, log_end, now):
                for offset in range(item.first_offset, item.last_offset + 1):
                    assert offset not in owners, (offset, owners)
                    owners[offset] = member
        elif action == 1 and owners:
            offset = rng.choice(sorted(owners))
            kind = rng.choice([ACCEPT, RELEASE, REJECT])
            error = share.acknowledge(
                owners[offset], [AcknowledgementBatch(offset, offset, (kind,))]
            )
            assert error is ErrorCode.NONE
            del owners[offset]
        elif action == 2:
            share.expire_locks(now)
            owners = {o: m for o, m in owners.items() if share.state_of(o) is RecordState.ACQUIRED}
        else:
            share.release_member(member)
            owners = {o: m for o, m in owners.items() if m != member}
        position = share.start_offset
        for span in share.spans:
            assert span.first == position and span.last >= span.first
            position = span.last + 1
        assert position == share.end_offset
        if share.spans:
            assert share.spans[0].state not in (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED)
        assert share.acquired_count() == len(owners)
