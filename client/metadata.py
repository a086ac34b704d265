"""The client's view of the cluster, folded from Metadata responses (sans-IO).

:class:`ClusterMetadata` is an immutable snapshot: brokers, controller, and per topic its id and
partitions (leader, leader epoch, replicas, ISR).  :func:`metadata_request` builds a Metadata
request body for any version and :meth:`ClusterMetadata.from_response` reads the response;
:class:`~client.cluster.Cluster` does the IO and keeps the newest snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from construct import Container

from client.protocol.errors import ErrorCode

METADATA = 3
# v1 is the first version where an empty topic list means "none" (v0: "all") and that names
# the controller; every broker since Kafka 0.10 has it.
METADATA_MIN_VERSION = 1
NO_LEADER = -1
ZERO_UUID = uuid.UUID(int=0)


class TopicPartition(NamedTuple):
    """A (topic, partition) pair, the key of most per-partition maps."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True, slots=True)
class BrokerMetadata:
    """A broker as Metadata lists it."""

    node_id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PartitionMetadata:
    """One partition: its leader (-1 if none), leader epoch (-1 before v7), replicas and ISR."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...] = ()
    error_code: ErrorCode = ErrorCode.NONE

    @property
    def topic_partition(self) -> TopicPartition:
        """This partition's key."""
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    """One topic: id (zero UUID before Metadata v10), internal flag, partitions by index."""

    name: str
    topic_id: uuid.UUID
    is_internal: bool
    partitions: Mapping[int, PartitionMetadata]
    error_code: ErrorCode = ErrorCode.NONE

    def partition_ids(self) -> list[int]:
        """Partition indexes, sorted."""
        return sorted(self.partitions)


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    """An immutable snapshot of the cluster.

    ``topics`` holds the topics the response described without error; ``topic_errors`` the
    error code of each one that came back with one (UNKNOWN_TOPIC_OR_PARTITION,
    LEADER_NOT_AVAILABLE while a topic is being created, ...).  ``fetched_at`` is the
    ``anyio.current_time()`` of the response (seconds; 0 for the empty snapshot).
    """

    brokers: Mapping[int, BrokerMetadata] = field(default_factory=dict)
    topics: Mapping[str, TopicMetadata] = field(default_factory=dict)
    topic_errors: Mapping[str, ErrorCode] = field(default_factory=dict)
    controller_id: int = -1
    cluster_id: str | None = None
    fetched_at: float = 0.0

    @classmethod
    def from_response(cls, response: Container, fetched_at: float) -> ClusterMetadata:
        """Fold a decoded Metadata response (any version) into a snapshot."""
        brokers = {
            broker.node_id: BrokerMetadata(
                broker.node_id, broker.host, broker.port, broker.get("rack")
            )
            for broker in response.brokers
        }
        topics: dict[str, TopicMetadata] = {}
        errors: dict[str, ErrorCode] = {}
        for topic in response.topics:
            if topic.name is None:
                continue
            code = _code(topic.error_code)
            if code != ErrorCode.NONE:
                errors[topic.name] = code
                continue
            topics[topic.name] = _topic(topic)
        return cls(
            brokers=brokers,
            topics=topics,
            topic_errors=errors,
            controller_id=response.get("controller_id", -1),
            cluster_id=response.get("cluster_id"),
            fetched_at=fetched_at,
        )

    def merged(self, newer: ClusterMetadata, *, complete: bool) -> ClusterMetadata:
        """``newer``'s brokers and controller, with its topics laid over ours.

        ``complete``: ``newer`` described every topic (a request for all topics), so topics it
        does not list are gone.  Otherwise topics it did not ask about are kept.
        """
        if complete:
            return newer
        topics = {
            name: topic
            for name, topic in self.topics.items()
            if name not in newer.topic_errors and name not in newer.topics
        }
        topics.update(newer.topics)
        errors = {name: code for name, code in self.topic_errors.items() if name not in topics}
        errors.update(newer.topic_errors)
        for name in newer.topics:
            errors.pop(name, None)
        return ClusterMetadata(
            brokers=newer.brokers,
            topics=topics,
            topic_errors=errors,
            controller_id=newer.controller_id,
            cluster_id=newer.cluster_id,
            fetched_at=newer.fetched_at,
        )

    def partition(self, topic: str, partition: int) -> PartitionMetadata | None:
        """The partition's metadata, or None if the topic or partition is unknown."""
        described = self.topics.get(topic)
        return None if described is None else described.partitions.get(partition)

    def leader_for(self, topic: str, partition: int) -> BrokerMetadata | None:
        """The partition leader's broker, or None if unknown or leaderless."""
        described = self.partition(topic, partition)
        if described is None or described.leader == NO_LEADER:
            return None
        return self.brokers.get(described.leader)

    @property
    def controller(self) -> BrokerMetadata | None:
        """The controller's broker if Metadata named a known one (some brokers say -1 or 0)."""
        return self.brokers.get(self.controller_id)

    def topic_id(self, topic: str) -> uuid.UUID | None:
        """The topic's id (KIP-516), or None if unknown or the broker sent none."""
        described = self.topics.get(topic)
        if described is None or described.topic_id == ZERO_UUID:
            return None
        return described.topic_id

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        """The name of the topic with ``topic_id`` (Fetch v13+ answers by id)."""
        for name, described in self.topics.items():
            if described.topic_id == topic_id:
                return name
        return None


def metadata_request(
    version: int,
    topics: Iterable[str] | None,
    *,
    allow_auto_topic_creation: bool = False,
) -> dict[str, Any]:
    """A Metadata request body: ``topics=None`` asks for every topic, ``[]`` for none."""
    assert version >= METADATA_MIN_VERSION, "v0 cannot ask for no topics"
    wanted = None if topics is None else [{"name": name} for name in topics]
    return {
        "topics": wanted,
        "allow_auto_topic_creation": allow_auto_topic_creation,
        "include_cluster_authorized_operations": False,
        "include_topic_authorized_operations": False,
    }


def _code(value: int) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def _topic(topic: Container) -> TopicMetadata:
    partitions = {
        partition.partition_index: PartitionMetadata(
            topic=topic.name,
            partition=partition.partition_index,
            leader=partition.leader_id,
            leader_epoch=partition.get("leader_epoch", -1),
            replicas=tuple(partition.replica_nodes),
            isr=tuple(partition.isr_nodes),
            offline_replicas=tuple(partition.get("offline_replicas") or ()),
            error_code=_code(partition.error_code),
        )
        for partition in topic.partitions
    }
    return TopicMetadata(
        name=topic.name,
        topic_id=topic.get("topic_id") or ZERO_UUID,
        is_internal=bool(topic.get("is_internal", False)),
        partitions=partitions,
    )
