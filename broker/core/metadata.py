"""Cluster metadata as records, and the image folded from them (KRaft's shape).

The controller never mutates state directly: a command returns records, and every change to
the cluster's metadata happens in :meth:`MetadataImage.replay`.  A restart is a fold of the
persisted records; a consensus layer can later replicate the same records.  Record names
follow KRaft's metadata records (``TopicRecord``, ``PartitionRecord``, ``ConfigRecord``,
``RemoveTopicRecord``, ``RegisterBrokerRecord``, ``ProducerIdsRecord``; KRaft's
``BrokerRegistrationChangeRecord`` carries fencing too, we split it into
``FenceBrokerRecord`` / ``UnfenceBrokerRecord`` as ZK-less KRaft 3.0 did).

``PartitionRecord`` is the full state of a partition, written at creation and on every change;
replay refuses one whose epochs go backwards (P6), so a fold never lowers an epoch.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from broker.core.acl import AclBinding

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4
GROUP_RESOURCE = 32
NO_LEADER = -1
# LeaderRecoveryState (KIP-704): RECOVERING after an unclean election until the ISR grows.
RECOVERED = 0
RECOVERING = 1


@dataclass(frozen=True, slots=True)
class RegisterBrokerRecord:
    """A (re-)registration; a new registration starts fenced (KIP-631)."""

    broker_id: int
    incarnation_id: str
    broker_epoch: int
    host: str
    port: int
    rack: str | None = None
    fenced: bool = True
    # Every client listener as (name, host, port); host/port above are the inter-broker one.
    # Empty in records written before brokers had several listeners.
    listeners: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class FenceBrokerRecord:
    broker_id: int
    broker_epoch: int


@dataclass(frozen=True, slots=True)
class UnfenceBrokerRecord:
    broker_id: int
    broker_epoch: int


@dataclass(frozen=True, slots=True)
class BrokerRegistrationChangeRecord:
    broker_id: int
    broker_epoch: int
    in_controlled_shutdown: bool


@dataclass(frozen=True, slots=True)
class UnregisterBrokerRecord:
    """UnregisterBroker: the registration of this epoch is gone (a later one stays)."""

    broker_id: int
    broker_epoch: int


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
    leader_recovery_state: int = RECOVERED
    # An ongoing reassignment (KIP-455): replicas being added (not yet in the ISR) and being
    # removed once every target replica is in the ISR; ``replicas`` holds both.
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()


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


@dataclass(frozen=True, slots=True)
class UserScramCredentialRecord:
    """A user's SCRAM credential for one mechanism (Kafka's record 11; KIP-554).  The salt
    and keys are hex strings: records are stored as JSON."""

    name: str
    mechanism: int
    salt: str
    stored_key: str
    server_key: str
    iterations: int

    def __repr__(self) -> str:
        return f"UserScramCredentialRecord({self.name!r}, mechanism={self.mechanism})"


@dataclass(frozen=True, slots=True)
class RemoveUserScramCredentialRecord:
    name: str
    mechanism: int


@dataclass(frozen=True, slots=True)
class ClientQuotaRecord:
    """One quota value of a user / client-id / ip entity (Kafka's record 14; KIP-546).
    ``entity`` is ``((entity type, name or None for the default), ...)`` sorted by type."""

    entity: tuple[tuple[str, str | None], ...]
    key: str
    value: float = 0.0
    remove: bool = False


@dataclass(frozen=True, slots=True)
class AccessControlEntryRecord:
    """One ACL binding (Kafka's record 23; KIP-801), under a unique id."""

    id: str
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int

    def binding(self) -> AclBinding:
        return AclBinding(
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission_type,
        )

    @classmethod
    def of(cls, acl_id: str, binding: AclBinding) -> AccessControlEntryRecord:
        return cls(acl_id, *binding)


@dataclass(frozen=True, slots=True)
class RemoveAccessControlEntryRecord:
    id: str


@dataclass(frozen=True, slots=True)
class FeatureLevelRecord:
    """A finalized feature level (Kafka's record 12; KIP-584, KIP-778): 0 takes it away."""

    name: str
    feature_level: int


MetadataRecord = (
    RegisterBrokerRecord
    | FenceBrokerRecord
    | UnfenceBrokerRecord
    | BrokerRegistrationChangeRecord
    | UnregisterBrokerRecord
    | TopicRecord
    | PartitionRecord
    | ConfigRecord
    | RemoveTopicRecord
    | ProducerIdsRecord
    | UserScramCredentialRecord
    | RemoveUserScramCredentialRecord
    | ClientQuotaRecord
    | AccessControlEntryRecord
    | RemoveAccessControlEntryRecord
    | FeatureLevelRecord
)

_RECORD_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        RegisterBrokerRecord,
        FenceBrokerRecord,
        UnfenceBrokerRecord,
        BrokerRegistrationChangeRecord,
        UnregisterBrokerRecord,
        TopicRecord,
        PartitionRecord,
        ConfigRecord,
        RemoveTopicRecord,
        ProducerIdsRecord,
        UserScramCredentialRecord,
        RemoveUserScramCredentialRecord,
        ClientQuotaRecord,
        AccessControlEntryRecord,
        RemoveAccessControlEntryRecord,
        FeatureLevelRecord,
    )
}


def record_to_dict(record: MetadataRecord) -> dict[str, Any]:
    """A JSON-friendly form with the record type under ``"type"``."""
    body = asdict(record)
    body["type"] = type(record).__name__
    return body


def record_from_dict(body: dict[str, Any]) -> MetadataRecord:
    """Inverse of :func:`record_to_dict`; ``ValueError`` on an unknown or malformed record.

    A field missing from ``body`` takes its default, so logs written before a field existed
    still load (an old ``RegisterBrokerRecord`` is fenced until its broker heartbeats).
    """
    kind = _RECORD_TYPES.get(str(body.get("type")))
    if kind is None:
        raise ValueError(f"unknown metadata record type {body.get('type')!r}")
    values: dict[str, Any] = {}
    for item in fields(kind):
        if item.name not in body:
            continue
        value = body[item.name]
        if isinstance(value, list):  # JSON arrays are tuples here, nested ones too
            value = tuple(tuple(entry) if isinstance(entry, list) else entry for entry in value)
        values[item.name] = value
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
    leader_recovery_state: int = RECOVERED
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()

    @property
    def target_replicas(self) -> tuple[int, ...]:
        """Where a reassignment goes (the replicas when none is ongoing)."""
        return tuple(r for r in self.replicas if r not in self.removing_replicas)

    @property
    def reassigning(self) -> bool:
        return bool(self.adding_replicas or self.removing_replicas)


@dataclass(slots=True)
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionRegistration] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BrokerRegistration:
    """One broker's current registration.

    ``registration_offset`` is the metadata offset of its ``RegisterBrokerRecord``: the broker
    is caught up (may be unfenced) once it has applied that record (KIP-631).
    """

    broker_id: int
    incarnation_id: str
    broker_epoch: int
    host: str
    port: int
    rack: str | None
    fenced: bool = True
    in_controlled_shutdown: bool = False
    registration_offset: int = 0
    listeners: tuple[tuple[str, str, int], ...] = ()

    def endpoint(self, listener: str | None) -> tuple[str, int]:
        """(host, port) of ``listener``, as Kafka answers a client on that listener; the
        inter-broker endpoint for None or a listener this broker does not have."""
        for name, host, port in self.listeners:
            if name == listener:
                return host, port
        return self.host, self.port

    @property
    def active(self) -> bool:
        """Kafka's ``ClusterControlManager.isActive``: unfenced and not shutting down."""
        return not self.fenced and not self.in_controlled_shutdown


class MetadataImage:
    """Topics, partitions, configs and brokers: the fold of every metadata record so far."""

    def __init__(self) -> None:
        self.topics_by_name: dict[str, TopicImage] = {}
        self.topics_by_id: dict[uuid.UUID, TopicImage] = {}
        self.brokers: dict[int, BrokerRegistration] = {}
        self.broker_configs: dict[str, dict[str, str]] = {}
        # group id -> its configs (KIP-848 group configs, ConfigRecords of resource type 32)
        self.group_configs: dict[str, dict[str, str]] = {}
        self.next_producer_id = 0
        # (user name, SCRAM mechanism id) -> credential
        self.scram_credentials: dict[tuple[str, int], UserScramCredentialRecord] = {}
        # quota entity (as ClientQuotaRecord.entity) -> {quota key: value}
        self.client_quotas: dict[tuple[tuple[str, str | None], ...], dict[str, float]] = {}
        # ACL id -> binding
        self.acls: dict[str, AclBinding] = {}
        # Feature levels set by FeatureLevelRecords (broker.core.features has the defaults
        # of a feature never set), and the offset of the last such record (-1: none yet).
        self.features: dict[str, int] = {}
        self.features_offset = -1
        # The metadata offset: the offset of the next record (records are numbered from 0).
        self.records_replayed = 0

    def replay(self, record: MetadataRecord) -> None:
        """Apply one record; the only place metadata changes.

        A record that would break an invariant (an epoch going backwards, a malformed
        partition state, a partition of an unknown topic) raises ``ValueError`` and changes
        nothing but the offset: it still occupies its place in the log, and the caller decides
        whether to go on.  Fencing records for a stale broker epoch are ignored.
        """
        offset = self.records_replayed
        self.records_replayed += 1
        if isinstance(record, TopicRecord):
            if record.name in self.topics_by_name:
                raise ValueError(f"topic {record.name!r} already exists")
            topic = TopicImage(record.name, uuid.UUID(record.topic_id))
            self.topics_by_name[record.name] = topic
            self.topics_by_id[topic.topic_id] = topic
        elif isinstance(record, PartitionRecord):
            self._replay_partition(record)
        elif isinstance(record, ConfigRecord):
            self._replay_config(record)
        elif isinstance(record, RemoveTopicRecord):
            removed = self.topics_by_id.pop(uuid.UUID(record.topic_id), None)
            if removed is None:
                raise ValueError(f"unknown topic id {record.topic_id}")
            del self.topics_by_name[removed.name]
        elif isinstance(record, ProducerIdsRecord):
            if record.next_producer_id < self.next_producer_id:
                raise ValueError("producer id blocks never go back")
            self.next_producer_id = record.next_producer_id
        elif isinstance(record, UserScramCredentialRecord):
            self.scram_credentials[record.name, record.mechanism] = record
        elif isinstance(record, RemoveUserScramCredentialRecord):
            if self.scram_credentials.pop((record.name, record.mechanism), None) is None:
                raise ValueError(f"no SCRAM credential of {record.name!r} to remove")
        elif isinstance(record, ClientQuotaRecord):
            self._replay_client_quota(record)
        elif isinstance(record, AccessControlEntryRecord):
            self.acls[record.id] = record.binding()
        elif isinstance(record, RemoveAccessControlEntryRecord):
            if self.acls.pop(record.id, None) is None:
                raise ValueError(f"no ACL {record.id} to remove")
        elif isinstance(record, FeatureLevelRecord):
            if record.feature_level < 0:
                raise ValueError(f"feature {record.name!r} level {record.feature_level} < 0")
            self.features[record.name] = record.feature_level
            self.features_offset = offset
        else:
            self._replay_broker(record, offset)

    def _replay_client_quota(self, record: ClientQuotaRecord) -> None:
        entity = tuple(sorted(record.entity))
        if record.remove:
            values = self.client_quotas.get(entity, {})
            values.pop(record.key, None)
            if not values:
                self.client_quotas.pop(entity, None)
        else:
            self.client_quotas.setdefault(entity, {})[record.key] = float(record.value)

    def _replay_broker(
        self,
        record: RegisterBrokerRecord
        | FenceBrokerRecord
        | UnfenceBrokerRecord
        | BrokerRegistrationChangeRecord
        | UnregisterBrokerRecord,
        offset: int,
    ) -> None:
        current = self.brokers.get(record.broker_id)
        if isinstance(record, RegisterBrokerRecord):
            if current is not None and record.broker_epoch <= current.broker_epoch:
                raise ValueError(
                    f"broker {record.broker_id} epoch {record.broker_epoch} is not above "
                    f"{current.broker_epoch}"
                )
            self.brokers[record.broker_id] = BrokerRegistration(
                record.broker_id,
                record.incarnation_id,
                record.broker_epoch,
                record.host,
                record.port,
                record.rack,
                fenced=record.fenced,
                registration_offset=offset,
                listeners=record.listeners,
            )
            return
        if current is None or current.broker_epoch != record.broker_epoch:
            return  # a change for an older registration: ignored (KIP-631)
        if isinstance(record, UnregisterBrokerRecord):
            del self.brokers[record.broker_id]
        elif isinstance(record, FenceBrokerRecord):
            current.fenced = True
        elif isinstance(record, UnfenceBrokerRecord):
            current.fenced = False
        else:
            current.in_controlled_shutdown = record.in_controlled_shutdown

    def _replay_partition(self, record: PartitionRecord) -> None:
        topic = self.topics_by_id.get(uuid.UUID(record.topic_id))
        if topic is None:
            raise ValueError(f"partition of unknown topic id {record.topic_id}")
        problem = partition_state_error(record)
        old = topic.partitions.get(record.partition_id)
        if problem is None and old is not None:
            problem = _epoch_regression(old, record)
        if problem is not None:
            raise ValueError(f"{topic.name}-{record.partition_id}: {problem}")
        topic.partitions[record.partition_id] = PartitionRegistration(
            record.replicas,
            record.isr,
            record.leader,
            record.leader_epoch,
            record.partition_epoch,
            record.leader_recovery_state,
            record.adding_replicas,
            record.removing_replicas,
        )

    def _replay_config(self, record: ConfigRecord) -> None:
        if record.resource_type == TOPIC_RESOURCE:
            topic = self.topics_by_name.get(record.resource_name)
            if topic is None:
                return
            target = topic.configs
        elif record.resource_type == GROUP_RESOURCE:
            target = self.group_configs.setdefault(record.resource_name, {})
        else:
            target = self.broker_configs.setdefault(record.resource_name, {})
        if record.value is None:
            target.pop(record.name, None)
            if not target and record.resource_type == GROUP_RESOURCE:
                del self.group_configs[record.resource_name]
        else:
            target[record.name] = record.value

    def topic(self, name: str) -> TopicImage | None:
        return self.topics_by_name.get(name)

    def active_brokers(self) -> list[int]:
        """Registered brokers that are unfenced and not in controlled shutdown, sorted."""
        return sorted(b.broker_id for b in self.brokers.values() if b.active)

    def is_active(self, broker_id: int) -> bool:
        registration = self.brokers.get(broker_id)
        return registration is not None and registration.active

    def leaders_in_doubt(self, suspects: Collection[int], topics: Iterable[str] | None) -> bool:
        """Whether a partition of ``topics`` (None: every topic) is led by one of ``suspects``
        that this image still shows registered and unfenced: a Metadata answer now would name
        a leader the caller has reason to think is gone (see ``BrokerServer.leaders_settled``)."""
        if not suspects:
            return False
        doubtful = {broker for broker in suspects if self.is_active(broker)}
        if not doubtful:
            return False
        names = self.topics_by_name.keys() if topics is None else topics
        for name in names:
            topic = self.topics_by_name.get(name)
            if topic is not None and any(
                registration.leader in doubtful for registration in topic.partitions.values()
            ):
                return True
        return False

    def state(self) -> tuple[Any, ...]:
        """Everything the fold holds, comparable: two replays of one log give equal states."""
        topics = {
            topic.topic_id: (topic.name, dict(topic.partitions), dict(topic.configs))
            for topic in self.topics_by_id.values()
        }
        return (
            topics,
            dict(self.brokers),
            self.broker_configs,
            self.next_producer_id,
            dict(self.scram_credentials),
            {entity: dict(values) for entity, values in self.client_quotas.items()},
            dict(self.acls),
            self.records_replayed,
        )


def partition_state_error(record: PartitionRecord) -> str | None:
    """Why a partition state breaks P8 (ISR ⊆ replicas, non-empty, leader ∈ ISR), or None."""
    if not record.replicas or len(set(record.replicas)) != len(record.replicas):
        return f"invalid replicas {list(record.replicas)}"
    if not record.isr or len(set(record.isr)) != len(record.isr):
        return f"invalid ISR {list(record.isr)}"
    if not set(record.isr) <= set(record.replicas):
        return f"ISR {list(record.isr)} is not a subset of replicas {list(record.replicas)}"
    if record.leader != NO_LEADER and record.leader not in record.isr:
        return f"leader {record.leader} is not in the ISR {list(record.isr)}"
    if record.leader_recovery_state not in (RECOVERED, RECOVERING):
        return f"unknown leader recovery state {record.leader_recovery_state}"
    adding, removing = set(record.adding_replicas), set(record.removing_replicas)
    if not (adding | removing) <= set(record.replicas) or adding & removing:
        return (
            f"reassignment adding {list(record.adding_replicas)} / removing "
            f"{list(record.removing_replicas)} does not fit replicas {list(record.replicas)}"
        )
    if record.removing_replicas and set(record.replicas) == removing:
        return f"a reassignment removing every replica {list(record.replicas)}"
    return None


def _epoch_regression(old: PartitionRegistration, record: PartitionRecord) -> str | None:
    """P6: a change raises the partition epoch; a leader change raises the leader epoch."""
    if record.partition_epoch <= old.partition_epoch:
        return f"partition epoch {record.partition_epoch} is not above {old.partition_epoch}"
    if record.leader_epoch < old.leader_epoch:
        return f"leader epoch {record.leader_epoch} is below {old.leader_epoch}"
    if record.leader != old.leader and record.leader_epoch == old.leader_epoch:
        return f"leader changed {old.leader} -> {record.leader} without a new leader epoch"
    return None
