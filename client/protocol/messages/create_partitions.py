"""CreatePartitions (key 37): KIP-195, KIP-482 (flexible, v2)."""

from client.protocol.schema import BOOL, INT16, INT32, STRING, Array, Field, Message, Struct

_CREATE_PARTITIONS_ASSIGNMENT = Struct(
    [Field("broker_ids", Array(INT32))],
    name="CreatePartitionsAssignment",
)

_CREATE_PARTITIONS_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("count", INT32),
        Field("assignments", Array(_CREATE_PARTITIONS_ASSIGNMENT), nullable="0+"),
    ],
    name="CreatePartitionsTopic",
)

REQUEST = Message(
    "CreatePartitionsRequest",
    api_key=37,
    kind="request",
    valid="0-3",
    flexible="2+",
    fields=[
        Field("topics", Array(_CREATE_PARTITIONS_TOPIC)),
        Field("timeout_ms", INT32),
        Field("validate_only", BOOL),
    ],
)

_CREATE_PARTITIONS_TOPIC_RESULT = Struct(
    [
        Field("name", STRING),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
    ],
    name="CreatePartitionsTopicResult",
)

RESPONSE = Message(
    "CreatePartitionsResponse",
    api_key=37,
    kind="response",
    valid="0-3",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("results", Array(_CREATE_PARTITIONS_TOPIC_RESULT)),
    ],
)
