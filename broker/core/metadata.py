"""Cluster metadata as records, and the image folded from them (KRaft's shape).

The controller never mutates state directly: a command returns records, and every change to
the cluster's metadata happens in :meth:`MetadataImage.replay`.  A restart is a fold of the
persisted records; a consensus layer can later replicate the same records.  Record names
follow KRaft's metadata records (``TopicRecord``, ``PartitionRecord``, ``ConfigRecord``,
``RemoveTopicRecord``, ``RegisterBrokerRecord``, ``ProducerIdsRecord``).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4
NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class RegisterBrokerRecord:
    broker_id: int
    incarnation_id: str
    broker_epoch: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class TopicRecord:
    name: str
    topic_id: str


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    topic_id: str
    partition_id: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    resource_type: int
    resource_name: str
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class RemoveTopicRecord:
    topic_id: str


@dataclass(frozen=True, slots=True)
class ProducerIdsRecord:
    broker_id: int
    next_producer_id: int


MetadataRecord = (
    RegisterBrokerRecord
    | TopicRecord
    | PartitionRecord
    | ConfigRecord
    | RemoveTopicRecord
    | ProducerIdsRecord
)

_RECORD_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        RegisterBrokerRecord,
        TopicRecord,
        PartitionRecord,
        ConfigRecord,
        RemoveTopicRecord,
        ProducerIdsRecord,
    )
}


def record_to_dict(record: MetadataRecord) -> dict[str, Any]:
    """A JSON-friendly form with the record type under ``"type"``."""
    body = asdict(record)
    body["type"] = type(record).__name__
    return body


def record_from_dict(body: dict[str, Any]) -> MetadataRecord:
    """Inverse of :func:`record_to_dict`; ``ValueError`` on an unknown or malformed record."""
    kind = _RECORD_TYPES.get(str(body.get("type")))
    if kind is None:
        raise ValueError(f"unknown metadata record type {body.get('type')!r}")
    values: dict[str, Any] = {}
    for item in fields(kind):
        if item.name not in body:
            continue
        value = body[item.name]
        values[item.name] = tuple(value) if isinstance(value, list) else value
    try:
        record: MetadataRecord = kind(**values)
    except TypeError as error:
        raise ValueError(f"malformed {kind.__name__}: {error}") from error
    return record


@dataclass(slots=True)
class PartitionRegistration:
    """The controller's view of one partition."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@dataclass(slots=True)
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionRegistration] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BrokerRegistration:
    broker_id: int
    incarnation_id: str
    broker_epoch: int
    host: str
    port: int
    rack: str | None


class MetadataImage:
    """Topics, partitions, configs and brokers: the fold of every metadata record so far."""

    def __init__(self) -> None:
        self.topics_by_name: dict[str, TopicImage] = {}
        self.topics_by_id: dict[uuid.UUID, TopicImage] = {}
        self.brokers: dict[int, BrokerRegistration] = {}
        self.broker_configs: dict[str, dict[str, str]] = {}
        self.next_producer_id = 0
        self.records_replayed = 0

    def replay(self, record: MetadataRecord) -> None:
        """Apply one record; the only place metadata changes."""
        self.records_replayed += 1
        if isinstance(record, TopicRecord):
            topic = TopicImage(record.name, uuid.UUID(record.topic_id))
            assert record.name not in self.topics_by_name, record.name
            self.topics_by_name[record.name] = topic
            self.topics_by_id[topic.topic_id] = topic
        elif isinstance(record, PartitionRecord):
            topic = self.topics_by_id[uuid.UUID(record.topic_id)]
            topic.partitions[record.partition_id] = PartitionRegistration(
                record.replicas,
                record.isr,
                record.leader,
                record.leader_epoch,
                record.partition_epoch,
            )
        elif isinstance(record, ConfigRecord):
            self._replay_config(record)
        elif isinstance(record, RemoveTopicRecord):
            removed = self.topics_by_id.pop(uuid.UUID(record.topic_id))
            del self.topics_by_name[removed.name]
        elif isinstance(record, RegisterBrokerRecord):
            self.brokers[record.broker_id] = BrokerRegistration(
                record.broker_id,
                record.incarnation_id,
                record.broker_epoch,
                record.host,
                record.port,
                record.rack,
            )
        else:
            assert record.next_producer_id >= self.next_producer_id
            self.next_producer_id = record.next_producer_id

    def _replay_config(self, record: ConfigRecord) -> None:
        if record.resource_type == TOPIC_RESOURCE:
            topic = self.topics_by_name.get(record.resource_name)
            if topic is None:
                return
            target = topic.configs
        else:
            target = self.broker_configs.setdefault(record.resource_name, {})
        if record.value is None:
            target.pop(record.name, None)
        else:
            target[record.name] = record.value

    def topic(self, name: str) -> TopicImage | None:
        return self.topics_by_name.get(name)
