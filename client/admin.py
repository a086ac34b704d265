"""The admin client: topics, partitions, configs, offsets, consumer groups and ACLs.

``async with AdminClient({"bootstrap.servers": "host:9092"}) as admin:``

Routing follows Kafka's clients: CreateTopics, DeleteTopics, CreatePartitions and
IncrementalAlterConfigs of topics go to the controller named in Metadata; DescribeConfigs for
a broker goes to that broker, for a topic to the controller; ListOffsets goes to each
partition's leader; Metadata and the ACL calls (DescribeAcls, CreateAcls, DeleteAcls; see
:mod:`client.acl_admin`) to any broker; ListGroups to every broker; the other group calls to
the group's coordinator (see :mod:`client.admin_groups`).  Retriable failures
(NOT_CONTROLLER, a broken connection, NOT_LEADER_OR_FOLLOWER, ...) refresh metadata and
are retried with ``retry.backoff.ms`` until ``default.api.timeout.ms``.

Errors, per item: the calls that change topics take ``raise_errors``.  With ``True`` (the
default) the whole request completes, then the error of the first failed topic (in request
order) is raised, typed (``TopicAlreadyExistsError``, ``UnknownTopicOrPartitionError``, ...);
other topics may have succeeded.  With ``False`` they return a dict topic → ``None`` (success)
or the exception, so each outcome can be inspected.  Describe and list calls raise the first
error.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

import anyio
from construct import Container

from client import acl_admin, feature_admin, quota_admin, scram_admin
from client.acl_admin import AclBinding, AclBindingFilter, AclRequest
from client.admin_groups import (
    FIND_COORDINATOR,
    LIST_GROUPS,
    CoordinatorRequest,
    GroupDescription,
    ListedGroup,
    PartitionLag,
    assigned_partitions,
    delete_group_request,
    describe_group_request,
    find_coordinator_body,
    lag_from,
    led_partitions,
    list_groups_body,
    list_groups_min_version,
    merge_listings,
    offset_delete_request,
    offset_fetch_request,
    read_find_coordinator,
    read_list_groups,
)
from client.cluster import Cluster
from client.config import AdminConfig
from client.connection import Connection
from client.errors import KafkaError, NotControllerError, error_for
from client.feature_admin import FeatureMetadata, UpgradeType
from client.group import OffsetAndMetadata
from client.metadata import ZERO_UUID, ClusterMetadata, TopicPartition
from client.protocol.errors import ErrorCode
from client.quota_admin import ClientQuotaAlteration, QuotaEntityKey, QuotaFilterComponent
from client.scram_admin import ScramCredentialInfo, ScramUpsertion

CREATE_TOPICS = 19
DELETE_TOPICS = 20
CREATE_PARTITIONS = 37
DESCRIBE_CONFIGS = 32
INCREMENTAL_ALTER_CONFIGS = 44
ALTER_PARTITION_REASSIGNMENTS = 45
LIST_PARTITION_REASSIGNMENTS = 46
UNREGISTER_BROKER = 64
DESCRIBE_TOPIC_PARTITIONS = 75
# IncrementalAlterConfigs' config_operation (KIP-339).
CONFIG_SET, CONFIG_DELETE = 0, 1
LIST_OFFSETS = 2
# Kafka: replica_id -1 marks a consumer (not a follower) in ListOffsets.
CONSUMER_REPLICA_ID = -1
# ListOffsets v7 is the first to accept MAX_TIMESTAMP (KIP-734).
MAX_TIMESTAMP_MIN_VERSION = 7

T = TypeVar("T")
TopicResults = dict[str, KafkaError | None]
GroupResults = dict[str, KafkaError | None]
# Per-topic answers of a controller request that are retried, as Kafka's admin client does;
# any other error (UNKNOWN_TOPIC_OR_PARTITION for a delete, ...) is that topic's final answer.
_CONTROLLER_RETRIABLE = frozenset({ErrorCode.NOT_CONTROLLER, ErrorCode.THROTTLING_QUOTA_EXCEEDED})


class OffsetSpec(enum.IntEnum):
    """ListOffsets' special timestamps; any value >= 0 is a timestamp in ms."""

    EARLIEST = -2
    LATEST = -1
    MAX_TIMESTAMP = -3


class ConfigResourceType(enum.IntEnum):
    """DescribeConfigs resource types (the protocol's numbers)."""

    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    GROUP = 32


class ConfigSource(enum.IntEnum):
    """Where a config value comes from (DescribeConfigs v1+, KIP-226)."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


@dataclass(frozen=True, slots=True)
class NewTopic:
    """A topic to create.  -1 partitions / replication factor = the broker's defaults.

    ``replica_assignment`` (partition → broker ids) replaces both counts when given.
    """

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    configs: Mapping[str, str] = field(default_factory=dict)
    replica_assignment: Mapping[int, Sequence[int]] | None = None


@dataclass(frozen=True, slots=True)
class PartitionDescription:
    """One partition: leader (-1 if none), leader epoch, replicas, ISR and offline replicas."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TopicDescription:
    """A topic: id (None if the broker sent none), internal flag, partitions by index."""

    name: str
    topic_id: uuid.UUID | None
    is_internal: bool
    partitions: tuple[PartitionDescription, ...]


class ConfigResource(NamedTuple):
    """A DescribeConfigs resource: a topic by name, or a broker by node id (as a string)."""

    type: ConfigResourceType
    name: str


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One config value as described by a broker."""

    name: str
    value: str | None
    read_only: bool
    is_default: bool
    is_sensitive: bool
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ListedOffset:
    """A ListOffsets answer: the offset (-1 if none matched), its timestamp and leader epoch."""

    offset: int
    timestamp: int
    leader_epoch: int


class AdminClient:
    """Topics, configs and offsets over one :class:`~client.cluster.Cluster`.

    ``AdminClient(settings, **kwargs)`` parses an :class:`~client.config.AdminConfig`
    (Kafka keys or Python keywords); use it as an async context manager.
    """

    def __init__(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = AdminConfig.from_settings(settings, **kwargs)
        self.cluster = Cluster(self.config)

    async def __aenter__(self) -> Self:
        """Bootstrap the cluster connection."""
        await self.cluster.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Close every connection."""
        return await self.cluster.__aexit__(exc_type, exc, traceback)

    # -- topics ------------------------------------------------------------------------------

    async def create_topics(
        self,
        topics: Sequence[NewTopic],
        *,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> TopicResults:
        """Create topics (CreateTopics, to the controller).  See the module docstring for errors.

        ``timeout_ms`` is how long the controller may take (default ``request.timeout.ms``).
        """
        by_name = {topic.name: topic for topic in topics}

        def body(names: list[str], version: int) -> dict[str, Any]:
            return {
                "topics": [_creatable(by_name[name]) for name in names],
                "timeout_ms": self._timeout(timeout_ms),
                "validate_only": validate_only,
            }

        return await self._controller_call(
            CREATE_TOPICS, list(by_name), body, _results("topics"), raise_errors
        )

    async def delete_topics(
        self, names: Iterable[str], *, timeout_ms: int | None = None, raise_errors: bool = True
    ) -> TopicResults:
        """Delete topics by name (DeleteTopics, to the controller)."""

        def body(pending: list[str], version: int) -> dict[str, Any]:
            return {
                "topic_names": pending,
                "topics": [{"name": name, "topic_id": ZERO_UUID} for name in pending],
                "timeout_ms": self._timeout(timeout_ms),
            }

        return await self._controller_call(
            DELETE_TOPICS, list(dict.fromkeys(names)), body, _results("responses"), raise_errors
        )

    async def create_partitions(
        self,
        new_totals: Mapping[str, int],
        *,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> TopicResults:
        """Grow topics to ``new_totals[topic]`` partitions (CreatePartitions, to the controller)."""

        def body(names: list[str], version: int) -> dict[str, Any]:
            return {
                "topics": [
                    {"name": name, "count": new_totals[name], "assignments": None} for name in names
                ],
                "timeout_ms": self._timeout(timeout_ms),
                "validate_only": validate_only,
            }

        return await self._controller_call(
            CREATE_PARTITIONS, list(new_totals), body, _results("results"), raise_errors
        )

    async def list_topics(self, *, include_internal: bool = False) -> list[str]:
        """Every topic's name, sorted (Metadata for all topics)."""
        metadata = await self.cluster.refresh_metadata(all_topics=True)
        return sorted(
            name
            for name, topic in metadata.topics.items()
            if include_internal or not topic.is_internal
        )

    async def describe_topics(
        self, names: Iterable[str] | None = None
    ) -> dict[str, TopicDescription]:
        """Partitions (leader, replicas, ISR) of ``names``, or of every topic if None.

        Raises the error of the first topic Metadata reports one for (e.g.
        UnknownTopicOrPartitionError).
        """
        wanted = None if names is None else list(dict.fromkeys(names))
        metadata = await self.cluster.refresh_metadata(wanted, all_topics=wanted is None)
        return describe_topics_from(metadata, wanted)

    async def describe_topic_partitions(
        self, names: Iterable[str] | None = None, *, partition_limit: int = 2000
    ) -> dict[str, TopicDescription]:
        """As :meth:`describe_topics`, with DescribeTopicPartitions (key 75, KIP-966; what
        Kafka's own admin client uses): answers of at most ``partition_limit`` partitions
        each, paged with the broker's cursor until done.  Topics come sorted by name;
        raises the first topic error (e.g. UnknownTopicOrPartitionError)."""
        wanted = [] if names is None else sorted(set(names))
        described: dict[str, TopicDescription] = {}
        cursor: dict[str, Any] | None = None
        while True:
            body = {
                "topics": [{"name": name} for name in wanted],
                "response_partition_limit": partition_limit,
                "cursor": cursor,
            }

            async def attempt(body: dict[str, Any] = body) -> Container:
                connection = await self.cluster.any_connection()
                version = connection.pick_version(DESCRIBE_TOPIC_PARTITIONS)
                return await connection.send(DESCRIBE_TOPIC_PARTITIONS, body, version=version)

            response = await self.cluster.retrying(
                attempt, timeout_ms=self.config.default_api_timeout_ms
            )
            cursor = merge_topic_partitions_page(described, response)
            if cursor is None:
                return described

    # -- configs -----------------------------------------------------------------------------

    async def alter_topic_configs(
        self,
        changes: Mapping[str, Mapping[str, str | None]],
        *,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> TopicResults:
        """Change topic configs (IncrementalAlterConfigs, to the controller): per topic,
        key -> new value, or None to delete the override (the default applies again); keys
        not named keep their values.  See the module docstring for errors."""

        def body(names: list[str], version: int) -> dict[str, Any]:
            return {
                "resources": [
                    {
                        "resource_type": int(ConfigResourceType.TOPIC),
                        "resource_name": name,
                        "configs": [_alterable(key, value) for key, value in changes[name].items()],
                    }
                    for name in names
                ],
                "validate_only": validate_only,
            }

        def results_of(response: Container) -> Iterable[tuple[str, int, str | None]]:
            for result in response.responses:
                yield result.resource_name, result.error_code, result.error_message

        return await self._controller_call(
            INCREMENTAL_ALTER_CONFIGS, list(changes), body, results_of, raise_errors
        )

    async def alter_broker_configs(
        self,
        broker: int | None,
        changes: Mapping[str, str | None],
        *,
        validate_only: bool = False,
    ) -> None:
        """Change dynamic broker configs (IncrementalAlterConfigs, KIP-226): of one broker
        (sent to it), or with ``broker`` None the cluster default (sent to any broker).  Per
        key: the new value, or None to delete it; keys not named keep their values.  Raises
        the resource's error (INVALID_REQUEST for a key that is not dynamic)."""
        resource = ConfigResource(ConfigResourceType.BROKER, "" if broker is None else str(broker))
        await self.alter_configs(resource, changes, validate_only=validate_only)

    async def alter_configs(
        self,
        resource: ConfigResource,
        changes: Mapping[str, str | None],
        *,
        validate_only: bool = False,
    ) -> None:
        """IncrementalAlterConfigs of one resource: per key the new value, or None to delete
        it.  A broker's configs or loggers go to that broker, others to the controller (as
        Kafka's admin client routes them).  Raises the resource's error."""
        body = {
            "resources": [
                {
                    "resource_type": int(resource.type),
                    "resource_name": resource.name,
                    "configs": [_alterable(key, value) for key, value in changes.items()],
                }
            ],
            "validate_only": validate_only,
        }

        def result(response: Container) -> Container:
            (only,) = response.responses
            return only

        await self._one_answer(
            functools.partial(self._config_connection, resource),
            INCREMENTAL_ALTER_CONFIGS,
            body,
            result,
            f"{resource.type.name.lower()} {resource.name!r} configs",
        )

    async def _config_connection(self, resource: ConfigResource) -> Connection:
        """Where a config request for ``resource`` goes: a broker's (or its loggers') to that
        broker, the others to the controller."""
        per_broker = (ConfigResourceType.BROKER, ConfigResourceType.BROKER_LOGGER)
        if resource.type in per_broker and resource.name.isdigit():
            return await self.cluster.connection_to(int(resource.name))
        return await self.cluster.controller_connection()

    async def describe_features(self) -> FeatureMetadata:
        """The supported and finalized feature levels (ApiVersions v3 at any broker, as
        ``kafka-features describe``); UnsupportedVersionError before ApiVersions v3."""

        async def attempt() -> FeatureMetadata:
            connection = await self.cluster.any_connection()
            version = connection.pick_version(
                feature_admin.API_VERSIONS, feature_admin.FEATURES_MIN_VERSION
            )
            body = {"client_software_name": "odradek", "client_software_version": "0"}
            response = await connection.send(feature_admin.API_VERSIONS, body, version=version)
            return feature_admin.read_features(response)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def update_features(
        self,
        levels: Mapping[str, int],
        *,
        upgrade_type: UpgradeType = UpgradeType.UPGRADE,
        validate_only: bool = False,
    ) -> None:
        """UpdateFeatures (``kafka-features upgrade|downgrade|disable``): set each feature's
        finalized level (0 disables it).  The cluster applies all or none; raises the
        error (e.g. InvalidUpdateVersionError)."""
        body = feature_admin.update_body(
            levels, upgrade_type, validate_only, self.config.request_timeout_ms
        )
        await self._one_answer(
            self.cluster.controller_connection,
            feature_admin.UPDATE_FEATURES,
            body,
            feature_admin.first_error,
            ", ".join(levels),
        )

    async def unregister_broker(self, broker_id: int) -> None:
        """UnregisterBroker (``kafka-cluster unregister``): the broker's registration leaves
        the cluster metadata (after it was decommissioned).  Raises the error, e.g.
        BROKER_ID_NOT_REGISTERED."""

        await self._one_answer(
            self.cluster.controller_connection,
            UNREGISTER_BROKER,
            {"broker_id": broker_id},
            lambda response: response,
            f"broker {broker_id}",
        )

    async def _one_answer(
        self,
        connect: Callable[[], Awaitable[Any]],
        api_key: int,
        body: dict[str, Any],
        result: Callable[[Container], Container],
        what: str,
    ) -> None:
        """Send a one-result request where ``connect`` says; retry what the controller
        calls retriable, raise any other error of the result (its ``error_code`` and
        ``error_message``)."""

        async def attempt() -> KafkaError | None:
            connection = await connect()
            version = connection.pick_version(api_key)
            answer = result(await connection.send(api_key, body, version=version))
            if answer.error_code == ErrorCode.NONE:
                return None
            error = error_for(answer.error_code, answer.error_message or what)
            if answer.error_code in _CONTROLLER_RETRIABLE:
                raise error
            return error  # the answer: not retried

        refused = await self.cluster.retrying(
            attempt, timeout_ms=self.config.default_api_timeout_ms
        )
        if refused is not None:
            raise refused

    async def describe_configs(
        self, resources: Iterable[ConfigResource], *, keys: Sequence[str] | None = None
    ) -> dict[ConfigResource, dict[str, ConfigEntry]]:
        """Configs of topics and brokers (DescribeConfigs); ``keys`` limits them.

        A broker resource goes to that broker, others to the controller.  Raises the first
        resource's error.
        """
        described: dict[ConfigResource, dict[str, ConfigEntry]] = {}
        for resource in dict.fromkeys(resources):
            outcome = await self.cluster.retrying(
                functools.partial(self._describe_config, resource, keys),
                timeout_ms=self.config.default_api_timeout_ms,
            )
            if isinstance(outcome, KafkaError):
                raise outcome
            described[resource] = outcome
        return described

    async def _describe_config(
        self, resource: ConfigResource, keys: Sequence[str] | None
    ) -> dict[str, ConfigEntry] | KafkaError:
        """One resource's configs, or its error code's exception.

        A per-resource error is the answer (returned, not raised, so it is not retried), as in
        Kafka's admin client; only failures to get an answer are retried.
        """
        connection = await self._config_connection(resource)
        version = connection.pick_version(DESCRIBE_CONFIGS)
        body = {
            "resources": [
                {
                    "resource_type": int(resource.type),
                    "resource_name": resource.name,
                    "configuration_keys": None if keys is None else list(keys),
                }
            ],
            "include_synonyms": False,
            "include_documentation": False,
        }
        response = await connection.send(DESCRIBE_CONFIGS, body, version=version)
        (result,) = response.results
        if result.error_code != ErrorCode.NONE:
            return error_for(result.error_code, result.error_message or f"{resource}")
        return {entry.name: _config_entry(entry) for entry in result.configs}

    # -- offsets -----------------------------------------------------------------------------

    async def list_offsets(
        self, specs: Mapping[TopicPartition, int], *, isolation_level: int = 0
    ) -> dict[TopicPartition, ListedOffset]:
        """See :func:`list_offsets`; retried until ``default.api.timeout.ms``."""
        return await list_offsets(
            self.cluster,
            specs,
            isolation_level=isolation_level,
            timeout_ms=self.config.default_api_timeout_ms,
        )

    # -- consumer groups ---------------------------------------------------------------------

    async def list_groups(self, *, states: Iterable[str] | None = None) -> list[ListedGroup]:
        """Every group of every broker, sorted by id (ListGroups to each broker, as each lists
        the groups it coordinates).  ``states`` ("Stable", "Empty", ...; KIP-518, v4+) keeps
        only groups in those states.  Raises the first broker's error."""
        wanted = None if states is None else list(states)

        async def attempt() -> list[ListedGroup]:
            metadata = await self.cluster.refresh_metadata()
            listings = []
            for node_id in sorted(metadata.brokers):
                connection = await self.cluster.connection_to(node_id)
                version = connection.pick_version(LIST_GROUPS, list_groups_min_version(wanted))
                response = await connection.send(
                    LIST_GROUPS, list_groups_body(wanted), version=version
                )
                listings.append(read_list_groups(response, connection.address))
            return merge_listings(listings)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        """State, protocol and members (client id, host, decoded assignment) of each group, in
        order (DescribeGroups to each group's coordinator).  Raises the first group's error:
        GroupIdNotFoundError for a group the coordinator does not know."""
        return {
            group_id: await self._at_coordinator(describe_group_request(group_id))
            for group_id in dict.fromkeys(group_ids)
        }

    async def delete_groups(
        self, group_ids: Iterable[str], *, raise_errors: bool = True
    ) -> GroupResults:
        """Delete groups with no members, and their committed offsets (DeleteGroups to each
        group's coordinator, KIP-229).  Errors as for topics (module docstring):
        GroupIdNotFoundError, NonEmptyGroupError (the group has members), ..."""
        results = {
            group_id: await self._at_coordinator(delete_group_request(group_id))
            for group_id in dict.fromkeys(group_ids)
        }
        failed = [error for error in results.values() if error is not None]
        if raise_errors and failed:
            raise failed[0]
        return results

    async def delete_group_offsets(
        self,
        group_id: str,
        partitions: Iterable[TopicPartition],
        *,
        raise_errors: bool = True,
    ) -> dict[TopicPartition, KafkaError | None]:
        """Delete the group's committed offsets of ``partitions`` (OffsetDelete to its
        coordinator, KIP-496; ``kafka-consumer-groups --delete-offsets``).  A group with members
        keeps the offsets of topics they subscribe to: GroupSubscribedToTopicError for those
        partitions; a partition with no commit is answered None like a deleted one.  The
        group's own error is always raised (GroupIdNotFoundError; NonEmptyGroupError for a
        non-consumer group with members); partition errors are raised (the first) unless
        ``raise_errors`` is False, when they are returned, None meaning deleted."""
        results = await self._at_coordinator(offset_delete_request(group_id, partitions))
        failed = [error for error in results.values() if error is not None]
        if raise_errors and failed:
            raise failed[0]
        return results

    async def list_group_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        """Every committed offset of the group, sorted by partition (OffsetFetch, null topics,
        to its coordinator).  A group without commits, or unknown, has none: ``{}``."""
        return await self._at_coordinator(offset_fetch_request(group_id))

    async def group_lag(self, group_id: str) -> dict[TopicPartition, PartitionLag]:
        """Committed offset, high watermark and lag of every partition the group committed or
        has assigned (see :class:`~client.admin_groups.PartitionLag`), sorted.

        The high watermark is ListOffsets LATEST (read_uncommitted) from each leader, as in
        Kafka's ``kafka-consumer-groups --describe``.  Raises GroupIdNotFoundError for an
        unknown group.
        """
        assigned = assigned_partitions((await self.describe_groups([group_id]))[group_id])
        committed = await self.list_group_offsets(group_id)
        partitions = set(committed) | set(assigned)
        metadata = await self.cluster.refresh_metadata({tp.topic for tp in partitions})
        led = led_partitions(metadata, partitions)
        latest = await self.list_offsets(dict.fromkeys(led, OffsetSpec.LATEST)) if led else {}
        high_watermarks = {tp: listed.offset for tp, listed in latest.items()}
        return lag_from(committed, assigned, high_watermarks)

    # -- reassignments (KIP-455) -------------------------------------------------------------

    async def alter_partition_reassignments(
        self, reassignments: Mapping[TopicPartition, Sequence[int] | None]
    ) -> dict[TopicPartition, KafkaError | None]:
        """Move partitions to new replica lists (None cancels an ongoing move), at the
        controller: each partition's error (None: accepted; InvalidReplicaAssignmentError,
        NoReassignmentInProgressError, UnknownTopicOrPartitionError...).  The move goes on in
        the cluster: :meth:`list_partition_reassignments` shows it until it completes."""
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for tp, replicas in reassignments.items():
            entry = {
                "partition_index": tp.partition,
                "replicas": None if replicas is None else list(replicas),
            }
            by_topic.setdefault(tp.topic, []).append(entry)
        body = {
            "timeout_ms": self.config.request_timeout_ms,
            "allow_replication_factor_change": True,
            "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()],
        }

        async def attempt() -> dict[TopicPartition, KafkaError | None]:
            connection = await self.cluster.controller_connection()
            response = await connection.send(ALTER_PARTITION_REASSIGNMENTS, body)
            if response.error_code != ErrorCode.NONE:
                raise error_for(response.error_code, response.error_message or "reassignment")
            results: dict[TopicPartition, KafkaError | None] = {}
            for topic in response.responses:
                for p in topic.partitions:
                    tp = TopicPartition(topic.name, p.partition_index)
                    results[tp] = (
                        None
                        if p.error_code == ErrorCode.NONE
                        else error_for(
                            p.error_code, p.error_message or f"{tp.topic}-{tp.partition}"
                        )
                    )
            return results

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def list_partition_reassignments(
        self, partitions: Iterable[TopicPartition] | None = None
    ) -> dict[TopicPartition, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        """The ongoing reassignments (of ``partitions``, or all): partition -> (replicas,
        adding replicas, removing replicas), sorted."""
        topics = None
        if partitions is not None:
            by_topic: dict[str, list[int]] = {}
            for tp in partitions:
                by_topic.setdefault(tp.topic, []).append(tp.partition)
            topics = [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]
        body = {"timeout_ms": self.config.request_timeout_ms, "topics": topics}

        async def attempt() -> dict[
            TopicPartition, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
        ]:
            connection = await self.cluster.controller_connection()
            response = await connection.send(LIST_PARTITION_REASSIGNMENTS, body)
            if response.error_code != ErrorCode.NONE:
                raise error_for(response.error_code, response.error_message or "reassignments")
            return dict(
                sorted(
                    (
                        TopicPartition(topic.name, p.partition_index),
                        (
                            tuple(p.replicas),
                            tuple(p.adding_replicas),
                            tuple(p.removing_replicas),
                        ),
                    )
                    for topic in response.topics
                    for p in topic.partitions
                )
            )

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def alter_user_scram_credentials(
        self,
        upsertions: Iterable[ScramUpsertion] = (),
        deletions: Iterable[tuple[str, str]] = (),
    ) -> dict[str, KafkaError | None]:
        """Set (``ScramUpsertion(user, "SCRAM-SHA-256", password)``) or delete ((user,
        mechanism)) users' SCRAM credentials (KIP-554): user -> None or its error."""
        body = scram_admin.alter_body(upsertions, deletions)

        async def attempt() -> dict[str, KafkaError | None]:
            connection = await self.cluster.controller_connection()
            response = await connection.send(scram_admin.ALTER_USER_SCRAM_CREDENTIALS, body)
            return scram_admin.alter_results(response)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def describe_client_quotas(
        self, components: Iterable[QuotaFilterComponent] = (), strict: bool = False
    ) -> dict[QuotaEntityKey, dict[str, float]]:
        """The quotas of the entities matching the filter (KIP-546; no components: all):
        ``((type, name or None for the default), ...)`` -> {quota key: value}."""
        body = quota_admin.describe_body(components, strict)

        async def attempt() -> dict[QuotaEntityKey, dict[str, float]]:
            connection = await self.cluster.controller_connection()
            response = await connection.send(quota_admin.DESCRIBE_CLIENT_QUOTAS, body)
            return quota_admin.describe_results(response)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def alter_client_quotas(
        self, alterations: Iterable[ClientQuotaAlteration], validate_only: bool = False
    ) -> dict[QuotaEntityKey, KafkaError | None]:
        """Set or remove quotas (``ClientQuotaAlteration({"client-id": "app"},
        {"producer_byte_rate": 1048576})``): entity -> None or its error."""
        body = quota_admin.alter_body(alterations, validate_only)

        async def attempt() -> dict[QuotaEntityKey, KafkaError | None]:
            connection = await self.cluster.controller_connection()
            response = await connection.send(quota_admin.ALTER_CLIENT_QUOTAS, body)
            return quota_admin.alter_results(response)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def describe_user_scram_credentials(
        self, users: Iterable[str] | None = None
    ) -> dict[str, tuple[ScramCredentialInfo, ...]]:
        """The SCRAM mechanisms and iteration counts of ``users`` (None: every user with a
        credential); a named user without any raises ResourceNotFoundError."""
        body = scram_admin.describe_body(users)

        async def attempt() -> dict[str, tuple[ScramCredentialInfo, ...]]:
            connection = await self.cluster.controller_connection()
            response = await connection.send(scram_admin.DESCRIBE_USER_SCRAM_CREDENTIALS, body)
            return scram_admin.describe_results(response)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    # -- ACLs --------------------------------------------------------------------------------

    async def describe_acls(
        self, acl_filter: AclBindingFilter = AclBindingFilter.ANY
    ) -> list[AclBinding]:
        """The ACL bindings matching ``acl_filter`` (DescribeAcls, to any broker; default:
        every binding).  Raises SecurityDisabledError without an authorizer,
        ClusterAuthorizationFailedError without DESCRIBE on the cluster."""
        return await self._acl_call(acl_admin.describe_request(acl_filter))

    async def create_acls(
        self, bindings: Iterable[AclBinding], *, raise_errors: bool = True
    ) -> dict[AclBinding, KafkaError | None]:
        """Add ACL bindings (CreateAcls, to any broker, which forwards to the controller);
        a binding that exists already is no error.  Binding -> None or its refusal (e.g.
        InvalidRequestError, SecurityDisabledError); the first refusal is raised (after the
        whole request: the other bindings may have been created) unless ``raise_errors`` is
        False."""
        creations = list(bindings)
        if not creations:
            return {}
        outcomes = await self._acl_call(acl_admin.create_request(creations))
        if raise_errors:
            acl_admin.raise_first(outcomes)
        return outcomes

    async def delete_acls(
        self, filters: Iterable[AclBindingFilter]
    ) -> dict[AclBindingFilter, list[AclBinding]]:
        """Remove the bindings each filter matches (DeleteAcls, to any broker, which forwards
        to the controller): filter -> the bindings it removed.  A filter's refusal is raised
        (the first; the other filters' bindings are removed all the same)."""
        wanted = list(filters)
        if not wanted:
            return {}
        return await self._acl_call(acl_admin.delete_request(wanted))

    async def _acl_call(self, request: AclRequest[T]) -> T:
        """``request`` at the least loaded broker, retried until ``default.api.timeout.ms``."""

        async def attempt() -> T:
            connection = await self.cluster.any_connection()
            version = connection.pick_version(request.api_key, request.min_version)
            response = await connection.send(request.api_key, request.body, version=version)
            return request.read(response)

        return await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    async def _at_coordinator(self, request: CoordinatorRequest[T]) -> T:
        """See :func:`coordinator_call`; retried until ``default.api.timeout.ms``."""
        return await coordinator_call(
            self.cluster, request, timeout_ms=self.config.default_api_timeout_ms
        )

    # -- helpers -----------------------------------------------------------------------------

    def _timeout(self, timeout_ms: int | None) -> int:
        return self.config.request_timeout_ms if timeout_ms is None else timeout_ms

    async def _controller_call(
        self,
        api_key: int,
        names: list[str],
        body: Callable[[list[str], int], dict[str, Any]],
        results_of: Callable[[Container], Iterable[tuple[str, int, str | None]]],
        raise_errors: bool,
    ) -> TopicResults:
        """Send a per-topic request to the controller; retry the topics that failed retriably."""
        results: TopicResults = {}
        pending = list(names)

        async def attempt() -> None:
            connection = await self.cluster.controller_connection()
            version = connection.pick_version(api_key)
            response = await connection.send(api_key, body(pending, version), version=version)
            retry: KafkaError | None = None
            for name, code, message in results_of(response):
                if name not in pending:
                    continue
                error = None if code == ErrorCode.NONE else error_for(code, message)
                if code in _CONTROLLER_RETRIABLE:
                    retry = error
                    continue
                results[name] = error
                pending.remove(name)
            if retry is not None:
                raise retry
            if pending:
                raise NotControllerError(f"no answer for {pending} from {connection.address}")

        if pending:
            try:
                await self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)
            except KafkaError as final:
                results.update((name, final) for name in pending)
        ordered = {name: results[name] for name in names}
        failed = [outcome for outcome in ordered.values() if outcome is not None]
        if raise_errors and failed:
            raise failed[0]
        return ordered


async def coordinator_call(
    cluster: Cluster, request: CoordinatorRequest[T], *, timeout_ms: int
) -> T:
    """Send ``request`` to its group's coordinator and read the answer.

    Each attempt asks any broker for the coordinator (FindCoordinator, key type group), so a
    moved coordinator (NOT_COORDINATOR), one still loading its partition
    (COORDINATOR_LOAD_IN_PROGRESS) or none elected yet (COORDINATOR_NOT_AVAILABLE) is retried
    with backoff until ``timeout_ms``.
    """

    async def attempt() -> T:
        connection = await cluster.any_connection()
        body = find_coordinator_body(request.group_id)
        answer = await connection.send(FIND_COORDINATOR, body)
        coordinator = await cluster.connection_to(read_find_coordinator(answer, request.group_id))
        version = coordinator.pick_version(request.api_key, request.min_version)
        response = await coordinator.send(request.api_key, request.body, version=version)
        return request.read(response)

    return await cluster.retrying(attempt, timeout_ms=timeout_ms)


async def list_offsets(
    cluster: Cluster,
    specs: Mapping[TopicPartition, int],
    *,
    isolation_level: int = 0,
    timeout_ms: int,
) -> dict[TopicPartition, ListedOffset]:
    """Offsets by :class:`OffsetSpec` or timestamp (ms), asking each partition's leader.

    Kafka's semantics: EARLIEST is the log start offset, LATEST the log end offset (the last
    stable offset with ``isolation_level=1``), a timestamp the first offset whose timestamp is
    >= it (offset -1 if none), MAX_TIMESTAMP the record with the largest timestamp (v7+).
    Leaders are asked concurrently; partitions failing retriably (NOT_LEADER_OR_FOLLOWER, ...)
    are retried after a metadata refresh until ``timeout_ms``; the first non-retriable error is
    raised.  Also used by the consumer to resolve ``auto.offset.reset``.
    """
    results: dict[TopicPartition, ListedOffset] = {}
    pending = dict(specs)

    async def attempt() -> None:
        by_leader: dict[int, list[TopicPartition]] = {}
        for tp in pending:
            leader = await cluster.leader_for(tp.topic, tp.partition)
            by_leader.setdefault(leader.node_id, []).append(tp)
        errors: list[KafkaError] = []
        async with anyio.create_task_group() as task_group:
            for node_id, partitions in by_leader.items():
                task_group.start_soon(_list_offsets_at, cluster, node_id, partitions, errors)
        if errors:
            # A non-retriable error wins: retrying cannot fix it.
            raise min(errors, key=lambda error: error.retriable)

    async def _list_offsets_at(
        cluster: Cluster, node_id: int, partitions: list[TopicPartition], errors: list[KafkaError]
    ) -> None:
        try:
            answered = await _list_offsets_request(
                cluster, node_id, {tp: pending[tp] for tp in partitions}, isolation_level
            )
        except KafkaError as error:
            errors.append(error)
            return
        for tp, outcome in answered.items():
            if isinstance(outcome, KafkaError):
                errors.append(outcome)
            else:
                results[tp] = outcome
                pending.pop(tp, None)

    if pending:
        await cluster.retrying(attempt, timeout_ms=timeout_ms)
    return {tp: results[tp] for tp in specs}


async def _list_offsets_request(
    cluster: Cluster, node_id: int, specs: Mapping[TopicPartition, int], isolation_level: int
) -> dict[TopicPartition, ListedOffset | KafkaError]:
    connection = await cluster.connection_to(node_id)
    version = connection.pick_version(LIST_OFFSETS, list_offsets_min_version(specs))
    body = list_offsets_body(cluster.metadata, specs, isolation_level)
    response = await connection.send(LIST_OFFSETS, body, version=version)
    return read_list_offsets(response)


def list_offsets_min_version(specs: Mapping[TopicPartition, int]) -> int | None:
    """The lowest ListOffsets version the specs need (v7 for MAX_TIMESTAMP), else None."""
    needs_max = any(spec == OffsetSpec.MAX_TIMESTAMP for spec in specs.values())
    return MAX_TIMESTAMP_MIN_VERSION if needs_max else None


def list_offsets_body(
    metadata: ClusterMetadata, specs: Mapping[TopicPartition, int], isolation_level: int
) -> dict[str, Any]:
    """A ListOffsets request body for one leader's partitions (sans-IO; the blocking client
    shares it).  Each partition carries its leader epoch from ``metadata`` (KIP-320)."""
    topics: dict[str, list[dict[str, int]]] = {}
    for tp, spec in specs.items():
        state = metadata.partition(tp.topic, tp.partition)
        epoch = -1 if state is None else state.leader_epoch
        topics.setdefault(tp.topic, []).append(
            {"partition_index": tp.partition, "current_leader_epoch": epoch, "timestamp": int(spec)}
        )
    return {
        "replica_id": CONSUMER_REPLICA_ID,
        "isolation_level": isolation_level,
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }


def read_list_offsets(response: Container) -> dict[TopicPartition, ListedOffset | KafkaError]:
    """Per partition, the answer of a ListOffsets response, or its error code's exception."""
    answered: dict[TopicPartition, ListedOffset | KafkaError] = {}
    for topic in response.topics:
        for partition in topic.partitions:
            tp = TopicPartition(topic.name, partition.partition_index)
            if partition.error_code != ErrorCode.NONE:
                answered[tp] = error_for(partition.error_code, f"ListOffsets {tp}")
                continue
            answered[tp] = ListedOffset(
                offset=partition.offset,
                timestamp=partition.timestamp,
                leader_epoch=partition.leader_epoch,
            )
    return answered


def describe_topics_from(
    metadata: ClusterMetadata, wanted: Sequence[str] | None
) -> dict[str, TopicDescription]:
    """:meth:`AdminClient.describe_topics` from a fresh snapshot (sans-IO; the blocking client
    shares it): ``wanted`` in order, or every topic sorted; the first topic error is raised."""
    described: dict[str, TopicDescription] = {}
    for name in wanted if wanted is not None else sorted(metadata.topics):
        topic = metadata.topics.get(name)
        if topic is None:
            code = metadata.topic_errors.get(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            raise error_for(code, f"topic {name!r}")
        described[name] = TopicDescription(
            name=name,
            topic_id=metadata.topic_id(name),
            is_internal=topic.is_internal,
            partitions=tuple(
                PartitionDescription(
                    partition=state.partition,
                    leader=state.leader,
                    leader_epoch=state.leader_epoch,
                    replicas=state.replicas,
                    isr=state.isr,
                    offline_replicas=state.offline_replicas,
                )
                for state in (topic.partitions[index] for index in topic.partition_ids())
            ),
        )
    return described


def merge_topic_partitions_page(
    described: dict[str, TopicDescription], response: Container
) -> dict[str, Any] | None:
    """Add a DescribeTopicPartitions answer's topics to ``described`` (a topic split over
    two pages gets the partitions of both); the cursor of the next page, None at the end.
    Raises the first topic error."""
    for topic in response.topics:
        if topic.error_code != ErrorCode.NONE:
            raise error_for(topic.error_code, f"topic {topic.name!r}")
        partitions = tuple(
            PartitionDescription(
                partition=entry.partition_index,
                leader=entry.leader_id,
                leader_epoch=entry.leader_epoch,
                replicas=tuple(entry.replica_nodes),
                isr=tuple(entry.isr_nodes),
                offline_replicas=tuple(entry.offline_replicas),
            )
            for entry in topic.partitions
        )
        earlier = described.get(topic.name)
        described[topic.name] = TopicDescription(
            name=topic.name,
            topic_id=None if topic.topic_id == ZERO_UUID else topic.topic_id,
            is_internal=topic.is_internal,
            partitions=(earlier.partitions if earlier is not None else ()) + partitions,
        )
    cursor = response.next_cursor
    if cursor is None:
        return None
    return {"topic_name": cursor.topic_name, "partition_index": cursor.partition_index}


def _creatable(topic: NewTopic) -> dict[str, Any]:
    assignment = topic.replica_assignment
    return {
        "name": topic.name,
        "num_partitions": -1 if assignment else topic.num_partitions,
        "replication_factor": -1 if assignment else topic.replication_factor,
        "assignments": [
            {"partition_index": index, "broker_ids": list(brokers)}
            for index, brokers in sorted((assignment or {}).items())
        ],
        "configs": [{"name": name, "value": value} for name, value in topic.configs.items()],
    }


def _alterable(key: str, value: str | None) -> dict[str, Any]:
    """One IncrementalAlterConfigs entry: SET ``value``, or DELETE when it is None."""
    operation = CONFIG_SET if value is not None else CONFIG_DELETE
    return {"name": key, "config_operation": operation, "value": value}


def _results(field_name: str) -> Callable[[Container], Iterable[tuple[str, int, str | None]]]:
    """Reads (name, error code, error message) from a per-topic response array."""

    def read(response: Container) -> Iterable[tuple[str, int, str | None]]:
        for result in response[field_name]:
            yield result.name, result.error_code, result.get("error_message")

    return read


def _config_entry(entry: Container) -> ConfigEntry:
    raw_source = entry.get("config_source", -1)
    if raw_source == -1:  # v0: only is_default
        is_default = bool(entry.get("is_default", False))
        source = ConfigSource.DEFAULT_CONFIG if is_default else ConfigSource.UNKNOWN
    else:
        known = raw_source in ConfigSource.__members__.values()
        source = ConfigSource(raw_source) if known else ConfigSource.UNKNOWN
        is_default = source == ConfigSource.DEFAULT_CONFIG
    return ConfigEntry(
        name=entry.name,
        value=entry.value,
        read_only=entry.read_only,
        is_default=is_default,
        is_sensitive=entry.is_sensitive,
        source=source,
    )
