"""The sans-IO Fetcher and the batch reader, table-driven: no broker, no event loop.

Responses are encoded and decoded with the real Fetch codec at the version under test, so the
fetcher sees what it would see from a connection.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from construct import Container

from client.config import ConsumerConfig
from client.errors import CorruptMessageError, KafkaError
from client.fetcher import (
    EARLIEST,
    LATEST,
    Fetcher,
    FetchRequest,
    NoOffsetForPartitionError,
    PartitionOffsetOutOfRangeError,
)
from client.metadata import (
    BrokerMetadata,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
    TopicPartition,
)
from client.protocol import codec, records
from client.protocol.errors import ErrorCode
from client.protocol.messages import fetch
from client.records_view import batch_payload, decode_batch, scan_batches

TOPIC_ID = uuid.UUID(int=42)
TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)
LEADER_EPOCH = 7


def config(**overrides: Any) -> ConsumerConfig:
    return ConsumerConfig.from_settings(bootstrap_servers="localhost:9092", **overrides)


def metadata(*, leaders: dict[int, int] | None = None, topic_id: uuid.UUID = TOPIC_ID) -> Any:
    leaders = leaders or {0: 1, 1: 2}
    partitions = {
        index: PartitionMetadata("t", index, leader, LEADER_EPOCH, (leader,), (leader,))
        for index, leader in leaders.items()
    }
    return ClusterMetadata(
        brokers={node: BrokerMetadata(node, "localhost", 9000 + node) for node in (1, 2)},
        topics={"t": TopicMetadata("t", topic_id, False, partitions)},
    )


def batch(first: int, count: int, **options: Any) -> bytes:
    values = [f"v{first + index}".encode() for index in range(count)]
    return records.build_batch(values, base_offset=first, timestamp_ms=1000, **options)


def respond(
    request: FetchRequest, partitions: dict[TopicPartition, tuple[int, bytes | None]]
) -> Container:
    """A decoded Fetch response: per partition (error code, records)."""
    by_id = request.version >= 13
    answers = [
        {
            "partition_index": tp.partition,
            "error_code": code,
            "high_watermark": 100,
            "records": data,
            "aborted_transactions": None,
        }
        for tp, (code, data) in partitions.items()
    ]
    body = {
        "responses": [
            {"topic": None if by_id else "t", "topic_id": TOPIC_ID, "partitions": answers}
        ],
    }
    wire = codec.encode(fetch.RESPONSE, request.version, body)
    return codec.decode(fetch.RESPONSE, request.version, wire)


def started(*partitions: TopicPartition, **overrides: Any) -> Fetcher:
    fetcher = Fetcher(config(**overrides))
    fetcher.assign(partitions or [TP0])
    for tp in partitions or [TP0]:
        fetcher.seek(tp, 0)
    return fetcher


def request_for(fetcher: Fetcher, node: int = 1, version: int = 16) -> FetchRequest:
    request = fetcher.build_fetch(node, metadata(), version, now_ms=0)
    assert request is not None
    return request


def values(polled: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[bytes]]:
    return {tp: [record.value for record in batch] for tp, batch in polled.items()}


# -- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "by_id"), [(16, True), (13, True), (12, False), (4, False)])
def test_request_names_topics_by_id_from_v13(version: int, by_id: bool) -> None:
    fetcher = started(TP0, fetch_min_bytes=10, fetch_max_wait_ms=250, max_partition_fetch_bytes=999)
    request = request_for(fetcher, version=version)
    assert request.version == version
    body = request.body
    assert (body["min_bytes"], body["max_wait_ms"], body["isolation_level"]) == (10, 250, 0)
    assert (body["session_id"], body["session_epoch"]) == (0, -1)  # no fetch session
    (topic,) = body["topics"]
    assert topic["topic_id"] == TOPIC_ID and topic["topic"] == "t"
    assert topic["partitions"] == [
        {
            "partition": 0,
            "current_leader_epoch": LEADER_EPOCH,  # KIP-320: from metadata
            "fetch_offset": 0,
            "partition_max_bytes": 999,
        }
    ]
    assert bool(request.topic_names) == by_id
    codec.encode(fetch.REQUEST, version, body)  # the body encodes at that version


def test_no_topic_id_caps_the_version_at_12() -> None:
    fetcher = started(TP0)
    request = fetcher.build_fetch(1, metadata(topic_id=uuid.UUID(int=0)), 16, now_ms=0)
    assert request is not None and request.version == 12


def test_one_fetch_per_leader_and_none_while_in_flight() -> None:
    fetcher = started(TP0, TP1)
    nodes, missing = fetcher.ready_nodes(metadata(), busy=(), now_ms=0)
    assert (nodes, missing) == ({1, 2}, False)
    request = request_for(fetcher, node=1)
    assert list(request.partitions) == [TP0]
    assert fetcher.ready_nodes(metadata(), busy=(), now_ms=0) == ({2}, False)
    assert fetcher.build_fetch(1, metadata(), 16, now_ms=0) is None


def test_a_partition_without_leader_asks_for_metadata() -> None:
    fetcher = started(TP0)
    assert fetcher.ready_nodes(metadata(leaders={0: -1}), busy=(), now_ms=0) == (set(), True)


# -- responses -----------------------------------------------------------------------------


def test_records_are_polled_in_order_and_positions_advance() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    data = batch(0, 3) + batch(3, 2)
    outcome = fetcher.handle_response(request, respond(request, {TP0: (0, data)}), now_ms=0)
    assert outcome.records_ready and not outcome.refresh_metadata
    assert fetcher.highwater(TP0) == 100
    assert values(fetcher.poll(4)) == {TP0: [b"v0", b"v1", b"v2", b"v3"]}
    assert fetcher.position(TP0) == 4
    assert values(fetcher.poll(4)) == {TP0: [b"v4"]}
    assert fetcher.position(TP0) == 5
    assert fetcher.poll(4) == {}


def test_prefetch_runs_ahead_of_the_position_up_to_the_partition_limit() -> None:
    fetcher = started(TP0, max_partition_fetch_bytes=150)
    request = request_for(fetcher)
    data = batch(0, 3)
    fetcher.handle_response(request, respond(request, {TP0: (0, data)}), now_ms=0)
    assert len(data) < 150 <= 2 * len(data)
    ahead = request_for(fetcher)  # fetched again before anything was polled
    assert ahead.partitions[TP0].fetch_offset == 3
    fetcher.handle_response(ahead, respond(ahead, {TP0: (0, batch(3, 3))}), now_ms=0)
    assert fetcher.build_fetch(1, metadata(), 16, now_ms=0) is None  # buffer full
    assert len(fetcher.poll(100)[TP0]) == 6
    assert request_for(fetcher).partitions[TP0].fetch_offset == 6


def test_records_below_the_position_and_a_partial_tail_are_skipped() -> None:
    fetcher = started(TP0)
    fetcher.seek(TP0, 2)
    request = request_for(fetcher)
    partial = batch(5, 3)[:-4]
    fetcher.handle_response(request, respond(request, {TP0: (0, batch(0, 5) + partial)}), 0)
    assert values(fetcher.poll(10)) == {TP0: [b"v2", b"v3", b"v4"]}
    assert request_for(fetcher).partitions[TP0].fetch_offset == 5


def test_only_a_partial_batch_for_the_first_partition_is_an_error() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    fetcher.handle_response(request, respond(request, {TP0: (0, batch(0, 3)[:30])}), 0)
    with pytest.raises(KafkaError, match=r"max\.partition\.fetch\.bytes"):
        fetcher.poll(10)


def test_answers_from_before_a_seek_are_dropped() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    fetcher.seek(TP0, 10)
    fetcher.handle_response(request, respond(request, {TP0: (0, batch(0, 3))}), now_ms=0)
    assert fetcher.poll(10) == {}
    buffered = request_for(fetcher)
    fetcher.handle_response(buffered, respond(buffered, {TP0: (0, batch(10, 2))}), now_ms=0)
    fetcher.seek(TP0, 11)  # buffered records go too
    assert fetcher.poll(10) == {}


def test_control_batches_are_skipped_but_advance_the_position() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    marker = records.build_batch(
        [records.Record(0, 0, b"\x00\x00\x00\x00", b"")], base_offset=2, control=True
    )
    data = batch(0, 2) + marker + batch(3, 1)
    fetcher.handle_response(request, respond(request, {TP0: (0, data)}), now_ms=0)
    assert values(fetcher.poll(10)) == {TP0: [b"v0", b"v1", b"v3"]}
    assert fetcher.position(TP0) == 4


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.FENCED_LEADER_EPOCH,
        ErrorCode.UNKNOWN_TOPIC_ID,
        ErrorCode.KAFKA_STORAGE_ERROR,
    ],
)
def test_leadership_errors_refresh_metadata_and_retry_after_the_backoff(code: ErrorCode) -> None:
    fetcher = started(TP0, retry_backoff_ms=100)
    request = request_for(fetcher)
    outcome = fetcher.handle_response(request, respond(request, {TP0: (code, None)}), now_ms=0)
    assert outcome.refresh_metadata
    assert fetcher.poll(10) == {}  # not an error for the user
    assert fetcher.build_fetch(1, metadata(), 16, now_ms=50) is None
    assert fetcher.next_retry_ms(now_ms=50) == 100
    assert fetcher.build_fetch(1, metadata(), 16, now_ms=100) is not None


def test_unknown_leader_epoch_retries_without_a_refresh() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    response = respond(request, {TP0: (ErrorCode.UNKNOWN_LEADER_EPOCH, None)})
    assert not fetcher.handle_response(request, response, now_ms=0).refresh_metadata
    assert fetcher.poll(10) == {}


def test_other_errors_are_raised_once() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    response = respond(request, {TP0: (ErrorCode.TOPIC_AUTHORIZATION_FAILED, None)})
    fetcher.handle_response(request, response, now_ms=0)
    with pytest.raises(KafkaError) as raised:
        fetcher.poll(10)
    assert raised.value.error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    assert fetcher.poll(10) == {}


def test_a_failed_request_backs_off_its_partitions() -> None:
    fetcher = started(TP0, retry_backoff_ms=100)
    request = request_for(fetcher)
    assert fetcher.handle_failure(request, KafkaError("broken"), now_ms=0) is False
    assert fetcher.build_fetch(1, metadata(), 16, now_ms=10) is None
    assert fetcher.build_fetch(1, metadata(), 16, now_ms=100) is not None


# -- resets --------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "spec"), [("earliest", EARLIEST), ("latest", LATEST)])
def test_out_of_range_resets_per_policy(policy: str, spec: int) -> None:
    fetcher = started(TP0, auto_offset_reset=policy)
    request = request_for(fetcher)
    response = respond(request, {TP0: (ErrorCode.OFFSET_OUT_OF_RANGE, None)})
    fetcher.handle_response(request, response, now_ms=0)
    assert fetcher.position(TP0) is None
    wanted = fetcher.resets_needed(now_ms=0)
    assert {tp: spec_ for tp, (spec_, _) in wanted.items()} == {TP0: spec}
    assert fetcher.resets_needed(now_ms=0) == {}  # in flight
    fetcher.reset_done(TP0, wanted[TP0][1], offset=40, leader_epoch=3)
    assert fetcher.position(TP0) == 40
    assert fetcher.positions() == {TP0: (40, 3)}


def test_out_of_range_without_policy_raises_with_the_offsets() -> None:
    fetcher = started(TP0, auto_offset_reset="none")
    fetcher.seek(TP0, 9)
    request = request_for(fetcher)
    response = respond(request, {TP0: (ErrorCode.OFFSET_OUT_OF_RANGE, None)})
    fetcher.handle_response(request, response, now_ms=0)
    with pytest.raises(PartitionOffsetOutOfRangeError) as raised:
        fetcher.poll(10)
    assert raised.value.offsets == {TP0: 9}


def test_no_position_without_policy_raises() -> None:
    fetcher = Fetcher(config(auto_offset_reset="none"))
    fetcher.assign([TP0])
    assert fetcher.resets_needed(now_ms=0) == {}
    with pytest.raises(NoOffsetForPartitionError):
        fetcher.poll(10)


def test_a_seek_during_a_reset_wins() -> None:
    fetcher = Fetcher(config(auto_offset_reset="earliest"))
    fetcher.assign([TP0])
    token = fetcher.resets_needed(now_ms=0)[TP0][1]
    fetcher.seek(TP0, 5)
    fetcher.reset_done(TP0, token, offset=0, leader_epoch=0)
    assert fetcher.position(TP0) == 5


def _txn_batch(first: int, count: int, pid: int) -> bytes:
    return batch(first, count, producer_id=pid, producer_epoch=0, base_sequence=first,
                 transactional=True)  # fmt: skip


def _marker(offset: int, pid: int, commit: bool) -> bytes:
    key = b"\x00\x00\x00\x01" if commit else b"\x00\x00\x00\x00"
    return records.build_batch(
        [records.Record(0, 0, key, b"\x00\x00\x00\x00\x00\x05")],
        base_offset=offset,
        producer_id=pid,
        producer_epoch=0,
        transactional=True,
        control=True,
    )


def _respond_with_aborted(
    request: FetchRequest, data: bytes, aborted: list[tuple[int, int]] | None
) -> Container:
    body = {
        "responses": [
            {
                "topic": "t",
                "topic_id": TOPIC_ID,
                "partitions": [
                    {
                        "partition_index": 0,
                        "error_code": 0,
                        "high_watermark": 100,
                        "last_stable_offset": 100,
                        "records": data,
                        "aborted_transactions": None
                        if aborted is None
                        else [{"producer_id": p, "first_offset": f} for p, f in aborted],
                    }
                ],
            }
        ],
    }
    wire = codec.encode(fetch.RESPONSE, request.version, body)
    return codec.decode(fetch.RESPONSE, request.version, wire)


def test_read_committed_asks_for_isolation_level_1_and_drops_aborted_transactions() -> None:
    fetcher = started(TP0, isolation_level="read_committed")
    request = request_for(fetcher)
    assert request.body["isolation_level"] == 1
    # Producer 7 aborts (0-1, marker 4); producer 8 commits (2-3, marker 5) interleaved;
    # producer 7 then starts again and commits (6, marker 7); 8 is plain-idempotent at 8.
    data = (
        _txn_batch(0, 2, 7)
        + _txn_batch(2, 2, 8)
        + _marker(4, 7, commit=False)
        + _marker(5, 8, commit=True)
        + _txn_batch(6, 1, 7)
        + _marker(7, 7, commit=True)
        + batch(8, 1, producer_id=8, producer_epoch=0, base_sequence=0)
    )
    fetcher.handle_response(request, _respond_with_aborted(request, data, [(7, 0)]), now_ms=0)
    assert values(fetcher.poll(20)) == {TP0: [b"v2", b"v3", b"v6", b"v8"]}
    assert fetcher.position(TP0) == 9


def test_read_uncommitted_keeps_aborted_records() -> None:
    fetcher = started(TP0)
    request = request_for(fetcher)
    assert request.body["isolation_level"] == 0
    data = _txn_batch(0, 2, 7) + _marker(2, 7, commit=False)
    fetcher.handle_response(request, _respond_with_aborted(request, data, [(7, 0)]), now_ms=0)
    assert values(fetcher.poll(20)) == {TP0: [b"v0", b"v1"]}
    assert fetcher.position(TP0) == 3


# -- the batch reader ----------------------------------------------------------------------


@pytest.mark.parametrize("codec_id", range(5))
def test_decode_batch_matches_the_reference_decoder(codec_id: int) -> None:
    items = [
        records.Record(
            0,
            5000 + index * 300,
            None if index == 2 else b"k" * index,
            None if index == 3 else b"x" * (index * 40),
            [("h", b"1"), ("n", None)] if index % 2 else [],
        )
        for index in range(30)
    ]
    data = records.build_batch(items, base_offset=100, compression=codec_id)
    (info,) = scan_batches(data).batches
    ours = decode_batch(batch_payload(data, info, check_crc=True), info, "t", 0, first_offset=0)
    reference = records.decode_records(data)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in ours] == [
        (r.offset, r.timestamp, r.key, r.value, r.headers) for r in reference
    ]


def test_log_append_time_replaces_timestamps() -> None:
    data = records.build_batch(
        [b"a", b"b"], timestamp_ms=10, timestamp_type=records.TIMESTAMP_LOG_APPEND_TIME
    )
    (info,) = scan_batches(data).batches
    decoded = decode_batch(batch_payload(data, info, check_crc=True), info, "t", 0, 0)
    assert [(r.timestamp, r.timestamp_type) for r in decoded] == [(10, 1), (10, 1)]


@pytest.mark.parametrize("damage", ["crc", "truncated", "count"])
def test_corrupt_batches_raise_corrupt_message(damage: str) -> None:
    data = bytearray(batch(0, 3))
    if damage == "crc":
        data[-1] ^= 0xFF
    (info,) = scan_batches(bytes(data)).batches
    if damage == "count":
        info = info._replace(record_count=4)
    with pytest.raises(CorruptMessageError):
        payload = batch_payload(bytes(data), info, check_crc=True)
        if damage == "truncated":
            payload = payload[:-3]
        decode_batch(payload, info, "t", 0, 0)
