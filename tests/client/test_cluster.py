"""Cluster: bootstrap, metadata cache and refresh, connection reuse and reconnects, retries."""

from __future__ import annotations

import socket

import anyio
import pytest

from client.admin import AdminClient, NewTopic
from client.cluster import Cluster, exponential_backoff_ms
from client.config import CommonConfig
from client.errors import (
    KafkaConnectionError,
    KafkaError,
    NotLeaderOrFollowerError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

pytestmark = pytest.mark.anyio

WAIT_S = 10.0


def config(bootstrap: str, **overrides: object) -> CommonConfig:
    settings: dict[str, object] = {"request_timeout_ms": 10_000, "retry_backoff_ms": 10}
    settings.update(overrides)
    return CommonConfig.from_settings({"bootstrap.servers": bootstrap}, **settings)


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def test_bootstrap_failure_names_every_address_and_the_timeout() -> None:
    first, second = dead_address(), dead_address()
    with pytest.raises(KafkaConnectionError) as caught:
        async with Cluster(config(f"{first},{second}", socket_connection_setup_timeout_ms=2000)):
            pass
    message = str(caught.value)
    assert first in message and second in message
    assert "socket.connection.setup.timeout.ms=2000" in message


async def test_bootstrap_skips_a_dead_address(bootstrap: str) -> None:
    async with Cluster(config(f"{dead_address()},{bootstrap}")) as cluster:
        metadata = cluster.metadata
        assert metadata.brokers
        assert metadata.fetched_at > 0


async def test_metadata_refreshes_for_a_new_topic(bootstrap: str, topic_name: str) -> None:
    async with (
        Cluster(config(bootstrap)) as cluster,
        AdminClient(bootstrap_servers=bootstrap) as admin,
    ):
        with pytest.raises(UnknownTopicOrPartitionError):
            await cluster.topic(topic_name)
        await admin.create_topics([NewTopic(topic_name, 3, 1)])
        # The "unknown" answer marked the metadata stale: asking again refreshes it.
        partitions = await cluster.partitions_for(topic_name)
        assert [state.partition for state in partitions] == [0, 1, 2]
        leader = await cluster.leader_for(topic_name, 0)
        assert leader.node_id in cluster.metadata.brokers
        assert partitions[0].leader == leader.node_id
        assert leader.node_id in partitions[0].isr
        assert topic_name in cluster.tracked_topics
        with pytest.raises(UnknownTopicOrPartitionError):
            await cluster.leader_for(topic_name, 7)


async def test_one_connection_per_broker_reused_and_reopened(bootstrap: str) -> None:
    async with Cluster(config(bootstrap)) as cluster:
        node_id = min(cluster.metadata.brokers)
        first = await cluster.connection_to(node_id)
        assert await cluster.connection_to(node_id) is first
        await first.close()
        fetched_at = cluster.metadata.fetched_at
        again = await cluster.connection_to(node_id)
        assert again is not first and not again.closed
        # A disconnect marks metadata stale: the next use refreshes it.
        assert (await cluster.current_metadata()).fetched_at > fetched_at


async def test_controller_and_any_connection(bootstrap: str) -> None:
    async with Cluster(config(bootstrap)) as cluster:
        controller = await cluster.controller_connection()
        assert cluster.metadata.controller is not None
        assert controller.address == cluster.metadata.controller.address
        assert not (await cluster.any_connection()).closed


async def test_metadata_max_age_triggers_refresh(bootstrap: str) -> None:
    async with Cluster(config(bootstrap, metadata_max_age_ms=0)) as cluster:
        before = cluster.metadata.fetched_at
        assert (await cluster.current_metadata()).fetched_at > before


async def test_only_invalid_metadata_errors_invalidate(bootstrap: str) -> None:
    async with Cluster(config(bootstrap)) as cluster:
        fetched_at = cluster.metadata.fetched_at
        cluster.invalidate(TopicAuthorizationFailedError())
        assert (await cluster.current_metadata()).fetched_at == fetched_at
        cluster.invalidate(NotLeaderOrFollowerError())
        assert (await cluster.current_metadata()).fetched_at > fetched_at


async def test_idle_connections_are_closed(bootstrap: str) -> None:
    async with Cluster(config(bootstrap, connections_max_idle_ms=50)) as cluster:
        connection = await cluster.any_connection()
        with anyio.fail_after(WAIT_S):
            await connection.wait_closed()
        assert not (await cluster.any_connection()).closed


async def test_retrying_retries_retriable_errors_only(bootstrap: str) -> None:
    async with Cluster(config(bootstrap)) as cluster:
        calls: list[int] = []

        async def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise NotLeaderOrFollowerError()
            return "done"

        assert await cluster.retrying(flaky, timeout_ms=10_000) == "done"
        assert len(calls) == 3

        async def forbidden() -> str:
            calls.append(1)
            raise TopicAuthorizationFailedError()

        calls.clear()
        with pytest.raises(TopicAuthorizationFailedError):
            await cluster.retrying(forbidden, timeout_ms=10_000)
        assert len(calls) == 1

        async def always() -> str:
            raise NotLeaderOrFollowerError()

        with pytest.raises(NotLeaderOrFollowerError):
            await cluster.retrying(always, timeout_ms=50)


def test_exponential_backoff_grows_to_its_cap() -> None:
    for attempt in range(1, 12):
        nominal = min(50 * 2 ** (attempt - 1), 1000)
        wait = exponential_backoff_ms(attempt, 50, 1000)
        assert 0.8 * nominal <= wait <= min(1.2 * nominal, 1000)
    assert exponential_backoff_ms(3, 100, 100) == 100


def test_kafka_error_is_the_base() -> None:
    assert issubclass(KafkaConnectionError, KafkaError)
