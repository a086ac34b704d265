"""The controller's commands: validate a request against the image, return records + a result.

Commands never change state: the caller persists the returned records and replays them into
the image (:meth:`Controller.replay`), as KRaft's ``ControllerResult`` does.  Topic ids are
drawn from an injected random source so the simulator can seed it.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from broker.core.metadata import (
    TOPIC_RESOURCE,
    ConfigRecord,
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicImage,
    TopicRecord,
)
from client.protocol.errors import ErrorCode

MAX_TOPIC_NAME_LENGTH = 249
MAX_PARTITIONS_PER_TOPIC = 10_000
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})

ConfigValidator = Callable[[dict[str, str | None]], dict[str, str]]


class ConfigValidationError(Exception):
    """Raised by a :data:`ConfigValidator` for an unknown key or a bad value."""


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    num_partitions: int = 1
    default_replication_factor: int = 1


@dataclass(frozen=True, slots=True)
class NewTopic:
    name: str
    num_partitions: int
    replication_factor: int
    assignments: dict[int, tuple[int, ...]] = field(default_factory=dict)
    configs: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    error_code: ErrorCode
    error_message: str | None = None
    topic_id: uuid.UUID | None = None
    num_partitions: int = -1
    replication_factor: int = -1
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ControllerResult:
    records: list[MetadataRecord]
    results: list[TopicResult]


def topic_name_error(name: str) -> str | None:
    """Why ``name`` is not a legal topic name (Kafka's ``Topic.validate``), or None."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return 'Topic name cannot be "." or ".."'
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters"
    if not _LEGAL_TOPIC.fullmatch(name):
        return (
            f'Topic name "{name}" is illegal, it contains a character other than '
            "ASCII alphanumerics, '.', '_' and '-'"
        )
    return None


class Controller:
    """Topic lifecycle and partition placement over a :class:`MetadataImage`."""

    def __init__(
        self,
        image: MetadataImage,
        settings: ControllerSettings,
        validate_configs: ConfigValidator,
        rng: random.Random,
        live_brokers: Callable[[], list[int]] | None = None,
    ) -> None:
        self.image = image
        self.settings = settings
        self.validate_configs = validate_configs
        self.rng = rng
        self._live_brokers = live_brokers

    def replay(self, records: Sequence[MetadataRecord]) -> None:
        for record in records:
            self.image.replay(record)

    def live_brokers(self) -> list[int]:
        """Where new replicas go and who starts in their ISR, sorted.

        The injected ``live_brokers`` (a cluster passes ``ClusterControl.live_brokers``: the
        unfenced brokers not shutting down).  Without one, the active brokers, or every
        registered broker if none is active: the single-node path registers itself without
        heartbeats, as do tests.
        """
        if self._live_brokers is not None:
            return self._live_brokers()
        return self.image.active_brokers() or sorted(self.image.brokers)

    def create_topics(self, topics: Sequence[NewTopic], validate_only: bool) -> ControllerResult:
        records: list[MetadataRecord] = []
        results: list[TopicResult] = []
        seen: set[str] = set()
        for topic in topics:
            if topic.name in seen:
                results.append(
                    TopicResult(topic.name, ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
                )
                continue
            seen.add(topic.name)
            result, topic_records = self._create_topic(topic)
            results.append(result)
            if not validate_only:
                records.extend(topic_records)
        return ControllerResult(records, results)

    def _create_topic(self, topic: NewTopic) -> tuple[TopicResult, list[MetadataRecord]]:
        error = self._check_new_topic(topic)
        if error is not None:
            return error, []
        try:
            configs = self.validate_configs(dict(topic.configs))
        except ConfigValidationError as problem:
            return TopicResult(topic.name, ErrorCode.INVALID_CONFIG, str(problem)), []
        placement = self._placement(topic)
        if isinstance(placement, TopicResult):
            return placement, []
        topic_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        records: list[MetadataRecord] = [TopicRecord(topic.name, str(topic_id))]
        live = set(self.live_brokers())
        for partition, replicas in enumerate(placement):
            records.append(new_partition_record(topic_id, partition, replicas, live))
        for name, value in sorted(configs.items()):
            records.append(ConfigRecord(TOPIC_RESOURCE, topic.name, name, value))
        replication_factor = len(placement[0])
        result = TopicResult(
            topic.name, ErrorCode.NONE, None, topic_id, len(placement), replication_factor, configs
        )
        return result, records

    def _check_new_topic(self, topic: NewTopic) -> TopicResult | None:
        problem = topic_name_error(topic.name)
        if problem is not None:
            return TopicResult(topic.name, ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
        if topic.name in self.image.topics_by_name:
            message = f"Topic '{topic.name}' already exists."
            return TopicResult(topic.name, ErrorCode.TOPIC_ALREADY_EXISTS, message)
        collision = self._colliding_topic(topic.name)
        if collision is not None:
            message = f"Topic '{topic.name}' collides with existing topic: {collision}"
            return TopicResult(topic.name, ErrorCode.INVALID_TOPIC_EXCEPTION, message)
        return None

    def _colliding_topic(self, name: str) -> str | None:
        """Kafka refuses names equal once '.' and '_' are confused (metric name clashes)."""
        folded = name.replace(".", "_")
        for existing in self.image.topics_by_name:
            if existing.replace(".", "_") == folded:
                return existing
        return None

    def _placement(self, topic: NewTopic) -> list[tuple[int, ...]] | TopicResult:
        brokers = self.live_brokers()
        if topic.assignments:
            return self._manual_placement(topic, brokers)
        count = topic.num_partitions
        if count == -1:
            count = self.settings.num_partitions
        factor = topic.replication_factor
        if factor == -1:
            factor = self.settings.default_replication_factor
        if count <= 0 or count > MAX_PARTITIONS_PER_TOPIC:
            message = f"Number of partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}."
            return TopicResult(topic.name, ErrorCode.INVALID_PARTITIONS, message)
        if factor <= 0:
            message = "Replication factor must be larger than 0, or -1 to use the default value."
            return TopicResult(topic.name, ErrorCode.INVALID_REPLICATION_FACTOR, message)
        if factor > len(brokers):
            message = (
                f"Unable to replicate the partition {factor} time(s): The target replication "
                f"factor of {factor} cannot be reached because only {len(brokers)} broker(s) "
                "are registered."
            )
            return TopicResult(topic.name, ErrorCode.INVALID_REPLICATION_FACTOR, message)
        return self._place(brokers, count, factor, self.rng.randrange(len(brokers)))

    def _place(
        self, brokers: list[int], partitions: int, factor: int, start: int
    ) -> list[tuple[int, ...]]:
        """Replicas for ``partitions`` new partitions: across racks once brokers name more
        than one (``broker.rack``; brokers without a rack count as one rack), else plain
        round-robin."""
        racks = {
            broker: registration.rack if registration is not None else None
            for broker in brokers
            for registration in [self.image.brokers.get(broker)]
        }
        if len(set(racks.values())) < 2:
            return round_robin_placement(brokers, partitions, factor, start)
        return rack_aware_placement(racks, partitions, factor, start)

    def _manual_placement(
        self, topic: NewTopic, brokers: list[int]
    ) -> list[tuple[int, ...]] | TopicResult:
        if topic.num_partitions != -1 or topic.replication_factor != -1:
            message = (
                "Both numPartitions or replicationFactor and replicasAssignments were set. "
                "Both cannot be used at the same time."
            )
            return TopicResult(topic.name, ErrorCode.INVALID_REQUEST, message)
        indexes = sorted(topic.assignments)
        if indexes != list(range(len(indexes))) or len(indexes) > MAX_PARTITIONS_PER_TOPIC:
            message = "Partition indexes must be consecutive from 0."
            return TopicResult(topic.name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)
        placement = [topic.assignments[index] for index in indexes]
        for index, replicas in zip(indexes, placement, strict=True):
            unknown = [broker for broker in replicas if broker not in self.image.brokers]
            if not replicas or unknown or len(set(replicas)) != len(replicas):
                message = f"Invalid replica assignment {list(replicas)}."
                return TopicResult(topic.name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)
            if not set(replicas) & set(brokers):
                message = (
                    f"All brokers specified in the manual partition assignment for partition "
                    f"{index} are fenced or in controlled shutdown."
                )
                return TopicResult(topic.name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)
        if len({len(replicas) for replicas in placement}) != 1:
            message = "All partitions must have the same number of replicas."
            return TopicResult(topic.name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)
        return placement

    def delete_topics(self, names: Sequence[str]) -> ControllerResult:
        records: list[MetadataRecord] = []
        results: list[TopicResult] = []
        for name in names:
            topic = self.image.topics_by_name.get(name)
            if topic is None:
                message = "This server does not host this topic-partition."
                results.append(TopicResult(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message))
                continue
            if any(
                isinstance(r, RemoveTopicRecord) and r.topic_id == str(topic.topic_id)
                for r in records
            ):
                continue
            records.append(RemoveTopicRecord(str(topic.topic_id)))
            results.append(TopicResult(name, ErrorCode.NONE, None, topic.topic_id))
        return ControllerResult(records, results)

    def create_partitions(
        self, topic_name: str, count: int, validate_only: bool
    ) -> ControllerResult:
        topic = self.image.topics_by_name.get(topic_name)
        if topic is None:
            message = "This server does not host this topic-partition."
            result = TopicResult(topic_name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message)
            return ControllerResult([], [result])
        current = len(topic.partitions)
        error = _partition_increase_error(topic, current, count)
        if error is not None:
            return ControllerResult(
                [], [TopicResult(topic_name, ErrorCode.INVALID_PARTITIONS, error)]
            )
        factor = len(topic.partitions[0].replicas)
        brokers = self.live_brokers()
        if factor > len(brokers):
            message = f"Only {len(brokers)} broker(s) for replication factor {factor}."
            result = TopicResult(topic_name, ErrorCode.INVALID_REPLICATION_FACTOR, message)
            return ControllerResult([], [result])
        # Partition ``current + i`` gets the placement of position ``current + i``.
        placement = self._place(brokers, count - current, factor, current)
        live = set(brokers)
        records: list[MetadataRecord] = [
            new_partition_record(topic.topic_id, index, placement[index - current], live)
            for index in range(current, count)
        ]
        result = TopicResult(topic_name, ErrorCode.NONE, None, topic.topic_id, count, factor)
        return ControllerResult([] if validate_only else records, [result])


def _partition_increase_error(topic: TopicImage, current: int, count: int) -> str | None:
    if count == current:
        return f"Topic already has {current} partitions."
    if count < current:
        return (
            f"Topic currently has {current} partitions, which is higher than the requested {count}."
        )
    if count > MAX_PARTITIONS_PER_TOPIC:
        return f"Number of partitions must be at most {MAX_PARTITIONS_PER_TOPIC}."
    return None


def new_partition_record(
    topic_id: uuid.UUID, index: int, replicas: tuple[int, ...], live: set[int]
) -> PartitionRecord:
    """A new partition: the ISR is its live replicas, the leader the first of them (epoch 0)."""
    isr = tuple(broker for broker in replicas if broker in live)
    assert isr, (replicas, live)
    return PartitionRecord(str(topic_id), index, replicas, isr, isr[0], 0, 0)


def rack_alternated(racks: Mapping[int, str | None]) -> list[int]:
    """The brokers with the racks taking turns: the first broker of every rack (racks by
    name, brokers by id), then the second of every rack, and so on."""
    by_rack: dict[str | None, list[int]] = {}
    for broker in sorted(racks):
        by_rack.setdefault(racks[broker], []).append(broker)
    columns = [by_rack[rack] for rack in sorted(by_rack, key=lambda r: (r is not None, r or ""))]
    depth = max(len(column) for column in columns)
    return [column[row] for row in range(depth) for column in columns if row < len(column)]


def rack_aware_placement(
    racks: Mapping[int, str | None], partitions: int, replication_factor: int, start: int
) -> list[tuple[int, ...]]:
    """Rack-aware placement: partition p is led by the broker at position (start + p) of the
    rack-alternated list; its followers are the first brokers, in the order below, whose
    racks no replica of p has yet (once every rack has one, any rack again).  The order runs
    through the list from the leader on, shifted by one more place each time the leaders have
    gone round the list once (Kafka's replica shift), so that a broker's followers differ
    from one round to the next.  Leaders are spread evenly; a partition spans
    min(replication factor, racks) racks."""
    arranged = rack_alternated(racks)
    count = len(arranged)
    assert 0 < replication_factor <= count
    placement = []
    for partition in range(partitions):
        position = start + partition
        first = position % count
        shift = (partition // count) % max(count - 1, 1)
        order = [arranged[first]] + [
            arranged[(first + 1 + (shift + step) % (count - 1)) % count]
            for step in range(count - 1)
        ]
        replicas = [order[0]]
        used = {racks[order[0]]}
        while len(replicas) < replication_factor:
            broker = next((b for b in order if b not in replicas and racks[b] not in used), None)
            if broker is None:  # every rack left has a replica already: any rack again
                used = set()
                broker = next(b for b in order if b not in replicas)
            replicas.append(broker)
            used.add(racks[broker])
        placement.append(tuple(replicas))
    return placement


def round_robin_placement(
    brokers: Sequence[int], partitions: int, replication_factor: int, start: int
) -> list[tuple[int, ...]]:
    """Rack-unaware round-robin: partition p's replicas start at broker (start + p)."""
    assert 0 < replication_factor <= len(brokers)
    count = len(brokers)
    return [
        tuple(brokers[(start + partition + offset) % count] for offset in range(replication_factor))
        for partition in range(partitions)
    ]
