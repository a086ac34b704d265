"""Racks (KIP-36 placement) and fetching from the closest replica (KIP-392), on a real
3-broker cluster whose brokers sit in racks a, b and c."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from broker.cluster_launcher import LocalCluster
from broker.config import RACK_AWARE_REPLICA_SELECTOR
from broker.testing import ClusterFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import iterate_batches
from tests.integration.admin_requests import create_topic, produce, wait_for_states
from tests.integration.wire import RawConnection
from tests.support.history import fetch_request
from tests.support.waiting import wait_until

RACKS = ("a", "b", "c")
SELECTOR = {"replica.selector.class": RACK_AWARE_REPLICA_SELECTOR}


def _address(cluster: LocalCluster, broker: int) -> str:
    return f"127.0.0.1:{cluster.nodes[broker].port}"


def _first(cluster: LocalCluster) -> str:
    return cluster.bootstrap.split(",")[0]


def _metadata(bootstrap: str, topic: str) -> Any:
    body = {
        "topics": [{"topic_id": uuid.UUID(int=0), "name": topic}],
        "allow_auto_topic_creation": False,
        "include_topic_authorized_operations": False,
    }
    with RawConnection(bootstrap) as conn:
        return conn.request(3, 12, body)


def _fetch(address: str, topic: str, offset: int, *, rack: str = "", version: int = 12) -> Any:
    body = fetch_request(topic, 0, offset) | {"max_wait_ms": 0, "min_bytes": 0, "rack_id": rack}
    with RawConnection(address) as conn:
        return conn.request(1, version, body).responses[0].partitions[0]


def _offsets(answer: Any) -> list[int]:
    return [
        offset
        for _, header in iterate_batches(bytes(answer.records or b""))
        for offset in range(header.base_offset, header.last_offset + 1)
    ]


def _leader_and_followers(cluster: LocalCluster, topic: str) -> tuple[int, list[int]]:
    states = wait_for_states(cluster, topic, lambda s: len(s[0][2]) == 3, f"{topic}: full ISR")
    leader = states[0][0]
    return leader, sorted(b for b in states[0][2] if b != leader)


def _replicated(cluster: LocalCluster, topic: str, follower: int, end: int) -> None:
    """Wait until ``follower`` serves every offset below ``end`` (its HW reached it)."""
    wait_until(
        lambda: _fetch(_address(cluster, follower), topic, 0).high_watermark >= end,
        f"broker {follower}'s high watermark at {end}",
    )


@pytest.fixture
def rack_cluster(kafka_cluster_factory: ClusterFactory) -> LocalCluster:
    return kafka_cluster_factory.start(brokers=3, overrides=SELECTOR, racks=RACKS)


def test_brokers_report_their_racks_and_replicas_span_racks(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    # Six brokers in three racks: plain round-robin would put partition 0 on 1, 2, 3, which
    # is racks a, b, c only by accident; with racks a, a, b, b, c, c it would not be.
    cluster = kafka_cluster_factory.start(brokers=6, racks=("a", "a", "b", "b", "c", "c"))
    create_topic(_first(cluster), "spread", partitions=12, replication_factor=3)
    wait_for_states(cluster, "spread", lambda s: len(s) == 12, "spread everywhere")
    metadata = _metadata(_first(cluster), "spread")
    racks = {broker.node_id: broker.rack for broker in metadata.brokers}
    assert racks == {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    partitions = metadata.topics[0].partitions
    for partition in partitions:
        assert sorted(racks[b] for b in partition.replica_nodes) == ["a", "b", "c"], partition
    leaders = [partition.leader_id for partition in partitions]
    assert sorted(leaders) == sorted([1, 2, 3, 4, 5, 6] * 2), leaders
    replicas = [b for partition in partitions for b in partition.replica_nodes]
    assert all(replicas.count(b) == 6 for b in racks), replicas
    with RawConnection(_first(cluster)) as conn:
        described = conn.request(60, 0, {"include_cluster_authorized_operations": False})
    assert {b.broker_id: b.rack for b in described.brokers} == racks


def test_leader_names_the_follower_in_the_consumers_rack(rack_cluster: LocalCluster) -> None:
    create_topic(_first(rack_cluster), "near", replication_factor=3)
    leader, followers = _leader_and_followers(rack_cluster, "near")
    end = produce(_address(rack_cluster, leader), "near", 0, batches=4)
    follower = followers[0]
    follower_rack = RACKS[follower - 1]
    answer = _fetch(_address(rack_cluster, leader), "near", 0, rack=follower_rack)
    # No records from the leader: the consumer is sent to the replica in its rack.
    assert (answer.error_code, answer.preferred_read_replica) == (ErrorCode.NONE, follower)
    assert answer.records in (None, b"")
    assert answer.high_watermark == end
    # The leader's own rack, no rack, or a rack without a replica: the leader serves.
    for rack in (RACKS[leader - 1], "", "elsewhere"):
        served = _fetch(_address(rack_cluster, leader), "near", 0, rack=rack)
        assert served.preferred_read_replica == -1, rack
        assert _offsets(served) == list(range(end)), rack
    # Fetch v10 has no rack: the leader serves.
    old = _fetch(_address(rack_cluster, leader), "near", 0, rack=follower_rack, version=10)
    assert _offsets(old) == list(range(end))
    # The follower serves the records the leader declined to, up to its high watermark.
    _replicated(rack_cluster, "near", follower, end)
    from_follower = _fetch(_address(rack_cluster, follower), "near", 0, rack=follower_rack)
    assert (from_follower.error_code, from_follower.preferred_read_replica) == (ErrorCode.NONE, -1)
    assert _offsets(from_follower) == list(range(end))
    assert from_follower.high_watermark == end


def test_without_a_selector_the_leader_always_serves(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3, racks=RACKS)
    create_topic(_first(cluster), "plain", replication_factor=3)
    leader, followers = _leader_and_followers(cluster, "plain")
    end = produce(_address(cluster, leader), "plain", 0, batches=2)
    answer = _fetch(_address(cluster, leader), "plain", 0, rack=RACKS[followers[0] - 1])
    assert answer.preferred_read_replica == -1
    assert _offsets(answer) == list(range(end))


def test_a_follower_serves_only_what_it_holds(rack_cluster: LocalCluster) -> None:
    create_topic(_first(rack_cluster), "held", replication_factor=3)
    leader, followers = _leader_and_followers(rack_cluster, "held")
    end = produce(_address(rack_cluster, leader), "held", 0, batches=3)
    follower = _address(rack_cluster, followers[0])
    _replicated(rack_cluster, "held", followers[0], end)
    # Fetch below v11 (no ClientMetadata): only the leader serves it.
    assert _fetch(follower, "held", 0, version=10).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    # Past the follower's log end: the leader decides (never OFFSET_OUT_OF_RANGE from here).
    beyond = _fetch(follower, "held", end + 10)
    assert beyond.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    # At its high watermark: nothing yet, no error.
    tail = _fetch(follower, "held", end)
    assert (tail.error_code, _offsets(tail)) == (ErrorCode.NONE, [])
    # Leader epochs are checked as on the leader (KIP-320): one it has not seen is unknown.
    states = _metadata(_first(rack_cluster), "held").topics[0].partitions[0]
    body = fetch_request("held", 0, 0, leader_epoch=states.leader_epoch + 1)
    with RawConnection(follower) as conn:
        ahead = conn.request(1, 12, body | {"max_wait_ms": 0, "rack_id": ""})
    assert ahead.responses[0].partitions[0].error_code == ErrorCode.UNKNOWN_LEADER_EPOCH


def test_a_consumer_waiting_on_a_follower_wakes_when_its_high_watermark_moves(
    rack_cluster: LocalCluster,
) -> None:
    create_topic(_first(rack_cluster), "wake", replication_factor=3)
    leader, followers = _leader_and_followers(rack_cluster, "wake")
    end = produce(_address(rack_cluster, leader), "wake", 0, batches=1)
    follower = _address(rack_cluster, followers[0])
    _replicated(rack_cluster, "wake", followers[0], end)
    body = fetch_request("wake", 0, end) | {"max_wait_ms": 60_000, "min_bytes": 1, "rack_id": ""}
    with RawConnection(follower) as conn:
        # Sent before anything more is produced, the fetch parks on the follower; unless the
        # follower's HW move wakes it, the read below times out (10 s) long before 60 s.
        conn.send_bytes(headers.encode_request(1, 12, 1, "wire-test", body))
        produce(_address(rack_cluster, leader), "wake", 0, batches=1)
        _, answer = headers.decode_response(1, 12, conn.read_frame())
    woken = answer.responses[0].partitions[0]
    assert woken.error_code == ErrorCode.NONE
    assert _offsets(woken)[0] == end
