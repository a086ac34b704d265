"""A topic deleted and created again under its name while a replica was down.

The returning broker still has the old topic's log under the same directory name.  Without
the topic id in ``partition.metadata`` it would take that log for the new topic's: the new
leader starts again at epoch 0, so the follower's epoch-0 records diverge nowhere by epoch and
the old values stay on it below the new high watermark (stale data served, and electable).
With it, the broker deletes the stale log and fetches the new topic from scratch.
"""

from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.log.files import OS_FILES
from broker.log.partition_metadata import read as read_topic_id
from broker.testing import ClusterFactory
from client.protocol.records import decode_records, iterate_batches
from tests.interop.test_cluster_faults import (
    CLUSTER,
    create_topic,
    segment_bytes,
    wait_for_full_isr,
    wait_until,
)
from tests.support.history import confluent_producer_config, metadata

TOPIC = "again"


def _produce(bootstrap: str, values: list[bytes]) -> None:
    producer = Producer(confluent_producer_config(bootstrap))
    for value in values:
        # One batch each: a truncation inside one batch of all of them would drop it whole
        # and hide the stale records.
        producer.produce(TOPIC, value, partition=0)
        assert producer.flush(30) == 0


def _values_on_disk(data: bytes) -> list[bytes]:
    values: list[bytes] = []
    for position, header in iterate_batches(data):
        batch = data[position : position + header.size_bytes]
        values += [record.value or b"" for record in decode_records(batch)]
    return values


def test_a_returning_broker_drops_the_old_topics_log(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, overrides=CLUSTER)
    create_topic(cluster, TOPIC, assignment=[[3, 1, 2]])
    old = [f"old-{i}".encode() for i in range(5)]
    _produce(cluster.bootstrap, old)
    returning = cluster.nodes[3]
    wait_until(lambda: _values_on_disk(segment_bytes(returning, TOPIC, 0)) == old, "old on 3")
    returning.kill()

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 3})
    for future in admin.delete_topics([TOPIC], operation_timeout=10).values():
        future.result(timeout=15)
    first = f"127.0.0.1:{cluster.nodes[1].port}"
    wait_until(lambda: metadata(first, TOPIC).topics[0].error_code != 0, "the topic deleted")
    # Broker 3 is down (fenced) but still registered: a manual assignment may name it.
    again = NewTopic(TOPIC, num_partitions=1, replica_assignment=[[1, 2, 3]])
    for future in admin.create_topics([again], operation_timeout=10).values():
        future.result(timeout=15)
    new = [f"new-{i}".encode() for i in range(2)]
    _produce(cluster.bootstrap, new)

    returning.restart()
    wait_for_full_isr(cluster, TOPIC)
    topic_id = metadata(first, TOPIC).topics[0].topic_id
    wait_until(
        lambda: _values_on_disk(segment_bytes(returning, TOPIC, 0)) == new,
        "broker 3 holding exactly the new topic's records",
    )
    assert read_topic_id(OS_FILES, returning.data_dir / f"{TOPIC}-0") == topic_id
