"""DescribeLogDirs (key 35): KIP-113 (log directories), KIP-482 (flexible, v2), KIP-784 (the
top-level error code, v3), KIP-827 (each directory's total and usable bytes, v4)."""

from client.protocol.schema import BOOL, INT16, INT32, INT64, STRING, Array, Field, Message, Struct

# The byte counts of a volume whose capacity is unknown (Kafka's UNKNOWN_VOLUME_BYTES).
UNKNOWN_VOLUME_BYTES = -1

REQUEST = Message(
    "DescribeLogDirsRequest",
    api_key=35,
    kind="request",
    valid="0-4",
    flexible="2+",
    fields=[
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("topic", STRING),
                        Field("partitions", Array(INT32)),
                    ],
                    name="DescribableLogDirTopic",
                )
            ),
            nullable="0+",
        ),
    ],
)

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("partition_size", INT64),
        Field("offset_lag", INT64),
        Field("is_future_key", BOOL),
    ],
    name="DescribeLogDirsPartition",
)

_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_PARTITION)),
    ],
    name="DescribeLogDirsTopic",
)

_RESULT = Struct(
    [
        Field("error_code", INT16),
        Field("log_dir", STRING),
        Field("topics", Array(_TOPIC)),
        Field("total_bytes", INT64, "4+", default=UNKNOWN_VOLUME_BYTES),
        Field("usable_bytes", INT64, "4+", default=UNKNOWN_VOLUME_BYTES),
    ],
    name="DescribeLogDirsResult",
)

RESPONSE = Message(
    "DescribeLogDirsResponse",
    api_key=35,
    kind="response",
    valid="0-4",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16, "3+"),
        Field("results", Array(_RESULT)),
    ],
)
