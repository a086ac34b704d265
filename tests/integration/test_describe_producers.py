"""DescribeProducers (61) on one broker: the idempotent producers of each partition from the
leader's producer state, through kafka-python's ``describe_producers`` and over the wire
(unknown topics and partitions answered per partition)."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection

DESCRIBE_PRODUCERS = 61
TOPIC = "producers"
SENDS = 5


def test_active_producers_of_each_partition(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    producers: list[KafkaProducer] = []
    try:
        admin.create_topics([NewTopic(TOPIC, 2, 1)])
        before_ms = int(time.time() * 1000)
        for _ in range(2):  # two idempotent producers, each one record per send
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
            producers.append(producer)
            for _ in range(SENDS):
                producer.send(TOPIC, b"v", partition=0).get(timeout=10)
        states = admin.describe_producers([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
        active = states[TopicPartition(TOPIC, 0)].active_producers
        assert len({state.producer_id for state in active}) == 2
        for state in active:
            assert (state.producer_epoch, state.last_sequence) == (0, SENDS - 1)
            assert (state.coordinator_epoch, state.current_transaction_start_offset) == (-1, -1)
            assert state.last_timestamp >= before_ms
        assert states[TopicPartition(TOPIC, 1)].active_producers == []
    finally:
        for producer in producers:
            producer.close()
        admin.close()

    with RawConnection(broker.bootstrap) as conn:
        asked = [
            {"name": TOPIC, "partition_indexes": [0, 7]},
            {"name": "absent", "partition_indexes": [0]},
        ]
        answer = conn.request(DESCRIBE_PRODUCERS, 0, {"topics": asked})
    got = {
        (topic.name, p.partition_index): (p.error_code, len(p.active_producers))
        for topic in answer.topics
        for p in topic.partitions
    }
    assert got == {
        (TOPIC, 0): (ErrorCode.NONE, 2),
        (TOPIC, 7): (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 0),
        ("absent", 0): (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 0),
    }
