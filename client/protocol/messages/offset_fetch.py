"""OffsetFetch (key 9): KIP-88 (null topics = all, v2), KIP-320 (leader epoch, v5), KIP-482
(flexible, v6), KIP-447 (require stable, v7), KIP-709 (several groups per request, v8),
KIP-848 (member id and epoch, v9)."""

from client.protocol.schema import BOOL, INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_OFFSET_FETCH_REQUEST_TOPIC = Struct(
    [
        Field("name", STRING, "0-7"),
        Field("partition_indexes", Array(INT32), "0-7"),
    ],
    name="OffsetFetchRequestTopic",
)

_OFFSET_FETCH_REQUEST_TOPICS = Struct(
    [
        Field("name", STRING, "8+"),
        Field("partition_indexes", Array(INT32), "8+"),
    ],
    name="OffsetFetchRequestTopics",
)

_OFFSET_FETCH_REQUEST_GROUP = Struct(
    [
        Field("group_id", STRING, "8+"),
        Field("member_id", STRING, "9+", nullable="9+"),
        Field("member_epoch", INT32, "9+", default=-1),
        Field("topics", Array(_OFFSET_FETCH_REQUEST_TOPICS), "8+", nullable="8+"),
    ],
    name="OffsetFetchRequestGroup",
)

REQUEST = Message(
    "OffsetFetchRequest",
    api_key=9,
    kind="request",
    valid="1-9",
    flexible="6+",
    fields=[
        Field("group_id", STRING, "0-7"),
        Field("topics", Array(_OFFSET_FETCH_REQUEST_TOPIC), "0-7", nullable="2-7"),
        Field("groups", Array(_OFFSET_FETCH_REQUEST_GROUP), "8+"),
        Field("require_stable", BOOL, "7+", default=False),
    ],
)

_OFFSET_FETCH_RESPONSE_PARTITION = Struct(
    [
        Field("partition_index", INT32, "0-7"),
        Field("committed_offset", INT64, "0-7"),
        Field("committed_leader_epoch", INT32, "5-7", default=-1),
        Field("metadata", STRING, "0-7", nullable="0-7"),
        Field("error_code", INT16, "0-7"),
    ],
    name="OffsetFetchResponsePartition",
)

_OFFSET_FETCH_RESPONSE_TOPIC = Struct(
    [
        Field("name", STRING, "0-7"),
        Field("partitions", Array(_OFFSET_FETCH_RESPONSE_PARTITION), "0-7"),
    ],
    name="OffsetFetchResponseTopic",
)

_OFFSET_FETCH_RESPONSE_PARTITIONS = Struct(
    [
        Field("partition_index", INT32, "8+"),
        Field("committed_offset", INT64, "8+"),
        Field("committed_leader_epoch", INT32, "8+", default=-1),
        Field("metadata", STRING, "8+", nullable="8+"),
        Field("error_code", INT16, "8+"),
    ],
    name="OffsetFetchResponsePartitions",
)

_OFFSET_FETCH_RESPONSE_TOPICS = Struct(
    [
        Field("name", STRING, "8+"),
        Field("partitions", Array(_OFFSET_FETCH_RESPONSE_PARTITIONS), "8+"),
    ],
    name="OffsetFetchResponseTopics",
)

_OFFSET_FETCH_RESPONSE_GROUP = Struct(
    [
        Field("group_id", STRING, "8+"),
        Field("topics", Array(_OFFSET_FETCH_RESPONSE_TOPICS), "8+"),
        Field("error_code", INT16, "8+"),
    ],
    name="OffsetFetchResponseGroup",
)

RESPONSE = Message(
    "OffsetFetchResponse",
    api_key=9,
    kind="response",
    valid="1-9",
    flexible="6+",
    fields=[
        Field("throttle_time_ms", INT32, "3+"),
        Field("topics", Array(_OFFSET_FETCH_RESPONSE_TOPIC), "0-7"),
        Field("error_code", INT16, "2-7"),
        Field("groups", Array(_OFFSET_FETCH_RESPONSE_GROUP), "8+"),
    ],
)
