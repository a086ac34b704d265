"""OffsetForLeaderEpoch (23) on one broker and across a leader change (KIP-101/320)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.admin_requests import wait_for_states
from tests.integration.wire import RawConnection

DEADLINE_S = 30.0


def _create(conn: RawConnection, topic: str, replication_factor: int) -> None:
    body: dict[str, Any] = {
        "topics": [
            {
                "name": topic,
                "num_partitions": 1,
                "replication_factor": replication_factor,
                "assignments": [],
                "configs": [{"name": "min.insync.replicas", "value": "2"}]
                if replication_factor > 1
                else [],
            }
        ],
        "timeout_ms": 5000,
    }
    assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE


def _produce(conn: RawConnection, topic: str, count: int) -> Any:
    body = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [
            {
                "name": topic,
                "partition_data": [{"index": 0, "records": build_batch([b"v"] * count)}],
            }
        ],
    }
    return conn.request(0, 9, body).responses[0].partition_responses[0]


def _end_offset(
    conn: RawConnection, topic: str, epoch: int, *, version: int = 4, current: int = -1
) -> Any:
    body = {
        "replica_id": -1,
        "topics": [
            {
                "topic": topic,
                "partitions": [
                    {"partition": 0, "current_leader_epoch": current, "leader_epoch": epoch}
                ],
            }
        ],
    }
    return conn.request(23, version, body).topics[0].partitions[0]


def _partition(conn: RawConnection, topic: str) -> Any:
    metadata = conn.request(3, 12, {"topics": [{"name": topic, "topic_id": uuid.UUID(int=0)}]})
    return metadata, metadata.topics[0].partitions[0]


def test_one_broker_answers_every_version(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    with RawConnection(broker.bootstrap) as conn:
        versions = conn.request(
            18, 3, {"client_software_name": "t", "client_software_version": "1"}
        )
        advertised = {key.api_key: (key.min_version, key.max_version) for key in versions.api_keys}
        assert advertised[23] == (0, 4)
        _create(conn, "e", 1)
        assert _produce(conn, "e", 3).error_code == ErrorCode.NONE
        assert _produce(conn, "e", 2).error_code == ErrorCode.NONE
        for version in range(5):
            answer = _end_offset(conn, "e", 0, version=version)
            assert answer.error_code == ErrorCode.NONE
            assert answer.end_offset == 5  # the latest epoch ends at the log end offset
            assert answer.get("leader_epoch", -1) == (0 if version >= 1 else -1)  # none in v0
        above = _end_offset(conn, "e", 3)
        assert (above.error_code, above.leader_epoch, above.end_offset) == (ErrorCode.NONE, -1, -1)
        assert _end_offset(conn, "e", 0, current=0).error_code == ErrorCode.NONE
        assert _end_offset(conn, "e", 0, current=4).error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
        missing = _end_offset(conn, "no-such-topic", 0)
        assert missing.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_an_old_epoch_ends_where_the_new_leader_took_over(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    first = cluster.bootstrap.split(",")[0]
    with RawConnection(first) as conn:
        _create(conn, "f", 3)
    # Every broker agrees on the leader and the full ISR first (the creating broker's
    # metadata may lead the others', the leader's own included).
    wait_for_states(cluster, "f", lambda s: len(s[0][2]) == 3, "f with a full ISR everywhere")
    with RawConnection(first) as conn:
        metadata, before = _partition(conn, "f")
    brokers = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
    old_leader, old_epoch = before.leader_id, before.leader_epoch
    with RawConnection(brokers[old_leader]) as conn:
        assert _produce(conn, "f", 2).error_code == ErrorCode.NONE
    cluster.nodes[old_leader].kill()
    survivor = next(node for node in brokers if node != old_leader)
    deadline = time.monotonic() + DEADLINE_S
    after = before
    while after.leader_id in (old_leader, -1) and time.monotonic() < deadline:
        threading.Event().wait(0.05)
        with RawConnection(brokers[survivor]) as conn:
            _, after = _partition(conn, "f")
    assert after.leader_id not in (old_leader, -1), "no new leader was elected"
    assert after.leader_epoch > old_epoch
    # The new leader itself has applied its leadership before it is written to.
    wait_for_states(
        cluster,
        "f",
        lambda s: s[0][:2] == (after.leader_id, after.leader_epoch),
        "the new leader everywhere",
    )
    with RawConnection(brokers[after.leader_id]) as conn:
        produced = _produce(conn, "f", 3)
        assert (produced.error_code, produced.base_offset) == (ErrorCode.NONE, 2)
        ended = _end_offset(conn, "f", old_epoch)
        assert (ended.error_code, ended.leader_epoch, ended.end_offset) == (
            ErrorCode.NONE,
            old_epoch,
            2,
        )
        latest = _end_offset(conn, "f", after.leader_epoch)
        assert (latest.leader_epoch, latest.end_offset) == (after.leader_epoch, 5)
        fenced = _end_offset(conn, "f", old_epoch, current=old_epoch)
        assert fenced.error_code == ErrorCode.FENCED_LEADER_EPOCH
    follower = next(node for node in brokers if node not in (old_leader, after.leader_id))
    with RawConnection(brokers[follower]) as conn:
        assert _end_offset(conn, "f", old_epoch).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
