"""KIP-392 with real clients: a confluent-kafka consumer whose ``client.rack`` matches a
follower's ``broker.rack`` reads from that follower (librdkafka's statistics name the broker
it fetches from), backlog and tail alike; clients without a rack keep reading the leader."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from broker.config import RACK_AWARE_REPLICA_SELECTOR
from broker.testing import ClusterFactory
from tests.interop.test_cluster_faults import CLUSTER, create_topic, wait_for_full_isr
from tests.support.history import confluent_producer_config

RACKS = ("a", "b", "c")
READ_TIMEOUT_S = 30.0


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer(confluent_producer_config(bootstrap))
    for value in values:
        producer.produce(topic, value, partition=0)
    assert producer.flush(30) == 0


def test_confluent_consumer_reads_from_the_follower_in_its_rack(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    overrides = CLUSTER | {"replica.selector.class": RACK_AWARE_REPLICA_SELECTOR}
    cluster = kafka_cluster_factory.start(brokers=3, overrides=overrides, racks=RACKS)
    topic = "racked"
    create_topic(cluster, topic)
    state = wait_for_full_isr(cluster, topic)[0]
    follower = next(broker for broker in sorted(state.replicas) if broker != state.leader)
    backlog = [b"backlog-%04d" % i for i in range(500)]
    _produce(cluster.bootstrap, topic, backlog)

    sources: list[tuple[int, int]] = []  # (leader, broker fetched from) per statistics event

    def on_stats(text: str) -> None:
        stats: dict[str, Any] = json.loads(text)
        partition = stats.get("topics", {}).get(topic, {}).get("partitions", {}).get("0")
        if partition is not None and partition.get("fetch_state") == "active":
            sources.append((partition["leader"], partition["broker"]))

    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": "racked-readers",
            "client.rack": RACKS[follower - 1],
            "enable.auto.commit": False,
            "statistics.interval.ms": 100,
            "stats_cb": on_stats,
            "log_level": 3,
        }
    )
    got: list[bytes] = []
    tail = [b"tail-%04d" % i for i in range(100)]
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + READ_TIMEOUT_S
        produced_tail = False
        while len(got) < len(backlog) + len(tail) and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append(message.value() or b"")
            if len(got) == len(backlog) and not produced_tail:
                # Written while the consumer waits at the follower's high watermark.
                _produce(cluster.bootstrap, topic, tail)
                produced_tail = True
        # One more statistics event after the reads, so the fetch source is on record.
        events = len(sources)
        while len(sources) == events and time.monotonic() < deadline:
            consumer.poll(0.1)
    finally:
        consumer.close()
    assert got == backlog + tail
    assert sources, "no statistics from librdkafka"
    assert sources[-1] == (state.leader, follower), sources[-5:]


def test_consumers_without_a_rack_read_from_the_leader(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    overrides = CLUSTER | {"replica.selector.class": RACK_AWARE_REPLICA_SELECTOR}
    cluster = kafka_cluster_factory.start(brokers=3, overrides=overrides, racks=RACKS)
    topic = "unracked"
    create_topic(cluster, topic)
    wait_for_full_isr(cluster, topic)
    values = [b"v-%04d" % i for i in range(300)]
    _produce(cluster.bootstrap, topic, values)
    consumer = KafkaConsumer(
        bootstrap_servers=cluster.bootstrap.split(","),
        enable_auto_commit=False,
        consumer_timeout_ms=int(READ_TIMEOUT_S * 1000),
    )
    try:
        partition = KafkaTopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        got = []
        for message in consumer:
            got.append(message.value)
            if len(got) == len(values):
                break
    finally:
        consumer.close()
    assert got == values
