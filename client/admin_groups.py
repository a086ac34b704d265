"""Consumer-group administration, sans-IO: request bodies, answer readers and lag arithmetic.

Shared by the async :class:`client.admin.AdminClient` and the blocking one.  Every group call
but ListGroups goes to the group's coordinator, found with FindCoordinator (key type 0,
"group"), as Kafka's admin client does.  An answer's reader raises the errors that a retry can
fix (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE: all retriable),
so the caller's retry loop finds the coordinator again; final answers are returned or raised
as each call documents.

Also here: a decoder for the ``consumer`` protocol's assignment (Kafka's
``ConsumerProtocolAssignment``), so a described member's partitions can be shown.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from construct import Container

from client.errors import (
    GroupIdNotFoundError,
    KafkaError,
    KafkaProtocolError,
    error_for,
)
from client.group import OffsetAndMetadata
from client.metadata import ClusterMetadata, TopicPartition
from client.protocol.errors import ErrorCode

T = TypeVar("T")

OFFSET_FETCH = 9
FIND_COORDINATOR = 10
DESCRIBE_GROUPS = 15
LIST_GROUPS = 16
DELETE_GROUPS = 42
OFFSET_DELETE = 47
# FindCoordinator key types (KIP-98): 0 is a consumer group, 1 a transactional id.
GROUP_KEY_TYPE = 0
# OffsetFetch v2 is the first where null topics means "every committed partition" (KIP-88).
OFFSET_FETCH_ALL_TOPICS_MIN_VERSION = 2
# ListGroups v4 is the first with a states filter (KIP-518).
LIST_GROUPS_STATES_MIN_VERSION = 4
# OffsetFetch answers -1 for a partition without a committed offset.
NO_OFFSET = -1
# The protocol type of groups formed by Kafka consumers; their assignments have a known layout.
CONSUMER_PROTOCOL_TYPE = "consumer"
# The classic protocol describes a group the coordinator does not know as Dead, not as an error.
DEAD_STATE = "Dead"

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class ListedGroup:
    """A ListGroups entry; ``state`` is "" from brokers older than ListGroups v4."""

    group_id: str
    protocol_type: str
    state: str


@dataclass(frozen=True, slots=True)
class MemberDescription:
    """One member of a described group.

    ``assignment``: its partitions, decoded when the group's protocol type is ``consumer``;
    None for other protocol types or bytes that do not decode as a consumer assignment.
    Outside the Stable state the coordinator sends no assignment (an empty tuple).
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    member_metadata: bytes
    member_assignment: bytes
    assignment: tuple[TopicPartition, ...] | None


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """A DescribeGroups answer: state, protocol type, chosen protocol (assignor) and members."""

    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberDescription, ...]


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One partition of a group: committed offset vs the high watermark.

    ``committed_offset`` is None when the group has committed nothing for the partition (it is
    only assigned); ``high_watermark`` None when the partition has no leader to ask (or its
    topic is gone).  ``lag`` = high watermark - committed offset when both are known, as in
    Kafka's ``kafka-consumer-groups --describe`` (negative only if the log was truncated below
    the commit).  ``member_id`` is the member the partition is assigned to, if any.
    """

    committed_offset: int | None
    high_watermark: int | None
    lag: int | None
    member_id: str | None


@dataclass(frozen=True, slots=True)
class CoordinatorRequest(Generic[T]):
    """One request to ``group_id``'s coordinator and how to read its answer.

    ``read`` raises retriable errors (the call finds the coordinator again and retries) and
    returns or raises the final outcome.
    """

    group_id: str
    api_key: int
    body: dict[str, Any]
    read: Callable[[Container], T]
    min_version: int | None = None


# -- FindCoordinator -------------------------------------------------------------------------


def find_coordinator_body(group_id: str) -> dict[str, Any]:
    """A FindCoordinator body for one group, valid at every version (v4 batches keys)."""
    return {"key": group_id, "key_type": GROUP_KEY_TYPE, "coordinator_keys": [group_id]}


def read_find_coordinator(response: Container, group_id: str) -> int:
    """The coordinator's node id, else the answer's error (COORDINATOR_NOT_AVAILABLE is
    retriable) raised."""
    answers = response.get("coordinators")
    answer = response if answers is None else _only(answers, "key", group_id)
    code = answer.error_code
    if code != ErrorCode.NONE:
        raise error_for(code, answer.get("error_message") or f"coordinator of group {group_id!r}")
    node_id: int = answer.node_id
    return node_id


def _only(entries: Iterable[Container], key: str, wanted: str) -> Container:
    for entry in entries:
        if entry[key] == wanted:
            return entry
    raise KafkaProtocolError(f"the answer names no {key} {wanted!r}")


# -- ListGroups ------------------------------------------------------------------------------


def list_groups_body(states: Iterable[str] | None) -> dict[str, Any]:
    """A ListGroups body; ``states`` (v4+) keeps only groups in those states."""
    return {"states_filter": [] if states is None else list(states)}


def list_groups_min_version(states: Iterable[str] | None) -> int | None:
    """ListGroups v4 when filtering by state (older brokers cannot), else any version."""
    return None if states is None else LIST_GROUPS_STATES_MIN_VERSION


def read_list_groups(response: Container, address: str) -> list[ListedGroup]:
    """The groups one broker coordinates; its error (COORDINATOR_LOAD_IN_PROGRESS, ...) raised."""
    if response.error_code != ErrorCode.NONE:
        raise error_for(response.error_code, f"ListGroups at {address}")
    return [
        ListedGroup(group.group_id, group.protocol_type, group.get("group_state", ""))
        for group in response.groups
    ]


def merge_listings(listings: Iterable[Iterable[ListedGroup]]) -> list[ListedGroup]:
    """Every broker's groups as one list sorted by id; a group named twice (its coordinator
    moved between two answers) is kept once."""
    merged: dict[str, ListedGroup] = {}
    for listing in listings:
        for group in listing:
            merged.setdefault(group.group_id, group)
    return [merged[group_id] for group_id in sorted(merged)]


# -- DescribeGroups --------------------------------------------------------------------------


def describe_group_request(group_id: str) -> CoordinatorRequest[GroupDescription]:
    """DescribeGroups for one group; the read raises GroupIdNotFoundError for a Dead group."""
    body = {"groups": [group_id], "include_authorized_operations": False}
    return CoordinatorRequest(
        group_id, DESCRIBE_GROUPS, body, lambda response: read_describe_group(response, group_id)
    )


def read_describe_group(response: Container, group_id: str) -> GroupDescription:
    """The group's description, else its error raised.

    A group the coordinator does not know comes back as state Dead with no error (the classic
    protocol's answer); it is raised as GROUP_ID_NOT_FOUND, so callers need not know that rule.
    """
    group = _only(response.groups, "group_id", group_id)
    if group.error_code != ErrorCode.NONE:
        raise error_for(group.error_code, f"group {group_id!r}")
    if group.group_state == DEAD_STATE:
        raise GroupIdNotFoundError(f"group {group_id!r} not found")
    consumer = group.protocol_type == CONSUMER_PROTOCOL_TYPE
    members = tuple(
        MemberDescription(
            member_id=member.member_id,
            group_instance_id=member.get("group_instance_id"),
            client_id=member.client_id,
            client_host=member.client_host,
            member_metadata=bytes(member.member_metadata),
            member_assignment=bytes(member.member_assignment),
            assignment=_decoded_assignment(bytes(member.member_assignment)) if consumer else None,
        )
        for member in group.members
    )
    return GroupDescription(
        group_id=group_id,
        state=group.group_state,
        protocol_type=group.protocol_type,
        protocol=group.protocol_data,
        members=members,
    )


def _decoded_assignment(data: bytes) -> tuple[TopicPartition, ...] | None:
    try:
        return decode_consumer_assignment(data)
    except KafkaProtocolError:
        return None  # another client's private layout: shown as undecodable, not fatal


def decode_consumer_assignment(data: bytes) -> tuple[TopicPartition, ...]:
    """The partitions of a ``ConsumerProtocolAssignment`` (any version: every version starts
    with the same fields), sorted.  Empty bytes (no assignment yet) are no partitions.

    Layout: INT16 version, then an INT32-counted array of (INT16-length topic name, INT32-counted
    array of INT32 partitions), then user data, which is ignored.  Raises KafkaProtocolError for
    truncated or inconsistent bytes; counts are bounded by the bytes left, so a corrupt count
    allocates nothing.
    """
    if not data:
        return ()
    reader = _Reader(data)
    version = reader.int16()
    if version < 0:
        raise KafkaProtocolError(f"consumer assignment version {version}")
    partitions: list[TopicPartition] = []
    for _ in range(reader.count(_INT16.size + _INT32.size)):
        topic = reader.string()
        partitions += (TopicPartition(topic, reader.int32()) for _ in range(reader.count(4)))
    return tuple(sorted(partitions))


class _Reader:
    """Big-endian reads from a byte string; running past the end is a KafkaProtocolError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def _take(self, size: int) -> bytes:
        end = self.position + size
        if size < 0 or end > len(self.data):
            raise KafkaProtocolError(f"consumer assignment truncated at byte {self.position}")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def int16(self) -> int:
        value: int = _INT16.unpack(self._take(_INT16.size))[0]
        return value

    def int32(self) -> int:
        value: int = _INT32.unpack(self._take(_INT32.size))[0]
        return value

    def count(self, item_size: int) -> int:
        """An array length, at most what the remaining bytes can hold."""
        count = self.int32()
        if count < 0 or count * item_size > len(self.data) - self.position:
            raise KafkaProtocolError(f"consumer assignment array of {count} items")
        return count

    def string(self) -> str:
        try:
            return self._take(self.int16()).decode()
        except UnicodeDecodeError as error:
            raise KafkaProtocolError(f"consumer assignment topic name: {error}") from None


def assigned_partitions(description: GroupDescription) -> dict[TopicPartition, str]:
    """Each decoded assigned partition → the member id holding it."""
    return {
        tp: member.member_id for member in description.members for tp in member.assignment or ()
    }


# -- DeleteGroups ----------------------------------------------------------------------------


def delete_group_request(group_id: str) -> CoordinatorRequest[KafkaError | None]:
    """DeleteGroups for one group; the read returns None (deleted) or the final error
    (GroupIdNotFoundError, NonEmptyGroupError, ...)."""
    return CoordinatorRequest(
        group_id,
        DELETE_GROUPS,
        {"groups_names": [group_id]},
        lambda response: read_delete_group(response, group_id),
    )


def read_delete_group(response: Container, group_id: str) -> KafkaError | None:
    """None if deleted, else the group's final error; retriable errors are raised."""
    result = _only(response.results, "group_id", group_id)
    if result.error_code == ErrorCode.NONE:
        return None
    error = error_for(result.error_code, f"group {group_id!r}")
    if error.retriable:
        raise error
    return error


# -- OffsetDelete ----------------------------------------------------------------------------


def offset_delete_request(
    group_id: str, partitions: Iterable[TopicPartition]
) -> CoordinatorRequest[dict[TopicPartition, KafkaError | None]]:
    """OffsetDelete (KIP-496) of ``partitions``; the read raises the group's error
    (GroupIdNotFoundError, NonEmptyGroupError, ...) and returns each partition's (None:
    deleted or nothing was committed; GroupSubscribedToTopicError: a member consumes it)."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in dict.fromkeys(partitions):
        by_topic.setdefault(topic, []).append(partition)
    body = {
        "group_id": group_id,
        "topics": [
            {"name": topic, "partitions": [{"partition_index": index} for index in indexes]}
            for topic, indexes in by_topic.items()
        ],
    }
    return CoordinatorRequest(
        group_id, OFFSET_DELETE, body, lambda response: read_offset_delete(response, group_id)
    )


def read_offset_delete(
    response: Container, group_id: str
) -> dict[TopicPartition, KafkaError | None]:
    if response.error_code != ErrorCode.NONE:
        raise error_for(response.error_code, f"group {group_id!r}")
    results: dict[TopicPartition, KafkaError | None] = {}
    for topic in response.topics:
        for entry in topic.partitions:
            tp = TopicPartition(topic.name, entry.partition_index)
            code = entry.error_code
            results[tp] = (
                None
                if code == ErrorCode.NONE
                else error_for(code, f"{tp.topic}-{tp.partition} of group {group_id!r}")
            )
    return dict(sorted(results.items()))


# -- OffsetFetch and lag ---------------------------------------------------------------------


def offset_fetch_request(
    group_id: str,
) -> CoordinatorRequest[dict[TopicPartition, OffsetAndMetadata]]:
    """OffsetFetch of every partition the group committed (null topics, v2+)."""
    body = {
        "group_id": group_id,
        "topics": None,
        "groups": [{"group_id": group_id, "member_id": None, "member_epoch": -1, "topics": None}],
        "require_stable": False,
    }
    return CoordinatorRequest(
        group_id,
        OFFSET_FETCH,
        body,
        lambda response: read_offset_fetch(response, group_id),
        OFFSET_FETCH_ALL_TOPICS_MIN_VERSION,
    )


def read_offset_fetch(
    response: Container, group_id: str
) -> dict[TopicPartition, OffsetAndMetadata]:
    """Committed offsets by partition, sorted (partitions answered -1 have none); the group's
    or the first partition's error raised."""
    groups = response.get("groups")
    answer = response if groups is None else _only(groups, "group_id", group_id)
    if answer.error_code != ErrorCode.NONE:
        raise error_for(answer.error_code, f"OffsetFetch of group {group_id!r}")
    committed: dict[TopicPartition, OffsetAndMetadata] = {}
    for topic in answer.topics:
        for partition in topic.partitions:
            tp = TopicPartition(topic.name, partition.partition_index)
            if partition.error_code != ErrorCode.NONE:
                raise error_for(partition.error_code, f"OffsetFetch of {tp} for {group_id!r}")
            if partition.committed_offset != NO_OFFSET:
                committed[tp] = OffsetAndMetadata(
                    offset=partition.committed_offset,
                    leader_epoch=partition.get("committed_leader_epoch", -1),
                    metadata=partition.metadata or "",
                )
    return dict(sorted(committed.items()))


def led_partitions(
    metadata: ClusterMetadata, partitions: Iterable[TopicPartition]
) -> list[TopicPartition]:
    """Those of ``partitions`` with a leader in ``metadata`` (whose high watermark can be
    asked for); partitions of unknown topics or without a leader are left out."""
    led = []
    for tp in partitions:
        state = metadata.partition(tp.topic, tp.partition)
        if state is not None and state.leader in metadata.brokers:
            led.append(tp)
    return led


def lag_from(
    committed: Mapping[TopicPartition, OffsetAndMetadata],
    assigned: Mapping[TopicPartition, str],
    high_watermarks: Mapping[TopicPartition, int],
) -> dict[TopicPartition, PartitionLag]:
    """Per partition committed or assigned, sorted: see :class:`PartitionLag`."""
    lags: dict[TopicPartition, PartitionLag] = {}
    for tp in sorted(set(committed) | set(assigned)):
        entry = committed.get(tp)
        offset = None if entry is None else entry.offset
        high = high_watermarks.get(tp)
        lag = None if offset is None or high is None else high - offset
        lags[tp] = PartitionLag(offset, high, lag, assigned.get(tp))
    return lags
