"""ElectLeaders on the controller (ClusterControl.elect_leaders, KIP-183/KIP-460): preferred and
unclean elections, their errors, and the records they commit (seen by replaying them)."""

from __future__ import annotations

from broker.core.cluster_control import (
    PREFERRED_ELECTION,
    UNCLEAN_ELECTION,
    ClusterSettings,
    ElectionResult,
)
from broker.core.metadata import NO_LEADER, RECOVERED, RECOVERING, PartitionRecord
from client.protocol.errors import ErrorCode
from tests.unit.test_cluster_control import Cluster


def _elect(
    cluster: Cluster, kind: int, partitions: list[tuple[str, list[int]]] | None
) -> list[tuple[str, list[ElectionResult]]]:
    return cluster.commit(cluster.cluster.elect_leaders(kind, partitions))


def _codes(answer: list[tuple[str, list[ElectionResult]]]) -> dict[tuple[str, int], ErrorCode]:
    return {(name, item.partition): item.error_code for name, items in answer for item in items}


def _deposed(cluster: Cluster) -> None:
    """Broker 1, the preferred leader of t-0 and t-1, is fenced and comes back into the ISR
    while broker 2 (t-0) and 3 (t-1) keep leading."""
    topic_id = cluster.create_assigned("t", (1, 2, 3), (1, 3, 2))
    cluster.fence(1)
    cluster.start(1)
    assert (cluster.part("t", 0).leader, cluster.part("t", 1).leader) == (2, 3)
    cluster.alter(2, topic_id, [(2, -1), (3, -1), (1, cluster.epochs[1])])


def test_preferred_election_gives_the_partition_back_with_a_new_leader_epoch() -> None:
    cluster = Cluster(brokers=3)
    _deposed(cluster)
    before = cluster.part("t", 0)
    mark = len(cluster.log)
    answer = _elect(cluster, PREFERRED_ELECTION, [("t", [0, 1])])
    assert answer == [
        (
            "t",
            [
                ElectionResult(0, ErrorCode.NONE),
                ElectionResult(
                    1,
                    ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                    answer[0][1][1].error_message,
                ),
            ],
        )
    ]
    assert answer[0][1][1].error_message  # t-1: broker 1 is not back in its ISR
    after = cluster.part("t", 0)
    assert after.leader == 1 and after.isr == before.isr
    assert after.leader_epoch == before.leader_epoch + 1
    assert after.partition_epoch == before.partition_epoch + 1
    records = cluster.log[mark:]
    assert [type(record) for record in records] == [PartitionRecord]
    # Already preferred now.
    again = _elect(cluster, PREFERRED_ELECTION, [("t", [0])])
    assert _codes(again) == {("t", 0): ErrorCode.ELECTION_NOT_NEEDED}
    assert cluster.part("t", 0) == after


def test_preferred_election_needs_a_live_preferred_replica() -> None:
    cluster = Cluster(brokers=3)
    topic_id = cluster.create_assigned("t", (1, 2, 3))
    cluster.fence(1)
    cluster.start(1)
    cluster.alter(2, topic_id, [(2, -1), (3, -1), (1, cluster.epochs[1])])
    cluster.fence(1)  # fenced again: it leaves the ISR, and is not live anyway
    answer = _elect(cluster, PREFERRED_ELECTION, [("t", [0])])
    assert _codes(answer) == {("t", 0): ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE}
    assert cluster.part("t", 0).leader == 2


def test_unknown_topics_and_partitions() -> None:
    cluster = Cluster(brokers=3)
    cluster.create("t")
    answer = _elect(cluster, PREFERRED_ELECTION, [("t", [0, 7]), ("nope", [0])])
    assert _codes(answer) == {
        ("t", 0): ErrorCode.ELECTION_NOT_NEEDED,
        ("t", 7): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    }
    assert [name for name, _ in answer] == ["t", "nope"]  # the request's order


def test_all_partitions_leaves_out_those_needing_no_election() -> None:
    cluster = Cluster(brokers=3)
    _deposed(cluster)
    cluster.create_assigned("u", (2, 1, 3))
    answer = _elect(cluster, PREFERRED_ELECTION, None)
    assert dict(answer).keys() == {"t", "u"}
    assert _codes(answer) == {
        ("t", 0): ErrorCode.NONE,
        ("t", 1): ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
    }
    assert dict(answer)["u"] == []  # the topic is listed, its partition needed nothing
    assert cluster.part("t", 0).leader == 1


def test_unclean_election_only_for_a_leaderless_partition() -> None:
    cluster = Cluster(brokers=3)
    cluster.create_assigned("t", (1, 2, 3))
    answer = _elect(cluster, UNCLEAN_ELECTION, [("t", [0])])
    assert _codes(answer) == {("t", 0): ErrorCode.ELECTION_NOT_NEEDED}
    for broker in (3, 2, 1):
        cluster.fence(broker)
    offline = cluster.part("t", 0)
    assert offline.leader == NO_LEADER and offline.isr == (1,)  # the last one standing
    answer = _elect(cluster, UNCLEAN_ELECTION, [("t", [0])])
    assert _codes(answer) == {("t", 0): ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE}  # none live
    cluster.start(3)  # not in the ISR: a clean election cannot use it
    assert cluster.part("t", 0).leader == NO_LEADER
    assert not cluster.warnings
    answer = _elect(cluster, UNCLEAN_ELECTION, [("t", [0])])
    assert _codes(answer) == {("t", 0): ErrorCode.NONE}
    elected = cluster.part("t", 0)
    assert (elected.leader, elected.isr, elected.leader_recovery_state) == (3, (3,), RECOVERING)
    assert elected.leader_epoch == offline.leader_epoch + 1
    assert cluster.warnings and "UNCLEAN" in cluster.warnings[0]


def test_unclean_election_prefers_a_live_isr_member() -> None:
    # Topic-level unclean election is off: the partition stays offline until asked.
    cluster = Cluster(brokers=3, settings=ClusterSettings(unclean_leader_election_enable=False))
    cluster.create_assigned("t", (1, 2, 3))
    for broker in (3, 2, 1):
        cluster.fence(broker)
    cluster.start(2)
    cluster.start(1)  # the ISR member: the controller elects it itself on unfencing
    assert cluster.part("t", 0).leader == 1
    answer = _elect(cluster, UNCLEAN_ELECTION, [("t", [0])])
    assert _codes(answer) == {("t", 0): ErrorCode.ELECTION_NOT_NEEDED}
    assert cluster.part("t", 0).leader_recovery_state == RECOVERED
