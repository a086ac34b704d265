"""DeleteRecords and ElectLeaders on a 3-broker cluster (controller + brokers as processes).

DeleteRecords is answered by the leader only once every replica on a live broker moved its log
start (followers take the leader's from their fetch responses), so any later leader serves from
the new start.  ElectLeaders is forwarded to the controller; PREFERRED gives a partition back
to its first replica once that one is in the ISR again, UNCLEAN revives a leaderless partition
from a live replica outside the ISR.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from broker.cluster_launcher import LocalCluster, NodeProcess
from broker.testing import ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import (
    create_topic,
    delete_records,
    elect_leaders,
    fetch,
    list_offset,
    partition_states,
    produce,
    wait_for_states,
)
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

DESCRIBE_PRODUCERS = 61
EARLIEST = -2
PREFERRED = 0
UNCLEAN = 1


def _address(node: NodeProcess) -> str:
    return f"127.0.0.1:{node.port}"


def _segments(node: NodeProcess, topic: str, partition: int) -> list[int]:
    directory = Path(node.data_dir) / f"{topic}-{partition}"
    return sorted(int(path.stem) for path in directory.glob("*.log"))


def _nothing_wholly_below(node: NodeProcess, topic: str, offset: int) -> bool:
    """No segment of the replica lies wholly below ``offset`` (each one below it is gone)."""
    bases = _segments(node, topic, 0)
    return bool(bases) and bases[0] <= offset and (len(bases) == 1 or bases[1] > offset)


def _full_isr(cluster: LocalCluster, topic: str, replicas: int = 3) -> None:
    wait_for_states(
        cluster,
        topic,
        lambda s: all(leader >= 0 and len(isr) == replicas for leader, _, isr in s.values()),
        f"{topic}: full ISR",
    )


def test_delete_records_reaches_every_replica(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides={"log.segment.bytes": "1024"})
    nodes = cluster.nodes
    create_topic(_address(nodes[1]), "dr", assignments=[[1, 2, 3]])
    _full_isr(cluster, "dr")
    assert produce(_address(nodes[1]), "dr", 0, batches=30) == 150
    assert len(_segments(nodes[1], "dr", 0)) > 3

    # A dead follower is not waited for (Kafka counts replicas on live brokers only).
    nodes[3].kill()
    wait_for_states(cluster, "dr", lambda s: s[0][2] == {1, 2}, "3 out of the ISR")
    answers = delete_records(_address(nodes[1]), {("dr", 0): 62})
    # Answered once follower 2 reported a log start at 62 in its fetches.
    assert answers == {("dr", 0): (ErrorCode.NONE, 62)}
    assert _nothing_wholly_below(nodes[1], "dr", 62)
    assert _nothing_wholly_below(nodes[2], "dr", 62)
    # Not the leader: refused, the client goes to the leader.
    assert delete_records(_address(nodes[2]), {("dr", 0): 70}) == {
        ("dr", 0): (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
    }
    # DescribeProducers is answered by the leader only, too.
    for node, expected in ((1, ErrorCode.NONE), (2, ErrorCode.NOT_LEADER_OR_FOLLOWER)):
        with RawConnection(_address(nodes[node])) as conn:
            body = {"topics": [{"name": "dr", "partition_indexes": [0]}]}
            (topic,) = conn.request(DESCRIBE_PRODUCERS, 0, body).topics
        assert [p.error_code for p in topic.partitions] == [expected]

    # The follower that missed it learns the start from its first fetches after the restart.
    nodes[3].start()
    _full_isr(cluster, "dr")
    wait_until(lambda: _nothing_wholly_below(nodes[3], "dr", 62), "3 deletes below 62")

    # Every later leader serves from the new start.
    for dead, successor in ((1, 2), (2, 3)):
        nodes[dead].kill()
        wait_for_states(cluster, "dr", lambda s, n=successor: s[0][0] == n, f"{successor} leads")
        leader = _address(nodes[successor])
        assert list_offset(leader, "dr", 0, EARLIEST) == (ErrorCode.NONE, 62)
        error, start, _ = fetch(leader, "dr", 0, 0)
        assert (error, start) == (ErrorCode.OFFSET_OUT_OF_RANGE, 62)
        assert fetch(leader, "dr", 0, 62)[2][0] == 60


def test_elect_leaders_preferred_and_unclean(kafka_cluster_factory: ClusterFactory) -> None:
    # The controller's own preferred-leader rebalance would race the test: off.
    cluster = kafka_cluster_factory.start(
        brokers=3, overrides={"auto.leader.rebalance.enable": "false"}
    )
    nodes = cluster.nodes
    create_topic(_address(nodes[1]), "el", assignments=[[1, 2, 3], [2, 3, 1]])
    create_topic(_address(nodes[1]), "u", assignments=[[2, 1]])
    _full_isr(cluster, "el")
    _full_isr(cluster, "u", replicas=2)
    top, results = elect_leaders(_address(nodes[3]), {"el": [0, 1, 9], "gone": [0]})
    assert top == ErrorCode.NONE
    assert {key: error for key, (error, _) in results.items()} == {
        ("el", 0): ErrorCode.ELECTION_NOT_NEEDED,
        ("el", 1): ErrorCode.ELECTION_NOT_NEEDED,
        ("el", 9): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ("gone", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    }

    # The preferred leader of el-0 dies: 2 takes over; broker 1 cannot be elected while down.
    nodes[1].kill()
    deposed = wait_for_states(cluster, "el", lambda s: s[0][0] == 2, "2 leads el-0")
    _, results = elect_leaders(_address(nodes[3]), {"el": [0]}, version=1)
    assert results[("el", 0)][0] == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
    nodes[1].start()
    back = wait_for_states(cluster, "el", lambda s: 1 in s[0][2], "1 back in the ISR of el-0")
    assert back[0][0] == 2  # leadership does not come back by itself (rebalance is off)

    # Sent to a broker that leads nothing here: forwarded to the controller, and answered
    # once that broker's own metadata shows the new leader.
    top, results = elect_leaders(_address(nodes[3]), {"el": [0]})
    assert (top, results[("el", 0)][0]) == (ErrorCode.NONE, ErrorCode.NONE)
    leader, epoch, isr = partition_states(_address(nodes[3]), "el")[0]
    assert (leader, isr) == (1, frozenset({1, 2, 3}))
    assert epoch > deposed[0][1]
    wait_for_states(cluster, "el", lambda s: s[0][0] == 1, "every broker sees 1 lead el-0")
    assert produce(_address(nodes[1]), "el", 0, batches=1) == 5  # it serves as leader
    # All partitions (null): those already led by their preferred replica are left out.
    _, results = elect_leaders(_address(nodes[2]), None, version=0)
    assert results == {}

    # UNCLEAN: u-0 loses its last ISR member while its other replica is down, then that
    # replica returns; only an unclean election brings the partition back.
    nodes[1].kill()
    wait_for_states(cluster, "u", lambda s: s[0][2] == {2}, "u-0: ISR [2]")
    nodes[2].kill()
    wait_for_states(cluster, "u", lambda s: s[0][0] == -1, "u-0 offline")
    nodes[1].start()
    wait_for_states(cluster, "el", lambda s: 1 in s[0][2], "1 is live (back in el-0's ISR)")
    assert partition_states(_address(nodes[1]), "u")[0][0] == -1  # clean elections cannot
    _, results = elect_leaders(_address(nodes[3]), {"u": [0]}, PREFERRED)
    assert results[("u", 0)][0] == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
    _, results = elect_leaders(_address(nodes[3]), {"u": [0]}, UNCLEAN)
    assert results[("u", 0)][0] == ErrorCode.NONE
    wait_for_states(cluster, "u", lambda s: s[0][:1] == (1,) and s[0][2] == {1}, "1 leads u-0")
    _, results = elect_leaders(_address(nodes[3]), {"u": [0]}, UNCLEAN)
    assert results[("u", 0)][0] == ErrorCode.ELECTION_NOT_NEEDED
    top, _ = elect_leaders(_address(nodes[3]), {"u": [0]}, 7)
    assert top == ErrorCode.INVALID_REQUEST


def _create_then_describe(address: str, name: str) -> tuple[int, int, int]:
    """CreateTopics then Metadata on one connection: (create error, metadata error, partitions)."""
    topic = {"name": name, "num_partitions": 2, "replication_factor": 3,
             "assignments": [], "configs": []}  # fmt: skip
    with RawConnection(address) as conn:
        created = conn.request(19, 5, {"topics": [topic], "timeout_ms": 10_000})
        metadata = conn.request(3, 12, {"topics": [{"name": name, "topic_id": uuid.UUID(int=0)}]})
    (described,) = metadata.topics
    return created.topics[0].error_code, described.error_code, len(described.partitions)


def test_concurrent_creators_both_find_the_topic(kafka_cluster_factory: ClusterFactory) -> None:
    """Two clients create the same topic at once through different brokers: one is told it was
    created, the other TOPIC_ALREADY_EXISTS, and each finds it in its broker's Metadata at once
    (the forwarding broker answers only once its own metadata holds the topic, either way)."""
    cluster = kafka_cluster_factory.start(brokers=3)
    addresses = [_address(cluster.nodes[2]), _address(cluster.nodes[3])]
    for round_ in range(8):
        name = f"race-{round_}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(_create_then_describe, addresses, [name, name]))
        assert sorted(created for created, _, _ in answers) == sorted(
            [ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS]
        ), answers
        assert [(error, count) for _, error, count in answers] == [(ErrorCode.NONE, 2)] * 2
