"""The record accumulator, sans-IO: batching, linger, drain, memory, retries, idempotence.

No event loop and no broker: time is the ``now_ms`` each call gets, answers are fed by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from client.accumulator import (
    INT32_MAX,
    ProducerBatch,
    RecordAccumulator,
    encode_record,
    next_sequence,
)
from client.errors import (
    DefinitelyFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MaybeWrittenError,
)
from client.metadata import TopicPartition
from client.protocol.errors import ErrorCode
from client.protocol.records import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    Record,
    build_batch,
    decode_records,
    verify_batch,
)

LEADER = 1


def accumulator(**overrides: Any) -> RecordAccumulator:
    settings: dict[str, Any] = {
        "batch_size": 16384,
        "linger_ms": 5,
        "buffer_memory": 1 << 20,
        "codec": COMPRESSION_NONE,
        "delivery_timeout_ms": 120_000,
        "retries": 10,
        "retry_backoff_ms": 100,
        "retry_backoff_max_ms": 1000,
        "max_request_size": 1 << 20,
        "max_in_flight_per_partition": 5,
        "idempotence": False,
    }
    settings.update(overrides)
    created = RecordAccumulator(**settings)
    if created.idempotence:
        created.set_producer(1000, 0)
    return created


def drain(acc: RecordAccumulator, now_ms: int, leader: int | None = LEADER) -> list[ProducerBatch]:
    drained = acc.drain(now_ms, lambda tp: leader, lambda node: True)
    return [batch for batches in drained.requests.values() for batch in batches]


def ok(acc: RecordAccumulator, batch: ProducerBatch, base_offset: int, now_ms: int = 0) -> None:
    error = acc.completed(batch, 0, base_offset=base_offset, log_append_time_ms=-1, now_ms=now_ms)
    assert error is None
    assert batch.done and batch.error is None


def fail(acc: RecordAccumulator, batch: ProducerBatch, code: ErrorCode, now_ms: int = 0) -> None:
    acc.completed(batch, code, base_offset=-1, log_append_time_ms=-1, now_ms=now_ms)


# -- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec",
    [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD],
)
def test_batches_decode_to_what_was_appended(codec: int) -> None:
    acc = accumulator(codec=codec, idempotence=True)
    records = [
        Record(0, 1_000, None, b"v" * 100),
        Record(1, 990, b"key", b"", [("h", b"1"), ("h", b"2"), ("none", None)]),
        Record(2, 1_000 + 10**9, b"k", None),
        Record(3, 1_001, None, b"x" * 20_000),  # a long value: the table's slow path
    ]
    for record in records:
        acc.append("t", 0, record.key, record.value, record.headers, record.timestamp, 0)
    batches = []
    while drained := drain(acc, 10):
        batches += drained
    assert len(batches) == 2  # the long value did not fit: a second batch
    buffer = batches[0].buffer
    decoded = [r for batch in batches for r in decode_records(batch.buffer)]
    assert [(r.timestamp, r.key, r.value, r.headers) for r in decoded] == [
        (r.timestamp, r.key, r.value, r.headers) for r in records
    ]
    header = verify_batch(buffer, 0, max_batch_bytes=1 << 21)  # CRC-32C checked here
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (1000, 0, 0)
    assert header.compression == codec and header.max_timestamp == 1_000 + 10**9


def test_record_bytes_equal_the_reference_builder() -> None:
    ours = encode_record(0, 0, b"k", b"value", [("a", b"b")])
    reference = build_batch([Record(0, 5, b"k", b"value", [("a", b"b")])], timestamp_ms=5)
    assert reference.endswith(ours)
    assert build_batch([b"v" * 300], timestamp_ms=1).endswith(
        encode_record(0, 0, None, b"v" * 300, None)
    )


def test_sequences_wrap_like_kafka() -> None:
    assert next_sequence(5, 3) == 8
    assert next_sequence(INT32_MAX, 1) == 0
    assert next_sequence(INT32_MAX - 1, 5) == 3


# -- batching, linger, drain -------------------------------------------------------------------


def test_records_share_a_batch_until_batch_size() -> None:
    acc = accumulator(batch_size=1000)
    placed = [acc.append("t", 0, None, b"v" * 100, None, 0, 0) for _ in range(20)]
    batches = {id(batch): batch for batch, _ in placed}
    assert 2 <= len(batches) <= 3
    assert [index for _, index in placed[:3]] == [0, 1, 2]
    assert all(len(batch.buffer) <= 1000 for batch in batches.values())


def test_a_record_larger_than_batch_size_gets_its_own_batch() -> None:
    acc = accumulator(batch_size=100)
    first, _ = acc.append("t", 0, None, b"v" * 500, None, 0, 0)
    second, index = acc.append("t", 0, None, b"w", None, 0, 0)
    assert first is not second and index == 0 and first.full


def test_linger_holds_a_batch_until_its_time() -> None:
    acc = accumulator(linger_ms=50)
    acc.append("t", 0, None, b"v", None, 0, now_ms=1000)
    drained = acc.drain(1010, lambda tp: LEADER, lambda node: True)
    assert not drained.requests and drained.next_ready_ms == 1050
    assert len(drain(acc, 1050)) == 1


def test_full_batches_flush_and_close_do_not_wait_for_linger() -> None:
    acc = accumulator(linger_ms=10_000, batch_size=300)
    for _ in range(3):
        acc.append("t", 0, None, b"v" * 100, None, 0, 0)
    assert len(drain(acc, 1)) == 1  # the full one; the second is still open
    assert drain(acc, 2) == []
    acc.flushing += 1
    assert len(drain(acc, 2)) == 1
    acc.flushing -= 1
    acc.append("t", 1, None, b"v", None, 0, 0)
    acc.closing = True
    assert len(drain(acc, 3)) == 1


def test_drain_groups_partitions_per_leader_one_batch_each() -> None:
    acc = accumulator(linger_ms=0)
    for partition in range(4):
        for _ in range(2):
            acc.append("t", partition, None, b"v", None, 0, 0)
    drained = acc.drain(0, lambda tp: tp.partition % 2, lambda node: True)
    assert sorted(drained.requests) == [0, 1]
    for node, batches in drained.requests.items():
        assert sorted(b.topic_partition.partition for b in batches) == [node, node + 2]


def test_unknown_leaders_are_reported_and_kept() -> None:
    acc = accumulator(linger_ms=0)
    acc.append("t", 3, None, b"v", None, 0, 0)
    drained = acc.drain(0, lambda tp: None, lambda node: True)
    assert drained.unknown_leaders == [TopicPartition("t", 3)] and not drained.requests
    assert len(drain(acc, 1)) == 1


def test_a_busy_node_gets_nothing_and_requests_stay_under_max_request_size() -> None:
    acc = accumulator(linger_ms=0, max_request_size=3000, batch_size=2000)
    for partition in range(3):
        acc.append("t", partition, None, b"v" * 1500, None, 0, 0)
    assert not acc.drain(0, lambda tp: LEADER, lambda node: False).requests
    first = drain(acc, 0)
    assert len(first) == 1  # two 1.5 KB batches exceed 3000 bytes
    assert len(drain(acc, 0)) == 1 and len(drain(acc, 0)) == 1


def test_buffer_memory_is_held_until_batches_finish() -> None:
    acc = accumulator(linger_ms=0, buffer_memory=10_000)
    acc.append("t", 0, None, b"v" * 4000, None, 0, 0)
    assert acc.memory_available(5000) and not acc.memory_available(6000)
    [batch] = drain(acc, 0)
    assert not acc.memory_available(6000)  # in flight still counts
    ok(acc, batch, 0)
    assert acc.buffered_bytes == 0 and acc.memory_available(10_000)


# -- outcomes ----------------------------------------------------------------------------------


def test_results_per_record() -> None:
    acc = accumulator(linger_ms=0)
    batch, _ = acc.append("t", 2, None, b"a", None, 111, 0)
    acc.append("t", 2, None, b"b", None, 222, 0)
    drain(acc, 0)
    ok(acc, batch, 40)
    assert batch.metadata(1, 222) == ("t", 2, 41, 222)
    assert not acc.incomplete


def test_log_append_time_replaces_the_timestamp() -> None:
    acc = accumulator(linger_ms=0)
    batch, _ = acc.append("t", 0, None, b"a", None, 111, 0)
    drain(acc, 0)
    acc.completed(batch, 0, base_offset=7, log_append_time_ms=999, now_ms=0)
    assert batch.metadata(0, 111) == ("t", 0, 7, 999)


def test_acks_zero_completes_with_unknown_offsets() -> None:
    acc = accumulator(linger_ms=0)
    batch, _ = acc.append("t", 0, None, b"a", None, 5, 0)
    acc.acknowledged_without_answer(drain(acc, 0))
    assert batch.metadata(0, 5) == ("t", 0, -1, 5)


def test_retriable_errors_retry_after_backoff_in_order() -> None:
    acc = accumulator(linger_ms=0, batch_size=100)
    first, _ = acc.append("t", 0, None, b"1" * 80, None, 0, 0)
    second, _ = acc.append("t", 0, None, b"2" * 80, None, 0, 0)
    assert drain(acc, 0) == [first]
    assert drain(acc, 0) == [second]
    fail(acc, first, ErrorCode.NOT_LEADER_OR_FOLLOWER, now_ms=10)
    assert drain(acc, 500) == []  # the retry waits until nothing else is in flight
    acc.failed([second], KafkaConnectionError("b:1"), 20, sent=True)
    assert drain(acc, 50) == []  # backoff (100 ms)
    assert drain(acc, 110) == [first]  # alone, first
    assert drain(acc, 120) == []
    ok(acc, first, 0)
    assert drain(acc, 130) == [second]
    ok(acc, second, 1)


def test_non_retriable_errors_fail_definitely() -> None:
    acc = accumulator(linger_ms=0)
    batch, _ = acc.append("t", 0, None, b"a", None, 0, 0)
    drain(acc, 0)
    fail(acc, batch, ErrorCode.MESSAGE_TOO_LARGE)
    assert isinstance(batch.error, DefinitelyFailedError)
    with pytest.raises(DefinitelyFailedError, match="MESSAGE_TOO_LARGE"):
        batch.metadata(0, 0)


def test_retries_are_bounded_and_a_timeout_is_ambiguous() -> None:
    acc = accumulator(linger_ms=0, retries=1, retry_backoff_ms=0)
    batch, _ = acc.append("t", 0, None, b"a", None, 0, 0)
    drain(acc, 0)
    acc.failed([batch], KafkaTimeoutError("no answer"), 1, sent=True)
    drain(acc, 2)
    fail(acc, batch, ErrorCode.NOT_LEADER_OR_FOLLOWER, now_ms=3)
    assert isinstance(batch.error, MaybeWrittenError)  # the first attempt may have landed


def test_a_connect_failure_is_definitely_not_written() -> None:
    acc = accumulator(linger_ms=0, retries=0)
    batch, _ = acc.append("t", 0, None, b"a", None, 0, 0)
    drain(acc, 0)
    acc.failed([batch], KafkaConnectionError("b:1"), 1, sent=False)
    assert isinstance(batch.error, DefinitelyFailedError)


def test_delivery_timeout_expires_queued_batches() -> None:
    acc = accumulator(linger_ms=10_000, delivery_timeout_ms=1000)
    batch, _ = acc.append("t", 0, None, b"a", None, 0, now_ms=0)
    assert acc.next_deadline_ms() == 1000
    acc.expire(999)
    assert not batch.done
    acc.expire(1000)
    assert isinstance(batch.error, DefinitelyFailedError)
    assert "delivery.timeout.ms" in str(batch.error)


def test_abort_fails_everything_typed() -> None:
    acc = accumulator(linger_ms=0)
    sent, _ = acc.append("t", 0, None, b"a", None, 0, 0)
    drain(acc, 0)
    queued, _ = acc.append("t", 0, None, b"b", None, 0, 0)
    acc.abort(KafkaTimeoutError("closing"))
    assert isinstance(sent.error, MaybeWrittenError)
    assert isinstance(queued.error, DefinitelyFailedError)
    assert acc.buffered_bytes == 0 and not acc.incomplete


# -- idempotence -------------------------------------------------------------------------------


def _three_batches(acc: RecordAccumulator) -> list[ProducerBatch]:
    batches = []
    for tag in (b"1", b"2", b"3"):
        batch, _ = acc.append("t", 0, None, tag * 80, None, 0, 0)
        batches.append(batch)
    assert len(set(map(id, batches))) == 3
    return batches


def test_sequences_are_assigned_at_first_drain_and_kept_on_retry() -> None:
    acc = accumulator(idempotence=True, linger_ms=0, retry_backoff_ms=0, batch_size=100)
    first, second, third = _three_batches(acc)
    assert first.base_sequence == -1
    assert drain(acc, 0) == [first] and drain(acc, 0) == [second] and drain(acc, 0) == [third]
    assert [b.base_sequence for b in (first, second, third)] == [0, 1, 2]
    sent_bytes = bytes(first.buffer)
    acc.failed([first], KafkaTimeoutError("lost answer"), 1, sent=True)
    fail(acc, second, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, now_ms=1)  # not the oldest
    acc.failed([third], KafkaTimeoutError("lost answer"), 1, sent=True)
    assert not acc.bump_required
    assert drain(acc, 2) == [first] and bytes(first.buffer) == sent_bytes  # same bytes
    ok(acc, first, 10)
    assert drain(acc, 3) == [second]
    ok(acc, second, 11)
    assert drain(acc, 4) == [third]
    ok(acc, third, 12)


def test_at_most_five_batches_in_flight_per_partition() -> None:
    acc = accumulator(idempotence=True, linger_ms=0, batch_size=100)
    for _ in range(7):
        acc.append("t", 0, None, b"v" * 80, None, 0, 0)
    sent = [batch for _ in range(7) for batch in drain(acc, 0)]
    assert len(sent) == 5


def test_nothing_is_sent_before_a_producer_id() -> None:
    acc = accumulator(linger_ms=0)
    acc.idempotence = True
    acc.append("t", 0, None, b"v", None, 0, 0)
    assert drain(acc, 0) == []
    acc.set_producer(5, 1)
    [batch] = drain(acc, 0)
    assert (batch.producer_id, batch.producer_epoch) == (5, 1)


def test_unknown_producer_on_the_oldest_batch_bumps_and_restarts_sequences() -> None:
    acc = accumulator(idempotence=True, linger_ms=0, retry_backoff_ms=0, batch_size=100)
    first, second, third = _three_batches(acc)
    for _ in range(3):
        drain(acc, 0)
    fail(acc, first, ErrorCode.UNKNOWN_PRODUCER_ID, now_ms=1)
    assert acc.bump_required
    fail(acc, second, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, now_ms=1)
    fail(acc, third, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, now_ms=1)
    assert drain(acc, 2) == []  # waits for the new epoch
    acc.set_producer(1000, 1)
    resent = [batch for _ in range(3) for batch in drain(acc, 3)]
    assert resent == [first]  # retries go one at a time, in order
    assert (first.producer_epoch, first.base_sequence) == (1, 0)
    assert verify_batch(first.buffer, 0, max_batch_bytes=1 << 20).producer_epoch == 1
    ok(acc, first, 0)
    assert drain(acc, 4) == [second] and second.base_sequence == 1
    ok(acc, second, 1)
    assert drain(acc, 5) == [third] and third.base_sequence == 2


def test_a_reset_fails_batches_that_may_be_written_instead_of_duplicating_them() -> None:
    acc = accumulator(idempotence=True, linger_ms=0, retry_backoff_ms=0, batch_size=100)
    first, second, _ = _three_batches(acc)
    drain(acc, 0)
    drain(acc, 0)
    acc.failed([second], KafkaTimeoutError("no answer"), 1, sent=True)
    fail(acc, first, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, now_ms=1)
    acc.set_producer(1000, 1)
    assert drain(acc, 2) == [first]
    assert isinstance(second.error, MaybeWrittenError)


def test_other_partitions_keep_their_epoch_until_settled() -> None:
    acc = accumulator(idempotence=True, linger_ms=0, retry_backoff_ms=0)
    a, _ = acc.append("t", 0, None, b"a", None, 0, 0)
    b, _ = acc.append("t", 1, None, b"b", None, 0, 0)
    drain(acc, 0)
    fail(acc, a, ErrorCode.UNKNOWN_PRODUCER_ID, now_ms=1)
    acc.set_producer(1000, 1)
    late, _ = acc.append("t", 1, None, b"c", None, 0, 0)
    assert drain(acc, 2) == [a]  # partition 1 has b in flight under epoch 0: late waits
    ok(acc, b, 0)
    assert drain(acc, 3) == [late]
    assert (late.producer_epoch, late.base_sequence) == (1, 0)


def test_abort_on_new_batch_is_the_sticky_partitioners_cue() -> None:
    acc = accumulator(batch_size=300)
    assert acc.append("t", 0, None, b"v", None, 0, 0, True) is None  # no open batch yet
    acc.append("t", 0, None, b"v" * 100, None, 0, 0)
    placed = acc.append("t", 0, None, b"v" * 100, None, 0, 0, True)
    assert placed is not None and placed[1] == 1
    assert acc.append("t", 0, None, b"v" * 100, None, 0, 0, True) is None  # would not fit
    assert len(acc.incomplete) == 1
