"""Coordinator failover on a 3-broker cluster: kill -9 the group coordinator's broker; the group
finds the new coordinator (the new leader of its __consumer_offsets partition) and the committed
offsets survive, because commits are replicated with acks=all before they are answered."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from broker.cluster_launcher import LocalCluster
from broker.testing import ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection

DEADLINE_S = 30.0
TOPIC = "orders"
SETTINGS = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "3",
    "group.min.session.timeout.ms": "1000",
}


def _create_topic(bootstrap: str) -> None:
    body: dict[str, Any] = {
        "topics": [
            {
                "name": TOPIC,
                "num_partitions": 2,
                "replication_factor": 3,
                "assignments": [],
                "configs": [{"name": "min.insync.replicas", "value": "2"}],
            }
        ],
        "timeout_ms": 5000,
    }
    with RawConnection(bootstrap) as conn:
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE


def _coordinator(bootstrap: str, group: str) -> int:
    with RawConnection(bootstrap) as conn:
        answer = conn.request(10, 3, {"key": group, "key_type": 0})
    assert answer.error_code == ErrorCode.NONE, answer
    return int(answer.node_id)


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )


def _read(consumer: Consumer, want: int) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(values) < want and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            values.append(message.value())
    return values


def _commit(consumer: Consumer) -> None:
    """A synchronous commit; retried while the group looks for its new coordinator."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            consumer.commit(asynchronous=False)
            return
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            consumer.poll(0.1)


def _live_bootstrap(cluster: LocalCluster, dead: int) -> str:
    return ",".join(
        f"127.0.0.1:{node.port}" for node_id, node in cluster.nodes.items() if node_id != dead
    )


def test_committed_offsets_survive_killing_the_coordinator(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides=SETTINGS)
    bootstrap = cluster.bootstrap
    _create_topic(bootstrap.split(",")[0])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for index in range(40):
        producer.produce(TOPIC, b"v-%03d" % index, partition=index % 2)
    assert producer.flush(DEADLINE_S) == 0

    group = "failover-group"
    consumer = _consumer(bootstrap, group)
    consumer.subscribe([TOPIC])
    try:
        first = _read(consumer, 20)
        assert len(first) == 20
        _commit(consumer)
        coordinator = _coordinator(bootstrap.split(",")[0], group)
        cluster.nodes[coordinator].kill()
        second = _read(consumer, 20)
        assert len(second) == 20
        _commit(consumer)
        positions = consumer.position([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    finally:
        consumer.close()
    assert sorted(first + second) == [b"v-%03d" % index for index in range(40)]
    survivors = _live_bootstrap(cluster, coordinator)
    new_coordinator = _coordinator(survivors.split(",")[0], group)
    assert new_coordinator != coordinator
    # A new member of the group resumes exactly at the committed offsets.
    checker = _consumer(survivors, group)
    try:
        committed = checker.committed(
            [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)], timeout=DEADLINE_S
        )
    finally:
        checker.close()
    assert [(tp.partition, tp.offset) for tp in committed] == [
        (tp.partition, tp.offset) for tp in positions
    ]
    assert sum(tp.offset for tp in committed) == 40
