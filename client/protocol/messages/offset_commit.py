"""OffsetCommit (key 8): KIP-211 (no retention time after v4), KIP-320 (leader epoch, v6),
KIP-345 (group instance id, v7), KIP-482 (flexible, v8), KIP-848 (member epoch, v9)."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_OFFSET_COMMIT_REQUEST_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("committed_offset", INT64),
        Field("committed_leader_epoch", INT32, "6+", default=-1),
        Field("committed_metadata", STRING, nullable="0+"),
    ],
    name="OffsetCommitRequestPartition",
)

_OFFSET_COMMIT_REQUEST_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_OFFSET_COMMIT_REQUEST_PARTITION)),
    ],
    name="OffsetCommitRequestTopic",
)

REQUEST = Message(
    "OffsetCommitRequest",
    api_key=8,
    kind="request",
    valid="2-9",
    flexible="8+",
    fields=[
        Field("group_id", STRING),
        Field("generation_id_or_member_epoch", INT32, "1+", default=-1),
        Field("member_id", STRING, "1+"),
        Field("group_instance_id", STRING, "7+", nullable="7+"),
        Field("retention_time_ms", INT64, "2-4", default=-1),
        Field("topics", Array(_OFFSET_COMMIT_REQUEST_TOPIC)),
    ],
)

_OFFSET_COMMIT_RESPONSE_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
    name="OffsetCommitResponsePartition",
)

_OFFSET_COMMIT_RESPONSE_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_OFFSET_COMMIT_RESPONSE_PARTITION)),
    ],
    name="OffsetCommitResponseTopic",
)

RESPONSE = Message(
    "OffsetCommitResponse",
    api_key=8,
    kind="response",
    valid="2-9",
    flexible="8+",
    fields=[
        Field("throttle_time_ms", INT32, "3+"),
        Field("topics", Array(_OFFSET_COMMIT_RESPONSE_TOPIC)),
    ],
)
