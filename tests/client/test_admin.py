"""AdminClient against a real broker: topics, partitions, configs, offsets, typed errors."""

from __future__ import annotations

from typing import Any

import pytest

from client.admin import (
    AdminClient,
    ConfigResource,
    ConfigResourceType,
    NewTopic,
    OffsetSpec,
)
from client.errors import (
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from client.metadata import TopicPartition
from client.protocol import records
from client.protocol.errors import ErrorCode

pytestmark = pytest.mark.anyio

PRODUCE = 0
TIMESTAMPS = (1_000, 2_000, 3_000)


def admin_for(bootstrap: str) -> AdminClient:
    return AdminClient(
        {"bootstrap.servers": bootstrap}, request_timeout_ms=10_000, default_api_timeout_ms=20_000
    )


async def produce(admin: AdminClient, topic: str, partition: int) -> None:
    """Three records with timestamps 1000, 2000, 3000 (acks=all)."""
    batch = records.build_batch(
        [records.Record(0, timestamp, None, b"v") for timestamp in TIMESTAMPS]
    )
    body: dict[str, Any] = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 10_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": batch}]}],
    }
    connection = await admin.cluster.leader_connection(topic, partition)
    response = await connection.send(PRODUCE, body)
    answer = response.responses[0].partition_responses[0]
    assert answer.error_code == ErrorCode.NONE


async def test_topic_lifecycle(bootstrap: str, topic_name: str) -> None:
    async with admin_for(bootstrap) as admin:
        assert await admin.create_topics([NewTopic(topic_name, 2, 1)]) == {topic_name: None}
        assert topic_name in await admin.list_topics()

        described = (await admin.describe_topics([topic_name]))[topic_name]
        assert [state.partition for state in described.partitions] == [0, 1]
        for state in described.partitions:
            assert state.leader in state.replicas and state.leader in state.isr
            assert len(state.replicas) == 1
        assert described.topic_id is not None and not described.is_internal

        with pytest.raises(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic_name, 2, 1)])

        assert await admin.create_partitions({topic_name: 4}) == {topic_name: None}
        grown = (await admin.describe_topics([topic_name]))[topic_name]
        assert len(grown.partitions) == 4
        with pytest.raises(InvalidPartitionsError):
            await admin.create_partitions({topic_name: 2})

        assert await admin.delete_topics([topic_name]) == {topic_name: None}
        assert topic_name not in await admin.list_topics()
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.describe_topics([topic_name])


async def test_per_topic_results_without_raising(bootstrap: str, topic_name: str) -> None:
    other = topic_name + "-other"
    async with admin_for(bootstrap) as admin:
        await admin.create_topics([NewTopic(topic_name, 1, 1)])
        results = await admin.create_topics(
            [NewTopic(topic_name, 1, 1), NewTopic(other, 1, 1)], raise_errors=False
        )
        assert list(results) == [topic_name, other]
        assert isinstance(results[topic_name], TopicAlreadyExistsError)
        assert results[other] is None
        deleted = await admin.delete_topics(
            [topic_name, other, topic_name + "-never"], raise_errors=False
        )
        assert deleted[topic_name] is None and deleted[other] is None
        assert isinstance(deleted[topic_name + "-never"], UnknownTopicOrPartitionError)


async def test_create_with_configs_and_describe_them(bootstrap: str, topic_name: str) -> None:
    async with admin_for(bootstrap) as admin:
        await admin.create_topics(
            [NewTopic(topic_name, 1, 1, configs={"retention.ms": "123456789"})]
        )
        topic = ConfigResource(ConfigResourceType.TOPIC, topic_name)
        configs = (await admin.describe_configs([topic]))[topic]
        assert configs["retention.ms"].value == "123456789"
        assert not configs["retention.ms"].is_default
        assert "cleanup.policy" in configs
        only = (await admin.describe_configs([topic], keys=["retention.ms"]))[topic]
        assert list(only) == ["retention.ms"]

        node_id = min(admin.cluster.metadata.brokers)
        broker = ConfigResource(ConfigResourceType.BROKER, str(node_id))
        broker_configs = (await admin.describe_configs([broker]))[broker]
        assert broker_configs  # every broker describes at least some of its configs


async def test_describe_configs_of_an_unknown_topic(bootstrap: str, topic_name: str) -> None:
    async with admin_for(bootstrap) as admin:
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name)])


async def test_list_offsets(bootstrap: str, topic_name: str) -> None:
    async with admin_for(bootstrap) as admin:
        await admin.create_topics([NewTopic(topic_name, 2, 1)])
        await produce(admin, topic_name, 0)
        p0, p1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
        listed = await admin.list_offsets({p0: OffsetSpec.LATEST, p1: OffsetSpec.LATEST})
        assert (listed[p0].offset, listed[p1].offset) == (3, 0)
        earliest = await admin.list_offsets({p0: OffsetSpec.EARLIEST})
        assert earliest[p0].offset == 0
        by_time = await admin.list_offsets({p0: 1_500})
        assert (by_time[p0].offset, by_time[p0].timestamp) == (1, 2_000)
        assert (await admin.list_offsets({p0: 10_000}))[p0].offset == -1
        newest = await admin.list_offsets({p0: OffsetSpec.MAX_TIMESTAMP})
        assert (newest[p0].offset, newest[p0].timestamp) == (2, 3_000)


async def test_list_offsets_of_an_unknown_partition(bootstrap: str, topic_name: str) -> None:
    async with AdminClient(
        bootstrap_servers=bootstrap, default_api_timeout_ms=300, retry_backoff_ms=10
    ) as admin:
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.list_offsets({TopicPartition(topic_name, 0): OffsetSpec.LATEST})
