"""Raw wire requests for the DeleteRecords / ElectLeaders tests (one connection per call)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from broker.cluster_launcher import LocalCluster
from client.protocol.errors import ErrorCode
from client.protocol.records import Record, build_batch, iterate_batches
from tests.integration.wire import RawConnection
from tests.support.history import fetch_request, list_offsets_request
from tests.support.waiting import wait_until


def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    assignments: list[list[int]] | None = None,
    configs: dict[str, str] | None = None,
) -> None:
    topic: dict[str, Any] = {
        "name": name,
        "num_partitions": -1 if assignments else partitions,
        "replication_factor": -1 if assignments else replication_factor,
        "assignments": [
            {"partition_index": index, "broker_ids": brokers}
            for index, brokers in enumerate(assignments or [])
        ],
        "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()],
    }
    with RawConnection(bootstrap) as conn:
        response = conn.request(19, 5, {"topics": [topic], "timeout_ms": 10_000})
    error = response.topics[0].error_code
    assert error == ErrorCode.NONE, (ErrorCode(error).name, response.topics[0].error_message)


def produce(
    bootstrap: str, topic: str, partition: int, batches: int, per_batch: int = 5, *,
    keyed: bool = False,
) -> int:  # fmt: skip
    """``batches`` acks=all batches of ``per_batch`` records (``keyed``: each value its own
    key, as a compacted topic wants); returns the next offset."""
    end = -1
    with RawConnection(bootstrap) as conn:
        for number in range(batches):
            values: list[Any] = [
                b"%s-%d-%d" % (topic.encode(), number, i) for i in range(per_batch)
            ]
            if keyed:
                values = [Record(0, 0, value, value) for value in values]
            body = {
                "transactional_id": None,
                "acks": -1,
                "timeout_ms": 10_000,
                "topic_data": [
                    {
                        "name": topic,
                        "partition_data": [{"index": partition, "records": build_batch(values)}],
                    }
                ],
            }
            answer = conn.request(0, 9, body).responses[0].partition_responses[0]
            assert answer.error_code == ErrorCode.NONE, ErrorCode(answer.error_code).name
            end = answer.base_offset + per_batch
    return end


def delete_records(
    bootstrap: str,
    offsets: dict[tuple[str, int], int],
    *,
    version: int = 2,
    timeout_ms: int = 15_000,
) -> dict[tuple[str, int], tuple[ErrorCode, int]]:
    """DeleteRecords; (error, low watermark) per partition."""
    topics: dict[str, list[dict[str, int]]] = {}
    for (topic, partition), offset in offsets.items():
        topics.setdefault(topic, []).append({"partition_index": partition, "offset": offset})
    body = {
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
        "timeout_ms": timeout_ms,
    }
    with RawConnection(bootstrap) as conn:
        response = conn.request(21, version, body)
    return {
        (topic.name, part.partition_index): (ErrorCode(part.error_code), part.low_watermark)
        for topic in response.topics
        for part in topic.partitions
    }


def list_offset(bootstrap: str, topic: str, partition: int, timestamp: int) -> tuple[int, int]:
    """ListOffsets v7: (error, offset); -2 earliest, -1 latest."""
    with RawConnection(bootstrap) as conn:
        answer = conn.request(2, 7, list_offsets_request(topic, partition, timestamp))
    entry = answer.topics[0].partitions[0]
    return entry.error_code, entry.offset


def fetch(bootstrap: str, topic: str, partition: int, offset: int) -> tuple[int, int, list[int]]:
    """A consumer Fetch v12 at ``offset``: (error, log start offset, batch base offsets)."""
    body = fetch_request(topic, partition, offset) | {"max_wait_ms": 0, "min_bytes": 0}
    with RawConnection(bootstrap) as conn:
        answer = conn.request(1, 12, body).responses[0].partitions[0]
    bases = [header.base_offset for _, header in iterate_batches(bytes(answer.records or b""))]
    return answer.error_code, answer.log_start_offset, bases


def elect_leaders(
    bootstrap: str,
    partitions: dict[str, list[int]] | None,
    election_type: int = 0,
    *,
    version: int = 2,
) -> tuple[int, dict[tuple[str, int], tuple[ErrorCode, str | None]]]:
    """ElectLeaders: (top-level error, {(topic, partition): (error, message)})."""
    topic_partitions = None
    if partitions is not None:
        topic_partitions = [
            {"topic": topic, "partitions": indexes} for topic, indexes in partitions.items()
        ]
    body = {
        "election_type": election_type,
        "topic_partitions": topic_partitions,
        "timeout_ms": 15_000,
    }
    with RawConnection(bootstrap) as conn:
        response = conn.request(43, version, body)
    results = {
        (result.topic, item.partition_id): (ErrorCode(item.error_code), item.error_message)
        for result in response.replica_election_results
        for item in result.partition_result
    }
    return response.get("error_code", 0), results


# ---- a cluster's view of a topic ------------------------------------------------------------


def _states_or_none(
    bootstrap: str, topic: str
) -> dict[int, tuple[int, int, frozenset[int]]] | None:
    """Metadata v12 from one broker: partition -> (leader, leader epoch, ISR); None while
    the broker does not know the topic (its metadata may lag the broker that created it)."""
    body = {
        "topics": [{"topic_id": uuid.UUID(int=0), "name": topic}],
        "allow_auto_topic_creation": False,
        "include_topic_authorized_operations": False,
    }
    with RawConnection(bootstrap) as conn:
        (entry,) = conn.request(3, 12, body).topics
    if entry.error_code != ErrorCode.NONE:
        return None
    return {
        p.partition_index: (p.leader_id, p.leader_epoch, frozenset(p.isr_nodes))
        for p in entry.partitions
    }


def partition_states(bootstrap: str, topic: str) -> dict[int, tuple[int, int, frozenset[int]]]:
    """Metadata v12 from one broker: partition -> (leader, leader epoch, ISR)."""
    states = _states_or_none(bootstrap, topic)
    assert states is not None, f"{bootstrap} does not know {topic}"
    return states


def agreed_states(
    cluster: LocalCluster, topic: str
) -> dict[int, tuple[int, int, frozenset[int]]] | None:
    """The partitions of ``topic`` if every running broker knows it and tells the same,
    else None."""
    views = [
        _states_or_none(f"127.0.0.1:{node.port}", topic)
        for node in cluster.nodes.values()
        if node.running
    ]
    first = views[0] if views else None
    return first if first is not None and all(view == first for view in views) else None


def wait_for_states(
    cluster: LocalCluster,
    topic: str,
    predicate: Callable[[dict[int, tuple[int, int, frozenset[int]]]], bool],
    what: str,
) -> dict[int, tuple[int, int, frozenset[int]]]:
    def check() -> dict[int, tuple[int, int, frozenset[int]]] | None:
        states = agreed_states(cluster, topic)
        return states if states is not None and predicate(states) else None

    return wait_until(check, what)


def consumer_group_heartbeat(bootstrap: str, group: str, topic: str) -> Any:
    """A new member's first ConsumerGroupHeartbeat (v0, KIP-848) subscribing to ``topic``."""
    body = {"group_id": group, "member_id": "", "member_epoch": 0, "instance_id": None,
            "rack_id": None, "rebalance_timeout_ms": 30_000, "subscribed_topic_names": [topic],
            "server_assignor": None, "topic_partitions": []}  # fmt: skip
    with RawConnection(bootstrap) as conn:
        return conn.request(68, 0, body)
