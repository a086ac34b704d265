"""KIP-227 fetch sessions between real brokers: every follower opens a session per leader
connection, acks=all produce goes on across topics, the ISR stays full through a quiet spell
longer than replica.lag.time.max.ms (an unchanged partition left out of an incremental fetch
still counts as fetched), and a killed broker (a follower of some partitions, the leader of
others) comes back into new sessions and the full ISR."""

from __future__ import annotations

import threading
import time

from broker.cluster_launcher import LocalCluster, NodeProcess
from broker.testing import ClusterFactory
from client.protocol.errors import ErrorCode
from tests.interop.test_cluster_faults import (
    CLUSTER,
    create_topic,
    describe,
    list_offset,
    log_end,
    produce_raw,
    running,
    wait_for_full_isr,
    wait_until,
)

TOPICS = {"fs-a": 3, "fs-b": 3, "fs-c": 2}
SESSION_LINE = b"fetch session "
ISR_LINE = b"proposing ISR"
LAG_MS = 5000  # replica.lag.time.max.ms of the local cluster settings


def _count(node: NodeProcess, pattern: bytes) -> int:
    return sum(1 for line in list(node.output) if pattern in line)


def _counts(cluster: LocalCluster, pattern: bytes) -> dict[int, int]:
    return {node.node_id: _count(node, pattern) for node in cluster.nodes.values()}


def _produce_everywhere(cluster: LocalCluster, value: bytes) -> None:
    """One acks=all record into every partition of every topic, at its current leader."""
    for topic, partitions in TOPICS.items():
        state = wait_until(lambda t=topic: describe(cluster, t), f"{topic}: agreed metadata")
        for partition in range(partitions):
            leader = cluster.nodes[state[partition].leader]
            answer = produce_raw(leader, topic, partition, value, acks=-1)
            assert answer.error_code == ErrorCode.NONE, (topic, partition, answer.error_code)


def _wait_for_replicated(cluster: LocalCluster, records: int) -> None:
    """Every partition's HW at ``records`` on its leader and every running replica's log end
    there too."""
    for topic, partitions in TOPICS.items():
        state = wait_for_full_isr(cluster, topic)
        for partition in range(partitions):
            leader = cluster.nodes[state[partition].leader]

            def replicated(t: str = topic, p: int = partition, n: NodeProcess = leader) -> bool:
                if list_offset(n, t, p).offset != records:
                    return False
                return all(log_end(node, t, p) == records for node in running(cluster))

            wait_until(replicated, f"{topic}-{partition}: {records} records everywhere")


def _quiet(seconds: float) -> None:
    """Let the cluster idle (nothing to observe: the point is that nothing happens)."""
    deadline = time.monotonic() + seconds
    idle = threading.Event()
    while time.monotonic() < deadline:
        idle.wait(min(0.2, max(deadline - time.monotonic(), 0)))


def test_fetch_sessions_replicate_and_keep_the_isr(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides=CLUSTER)
    for topic, partitions in TOPICS.items():
        create_topic(cluster, topic, partitions)
    # Every broker leads some partitions and follows the others: a session per leader.
    wait_until(
        lambda: all(count >= 2 for count in _counts(cluster, SESSION_LINE).values()),
        "every broker in a fetch session with both others",
    )
    for round_ in range(3):
        _produce_everywhere(cluster, b"before-%d" % round_)
    _wait_for_replicated(cluster, 3)

    # A quiet spell longer than replica.lag.time.max.ms, then writes: no ISR change, and the
    # sessions lived through it (incremental fetches all along, no new session).
    sessions, proposals = _counts(cluster, SESSION_LINE), _counts(cluster, ISR_LINE)
    _quiet(LAG_MS / 1000 + 1.5)
    _produce_everywhere(cluster, b"after-quiet")
    _quiet(LAG_MS / 2000 + 0.5)  # one more ISR expiry check with the new records
    _wait_for_replicated(cluster, 4)
    assert _counts(cluster, ISR_LINE) == proposals
    assert _counts(cluster, SESSION_LINE) == sessions

    # kill -9 one broker: its leaderships move, acks=all goes on with an ISR of 2.
    victim = cluster.nodes[min(cluster.nodes)]
    victim.kill()
    for topic in TOPICS:
        wait_until(
            lambda t=topic: (
                (state := describe(cluster, t)) is not None
                and all(p.leader not in (-1, victim.node_id) for p in state.values())
                and all(victim.node_id not in p.isr for p in state.values())
            ),
            f"{topic}: led without broker {victim.node_id}",
        )
    _produce_everywhere(cluster, b"without-victim")
    before_restart = _counts(cluster, SESSION_LINE)
    victim.start()
    _wait_for_replicated(cluster, 5)  # it rejoined every ISR and holds every record
    wait_until(
        lambda: _count(victim, SESSION_LINE) >= 2, "the restarted broker in new fetch sessions"
    )
    # The survivors' fetchers towards it opened new sessions on new connections (or it leads
    # nothing yet; then they fetch from each other in their old sessions).
    assert all(
        _counts(cluster, SESSION_LINE)[node] >= before_restart[node] for node in before_restart
    )
    _produce_everywhere(cluster, b"after-rejoin")
    _wait_for_replicated(cluster, 6)
    assert _counts(cluster, b"Traceback") == dict.fromkeys(cluster.nodes, 0)
