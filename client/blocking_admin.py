"""The blocking admin client: topics, offsets, groups and ACLs over a :class:`BlockingCluster`.

::

    with AdminClient(bootstrap_servers="127.0.0.1:9092") as admin:
        admin.create_topics([NewTopic("events", num_partitions=3, replication_factor=1)])
        admin.describe_topics(["events"])

The same calls, routing, retries and per-item error rules as the async
:class:`client.admin.AdminClient` (see its module docstring), as plain methods; request bodies
and answers are built and read by the same functions of :mod:`client.admin` and
:mod:`client.admin_groups` (and of :mod:`client.quota_admin`, :mod:`client.scram_admin`,
:mod:`client.acl_admin`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self, TypeVar

from construct import Container

from client import acl_admin, quota_admin, scram_admin
from client.acl_admin import AclBinding, AclBindingFilter, AclRequest
from client.admin import (
    _CONTROLLER_RETRIABLE,
    CREATE_PARTITIONS,
    CREATE_TOPICS,
    DELETE_TOPICS,
    LIST_OFFSETS,
    GroupResults,
    ListedOffset,
    NewTopic,
    OffsetSpec,
    TopicDescription,
    TopicResults,
    _creatable,
    _results,
    describe_topics_from,
    list_offsets_body,
    list_offsets_min_version,
    read_list_offsets,
)
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
from client.blocking_cluster import BlockingCluster
from client.blocking_connection import PendingRequest
from client.config import AdminConfig
from client.errors import KafkaError, NotControllerError, error_for
from client.group import OffsetAndMetadata
from client.metadata import ZERO_UUID, TopicPartition
from client.protocol.errors import ErrorCode
from client.quota_admin import ClientQuotaAlteration, QuotaEntityKey, QuotaFilterComponent
from client.scram_admin import ScramCredentialInfo, ScramUpsertion

__all__ = [
    "AdminClient",
    "GroupDescription",
    "ListedGroup",
    "ListedOffset",
    "NewTopic",
    "OffsetAndMetadata",
    "OffsetSpec",
    "PartitionLag",
    "list_offsets",
]

T = TypeVar("T")


class AdminClient:
    """Topics and offsets, blocking.  ``AdminClient(settings, **kwargs)`` parses an
    :class:`~client.config.AdminConfig` and bootstraps; use it as a context manager or call
    :meth:`close`."""

    def __init__(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = AdminConfig.from_settings(settings, **kwargs)
        self.cluster = BlockingCluster(self.config)
        self.cluster.__enter__()

    def __enter__(self) -> Self:
        """The admin client (already connected)."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close every connection."""
        self.close()

    def close(self) -> None:
        """Close every connection.  Idempotent."""
        self.cluster.close()

    # -- topics ------------------------------------------------------------------------------

    def create_topics(
        self,
        topics: Sequence[NewTopic],
        *,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> TopicResults:
        """Create topics (CreateTopics, to the controller); errors as the async call's."""
        by_name = {topic.name: topic for topic in topics}

        def body(names: list[str]) -> dict[str, Any]:
            return {
                "topics": [_creatable(by_name[name]) for name in names],
                "timeout_ms": self._timeout(timeout_ms),
                "validate_only": validate_only,
            }

        return self._controller_call(
            CREATE_TOPICS, list(by_name), body, _results("topics"), raise_errors
        )

    def delete_topics(
        self, names: Iterable[str], *, timeout_ms: int | None = None, raise_errors: bool = True
    ) -> TopicResults:
        """Delete topics by name (DeleteTopics, to the controller)."""

        def body(pending: list[str]) -> dict[str, Any]:
            return {
                "topic_names": pending,
                "topics": [{"name": name, "topic_id": ZERO_UUID} for name in pending],
                "timeout_ms": self._timeout(timeout_ms),
            }

        return self._controller_call(
            DELETE_TOPICS, list(dict.fromkeys(names)), body, _results("responses"), raise_errors
        )

    def create_partitions(
        self,
        new_totals: Mapping[str, int],
        *,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> TopicResults:
        """Grow topics to ``new_totals[topic]`` partitions (CreatePartitions)."""

        def body(names: list[str]) -> dict[str, Any]:
            return {
                "topics": [
                    {"name": name, "count": new_totals[name], "assignments": None} for name in names
                ],
                "timeout_ms": self._timeout(timeout_ms),
                "validate_only": validate_only,
            }

        return self._controller_call(
            CREATE_PARTITIONS, list(new_totals), body, _results("results"), raise_errors
        )

    def list_topics(self, *, include_internal: bool = False) -> list[str]:
        """Every topic's name, sorted (Metadata for all topics)."""
        metadata = self.cluster.refresh_metadata(all_topics=True)
        return sorted(
            name
            for name, topic in metadata.topics.items()
            if include_internal or not topic.is_internal
        )

    def describe_topics(self, names: Iterable[str] | None = None) -> dict[str, TopicDescription]:
        """Partitions (leader, replicas, ISR) of ``names``, or of every topic if None; raises
        the first topic error (e.g. UnknownTopicOrPartitionError)."""
        wanted = None if names is None else list(dict.fromkeys(names))
        metadata = self.cluster.refresh_metadata(wanted, all_topics=wanted is None)
        return describe_topics_from(metadata, wanted)

    # -- offsets -----------------------------------------------------------------------------

    def list_offsets(
        self, specs: Mapping[TopicPartition, int], *, isolation_level: int = 0
    ) -> dict[TopicPartition, ListedOffset]:
        """See :func:`list_offsets`; retried until ``default.api.timeout.ms``."""
        return list_offsets(
            self.cluster,
            specs,
            isolation_level=isolation_level,
            timeout_ms=self.config.default_api_timeout_ms,
        )

    # -- consumer groups ---------------------------------------------------------------------

    def list_groups(self, *, states: Iterable[str] | None = None) -> list[ListedGroup]:
        """Every group of every broker, sorted by id; ``states`` filters (ListGroups v4+)."""
        wanted = None if states is None else list(states)

        def attempt() -> list[ListedGroup]:
            metadata = self.cluster.refresh_metadata()
            listings = []
            for node_id in sorted(metadata.brokers):
                connection = self.cluster.connection_to(node_id)
                version = connection.pick_version(LIST_GROUPS, list_groups_min_version(wanted))
                response = connection.send(LIST_GROUPS, list_groups_body(wanted), version=version)
                listings.append(read_list_groups(response, connection.address))
            return merge_listings(listings)

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        """State, protocol and members of each group, in order; raises the first group's error
        (GroupIdNotFoundError for an unknown group)."""
        return {
            group_id: self._at_coordinator(describe_group_request(group_id))
            for group_id in dict.fromkeys(group_ids)
        }

    def delete_groups(self, group_ids: Iterable[str], *, raise_errors: bool = True) -> GroupResults:
        """Delete empty groups and their offsets; group → None or its error (NonEmptyGroupError,
        GroupIdNotFoundError, ...), the first raised unless ``raise_errors`` is False."""
        results = {
            group_id: self._at_coordinator(delete_group_request(group_id))
            for group_id in dict.fromkeys(group_ids)
        }
        failed = [error for error in results.values() if error is not None]
        if raise_errors and failed:
            raise failed[0]
        return results

    def delete_group_offsets(
        self,
        group_id: str,
        partitions: Iterable[TopicPartition],
        *,
        raise_errors: bool = True,
    ) -> dict[TopicPartition, KafkaError | None]:
        """Delete the group's committed offsets of ``partitions``; see the async
        :meth:`client.admin.AdminClient.delete_group_offsets`."""
        results = self._at_coordinator(offset_delete_request(group_id, partitions))
        failed = [error for error in results.values() if error is not None]
        if raise_errors and failed:
            raise failed[0]
        return results

    def list_group_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        """Every committed offset of the group, sorted by partition (``{}`` if none)."""
        return self._at_coordinator(offset_fetch_request(group_id))

    def group_lag(self, group_id: str) -> dict[TopicPartition, PartitionLag]:
        """Committed offset, high watermark and lag per partition committed or assigned; see
        the async :meth:`client.admin.AdminClient.group_lag`."""
        assigned = assigned_partitions(self.describe_groups([group_id])[group_id])
        committed = self.list_group_offsets(group_id)
        partitions = set(committed) | set(assigned)
        metadata = self.cluster.refresh_metadata({tp.topic for tp in partitions})
        led = led_partitions(metadata, partitions)
        latest = self.list_offsets(dict.fromkeys(led, OffsetSpec.LATEST)) if led else {}
        high_watermarks = {tp: listed.offset for tp, listed in latest.items()}
        return lag_from(committed, assigned, high_watermarks)

    def describe_client_quotas(
        self, components: Iterable[QuotaFilterComponent] = (), strict: bool = False
    ) -> dict[QuotaEntityKey, dict[str, float]]:
        """See :meth:`client.admin.AdminClient.describe_client_quotas`."""
        body = quota_admin.describe_body(components, strict)

        def attempt() -> dict[QuotaEntityKey, dict[str, float]]:
            connection = self.cluster.controller_connection()
            response = connection.send(quota_admin.DESCRIBE_CLIENT_QUOTAS, body)
            return quota_admin.describe_results(response)

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    def alter_client_quotas(
        self, alterations: Iterable[ClientQuotaAlteration], validate_only: bool = False
    ) -> dict[QuotaEntityKey, KafkaError | None]:
        """See :meth:`client.admin.AdminClient.alter_client_quotas`."""
        body = quota_admin.alter_body(alterations, validate_only)

        def attempt() -> dict[QuotaEntityKey, KafkaError | None]:
            connection = self.cluster.controller_connection()
            response = connection.send(quota_admin.ALTER_CLIENT_QUOTAS, body)
            return quota_admin.alter_results(response)

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    def alter_user_scram_credentials(
        self,
        upsertions: Iterable[ScramUpsertion] = (),
        deletions: Iterable[tuple[str, str]] = (),
    ) -> dict[str, KafkaError | None]:
        """See :meth:`client.admin.AdminClient.alter_user_scram_credentials`."""
        body = scram_admin.alter_body(upsertions, deletions)

        def attempt() -> dict[str, KafkaError | None]:
            connection = self.cluster.controller_connection()
            response = connection.send(scram_admin.ALTER_USER_SCRAM_CREDENTIALS, body)
            return scram_admin.alter_results(response)

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    def describe_user_scram_credentials(
        self, users: Iterable[str] | None = None
    ) -> dict[str, tuple[ScramCredentialInfo, ...]]:
        """See :meth:`client.admin.AdminClient.describe_user_scram_credentials`."""
        body = scram_admin.describe_body(users)

        def attempt() -> dict[str, tuple[ScramCredentialInfo, ...]]:
            connection = self.cluster.controller_connection()
            response = connection.send(scram_admin.DESCRIBE_USER_SCRAM_CREDENTIALS, body)
            return scram_admin.describe_results(response)

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    # -- ACLs --------------------------------------------------------------------------------

    def describe_acls(
        self, acl_filter: AclBindingFilter = AclBindingFilter.ANY
    ) -> list[AclBinding]:
        """See :meth:`client.admin.AdminClient.describe_acls`."""
        return self._acl_call(acl_admin.describe_request(acl_filter))

    def create_acls(
        self, bindings: Iterable[AclBinding], *, raise_errors: bool = True
    ) -> dict[AclBinding, KafkaError | None]:
        """See :meth:`client.admin.AdminClient.create_acls`."""
        creations = list(bindings)
        if not creations:
            return {}
        outcomes = self._acl_call(acl_admin.create_request(creations))
        if raise_errors:
            acl_admin.raise_first(outcomes)
        return outcomes

    def delete_acls(
        self, filters: Iterable[AclBindingFilter]
    ) -> dict[AclBindingFilter, list[AclBinding]]:
        """See :meth:`client.admin.AdminClient.delete_acls`."""
        wanted = list(filters)
        if not wanted:
            return {}
        return self._acl_call(acl_admin.delete_request(wanted))

    def _acl_call(self, request: AclRequest[T]) -> T:
        """``request`` at the least loaded broker, retried until ``default.api.timeout.ms``."""

        def attempt() -> T:
            connection = self.cluster.any_connection()
            version = connection.pick_version(request.api_key, request.min_version)
            return request.read(connection.send(request.api_key, request.body, version=version))

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    def _at_coordinator(self, request: CoordinatorRequest[T]) -> T:
        """``request`` at its group's coordinator, found anew on each attempt (FindCoordinator)
        so NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS are retried until
        ``default.api.timeout.ms``."""

        def attempt() -> T:
            connection = self.cluster.any_connection()
            answer = connection.send(FIND_COORDINATOR, find_coordinator_body(request.group_id))
            node_id = read_find_coordinator(answer, request.group_id)
            coordinator = self.cluster.connection_to(node_id)
            version = coordinator.pick_version(request.api_key, request.min_version)
            return request.read(coordinator.send(request.api_key, request.body, version=version))

        return self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)

    # -- helpers -----------------------------------------------------------------------------

    def _timeout(self, timeout_ms: int | None) -> int:
        return self.config.request_timeout_ms if timeout_ms is None else timeout_ms

    def _controller_call(
        self,
        api_key: int,
        names: list[str],
        body: Callable[[list[str]], dict[str, Any]],
        results_of: Callable[[Container], Iterable[tuple[str, int, str | None]]],
        raise_errors: bool,
    ) -> TopicResults:
        """A per-topic request to the controller; topics failing with NOT_CONTROLLER or
        THROTTLING_QUOTA_EXCEEDED are retried, any other answer is final."""
        results: TopicResults = {}
        pending = list(names)

        def attempt() -> None:
            connection = self.cluster.controller_connection()
            version = connection.pick_version(api_key)
            response = connection.send(api_key, body(pending), version=version)
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
                self.cluster.retrying(attempt, timeout_ms=self.config.default_api_timeout_ms)
            except KafkaError as final:
                results.update((name, final) for name in pending)
        ordered = {name: results[name] for name in names}
        failed = [outcome for outcome in ordered.values() if outcome is not None]
        if raise_errors and failed:
            raise failed[0]
        return ordered


def list_offsets(
    cluster: BlockingCluster,
    specs: Mapping[TopicPartition, int],
    *,
    isolation_level: int = 0,
    timeout_ms: int,
) -> dict[TopicPartition, ListedOffset]:
    """Offsets by :class:`~client.admin.OffsetSpec` or timestamp, from each partition's leader
    (the semantics of :func:`client.admin.list_offsets`).

    One request per leader, all written before any answer is awaited (pipelined across
    brokers); partitions failing retriably are retried after a metadata refresh until
    ``timeout_ms`` (0: one attempt); the first non-retriable error is raised.
    """
    results: dict[TopicPartition, ListedOffset] = {}
    pending = dict(specs)

    def attempt() -> None:
        by_leader: dict[int, dict[TopicPartition, int]] = {}
        for tp, spec in pending.items():
            leader = cluster.leader_for(tp.topic, tp.partition)
            by_leader.setdefault(leader.node_id, {})[tp] = spec
        requests: list[PendingRequest] = []
        errors: list[KafkaError] = []
        for node_id, node_specs in by_leader.items():
            try:
                connection = cluster.connection_to(node_id)
                version = connection.pick_version(
                    LIST_OFFSETS, list_offsets_min_version(node_specs)
                )
                body = list_offsets_body(cluster.metadata, node_specs, isolation_level)
                requests.append(connection.request(LIST_OFFSETS, body, version=version))
            except KafkaError as error:
                errors.append(error)
        for request in requests:
            while not request.done:
                cluster.poll(max(request.deadline_s - time.monotonic(), 0.0))
            if request.error is not None:
                errors.append(request.error)
                continue
            for tp, outcome in read_list_offsets(request.result()).items():
                if isinstance(outcome, KafkaError):
                    errors.append(outcome)
                elif tp in pending:
                    results[tp] = outcome
                    del pending[tp]
        if errors:
            raise min(errors, key=lambda error: error.retriable)  # a final error wins

    if pending:
        cluster.retrying(attempt, timeout_ms=timeout_ms)
    return {tp: results[tp] for tp in specs}
