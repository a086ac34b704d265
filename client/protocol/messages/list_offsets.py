"""ListOffsets (key 2): KIP-98 (isolation level, v2), KIP-320 (leader epochs, v4), KIP-482
(flexible, v6), KIP-734 (max timestamp, v7)."""

from client.protocol.schema import INT8, INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_LIST_OFFSETS_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("current_leader_epoch", INT32, "4+", default=-1),
        Field("timestamp", INT64),
    ],
    name="ListOffsetsPartition",
)

_LIST_OFFSETS_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_LIST_OFFSETS_PARTITION)),
    ],
    name="ListOffsetsTopic",
)

REQUEST = Message(
    "ListOffsetsRequest",
    api_key=2,
    kind="request",
    valid="1-7",
    flexible="6+",
    fields=[
        Field("replica_id", INT32),
        Field("isolation_level", INT8, "2+"),
        Field("topics", Array(_LIST_OFFSETS_TOPIC)),
    ],
)

_LIST_OFFSETS_PARTITION_RESPONSE = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("timestamp", INT64, "1+", default=-1),
        Field("offset", INT64, "1+", default=-1),
        Field("leader_epoch", INT32, "4+", default=-1),
    ],
    name="ListOffsetsPartitionResponse",
)

_LIST_OFFSETS_TOPIC_RESPONSE = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_LIST_OFFSETS_PARTITION_RESPONSE)),
    ],
    name="ListOffsetsTopicResponse",
)

RESPONSE = Message(
    "ListOffsetsResponse",
    api_key=2,
    kind="response",
    valid="1-7",
    flexible="6+",
    fields=[
        Field("throttle_time_ms", INT32, "2+"),
        Field("topics", Array(_LIST_OFFSETS_TOPIC_RESPONSE)),
    ],
)
