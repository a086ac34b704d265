"""Committed offsets and the admin views of groups, as pure functions over a :class:`Group`.

The group coordinator (``group_coordinator``) validates a commit's generation and member and
calls :func:`store_offsets`; the rules here are Kafka's ``GroupMetadataManager``:

- metadata longer than ``offset.metadata.max.bytes`` is refused with OFFSET_METADATA_TOO_LARGE
  for that partition only; a null metadata is stored as "".
- a commit that names a retention time (OffsetCommit v2-v4) gets an explicit expire timestamp and
  is written as ``OffsetCommitValue`` v1; others as v3.
- retention (KIP-211, ``offsets.retention.minutes``): the offsets of an Empty group expire once the
  group has been Empty for the retention (its state timestamp; the commit timestamp if unknown);
  a group without a protocol type (offsets only, "simple" consumers) expires each offset by its
  commit timestamp; an explicit expire timestamp wins in both.  Offsets of groups with members
  do not expire (Kafka expires unsubscribed topics of Stable consumer groups; not done here).
- fetch answers -1 / -1 / "" for a partition without a committed offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from broker.core.group_metadata import Group, GroupState, TopicPartition
from broker.core.group_records import (
    NO_LEADER_EPOCH,
    NO_TIMESTAMP,
    OffsetCommitKey,
    OffsetCommitValue,
    encode_offset_commit_key,
    encode_offset_commit_value,
)
from client.consumer_protocol import PROTOCOL_TYPE as CONSUMER_PROTOCOL_TYPE
from client.consumer_protocol import decode_subscription
from client.protocol.errors import ErrorCode, ProtocolError

NO_OFFSET = -1
NO_METADATA = ""
NO_RETENTION = -1  # OffsetCommitRequest.DEFAULT_RETENTION_TIME

# (offset, leader_epoch, metadata) of one partition in an OffsetCommit request.
OffsetCommitData = tuple[int, int, str | None]


@dataclass(frozen=True, slots=True)
class FetchedOffset:
    offset: int = NO_OFFSET
    leader_epoch: int = NO_LEADER_EPOCH
    metadata: str = NO_METADATA
    error_code: ErrorCode = ErrorCode.NONE


@dataclass(frozen=True, slots=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    group_state: str
    group_type: str = "classic"  # KIP-848: "classic" or "consumer"


@dataclass(frozen=True, slots=True)
class DescribedMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    member_metadata: bytes
    member_assignment: bytes


@dataclass(frozen=True, slots=True)
class DescribedGroup:
    error_code: ErrorCode
    group_id: str
    group_state: str
    protocol_type: str
    protocol_data: str
    members: tuple[DescribedMember, ...]


def store_offsets(
    group: Group,
    offsets: Mapping[TopicPartition, OffsetCommitData],
    wall_ms: int,
    retention_time_ms: int,
    offset_metadata_max_bytes: int,
    *,
    txn_producer_id: int = -1,
) -> tuple[dict[TopicPartition, ErrorCode], list[tuple[bytes, bytes]]]:
    """Apply a validated commit; returns per-partition errors and the (key, value) records.
    With ``txn_producer_id`` the offsets wait, pending, for that producer's transaction."""
    stored = (
        group.offsets
        if txn_producer_id < 0
        else group.pending_txn_offsets.setdefault(txn_producer_id, {})
    )
    expire_timestamp = wall_ms + retention_time_ms if retention_time_ms >= 0 else NO_TIMESTAMP
    errors: dict[TopicPartition, ErrorCode] = {}
    records: list[tuple[bytes, bytes]] = []
    for (topic, partition), (offset, leader_epoch, metadata) in offsets.items():
        text = NO_METADATA if metadata is None else metadata
        if len(text) > offset_metadata_max_bytes:
            errors[(topic, partition)] = ErrorCode.OFFSET_METADATA_TOO_LARGE
            continue
        value = OffsetCommitValue(offset, leader_epoch, text, wall_ms, expire_timestamp)
        stored[(topic, partition)] = value
        key = OffsetCommitKey(group.group_id, topic, partition)
        records.append((encode_offset_commit_key(key), encode_offset_commit_value(value)))
        errors[(topic, partition)] = ErrorCode.NONE
    return errors, records


def fetch_offsets(
    group: Group | None, partitions: Iterable[TopicPartition] | None
) -> dict[TopicPartition, FetchedOffset]:
    """Committed offsets of ``partitions`` (all committed ones, sorted, when None)."""
    committed = group.offsets if group is not None else {}
    wanted = sorted(committed) if partitions is None else list(partitions)
    answer: dict[TopicPartition, FetchedOffset] = {}
    for tp in wanted:
        value = committed.get(tp)
        answer[tp] = (
            FetchedOffset()
            if value is None
            else FetchedOffset(value.offset, value.leader_epoch, value.metadata)
        )
    return answer


def expired_offsets(group: Group, wall_ms: int, retention_ms: int) -> list[TopicPartition]:
    """The partitions whose committed offset the retention removes now (see the module doc)."""
    if not group.is_(GroupState.EMPTY) or _has_consumer_members(group):
        return []
    use_state_timestamp = (
        group.protocol_type is not None and group.state_timestamp_ms != NO_TIMESTAMP
    )
    expired: list[TopicPartition] = []
    for tp, value in group.offsets.items():
        if value.expire_timestamp != NO_TIMESTAMP:
            if wall_ms >= value.expire_timestamp:
                expired.append(tp)
            continue
        base_ms = group.state_timestamp_ms if use_state_timestamp else value.commit_timestamp
        if wall_ms - base_ms >= retention_ms:
            expired.append(tp)
    return expired


def offset_tombstone_key(group_id: str, tp: TopicPartition) -> bytes:
    return encode_offset_commit_key(OffsetCommitKey(group_id, tp[0], tp[1]))


def subscribed_topics(group: Group) -> frozenset[str]:
    """The topics the members of a ``consumer`` group subscribe to, read from their metadata
    for the selected protocol.  As Kafka's ``computeSubscribedTopics``: no selected protocol,
    another protocol type or an undecodable subscription counts as subscribed to nothing."""
    protocol = group.protocol_name
    if protocol is None or group.protocol_type != CONSUMER_PROTOCOL_TYPE:
        return frozenset()
    topics: set[str] = set()
    for member in group.members.values():
        metadata = next((data for name, data in member.protocols if name == protocol), None)
        if metadata is None:
            continue
        try:
            topics.update(decode_subscription(metadata).topics)
        except (ProtocolError, ValueError):
            return frozenset()
    return frozenset(topics)


def delete_offsets(
    group: Group, partitions: Iterable[TopicPartition]
) -> tuple[ErrorCode, dict[TopicPartition, ErrorCode], list[TopicPartition]]:
    """OffsetDelete (KIP-496) of ``partitions``: (group error, partition errors, the deleted
    partitions that need tombstones).  An Empty group loses the offsets asked for; a
    ``consumer`` group with members keeps those of the topics its members subscribe to
    (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others; a group of another protocol type with
    members is NON_EMPTY_GROUP.  A partition without a committed offset is answered NONE."""
    if not group.is_(GroupState.EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
        return ErrorCode.NON_EMPTY_GROUP, {}, []
    subscribed = frozenset() if group.is_(GroupState.EMPTY) else subscribed_topics(group)
    if _has_consumer_members(group):
        assert group.consumer is not None
        subscribed = frozenset(group.consumer.subscription_metadata)
    errors: dict[TopicPartition, ErrorCode] = {}
    deleted: list[TopicPartition] = []
    for tp in partitions:
        if tp[0] in subscribed:
            errors[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            continue
        errors[tp] = ErrorCode.NONE
        if group.offsets.pop(tp, None) is not None:
            deleted.append(tp)
    return ErrorCode.NONE, errors, deleted


def listed_group(group: Group) -> ListedGroup:
    consumer = group.consumer
    if (
        consumer is not None
        and group.is_(GroupState.EMPTY)
        and (consumer.members or consumer.group_epoch)
    ):
        return ListedGroup(group.group_id, CONSUMER_PROTOCOL_TYPE, consumer.state.value, "consumer")
    return ListedGroup(group.group_id, group.protocol_type or "", group.state.value)


def described_group(group_id: str, group: Group | None) -> DescribedGroup:
    """Kafka's ``GroupMetadata.summary``: member metadata and assignments only when Stable; an
    unknown group is described as Dead with no error."""
    if group is None or _has_consumer_members(group):
        # KIP-848 consumer groups are described by ConsumerGroupDescribe.
        return DescribedGroup(ErrorCode.NONE, group_id, GroupState.DEAD.value, "", "", ())
    stable = group.is_(GroupState.STABLE) and group.protocol_name is not None
    protocol = group.protocol_name if stable and group.protocol_name is not None else ""
    members = tuple(
        DescribedMember(
            member.member_id,
            member.group_instance_id,
            member.client_id,
            member.client_host,
            member.metadata(protocol) if stable else b"",
            member.assignment if stable else b"",
        )
        for member in group.members.values()
    )
    return DescribedGroup(
        ErrorCode.NONE,
        group_id,
        group.state.value,
        group.protocol_type or "",
        protocol,
        members,
    )


def _has_consumer_members(group: Group) -> bool:
    return group.consumer is not None and bool(group.consumer.members)
