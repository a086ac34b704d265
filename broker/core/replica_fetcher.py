"""A follower's fetch state for one source broker, sans-IO (Kafka's ``AbstractFetcherThread``).

The shell asks for the next Fetch request body (:meth:`ReplicaFetchState.build_request`), sends
it, and hands the response to :meth:`ReplicaFetchState.handle_response`, which returns effects
as data: append these bytes, truncate to this offset, take this high watermark, back off.  After
applying an append or a truncation the shell reports the new log end with
:meth:`ReplicaFetchState.on_log_changed`, so the next request fetches from there.

Truncation is by leader epoch only (KIP-101/KIP-279/KIP-320): the request carries the epoch of
the last local batch; a leader that does not have that epoch up to our fetch offset answers with
``diverging_epoch``, and we truncate to min(its end offset, our end offset for that epoch).  When
our cache has no such epoch the result is the end of our largest smaller epoch, and the next
fetch asks again, until the logs agree.  The high watermark is only taken after any truncation
in the same response (KAFKA-14704).

A response answers the request built last: a partition's part is used only if the partition was
in that request and still has the fetch offset and leader epoch it was requested with (Kafka's
check in ``processFetchRequest``); a partition removed, re-added or moved meanwhile is skipped.

Fetch sessions (KIP-227, Kafka's ``FetchSessionHandler``): the first request of a connection is
a full fetch asking for a session (``session_id`` 0, epoch 0).  A leader that creates one
answers its id; from then on each request is incremental (that id, the next epoch, wrapping
from INT32_MAX to 1): it names only the partitions added or whose fetch data changed since the
last request and lists the ones no longer fetched (backed off, removed) as forgotten; the
response leaves out the partitions with nothing new, which means "no change".  A leader that
declines (session id 0) gets sessionless full fetches (epoch -1) until :meth:`reset_session`,
which the shell calls on every new connection (sessions die with the connection).  A top-level
error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, any other) also resets it: the
next request is full again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from broker.core.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    INVALID_SESSION_ID,
    PartitionFetchData,
    next_epoch,
)
from client.protocol.errors import ErrorCode

TopicPartition = tuple[str, int]
UNDEFINED_EPOCH = -1


def _error_of(code: int) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


class LocalReplica(Protocol):
    """What the fetcher reads of the local log."""

    @property
    def log_end_offset(self) -> int: ...

    @property
    def log_start_offset(self) -> int: ...

    def last_fetched_epoch(self) -> int: ...

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class FetcherSettings:
    replica_id: int
    max_wait_ms: int = 500
    min_bytes: int = 1
    max_bytes: int = 10 * 1024 * 1024
    partition_max_bytes: int = 1024 * 1024
    backoff_ms: int = 1000
    fetch_sessions: bool = True


@dataclass(slots=True)
class PartitionFetch:
    topic: str
    index: int
    topic_id: uuid.UUID
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    log_start_offset: int
    delayed_until_ms: int = 0


@dataclass(frozen=True, slots=True)
class AppendRecords:
    key: TopicPartition
    records: bytes | memoryview
    leader_high_watermark: int
    leader_log_start_offset: int
    # The offset the records were fetched from: the log must still end there (a compacted
    # leader's records may begin after it).
    fetch_offset: int = -1


@dataclass(frozen=True, slots=True)
class Truncate:
    key: TopicPartition
    offset: int
    complete: bool


@dataclass(frozen=True, slots=True)
class ResetLog:
    """Our fetch offset is below the leader's log start: start empty there."""

    key: TopicPartition
    offset: int


@dataclass(frozen=True, slots=True)
class UpdateHighWatermark:
    key: TopicPartition
    leader_high_watermark: int
    leader_log_start_offset: int


@dataclass(frozen=True, slots=True)
class PartitionFailed:
    """The partition left this fetcher: our leader epoch is fenced (FENCED_LEADER_EPOCH, the
    leader has a newer one), so wait for the metadata that carries it."""

    key: TopicPartition
    error: ErrorCode


SESSION_ERRORS = frozenset(
    {ErrorCode.FETCH_SESSION_ID_NOT_FOUND, ErrorCode.INVALID_FETCH_SESSION_EPOCH}
)
# What the leader's session holds for a partition: its topic id and the fetch data last sent.
SentPartition = tuple[uuid.UUID, PartitionFetchData]

Effect = AppendRecords | Truncate | ResetLog | UpdateHighWatermark | PartitionFailed


def truncation_offset(
    local: LocalReplica, leader_epoch: int, leader_end_offset: int
) -> tuple[int, bool]:
    """Where to truncate for a divergence the leader reported, and whether that settles it.

    Kafka's ``AbstractFetcherThread.getOffsetTruncationState``.
    """
    local_epoch, local_end = local.end_offset_for_epoch(leader_epoch)
    if local_epoch == UNDEFINED_EPOCH:
        return min(leader_end_offset, local.log_end_offset), True
    if local_epoch != leader_epoch:
        # KIP-279: we never had the leader's epoch; cut at the end of our largest smaller one
        # and ask again with that epoch.
        return min(local_end, local.log_end_offset), False
    return min(leader_end_offset, local_end, local.log_end_offset), True


class ReplicaFetchState:
    """The partitions this broker follows on one source broker."""

    def __init__(self, source_broker: int, settings: FetcherSettings) -> None:
        self.source_broker = source_broker
        self.settings = settings
        self.partitions: dict[TopicPartition, PartitionFetch] = {}
        # What the last request asked for: key -> (fetch offset, current leader epoch).
        self.requested: dict[TopicPartition, tuple[int, int]] = {}
        # The fetch session (KIP-227): its id (0: none), the epoch of the next request (0: ask
        # for a session, -1: sessionless), the partitions as the leader's session has them.
        self.session_id = INVALID_SESSION_ID
        self.session_epoch = INITIAL_EPOCH if settings.fetch_sessions else FINAL_EPOCH
        self.sent: dict[TopicPartition, SentPartition] = {}
        self.sessions_established = 0
        self._incremental = False

    def reset_session(self) -> None:
        """Forget the session (a new connection, a session error): the next request is full
        and asks for a new one."""
        self.session_id = INVALID_SESSION_ID
        self.session_epoch = INITIAL_EPOCH if self.settings.fetch_sessions else FINAL_EPOCH
        self.sent = {}

    def add_partition(
        self,
        key: TopicPartition,
        topic_id: uuid.UUID,
        current_leader_epoch: int,
        local: LocalReplica,
    ) -> None:
        self.partitions[key] = PartitionFetch(
            key[0],
            key[1],
            topic_id,
            current_leader_epoch,
            local.log_end_offset,
            local.last_fetched_epoch(),
            local.log_start_offset,
        )

    def remove_partition(self, key: TopicPartition) -> None:
        self.partitions.pop(key, None)

    def on_log_changed(self, key: TopicPartition, local: LocalReplica) -> None:
        state = self.partitions.get(key)
        if state is not None:
            state.fetch_offset = local.log_end_offset
            state.last_fetched_epoch = local.last_fetched_epoch()
            state.log_start_offset = local.log_start_offset

    def next_ready_ms(self) -> int | None:
        """When the earliest backed-off partition may be fetched again (None: nothing held)."""
        delays = [p.delayed_until_ms for p in self.partitions.values()]
        return min(delays) if delays else None

    def fetchable(self, now_ms: int) -> list[PartitionFetch]:
        return [p for p in self.partitions.values() if p.delayed_until_ms <= now_ms]

    def _fetch_data(self, state: PartitionFetch) -> PartitionFetchData:
        return PartitionFetchData(
            state.fetch_offset,
            state.log_start_offset,
            state.current_leader_epoch,
            state.last_fetched_epoch,
            self.settings.partition_max_bytes,
        )

    def build_request(self, now_ms: int, broker_epoch: int = -1) -> dict[str, Any] | None:
        """The Fetch request body (v12-v15 field names) for every ready partition, or None.

        In a session only the partitions added or changed since the last request are named;
        the ones the session holds but that are not ready any more are forgotten.
        """
        ready = self.fetchable(now_ms)
        if not ready:
            return None
        wanted: dict[TopicPartition, tuple[PartitionFetch, SentPartition]] = {}
        for state in ready:
            wanted[(state.topic, state.index)] = (state, (state.topic_id, self._fetch_data(state)))
        self.requested = {
            key: (state.fetch_offset, state.current_leader_epoch)
            for key, (state, _) in wanted.items()
        }
        self._incremental = self.session_id != INVALID_SESSION_ID
        named: list[TopicPartition] = list(wanted)
        forgotten: list[tuple[str, uuid.UUID, int]] = []
        if self._incremental:
            named = [key for key, (_, sent) in wanted.items() if self.sent.get(key) != sent]
            for key, (topic_id, _) in self.sent.items():
                now_wanted = wanted.get(key)
                if now_wanted is None or now_wanted[1][0] != topic_id:
                    # Not fetched any more, or another incarnation of the topic (its old id
                    # must leave the leader's session).
                    forgotten.append((key[0], topic_id, key[1]))
        self.sent = {key: sent for key, (_, sent) in wanted.items()}
        topics: dict[uuid.UUID, dict[str, Any]] = {}
        for key in named:
            state, (topic_id, data) = wanted[key]
            topic = topics.setdefault(
                topic_id, {"topic": state.topic, "topic_id": topic_id, "partitions": []}
            )
            topic["partitions"].append(
                {
                    "partition": state.index,
                    "current_leader_epoch": data.current_leader_epoch,
                    "fetch_offset": data.fetch_offset,
                    "last_fetched_epoch": data.last_fetched_epoch,
                    "log_start_offset": data.log_start_offset,
                    "partition_max_bytes": data.partition_max_bytes,
                }
            )
        forgotten_topics: dict[uuid.UUID, dict[str, Any]] = {}
        for name, topic_id, index in forgotten:
            forgotten_topics.setdefault(
                topic_id, {"topic": name, "topic_id": topic_id, "partitions": []}
            )["partitions"].append(index)
        return {
            "cluster_id": None,
            "replica_id": self.settings.replica_id,
            "replica_state": {
                "replica_id": self.settings.replica_id,
                "replica_epoch": broker_epoch,
            },
            "max_wait_ms": self.settings.max_wait_ms,
            "min_bytes": self.settings.min_bytes,
            "max_bytes": self.settings.max_bytes,
            "isolation_level": 0,
            "session_id": self.session_id,
            "session_epoch": self.session_epoch,
            "topics": list(topics.values()),
            "forgotten_topics_data": list(forgotten_topics.values()),
            "rack_id": "",
        }

    def handle_response(
        self,
        response: Any,
        locals_: Mapping[TopicPartition, LocalReplica],
        now_ms: int,
        topic_names: Mapping[uuid.UUID, str] | None = None,
    ) -> list[Effect]:
        """Effects for the response to the last request, in partition order.

        Skipped: partitions we do not hold or have no local log for, partitions that were not
        in the request or changed since (fetch offset, leader epoch), topics whose name is
        neither in the response, nor in ``topic_names``, nor one of our partitions' topic ids.
        """
        requested, self.requested = self.requested, {}
        incremental, self._incremental = self._incremental, False
        effects: list[Effect] = []
        top_error = _error_of(response["error_code"]) if "error_code" in response else None
        if top_error not in (None, ErrorCode.NONE):
            self.reset_session()
            if top_error in SESSION_ERRORS:
                return effects  # the next request is a full one, at once
            for key in requested:
                held = self.partitions.get(key)
                if held is not None:
                    held.delayed_until_ms = now_ms + self.settings.backoff_ms
            return effects
        self._session_answered(response.get("session_id", INVALID_SESSION_ID), incremental)
        for topic in response["responses"]:
            name = topic.get("topic") or self._topic_name(topic.get("topic_id"), topic_names)
            if name is None:
                continue
            for part in topic["partitions"]:
                key = (name, part["partition_index"])
                state = self.partitions.get(key)
                local = locals_.get(key)
                if key not in requested and incremental:
                    # The leader's session has a partition ours does not: start over.
                    self.reset_session()
                if state is None or local is None:
                    continue
                if requested.get(key) != (state.fetch_offset, state.current_leader_epoch):
                    continue  # not asked for, or changed while the fetch was out
                effect = self._partition_effect(state, part, local, now_ms)
                if effect is not None:
                    effects.append(effect)
        return effects

    def _session_answered(self, session_id: int, incremental: bool) -> None:
        """The session after a successful response (Kafka's ``FetchSessionHandler``)."""
        if incremental:
            if session_id == self.session_id:
                self.session_epoch = next_epoch(self.session_epoch)
            else:
                self.reset_session()  # the leader closed it
        elif self.session_epoch == INITIAL_EPOCH:
            if session_id != INVALID_SESSION_ID:
                self.session_id = session_id
                self.session_epoch = next_epoch(INITIAL_EPOCH)
                self.sessions_established += 1
            else:
                self.session_epoch = FINAL_EPOCH  # declined: sessionless until a reset

    def _topic_name(
        self, topic_id: uuid.UUID | None, topic_names: Mapping[uuid.UUID, str] | None
    ) -> str | None:
        if topic_id is None:
            return None
        if topic_names is not None and topic_id in topic_names:
            return topic_names[topic_id]
        for state in self.partitions.values():
            if state.topic_id == topic_id:
                return state.topic
        return None

    def _partition_effect(
        self,
        state: PartitionFetch,
        part: Any,
        local: LocalReplica,
        now_ms: int,
    ) -> Effect | None:
        key = (state.topic, state.index)
        error = _error_of(part["error_code"])
        if error is ErrorCode.NONE:
            diverging = part.get("diverging_epoch")
            if diverging is not None and diverging["epoch"] >= 0:
                offset, complete = truncation_offset(
                    local, diverging["epoch"], diverging["end_offset"]
                )
                return Truncate(key, offset, complete)
            records = part.get("records")
            if records:
                return AppendRecords(
                    key,
                    records,
                    part["high_watermark"],
                    part.get("log_start_offset", -1),
                    state.fetch_offset,
                )
            return UpdateHighWatermark(
                key, part["high_watermark"], part.get("log_start_offset", -1)
            )
        if error is ErrorCode.OFFSET_OUT_OF_RANGE:
            leader_start = part.get("log_start_offset", -1)
            if leader_start > state.fetch_offset:
                return ResetLog(key, leader_start)
            # Ahead of the leader (possible only after an unclean election): cut to its HW.
            leader_hw = part.get("high_watermark", -1)
            if 0 <= leader_hw < state.fetch_offset:
                return Truncate(key, leader_hw, True)
            state.delayed_until_ms = now_ms + self.settings.backoff_ms
            return None
        if error is ErrorCode.FENCED_LEADER_EPOCH:
            # The leader knows a newer epoch than ours (Kafka's onPartitionFenced): only new
            # metadata can help.
            self.partitions.pop(key, None)
            return PartitionFailed(key, error)
        # NOT_LEADER_OR_FOLLOWER (the source has not taken the leadership yet, or lost it),
        # UNKNOWN_LEADER_EPOCH (it has not seen our epoch yet), UNKNOWN_TOPIC_OR_PARTITION (nor
        # the partition), storage errors: retry after a pause, as Kafka.  Dropping the partition
        # on NOT_LEADER_OR_FOLLOWER would strand it when our metadata is simply ahead of the
        # leader's: no newer metadata would come to re-add it.
        state.delayed_until_ms = now_ms + self.settings.backoff_ms
        return None
