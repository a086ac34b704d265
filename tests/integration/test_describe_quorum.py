"""DescribeQuorum (55): the metadata quorum through kafka-python's ``describe_metadata_quorum``
(as ``kafka-metadata-quorum describe`` shows it) on a 3-broker cluster and on the combined
single node, the leader epoch taken anew on each controller start, and errors on the wire."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient

from broker.cluster_launcher import CONTROLLER_NODE_ID
from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

DESCRIBE_QUORUM = 55
METADATA_TOPIC = "__cluster_metadata"


def _quorum(bootstrap: str) -> dict[str, Any]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        answer: dict[str, Any] = admin.describe_metadata_quorum()
    finally:
        admin.close()
    ((topic,),) = [answer["topics"]]
    assert topic["topic_name"] == METADATA_TOPIC
    (partition,) = topic["partitions"]
    assert partition["error"] is None
    return {"partition": partition, "nodes": answer["nodes"]}


def test_a_cluster_quorum_and_its_observers(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    assert cluster.controller is not None

    def observed() -> dict[str, Any] | None:
        quorum = _quorum(cluster.bootstrap)
        seen = {o["replica_id"] for o in quorum["partition"]["observers"]}
        return quorum if seen == {1, 2, 3} else None

    quorum = wait_until(observed, "every broker observed by the controller")
    partition = quorum["partition"]
    assert partition["leader_id"] == CONTROLLER_NODE_ID
    assert partition["leader_epoch"] >= 1
    high_watermark = partition["high_watermark"]
    assert high_watermark > 0  # the brokers' registrations at least
    (voter,) = partition["current_voters"]
    assert (voter["replica_id"], voter["log_end_offset"]) == (CONTROLLER_NODE_ID, high_watermark)
    assert voter["last_fetch_timestamp"] == -1 and voter["last_caught_up_timestamp"] > 0
    for observer in partition["observers"]:
        assert 0 <= observer["log_end_offset"] <= high_watermark
        assert observer["last_fetch_timestamp"] > 0
    assert quorum["nodes"] == [
        {
            "node_id": CONTROLLER_NODE_ID,
            "listeners": [
                {"name": "CONTROLLER", "host": "127.0.0.1", "port": cluster.controller.port}
            ],
        }
    ]

    # A restarted controller takes the next epoch (quorum-state in its metadata dir).
    epoch = partition["leader_epoch"]
    cluster.controller.kill()
    cluster.controller.start()

    def next_epoch() -> int | None:
        answered = observed()
        got = None if answered is None else answered["partition"]["leader_epoch"]
        return got if got == epoch + 1 else None

    wait_until(next_epoch, f"leader epoch {epoch + 1} after the restart")


def test_the_combined_node_is_the_only_voter(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    partition = _quorum(broker.bootstrap)["partition"]
    (voter,) = partition["current_voters"]
    assert partition["leader_id"] == voter["replica_id"] == 1
    assert voter["log_end_offset"] == partition["high_watermark"] > 0
    assert partition["observers"] == []

    with RawConnection(broker.bootstrap) as conn:
        asked = {
            "topics": [
                {
                    "topic_name": METADATA_TOPIC,
                    "partitions": [{"partition_index": 0}, {"partition_index": 1}],
                },
                {"topic_name": "other", "partitions": [{"partition_index": 0}]},
            ]
        }
        for version in (0, 1, 2):
            answer = conn.request(DESCRIBE_QUORUM, version, asked)
            assert answer.error_code == ErrorCode.NONE
            codes = [
                (topic.topic_name, p.partition_index, p.error_code, p.leader_id)
                for topic in answer.topics
                for p in topic.partitions
            ]
            assert codes == [
                (METADATA_TOPIC, 0, ErrorCode.NONE, 1),
                (METADATA_TOPIC, 1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1),
                ("other", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1),
            ]
