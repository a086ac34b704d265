"""The DescribeTopicPartitions handler on a hand-made cluster image: a fenced replica is
offline, a leader whose registration is gone is reported as none (-1), and no ELR is kept
(empty lists, not null).  Paging is tested against a broker in
tests/integration/test_describe_topic_partitions.py."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import anyio
from construct import Container

from broker.core.metadata import (
    FenceBrokerRecord,
    MetadataImage,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.server.handlers.metadata import describe_cluster, describe_topic_partitions
from client.protocol import codec
from client.protocol.headers import RequestHeader
from client.protocol.messages import APIS

TOPIC_ID = uuid.UUID(int=7)


async def _settled(topics: object) -> None:
    return None


def _server() -> Any:
    """Brokers 1 and 2 live, 3 fenced; topic t: partition 0 on 1-3, partition 1 led by an
    unregistered broker 4."""
    image = MetadataImage()
    for broker in (1, 2, 3):
        image.replay(RegisterBrokerRecord(broker, "x", broker, "h", 9000 + broker))
        image.replay(UnfenceBrokerRecord(broker, broker))
    image.replay(FenceBrokerRecord(3, 3))
    image.replay(TopicRecord("t", str(TOPIC_ID)))
    image.replay(PartitionRecord(str(TOPIC_ID), 0, (1, 2, 3), (1, 2), 1, 4, 6))
    image.replay(PartitionRecord(str(TOPIC_ID), 1, (4, 2), (4,), 4, 2, 3))
    config = SimpleNamespace(max_request_partition_size_limit=2000)
    return SimpleNamespace(
        image=image,
        config=config,
        leaders_settled=_settled,
        cluster_id="c1",
        reported_controller_id=lambda: 1,
    )


def test_replicas_leaders_and_offline_replicas() -> None:
    request = Container(topics=[Container(name="t")], response_partition_limit=10, cursor=None)
    response = anyio.run(describe_topic_partitions, _server(), RequestHeader(75, 0, 1, "c", 0),
                         request)  # fmt: skip
    message = APIS[75][1]
    answered = codec.decode(message, 0, codec.encode(message, 0, response))
    (topic,) = answered.topics
    assert (topic.name, topic.topic_id, topic.error_code) == ("t", TOPIC_ID, 0)
    first, second = topic.partitions
    assert (first.leader_id, first.leader_epoch) == (1, 4)
    assert (first.replica_nodes, first.isr_nodes, first.offline_replicas) == (
        [1, 2, 3],
        [1, 2],
        [3],
    )
    # Broker 4 never registered: no leader to name, and its replica is offline.
    assert (second.leader_id, second.offline_replicas, second.isr_nodes) == (-1, [4], [4])
    assert first.eligible_leader_replicas == [] and first.last_known_elr == []
    assert answered.next_cursor is None


def test_describe_cluster_lists_fenced_brokers_when_asked() -> None:
    """DescribeCluster v2 (KIP-1073): ``include_fenced_brokers`` adds them, flagged."""
    message = APIS[60][1]

    def brokers(include: bool) -> list[tuple[int, bool]]:
        request = Container(include_cluster_authorized_operations=False, endpoint_type=1,
                            include_fenced_brokers=include)  # fmt: skip
        response = anyio.run(describe_cluster, _server(), RequestHeader(60, 2, 1, "c", 0), request)
        answered = codec.decode(message, 2, codec.encode(message, 2, response))
        return [(b.broker_id, b.is_fenced) for b in answered.brokers]

    assert brokers(False) == [(1, False), (2, False)]
    assert brokers(True) == [(1, False), (2, False), (3, True)]
