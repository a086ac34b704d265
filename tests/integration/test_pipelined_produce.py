"""A connection keeps reading while acks=all produces wait for replication; answers stay in order.

Kafka mutes a connection until its response is sent; with acks=all that serialises a
producer's requests behind the replication round trip.  odradek goes on reading once a produce
is appended and only waits, and still writes every response in request order.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from broker.testing import ClusterFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.admin_requests import wait_for_states
from tests.integration.wire import RawConnection


def _produce(value: bytes, timeout_ms: int) -> dict[str, Any]:
    return {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": timeout_ms,
        "topic_data": [
            {"name": "p", "partition_data": [{"index": 0, "records": build_batch([value])}]}
        ],
    }


def _wait_for_isr_size(bootstrap: str, size: int, timeout_s: float = 30.0) -> None:
    """Observe the broker's metadata until the partition's ISR has ``size`` members."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        with RawConnection(bootstrap) as conn:
            metadata = conn.request(3, 9, {"topics": [{"name": "p"}]})
        if len(metadata.topics[0].partitions[0].isr_nodes) == size:
            return
        pause.wait(0.05)
    raise AssertionError(f"the ISR did not reach {size} members")


def test_pipelined_acks_all_answers_in_order(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    first = cluster.bootstrap.split(",")[0]
    create: dict[str, Any] = {
        "topics": [
            {
                "name": "p",
                "num_partitions": 1,
                "replication_factor": 3,
                "assignments": [],
                "configs": [{"name": "min.insync.replicas", "value": "3"}],
            }
        ],
        "timeout_ms": 5000,
    }
    with RawConnection(first) as conn:
        assert conn.request(19, 4, create).topics[0].error_code == ErrorCode.NONE
    # Every broker knows the partition and its full ISR before the leader is written to (the
    # creating broker's metadata may lead the others').
    wait_for_states(cluster, "p", lambda s: len(s[0][2]) == 3, "p with a full ISR everywhere")
    with RawConnection(first) as conn:
        metadata = conn.request(3, 9, {"topics": [{"name": "p"}]})
    partition = metadata.topics[0].partitions[0]
    leader = next(b for b in metadata.brokers if b.node_id == partition.leader_id)
    follower = next(r for r in partition.replica_nodes if r != partition.leader_id)
    # A paused follower holds the HW back: both writes below wait until they time out or
    # the follower is fenced (the session timeout) and the ISR falls below min.insync=3.
    cluster.nodes[follower].pause()
    try:
        with RawConnection(f"{leader.host}:{leader.port}") as conn:
            frames = [
                headers.encode_request(0, 8, 1, "t", _produce(b"one", 1500)),
                headers.encode_request(0, 8, 2, "t", _produce(b"two", 1500)),
                headers.encode_request(3, 9, 3, "t", {"topics": [{"name": "p"}]}),
            ]
            conn.send_bytes(b"".join(frames))
            answers = [
                headers.decode_response(key, version, conn.read_frame())
                for key, version in ((0, 8), (0, 8), (3, 9))
            ]
        # The paused follower leaves the ISR (fenced); only then may it rejoin.  Waiting for
        # three members straight away could see the ISR before the shrink reached the leader.
        _wait_for_isr_size(f"{leader.host}:{leader.port}", 2)
    finally:
        cluster.nodes[follower].resume()
    assert [correlation for correlation, _ in answers] == [1, 2, 3]
    outcomes = [answers[i][1].responses[0].partition_responses[0].error_code for i in (0, 1)]
    # Timed out, or (when the fence lands first) committed by a two-member ISR below
    # min.insync.replicas=3: either way not acknowledged.
    not_acknowledged = {ErrorCode.REQUEST_TIMED_OUT, ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND}
    assert set(outcomes) <= not_acknowledged, outcomes
    assert answers[2][1].topics[0].error_code == ErrorCode.NONE
    # Both unacknowledged writes were appended (outcome unknown to the client, as Kafka
    # says): once the follower is back in sync the next write lands after them.
    _wait_for_isr_size(f"{leader.host}:{leader.port}", 3)  # the leader's own view of its ISR
    with RawConnection(f"{leader.host}:{leader.port}") as conn:
        result = conn.request(0, 8, _produce(b"three", 30_000))
    partition_result = result.responses[0].partition_responses[0]
    assert (partition_result.error_code, partition_result.base_offset) == (ErrorCode.NONE, 2)


def test_a_burst_of_pipelined_requests_is_answered_in_order(kafka_broker: Any) -> None:
    """Requests already buffered are handled before the responses go out (one gather write);
    every one is answered, in order, and a bad request after good ones gets them answered
    first, then the connection closes."""
    requests = [headers.encode_request(18, 3, i, "t", {}) for i in range(1, 101)]
    with RawConnection(kafka_broker.bootstrap) as conn:
        conn.send_bytes(b"".join(requests))
        ids = [headers.decode_response(18, 3, conn.read_frame())[0] for _ in requests]
    assert ids == list(range(1, 101))
    produce = {
        "transactional_id": None,
        "acks": 0,
        "timeout_ms": 1000,
        "topic_data": [
            {"name": "no-such", "partition_data": [{"index": 9, "records": build_batch([b"x"])}]}
        ],
    }
    with RawConnection(kafka_broker.bootstrap) as conn:
        good = headers.encode_request(18, 3, 1, "t", {})
        # acks=0 to a partition that does not exist: no response, the broker closes (Kafka).
        bad = headers.encode_request(0, 8, 2, "t", produce)
        conn.send_bytes(good + bad)
        assert headers.decode_response(18, 3, conn.read_frame())[0] == 1
        assert conn.is_closed_by_peer()


def test_a_parked_request_does_not_hold_back_earlier_answers(kafka_broker: Any) -> None:
    """ApiVersions then a long-poll Fetch in one write: the ApiVersions answer goes out while
    the Fetch is parked (a JoinGroup or SyncGroup parks the same way; a held-back Heartbeat
    answer would cost the member its session)."""
    create: dict[str, Any] = {
        "topics": [
            {
                "name": "parked",
                "num_partitions": 1,
                "replication_factor": 1,
                "assignments": [],
                "configs": [],
            }
        ],
        "timeout_ms": 5000,
    }
    fetch = {
        "replica_id": -1,
        "max_wait_ms": 20_000,
        "min_bytes": 1,
        "isolation_level": 0,
        "topics": [
            {
                "topic": "parked",
                "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}],
            }
        ],
    }
    with RawConnection(kafka_broker.bootstrap) as conn:
        assert conn.request(19, 4, create).topics[0].error_code == ErrorCode.NONE
        conn.send_bytes(
            headers.encode_request(18, 3, 7, "t", {}) + headers.encode_request(1, 12, 8, "t", fetch)
        )
        # The Fetch waits up to 20 s; the socket's own timeout (10 s) fails the read if the
        # ApiVersions answer were held behind it.
        assert headers.decode_response(18, 3, conn.read_frame())[0] == 7
