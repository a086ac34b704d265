"""Transactions on a 3-broker cluster (RF=3, min.insync.replicas=2), confluent-kafka.

The transaction coordinator writes markers to partitions led by other brokers
(WriteTxnMarkers); killing the coordinator's broker (kill -9) loses nothing: the new
leader of its ``__transaction_state`` partition replays the state, a new producer with the
same ``transactional.id`` fences the old one, and every committed record is read exactly
once by a read_committed consumer while no aborted one ever is.
"""

from __future__ import annotations

import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker.cluster_launcher import LocalCluster
from broker.testing import ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

TIMEOUT_S = 20.0
PARTITIONS = 6
SETTINGS = {
    "min.insync.replicas": "2",
    "default.replication.factor": "3",
    "transaction.state.log.num.partitions": "3",
}


def _coordinator(bootstrap: str, transactional_id: str) -> int:
    with RawConnection(bootstrap) as conn:
        answer = conn.request(10, 3, {"key": transactional_id, "key_type": 1})
    assert answer.error_code == ErrorCode.NONE, answer
    return int(answer.node_id)


def _live_bootstrap(cluster: LocalCluster, dead: int) -> str:
    return ",".join(
        f"127.0.0.1:{node.port}" for node_id, node in cluster.nodes.items() if node_id != dead
    )


def _producer(bootstrap: str, transactional_id: str) -> Producer:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "linger.ms": 5,
            "retry.backoff.ms": 50,
        }
    )
    producer.init_transactions(TIMEOUT_S)
    return producer


def _transaction(producer: Producer, topic: str, prefix: str, count: int, commit: bool) -> None:
    producer.begin_transaction()
    for index in range(count):
        producer.produce(topic, f"{prefix}-{index}".encode(), partition=index % PARTITIONS)
    if commit:
        producer.commit_transaction(TIMEOUT_S)
    else:
        producer.flush(TIMEOUT_S)
        producer.abort_transaction(TIMEOUT_S)


def _read_committed(bootstrap: str, topic: str, count: int) -> list[bytes]:
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    values: list[bytes] = []
    try:
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])

        def enough() -> bool:
            values.extend(m.value() for m in reader.consume(200, timeout=0.2) if not m.error())
            return len(values) >= count

        wait_until(enough, what=f"{count} committed records", timeout_s=TIMEOUT_S)
        values.extend(m.value() for m in reader.consume(200, timeout=0.5) if not m.error())
    finally:
        reader.close()
    return values


def _expected(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}-{index}".encode() for index in range(count)]


def test_transactions_survive_killing_the_coordinator(
    kafka_cluster_factory: ClusterFactory, topic: str
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides=SETTINGS)
    bootstrap = cluster.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(TIMEOUT_S)
    transactional_id = f"txn-{topic}"
    producer = _producer(bootstrap, transactional_id)
    _transaction(producer, topic, "one", 30, commit=True)
    _transaction(producer, topic, "dropped", 12, commit=False)
    # A transaction left open on the coordinator that is about to die.
    producer.begin_transaction()
    for index in range(PARTITIONS):
        producer.produce(topic, f"orphan-{index}".encode(), partition=index)
    producer.flush(TIMEOUT_S)
    coordinator = _coordinator(bootstrap.split(",")[0], transactional_id)
    cluster.nodes[coordinator].kill()
    survivors = _live_bootstrap(cluster, coordinator)
    wait_until(
        lambda: _coordinator(survivors.split(",")[0], transactional_id) != coordinator,
        what="a new transaction coordinator",
        timeout_s=TIMEOUT_S,
    )
    successor = _producer(survivors, transactional_id)  # fences, aborts the orphan
    _transaction(successor, topic, "two", 24, commit=True)
    values = _read_committed(survivors, topic, 54)
    assert sorted(values) == sorted(_expected("one", 30) + _expected("two", 24))
    cluster.nodes[coordinator].restart()
    # The restarted broker rejoins (it truncates to its leaders' logs, markers included):
    # reading through every broker gives the same.
    assert sorted(_read_committed(bootstrap, topic, 54)) == sorted(values)


def test_a_transaction_commits_across_the_kill_of_a_partition_leader(
    kafka_cluster_factory: ClusterFactory, topic: str
) -> None:
    """A partition leader other than the coordinator dies mid-transaction: the producer
    goes on with the new leaders, the markers reach them, and the commit holds (the
    followers kept the open transaction in their producer state)."""
    cluster = kafka_cluster_factory.start(brokers=3, overrides=SETTINGS)
    bootstrap = cluster.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(TIMEOUT_S)
    transactional_id = f"txn-{topic}"
    producer = _producer(bootstrap, transactional_id)
    coordinator = _coordinator(bootstrap.split(",")[0], transactional_id)
    victim = next(node_id for node_id in cluster.nodes if node_id != coordinator)
    producer.begin_transaction()
    for index in range(18):
        producer.produce(topic, f"before-{index}".encode(), partition=index % PARTITIONS)
    assert producer.flush(TIMEOUT_S) == 0
    cluster.nodes[victim].kill()
    for index in range(18):
        producer.produce(topic, f"after-{index}".encode(), partition=index % PARTITIONS)
    producer.commit_transaction(TIMEOUT_S)
    _transaction(producer, topic, "dropped", 12, commit=False)
    expected = sorted(_expected("before", 18) + _expected("after", 18))
    survivors = _live_bootstrap(cluster, victim)
    assert sorted(_read_committed(survivors, topic, 36)) == expected
    cluster.nodes[victim].restart()
    assert sorted(_read_committed(bootstrap, topic, 36)) == expected
