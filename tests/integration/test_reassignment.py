"""Partition reassignment (KIP-455) on a 4-broker cluster through kafka-python's
``alter_partition_reassignments`` / ``list_partition_reassignments``: a partition moves from
brokers 1,2,3 to 2,3,4 with its data, the removed broker deletes its log, the leader moves
off it, acks=all keeps working; a move to a broker that is down stays in progress until it
is cancelled; bad targets are refused per partition."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from broker.cluster_launcher import LocalCluster
from broker.testing import ClusterFactory
from tests.integration.admin_requests import (
    create_topic,
    fetch,
    produce,
    wait_for_states,
)
from tests.support.waiting import wait_until

TOPIC = "moving"
BATCHES = 20  # 100 records


def _address(cluster: LocalCluster, node_id: int) -> str:
    return f"127.0.0.1:{cluster.nodes[node_id].port}"


def _has_log(cluster: LocalCluster, node_id: int, partition: int = 0) -> bool:
    return (Path(cluster.nodes[node_id].data_dir) / f"{TOPIC}-{partition}").is_dir()


def _replicas(admin: KafkaAdminClient, partition: int = 0) -> list[int] | None:
    (described,) = admin.describe_topics([TOPIC])
    for entry in described["partitions"]:
        if entry["partition_index"] == partition:
            return list(entry["replica_nodes"])
    return None


def test_reassignment_moves_a_partition_and_its_data(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=4)
    create_topic(
        _address(cluster, 1),
        TOPIC,
        assignments=[[1, 2, 3], [1, 2, 3]],
        configs={"min.insync.replicas": "2"},
    )
    wait_for_states(
        cluster, TOPIC, lambda s: all(len(isr) == 3 for _, _, isr in s.values()), "full ISRs"
    )
    assert produce(_address(cluster, 1), TOPIC, 0, BATCHES) == BATCHES * 5
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=15_000)
    try:
        answered = admin.alter_partition_reassignments(
            {TopicPartition(TOPIC, 0): [2, 3, 4], TopicPartition(TOPIC, 9): [1]}
        )
        assert answered[TopicPartition(TOPIC, 0)] is None
        assert answered[TopicPartition(TOPIC, 9)].__name__ == "UnknownTopicOrPartitionError"

        def moved() -> bool:
            return not admin.list_partition_reassignments() and _replicas(admin) == [2, 3, 4]

        wait_until(moved, "partition 0 moved to 2,3,4")
        states = wait_for_states(cluster, TOPIC, lambda s: s[0][0] == 2, "2 leads partition 0")
        assert states[0][2] == frozenset({2, 3, 4})
        wait_until(lambda: not _has_log(cluster, 1), "broker 1 deleted its log of partition 0")
        assert _has_log(cluster, 1, partition=1)  # the other partition stays
        # Every record is on the new replica set; the new leader takes acks=all writes.
        error, _, bases = fetch(_address(cluster, 4), TOPIC, 0, 0)
        assert (error, len(bases)) == (6, 0)  # broker 4 follows: NOT_LEADER_OR_FOLLOWER
        error, start, bases = fetch(_address(cluster, 2), TOPIC, 0, 0)
        assert (error, start, bases[0]) == (0, 0, 0)
        assert produce(_address(cluster, 2), TOPIC, 0, 1) == BATCHES * 5 + 5
        assert _has_log(cluster, 4)

        # A move to a broker that is down waits (it cannot join the ISR); a cancel undoes it.
        cluster.nodes[4].kill()

        def started() -> dict[TopicPartition, object] | None:
            try:  # the client may still send it to the killed node: retried
                return admin.alter_partition_reassignments({TopicPartition(TOPIC, 1): [2, 3, 1, 4]})
            except KafkaError:
                return None

        assert wait_until(started, "the move of partition 1 accepted") == {
            TopicPartition(TOPIC, 1): None
        }
        wait_until(
            lambda: admin.list_partition_reassignments().get(TopicPartition(TOPIC, 1)),
            "the move of partition 1 listed",
        )
        listed = admin.list_partition_reassignments()[TopicPartition(TOPIC, 1)]
        assert listed["adding_replicas"] == [4] and listed["removing_replicas"] == []
        for bad in ([2, 9], [2, 2]):
            refused = admin.alter_partition_reassignments({TopicPartition(TOPIC, 0): bad})
            error = refused[TopicPartition(TOPIC, 0)]
            assert error.__name__ == "InvalidReplicationAssignmentError", bad
        assert _replicas(admin) == [2, 3, 4]
        cancelled = admin.alter_partition_reassignments({TopicPartition(TOPIC, 1): None})
        assert cancelled == {TopicPartition(TOPIC, 1): None}
        wait_until(lambda: not admin.list_partition_reassignments(), "no reassignment left")
        assert sorted(_replicas(admin, 1) or []) == [1, 2, 3]
    finally:
        admin.close()
