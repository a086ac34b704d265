"""Helpers for the fixed schedules (``broker/sim/scenarios.py``): waits, expectations, reads.

Everything acts through the cluster's real processes; ``expect`` turns a broken promise into a
checker violation so a scenario reports like any seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from broker.core.partition import ACKS_LEADER
from broker.sim.cluster import Cluster, SimConfig
from broker.sim.messages import ConsumerFetchRequest, broker_host
from broker.sim.world import Host

KEY = ("t", 0)
Schedule = Callable[[Cluster], None]


def base(seed: int, **changes: Any) -> SimConfig:
    """3 brokers, RF 3, min ISR 2, an idempotent acks=all producer, no random faults."""
    config = SimConfig(
        seed=seed, partitions=1, faults=False, duration_ms=0, tail_ms=20_000, max_values=100_000
    )
    return replace(config, **changes)


def expect(cluster: Cluster, condition: bool, text: str) -> None:
    if not condition:
        cluster.checker.fail(f"scenario: expected {text}")


def wait_for(cluster: Cluster, what: str, done: Callable[[], bool], timeout_ms: int) -> bool:
    ok = cluster.run_for(timeout_ms, done)
    expect(cluster, ok, f"{what} within {timeout_ms} ms")
    return ok


def acked(cluster: Cluster) -> int:
    return sum(send.acked_offset is not None for send in cluster.clients.producers[0][1].sends)


def leader(cluster: Cluster) -> int:
    return cluster.partition_state().leader


def follower(cluster: Cluster) -> int:
    state = cluster.partition_state()
    return next(b for b in reversed(state.replicas) if b != state.leader)


def leader_acks_after(cluster: Cluster, broker: int, epoch: int, since_ms: int) -> int:
    """acks=all successes ``broker`` answered, after ``since_ms``, as leader of an epoch below
    ``epoch`` for a record beyond the log the leader of ``epoch`` started with: writes only
    the deposed leader can hold.  (An ack just after the election, before its followers learned
    of it, is fine: they copied the record, so the new leader holds it.)"""
    start = cluster.checker.term_starts.get((KEY, epoch), 0)
    return sum(
        1
        for time_ms, who, key, acks, leader_epoch, offset in cluster.checker.acks
        if who == broker
        and key == KEY
        and acks != ACKS_LEADER
        and leader_epoch < epoch
        and time_ms > since_ms
        and offset >= start
    )


class Probe:
    """A client that sends one request at a time and keeps the answers (F3's reads)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.answers: list[Any] = []

    def start(self) -> None:
        pass

    def handle(self, source: str, request: Any, reply: Any) -> None:
        raise AssertionError("a probe serves nothing")

    def on_connection_closed(self, peer: str, channel: str) -> None:
        pass

    def ask(self, target: str, request: Any) -> None:
        self.host.world.call(self.host, target, request, self.answers.append, timeout_ms=1000)


def probe(cluster: Cluster) -> Probe:
    if "probe" not in cluster.world.hosts:
        cluster.world.add_host("probe", Probe)
        cluster.world.start("probe")
    process = cluster.world.hosts["probe"].process
    assert isinstance(process, Probe)
    return process


def read_from(cluster: Cluster, broker: int, offset: int, epoch: int) -> Any:
    """A consumer fetch of ``t-0`` at ``offset`` from ``broker``; its answer."""
    asker = probe(cluster)
    asker.answers.clear()
    asker.ask(broker_host(broker), ConsumerFetchRequest("t", 0, offset, epoch, 1 << 20))
    cluster.run_for(1500, lambda: bool(asker.answers))
    return asker.answers[0] if asker.answers else None


def log_end(cluster: Cluster, broker: int) -> int:
    process = cluster.broker_process(broker)
    partition = None if process is None else process.partitions.get(KEY)
    return -1 if partition is None else partition.log_end_offset


def both_have(cluster: Cluster, end: int) -> bool:
    return all(log_end(cluster, b) >= end for b in cluster.broker_ids)
