"""Connection: ApiVersions negotiation and fallback, pipelining, deadlines, disconnects.

Against the real broker (``bootstrap`` fixture) and against fake servers that misbehave on
purpose.  Every wait is bounded by a request timeout; nothing sleeps to synchronise.
"""

from __future__ import annotations

import select
import socket

import anyio
import anyio.abc
import anyio.to_thread
import pytest
from construct import Container

from client.connection import SOFTWARE_NAME, Connection
from client.errors import KafkaConnectionError, KafkaTimeoutError, UnsupportedVersionError
from client.protocol import records
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader
from tests.client.fakes import FakeConnection, fake_broker

pytestmark = pytest.mark.anyio

METADATA = 3
PRODUCE = 0
API_VERSIONS = 18
TIMEOUT_MS = 10_000
SHORT_TIMEOUT_MS = 300


def address(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


def metadata_body(*topics: str) -> dict[str, object]:
    return {"topics": [{"name": name} for name in topics], "allow_auto_topic_creation": False}


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- negotiation -------------------------------------------------------------------------------


async def test_negotiates_api_versions_with_the_broker(bootstrap: str) -> None:
    host, port = address(bootstrap)
    async with Connection.connect(host, port, request_timeout_ms=TIMEOUT_MS) as connection:
        assert connection.api_versions_version == 3
        low, high = connection.versions_for(METADATA)
        assert low <= high
        version = connection.pick_version(METADATA)
        assert version == min(high, 13)
        assert connection.pick_version(METADATA, 1, 5) == min(5, high)
        response = await connection.send(METADATA, metadata_body())
        assert response.brokers


async def test_falls_back_to_api_versions_v0() -> None:
    async with (
        fake_broker(api_versions_max=0) as broker,
        Connection.connect("127.0.0.1", broker.port) as connection,
    ):
        assert connection.api_versions_version == 0
        assert connection.versions_for(METADATA) == (0, 13)
    assert broker.api_versions_seen == [3, 0]


async def test_sends_client_software_name_at_v3() -> None:
    async with fake_broker() as broker, Connection.connect("127.0.0.1", broker.port):
        pass
    assert broker.api_versions_seen == [3]
    assert broker.client_software[0][0] == SOFTWARE_NAME


async def test_pick_version_fails_clearly_without_overlap() -> None:
    async with (
        fake_broker(advertised={METADATA: (0, 0)}) as broker,
        Connection.connect("127.0.0.1", broker.port) as connection,
    ):
        with pytest.raises(UnsupportedVersionError, match=r"Metadata v0-0.*v1-13"):
            connection.pick_version(METADATA, 1)
        with pytest.raises(UnsupportedVersionError, match="does not support Produce"):
            connection.versions_for(PRODUCE)
        assert not connection.supports(PRODUCE)


# -- pipelining --------------------------------------------------------------------------------


async def test_many_concurrent_requests_are_matched(bootstrap: str) -> None:
    host, port = address(bootstrap)
    names = [f"no-such-topic-{index}" for index in range(40)]
    answers: dict[str, Container] = {}

    async def ask(connection: Connection, name: str) -> None:
        answers[name] = await connection.send(METADATA, metadata_body(name))

    async with Connection.connect(
        host, port, max_in_flight=5, request_timeout_ms=TIMEOUT_MS
    ) as connection:
        async with anyio.create_task_group() as task_group:
            for name in names:
                task_group.start_soon(ask, connection, name)
        assert connection.in_flight == 0
    assert sorted(answers) == sorted(names)
    for name, response in answers.items():
        assert [topic.name for topic in response.topics] == [name]


async def test_requests_are_pipelined_up_to_max_in_flight() -> None:
    """The fake answers nothing until it holds ``max_in_flight`` requests, then all in order;
    a client that waited for each answer before the next request would time out."""
    max_in_flight = 4
    held: list[tuple[RequestHeader, Container]] = []
    in_flight_seen: list[int] = []
    box: list[Connection] = []

    async def on_request(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
        held.append((header, body))
        if len(held) < max_in_flight:
            return
        in_flight_seen.append(box[0].in_flight)
        for request_header, request in held:
            name = request.topics[0].name
            await peer.reply(request_header, _unknown_topic_answer(name))
        held.clear()

    async with (
        fake_broker(on_request) as broker,
        Connection.connect(
            "127.0.0.1", broker.port, max_in_flight=max_in_flight, request_timeout_ms=TIMEOUT_MS
        ) as connection,
    ):
        box.append(connection)
        answers: dict[int, str] = {}

        async def ask(index: int) -> None:
            response = await connection.send(METADATA, metadata_body(f"t{index}"))
            answers[index] = response.topics[0].name

        async with anyio.create_task_group() as task_group:
            for index in range(3 * max_in_flight):
                task_group.start_soon(ask, index)
    assert answers == {index: f"t{index}" for index in range(3 * max_in_flight)}
    assert in_flight_seen == [max_in_flight] * 3


def _unknown_topic_answer(name: str) -> dict[str, object]:
    return {
        "brokers": [],
        "controller_id": -1,
        "topics": [
            {
                "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                "name": name,
                "partitions": [],
            }
        ],
    }


async def test_acks_zero_produce_expects_no_response(bootstrap: str, topic_name: str) -> None:
    from client.admin import AdminClient, NewTopic

    async with AdminClient(bootstrap_servers=bootstrap) as admin:
        await admin.create_topics([NewTopic(topic_name, 1, 1)])
        leader = await admin.cluster.leader_connection(topic_name, 0)
        batch = records.build_batch([b"fire-and-forget"], timestamp_ms=1)
        body = {
            "transactional_id": None,
            "acks": 0,
            "timeout_ms": TIMEOUT_MS,
            "topic_data": [
                {"name": topic_name, "partition_data": [{"index": 0, "records": batch}]}
            ],
        }
        assert await leader.send(PRODUCE, body, expect_response=False) == Container()
        # The next response on the same connection is matched to its own request.
        response = await leader.send(METADATA, metadata_body(topic_name))
        assert response.topics[0].name == topic_name
        assert leader.in_flight == 0


# -- deadlines and failures --------------------------------------------------------------------


async def test_request_times_out_against_a_silent_server() -> None:
    async def never_answer(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
        pass

    async with (
        fake_broker(never_answer) as broker,
        Connection.connect("127.0.0.1", broker.port) as connection,
    ):
        with (
            anyio.fail_after(TIMEOUT_MS / 1000),
            pytest.raises(KafkaTimeoutError, match=f"within {SHORT_TIMEOUT_MS} ms") as caught,
        ):
            await connection.send(METADATA, metadata_body("x"), timeout_ms=SHORT_TIMEOUT_MS)
        assert caught.value.request_sent
        # As in Kafka, a request timeout closes the connection.
        assert connection.closed
        with pytest.raises(KafkaConnectionError):
            await connection.send(METADATA, metadata_body("x"))


async def test_connect_times_out_when_api_versions_is_not_answered() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    accepted: list[anyio.abc.SocketStream] = []

    async def hold(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream)
        await anyio.sleep_forever()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, hold)
        with pytest.raises(KafkaTimeoutError, match="ApiVersions"):
            async with Connection.connect("127.0.0.1", port, request_timeout_ms=SHORT_TIMEOUT_MS):
                pass
        task_group.cancel_scope.cancel()


async def test_disconnect_fails_every_pending_request() -> None:
    pending = 3
    held: list[RequestHeader] = []

    async def hang_up_after_three(
        peer: FakeConnection, header: RequestHeader, body: Container
    ) -> None:
        held.append(header)
        if len(held) == pending:
            await peer.close()

    async with (
        fake_broker(hang_up_after_three) as broker,
        Connection.connect("127.0.0.1", broker.port, request_timeout_ms=TIMEOUT_MS) as connection,
    ):
        failures: list[KafkaConnectionError] = []

        async def ask() -> None:
            try:
                await connection.send(METADATA, metadata_body("x"))
            except KafkaConnectionError as error:
                failures.append(error)

        async with anyio.create_task_group() as task_group:
            for _ in range(pending):
                task_group.start_soon(ask)
        assert len(failures) == pending
        assert all(isinstance(error, KafkaConnectionError) for error in failures)
        assert all(error.retriable and error.request_sent for error in failures)
        assert f"127.0.0.1:{broker.port}" in str(failures[0])
        assert connection.closed and connection.in_flight == 0
        with pytest.raises(KafkaConnectionError) as refused:
            await connection.send(METADATA, metadata_body("x"))
        assert not refused.value.request_sent


async def test_oversized_response_frame_closes_the_connection() -> None:
    async def huge(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
        await peer.send_raw((1 << 30).to_bytes(4, "big") + header.correlation_id.to_bytes(4, "big"))

    async with (
        fake_broker(huge) as broker,
        Connection.connect(
            "127.0.0.1", broker.port, max_frame_bytes=1 << 20, request_timeout_ms=TIMEOUT_MS
        ) as connection,
    ):
        with pytest.raises(KafkaConnectionError, match="exceeds the limit"):
            await connection.send(METADATA, metadata_body("x"))


async def test_connection_refused_names_the_address() -> None:
    port = unused_port()
    with pytest.raises(KafkaConnectionError, match=f"127.0.0.1:{port}: cannot connect"):
        async with Connection.connect("127.0.0.1", port, connect_timeout_ms=TIMEOUT_MS):
            pass


async def test_close_fails_pending_requests_and_is_idempotent() -> None:
    async def never_answer(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
        pass

    async with (
        fake_broker(never_answer) as broker,
        Connection.connect("127.0.0.1", broker.port) as connection,
    ):
        outcome: list[BaseException] = []

        async def ask() -> None:
            try:
                await connection.send(METADATA, metadata_body("x"))
            except KafkaConnectionError as error:
                outcome.append(error)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            assert connection.in_flight == 1
            await connection.close()
        await connection.close()
        assert len(outcome) == 1 and "closed by the client" in str(outcome[0])


async def test_waiting_for_an_in_flight_slot_times_out_unsent() -> None:
    """A request that never got a slot was not sent, and the connection stays open."""

    async def never_answer(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
        pass

    async with (
        fake_broker(never_answer) as broker,
        Connection.connect("127.0.0.1", broker.port, max_in_flight=1) as connection,
        anyio.create_task_group() as task_group,
    ):
        task_group.start_soon(connection.send, METADATA, metadata_body("holds-the-slot"))
        await anyio.wait_all_tasks_blocked()
        assert connection.in_flight == 1
        with pytest.raises(KafkaTimeoutError) as caught:
            await connection.send(METADATA, metadata_body("x"), timeout_ms=SHORT_TIMEOUT_MS)
        assert not caught.value.request_sent
        assert not connection.closed
        task_group.cancel_scope.cancel()


# -- peer_closed -------------------------------------------------------------------------------


def _wait_for_hang_up(fd: int, timeout_s: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    return bool(poller.poll(int(timeout_s * 1000)))


async def test_peer_closed_sees_a_hang_up_before_any_read() -> None:
    """No reader task runs here, so only the socket itself can tell: the probe must see the
    peer's close without consuming what the peer sent before it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = int(listener.getsockname()[1])
        stream = await anyio.connect_tcp("127.0.0.1", port)
        served, _ = listener.accept()
        connection = Connection(
            stream,
            "127.0.0.1",
            port,
            client_id="t",
            request_timeout_ms=TIMEOUT_MS,
            max_in_flight=1,
            max_frame_bytes=1 << 20,
        )
        async with stream:
            assert not connection.peer_closed()
            served.sendall(b"unread")
            assert not connection.peer_closed()  # data waiting is not a hang-up
            served.close()
            raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
            # Synchronise on the hang-up itself (the kernel's event), bounded.
            assert await anyio.to_thread.run_sync(_wait_for_hang_up, raw.fileno(), 5.0)
            assert connection.peer_closed()
            assert await stream.receive() == b"unread"  # the probe consumed nothing
