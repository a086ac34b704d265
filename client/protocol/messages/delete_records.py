"""DeleteRecords (key 21): KIP-107 (v0), throttle semantics (v1), KIP-482 (flexible, v2)."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_DELETE_RECORDS_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        # Records below this offset go; -1 means the high watermark.
        Field("offset", INT64),
    ],
    name="DeleteRecordsPartition",
)

_DELETE_RECORDS_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_DELETE_RECORDS_PARTITION)),
    ],
    name="DeleteRecordsTopic",
)

REQUEST = Message(
    "DeleteRecordsRequest",
    api_key=21,
    kind="request",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("topics", Array(_DELETE_RECORDS_TOPIC)),
        Field("timeout_ms", INT32),
    ],
)

_DELETE_RECORDS_PARTITION_RESULT = Struct(
    [
        Field("partition_index", INT32),
        Field("low_watermark", INT64),
        Field("error_code", INT16),
    ],
    name="DeleteRecordsPartitionResult",
)

_DELETE_RECORDS_TOPIC_RESULT = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_DELETE_RECORDS_PARTITION_RESULT)),
    ],
    name="DeleteRecordsTopicResult",
)

RESPONSE = Message(
    "DeleteRecordsResponse",
    api_key=21,
    kind="response",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("topics", Array(_DELETE_RECORDS_TOPIC_RESULT)),
    ],
)
