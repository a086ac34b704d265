"""Metadata (3) and DescribeCluster (60): brokers, controller, topics and partition leaders.

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
        "brokers": [
            {
                "broker_id": entry["node_id"],
                "host": entry["host"],
                "port": entry["port"],
                "rack": entry["rack"],
            }
            for entry in brokers(server)
        ],
        "cluster_authorized_operations": CLUSTER_OPERATIONS
        if request.get("include_cluster_authorized_operations")
        else AUTHORIZED_OPERATIONS_OMITTED,
    }
