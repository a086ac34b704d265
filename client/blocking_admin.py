"""The blocking admin client: topics and offsets over a :class:`BlockingCluster`.

::

    with AdminClient(bootstrap_servers="127.0.0.1:9092") as admin:
        admin.create_topics([NewTopic("events", num_partitions=3, replication_factor=1)])
        admin.describe_topics(["events"])

The same calls, routing, retries and per-item error rules as the async
:class:`client.admin.AdminClient` (see its module docstring), as plain methods; request bodies
and answers are built and read by the same functions of :mod:`client.admin`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self

from construct import Container

from client.admin import (
    _CONTROLLER_RETRIABLE,
    CREATE_PARTITIONS,
    CREATE_TOPICS,
    DELETE_TOPICS,
    LIST_OFFSETS,
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
from client.blocking_cluster import BlockingCluster
from client.blocking_connection import PendingRequest
from client.config import AdminConfig
from client.errors import KafkaError, NotControllerError, error_for
from client.metadata import ZERO_UUID, TopicPartition
from client.protocol.errors import ErrorCode

__all__ = ["AdminClient", "ListedOffset", "NewTopic", "OffsetSpec", "list_offsets"]


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
