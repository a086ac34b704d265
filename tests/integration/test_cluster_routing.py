"""Requests that reach a broker which does not lead the partition (P9: never 'no data')."""

from __future__ import annotations

import uuid
from typing import Any

from broker.testing import ClusterFactory
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.admin_requests import wait_for_states
from tests.integration.wire import RawConnection


def test_followers_redirect_to_the_leader(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    first = cluster.bootstrap.split(",")[0]
    create: dict[str, Any] = {
        "topics": [
            {
                "name": "r",
                "num_partitions": 1,
                "replication_factor": 3,
                "assignments": [],
                "configs": [],
            }
        ],
        "timeout_ms": 5000,
    }
    with RawConnection(first) as conn:
        assert conn.request(19, 4, create).topics[0].error_code == ErrorCode.NONE
    # Every broker knows the partition, its leader and full ISR (metadata reaches the brokers
    # other than the creating one a little later).
    wait_for_states(cluster, "r", lambda s: len(s[0][2]) == 3, "r with a full ISR everywhere")
    with RawConnection(first) as conn:
        metadata = conn.request(3, 12, {"topics": [{"name": "r", "topic_id": uuid.UUID(int=0)}]})
    partition = metadata.topics[0].partitions[0]
    brokers = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
    follower = next(r for r in partition.replica_nodes if r != partition.leader_id)
    produce = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [
            {"name": "r", "partition_data": [{"index": 0, "records": build_batch([b"x"])}]}
        ],
    }
    with RawConnection(brokers[follower]) as conn:
        produced = conn.request(0, 10, produce)
        # Fetch below v11 has no ClientMetadata: only the leader serves it (KIP-392).
        fetched = conn.request(
            1,
            10,
            {
                "replica_id": -1,
                "max_wait_ms": 0,
                "min_bytes": 0,
                "isolation_level": 0,
                "topics": [
                    {
                        "topic": "r",
                        "partitions": [
                            {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}
                        ],
                    }
                ],
            },
        )
        listed = conn.request(
            2,
            5,
            {
                "replica_id": -1,
                "isolation_level": 0,
                "topics": [{"name": "r", "partitions": [{"partition_index": 0, "timestamp": -1}]}],
            },
        )
    answer = produced.responses[0].partition_responses[0]
    assert answer.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    # KIP-951: the answer names the leader and where to find it.
    assert answer.current_leader.leader_id == partition.leader_id
    assert answer.current_leader.leader_epoch == partition.leader_epoch
    endpoints = {e.node_id: f"{e.host}:{e.port}" for e in produced.node_endpoints}
    assert endpoints == {partition.leader_id: brokers[partition.leader_id]}
    fetch_error = fetched.responses[0].partitions[0].error_code
    assert fetch_error == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert listed.topics[0].partitions[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    # Every broker tells the same story about the partition.
    for address in brokers.values():
        with RawConnection(address) as conn:
            view = conn.request(3, 12, {"topics": [{"name": "r", "topic_id": uuid.UUID(int=0)}]})
        seen = view.topics[0].partitions[0]
        assert (seen.leader_id, seen.leader_epoch, sorted(seen.isr_nodes)) == (
            partition.leader_id,
            partition.leader_epoch,
            [1, 2, 3],
        )
