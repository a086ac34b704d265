"""DescribeTopicPartitions (75): topics in name order, paged by partition count with a cursor,
as Kafka's KRaftMetadataCache pages them; through our AdminClient (which follows the cursor),
raw requests for the cursor's edge cases, and kafka-python's ``describe_topic_partitions``."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest
from kafka.admin import KafkaAdminClient

from broker.testing import BrokerFactory
from client.admin import AdminClient
from client.errors import UnknownTopicOrPartitionError
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import create_topic
from tests.integration.wire import RawConnection

DESCRIBE_TOPIC_PARTITIONS = 75
SIZES = {"dtp-a": 3, "dtp-b": 2, "dtp-c": 4}


def _describe(
    bootstrap: str,
    topics: list[str],
    limit: int = 2000,
    cursor: tuple[str, int] | None = None,
) -> Any:
    body = {
        "topics": [{"name": name} for name in topics],
        "response_partition_limit": limit,
        "cursor": None
        if cursor is None
        else {"topic_name": cursor[0], "partition_index": cursor[1]},
    }
    with RawConnection(bootstrap) as conn:
        return conn.request(DESCRIBE_TOPIC_PARTITIONS, 0, body)


def _page(response: Any) -> tuple[list[tuple[str, int, list[int]]], tuple[str, int] | None]:
    """(topic, error, partition indexes) per topic, and the next cursor."""
    cursor = response.next_cursor
    return (
        [
            (topic.name, topic.error_code, [p.partition_index for p in topic.partitions])
            for topic in response.topics
        ],
        None if cursor is None else (cursor.topic_name, cursor.partition_index),
    )


@pytest.fixture
def bootstrap(kafka_broker_factory: BrokerFactory) -> str:
    broker: Any = kafka_broker_factory.start({"max.request.partition.size.limit": "5"})
    for name, count in SIZES.items():
        create_topic(broker.bootstrap, name, partitions=count)
    return str(broker.bootstrap)


def test_pages_follow_the_cursor(bootstrap: str) -> None:
    asked = ["dtp-c", "dtp-a", "dtp-b"]
    first = _describe(bootstrap, asked, limit=4)
    assert _page(first) == ([("dtp-a", 0, [0, 1, 2]), ("dtp-b", 0, [0])], ("dtp-b", 1))
    second = _describe(bootstrap, asked, limit=4, cursor=("dtp-b", 1))
    assert _page(second) == ([("dtp-b", 0, [1]), ("dtp-c", 0, [0, 1, 2])], ("dtp-c", 3))
    third = _describe(bootstrap, asked, limit=4, cursor=("dtp-c", 3))
    assert _page(third) == ([("dtp-c", 0, [3])], None)
    # A page that ends exactly at a topic's end points at the next topic's first partition.
    assert _page(_describe(bootstrap, asked, limit=3)) == ([("dtp-a", 0, [0, 1, 2])], ("dtp-b", 0))
    topic = first.topics[0]
    assert topic.topic_id != uuid.UUID(int=0) and not topic.is_internal
    assert topic.topic_authorized_operations > 0
    partition = topic.partitions[0]
    assert (partition.leader_id, partition.replica_nodes, partition.isr_nodes) == (1, [1], [1])
    assert partition.eligible_leader_replicas == [] and partition.offline_replicas == []


def test_the_broker_caps_the_page_and_names_unknown_topics(bootstrap: str) -> None:
    # max.request.partition.size.limit=5 wins over the request's 2000.
    assert _page(_describe(bootstrap, [])) == (
        [("dtp-a", 0, [0, 1, 2]), ("dtp-b", 0, [0, 1])],
        ("dtp-c", 0),
    )
    # Unknown and invalid names are answered in their place and take no room; a full page
    # points at the next name asked, known or not.
    asked = ["dtp-b", "nope", "bad/name", "dtp-a"]
    assert _page(_describe(bootstrap, asked)) == (
        [
            ("bad/name", ErrorCode.INVALID_TOPIC_EXCEPTION, []),
            ("dtp-a", 0, [0, 1, 2]),
            ("dtp-b", 0, [0, 1]),
        ],
        ("nope", 0),
    )
    assert _page(_describe(bootstrap, asked, cursor=("nope", 0))) == (
        [("nope", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, [])],
        None,
    )
    # A cursor past a topic's end gives it no partitions; topics before the cursor are skipped.
    assert _page(_describe(bootstrap, [], cursor=("dtp-b", 7))) == (
        [("dtp-b", 0, []), ("dtp-c", 0, [0, 1, 2, 3])],
        None,
    )
    # A limit below 1 still gives a partition a page, so a cursor always moves on.
    assert _page(_describe(bootstrap, ["dtp-b"], limit=0)) == ([("dtp-b", 0, [0])], ("dtp-b", 1))
    assert _page(_describe(bootstrap, [], limit=-5))[1] == ("dtp-a", 1)
    # A negative cursor index, like a cursor topic not among those asked, refuses it all.
    assert _page(_describe(bootstrap, ["dtp-a"], cursor=("dtp-a", -1))) == (
        [("dtp-a", ErrorCode.INVALID_REQUEST, [])],
        None,
    )
    # The cursor's topic must be among those asked: the whole request is refused.
    refused = _describe(bootstrap, ["dtp-a", "dtp-c"], cursor=("dtp-b", 0))
    assert _page(refused) == (
        [("dtp-a", ErrorCode.INVALID_REQUEST, []), ("dtp-c", ErrorCode.INVALID_REQUEST, [])],
        None,
    )


def test_our_admin_client_reads_every_page(bootstrap: str) -> None:
    async def main() -> None:
        async with AdminClient({"bootstrap.servers": bootstrap}) as admin:
            paged = await admin.describe_topic_partitions(SIZES, partition_limit=2)
            assert paged == await admin.describe_topics(sorted(SIZES))
            assert [len(t.partitions) for t in paged.values()] == [3, 2, 4]
            every = await admin.describe_topic_partitions()
            assert set(SIZES) <= set(every)
            with pytest.raises(UnknownTopicOrPartitionError):
                await admin.describe_topic_partitions(["dtp-a", "missing"])

    anyio.run(main)


def test_kafka_python_pages_with_the_cursor(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        seen: list[tuple[str, int]] = []
        cursor = None
        for _ in range(10):
            page = admin.describe_topic_partitions(
                list(SIZES), response_partition_limit=2, cursor=cursor
            )
            for topic in page["topics"]:
                assert topic["error_code"] == 0
                seen += [(topic["name"], p["partition_index"]) for p in topic["partitions"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [(name, index) for name in sorted(SIZES) for index in range(SIZES[name])]
    finally:
        admin.close()
