"""The ``__consumer_offsets`` records of KIP-848 consumer groups, in Kafka's layout, sans-IO.

Written from Kafka's message definitions (group-coordinator ``ConsumerGroup*Key`` /
``ConsumerGroup*Value``).  A key is an int16 record type (Kafka's key "version") and a
non-flexible struct; a value an int16 version (0) and a flexible struct (compact strings and
arrays, tagged fields).  A null value (tombstone) deletes the key.

======  ======================================  ==========================================
type    key                                     value
======  ======================================  ==========================================
3       group id                                group epoch
4       group id                                subscribed topics (id, name, partitions)
5       group id, member id                     member metadata (subscription, client...)
6       group id                                target assignment epoch
7       group id, member id                     the member's target assignment
8       group id, member id                     the member's epochs, state, partitions
======  ======================================  ==========================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from broker.core.consumer_group import (
    Assignment,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
)
from broker.core.group_records import CorruptRecordError
from client.protocol import codec
from client.protocol.errors import ProtocolError
from client.protocol.schema import INT8, INT32, STRING, UUID, Array, Field, Message, Struct

GROUP_METADATA = 3
PARTITION_METADATA = 4
MEMBER_METADATA = 5
TARGET_METADATA = 6
TARGET_MEMBER = 7
CURRENT_MEMBER = 8
RECORD_TYPES = frozenset(range(GROUP_METADATA, CURRENT_MEMBER + 1))
# Kafka's MemberState values in ConsumerGroupCurrentMemberAssignmentValue.State.
_STATE_CODES = {
    MemberState.UNREVOKED_PARTITIONS: 0,
    MemberState.UNRELEASED_PARTITIONS: 1,
    MemberState.STABLE: 2,
}
_STATES = {code: state for state, code in _STATE_CODES.items()}
_INT16 = struct.Struct(">h")


def _value(name: str, fields: list[Field]) -> Message:
    return Message(name, api_key=-1, kind="data", valid="0", flexible="0+", fields=fields)


def _key(name: str, version: int, fields: list[Field]) -> Message:
    return Message(
        name, api_key=-1, kind="data", valid=str(version), flexible="none", fields=fields
    )


_TOPIC_PARTITIONS = Struct(
    [Field("topic_id", UUID), Field("partitions", Array(INT32))], name="TopicPartitions"
)
_GROUP_KEY = [Field("group_id", STRING)]
_MEMBER_KEY = [Field("group_id", STRING), Field("member_id", STRING)]

KEYS = {
    GROUP_METADATA: _key("ConsumerGroupMetadataKey", 3, _GROUP_KEY),
    PARTITION_METADATA: _key("ConsumerGroupPartitionMetadataKey", 4, _GROUP_KEY),
    MEMBER_METADATA: _key("ConsumerGroupMemberMetadataKey", 5, _MEMBER_KEY),
    TARGET_METADATA: _key("ConsumerGroupTargetAssignmentMetadataKey", 6, _GROUP_KEY),
    TARGET_MEMBER: _key("ConsumerGroupTargetAssignmentMemberKey", 7, _MEMBER_KEY),
    CURRENT_MEMBER: _key("ConsumerGroupCurrentMemberAssignmentKey", 8, _MEMBER_KEY),
}
VALUES = {
    GROUP_METADATA: _value("ConsumerGroupMetadataValue", [Field("epoch", INT32)]),
    PARTITION_METADATA: _value(
        "ConsumerGroupPartitionMetadataValue",
        [
            Field(
                "topics",
                Array(
                    Struct(
                        [
                            Field("topic_id", UUID),
                            Field("topic_name", STRING),
                            Field("num_partitions", INT32),
                            Field(
                                "partition_metadata",
                                Array(
                                    Struct(
                                        [
                                            Field("partition", INT32),
                                            Field("racks", Array(STRING)),
                                        ],
                                        name="PartitionMetadata",
                                    )
                                ),
                            ),
                        ],
                        name="TopicMetadata",
                    )
                ),
            )
        ],
    ),
    MEMBER_METADATA: _value(
        "ConsumerGroupMemberMetadataValue",
        [
            Field("instance_id", STRING, nullable="0+"),
            Field("rack_id", STRING, nullable="0+"),
            Field("client_id", STRING),
            Field("client_host", STRING),
            Field("subscribed_topic_names", Array(STRING)),
            Field("subscribed_topic_regex", STRING, nullable="0+"),
            Field("rebalance_timeout_ms", INT32, default=-1),
            Field("server_assignor", STRING, nullable="0+"),
        ],
    ),
    TARGET_METADATA: _value(
        "ConsumerGroupTargetAssignmentMetadataValue", [Field("assignment_epoch", INT32)]
    ),
    TARGET_MEMBER: _value(
        "ConsumerGroupTargetAssignmentMemberValue",
        [Field("topic_partitions", Array(_TOPIC_PARTITIONS))],
    ),
    CURRENT_MEMBER: _value(
        "ConsumerGroupCurrentMemberAssignmentValue",
        [
            Field("member_epoch", INT32),
            Field("previous_member_epoch", INT32),
            Field("state", INT8),
            Field("assigned_partitions", Array(_TOPIC_PARTITIONS)),
            Field("partitions_pending_revocation", Array(_TOPIC_PARTITIONS)),
        ],
    ),
}


@dataclass(frozen=True, slots=True)
class ConsumerRecordKey:
    record_type: int
    group_id: str
    member_id: str | None = None


def record_type(key: bytes) -> int | None:
    """The record type of a ``__consumer_offsets`` key if it is a consumer-group one."""
    if len(key) < 2:
        return None
    (version,) = _INT16.unpack_from(key)
    return version if version in RECORD_TYPES else None


def encode_key(key: ConsumerRecordKey) -> bytes:
    body: dict[str, Any] = {"group_id": key.group_id}
    if key.member_id is not None:
        body["member_id"] = key.member_id
    return _INT16.pack(key.record_type) + codec.encode(KEYS[key.record_type], key.record_type, body)


def decode_key(data: bytes) -> ConsumerRecordKey:
    kind = record_type(data)
    if kind is None:
        raise CorruptRecordError("not a consumer group record key")
    decoded = _decode(KEYS[kind], kind, data[2:])
    return ConsumerRecordKey(kind, decoded.group_id, decoded.get("member_id"))


def _decode(message: Message, version: int, data: bytes) -> Any:
    try:
        return codec.decode(message, version, data)
    except (ProtocolError, ValueError, IndexError) as error:
        raise CorruptRecordError(f"{message.name}: {error}") from error


def _encode_value(kind: int, body: dict[str, Any]) -> bytes:
    return _INT16.pack(0) + codec.encode(VALUES[kind], 0, body)


def decode_value(kind: int, data: bytes) -> Any:
    if len(data) < 2:
        raise CorruptRecordError("truncated consumer group record value")
    (version,) = _INT16.unpack_from(data)
    if version != 0:
        raise CorruptRecordError(f"unknown consumer group record value version {version}")
    return _decode(VALUES[kind], 0, data[2:])


def _partitions(assignment: Assignment) -> list[dict[str, Any]]:
    return [
        {"topic_id": topic_id, "partitions": sorted(parts)}
        for topic_id, parts in sorted(assignment.items())
    ]


def _assignment(entries: list[Any]) -> Assignment:
    return {entry.topic_id: frozenset(entry.partitions) for entry in entries if entry.partitions}


# -- what a group's records are --------------------------------------------------------------


def group_records(group: ConsumerGroup) -> dict[bytes, bytes]:
    """The group-level records (types 3, 4, 6) for the group's current state."""
    gid = group.group_id
    topics = [
        {"topic_id": topic_id, "topic_name": name, "num_partitions": count,
         "partition_metadata": []}
        for name, (topic_id, count) in sorted(group.subscription_metadata.items())
    ]  # fmt: skip
    return {
        encode_key(ConsumerRecordKey(GROUP_METADATA, gid)): _encode_value(
            GROUP_METADATA, {"epoch": group.group_epoch}
        ),
        encode_key(ConsumerRecordKey(PARTITION_METADATA, gid)): _encode_value(
            PARTITION_METADATA, {"topics": topics}
        ),
        encode_key(ConsumerRecordKey(TARGET_METADATA, gid)): _encode_value(
            TARGET_METADATA, {"assignment_epoch": group.assignment_epoch}
        ),
    }


def member_records(group: ConsumerGroup, member: ConsumerMember) -> dict[bytes, bytes]:
    """The member's records (types 5, 7, 8)."""
    gid, mid = group.group_id, member.member_id
    metadata = {
        "instance_id": member.instance_id,
        "rack_id": member.rack_id,
        "client_id": member.client_id,
        "client_host": member.client_host,
        "subscribed_topic_names": list(member.subscribed_topic_names),
        "subscribed_topic_regex": member.subscribed_topic_regex,
        "rebalance_timeout_ms": member.rebalance_timeout_ms,
        "server_assignor": member.server_assignor,
    }
    current = {
        "member_epoch": member.member_epoch,
        "previous_member_epoch": member.previous_member_epoch,
        "state": _STATE_CODES[member.state],
        "assigned_partitions": _partitions(member.assigned),
        "partitions_pending_revocation": _partitions(member.pending_revocation),
    }
    target = {"topic_partitions": _partitions(group.target.get(mid, {}))}
    return {
        encode_key(ConsumerRecordKey(MEMBER_METADATA, gid, mid)): _encode_value(
            MEMBER_METADATA, metadata
        ),
        encode_key(ConsumerRecordKey(TARGET_MEMBER, gid, mid)): _encode_value(
            TARGET_MEMBER, target
        ),
        encode_key(ConsumerRecordKey(CURRENT_MEMBER, gid, mid)): _encode_value(
            CURRENT_MEMBER, current
        ),
    }


# -- replay ----------------------------------------------------------------------------------


def replay(group: ConsumerGroup, key: ConsumerRecordKey, value: bytes | None) -> None:
    """Apply one record to ``group`` (loading, in log order)."""
    kind = key.record_type
    if key.member_id is None:
        if value is None:
            return  # group-level tombstones come with the group's removal
        decoded = decode_value(kind, value)
        if kind == GROUP_METADATA:
            group.group_epoch = int(decoded.epoch)
        elif kind == PARTITION_METADATA:
            group.subscription_metadata = {
                t.topic_name: (t.topic_id, int(t.num_partitions)) for t in decoded.topics
            }
        elif kind == TARGET_METADATA:
            group.assignment_epoch = int(decoded.assignment_epoch)
        return
    member_id = key.member_id
    if value is None:
        if kind == MEMBER_METADATA:
            member = group.members.pop(member_id, None)
            instance = None if member is None else member.instance_id
            if instance is not None and group.static_members.get(instance) == member_id:
                del group.static_members[instance]
        elif kind == TARGET_MEMBER:
            group.target.pop(member_id, None)
        return
    decoded = decode_value(kind, value)
    if kind == TARGET_MEMBER:
        group.target[member_id] = _assignment(decoded.topic_partitions)
        return
    member = group.members.get(member_id)
    if member is None:
        member = ConsumerMember(member_id)
        group.members[member_id] = member
    if kind == MEMBER_METADATA:
        member.instance_id = decoded.instance_id
        member.rack_id = decoded.rack_id
        member.client_id = decoded.client_id
        member.client_host = decoded.client_host
        member.subscribed_topic_names = tuple(decoded.subscribed_topic_names)
        member.subscribed_topic_regex = decoded.subscribed_topic_regex
        member.rebalance_timeout_ms = int(decoded.rebalance_timeout_ms)
        member.server_assignor = decoded.server_assignor
        if member.instance_id is not None:
            group.static_members[member.instance_id] = member_id
    elif kind == CURRENT_MEMBER:
        member.member_epoch = int(decoded.member_epoch)
        member.previous_member_epoch = int(decoded.previous_member_epoch)
        member.state = _STATES.get(int(decoded.state), MemberState.STABLE)
        member.assigned = _assignment(decoded.assigned_partitions)
        member.pending_revocation = _assignment(decoded.partitions_pending_revocation)


def group_keys(group_id: str) -> list[bytes]:
    """The group-level keys (for the tombstones when the group goes)."""
    return [
        encode_key(ConsumerRecordKey(kind, group_id))
        for kind in (GROUP_METADATA, PARTITION_METADATA, TARGET_METADATA)
    ]
