"""Replication faults on real processes: a controller and 3 brokers, topics with RF=3 and
min.insync.replicas=2, an idempotent acks=all confluent-kafka producer writing unique values,
assign-mode consumers reading from the beginning, and the history checker of
``tests/support/history.py`` (``../shared/reference/replication.md`` §3 F1-F15, §5).

Faults are kill -9 (``node.kill()``), SIGSTOP/SIGCONT (``pause``/``resume``) and SIGTERM
(``terminate``: controlled shutdown).  Nothing waits on the clock: the writer's delivery
callbacks are events, and cluster state is observed (metadata, ListOffsets, the logs on disk)
in bounded loops until it holds or a deadline passes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.cluster_launcher import LocalCluster, NodeProcess
from broker.testing import ClusterFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch, iterate_batches, parse_header
from tests.integration.wire import RawConnection
from tests.support import waiting
from tests.support.history import (
    ConfluentWriter,
    History,
    TailingReader,
    confluent_producer_config,
    fetch_request,
    list_offsets_request,
    metadata,
    read_all,
    records_of,
)

T = TypeVar("T")

CLUSTER = {"min.insync.replicas": "2", "default.replication.factor": "3"}
STATE_TIMEOUT_S = 15.0
POLL_S = 0.05
ACK_TIMEOUT_S = 20.0
# A follower's kill -9 is seen at once (its controller connection drops): acks=all resumes
# long before a lag-based ISR shrink could, which F2's fencing test makes 60 s
# (replica.lag.time.max.ms), so a slow machine cannot pass or fail it by timing.
FENCING_LAG_TIME_MS = 60_000
FOLLOWER_KILL_STALL_S = 20.0


# ---- observing the cluster ----------------------------------------------------------------


def wait_until(check: Callable[[], T | None], what: str, timeout_s: float = STATE_TIMEOUT_S) -> T:
    """``tests.support.waiting.wait_until`` with this module's state timeout."""
    return waiting.wait_until(check, what, timeout_s)


@dataclass(frozen=True)
class PartitionState:
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: frozenset[int]


def address(node: NodeProcess) -> str:
    return f"127.0.0.1:{node.port}"


def running(cluster: LocalCluster, exclude: frozenset[int] = frozenset()) -> list[NodeProcess]:
    """The brokers alive (and not in ``exclude``: e.g. a paused one, which cannot answer)."""
    return [n for n in cluster.nodes.values() if n.running and n.node_id not in exclude]


def describe_on(node: NodeProcess, topic: str) -> dict[int, PartitionState]:
    """The partitions of ``topic`` as broker ``node`` sees them (its metadata image)."""
    response = metadata(address(node), topic)
    (entry,) = response.topics
    assert entry.error_code == ErrorCode.NONE, ErrorCode(entry.error_code).name
    return {
        p.partition_index: PartitionState(
            p.leader_id, p.leader_epoch, tuple(p.replica_nodes), frozenset(p.isr_nodes)
        )
        for p in entry.partitions
    }


def describe(
    cluster: LocalCluster, topic: str, exclude: frozenset[int] = frozenset()
) -> dict[int, PartitionState] | None:
    """The partitions of ``topic`` if every running broker agrees on them, else None."""
    views = []
    for node in running(cluster, exclude):
        if metadata(address(node), topic).topics[0].error_code != ErrorCode.NONE:
            return None  # not (yet) known there: a CreateTopics it has not applied
        views.append(describe_on(node, topic))
    return views[0] if views and all(view == views[0] for view in views) else None


def wait_for_state(
    cluster: LocalCluster,
    topic: str,
    predicate: Callable[[dict[int, PartitionState]], bool],
    what: str,
    *,
    timeout_s: float = STATE_TIMEOUT_S,
    exclude: frozenset[int] = frozenset(),
) -> dict[int, PartitionState]:
    def check() -> dict[int, PartitionState] | None:
        state = describe(cluster, topic, exclude)
        return state if state is not None and predicate(state) else None

    return wait_until(check, what, timeout_s)


def wait_for_full_isr(
    cluster: LocalCluster, topic: str, timeout_s: float = STATE_TIMEOUT_S
) -> dict[int, PartitionState]:
    """Every partition led and with all its replicas in the ISR, on every running broker."""
    return wait_for_state(
        cluster,
        topic,
        lambda s: all(p.leader >= 0 and p.isr == frozenset(p.replicas) for p in s.values()),
        f"{topic}: every replica in the ISR",
        timeout_s=timeout_s,
    )


def create_topic(
    cluster: LocalCluster,
    topic: str,
    partitions: int = 1,
    assignment: list[list[int]] | None = None,
) -> dict[int, PartitionState]:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 3})
    if assignment is None:
        new = NewTopic(topic, num_partitions=partitions, replication_factor=3)
    else:
        new = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment)
    for future in admin.create_topics([new], operation_timeout=10).values():
        future.result(timeout=15)
    return wait_for_full_isr(cluster, topic)


def list_offset(node: NodeProcess, topic: str, partition: int, timestamp: int = -1) -> Any:
    """ListOffsets v7 (latest = the HW) for one partition, sent to ``node``."""
    with RawConnection(address(node)) as conn:
        body = list_offsets_request(topic, partition, timestamp)
        return conn.request(2, 7, body).topics[0].partitions[0]


def fetch_from(node: NodeProcess, topic: str, partition: int, offset: int) -> Any:
    with RawConnection(address(node)) as conn:
        body = fetch_request(topic, partition, offset) | {"max_wait_ms": 0}
        return conn.request(1, 12, body).responses[0].partitions[0]


def produce_raw(node: NodeProcess, topic: str, partition: int, value: bytes, acks: int) -> Any:
    """One Produce v9 of a single record (no idempotence), answered as the broker decided."""
    with RawConnection(address(node)) as conn:
        body = {
            "transactional_id": None,
            "acks": acks,
            "timeout_ms": 3000,
            "topic_data": [
                {
                    "name": topic,
                    "partition_data": [
                        {
                            "index": partition,
                            "records": build_batch([value], timestamp_ms=int(time.time() * 1000)),
                        }
                    ],
                }
            ],
        }
        return conn.request(0, 9, body).responses[0].partition_responses[0]


def leader_node(
    cluster: LocalCluster, state: dict[int, PartitionState], partition: int
) -> NodeProcess:
    return cluster.nodes[state[partition].leader]


# ---- the logs on disk ---------------------------------------------------------------------


def segment_bytes(node: NodeProcess, topic: str, partition: int) -> bytes:
    """All segments of one partition replica, in offset order."""
    directory = Path(node.data_dir) / f"{topic}-{partition}"
    return b"".join(path.read_bytes() for path in sorted(directory.glob("*.log")))


def batches_below(data: bytes, high_watermark: int) -> list[tuple[int, int, int, bytes]]:
    """(base offset, partition leader epoch, crc, bytes) of each batch below the HW."""
    out = []
    for position, header in iterate_batches(data):
        if header.next_offset > high_watermark:
            break
        out.append(
            (
                header.base_offset,
                header.partition_leader_epoch,
                header.crc,
                data[position : position + header.size_bytes],
            )
        )
    return out


def log_end(node: NodeProcess, topic: str, partition: int) -> int:
    """The LEO of a replica, read from its log on disk."""
    end = 0
    for _, header in iterate_batches(segment_bytes(node, topic, partition)):
        end = header.next_offset
    return end


def assert_replicas_identical(cluster: LocalCluster, topic: str, partitions: list[int]) -> None:
    """P4: with writes stopped and the ISR full, the replicas hold the same batches, byte for
    byte, below the HW, and the HW covers every replica's log (nothing uncommitted remains)."""
    for partition in partitions:
        state = wait_for_full_isr(cluster, topic)
        leader = leader_node(cluster, state, partition)

        def settled(leader: NodeProcess = leader, partition: int = partition) -> int | None:
            high_watermark = list_offset(leader, topic, partition).offset
            ends = {log_end(node, topic, partition) for node in cluster.nodes.values()}
            return high_watermark if ends == {high_watermark} else None

        high_watermark = wait_until(settled, f"{topic}-{partition}: every LEO at the HW")
        logs = {
            node.node_id: batches_below(segment_bytes(node, topic, partition), high_watermark)
            for node in cluster.nodes.values()
        }
        reference = logs[leader.node_id]
        assert reference, f"{topic}-{partition}: no batches below HW {high_watermark}"
        covered = parse_header(reference[-1][3]).next_offset
        assert covered == high_watermark, f"batches end at {covered}, the HW is {high_watermark}"
        for node_id, batches in logs.items():
            headers = [b[:3] for b in batches]
            assert headers == [b[:3] for b in reference], (
                f"{topic}-{partition}: broker {node_id} differs from leader {leader.node_id}"
            )
            assert batches == reference, f"{topic}-{partition}: broker {node_id} bytes differ"


def check_history(history: History, *writers: ConfluentWriter) -> None:
    """The checker finds nothing wrong, and every send of the writers was acked."""
    report = history.check()
    print(report)
    assert report.ok, str(report)
    for writer in writers:
        assert writer.sent > 0
        assert not writer.errors, writer.errors[:5]
        assert writer.unflushed == 0
        assert len(writer.deliveries) == writer.sent
    assert report.acked >= sum(writer.sent for writer in writers)


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def cluster(kafka_cluster_factory: ClusterFactory) -> LocalCluster:
    return kafka_cluster_factory.start(brokers=3, overrides=CLUSTER)


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
def writers() -> Iterator[list[ConfluentWriter]]:
    """Writers a test started; stopped (flushed) at the end if the test did not."""
    started: list[ConfluentWriter] = []
    yield started
    for writer in started:
        if writer.is_alive():
            writer.stop()


def start_writer(
    writers: list[ConfluentWriter],
    cluster: LocalCluster,
    topic: str,
    partitions: list[int],
    history: History,
    **kwargs: Any,
) -> ConfluentWriter:
    writer = ConfluentWriter(cluster.bootstrap, topic, partitions, history, **kwargs)
    writers.append(writer)
    writer.start()
    return writer


# ---- F1 -----------------------------------------------------------------------------------


def test_f1_leader_kill9_mid_stream(
    cluster: LocalCluster, topic: str, history: History, writers: list[ConfluentWriter]
) -> None:
    """kill -9 the leader of partition 0 under load: the producer fails over by itself, every
    acked value is read back exactly once at dense offsets, reads never pass the HW, and the
    restarted broker rejoins every ISR with a log byte-identical below the HW."""
    partitions = [0, 1, 2]
    before = create_topic(cluster, topic, partitions=3)
    tail = TailingReader(lambda: [address(n) for n in running(cluster)], topic, 0, history)
    tail.start()
    writer = start_writer(
        writers, cluster, topic, partitions, history
    )  # until stop(): some records must be produced after the kill
    assert writer.wait_for_acks(300, ACK_TIMEOUT_S), "no steady stream before the fault"
    victim = leader_node(cluster, before, 0)
    killed_at = time.monotonic()
    victim.kill()
    after = wait_for_state(
        cluster, topic, lambda s: s[0].leader not in (-1, victim.node_id), "a new leader for p0"
    )
    assert after[0].leader_epoch > before[0].leader_epoch
    assert after[0].leader in before[0].isr
    assert writer.wait_for_acks(50, ACK_TIMEOUT_S, partition=0, after=killed_at)
    failover = writer.failover_s(0, killed_at)
    victim.start()
    writer.stop()
    wait_for_full_isr(cluster, topic)
    read_all(cluster.bootstrap, topic, partitions, history)
    tail.stop()
    print(f"F1 failover {failover:.3f} s; tail reader errors {dict(tail.errors)}")
    check_history(history, writer)
    assert tail.next_offset > 0, "the tailing reader read nothing"
    assert_replicas_identical(cluster, topic, partitions)


# ---- F3 -----------------------------------------------------------------------------------


def produce_values(
    bootstrap: str, topic: str, values: list[bytes], history: History, **config: Any
) -> list[int]:
    """Produce ``values`` to partition 0 with an idempotent acks=all producer; their offsets."""
    producer = Producer(confluent_producer_config(bootstrap, **config))
    offsets: dict[bytes, int] = {}

    def delivered(error: Any, message: Any) -> None:
        assert error is None, error
        offsets[message.value()] = message.offset()
        history.acked(0, message.value(), message.offset())

    for value in values:
        history.attempted(0, value)
        producer.produce(topic, value, partition=0, on_delivery=delivered)
    assert producer.flush(ACK_TIMEOUT_S) == 0
    return [offsets[value] for value in values]


def test_f3_stale_rejoin(kafka_cluster_factory: ClusterFactory, topic: str) -> None:
    """Seed 001: 100 records acked on all three; broker 3 dies; offsets 100-149 are acked
    without it; broker 3 restarts.  Until it has caught up it answers Fetch and ListOffsets
    with NOT_LEADER_OR_FOLLOWER, never "no data"; it rejoins byte-identical below the HW; and
    once the preferred-leader election hands it the partition, and even with both other
    brokers dead, every read returns all 150 records.

    To hold broker 3 in its catching-up state for certain, the leader is paused (SIGSTOP)
    while broker 3 starts, under a session timeout long enough not to fence the leader."""
    cluster = kafka_cluster_factory.start(
        brokers=3,
        overrides=CLUSTER
        | {"leader.imbalance.check.interval.seconds": "1", "broker.session.timeout.ms": "8000"},
    )
    history = History()
    create_topic(cluster, topic, assignment=[[3, 1, 2]])
    first = [b"key-%03d" % i for i in range(100)]
    assert produce_values(cluster.bootstrap, topic, first, history) == list(range(100))
    wait_until(
        lambda: all(log_end(n, topic, 0) == 100 for n in cluster.nodes.values()),
        "100 records on every broker",
    )
    stale = cluster.nodes[3]
    stale.kill()
    state = wait_for_state(
        cluster, topic, lambda s: s[0].leader in (1, 2) and s[0].isr == {1, 2}, "3 out of the ISR"
    )
    second = [b"key-%03d" % i for i in range(100, 150)]
    assert produce_values(cluster.bootstrap, topic, second, history) == list(range(100, 150))

    probes: list[tuple[int, int, int, int]] = []  # (fetch error, list error, offset, its LEO)

    def probe() -> None:
        fetched = fetch_from(stale, topic, 0, 125)
        listed = list_offset(stale, topic, 0)
        probes.append(
            (fetched.error_code, listed.error_code, listed.offset, log_end(stale, topic, 0))
        )
        if fetched.error_code == ErrorCode.NONE:
            # Only as the leader, and then with the whole log (P9: never "no data").
            assert (125, b"key-125") in records_of(fetched.records), probes[-1]
        else:
            assert fetched.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER, probes[-1]
        if listed.error_code == ErrorCode.NONE:
            assert listed.offset == 150, probes[-1]
        else:
            assert listed.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER, probes[-1]

    leader = leader_node(cluster, state, 0)
    leader.pause()
    try:
        stale.start()
        for _ in range(5):
            probe()
    finally:
        leader.resume()
    # Still behind (it cannot fetch from a paused leader): these probes hit the catch-up window.
    assert all(p[3] < 150 for p in probes), f"broker 3 caught up from a paused leader: {probes}"
    assert all(p[:2] == (ErrorCode.NOT_LEADER_OR_FOLLOWER,) * 2 for p in probes), probes

    def rejoined() -> bool:
        probe()
        state = describe(cluster, topic)
        return state is not None and 3 in state[0].isr

    wait_until(rejoined, "broker 3 back in the ISR")
    print(f"F3 probes of broker 3 (fetch error, list error, offset, its LEO): {probes}")
    assert_replicas_identical(cluster, topic, [0])

    wait_for_state(cluster, topic, lambda s: s[0].leader == 3, "broker 3 elected (preferred)")
    expected = list(enumerate(first + second))
    assert read_all(cluster.bootstrap, topic, [0], history)[0] == expected
    for other in (1, 2):
        cluster.nodes[other].kill()
    state = wait_for_state(cluster, topic, lambda s: s[0].isr == {3}, "ISR [3]")
    assert state[0].leader == 3
    assert list_offset(stale, topic, 0).offset == 150
    assert read_all(address(stale), topic, [0], history)[0] == expected
    report = history.check()
    assert report.ok, str(report)
    assert report.acked == 150, str(report)


def test_p1_acked_records_survive_a_restart_of_every_broker(
    cluster: LocalCluster, topic: str
) -> None:
    """P1 under process crashes only: 100 records acked on all three, every broker killed
    (-9) and restarted; the logs on disk still hold them and a consumer reads all 100."""
    history = History()
    create_topic(cluster, topic)
    values = [b"durable-%03d" % i for i in range(100)]
    assert produce_values(cluster.bootstrap, topic, values, history) == list(range(100))
    wait_until(
        lambda: all(log_end(n, topic, 0) == 100 for n in cluster.nodes.values()),
        "100 records on every broker",
    )
    for node in cluster.nodes.values():
        node.kill()
    ends_at_start = {}
    for node in cluster.nodes.values():
        node.start()
        ends_at_start[node.node_id] = log_end(node, topic, 0)
    wait_for_state(cluster, topic, lambda s: s[0].leader >= 0, "a leader after the restart")
    # The new leader's HW (checkpointed every few seconds) may start below its epoch start:
    # ListOffsets says OFFSET_NOT_AVAILABLE until a second replica is back in the ISR (as
    # Kafka, KAFKA-2334).  Read once the ISR has healed.
    wait_for_full_isr(cluster, topic)
    stored = read_all(cluster.bootstrap, topic, [0], history)[0]
    assert stored == list(enumerate(values)), (
        f"{len(stored)} of 100 acked records readable after the restart; "
        f"log end offsets on disk right after each start: {ends_at_start}"
    )
    assert ends_at_start == dict.fromkeys(cluster.nodes, 100)
    report = history.check()
    assert report.ok, str(report)


# ---- F2 -----------------------------------------------------------------------------------


def test_f2_follower_kill9_and_rejoin(
    cluster: LocalCluster, topic: str, history: History, writers: list[ConfluentWriter]
) -> None:
    """kill -9 a follower: the controller shrinks the ISR to 2, acks=all goes on; restarted
    (a new broker epoch) it catches up, rejoins, and holds the leader's bytes below the HW."""
    before = create_topic(cluster, topic)
    writer = start_writer(writers, cluster, topic, [0], history)
    assert writer.wait_for_acks(300, ACK_TIMEOUT_S)
    victim = cluster.nodes[next(r for r in before[0].replicas if r != before[0].leader)]
    killed_at = time.monotonic()
    victim.kill()
    shrunk = wait_for_state(
        cluster, topic, lambda s: s[0].isr == before[0].isr - {victim.node_id}, "ISR of 2"
    )
    assert (shrunk[0].leader, shrunk[0].leader_epoch) == (before[0].leader, before[0].leader_epoch)
    assert writer.wait_for_acks(200, ACK_TIMEOUT_S, partition=0, after=killed_at)
    stall = writer.failover_s(0, killed_at)
    victim.start()
    rejoined_at = time.monotonic()
    wait_for_full_isr(cluster, topic)
    rejoin = time.monotonic() - rejoined_at
    assert writer.wait_for_acks(200, ACK_TIMEOUT_S, partition=0, after=time.monotonic())
    writer.stop()
    read_all(cluster.bootstrap, topic, [0], history)
    print(f"F2 acks=all stall after the follower kill {stall:.3f} s, ISR rejoin {rejoin:.3f} s")
    check_history(history, writer)
    assert_replicas_identical(cluster, topic, [0])


def test_f2_acks_all_do_not_wait_for_a_fenced_follower(
    kafka_cluster_factory: ClusterFactory,
    topic: str,
    history: History,
    writers: list[ConfluentWriter],
) -> None:
    """L1 for a follower crash: the controller fences it at once (connection loss) and drops
    it from the ISR, so acks=all succeeds again within about a second (Kafka's
    ``isReplicaIsrEligible`` re-reads fencing when computing the HW), not after
    ``replica.lag.time.max.ms`` (60 s here: only fencing can resume the writes in time)."""
    cluster = kafka_cluster_factory.start(
        brokers=3,
        overrides={**CLUSTER, "replica.lag.time.max.ms": str(FENCING_LAG_TIME_MS)},
    )
    before = create_topic(cluster, topic)
    writer = start_writer(writers, cluster, topic, [0], history)
    assert writer.wait_for_acks(300, ACK_TIMEOUT_S)
    victim = cluster.nodes[next(r for r in before[0].replicas if r != before[0].leader)]
    killed_at = time.monotonic()
    victim.kill()
    resumed = writer.wait_for_acks(1, FOLLOWER_KILL_STALL_S, partition=0, after=killed_at)
    assert resumed, f"no acks=all success within {FOLLOWER_KILL_STALL_S} s of a follower's death"
    stall = writer.failover_s(0, killed_at)
    print(f"acks=all stall after a follower's kill -9: {stall:.3f} s")


# ---- F7 -----------------------------------------------------------------------------------


def produce_frame(topic: str, value: bytes, correlation_id: int) -> bytes:
    body = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 3000,
        "topic_data": [
            {
                "name": topic,
                "partition_data": [
                    {
                        "index": 0,
                        "records": build_batch([value], timestamp_ms=int(time.time() * 1000)),
                    }
                ],
            }
        ],
    }
    return headers.encode_request(0, 9, correlation_id, "zombie-test", body)


def test_f7_zombie_leader(
    cluster: LocalCluster, topic: str, history: History, writers: list[ConfluentWriter]
) -> None:
    """SIGSTOP the leader past the session timeout: the controller fences it and elects
    another; a write handed to the zombie while it sleeps is never acked and never stored;
    after SIGCONT it steps down, truncates and follows, and the checker passes."""
    before = create_topic(cluster, topic)
    writer = start_writer(
        writers,
        cluster,
        topic,
        [0],
        history,
        **{"socket.timeout.ms": 2500, "request.timeout.ms": 2500},
    )
    assert writer.wait_for_acks(300, ACK_TIMEOUT_S)
    zombie = leader_node(cluster, before, 0)
    others = frozenset({zombie.node_id})
    with RawConnection(address(zombie)) as raw:
        zombie.pause()
        paused_at = time.monotonic()
        try:
            raw.send_bytes(produce_frame(topic, b"zombie-write", 1))
            history.attempted(0, b"zombie-write")
            after = wait_for_state(
                cluster,
                topic,
                lambda s: s[0].leader not in (-1, zombie.node_id),
                "a new leader while the old one sleeps",
                exclude=others,
            )
            assert after[0].leader_epoch > before[0].leader_epoch
            assert zombie.node_id not in after[0].isr
            assert writer.wait_for_acks(100, ACK_TIMEOUT_S, partition=0, after=paused_at)
        finally:
            zombie.resume()
        _, response = headers.decode_response(0, 9, raw.read_frame())
    answer = response.responses[0].partition_responses[0]
    error = ErrorCode(answer.error_code)
    history.failed(0, b"zombie-write", error.name, indeterminate=False)
    print(f"F7 the zombie answered {error.name}; failover {writer.failover_s(0, paused_at):.3f} s")
    assert error in (
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.FENCED_LEADER_EPOCH,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ), error
    state = wait_for_full_isr(cluster, topic)
    assert state[0].leader == after[0].leader and state[0].leader_epoch == after[0].leader_epoch
    truncations = [line for line in list(zombie.output) if b"by leader epoch" in line]
    print(f"F7 the zombie's truncations: {truncations}")  # when it had appended stale writes
    writer.stop()
    read_all(cluster.bootstrap, topic, [0], history)
    check_history(history, writer)  # includes: the zombie's write is not stored
    assert_replicas_identical(cluster, topic, [0])


# ---- F9 -----------------------------------------------------------------------------------


def test_f9_below_min_isr(
    cluster: LocalCluster, topic: str, history: History, writers: list[ConfluentWriter]
) -> None:
    """Kill 2 of 3: acks=all is refused with NOT_ENOUGH_REPLICAS and appends nothing (HW and
    LEO of the survivor stay put); acks=1 appends but the HW stays frozen; one broker back and
    the waiting writes go through, nothing lost."""
    before = create_topic(cluster, topic)
    first = [b"before-%03d" % i for i in range(100)]
    assert produce_values(cluster.bootstrap, topic, first, history) == list(range(100))
    survivor = leader_node(cluster, before, 0)
    victims = [cluster.nodes[r] for r in before[0].replicas if r != survivor.node_id]
    for victim in victims:
        victim.kill()
    wait_for_state(cluster, topic, lambda s: s[0].isr == {survivor.node_id}, "ISR [survivor]")
    high_watermark = list_offset(survivor, topic, 0).offset
    end = log_end(survivor, topic, 0)
    assert high_watermark == end == 100
    for attempt in range(3):
        value = b"refused-%d" % attempt
        history.attempted(0, value)
        answer = produce_raw(survivor, topic, 0, value, acks=-1)
        history.failed(0, value, ErrorCode(answer.error_code).name, indeterminate=False)
        assert answer.error_code == ErrorCode.NOT_ENOUGH_REPLICAS, answer
        assert (list_offset(survivor, topic, 0).offset, log_end(survivor, topic, 0)) == (100, 100)
    history.attempted(0, b"acks-1")
    answer = produce_raw(survivor, topic, 0, b"acks-1", acks=1)
    assert answer.error_code == ErrorCode.NONE and answer.base_offset == 100, answer
    history.acked(0, b"acks-1", 100)
    assert log_end(survivor, topic, 0) == 101
    assert list_offset(survivor, topic, 0).offset == 100, "the HW moved below min ISR"

    writer = start_writer(writers, cluster, topic, [0], history, total=200)
    assert writer.acked() == 0  # P10: no acks=all success below min ISR
    victims[0].start()
    wait_for_state(cluster, topic, lambda s: len(s[0].isr) == 2, "ISR of 2 again")
    assert writer.wait_for_acks(200, ACK_TIMEOUT_S), "writes did not resume"
    writer.stop()
    values = read_all(cluster.bootstrap, topic, [0], history)[0]
    assert values[:101] == [*enumerate(first), (100, b"acks-1")]
    check_history(history, writer)
    assert len(values) == 301


# ---- F12 ----------------------------------------------------------------------------------


def test_f12_controller_kill9(
    cluster: LocalCluster, topic: str, history: History, writers: list[ConfluentWriter]
) -> None:
    """kill -9 the controller under load: the partitions keep serving acks=all while their
    ISRs are stable; restarted, the controller replays its log to the same state (leaders,
    ISRs, epochs), and a broker killed afterwards still fails over, the other partitions
    keeping their leaders and epochs (no spurious election by the restarted controller)."""
    before = create_topic(cluster, topic, partitions=3)
    partitions = [0, 1, 2]
    writer = start_writer(writers, cluster, topic, partitions, history)
    assert writer.wait_for_acks(300, ACK_TIMEOUT_S)
    assert cluster.controller is not None
    cluster.controller.kill()
    killed_at = time.monotonic()
    for partition in partitions:
        assert writer.wait_for_acks(100, ACK_TIMEOUT_S, partition=partition, after=killed_at)
    assert describe(cluster, topic) == before
    cluster.controller.start()
    restarted_at = time.monotonic()
    for partition in partitions:
        assert writer.wait_for_acks(100, ACK_TIMEOUT_S, partition=partition, after=restarted_at)
    assert describe(cluster, topic) == before
    writer.stop()

    # The failover runs through the restarted controller; a writer on partition 0 only.
    failover_writer = start_writer(writers, cluster, topic, [0], history, tag="f")
    assert failover_writer.wait_for_acks(100, ACK_TIMEOUT_S)
    victim = leader_node(cluster, before, 0)
    victim.kill()
    killed_at = time.monotonic()
    after = wait_for_state(
        cluster, topic, lambda s: s[0].leader not in (-1, victim.node_id), "failover of p0"
    )
    assert after[0].leader_epoch == before[0].leader_epoch + 1
    for partition in (1, 2):
        assert after[partition].leader == before[partition].leader
        assert after[partition].leader_epoch == before[partition].leader_epoch
        assert after[partition].isr == before[partition].isr - {victim.node_id}
    assert failover_writer.wait_for_acks(100, ACK_TIMEOUT_S, partition=0, after=killed_at)
    failover = failover_writer.failover_s(0, killed_at)
    print(f"F12 failover through the restarted controller {failover:.3f} s")
    victim.start()
    wait_for_full_isr(cluster, topic)
    failover_writer.stop()
    read_all(cluster.bootstrap, topic, partitions, history)
    check_history(history, writer, failover_writer)
    assert_replicas_identical(cluster, topic, partitions)


# ---- F15 ----------------------------------------------------------------------------------

LOG_TIME = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def logged_at(node: NodeProcess, pattern: bytes) -> str | None:
    """The timestamp of the first line of ``node``'s log that contains ``pattern``."""
    for line in list(node.output):
        if pattern in line:
            match = LOG_TIME.match(line)
            assert match is not None, line
            return match.group(1).decode()
    return None


def test_f15_controlled_shutdown_of_the_leader(
    cluster: LocalCluster, topic: str, history: History, writers: list[ConfluentWriter]
) -> None:
    """SIGTERM the leader: its leaderships move before it exits, and the producer sees no
    failed acks=all delivery."""
    before = create_topic(cluster, topic, partitions=3)
    partitions = [0, 1, 2]
    writer = start_writer(writers, cluster, topic, partitions, history)
    assert writer.wait_for_acks(300, ACK_TIMEOUT_S)
    leaving = leader_node(cluster, before, 0)
    led = [p for p, s in before.items() if s.leader == leaving.node_id]
    assert leaving.terminate() == 0
    stopped_at = time.monotonic()
    # Right at its exit, the survivors already hold the moved leaderships.
    state = describe(cluster, topic)
    assert state is not None
    for partition in led:
        assert state[partition].leader not in (-1, leaving.node_id), state
        assert leaving.node_id not in state[partition].isr, state
        assert state[partition].leader_epoch == before[partition].leader_epoch + 1
    exited = logged_at(leaving, b"stopped cleanly")
    assert exited is not None
    for partition in led:
        new_leader = cluster.nodes[state[partition].leader]
        epoch = state[partition].leader_epoch
        line = b"%s-%d: leader at epoch %d" % (topic.encode(), partition, epoch)
        took_over = wait_until(
            lambda n=new_leader, text=line: logged_at(n, text), "the takeover log line"
        )
        assert took_over <= exited, (took_over, exited)
    for partition in partitions:
        assert writer.wait_for_acks(100, ACK_TIMEOUT_S, partition=partition, after=stopped_at)
    leaving.start()
    wait_for_full_isr(cluster, topic)
    writer.stop()
    read_all(cluster.bootstrap, topic, partitions, history)
    check_history(history, writer)  # delivery errors = 0


# ---- other clients ------------------------------------------------------------------------

CLIENT_RECORDS = 300
CLIENT_KILL_AFTER = 100


def test_kafka_python_fails_over_after_leader_kill9(
    cluster: LocalCluster, topic: str, history: History
) -> None:
    from kafka import KafkaProducer

    before = create_topic(cluster, topic)
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        retry_backoff_ms=20,
        reconnect_backoff_ms=20,
        reconnect_backoff_max_ms=200,
        request_timeout_ms=5000,
        delivery_timeout_ms=int(ACK_TIMEOUT_S * 1000),
    )
    try:
        futures = []
        for index in range(CLIENT_RECORDS):
            if index == CLIENT_KILL_AFTER:
                for value, future in futures:
                    history.acked(0, value, future.get(ACK_TIMEOUT_S).offset)
                leader_node(cluster, before, 0).kill()
            value = b"kp-%04d" % index
            history.attempted(0, value)
            futures.append((value, producer.send(topic, value, partition=0)))
        for value, future in futures:
            history.acked(0, value, future.get(ACK_TIMEOUT_S).offset)
    finally:
        producer.close(timeout=10)
    read_all(cluster.bootstrap, topic, [0], history)
    report = history.check()
    assert report.ok, str(report)
    assert report.acked == CLIENT_RECORDS == report.stored


def test_aiokafka_fails_over_after_leader_kill9(
    cluster: LocalCluster, topic: str, history: History
) -> None:
    from aiokafka import AIOKafkaProducer

    before = create_topic(cluster, topic)

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=cluster.bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            retry_backoff_ms=20,
            request_timeout_ms=5000,
        )
        await producer.start()
        try:
            pending = []
            for index in range(CLIENT_RECORDS):
                if index == CLIENT_KILL_AFTER:
                    for value, future in pending:
                        history.acked(0, value, (await future).offset)
                    pending = []
                    leader_node(cluster, before, 0).kill()
                value = b"ak-%04d" % index
                history.attempted(0, value)
                pending.append((value, await producer.send(topic, value, partition=0)))
            for value, future in pending:
                metadata = await asyncio.wait_for(future, ACK_TIMEOUT_S)
                history.acked(0, value, metadata.offset)
        finally:
            await producer.stop()

    asyncio.run(run())
    read_all(cluster.bootstrap, topic, [0], history)
    report = history.check()
    assert report.ok, str(report)
    assert report.acked == CLIENT_RECORDS == report.stored
