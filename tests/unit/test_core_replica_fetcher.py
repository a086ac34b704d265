"""The follower's fetch state (Kafka's AbstractFetcherThread): requests, effects, truncation by
leader epoch (KIP-101, KIP-279, KIP-320) and convergence of divergent logs."""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.core.partition import Partition, PartitionState
from broker.core.replica_fetcher import (
    AppendRecords,
    Effect,
    FetcherSettings,
    LocalReplica,
    PartitionFailed,
    ReplicaFetchState,
    ResetLog,
    Truncate,
    UpdateHighWatermark,
    truncation_offset,
)
from client.protocol.errors import ErrorCode

UNDEFINED = -1
BACKOFF_MS = 1000


@dataclass
class FakeLog:
    """A log of one-record batches ``(offset, epoch)`` and its leader-epoch cache."""

    batches: list[tuple[int, int]] = field(default_factory=list)
    epochs: list[tuple[int, int]] = field(default_factory=list)  # (epoch, start offset)
    start: int = 0

    @classmethod
    def of(cls, epochs_by_offset: list[int], current_epoch: int | None = None) -> FakeLog:
        """Batch i has epoch ``epochs_by_offset[i]``; ``current_epoch`` is an epoch entered
        without writing yet (a new leader records its start at once, KAFKA-7415)."""
        log = cls()
        for epoch in epochs_by_offset:
            log.append(epoch)
        if current_epoch is not None:
            log.assign(current_epoch, log.log_end_offset)
        return log

    # -- LocalReplica --------------------------------------------------------------------

    @property
    def log_end_offset(self) -> int:
        return self.batches[-1][0] + 1 if self.batches else self.start

    @property
    def log_start_offset(self) -> int:
        return self.start

    def last_fetched_epoch(self) -> int:
        return self.epochs[-1][0] if self.epochs else UNDEFINED

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """Kafka's LeaderEpochFileCache.endOffsetFor."""
        if epoch == UNDEFINED or not self.epochs:
            return UNDEFINED, UNDEFINED
        if epoch == self.epochs[-1][0]:
            return epoch, self.log_end_offset
        higher = bisect.bisect_right([e for e, _ in self.epochs], epoch)
        if higher == len(self.epochs):
            return UNDEFINED, UNDEFINED  # above the latest epoch
        end = self.epochs[higher][1]
        if higher == 0:
            return epoch, end  # below the first epoch: the first start
        return self.epochs[higher - 1][0], end

    # -- mutation ------------------------------------------------------------------------

    def assign(self, epoch: int, start: int) -> None:
        if self.epochs and self.epochs[-1][0] >= epoch:
            return
        self.epochs = [(e, s) for e, s in self.epochs if s < start]
        self.epochs.append((epoch, start))

    def append(self, epoch: int) -> None:
        self.assign(epoch, self.log_end_offset)
        self.batches.append((self.log_end_offset, epoch))

    def append_as_follower(self, batches: list[tuple[int, int]]) -> None:
        for offset, epoch in batches:
            assert offset == self.log_end_offset, (offset, self.log_end_offset)
            self.append(epoch)

    def truncate_to(self, offset: int) -> None:
        self.batches = [b for b in self.batches if b[0] < offset]
        self.epochs = [(e, s) for e, s in self.epochs if s < offset]

    def reset_at(self, offset: int) -> None:
        self.batches, self.epochs, self.start = [], [], offset


def _check_protocol(log: FakeLog) -> LocalReplica:
    return log  # mypy: the fake is a LocalReplica


# -- a leader answering follower fetches, as docs/replication-design.md says ------------------


def leader_answer(
    log: FakeLog, partition: Partition, request: dict[str, Any], replica_epoch: int = 1
) -> dict[str, Any]:
    """The leader side of a follower Fetch: epoch fencing, divergence, read to the LEO."""
    topics = []
    for topic in request["topics"]:
        parts = []
        for asked in topic["partitions"]:
            parts.append(_answer_partition(log, partition, request, asked, replica_epoch))
        topics.append({"topic": topic["topic"], "topic_id": topic["topic_id"], "partitions": parts})
    return {"error_code": 0, "responses": topics}


def _answer_partition(
    log: FakeLog,
    partition: Partition,
    request: dict[str, Any],
    asked: dict[str, Any],
    replica_epoch: int,
) -> dict[str, Any]:
    def entry(error: ErrorCode, **fields: Any) -> dict[str, Any]:
        base = {
            "partition_index": asked["partition"],
            "error_code": int(error),
            "high_watermark": partition.high_watermark,
            "log_start_offset": log.log_start_offset,
            "diverging_epoch": {"epoch": -1, "end_offset": -1},
            "records": None,
        }
        base.update(fields)
        return base

    if not partition.is_leader:
        return entry(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    error = partition.check_leader_epoch(asked["current_leader_epoch"])
    if error is not ErrorCode.NONE:
        return entry(error)
    fetch_offset, last_epoch = asked["fetch_offset"], asked["last_fetched_epoch"]
    if last_epoch >= 0:
        epoch, end = log.end_offset_for_epoch(last_epoch)
        if epoch < 0 or end < 0:
            return entry(ErrorCode.OFFSET_OUT_OF_RANGE)
        if epoch < last_epoch or end < fetch_offset:
            return entry(ErrorCode.NONE, diverging_epoch={"epoch": epoch, "end_offset": end})
    if not log.log_start_offset <= fetch_offset <= log.log_end_offset:
        return entry(ErrorCode.OFFSET_OUT_OF_RANGE)
    partition.on_follower_fetch(request["replica_id"], fetch_offset, replica_epoch, 0, True)
    batches = [b for b in log.batches if b[0] >= fetch_offset]
    return entry(ErrorCode.NONE, records=json.dumps(batches).encode() if batches else b"")


def apply_effects(
    effects: list[Effect],
    fetcher: ReplicaFetchState,
    logs: Mapping[tuple[str, int], FakeLog],
    partitions: Mapping[tuple[str, int], Partition],
) -> None:
    """What the shell does with the effects (broker/server/replica_fetchers.py)."""
    for effect in effects:
        log, partition = logs[effect.key], partitions[effect.key]
        if isinstance(effect, AppendRecords):
            log.append_as_follower([tuple(b) for b in json.loads(bytes(effect.records))])
            partition.on_local_append(log.log_end_offset, 1)
            partition.on_leader_high_watermark(effect.leader_high_watermark)
        elif isinstance(effect, Truncate):
            log.truncate_to(effect.offset)
            partition.on_truncated(log.log_end_offset)
        elif isinstance(effect, ResetLog):
            log.reset_at(effect.offset)
            partition.on_truncated(log.log_end_offset)
        elif isinstance(effect, UpdateHighWatermark):
            partition.on_leader_high_watermark(effect.leader_high_watermark)
        else:
            continue
        fetcher.on_log_changed(effect.key, log)


# -- helpers for the unit tests --------------------------------------------------------------

TOPIC_A, TOPIC_B = uuid.uuid4(), uuid.uuid4()
A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)


def _fetcher(*keys: tuple[str, int], epoch: int = 3) -> tuple[ReplicaFetchState, dict[Any, Any]]:
    fetcher = ReplicaFetchState(2, FetcherSettings(replica_id=7, backoff_ms=BACKOFF_MS))
    logs: dict[tuple[str, int], FakeLog] = {}
    for key in keys:
        logs[key] = FakeLog.of([0, 0, 1, 1, 3])
        fetcher.add_partition(key, TOPIC_A if key[0] == "a" else TOPIC_B, epoch, logs[key])
    return fetcher, logs


def _part(index: int, error: ErrorCode = ErrorCode.NONE, **fields: Any) -> dict[str, Any]:
    part: dict[str, Any] = {
        "partition_index": index,
        "error_code": int(error),
        "high_watermark": 4,
        "log_start_offset": 0,
        "diverging_epoch": {"epoch": -1, "end_offset": -1},
        "records": None,
    }
    part.update(fields)
    return part


def _response(*parts: tuple[str, dict[str, Any]], by_id: bool = False) -> dict[str, Any]:
    topics: dict[str, list[dict[str, Any]]] = {}
    for name, part in parts:
        topics.setdefault(name, []).append(part)
    return {
        "error_code": 0,
        "responses": [
            {
                "topic": "" if by_id else name,
                "topic_id": TOPIC_A if name == "a" else TOPIC_B,
                "partitions": items,
            }
            for name, items in topics.items()
        ],
    }


# -- build_request ---------------------------------------------------------------------------


def test_build_request_groups_partitions_by_topic() -> None:
    fetcher, logs = _fetcher(A0, B0, A1)
    logs[A1].truncate_to(3)
    fetcher.on_log_changed(A1, logs[A1])
    request = fetcher.build_request(now_ms=0, broker_epoch=42)
    assert request is not None
    assert request["replica_id"] == 7
    assert request["replica_state"] == {"replica_id": 7, "replica_epoch": 42}
    assert (request["max_wait_ms"], request["min_bytes"]) == (500, 1)
    assert request["max_bytes"] == 10 * 1024 * 1024
    assert request["isolation_level"] == 0
    assert [(t["topic"], t["topic_id"]) for t in request["topics"]] == [
        ("a", TOPIC_A),
        ("b", TOPIC_B),
    ]
    a_parts = request["topics"][0]["partitions"]
    assert a_parts == [
        {
            "partition": 0,
            "current_leader_epoch": 3,
            "fetch_offset": 5,
            "last_fetched_epoch": 3,
            "log_start_offset": 0,
            "partition_max_bytes": 1024 * 1024,
        },
        {
            "partition": 1,
            "current_leader_epoch": 3,
            "fetch_offset": 3,
            "last_fetched_epoch": 1,
            "log_start_offset": 0,
            "partition_max_bytes": 1024 * 1024,
        },
    ]
    assert [p["partition"] for p in request["topics"][1]["partitions"]] == [0]


def test_empty_log_fetches_from_its_start_with_no_epoch() -> None:
    fetcher = ReplicaFetchState(2, FetcherSettings(replica_id=7))
    fetcher.add_partition(A0, TOPIC_A, 0, FakeLog(start=40))
    request = fetcher.build_request(0)
    assert request is not None
    part = request["topics"][0]["partitions"][0]
    assert (part["fetch_offset"], part["last_fetched_epoch"], part["log_start_offset"]) == (
        40,
        -1,
        40,
    )
    assert request["replica_state"]["replica_epoch"] == -1


def test_backed_off_partitions_wait_for_their_time() -> None:
    fetcher, logs = _fetcher(A0, A1)
    assert fetcher.next_ready_ms() == 0
    fetcher.build_request(100)
    response = _response(("a", _part(0, ErrorCode.UNKNOWN_LEADER_EPOCH)), ("a", _part(1)))
    assert fetcher.handle_response(response, logs, 100) == [UpdateHighWatermark(A1, 4, 0)]
    request = fetcher.build_request(100 + BACKOFF_MS - 1)
    assert request is not None
    assert [p["partition"] for p in request["topics"][0]["partitions"]] == [1]
    fetcher.partitions[A1].delayed_until_ms = 5_000
    assert fetcher.build_request(100 + BACKOFF_MS - 1) is None
    assert fetcher.next_ready_ms() == 100 + BACKOFF_MS
    request = fetcher.build_request(100 + BACKOFF_MS)
    assert request is not None
    assert [p["partition"] for p in request["topics"][0]["partitions"]] == [0]
    fetcher.remove_partition(A0)
    fetcher.remove_partition(A1)
    assert fetcher.next_ready_ms() is None and fetcher.build_request(10_000) is None


# -- handle_response -------------------------------------------------------------------------


def test_records_become_an_append_with_the_leader_high_watermark() -> None:
    fetcher, logs = _fetcher(A0)
    fetcher.build_request(0)
    response = _response(("a", _part(0, records=b"batch", high_watermark=9, log_start_offset=2)))
    assert fetcher.handle_response(response, logs, 0) == [AppendRecords(A0, b"batch", 9, 2, 5)]


def test_no_records_is_a_high_watermark_update() -> None:
    fetcher, logs = _fetcher(A0, A1)
    fetcher.build_request(0)
    response = _response(("a", _part(0, records=b"")), ("a", _part(1, records=memoryview(b""))))
    assert fetcher.handle_response(response, logs, 0) == [
        UpdateHighWatermark(A0, 4, 0),
        UpdateHighWatermark(A1, 4, 0),
    ]


def test_diverging_epoch_becomes_a_truncation_and_no_high_watermark() -> None:
    fetcher, logs = _fetcher(A0)  # epochs 0@0, 1@2, 3@4, LEO 5
    fetcher.build_request(0)
    part = _part(0, records=b"x", high_watermark=5, diverging_epoch={"epoch": 1, "end_offset": 3})
    assert fetcher.handle_response(_response(("a", part)), logs, 0) == [Truncate(A0, 3, True)]


def test_offset_out_of_range() -> None:
    fetcher, logs = _fetcher(A0)  # fetch offset 5
    fetcher.build_request(0)
    # Below the leader's log start: start over there.
    below = _part(0, ErrorCode.OFFSET_OUT_OF_RANGE, log_start_offset=20, high_watermark=30)
    assert fetcher.handle_response(_response(("a", below)), logs, 0) == [ResetLog(A0, 20)]
    # Ahead of the leader (after an unclean election): cut to its HW.
    fetcher.build_request(0)
    ahead = _part(0, ErrorCode.OFFSET_OUT_OF_RANGE, log_start_offset=0, high_watermark=3)
    assert fetcher.handle_response(_response(("a", ahead)), logs, 0) == [Truncate(A0, 3, True)]
    # Nothing to go by: retry later, never fatal.
    fetcher.build_request(0)
    blind = _part(0, ErrorCode.OFFSET_OUT_OF_RANGE, log_start_offset=-1, high_watermark=-1)
    assert fetcher.handle_response(_response(("a", blind)), logs, 7) == []
    assert A0 in fetcher.partitions and fetcher.partitions[A0].delayed_until_ms == 7 + BACKOFF_MS


def test_fenced_leader_epoch_removes_the_partition() -> None:
    fetcher, logs = _fetcher(A0, A1)
    fetcher.build_request(0)
    response = _response(("a", _part(0, ErrorCode.FENCED_LEADER_EPOCH)), ("a", _part(1)))
    effects = fetcher.handle_response(response, logs, 0)
    assert effects == [
        PartitionFailed(A0, ErrorCode.FENCED_LEADER_EPOCH),
        UpdateHighWatermark(A1, 4, 0),
    ]
    assert list(fetcher.partitions) == [A1]


@pytest.mark.parametrize(
    "error",
    [
        ErrorCode.NOT_LEADER_OR_FOLLOWER,  # the source has not taken the leadership yet
        ErrorCode.UNKNOWN_LEADER_EPOCH,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.UNKNOWN_SERVER_ERROR,
    ],
)
def test_retriable_errors_back_off_and_keep_the_partition(error: ErrorCode) -> None:
    fetcher, logs = _fetcher(A0)
    fetcher.build_request(0)
    assert fetcher.handle_response(_response(("a", _part(0, error))), logs, 50) == []
    assert fetcher.partitions[A0].delayed_until_ms == 50 + BACKOFF_MS
    assert fetcher.build_request(50 + BACKOFF_MS - 1) is None
    assert fetcher.build_request(50 + BACKOFF_MS) is not None


def test_an_unknown_error_code_backs_off() -> None:
    fetcher, logs = _fetcher(A0)
    fetcher.build_request(0)
    assert fetcher.handle_response(_response(("a", _part(0, error_code=9999))), logs, 0) == []
    assert fetcher.partitions[A0].delayed_until_ms == BACKOFF_MS


def test_top_level_error_backs_off_the_requested_partitions() -> None:
    fetcher, logs = _fetcher(A0, B0)
    fetcher.build_request(0)
    fetcher.add_partition(A1, TOPIC_A, 3, FakeLog())  # added while the fetch was out
    response = {"error_code": int(ErrorCode.UNKNOWN_SERVER_ERROR), "responses": []}
    assert fetcher.handle_response(response, logs, 10) == []
    assert fetcher.partitions[A0].delayed_until_ms == 10 + BACKOFF_MS
    assert fetcher.partitions[B0].delayed_until_ms == 10 + BACKOFF_MS
    assert fetcher.partitions[A1].delayed_until_ms == 0


def test_topic_ids_resolve_through_topic_names_or_our_partitions() -> None:
    fetcher, logs = _fetcher(A0, B0)
    fetcher.build_request(0)
    response = _response(("a", _part(0)), ("b", _part(0)), by_id=True)
    assert fetcher.handle_response(response, logs, 0, {TOPIC_A: "a", TOPIC_B: "b"}) == [
        UpdateHighWatermark(A0, 4, 0),
        UpdateHighWatermark(B0, 4, 0),
    ]
    fetcher.build_request(0)
    assert len(fetcher.handle_response(response, logs, 0)) == 2  # from our own topic ids
    fetcher.build_request(0)
    unknown = _response(("a", _part(0)), by_id=True)
    unknown["responses"][0]["topic_id"] = uuid.uuid4()
    assert fetcher.handle_response(unknown, logs, 0, {}) == []


def test_unknown_partitions_and_missing_logs_are_skipped() -> None:
    fetcher, logs = _fetcher(A0, A1)
    fetcher.build_request(0)
    response = _response(("a", _part(0)), ("a", _part(1)), ("a", _part(9)), ("c", _part(0)))
    assert fetcher.handle_response(response, {A0: logs[A0]}, 0) == [UpdateHighWatermark(A0, 4, 0)]


def test_stale_responses_are_ignored() -> None:
    """Kafka processes a partition's data only if its fetch offset (and here its leader
    epoch) is still the one requested: a partition truncated, removed or re-added while the
    fetch was out must not get records meant for another position."""
    fetcher, logs = _fetcher(A0, A1, B0)
    fetcher.build_request(0)
    logs[A0].truncate_to(2)
    fetcher.on_log_changed(A0, logs[A0])  # moved
    fetcher.remove_partition(A1)
    fetcher.add_partition(A1, TOPIC_A, 4, logs[A1])  # re-added at a new leader epoch
    fetcher.add_partition(("a", 2), TOPIC_A, 3, FakeLog())  # added: not in the request
    logs[("a", 2)] = FakeLog()
    response = _response(
        ("a", _part(0, records=b"x")),
        ("a", _part(1, records=b"x")),
        ("a", _part(2, records=b"x")),
        ("b", _part(0, records=b"x")),
    )
    assert fetcher.handle_response(response, logs, 0) == [AppendRecords(B0, b"x", 4, 0, 5)]
    # A response is used once: the same one again (a duplicate) does nothing.
    assert fetcher.handle_response(response, logs, 0) == []


# -- truncation_offset -----------------------------------------------------------------------


def test_truncation_to_the_same_epoch() -> None:
    local = _check_protocol(FakeLog.of([0, 0, 1, 1, 1, 2, 2]))  # 0@0 1@2 2@5, LEO 7
    assert truncation_offset(local, 1, 4) == (4, True)  # the leader's end is smaller
    assert truncation_offset(local, 1, 6) == (5, True)  # ours (the start of epoch 2)
    assert truncation_offset(local, 2, 9) == (7, True)  # never beyond our log end
    assert truncation_offset(local, 2, 6) == (6, True)


def test_truncation_to_an_epoch_we_never_had_kip_279() -> None:
    local = FakeLog.of([0, 0, 2, 2, 2])  # 0@0 2@2, LEO 5
    # The leader reports epoch 1, which we never had: cut at the end of epoch 0 and ask again.
    assert truncation_offset(local, 1, 4) == (2, False)
    # The second round (last fetched epoch 0 now) settles it.
    local.truncate_to(2)
    assert local.last_fetched_epoch() == 0
    assert truncation_offset(local, 0, 1) == (1, True)


def test_truncation_without_a_usable_local_epoch() -> None:
    empty_cache = FakeLog(batches=[(0, 0), (1, 0), (2, 0)])  # no epoch entries at all
    assert truncation_offset(empty_cache, 3, 2) == (2, True)
    assert truncation_offset(empty_cache, 3, 7) == (3, True)
    # An epoch below our first one: Kafka answers that epoch with our first start offset.
    late = FakeLog(batches=[(5, 4), (6, 4)], epochs=[(4, 5)], start=5)
    assert late.end_offset_for_epoch(2) == (2, 5)
    assert truncation_offset(late, 2, 6) == (5, True)


def test_two_rounds_then_records() -> None:
    """KIP-279 through fetches: the leader's diverging epoch is unknown to us, the first cut is
    not final, the second divergence settles it, then the records flow."""
    leader = FakeLog.of([1, 1, 1, 2, 2, 2, 4, 4, 4, 4])  # 1@0 2@3 4@6
    follower = FakeLog.of([1, 1, 1, 1, 3, 3, 3, 3])  # 1@0 3@4: 3 was a leader nobody followed
    partition = _leader_partition(epoch=4, log_end_offset=leader.log_end_offset)
    fetcher, effects_seen = _run_rounds(leader, follower, partition, rounds=4)
    assert effects_seen[:2] == [[Truncate(A0, 4, False)], [Truncate(A0, 3, True)]]
    assert isinstance(effects_seen[2][0], AppendRecords)
    assert follower.batches == leader.batches and follower.epochs == leader.epochs
    assert fetcher.partitions[A0].fetch_offset == leader.log_end_offset


# -- simulated replication -------------------------------------------------------------------


def _leader_partition(epoch: int, log_end_offset: int, hw: int = 0) -> Partition:
    partition = Partition("a", 0, TOPIC_A, 1, (1, 7), (1,), 2, epoch - 1, 1)
    partition.on_local_append(log_end_offset, 0)
    partition.on_leader_high_watermark(hw)
    partition.apply_state(PartitionState((1, 7), (1,), 1, epoch, 1), 0)
    return partition


def _run_rounds(
    leader: FakeLog,
    follower: FakeLog,
    leader_partition: Partition,
    rounds: int,
    follower_partition: Partition | None = None,
) -> tuple[ReplicaFetchState, list[list[Effect]]]:
    fetcher = ReplicaFetchState(1, FetcherSettings(replica_id=7))
    fetcher.add_partition(A0, TOPIC_A, leader_partition.leader_epoch, follower)
    if follower_partition is None:
        follower_partition = Partition("a", 0, TOPIC_A, 7, (1, 7), (1,), 1, 0, 1)
        follower_partition.on_local_append(follower.log_end_offset, 0)
    seen = []
    for _ in range(rounds):
        request = fetcher.build_request(0)
        assert request is not None
        effects = fetcher.handle_response(
            leader_answer(leader, leader_partition, request), {A0: follower}, 0
        )
        seen.append(effects)
        apply_effects(effects, fetcher, {A0: follower}, {A0: follower_partition})
        assert follower_partition.high_watermark <= follower.log_end_offset
    return fetcher, seen


def test_f4_epoch_divergence_converges() -> None:
    """F4 (KIP-101): RF=2, acks=1.  A leads at epoch 1; both hold 0-9, A alone 10-14.  B
    crashes; A loses its unflushed tail from 5, leads again at epoch 2 and writes 5-14.  B
    comes back: it must truncate to 5 by epoch (its HW, 10, would keep a different 5-9)."""
    a = FakeLog.of([1] * 15)
    b = FakeLog.of([1] * 10)
    a.truncate_to(5)  # power loss
    a.assign(2, 5)
    for _ in range(10):
        a.append(2)
    a_partition = _leader_partition(epoch=2, log_end_offset=a.log_end_offset)
    b_partition = Partition("a", 0, TOPIC_A, 7, (1, 7), (1, 7), 1, 1, 1)
    b_partition.on_local_append(10, 0)
    b_partition.on_leader_high_watermark(10)
    assert b_partition.high_watermark == 10
    assert b.batches[5] != a.batches[5]  # the same offset, different records
    _, seen = _run_rounds(a, b, a_partition, rounds=3, follower_partition=b_partition)
    assert seen[0] == [Truncate(A0, 5, True)]
    assert b_partition.high_watermark == a_partition.high_watermark
    assert b.batches == a.batches and b.epochs == a.epochs == [(1, 0), (2, 5)]
    assert b_partition.high_watermark <= b.log_end_offset
    # The leader now counts B: B's fetch at 15 moves the leader's state.
    assert a_partition.followers[7].log_end_offset == 15


def test_follower_behind_the_leader_log_start_starts_over() -> None:
    leader = FakeLog(start=10)
    for _ in range(5):
        leader.append(3)
    follower = FakeLog.of([1, 1, 1])
    partition = _leader_partition(epoch=3, log_end_offset=leader.log_end_offset)
    _, seen = _run_rounds(leader, follower, partition, rounds=3)
    assert seen[0] == [ResetLog(A0, 10)]
    assert follower.start == 10 and follower.batches == leader.batches


@st.composite
def _divergent_histories(draw: st.DrawFn) -> tuple[list[int], list[int], list[int], int | None]:
    """A common prefix, then tails that share no epoch (a tail may continue the prefix's last
    epoch, not both), the leader's newest epoch the highest: logs of the same partition."""
    prefix = sorted(draw(st.lists(st.integers(0, 4), max_size=6)))
    last = prefix[-1] if prefix else -1
    tail_epochs = sorted(draw(st.sets(st.integers(last + 1, last + 8), min_size=1, max_size=5)))
    leader_epochs = [tail_epochs[-1]]
    follower_epochs: list[int] = []
    for epoch in tail_epochs[:-1]:
        (leader_epochs if draw(st.booleans()) else follower_epochs).append(epoch)
    leader_epochs.sort()

    def tail(epochs: list[int]) -> list[int]:
        out: list[int] = []
        for i, epoch in enumerate(epochs):
            out += [epoch] * draw(st.integers(0 if i == len(epochs) - 1 else 1, 3))
        return out

    leader_tail, follower_tail = tail(leader_epochs), tail(follower_epochs)
    extend = draw(st.sampled_from(["none", "leader", "follower"])) if prefix else "none"
    more = [last] * draw(st.integers(1, 3))
    if extend == "leader":
        leader_tail = more + leader_tail
    elif extend == "follower":
        follower_tail = more + follower_tail
    # The newest leader epoch may have no batch yet (its start is recorded at once).
    current = leader_epochs[-1] if leader_epochs[-1] not in leader_tail else None
    return prefix, prefix + leader_tail, prefix + follower_tail, current


@settings(max_examples=400, deadline=None)
@given(_divergent_histories())
def test_divergent_logs_converge(
    history: tuple[list[int], list[int], list[int], int | None],
) -> None:
    """P4 / F5: whatever the divergence, fetch rounds make the follower's log the leader's,
    never truncating into the common prefix."""
    prefix, leader_epochs, follower_epochs, current = history
    leader = FakeLog.of(leader_epochs, current_epoch=current)
    follower_tail_epochs = follower_epochs[len(prefix) :]
    follower = FakeLog.of(follower_epochs)
    partition = _leader_partition(
        epoch=leader.last_fetched_epoch(), log_end_offset=leader.log_end_offset
    )
    fetcher = ReplicaFetchState(1, FetcherSettings(replica_id=7))
    fetcher.add_partition(A0, TOPIC_A, partition.leader_epoch, follower)
    follower_partition = Partition("a", 0, TOPIC_A, 7, (1, 7), (1,), 1, 0, 1)
    follower_partition.on_local_append(follower.log_end_offset, 0)
    rounds = 0
    while True:
        rounds += 1
        assert rounds <= len(set(follower_tail_epochs)) + 3
        request = fetcher.build_request(0)
        assert request is not None
        effects = fetcher.handle_response(
            leader_answer(leader, partition, request), {A0: follower}, 0
        )
        apply_effects(effects, fetcher, {A0: follower}, {A0: follower_partition})
        assert follower.log_end_offset >= len(prefix) or not prefix
        assert follower.batches[: len(prefix)] == leader.batches[: len(prefix)]
        settled = all(isinstance(e, AppendRecords | UpdateHighWatermark) for e in effects)
        if effects and settled and follower.log_end_offset == leader.log_end_offset:
            break
    assert follower.batches == leader.batches
    # Epoch caches agree on every epoch that has a batch.
    assert [e for e in follower.epochs if any(b[1] == e[0] for b in follower.batches)] == [
        e for e in leader.epochs if any(b[1] == e[0] for b in leader.batches)
    ]
