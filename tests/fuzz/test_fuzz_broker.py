"""Random and mutated frames thrown at a live broker: it never crashes, never corrupts a log,
and keeps serving other connections.

CI runs a small derandomized budget (the "ci" hypothesis profile); the ``slow`` tier runs many
more examples.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.testing import BrokerFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

TOPIC = "fuzz"
VALUES = [b"a", b"bb", b"ccc"]


def _valid_frames() -> list[bytes]:
    produce = {
        "transactional_id": None,
        "acks": 1,
        "timeout_ms": 1000,
        "topic_data": [
            {"name": TOPIC, "partition_data": [{"index": 0, "records": build_batch([b"fuzz"])}]}
        ],
    }
    fetch = {
        "replica_id": -1,
        "max_wait_ms": 0,
        "min_bytes": 0,
        "max_bytes": 1 << 16,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic": TOPIC,
                "partitions": [
                    {
                        "partition": 0,
                        "fetch_offset": 0,
                        "log_start_offset": -1,
                        "partition_max_bytes": 1 << 16,
                    }
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    txn = {"transactional_id": "fz", "producer_id": 0, "producer_epoch": 0}
    return [
        headers.encode_request(
            18, 3, 1, "f", {"client_software_name": "f", "client_software_version": "1"}
        ),
        headers.encode_request(
            22, 3, 6, "f", {"transactional_id": "fz", "transaction_timeout_ms": 60_000}
        ),
        headers.encode_request(
            24,
            3,
            7,
            "f",
            {
                "v3_and_below_transactional_id": "fz",
                "v3_and_below_producer_id": 0,
                "v3_and_below_producer_epoch": 0,
                "v3_and_below_topics": [{"name": TOPIC, "partitions": [0]}],
            },
        ),
        headers.encode_request(26, 3, 8, "f", {**txn, "committed": False}),
        headers.encode_request(
            27,
            1,
            9,
            "f",
            {
                "markers": [
                    {
                        "producer_id": 0,
                        "producer_epoch": 0,
                        "transaction_result": False,
                        "topics": [{"name": TOPIC, "partition_indexes": [0]}],
                        "coordinator_epoch": 0,
                    }
                ]
            },
        ),
        headers.encode_request(
            28,
            3,
            10,
            "f",
            {
                **txn,
                "group_id": "g",
                "generation_id": -1,
                "member_id": "",
                "group_instance_id": None,
                "topics": [
                    {
                        "name": TOPIC,
                        "partitions": [
                            {
                                "partition_index": 0,
                                "committed_offset": 1,
                                "committed_leader_epoch": -1,
                                "committed_metadata": None,
                            }
                        ],
                    }
                ],
            },
        ),
        headers.encode_request(65, 0, 11, "f", {"transactional_ids": ["fz", "none"]}),
        headers.encode_request(
            66,
            1,
            12,
            "f",
            {
                "state_filters": ["Ongoing", "Bogus"],
                "producer_id_filters": [],
                "duration_filter": 5,
            },
        ),
        headers.encode_request(3, 12, 2, "f", {"topics": None}),
        headers.encode_request(0, 9, 3, "f", produce),
        headers.encode_request(1, 12, 4, "f", fetch),
        headers.encode_request(
            2,
            7,
            5,
            "f",
            {
                "replica_id": -1,
                "isolation_level": 0,
                "topics": [
                    {"name": TOPIC, "partitions": [{"partition_index": 0, "timestamp": -1}]}
                ],
            },
        ),
    ]


VALID = _valid_frames()


def _mutated() -> st.SearchStrategy[bytes]:
    def mutate(frame: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
        data = bytearray(frame[4:])
        for position, value in edits:
            data[position % len(data)] = value
        body = bytes(data[: max(cut, 1)])
        return struct.pack(">i", len(body)) + body

    return st.builds(
        mutate,
        st.sampled_from(VALID),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
        st.integers(1, 10_000),
    )


def _random() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=200).map(lambda body: struct.pack(">i", len(body)) + body)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    factory = BrokerFactory(tmp_path_factory.mktemp("fuzz"))
    running = factory.start(
        {
            "socket.request.max.bytes": "65536",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.num.partitions": "2",
            "transaction.state.log.num.partitions": "2",
        }
    )
    with RawConnection(running.bootstrap) as conn:
        body = {
            "topics": [
                {
                    "name": TOPIC,
                    "num_partitions": 1,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [],
                }
            ],
            "timeout_ms": 1000,
        }
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE
        records = build_batch(VALUES)
        produce = {
            "transactional_id": None,
            "acks": 1,
            "timeout_ms": 1000,
            "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": records}]}],
        }
        assert conn.request(0, 8, produce).responses[0].partition_responses[0].error_code == 0
    try:
        yield running
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A broker whose authorizer refuses every group (a wildcard DENY) and lets the
    anonymous principal use the fuzz topic; unnamed resources are open to everyone."""
    factory = BrokerFactory(tmp_path_factory.mktemp("fuzz-acl"))
    running = factory.start(
        {
            "socket.request.max.bytes": "65536",
            "offsets.topic.num.partitions": "2",
            "transaction.state.log.num.partitions": "2",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
        }
    )
    acls = [
        (2, TOPIC, 3, "User:ANONYMOUS", "*", 2, 3),  # TOPIC fuzz LITERAL: ALL, ALLOW
        (3, "*", 3, "User:*", "*", 2, 2),  # GROUP *: ALL, DENY
        (5, "*", 3, "User:*", "*", 4, 2),  # TRANSACTIONAL_ID *: WRITE, DENY
    ]
    creations = [
        dict(zip(("resource_type", "resource_name", "resource_pattern_type", "principal",
                  "host", "operation", "permission_type"), acl, strict=True))
        for acl in acls
    ]  # fmt: skip
    with RawConnection(running.bootstrap) as conn:
        created = conn.request(30, 3, {"creations": creations}).results
        assert [r.error_code for r in created] == [ErrorCode.NONE] * 3
        topic = {"name": TOPIC, "num_partitions": 1, "replication_factor": 1,
                 "assignments": [], "configs": []}  # fmt: skip
        answer = conn.request(19, 4, {"topics": [topic], "timeout_ms": 1000})
        assert answer.topics[0].error_code == ErrorCode.NONE
    try:
        yield running
    finally:
        factory.stop_all()


def _send_and_drain(bootstrap: str, frames: list[bytes]) -> None:
    """Send the frames, then read whatever comes back until the broker answers or hangs up."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        try:
            sock.sendall(b"".join(frames))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except (ConnectionError, TimeoutError):
            pass


def _assert_healthy(bootstrap: str) -> None:
    with RawConnection(bootstrap) as conn:
        assert conn.request(18, 0, {}).error_code == ErrorCode.NONE
        body = {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [{"name": TOPIC, "partitions": [{"partition_index": 0, "timestamp": -2}]}],
        }
        earliest = conn.request(2, 5, body).topics[0].partitions[0]
        assert (earliest.error_code, earliest.offset) == (ErrorCode.NONE, 0)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(frames=st.lists(st.one_of(_mutated(), _random()), min_size=1, max_size=4))
def test_broker_survives_garbage(broker: Any, frames: list[bytes]) -> None:
    _send_and_drain(broker.bootstrap, frames)
    _assert_healthy(broker.bootstrap)


@FUZZ
@given(frames=st.lists(st.one_of(_mutated(), _random()), min_size=1, max_size=4))
def test_broker_with_acls_survives_garbage(acl_broker: Any, frames: list[bytes]) -> None:
    """The same frames through the authorizer's checks (broker/server/authorization.py)."""
    _send_and_drain(acl_broker.bootstrap, frames)
    _assert_healthy(acl_broker.bootstrap)


@pytest.mark.slow
@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(st.one_of(_mutated(), _random()), min_size=1, max_size=8))
def test_broker_survives_garbage_long(broker: Any, frames: list[bytes]) -> None:
    _send_and_drain(broker.bootstrap, frames)
    _assert_healthy(broker.bootstrap)


def test_log_is_intact_after_fuzzing(broker: Any) -> None:
    """Whatever the fuzzers appended went through validation: every stored batch decodes.
    A fetch returns one segment at most, and the fuzzed markers (stamped with the wall clock,
    the records with 0) roll segments by time: read on until the high watermark."""
    from client.protocol.records import decode_records, iterate_batches

    offsets: list[int] = []
    high_watermark = None
    with RawConnection(broker.bootstrap) as conn:
        while high_watermark is None or len(offsets) < high_watermark:
            body = {
                "replica_id": -1,
                "max_wait_ms": 0,
                "min_bytes": 0,
                "max_bytes": 1 << 24,
                "isolation_level": 0,
                "session_id": 0,
                "session_epoch": -1,
                "topics": [
                    {
                        "topic": TOPIC,
                        "partitions": [
                            {
                                "partition": 0,
                                "fetch_offset": len(offsets),
                                "log_start_offset": -1,
                                "partition_max_bytes": 1 << 24,
                            }
                        ],
                    }
                ],
                "forgotten_topics_data": [],
                "rack_id": "",
            }
            data = conn.request(1, 11, body).responses[0].partitions[0]
            high_watermark = data.high_watermark
            records = data.records or b""
            assert records or len(offsets) >= high_watermark, "a fetch below the HW read nothing"
            for position, header in iterate_batches(records):
                for record in decode_records(records[position : position + header.size_bytes]):
                    offsets.append(record.offset)
    assert offsets[:3] == [0, 1, 2]
    assert offsets == list(range(len(offsets)))
    assert high_watermark == len(offsets)


@pytest.mark.slow
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(st.one_of(_mutated(), _random()), min_size=1, max_size=8))
def test_broker_with_acls_survives_garbage_long(acl_broker: Any, frames: list[bytes]) -> None:
    _send_and_drain(acl_broker.bootstrap, frames)
    _assert_healthy(acl_broker.bootstrap)
