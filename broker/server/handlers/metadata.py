"""Metadata (3), DescribeCluster (60) and DescribeTopicPartitions (75): brokers, controller,
topics and partition leaders.

On a single node the controller is this broker, so admin requests routed to the controller
reach us.  Unknown topics are auto-created when both ``auto.create.topics.enable`` and the
request's ``allow_auto_topic_creation`` say so, as Kafka does.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.controller import INTERNAL_TOPICS, NewTopic, topic_name_error
from broker.core.metadata import BrokerRegistration, TopicImage
from broker.server.connection import current_listener
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
# No ACLs: every operation is allowed.  Bit i = AclOperation code i (READ=3 ... DESCRIBE_CONFIGS=10,
# ALTER_CONFIGS=11) for topics; cluster adds CLUSTER_ACTION=9, IDEMPOTENT_WRITE=12, ...
TOPIC_OPERATIONS = sum(1 << code for code in (3, 4, 5, 6, 7, 8, 10, 11))
CLUSTER_OPERATIONS = sum(1 << code for code in (4, 5, 7, 8, 9, 10, 11, 12))
ZERO_UUID = uuid.UUID(int=0)


def brokers(server: BrokerServer, *, with_just_fenced: bool = False) -> list[dict[str, Any]]:
    """The live (registered, unfenced) brokers, as Kafka's KRaft brokers report them; with
    ``with_just_fenced`` (Metadata answers) also brokers fenced within the last second, so
    that librdkafka moves partitions off a dead leader cleanly (broker/core/peer_watch.py)."""
    just_fenced = server.just_fenced_brokers() if with_just_fenced else set()
    listener = current_listener.get()
    return [
        broker_entry(registration, listener)
        for registration in sorted(server.image.brokers.values(), key=lambda r: r.broker_id)
        if not registration.fenced or registration.broker_id in just_fenced
    ]


def broker_entry(registration: BrokerRegistration, listener: str | None) -> dict[str, Any]:
    """A broker as Metadata / DescribeCluster / Produce's node endpoints name it: its endpoint
    on the listener the request came on."""
    host, port = registration.endpoint(listener)
    return {
        "node_id": registration.broker_id,
        "host": host,
        "port": port,
        "rack": registration.rack,
    }


def topic_entry(server: BrokerServer, topic: TopicImage, with_operations: bool) -> dict[str, Any]:
    partitions = []
    live = {entry.broker_id for entry in server.image.brokers.values() if not entry.fenced}
    for index in sorted(topic.partitions):
        registration = topic.partitions[index]
        offline = [replica for replica in registration.replicas if replica not in live]
        partitions.append(
            {
                "error_code": ErrorCode.NONE
                if registration.leader >= 0
                else ErrorCode.LEADER_NOT_AVAILABLE,
                "partition_index": index,
                "leader_id": registration.leader,
                "leader_epoch": registration.leader_epoch,
                "replica_nodes": list(registration.replicas),
                "isr_nodes": list(registration.isr),
                "offline_replicas": offline,
            }
        )
    return _described_topic(topic, partitions, with_operations)


def _described_topic(
    topic: TopicImage, partitions: list[dict[str, Any]], with_operations: bool
) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.NONE,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": topic.name in INTERNAL_TOPICS,
        "partitions": partitions,
        "topic_authorized_operations": TOPIC_OPERATIONS
        if with_operations
        else AUTHORIZED_OPERATIONS_OMITTED,
    }


def _error_entry(name: str | None, topic_id: uuid.UUID, error: ErrorCode) -> dict[str, Any]:
    return {
        "error_code": error,
        "name": name,
        "topic_id": topic_id,
        "is_internal": False,
        "partitions": [],
        "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


async def _auto_create(server: BrokerServer, name: str) -> ErrorCode:
    results = await server.create_topics(
        [NewTopic(name, server.config.num_partitions, server.config.default_replication_factor)]
    )
    return results[0].error_code


async def _requested_topic(
    server: BrokerServer, wanted: Container, auto_create: bool, with_operations: bool
) -> dict[str, Any]:
    name = wanted.name
    topic_id = wanted.get("topic_id") or ZERO_UUID
    if name is None:
        topic = server.image.topics_by_id.get(topic_id)
        if topic is None:
            return _error_entry(None, topic_id, ErrorCode.UNKNOWN_TOPIC_ID)
        return topic_entry(server, topic, with_operations)
    topic = server.image.topic(name)
    if topic is None:
        if topic_name_error(name) is not None:
            return _error_entry(name, ZERO_UUID, ErrorCode.INVALID_TOPIC_EXCEPTION)
        if not auto_create:
            return _error_entry(name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        error = await _auto_create(server, name)
        topic = server.image.topic(name)
        if topic is None:
            return _error_entry(name, ZERO_UUID, error)
    return topic_entry(server, topic, with_operations)


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    with_operations = bool(request.get("include_topic_authorized_operations"))
    # v0 had no null: an empty array meant "all topics".
    wanted = request.topics
    every_topic = wanted is None or (header.api_version == 0 and not wanted)
    named = None if every_topic else [item.name for item in wanted if item.get("name")]
    await server.leaders_settled(named)
    if every_topic:
        topics = [
            topic_entry(server, topic, with_operations)
            for topic in server.image.topics_by_name.values()
        ]
    else:
        auto_create = server.config.auto_create_topics_enable and request.get(
            "allow_auto_topic_creation", True
        )
        topics = [
            await _requested_topic(server, item, auto_create, with_operations) for item in wanted
        ]
    return {
        "throttle_time_ms": 0,
        "brokers": brokers(server, with_just_fenced=True),
        "cluster_id": server.cluster_id,
        "controller_id": server.reported_controller_id(),
        "topics": topics,
        "cluster_authorized_operations": CLUSTER_OPERATIONS
        if request.get("include_cluster_authorized_operations")
        else AUTHORIZED_OPERATIONS_OMITTED,
        "error_code": ErrorCode.NONE,
    }


def _described_brokers(server: BrokerServer, with_fenced: bool) -> list[dict[str, Any]]:
    """DescribeCluster's brokers: the live ones, or (v2 ``include_fenced_brokers``, KIP-1073)
    every registered one with its ``is_fenced`` flag."""
    listener = current_listener.get()
    described = []
    for registration in sorted(server.image.brokers.values(), key=lambda r: r.broker_id):
        if registration.fenced and not with_fenced:
            continue
        entry = broker_entry(registration, listener)
        described.append(
            {
                "broker_id": registration.broker_id,
                "host": entry["host"],
                "port": entry["port"],
                "rack": registration.rack,
                "is_fenced": registration.fenced,
            }
        )
    return described


async def describe_cluster(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "endpoint_type": 1,
        "cluster_id": server.cluster_id,
        "controller_id": server.reported_controller_id(),
        "brokers": _described_brokers(server, bool(request.get("include_fenced_brokers"))),
        "cluster_authorized_operations": CLUSTER_OPERATIONS
        if request.get("include_cluster_authorized_operations")
        else AUTHORIZED_OPERATIONS_OMITTED,
    }


def _described_partitions(
    server: BrokerServer, topic: TopicImage, start: int, most: int
) -> tuple[list[dict[str, Any]], int]:
    """Partitions ``start`` .. of ``topic``, at most ``most`` of them, and the index of the
    first one left out (-1: none), as Kafka's KRaftMetadataCache pages them."""
    brokers_ = server.image.brokers
    count = len(topic.partitions)
    upper = min(count, start + most)
    entries = []
    for index in range(start, upper):
        registration = topic.partitions.get(index)
        if registration is None:
            continue
        leader = registration.leader if registration.leader in brokers_ else -1
        entries.append(
            {
                "error_code": ErrorCode.NONE,
                "partition_index": index,
                "leader_id": leader,
                "leader_epoch": registration.leader_epoch,
                "replica_nodes": list(registration.replicas),
                "isr_nodes": list(registration.isr),
                # No ELR (KIP-966) here: eligible.leader.replicas.enable is not acted on.
                "eligible_leader_replicas": [],
                "last_known_elr": [],
                "offline_replicas": [
                    replica
                    for replica in registration.replicas
                    if replica not in brokers_ or brokers_[replica].fenced
                ],
            }
        )
    return entries, upper if upper < count else -1


def _unknown_topic(name: str, error: ErrorCode) -> dict[str, Any]:
    return {**_error_entry(name, ZERO_UUID, error), "is_internal": name in INTERNAL_TOPICS}


async def describe_topic_partitions(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    """DescribeTopicPartitions (75): topics in name order from the cursor on, their partitions
    up to ``min(response_partition_limit, max.request.partition.size.limit)`` in all, and the
    cursor of the next page.  An empty topic list is every topic; with an authorizer such a
    listing pages only the topics ``request.describable`` (the guard's DESCRIBE check)
    admits."""
    named = [item.name for item in request.topics]
    every_topic = not named
    cursor = request.get("cursor")
    start_name = cursor.topic_name if cursor is not None else ""
    candidates = server.image.topics_by_name if every_topic else named
    names = sorted({name for name in candidates if name >= start_name})
    if cursor is not None and (
        cursor.partition_index < 0 or (not every_topic and start_name not in names)
    ):
        # Kafka refuses the whole request (a cursor outside the topics asked, or a negative
        # partition index): every topic asked gets the error.
        return {
            "throttle_time_ms": 0,
            "topics": [_unknown_topic(name, ErrorCode.INVALID_REQUEST) for name in named],
            "next_cursor": None,
        }
    describable = request.get("describable")
    allowed = names if describable is None else [name for name in names if describable(name)]
    # The cursor's index applies to its topic only (and only when that one is described).
    first_index = cursor.partition_index if cursor is not None else 0
    await server.leaders_settled(None if every_topic else allowed)
    # At least one partition a page, or a client following the cursor would never finish.
    remaining = max(
        min(server.config.max_request_partition_size_limit, request.response_partition_limit), 1
    )
    topics: list[dict[str, Any]] = []
    next_cursor = None
    for name in allowed:
        if remaining == 0:
            # What fitted ended exactly at a topic's end: the next page starts at this one.
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        topic = server.image.topic(name)
        if topic is None:
            if not every_topic:
                error = ErrorCode.INVALID_TOPIC_EXCEPTION
                if topic_name_error(name) is None:
                    error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                topics.append(_unknown_topic(name, error))
            continue
        start = first_index if name == start_name else 0
        partitions, left_out = _described_partitions(server, topic, start, remaining)
        topics.append(_described_topic(topic, partitions, with_operations=True))
        if left_out >= 0:
            next_cursor = {"topic_name": name, "partition_index": left_out}
            break
        remaining -= len(partitions)
    return {"throttle_time_ms": 0, "topics": topics, "next_cursor": next_cursor}
