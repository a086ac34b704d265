"""DeleteRecords and ElectLeaders from unmodified clients: confluent-kafka's AdminClient
(``delete_records``, ``elect_leaders``) and kafka-python's KafkaAdminClient (same names), on
one node and on a 3-broker cluster; a confluent consumer reading from before the new log start
is reset to it."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, ElectionType, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaPythonPartition
from kafka import errors as kafka_errors

from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import (
    create_topic,
    list_offset,
    partition_states,
    produce,
    wait_for_states,
)

TIMEOUT_S = 15.0
EARLIEST = -2


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})


def _kafka_python_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)


def _first_offset_read(bootstrap: str, topic: str) -> int:
    """A confluent consumer assigned at offset 0 of partition 0 (reset: earliest)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = consumer.poll(TIMEOUT_S)
        assert message is not None and message.error() is None, message and message.error()
        return int(message.offset())
    finally:
        consumer.close()


def test_confluent_delete_records_and_elect_leaders_on_one_node(
    kafka_broker_factory: BrokerFactory, new_topic_name: Any
) -> None:
    broker = kafka_broker_factory.start({"log.segment.bytes": "1024"})
    topic = new_topic_name()
    create_topic(broker.bootstrap, topic, partitions=2)
    produce(broker.bootstrap, topic, 0, batches=20)  # offsets 0..99
    admin = _admin(broker.bootstrap)
    futures = admin.delete_records(
        [TopicPartition(topic, 0, 42), TopicPartition(topic, 1, 5)],
        request_timeout=TIMEOUT_S,
        operation_timeout=TIMEOUT_S,
    )
    assert futures[TopicPartition(topic, 0)].result(timeout=TIMEOUT_S).low_watermark == 42
    with pytest.raises(KafkaException) as raised:
        futures[TopicPartition(topic, 1)].result(timeout=TIMEOUT_S)  # partition 1 is empty
    assert raised.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE
    assert list_offset(broker.bootstrap, topic, 0, EARLIEST) == (ErrorCode.NONE, 42)
    # A consumer asking for offset 0 is told OFFSET_OUT_OF_RANGE and resets to the new start.
    assert _first_offset_read(broker.bootstrap, topic) == 42

    # One node leads everything it should: nothing to elect.
    # (confluent-kafka 2.16 rejects any keyword argument to elect_leaders: its defaults.)
    results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(
        timeout=TIMEOUT_S
    )
    (outcome,) = results.values()
    assert outcome is not None and outcome.code() == KafkaError.ELECTION_NOT_NEEDED


def test_kafka_python_delete_records_on_one_node(
    kafka_broker_factory: BrokerFactory, new_topic_name: Any
) -> None:
    broker = kafka_broker_factory.start()
    topic = new_topic_name()
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, 0, batches=4)  # offsets 0..19
    admin = _kafka_python_admin(broker.bootstrap)
    try:
        partition = KafkaPythonPartition(topic, 0)
        result = admin.delete_records({partition: 7}, timeout_ms=15_000)
        assert result[partition]["low_watermark"] == 7
        result = admin.delete_records({partition: -1}, timeout_ms=15_000)  # the HW
        assert result[partition]["low_watermark"] == 20
        with pytest.raises(kafka_errors.OffsetOutOfRangeError):
            admin.delete_records({partition: 21}, timeout_ms=15_000)
        # Already led by the preferred replica: not an error for kafka-python.
        admin.elect_leaders(0, {topic: [0]}, timeout_ms=15_000)
    finally:
        admin.close()
    assert list_offset(broker.bootstrap, topic, 0, EARLIEST) == (ErrorCode.NONE, 20)


def test_clients_on_a_cluster(kafka_cluster_factory: ClusterFactory, new_topic_name: Any) -> None:
    cluster = kafka_cluster_factory.start(
        brokers=3, overrides={"auto.leader.rebalance.enable": "false"}
    )
    nodes = cluster.nodes
    topic = new_topic_name()
    create_topic(cluster.bootstrap.split(",")[0], topic, assignments=[[1, 2, 3], [2, 3, 1]])
    full = wait_for_states(
        cluster, topic, lambda s: all(len(isr) == 3 for _, _, isr in s.values()), "full ISR"
    )
    assert (full[0][0], full[1][0]) == (1, 2)
    produce(f"127.0.0.1:{nodes[1].port}", topic, 0, batches=4)
    produce(f"127.0.0.1:{nodes[2].port}", topic, 1, batches=4)

    # kafka-python sends each partition's deletion to its leader.
    admin = _kafka_python_admin(cluster.bootstrap)
    try:
        result = admin.delete_records(
            {KafkaPythonPartition(topic, 0): 10, KafkaPythonPartition(topic, 1): 15},
            timeout_ms=15_000,
        )
    finally:
        admin.close()
    lows = {partition.partition: value["low_watermark"] for partition, value in result.items()}
    assert lows == {0: 10, 1: 15}

    # The preferred leader of partition 0 restarts; confluent's elect_leaders gives it back.
    nodes[1].kill()
    wait_for_states(cluster, topic, lambda s: s[0][0] == 2, "2 leads partition 0")
    nodes[1].start()
    wait_for_states(cluster, topic, lambda s: 1 in s[0][2], "1 back in the ISR")
    admin_c = _admin(cluster.bootstrap)
    results = admin_c.elect_leaders(
        ElectionType.PREFERRED, [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    ).result(timeout=TIMEOUT_S)
    assert results[TopicPartition(topic, 0)] is None
    not_needed = results[TopicPartition(topic, 1)]
    assert not_needed is not None and not_needed.code() == KafkaError.ELECTION_NOT_NEEDED
    wait_for_states(cluster, topic, lambda s: s[0][0] == 1, "1 leads partition 0 again")
    # The new leader serves from the start the deletion set.
    assert list_offset(f"127.0.0.1:{nodes[1].port}", topic, 0, EARLIEST) == (ErrorCode.NONE, 10)
    assert partition_states(f"127.0.0.1:{nodes[3].port}", topic)[0][0] == 1
