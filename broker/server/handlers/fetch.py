"""Fetch (1): read stored batches up to the high watermark; long-poll via the purgatory.

A ``read_committed`` consumer (isolation level 1, v4+) reads up to the last stable offset
instead and gets the aborted transactions that overlap what it may read, so that it can drop
their records (KIP-98).

A fetch that finds fewer than ``min_bytes`` is parked in the purgatory under its partitions
(``DelayedFetch``) and woken by the next append to any of them once enough bytes arrived, or
answered at ``max_wait_ms`` with what there is.  Sizes follow KIP-74: ``partition_max_bytes``
per partition and ``max_bytes`` per response, except that the first non-empty partition always
returns at least one whole batch so a consumer can never get stuck behind a large one.
Fetch sessions (KIP-227, :mod:`broker.core.fetch_session`) only for followers (replica id >= 0):
a follower's full fetch with session epoch 0 opens a session kept in the connection's state (it
dies with the connection; a new one replaces it), and its incremental fetches are served for
every session partition — an unchanged partition is absent from the request and served at its
session fetch offset, which also counts as the follower's fetch there (its caught-up time, the
high watermark) — and answered for the partitions with something to say.  Consumers are
declined (session id 0) and always get full fetches.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from construct import Container

from broker.config import RACK_AWARE_REPLICA_SELECTOR
from broker.core.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    INVALID_SESSION_ID,
    MAX_EPOCH,
    FetchSession,
    PartitionFetchData,
)
from broker.core.replica_selector import (
    NO_PREFERRED_REPLICA,
    consumer_read_error,
    preferred_read_replica,
)
from broker.log.partition_log import OffsetOutOfRangeError
from broker.server.clock import monotonic_ms
from broker.server.connection import coalesced_writes, current_connection_state
from broker.server.handlers.leadership import leader_or_error
from broker.server.quotas import connection_user
from broker.server.replica_manager import PARTITION_READ_SOFT_CAP_BYTES, ReadBudget
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.core.partition import Partition
    from broker.server.broker import BrokerServer

TopicPartition = tuple[str, int]
# A session partition: (topic id from v13, topic name before; partition index).
SessionKey = tuple[str | uuid.UUID, int]
SESSION_STATE_KEY = "fetch_session"
MAX_WAIT_MS_LIMIT = 5 * 60 * 1000


class DelayedFetch:
    """A fetch waiting until its partitions gained ``min_bytes`` since it first read.

    A follower reads to the log end, so appended bytes count at once; a consumer reads below
    the high watermark, so it also needs the HW to have moved (otherwise an acks=all append
    on a replicated partition would wake it to read nothing).  A HW move counts as at least
    one byte gained: the bytes it makes readable may have been appended before the fetch
    parked (a follower appends a batch one round before it learns the HW that covers it).
    A consumer's fetch also completes at once when the replica's leader epoch changed or it
    may no longer serve the fetch (it lost the leadership, or a follower left the ISR): the
    answer then carries the error instead of waiting out ``max_wait_ms``.
    """

    def __init__(
        self,
        server: BrokerServer,
        keys: list[TopicPartition],
        needed_bytes: int,
        deadline_ms: int,
        *,
        for_replica: bool,
        read_committed: bool = False,
        from_any_replica: bool = False,
    ) -> None:
        self.server = server
        self.deadline_ms = deadline_ms
        self.completed = False
        self.needed_bytes = needed_bytes
        self.for_replica = for_replica
        partitions = [server.partitions[key] for key in keys]
        self.start = {key: p.bytes_appended for key, p in zip(keys, partitions, strict=True)}
        self.epochs = {key: p.leader_epoch for key, p in zip(keys, partitions, strict=True)}
        self.read_committed = read_committed
        self.from_any_replica = from_any_replica
        self.start_hw = {key: self._end(key) for key in keys}
        self.event = anyio.Event()

    def _end(self, key: TopicPartition) -> int:
        """What a consumer may read up to: the high watermark, or the LSO."""
        high_watermark = self.server.partitions[key].high_watermark
        if not self.read_committed:
            return high_watermark
        return self.server.partition_log(*key).last_stable_offset(high_watermark)

    def try_complete(self, key: Hashable) -> bool:
        gained = 0
        committed = self.for_replica
        for tp, start in self.start.items():
            partition = self.server.partitions.get(tp)
            if partition is None:
                return True
            if not self.for_replica and not self._still_serves(partition, tp):
                return True
            gained += partition.bytes_appended - start
            if not committed and self._end(tp) > self.start_hw[tp]:
                committed = True
                gained = max(gained, 1)
        return committed and gained >= self.needed_bytes

    def _still_serves(self, partition: Partition, key: TopicPartition) -> bool:
        if partition.leader_epoch != self.epochs[key]:
            return False
        if partition.is_leader:
            return True
        return (
            self.from_any_replica
            and partition.is_follower
            and partition.local_broker_id in partition.isr
        )

    def on_complete(self) -> None:
        self.event.set()


def _partition_entry(index: int, error: ErrorCode, **values: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "partition_index": index,
        "error_code": error,
        "high_watermark": -1,
        "last_stable_offset": -1,
        "log_start_offset": -1,
        "aborted_transactions": None,
        "preferred_read_replica": -1,
        "records": b"",
    }
    entry.update(values)
    return entry


class ConsumerFetch(NamedTuple):
    """What a consumer's fetch says about where it may read (KIP-392, Fetch v11+)."""

    read_committed: bool
    # v11+: a follower may serve it (Kafka's ClientMetadata is present).
    from_any_replica: bool
    # The racks of the live brokers when the leader picks a replica in the client's rack
    # (replica.selector.class is rack-aware and the fetch names a rack_id), else None.
    racks: dict[int, str | None] | None
    client_rack: str


def consumer_fetch(server: BrokerServer, request: Container, version: int) -> ConsumerFetch:
    client_rack = (request.get("rack_id") or "") if version >= 11 else ""
    racks = None
    if client_rack and server.config.replica_selector_class == RACK_AWARE_REPLICA_SELECTOR:
        racks = {
            broker: registration.rack
            for broker, registration in server.image.brokers.items()
            if not registration.fenced
        }
    return ConsumerFetch(request.get("isolation_level", 0) == 1, version >= 11, racks, client_rack)


def _readable_replica(
    server: BrokerServer, topic: str, request: Container, fetch: ConsumerFetch
) -> Partition | ErrorCode:
    """The partition if this broker may serve the consumer's fetch: its leader, or (v11+) a
    follower in the ISR holding the offset (:func:`consumer_read_error`)."""
    index = request.partition
    current_leader_epoch = request.get("current_leader_epoch", -1)
    if not fetch.from_any_replica:
        return leader_or_error(server, topic, index, current_leader_epoch)
    partition = server.partitions.get((topic, index))
    if partition is None:
        return server.not_hosted_error(topic, index)
    log_start = server.partition_log(topic, index).log_start_offset
    error = consumer_read_error(partition, current_leader_epoch, request.fetch_offset, log_start)
    return partition if error is ErrorCode.NONE else error


def _read_partition(
    server: BrokerServer,
    topic: str,
    request: Container,
    budget: ReadBudget,
    fetch: ConsumerFetch,
) -> dict[str, Any]:
    index = request.partition
    fetch_offset = request.fetch_offset
    partition = _readable_replica(server, topic, request, fetch)
    if isinstance(partition, ErrorCode):
        return _partition_entry(index, partition)
    log_ = server.partition_log(topic, index)
    high_watermark = partition.high_watermark
    stable = log_.last_stable_offset(high_watermark)
    read_committed = fetch.read_committed
    end = stable if read_committed else high_watermark
    if fetch.racks is not None and partition.is_leader:
        preferred = preferred_read_replica(
            partition, fetch_offset, fetch.client_rack, fetch.racks, monotonic_ms()
        )
        if preferred != NO_PREFERRED_REPLICA:
            # Kafka skips the read: the consumer goes to that replica for the records.
            return _partition_entry(
                index,
                ErrorCode.NONE,
                high_watermark=high_watermark,
                last_stable_offset=stable,
                log_start_offset=log_.log_start_offset,
                preferred_read_replica=preferred,
            )
    limit = min(max(request.partition_max_bytes, 0), budget.remaining)
    try:
        data = log_.read(
            fetch_offset,
            min(limit, PARTITION_READ_SOFT_CAP_BYTES),
            end,
            min_one_batch=budget.total == 0,
        )
        if not data and limit > PARTITION_READ_SOFT_CAP_BYTES:
            # The next batch is larger than the soft cap but within the client's limits.
            data = log_.read(fetch_offset, limit, end, min_one_batch=False)
    except OffsetOutOfRangeError:
        return _partition_entry(
            index,
            ErrorCode.OFFSET_OUT_OF_RANGE,
            high_watermark=high_watermark,
            last_stable_offset=stable,
            log_start_offset=log_.log_start_offset,
        )
    budget.take(len(data))
    aborted = None
    if read_committed:
        # Bounded by the LSO rather than by the last batch read: entries past the records
        # returned are ignored by clients, and this spares a walk over the batch headers.
        aborted = [
            {"producer_id": txn.producer_id, "first_offset": txn.first_offset}
            for txn in (log_.aborted_transactions(fetch_offset, end) if data else ())
        ]
    return _partition_entry(
        index,
        ErrorCode.NONE,
        high_watermark=high_watermark,
        last_stable_offset=stable,
        log_start_offset=log_.log_start_offset,
        aborted_transactions=aborted,
        records=data,
    )


def _follower_entry(
    server: BrokerServer,
    topic: str,
    part: Container,
    budget: ReadBudget,
    replica: tuple[int, int],
) -> dict[str, Any]:
    """A follower's fetch of one partition (``ReplicaManager.read_for_follower``)."""
    error, values = server.read_for_follower(topic, part, budget, *replica)
    entry = _partition_entry(part.partition, error)
    entry.update(values)
    return entry


def replica_of(request: Container, version: int) -> tuple[int, int]:
    """(replica id, broker epoch) of a follower's fetch; (-1, -1) for a consumer."""
    if version >= 15:
        state = request.get("replica_state")
        if state is None:
            return -1, -1
        return state.replica_id, state.replica_epoch
    return request.get("replica_id", -1), -1


def _read_all(
    server: BrokerServer, request: Container, topics: list[Any], version: int, max_bytes: int
) -> tuple[list[Any], int]:
    budget = ReadBudget(max_bytes)
    replica_id, replica_epoch = replica_of(request, version)
    fetch: ConsumerFetch | None = None
    responses = []
    for topic in topics:
        name = topic.get("topic")
        topic_id = topic.get("topic_id")
        if version >= 13:
            image = server.image.topics_by_id.get(topic_id)
            name = image.name if image is not None else None
        if name is None:
            partitions = [
                _partition_entry(part.partition, ErrorCode.UNKNOWN_TOPIC_ID)
                for part in topic.partitions
            ]
        elif replica_id >= 0:
            partitions = [
                _follower_entry(server, name, part, budget, (replica_id, replica_epoch))
                for part in topic.partitions
            ]
        else:
            if fetch is None:
                fetch = consumer_fetch(server, request, version)
            partitions = [
                _read_partition(server, name, part, budget, fetch) for part in topic.partitions
            ]
        responses.append(
            {
                "topic": name or "",
                "topic_id": topic_id or uuid.UUID(int=0),
                "partitions": partitions,
            }
        )
    return responses, budget.total


def _watched_keys(server: BrokerServer, topics: list[Any], version: int) -> list[TopicPartition]:
    keys = []
    for topic in topics:
        name = topic.get("topic")
        if version >= 13:
            image = server.image.topics_by_id.get(topic.get("topic_id"))
            name = image.name if image is not None else None
        for part in topic.partitions:
            if name is not None and (name, part.partition) in server.partitions:
                keys.append((name, part.partition))
    return keys


def _has_errors(responses: list[Any]) -> bool:
    """An error, a divergence or a preferred read replica to report: answer at once, do not
    park the fetch."""
    return any(
        p["error_code"] or "diverging_epoch" in p or p["preferred_read_replica"] >= 0
        for topic in responses
        for p in topic["partitions"]
    )


def _topic_ref(topic: Any, version: int) -> str | uuid.UUID:
    ref: str | uuid.UUID = topic.get("topic_id") if version >= 13 else topic.get("topic")
    return ref


def _fetch_data(part: Any) -> PartitionFetchData:
    return PartitionFetchData(
        part.fetch_offset,
        part.get("log_start_offset", -1),
        part.get("current_leader_epoch", -1),
        part.get("last_fetched_epoch", -1),
        part.partition_max_bytes,
    )


def _request_data(topics: list[Any], version: int) -> dict[SessionKey, PartitionFetchData]:
    return {
        (_topic_ref(topic, version), part.partition): _fetch_data(part)
        for topic in topics
        for part in topic.partitions
    }


def _session_topics(session: FetchSession[SessionKey]) -> list[Any]:
    """Every session partition as a request topic list, with the data the session holds."""
    topics: dict[str | uuid.UUID, list[Any]] = {}
    for (ref, index), data in session.fetch_data():
        topics.setdefault(ref, []).append(
            Container(
                partition=index,
                current_leader_epoch=data.current_leader_epoch,
                fetch_offset=data.fetch_offset,
                last_fetched_epoch=data.last_fetched_epoch,
                log_start_offset=data.log_start_offset,
                partition_max_bytes=data.partition_max_bytes,
            )
        )
    return [
        Container(
            topic=ref if isinstance(ref, str) else None,
            topic_id=ref if isinstance(ref, uuid.UUID) else None,
            partitions=parts,
        )
        for ref, parts in topics.items()
    ]


def _open_session(
    request: Container, version: int
) -> tuple[FetchSession[SessionKey] | None, list[Any]] | ErrorCode:
    """The session a follower's fetch runs in (None: sessionless) and the topics to serve, or
    the top-level session error."""
    connection = current_connection_state.get(None)
    epoch = request.get("session_epoch", FINAL_EPOCH)
    if version < 7 or connection is None:
        return None, request.topics
    current: FetchSession[SessionKey] | None = connection.get(SESSION_STATE_KEY)
    if epoch in (FINAL_EPOCH, INITIAL_EPOCH):
        connection.pop(SESSION_STATE_KEY, None)  # a full fetch closes the connection's session
        if epoch == FINAL_EPOCH:
            return None, request.topics
        session_id = secrets.randbelow(MAX_EPOCH) + 1
        session = FetchSession(session_id, _request_data(request.topics, version))
        connection[SESSION_STATE_KEY] = session
        return session, request.topics
    if current is None or current.id != request.get("session_id", INVALID_SESSION_ID):
        return ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    forgotten = [
        (_topic_ref(topic, version), index)
        for topic in request.get("forgotten_topics_data") or []
        for index in topic.partitions
    ]
    error = current.incremental(epoch, _request_data(request.topics, version), forgotten)
    if error is not ErrorCode.NONE:
        return error
    return current, _session_topics(current)


def _session_answer(
    session: FetchSession[SessionKey], topics: list[Any], responses: list[Any], version: int
) -> list[Any]:
    """The partitions of ``responses`` the session must answer (the rest did not change)."""
    answered = []
    for topic, response in zip(topics, responses, strict=True):
        ref = _topic_ref(topic, version)
        partitions = [
            part
            for part in response["partitions"]
            if session.must_answer(
                (ref, part["partition_index"]),
                error=ErrorCode(part["error_code"]),
                high_watermark=part["high_watermark"],
                last_stable_offset=part["last_stable_offset"],
                log_start_offset=part["log_start_offset"],
                has_records=len(part["records"]) > 0,
                diverging="diverging_epoch" in part,
            )
        ]
        if partitions:
            answered.append({**response, "partitions": partitions})
    return answered


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    version = header.api_version
    replica_id, _ = replica_of(request, version)
    session: FetchSession[SessionKey] | None = None
    topics: list[Any] = request.topics
    if replica_id >= 0:
        opened = _open_session(request, version)
        if isinstance(opened, ErrorCode):
            return {
                "throttle_time_ms": 0,
                "error_code": opened,
                "session_id": INVALID_SESSION_ID,
                "responses": [],
            }
        session, topics = opened
    max_bytes = request.get("max_bytes", 0x7FFFFFFF)
    min_bytes = request.min_bytes
    quota_client: tuple[str, str] | None = None
    quotas = server.quotas
    if replica_id < 0 and quotas.active and quotas.fetch.enabled:
        # consumer_byte_rate: no more than the quota allows over its window (Kafka's
        # getMaxValueInQuotaWindow), and an answer over the quota goes out empty.
        quota_client = connection_user(current_connection_state.get({})), header.client_id or ""
        allowed = quotas.fetch_budget(*quota_client)
        if allowed < max_bytes:
            max_bytes = int(allowed)
            min_bytes = min(min_bytes, max_bytes)
    with coalesced_writes():  # a follower's fetch may complete many acks=all produces
        responses, total = _read_all(server, request, topics, version, max_bytes)
    max_wait_ms = min(max(request.max_wait_ms, 0), MAX_WAIT_MS_LIMIT)
    if total < min_bytes and max_wait_ms > 0 and not _has_errors(responses):
        keys = _watched_keys(server, topics, version)
        if keys:
            read_committed = request.get("isolation_level", 0) == 1
            await _wait(
                server,
                keys,
                min_bytes - total,
                max_wait_ms,
                replica=replica_id >= 0,
                read_committed=read_committed,
                from_any_replica=version >= 11,
            )
            with coalesced_writes():
                responses, total = _read_all(server, request, topics, version, max_bytes)
    if quota_client is not None:
        throttle = quotas.fetch_throttle_ms(*quota_client, total)
        if throttle > 0:
            return {
                "throttle_time_ms": throttle,
                "error_code": ErrorCode.NONE,
                "session_id": INVALID_SESSION_ID,
                "responses": [],
            }
    if session is not None:
        responses = _session_answer(session, topics, responses, version)
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "session_id": session.id if session is not None else INVALID_SESSION_ID,
        "responses": responses,
    }


async def _wait(
    server: BrokerServer,
    keys: list[TopicPartition],
    needed: int,
    wait_ms: int,
    *,
    replica: bool,
    read_committed: bool,
    from_any_replica: bool,
) -> None:
    deadline = monotonic_ms() + wait_ms
    operation = DelayedFetch(
        server,
        keys,
        needed,
        deadline,
        for_replica=replica,
        read_committed=read_committed,
        from_any_replica=from_any_replica,
    )
    server.watch_delayed(operation, keys)
    # Set exactly once: by an append that satisfied it, or by the purgatory's expiry.
    await operation.event.wait()
