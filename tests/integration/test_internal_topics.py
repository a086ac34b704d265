"""__consumer_offsets: created on first use (capped replication factor), appended, replayed."""

from __future__ import annotations

from broker.server import internal_topics
from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode


def test_offsets_topic_append_and_replay(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start({"offsets.topic.num.partitions": "4"})
    server = broker.server  # type: ignore[union-attr]
    ensure = internal_topics.ensure_offsets_topic
    assert broker.call(ensure, server) is ErrorCode.NONE  # type: ignore[union-attr]
    assert broker.call(ensure, server) is ErrorCode.NONE  # type: ignore[union-attr]  # idempotent
    topic = server.image.topic(internal_topics.OFFSETS_TOPIC)
    assert topic is not None and len(topic.partitions) == 4
    assert all(len(p.replicas) == 1 for p in topic.partitions.values())  # 3 capped at 1 broker
    assert topic.configs["cleanup.policy"] == "compact"
    first = internal_topics.append(
        server, internal_topics.OFFSETS_TOPIC, 2, [(b"k1", b"v1"), (b"k2", b"v2")]
    )
    second = internal_topics.append(server, internal_topics.OFFSETS_TOPIC, 2, [(b"k1", None)])
    assert (first, second) == (0, 2)
    replayed = list(internal_topics.replay(server, internal_topics.OFFSETS_TOPIC, 2))
    assert replayed == [(0, b"k1", b"v1", -1), (1, b"k2", b"v2", -1), (2, b"k1", None, -1)]
    assert list(internal_topics.replay(server, internal_topics.OFFSETS_TOPIC, 0)) == []
