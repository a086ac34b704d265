"""Partition reassignment (KIP-455) on a 4-broker cluster through kafka-python's
``alter_partition_reassignments`` / ``list_partition_reassignments``: a partition moves from
brokers 1,2,3 to 2,3,4 with its data, the removed broker deletes its log, the leader moves
off it, acks=all keeps working; a move to a broker that is down stays in progress until it
is cancelled; bad targets are refused per partition."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient, TopicPartition

from broker import cli
from broker.cluster_launcher import LocalCluster
from broker.testing import ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import (
    create_topic,
    fetch,
    produce,
    wait_for_states,
)
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

ALTER_PARTITION_REASSIGNMENTS = 45
LIST_PARTITION_REASSIGNMENTS = 46
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


def _alter(cluster: LocalCluster, partition: int, replicas: list[int] | None) -> ErrorCode:
    entry = {"partition_index": partition, "replicas": replicas}
    body = {"timeout_ms": 10_000, "topics": [{"name": TOPIC, "partitions": [entry]}]}
    with RawConnection(_address(cluster, 2)) as conn:
        (topic,) = conn.request(ALTER_PARTITION_REASSIGNMENTS, 0, body).responses
    (answer,) = topic.partitions
    return ErrorCode(answer.error_code)


def _ongoing(cluster: LocalCluster) -> dict[tuple[str, int], tuple[list[int], ...]]:
    with RawConnection(_address(cluster, 2)) as conn:
        answer = conn.request(
            LIST_PARTITION_REASSIGNMENTS, 0, {"timeout_ms": 10_000, "topics": None}
        )
    return {
        (topic.name, p.partition_index): (
            list(p.replicas),
            list(p.adding_replicas),
            list(p.removing_replicas),
        )
        for topic in answer.topics
        for p in topic.partitions
    }


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
        # Broker 4 follows, in the ISR: it serves a consumer's Fetch v12 (KIP-392) once its
        # high watermark has them all.
        wait_until(
            lambda: (
                fetch(_address(cluster, 4), TOPIC, 0, 0)[::2] == (0, list(range(0, BATCHES * 5, 5)))
            ),
            "broker 4 serves every record",
        )
        error, start, bases = fetch(_address(cluster, 2), TOPIC, 0, 0)
        assert (error, start, bases[0]) == (0, 0, 0)
        assert produce(_address(cluster, 2), TOPIC, 0, 1) == BATCHES * 5 + 5
        assert _has_log(cluster, 4)

        # A move to a broker that is down waits (it cannot join the ISR); a cancel undoes it.
        for bad in ([2, 9], [2, 2]):
            refused = admin.alter_partition_reassignments({TopicPartition(TOPIC, 0): bad})
            error = refused[TopicPartition(TOPIC, 0)]
            assert error.__name__ == "InvalidReplicationAssignmentError", bad
        assert _replicas(admin) == [2, 3, 4]

        # A move to a broker that is down waits (it cannot join the ISR); a cancel undoes it.
        # Raw requests to broker 2 from here: kafka-python may route to the dead broker.
        cluster.nodes[4].kill()
        assert _alter(cluster, 1, [2, 3, 1, 4]) is ErrorCode.NONE
        assert _ongoing(cluster) == {(TOPIC, 1): ([2, 3, 1, 4], [4], [])}
        assert _alter(cluster, 1, None) is ErrorCode.NONE
        assert _ongoing(cluster) == {}
        assert _alter(cluster, 1, None) is ErrorCode.NO_REASSIGNMENT_IN_PROGRESS
        wait_for_states(
            cluster, TOPIC, lambda s: s[1][2] == frozenset({1, 2, 3}), "partition 1 back"
        )
    finally:
        admin.close()


def test_topic_reassign_cli(
    kafka_cluster_factory: ClusterFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    create_topic(_address(cluster, 1), TOPIC, assignments=[[1, 2]])
    wait_for_states(cluster, TOPIC, lambda s: len(s[0][2]) == 2, "full ISR")
    assert produce(_address(cluster, 1), TOPIC, 0, 2) == 10

    def odradek(*argv: str) -> tuple[int, str, str]:
        code = cli.main(
            ["topic", "reassign", TOPIC, *argv, "--bootstrap-server", cluster.bootstrap]
        )
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert odradek("--partition", "0=3,2") == (0, f"Moving {TOPIC}-0 to brokers 3,2.\n", "")
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=15_000)
    try:
        wait_until(lambda: _replicas(admin) == [3, 2], "partition 0 on brokers 3,2")
    finally:
        admin.close()
    wait_until(lambda: not _has_log(cluster, 1), "broker 1 deleted its log")
    assert odradek() == (0, f"No partition of {TOPIC!r} is being moved.\n", "")
    code, out, err = odradek("--cancel", "0")
    assert (code, out) == (1, "")
    assert err.startswith(f"odradek: error: {TOPIC}-0: ") and "NO_REASSIGNMENT_IN_PROGRESS" in err
    code, out, err = odradek("--partition", "0=9")
    assert (code, out) == (1, "") and "INVALID_REPLICA_ASSIGNMENT" in err
    assert cli.main(["topic", "reassign", TOPIC, "--partition", "zero"]) == 2  # usage error
    assert "expected PARTITION=BROKER,BROKER" in capsys.readouterr().err
