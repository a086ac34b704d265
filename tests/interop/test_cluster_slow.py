"""Slow tier (``make test-slow``): repeated kill -9 of the leader of partition 0 under an
idempotent acks=all confluent-kafka producer, then the history checker and a report
(``../shared/reference/replication.md`` §5: lost = duplicates = inconsistent offsets = 0,
failover time p50/p95/max over >= 20 kills).

Failover time is measured from the producer's delivery callbacks: kill -> the first successful
delivery on partition 0 of a record produced after the kill (one the dead leader cannot have
acknowledged).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from broker.testing import ClusterFactory
from tests.interop.test_cluster_faults import (
    ACK_TIMEOUT_S,
    CLUSTER,
    address,
    assert_replicas_identical,
    check_history,
    create_topic,
    describe,
    leader_node,
    running,
    wait_for_full_isr,
    wait_for_state,
)
from tests.support.history import ConfluentWriter, History, TailingReader, percentiles, read_all

ROUNDS = 20
ACKS_BETWEEN_KILLS = 200
SLOW_WATCHDOG_S = 600.0


@pytest.fixture(autouse=True)
def interop_watchdog() -> Iterator[None]:
    """Replaces the interop conftest's 45 s watchdog: 20 failovers take minutes."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"slow cluster test exceeded its {SLOW_WATCHDOG_S:.0f} s watchdog")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, SLOW_WATCHDOG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _format(stats: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.3f}s" for name, value in stats.items())


@pytest.mark.slow
@pytest.mark.parametrize("partition_count", [1, 3], ids=["1-partition", "3-partitions"])
def test_leader_kill9_rounds(
    kafka_cluster_factory: ClusterFactory, topic: str, partition_count: int
) -> None:
    """With 3 partitions the killed leader of p0 is also a follower of p1 and p2, so the
    failover figures include whatever a follower's death costs the other partitions (the
    producer is one librdkafka instance: an idempotent producer drains every partition before
    it resumes after a possibly-persisted failure)."""
    cluster = kafka_cluster_factory.start(brokers=3, overrides=CLUSTER)
    partitions = list(range(partition_count))
    create_topic(cluster, topic, partitions=partition_count)
    history = History()
    tail = TailingReader(lambda: [address(n) for n in running(cluster)], topic, 0, history)
    tail.start()
    writer = ConfluentWriter(cluster.bootstrap, topic, partitions, history, flush_timeout_s=60)
    writer.start()
    failovers: list[float] = []
    rejoins: list[float] = []
    epochs: list[int] = []
    try:
        assert writer.wait_for_acks(ACKS_BETWEEN_KILLS, ACK_TIMEOUT_S, partition=0)
        for round_ in range(ROUNDS):
            state = describe(cluster, topic)
            assert state is not None
            victim = leader_node(cluster, state, 0)
            killed_at = time.monotonic()
            victim.kill()
            after = wait_for_state(
                cluster, topic, lambda s, v=victim.node_id: s[0].leader not in (-1, v), "failover"
            )
            assert after[0].leader_epoch > state[0].leader_epoch, (round_, state, after)
            epochs.append(after[0].leader_epoch)
            assert writer.wait_for_acks(
                ACKS_BETWEEN_KILLS, ACK_TIMEOUT_S, partition=0, after=killed_at
            ), f"round {round_}: acks=all did not resume on partition 0"
            failover = writer.failover_s(0, killed_at)
            assert failover is not None
            failovers.append(failover)
            victim.start()
            started_at = time.monotonic()
            wait_for_full_isr(cluster, topic)
            rejoins.append(time.monotonic() - started_at)
            print(
                f"round {round_ + 1:2d}: killed broker {victim.node_id}, new leader "
                f"{after[0].leader} at epoch {after[0].leader_epoch}, failover {failover:.3f} s, "
                f"ISR rejoin {rejoins[-1]:.3f} s"
            )
    finally:
        writer.stop(timeout_s=90)
    wait_for_full_isr(cluster, topic)
    read_all(cluster.bootstrap, topic, partitions, history, timeout_s=60)
    tail.stop()
    report = history.check()
    print(
        f"\n{ROUNDS} leader kills (kill -9) of p0, {partition_count} partition(s), "
        "an idempotent acks=all producer"
    )
    print(f"  {report}")
    print(f"  failover (kill -> first acks=all delivery on p0): {_format(percentiles(failovers))}")
    print(f"  ISR rejoin after restart: {_format(percentiles(rejoins))}")
    print(f"  tailing reader: {tail.next_offset} records, errors {dict(tail.errors)}")
    assert epochs == sorted(set(epochs)), f"leader epochs not strictly increasing: {epochs}"
    assert len(failovers) == ROUNDS
    check_history(history, writer)
    assert (len(report.lost), len(report.duplicates), len(report.inconsistent_offsets)) == (0, 0, 0)
    assert not report.reads_above_hw
    assert tail.next_offset > 0
    assert_replicas_identical(cluster, topic, partitions)
