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
from broker.server.handlers.metadata import describe_topic_partitions
from client.protocol import codec
from client.protocol.headers import RequestHeader
from client.protocol.messages import APIS

TOPIC_ID = uuid.UUID(int=7)


async def _settled(topics: object) -> None:
    return None


def _server() -> Any:
    image = MetadataImage()
    for broker in (1, 2, 3):
        image.replay(RegisterBrokerRecord(broker, "x", broker, "h", 9000 + broker))
        image.replay(UnfenceBrokerRecord(broker, broker))
    image.replay(FenceBrokerRecord(3, 3))
    image.replay(TopicRecord("t", str(TOPIC_ID)))
    image.replay(PartitionRecord(str(TOPIC_ID), 0, (1, 2, 3), (1, 2), 1, 4, 6))
    image.replay(PartitionRecord(str(TOPIC_ID), 1, (4, 2), (4,), 4, 2, 3))
    config = SimpleNamespace(max_request_partition_size_limit=2000)
    return SimpleNamespace(image=image, config=config, leaders_settled=_settled)


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
