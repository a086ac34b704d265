"""CreateTopics (key 19): KIP-108 (validate only, v1), KIP-482 (flexible, v5), KIP-525
(resulting configs, v5), KIP-516 (topic id, v7)."""

from client.protocol.schema import (
    BOOL,
    INT8,
    INT16,
    INT32,
    STRING,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

_CREATABLE_REPLICA_ASSIGNMENT = Struct(
    [
        Field("partition_index", INT32),
        Field("broker_ids", Array(INT32)),
    ],
    name="CreatableReplicaAssignment",
)

_CREATABLE_TOPIC_CONFIG = Struct(
    [
        Field("name", STRING),
        Field("value", STRING, nullable="0+"),
    ],
    name="CreatableTopicConfig",
)

_CREATABLE_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("num_partitions", INT32),
        Field("replication_factor", INT16),
        Field("assignments", Array(_CREATABLE_REPLICA_ASSIGNMENT)),
        Field("configs", Array(_CREATABLE_TOPIC_CONFIG)),
    ],
    name="CreatableTopic",
)

REQUEST = Message(
    "CreateTopicsRequest",
    api_key=19,
    kind="request",
    valid="0-7",
    flexible="5+",
    fields=[
        Field("topics", Array(_CREATABLE_TOPIC)),
        Field("timeout_ms", INT32, default=60000),
        Field("validate_only", BOOL, "1+", default=False),
    ],
)

_CREATABLE_TOPIC_CONFIGS = Struct(
    [
        Field("name", STRING, "5+"),
        Field("value", STRING, "5+", nullable="5+"),
        Field("read_only", BOOL, "5+"),
        Field("config_source", INT8, "5+", default=-1),
        Field("is_sensitive", BOOL, "5+"),
    ],
    name="CreatableTopicConfigs",
)

_CREATABLE_TOPIC_RESULT = Struct(
    [
        Field("name", STRING),
        Field("topic_id", UUID, "7+"),
        Field("error_code", INT16),
        Field("error_message", STRING, "1+", nullable="0+"),
        Field("topic_config_error_code", INT16, "5+", tag=0),
        Field("num_partitions", INT32, "5+", default=-1),
        Field("replication_factor", INT16, "5+", default=-1),
        Field("configs", Array(_CREATABLE_TOPIC_CONFIGS), "5+", nullable="5+"),
    ],
    name="CreatableTopicResult",
)

RESPONSE = Message(
    "CreateTopicsResponse",
    api_key=19,
    kind="response",
    valid="0-7",
    flexible="5+",
    fields=[
        Field("throttle_time_ms", INT32, "2+"),
        Field("topics", Array(_CREATABLE_TOPIC_RESULT)),
    ],
)
