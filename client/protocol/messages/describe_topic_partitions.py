"""DescribeTopicPartitions (key 75): KIP-966 (eligible leader replicas), a Metadata for topics
paged by partition count with a cursor, which Kafka's own admin client (3.8+) uses to describe
topics."""

from client.protocol.schema import BOOL, INT16, INT32, STRING, UUID, Array, Field, Message, Struct

# Kafka's default ResponsePartitionLimit (and max.request.partition.size.limit).
DEFAULT_PARTITION_LIMIT = 2000

_CURSOR = Struct(
    [
        Field("topic_name", STRING),
        Field("partition_index", INT32),
    ],
    name="Cursor",
)

REQUEST = Message(
    "DescribeTopicPartitionsRequest",
    api_key=75,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field("topics", Array(Struct([Field("name", STRING)], name="TopicRequest"))),
        Field("response_partition_limit", INT32, default=DEFAULT_PARTITION_LIMIT),
        Field("cursor", _CURSOR, nullable="0+"),
    ],
)

_PARTITION = Struct(
    [
        Field("error_code", INT16),
        Field("partition_index", INT32),
        Field("leader_id", INT32),
        Field("leader_epoch", INT32, default=-1),
        Field("replica_nodes", Array(INT32)),
        Field("isr_nodes", Array(INT32)),
        Field("eligible_leader_replicas", Array(INT32), nullable="0+"),
        Field("last_known_elr", Array(INT32), nullable="0+"),
        Field("offline_replicas", Array(INT32)),
    ],
    name="DescribeTopicPartitionsResponsePartition",
)

_TOPIC = Struct(
    [
        Field("error_code", INT16),
        Field("name", STRING, nullable="0+"),
        Field("topic_id", UUID),
        Field("is_internal", BOOL),
        Field("partitions", Array(_PARTITION)),
        Field("topic_authorized_operations", INT32, default=-(2**31)),
    ],
    name="DescribeTopicPartitionsResponseTopic",
)

RESPONSE = Message(
    "DescribeTopicPartitionsResponse",
    api_key=75,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("topics", Array(_TOPIC)),
        Field("next_cursor", _CURSOR, nullable="0+"),
    ],
)
