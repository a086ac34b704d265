"""A KIP-848 consumer group (librdkafka, ``group.protocol=consumer``) on 3 brokers survives
kill -9 of its group coordinator: the members' next heartbeats reach the new coordinator
(the leader of the group's ``__consumer_offsets`` partition), which has replayed the group's
records (members, epochs, assignments); the partitions stay shared and consumption resumes
from the committed offsets: every record is read, and none committed before the kill is
read again.
"""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.testing import ClusterFactory
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

PARTITIONS = 6
DEADLINE_S = 40.0
SETTINGS = {
    "offsets.topic.num.partitions": "3",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "group.consumer.heartbeat.interval.ms": "250",
    "group.consumer.session.timeout.ms": "10000",
    # Kafka's start-up checks: each value within its min/max bound.
    "group.consumer.min.heartbeat.interval.ms": "250",
    "group.consumer.min.session.timeout.ms": "10000",
}


def _produce(bootstrap: str, topic: str, prefix: str, count: int) -> set[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    values = set()
    for index in range(count):
        value = f"{prefix}-{index}".encode()
        producer.produce(topic, value, partition=index % PARTITIONS)
        values.add(value)
    assert producer.flush(DEADLINE_S) == 0
    return values


def _member(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    return consumer


def _coordinator(bootstrap: str, group: str) -> int:
    with RawConnection(bootstrap) as conn:
        answer = conn.request(10, 3, {"key": group, "key_type": 0})
    assert answer.error_code == 0, answer
    return int(answer.node_id)


def test_members_rejoin_after_the_coordinator_is_killed(
    kafka_cluster_factory: ClusterFactory, topic: str
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides=SETTINGS)
    bootstrap = cluster.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(DEADLINE_S)
    group = f"g-{uuid.uuid4().hex[:8]}"
    before = _produce(bootstrap, topic, "before", 60)
    members = [_member(bootstrap, group, topic) for _ in range(2)]
    seen: list[list[bytes]] = [[], []]
    try:

        def poll_all() -> None:
            for index, member in enumerate(members):
                for message in member.consume(100, timeout=0.1):
                    if message.error() is None:
                        seen[index].append(message.value())

        def read(values: set[bytes]) -> bool:
            poll_all()
            return values <= set(seen[0]) | set(seen[1])

        wait_until(lambda: read(before), what="the first batch", timeout_s=DEADLINE_S)
        for index, member in enumerate(members):
            if seen[index]:  # a member that read nothing has nothing to commit
                member.commit(asynchronous=False)
        marks = [len(seen[0]), len(seen[1])]
        # Each record read (a partition that moved to the second member before anything was
        # committed may have been read by both).
        assert set(seen[0]) | set(seen[1]) == before
        victim = _coordinator(bootstrap.split(",")[0], group)
        cluster.nodes[victim].kill()
        survivors = ",".join(
            f"127.0.0.1:{node.port}" for node_id, node in cluster.nodes.items() if node_id != victim
        )
        wait_until(
            lambda: _coordinator(survivors.split(",")[0], group) != victim,
            what="a new group coordinator",
            timeout_s=DEADLINE_S,
        )
        after = _produce(survivors, topic, "after", 60)
        wait_until(lambda: read(after), what="the second batch", timeout_s=DEADLINE_S)

        def shared() -> bool:
            poll_all()
            parts = [{tp.partition for tp in m.assignment()} for m in members]
            return not parts[0] & parts[1] and parts[0] | parts[1] == set(range(PARTITIONS))

        wait_until(shared, what="the partitions shared again", timeout_s=DEADLINE_S)
        later = seen[0][marks[0] :] + seen[1][marks[1] :]
        assert not before & set(later), "a committed record was read again"
    finally:
        for member in members:
            member.close()
