"""Metadata (key 3): KIP-78 (cluster id, v2), KIP-320 (leader epoch, v7), KIP-430 (authorized
operations, v8; the cluster's moved to DescribeCluster after v10), KIP-482 (flexible, v9),
KIP-516 (topic ids, v10; null names for topics asked by id, v12), KIP-1102 (top-level error
code, v13)."""

from client.protocol.schema import BOOL, INT16, INT32, STRING, UUID, Array, Field, Message, Struct

_METADATA_REQUEST_TOPIC = Struct(
    [
        Field("topic_id", UUID, "10+"),
        Field("name", STRING, nullable="10+"),
    ],
    name="MetadataRequestTopic",
)

REQUEST = Message(
    "MetadataRequest",
    api_key=3,
    kind="request",
    valid="0-13",
    flexible="9+",
    fields=[
        Field("topics", Array(_METADATA_REQUEST_TOPIC), nullable="1+"),
        Field("allow_auto_topic_creation", BOOL, "4+", default=True),
        Field("include_cluster_authorized_operations", BOOL, "8-10"),
        Field("include_topic_authorized_operations", BOOL, "8+"),
    ],
)

_METADATA_RESPONSE_BROKER = Struct(
    [
        Field("node_id", INT32),
        Field("host", STRING),
        Field("port", INT32),
        Field("rack", STRING, "1+", nullable="1+"),
    ],
    name="MetadataResponseBroker",
)

_METADATA_RESPONSE_PARTITION = Struct(
    [
        Field("error_code", INT16),
        Field("partition_index", INT32),
        Field("leader_id", INT32),
        Field("leader_epoch", INT32, "7+", default=-1),
        Field("replica_nodes", Array(INT32)),
        Field("isr_nodes", Array(INT32)),
        Field("offline_replicas", Array(INT32), "5+"),
    ],
    name="MetadataResponsePartition",
)

# Kafka's "authorized operations not requested" value.
_AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

_METADATA_RESPONSE_TOPIC = Struct(
    [
        Field("error_code", INT16),
        Field("name", STRING, nullable="12+"),
        Field("topic_id", UUID, "10+"),
        Field("is_internal", BOOL, "1+", default=False),
        Field("partitions", Array(_METADATA_RESPONSE_PARTITION)),
        Field("topic_authorized_operations", INT32, "8+", default=_AUTHORIZED_OPERATIONS_OMITTED),
    ],
    name="MetadataResponseTopic",
)

RESPONSE = Message(
    "MetadataResponse",
    api_key=3,
    kind="response",
    valid="0-13",
    flexible="9+",
    fields=[
        Field("throttle_time_ms", INT32, "3+"),
        Field("brokers", Array(_METADATA_RESPONSE_BROKER)),
        Field("cluster_id", STRING, "2+", nullable="2+"),
        Field("controller_id", INT32, "1+", default=-1),
        Field("topics", Array(_METADATA_RESPONSE_TOPIC)),
        Field(
            "cluster_authorized_operations",
            INT32,
            "8-10",
            default=_AUTHORIZED_OPERATIONS_OMITTED,
        ),
        Field("error_code", INT16, "13+"),
    ],
)
