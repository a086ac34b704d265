"""Consumers keep their place across a leader change (KIP-320).

After a leader change confluent-kafka and kafka-python check their position with
OffsetForLeaderEpoch against the new leader (a position past the end of its epoch would mean
truncated data).  Both consumers here read half the records, the leader is killed -9, the rest
is written through the new leader, and each consumer must go on to read every record exactly
once, in order, without reporting a truncation or any other error.
"""

from __future__ import annotations

import time
from typing import Any

import kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from broker.testing import ClusterFactory
from tests.interop.test_cluster_faults import CLUSTER, create_topic, wait_for_state
from tests.support.history import confluent_producer_config

TOPIC = "follow-me"
HALF = 50
DEADLINE_S = 40.0


def _produce(bootstrap: str, values: list[bytes]) -> None:
    failures: list[Any] = []
    producer = Producer(confluent_producer_config(bootstrap))
    for value in values:
        producer.produce(
            TOPIC, value, partition=0, on_delivery=lambda err, _msg: err and failures.append(err)
        )
    assert producer.flush(30) == 0, "not every record was delivered"
    assert failures == []


class _ConfluentReader:
    def __init__(self, bootstrap: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "unused",  # assign() needs one; nothing is committed
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 50,
                "topic.metadata.refresh.interval.ms": 500,
                "reconnect.backoff.max.ms": 200,
                "log_level": 3,
            }
        )
        self.consumer.assign([TopicPartition(TOPIC, 0, 0)])
        self.values: list[bytes] = []
        self.errors: list[str] = []

    def poll(self) -> None:
        message = self.consumer.poll(0.05)
        if message is None:
            return
        error = message.error()
        if error is None:
            self.values.append(message.value())
        elif error.code() != KafkaError._PARTITION_EOF and not error.retriable():
            self.errors.append(str(error))

    def close(self) -> None:
        self.consumer.close()


class _KafkaPythonReader:
    def __init__(self, bootstrap: str) -> None:
        self.consumer = kafka.KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=50,
            metadata_max_age_ms=500,
            reconnect_backoff_max_ms=200,
        )
        partition = kafka.TopicPartition(TOPIC, 0)
        self.consumer.assign([partition])
        self.consumer.seek(partition, 0)
        self.values: list[bytes] = []
        self.errors: list[str] = []

    def poll(self) -> None:
        try:
            batches = self.consumer.poll(timeout_ms=50)
        except kafka.errors.KafkaError as error:  # truncation, out of range, ...
            self.errors.append(repr(error))
            return
        for records in batches.values():
            self.values.extend(record.value for record in records)

    def close(self) -> None:
        self.consumer.close()


def _read_until(readers: list[Any], count: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while any(len(r.values) < count for r in readers) and time.monotonic() < deadline:
        for reader in readers:
            if len(reader.values) < count:
                reader.poll()
    for reader in readers:
        assert reader.errors == [], f"{type(reader).__name__}: {reader.errors}"


def test_consumers_follow_the_new_leader(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides=CLUSTER)
    (state,) = create_topic(cluster, TOPIC).values()
    values = [f"value-{i:03d}".encode() for i in range(2 * HALF)]
    _produce(cluster.bootstrap, values[:HALF])
    readers: list[Any] = [
        _ConfluentReader(cluster.bootstrap),
        _KafkaPythonReader(cluster.bootstrap),
    ]
    try:
        _read_until(readers, HALF)
        assert [r.values for r in readers] == [values[:HALF]] * 2
        cluster.nodes[state.leader].kill()
        dead = frozenset({state.leader})
        wait_for_state(
            cluster,
            TOPIC,
            lambda s: (
                s[0].leader not in (-1, state.leader) and s[0].leader_epoch > state.leader_epoch
            ),
            "a new leader from the ISR",
            exclude=dead,
        )
        _produce(cluster.bootstrap, values[HALF:])
        _read_until(readers, 2 * HALF)
        for reader in readers:
            assert reader.values == values, type(reader).__name__
    finally:
        for reader in readers:
            reader.close()
