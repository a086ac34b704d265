"""Replication hot paths: the leader's handling of follower fetches, the high-watermark update
and acks=all completion, and the follower's handling of a fetch response.

The leader cases use a never-served ``BrokerServer`` (``_shell.py``) as node 1 leading a topic
of 6 partitions with replicas (1, 2, 3); peers 2 and 3 are live in its image but exist only as
the fetches made in their name.  The follower cases make node 1 a follower of peer 2 and feed
its replica fetcher a decoded Fetch response, as its connection would.  Inputs are built
outside the timed functions.  Figures are for comparison, never asserted.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from construct import Container
from pytest_benchmark.fixture import BenchmarkFixture

from bench.micro._shell import (
    batch_of_about,
    broker_epoch,
    create_topic,
    decode_parts,
    handle,
    handle_deferred,
    produce_body,
    records_in,
    request_frame,
)
from broker.core.partition import Partition, PartitionState
from broker.core.replica_fetcher import FetcherSettings, PartitionFetch, ReplicaFetchState
from broker.core.replication import check_follower_fetch
from broker.server.broker import BrokerServer
from broker.server.clock import monotonic_ms
from broker.server.connection import DeferredResponse
from broker.server.replica_fetchers import FETCH_VERSION
from client.protocol import headers
from client.protocol.errors import ErrorCode

PRODUCE = 0
FETCH = 1
PRODUCE_VERSION = 9
BATCH_BYTES = 16 * 1024
PARTITIONS = 6
MIB = 1024 * 1024


def _lead(shell: BrokerServer, name: str = "replicated") -> tuple[uuid.UUID, list[Partition]]:
    topic_id = create_topic(shell, name, PARTITIONS, (1, 2, 3))
    return topic_id, [shell.partitions[(name, index)] for index in range(PARTITIONS)]


def _produce(shell: BrokerServer, topic: str, batch: bytes, acks: int = 1) -> None:
    body = produce_body(topic, dict.fromkeys(range(PARTITIONS), batch), acks)
    frame = request_frame(PRODUCE, PRODUCE_VERSION, body)
    response = decode_parts(PRODUCE, PRODUCE_VERSION, handle(shell, frame))
    assert all(p.error_code == 0 for p in response.responses[0].partition_responses), response


def _follower_fetch(
    shell: BrokerServer, replica: int, partitions: list[Partition], offsets: list[int]
) -> dict[str, Any]:
    """The Fetch body peer ``replica`` sends (built by the real follower-side state)."""
    state = ReplicaFetchState(1, FetcherSettings(replica_id=replica))
    for partition, offset in zip(partitions, offsets, strict=True):
        state.partitions[(partition.topic, partition.index)] = PartitionFetch(
            partition.topic,
            partition.index,
            partition.topic_id,
            partition.leader_epoch,
            offset,
            partition.leader_epoch,
            0,
        )
    body = state.build_request(0, broker_epoch(shell, replica))
    assert body is not None
    return body


# -- the leader -----------------------------------------------------------------------------


def test_leader_follower_fetch_checks_6_partitions(
    benchmark: BenchmarkFixture, shell: BrokerServer
) -> None:
    """The core of a follower's fetch on the leader, per partition: ``check_follower_fetch``
    (epoch fencing, divergence by last fetched epoch, range) and
    ``Partition.on_follower_fetch`` (follower state, ISR join check, HW), for one round of
    peer 2 over 6 partitions.  Steady state: peer 3 is level, the HW stays where it is."""
    _, partitions = _lead(shell)
    batch = batch_of_about(BATCH_BYTES)
    for _ in range(2):
        _produce(shell, "replicated", batch)
    offset = records_in(batch)  # both peers are one batch behind
    logs = [shell.partition_log(p.topic, p.index) for p in partitions]
    epoch_2 = broker_epoch(shell, 2)
    now = monotonic_ms()
    for partition in partitions:
        partition.on_follower_fetch(3, offset, broker_epoch(shell, 3), now, True)
    pairs = list(zip(partitions, logs, strict=True))

    def round_of_fetches() -> int:
        advanced = 0
        for partition, log_ in pairs:
            epoch = partition.leader_epoch
            check = check_follower_fetch(partition, log_, offset, epoch, epoch)
            assert check.error is ErrorCode.NONE and check.diverging is None
            outcome = partition.on_follower_fetch(2, offset, epoch_2, now, True)
            advanced += outcome.high_watermark_advanced
        return advanced

    round_of_fetches()  # the first round moves the HW to the peers' offset
    assert benchmark(round_of_fetches) == 0
    for partition in partitions:
        assert partition.followers[2].log_end_offset == offset
        assert partition.high_watermark == offset < partition.log_end_offset


def test_leader_handles_follower_fetch_request_6x16kib(
    benchmark: BenchmarkFixture, shell: BrokerServer
) -> None:
    """Peer 2's whole Fetch v15 frame through the leader's dispatcher: decode, the checks and
    follower-state update per partition (``server.on_follower_fetch``), the reads to the log
    end (one 16 KiB batch each) and the response encode."""
    _, partitions = _lead(shell)
    batch = batch_of_about(BATCH_BYTES)
    for _ in range(2):
        _produce(shell, "replicated", batch)
    offset = records_in(batch)
    for partition in partitions:
        shell.on_follower_fetch(partition, 3, offset, broker_epoch(shell, 3))
    frame = request_frame(FETCH, FETCH_VERSION, _follower_fetch(shell, 2, partitions, [offset] * 6))

    parts = benchmark(handle, shell, frame)
    response = decode_parts(FETCH, FETCH_VERSION, parts)
    served = response.responses[0].partitions
    assert len(served) == PARTITIONS
    for entry, partition in zip(served, partitions, strict=True):
        assert entry.error_code == 0 and entry.diverging_epoch.epoch == -1, entry
        assert len(entry.records) == len(batch)  # the batch after the fetch offset
        assert entry.high_watermark == offset == partition.high_watermark
        assert partition.followers[2].log_end_offset == offset


def test_high_watermark_advance_100_appends(benchmark: BenchmarkFixture) -> None:
    """``Partition`` alone (RF=3, ISR of 3): 100 times a local append, then peer 2 and peer 3
    fetch at the new log end; peer 3's fetch moves the HW each time (peer 2's cannot)."""
    partition = Partition(
        topic="hw",
        index=0,
        topic_id=uuid.UUID(int=9),
        local_broker_id=1,
        replicas=(1, 2, 3),
        isr=(1, 2, 3),
        leader=1,
        leader_epoch=0,
        min_insync_replicas=2,
    )
    partition.apply_state(PartitionState((1, 2, 3), (1, 2, 3), 1, 1, 1), now_ms=0)
    ends = itertools.count(10, 10)  # 10 records per append, offsets grow across rounds
    steps = 100

    def appends_and_fetches() -> tuple[int, int]:
        by_2 = by_3 = 0
        for _ in range(steps):
            end = next(ends)
            partition.on_local_append(end, 1200, now_ms=end)
            by_2 += partition.on_follower_fetch(2, end, 7, end, True).high_watermark_advanced
            by_3 += partition.on_follower_fetch(3, end, 8, end, True).high_watermark_advanced
        assert partition.high_watermark == end
        return by_2, by_3

    assert benchmark(appends_and_fetches) == (0, steps)
    assert partition.isr == (1, 2, 3) and partition.pending_isr is None


@pytest.mark.parametrize("waiting", [1, 32])
def test_acks_all_completion_6_partitions(
    benchmark: BenchmarkFixture, shell: BrokerServer, waiting: int
) -> None:
    """``waiting`` acks=all Produce requests (6 partitions each) are parked in the purgatory;
    one round of fetches by peer 2, then peer 3, at the log end goes through
    ``server.on_follower_fetch``: follower states, the HW moving on peer 3's fetch, and the
    purgatory re-trying the ``DelayedProduce`` operations until all of them completed."""
    _, partitions = _lead(shell)
    batch = batch_of_about(1200, 100)  # 10 records of 100 B: the records do not matter here
    epochs = {replica: broker_epoch(shell, replica) for replica in (2, 3)}
    frame = request_frame(
        PRODUCE,
        PRODUCE_VERSION,
        produce_body("replicated", dict.fromkeys(range(PARTITIONS), batch), acks=-1),
    )

    def setup() -> tuple[tuple[list[DeferredResponse]], dict[str, Any]]:
        parked = [handle_deferred(shell, frame) for _ in range(waiting)]
        assert not any(answer.ready() for answer in parked)
        assert len(shell.purgatory) == waiting
        return (parked,), {}

    def fetch_round(parked: list[DeferredResponse]) -> list[DeferredResponse]:
        for replica in (2, 3):
            epoch = epochs[replica]
            for partition in partitions:
                shell.on_follower_fetch(partition, replica, partition.log_end_offset, epoch)
        return parked

    parked = benchmark.pedantic(fetch_round, setup=setup, rounds=100, warmup_rounds=2)
    assert all(answer.ready() for answer in parked)
    assert len(shell.purgatory) == 0
    for partition in partitions:
        assert partition.high_watermark == partition.log_end_offset > 0


# -- the follower ---------------------------------------------------------------------------


def _follow(shell: BrokerServer) -> tuple[list[Partition], Any, dict[uuid.UUID, str]]:
    """Node 1 follows peer 2 on 6 partitions: (partitions, its fetcher, topic names)."""
    topic_id = create_topic(shell, "followed", PARTITIONS, (2, 1, 3))
    partitions = [shell.partitions[("followed", index)] for index in range(PARTITIONS)]
    assert all(p.is_follower for p in partitions)
    fetcher = shell.replica_fetchers.fetchers[2]
    assert set(fetcher.state.partitions) == {(p.topic, p.index) for p in partitions}
    return partitions, fetcher, {topic_id: "followed"}


def _leader_response(topic_id: uuid.UUID, records: bytes, high_watermark: int) -> Container:
    """Peer 2's Fetch v15 response for the 6 partitions, decoded as the connection does."""
    body = {
        "throttle_time_ms": 0,
        "error_code": 0,
        "session_id": 0,
        "responses": [
            {
                "topic_id": topic_id,
                "partitions": [
                    {
                        "partition_index": index,
                        "error_code": 0,
                        "high_watermark": high_watermark,
                        "last_stable_offset": high_watermark,
                        "log_start_offset": 0,
                        "aborted_transactions": None,
                        "preferred_read_replica": -1,
                        "records": records,
                    }
                    for index in range(PARTITIONS)
                ],
            }
        ],
    }
    frame = headers.encode_response(FETCH, FETCH_VERSION, 1, body)
    _, decoded = headers.decode_response(FETCH, FETCH_VERSION, frame[4:])
    return decoded


def _fetch_round(shell: BrokerServer, fetcher: Any, response: Container, names: Any) -> int:
    """One round of the replica fetcher minus the network (``ReplicaFetcher._one_round``):
    the request (which records what was asked), the response's effects, applying them."""
    state = fetcher.state
    assert state.build_request(monotonic_ms(), shell.broker_epoch) is not None
    effects = state.handle_response(response, shell.partition_logs_view(), monotonic_ms(), names)
    for effect in effects:
        shell.apply_fetched(fetcher.source_broker, state, effect)
    return len(effects)


def test_follower_applies_fetch_response_6x16kib(
    benchmark: BenchmarkFixture, shell: BrokerServer
) -> None:
    """The follower's fetch round with the next 16 KiB batch of each partition: effects from
    the response, then each append (header-only validation, ``append_as_follower``) and the
    leader's HW taken after it.  Steady state: the logs grow round by round in a leader epoch
    already known (each round's response is built outside the timing).  The first batch of a
    new epoch also writes the leader-epoch checkpoint (two fsyncs), which this leaves out."""
    partitions, fetcher, names = _follow(shell)
    epoch = partitions[0].leader_epoch
    (topic_id,) = names
    count = records_in(batch_of_about(BATCH_BYTES))

    def response_at(base: int) -> Container:
        batch = batch_of_about(BATCH_BYTES, base_offset=base, leader_epoch=epoch)
        return _leader_response(topic_id, batch, high_watermark=base + count)

    assert _fetch_round(shell, fetcher, response_at(0), names) == PARTITIONS  # epoch known

    def setup() -> tuple[tuple[Container], dict[str, Any]]:
        ends = {partition.log_end_offset for partition in partitions}
        assert len(ends) == 1
        return (response_at(ends.pop()),), {}

    def run(response: Container) -> int:
        return _fetch_round(shell, fetcher, response, names)

    # Fixed rounds: every round appends to disk (300 x 6 x 16 KiB = 29 MiB).
    assert benchmark.pedantic(run, setup=setup, rounds=300, warmup_rounds=5) == PARTITIONS
    end = partitions[0].log_end_offset
    assert end > count
    for partition in partitions:
        log_ = shell.partition_log(partition.topic, partition.index)
        assert log_.log_end_offset == end == partition.log_end_offset == partition.high_watermark
        assert log_.last_fetched_epoch() == epoch
        assert fetcher.state.partitions[(partition.topic, partition.index)].fetch_offset == end


def test_follower_takes_high_watermark_6_partitions(
    benchmark: BenchmarkFixture, shell: BrokerServer
) -> None:
    """Two follower fetch rounds whose responses carry no records, only the leader's HW (the
    acks=all steady state): one lowers the follower's HW by a batch, the next raises it."""
    partitions, fetcher, names = _follow(shell)
    batch = batch_of_about(BATCH_BYTES, leader_epoch=partitions[0].leader_epoch)
    count = records_in(batch)
    (topic_id,) = names
    records = b"".join(
        batch_of_about(BATCH_BYTES, base_offset=base, leader_epoch=partitions[0].leader_epoch)
        for base in (0, count)
    )
    end = 2 * count
    assert _fetch_round(shell, fetcher, _leader_response(topic_id, records, end), names) == 6
    lower = _leader_response(topic_id, b"", count)
    upper = _leader_response(topic_id, b"", end)

    def two_rounds() -> int:
        effects = _fetch_round(shell, fetcher, lower, names)
        assert all(partition.high_watermark == count for partition in partitions)
        effects += _fetch_round(shell, fetcher, upper, names)
        assert all(partition.high_watermark == end for partition in partitions)
        return effects

    assert benchmark(two_rounds) == 2 * PARTITIONS
    for partition in partitions:
        assert partition.log_end_offset == end == partition.high_watermark
