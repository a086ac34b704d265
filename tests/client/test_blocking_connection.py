"""The blocking connection and cluster: negotiation (v0 fallback), pipelining, deadlines,
disconnects, bootstrap, metadata refresh, reconnects with backoff, retries.

Real-broker tests use the ``bootstrap`` fixture; the failure cases use the async fake broker
of ``tests/client/fakes.py``, served from a thread (an anyio portal) so the blocking client
under test runs in the test's own thread with no event loop.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from anyio.from_thread import start_blocking_portal
from construct import Container

from client.blocking import AdminClient, BlockingCluster, BlockingConnection, NewTopic
from client.blocking_connection import PendingRequest
from client.config import CommonConfig
from client.connection import SOFTWARE_NAME
from client.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NotLeaderOrFollowerError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    UnsupportedVersionError,
)
from client.fetcher import FETCH
from client.metadata import METADATA, metadata_request
from client.protocol.headers import RequestHeader
from tests.client.fakes import FakeBroker, FakeConnection, OnRequest, fake_broker

TIMEOUT_MS = 10_000
SHORT_TIMEOUT_MS = 200


def metadata_body(*topics: str) -> dict[str, object]:
    return metadata_request(12, list(topics))


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def config(bootstrap: str, **overrides: object) -> CommonConfig:
    settings: dict[str, object] = {"request_timeout_ms": TIMEOUT_MS, "retry_backoff_ms": 10}
    settings.update(overrides)
    return CommonConfig.from_settings({"bootstrap.servers": bootstrap}, **settings)


@contextmanager
def served(on_request: OnRequest | None = None, **options: int) -> Iterator[FakeBroker]:
    """The fake broker, served by an event loop in another thread for the block."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(fake_broker(on_request, **options)) as broker,
    ):
        yield broker


async def never_answer(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
    """A broker that reads requests and never answers them."""


# -- negotiation and pipelining --------------------------------------------------------------


def test_negotiates_api_versions_with_the_broker(bootstrap: str) -> None:
    host, port = bootstrap.rsplit(":", 1)
    connection = BlockingConnection.open(host, int(port))
    try:
        assert connection.api_versions_version == 3
        assert connection.supports(METADATA)
        version = connection.pick_version(METADATA)
        assert connection.pick_version(METADATA, 1, 5) == min(5, version)
        assert connection.send(METADATA, metadata_body(), version=version).brokers
    finally:
        connection.close()
    assert connection.closed


def test_falls_back_to_api_versions_v0() -> None:
    with served(api_versions_max=0) as broker:
        connection = BlockingConnection.open("127.0.0.1", broker.port)
        connection.close()
    assert connection.api_versions_version == 0
    assert broker.api_versions_seen == [3, 0]


def test_sends_client_software_name_and_fails_clearly_without_overlap() -> None:
    with served() as broker:
        connection = BlockingConnection.open("127.0.0.1", broker.port)
        try:
            with pytest.raises(UnsupportedVersionError, match="does not support"):
                connection.pick_version(FETCH)  # the fake advertises Metadata only
        finally:
            connection.close()
    assert broker.client_software[0][0] == SOFTWARE_NAME


def test_pipelined_requests_are_matched_in_order(bootstrap: str) -> None:
    host, port = bootstrap.rsplit(":", 1)
    connection = BlockingConnection.open(host, int(port), max_in_flight=3)
    answered: list[PendingRequest] = []
    try:
        version = connection.pick_version(METADATA)
        requests = [
            connection.request(METADATA, metadata_body(), version=version, callback=answered.append)
            for _ in range(8)  # more than max_in_flight: request() reads answers to make room
        ]
        assert connection.in_flight <= 3
        for request in requests:
            connection.wait(request)
        assert answered == requests
        assert all(request.result().brokers for request in requests)
        assert connection.in_flight == 0
    finally:
        connection.close()


# -- deadlines and failures ------------------------------------------------------------------


def test_request_times_out_and_closes_the_connection() -> None:
    with served(never_answer) as broker:
        connection = BlockingConnection.open("127.0.0.1", broker.port)
        with pytest.raises(KafkaTimeoutError, match=f"within {SHORT_TIMEOUT_MS} ms") as caught:
            connection.send(METADATA, metadata_body("x"), version=1, timeout_ms=SHORT_TIMEOUT_MS)
        assert caught.value.request_sent
        assert connection.closed
        with pytest.raises(KafkaConnectionError) as refused:
            connection.send(METADATA, metadata_body("x"), version=1)
        assert not refused.value.request_sent


def test_waiting_for_an_in_flight_slot_times_out_unsent() -> None:
    with served(never_answer) as broker:
        connection = BlockingConnection.open("127.0.0.1", broker.port, max_in_flight=1)
        try:
            connection.request(METADATA, metadata_body("x"), version=1)
            with pytest.raises(KafkaTimeoutError) as caught:
                connection.request(
                    METADATA, metadata_body("y"), version=1, timeout_ms=SHORT_TIMEOUT_MS
                )
            assert not caught.value.request_sent
        finally:
            connection.close()


def test_disconnect_fails_every_pending_request() -> None:
    held: list[RequestHeader] = []

    async def hang_up_after_three(
        peer: FakeConnection, header: RequestHeader, body: Container
    ) -> None:
        held.append(header)
        if len(held) == 3:
            await peer.close()

    with served(hang_up_after_three) as broker:
        connection = BlockingConnection.open("127.0.0.1", broker.port)
        failed: list[PendingRequest] = []
        requests = [
            connection.request(METADATA, metadata_body("x"), version=1, callback=failed.append)
            for _ in range(3)
        ]
        connection.wait(requests[0])
    assert failed == requests
    errors = [request.error for request in requests]
    assert all(isinstance(e, KafkaConnectionError) and e.request_sent for e in errors)
    assert f"127.0.0.1:{broker.port}" in str(errors[0])
    assert connection.closed and connection.in_flight == 0


def test_connect_failures_name_the_address() -> None:
    address = dead_address()
    host, port = address.rsplit(":", 1)
    with pytest.raises(KafkaConnectionError, match=address):
        BlockingConnection.open(host, int(port))


# -- the cluster -----------------------------------------------------------------------------


def test_bootstrap_skips_a_dead_address_and_names_all_on_failure(bootstrap: str) -> None:
    with BlockingCluster(config(f"{dead_address()},{bootstrap}")) as cluster:
        assert cluster.metadata.brokers
    first, second = dead_address(), dead_address()
    with pytest.raises(KafkaConnectionError) as caught:
        BlockingCluster(config(f"{first},{second}")).bootstrap()
    assert first in str(caught.value) and second in str(caught.value)


def test_metadata_refreshes_for_a_new_topic(bootstrap: str, topic_name: str) -> None:
    with (
        BlockingCluster(config(bootstrap)) as cluster,
        AdminClient(bootstrap_servers=bootstrap) as admin,
    ):
        with pytest.raises(UnknownTopicOrPartitionError):
            cluster.topic(topic_name)
        admin.create_topics([NewTopic(topic_name, 3, 1)])
        assert cluster.topic(topic_name).partition_ids() == [0, 1, 2]
        assert cluster.leader_for(topic_name, 0).node_id in cluster.metadata.brokers
        with pytest.raises(UnknownTopicOrPartitionError):
            cluster.leader_for(topic_name, 7)


def test_only_invalid_metadata_errors_invalidate(bootstrap: str) -> None:
    with BlockingCluster(config(bootstrap)) as cluster:
        fetched_at = cluster.metadata.fetched_at
        cluster.invalidate(TopicAuthorizationFailedError())
        assert cluster.current_metadata().fetched_at == fetched_at
        cluster.invalidate(NotLeaderOrFollowerError())
        assert cluster.current_metadata().fetched_at > fetched_at


def test_one_connection_per_broker_reused_and_reopened(bootstrap: str) -> None:
    with BlockingCluster(config(bootstrap)) as cluster:
        node_id = min(cluster.metadata.brokers)
        first = cluster.connection_to(node_id)
        assert cluster.connection_to(node_id) is first
        assert cluster.controller_connection() is first  # one broker: same address
        first.close()
        fetched_at = cluster.metadata.fetched_at
        again = cluster.connection_to(node_id)
        assert again is not first and not again.closed
        assert cluster.current_metadata().fetched_at > fetched_at  # a disconnect: stale


def test_reconnect_waits_out_the_backoff() -> None:
    backoff_ms = 300
    cluster = BlockingCluster(
        config(dead_address(), reconnect_backoff_ms=backoff_ms, reconnect_backoff_max_ms=1000)
    )
    with pytest.raises(KafkaConnectionError):
        cluster.any_connection()
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError):
        cluster.any_connection()
    # Kafka's backoff has ±20 % jitter.
    assert time.monotonic() - started >= 0.8 * backoff_ms / 1000
    cluster.close()


def test_idle_connections_are_closed_on_use(bootstrap: str) -> None:
    with BlockingCluster(config(bootstrap, connections_max_idle_ms=0)) as cluster:
        first = cluster.any_connection()
        second = cluster.any_connection()
        assert first.closed and not second.closed


def test_poll_expires_requests_past_their_deadline() -> None:
    with served(never_answer) as broker:
        cluster = BlockingCluster(config(f"127.0.0.1:{broker.port}"))
        connection = cluster.any_connection()
        request = connection.request(
            METADATA, metadata_body("x"), version=1, timeout_ms=SHORT_TIMEOUT_MS
        )
        for _ in range(20):
            cluster.poll(0.1)
            if request.done:
                break
        assert isinstance(request.error, KafkaTimeoutError)
        assert cluster.in_flight() == 0
        cluster.close()


def test_retrying_retries_retriable_errors_only(bootstrap: str) -> None:
    with BlockingCluster(config(bootstrap)) as cluster:
        calls: list[int] = []

        def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise NotLeaderOrFollowerError()
            return "done"

        assert cluster.retrying(flaky, timeout_ms=TIMEOUT_MS) == "done"

        def forbidden() -> str:
            raise TopicAuthorizationFailedError()

        with pytest.raises(TopicAuthorizationFailedError):
            cluster.retrying(forbidden, timeout_ms=TIMEOUT_MS)

        def always() -> str:
            raise NotLeaderOrFollowerError()

        with pytest.raises(KafkaError):
            cluster.retrying(always, timeout_ms=100)
