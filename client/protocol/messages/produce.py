"""Produce (key 0): KIP-98 (transactional id, v3), KIP-467 (record errors, v8), KIP-482
(flexible, v9), KIP-951 (leader discovery: current leader and node endpoints, v10)."""

from client.protocol.schema import (
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    Array,
    Field,
    Message,
    Struct,
)

_PARTITION_PRODUCE_DATA = Struct(
    [
        Field("index", INT32),
        Field("records", RECORDS, nullable="0+"),
    ],
    name="PartitionProduceData",
)

_TOPIC_PRODUCE_DATA = Struct(
    [
        Field("name", STRING),
        Field("partition_data", Array(_PARTITION_PRODUCE_DATA)),
    ],
    name="TopicProduceData",
)

REQUEST = Message(
    "ProduceRequest",
    api_key=0,
    kind="request",
    valid="3-10",
    flexible="9+",
    fields=[
        Field("transactional_id", STRING, "3+", nullable="3+"),
        Field("acks", INT16),
        Field("timeout_ms", INT32),
        Field("topic_data", Array(_TOPIC_PRODUCE_DATA)),
    ],
)

_BATCH_INDEX_AND_ERROR_MESSAGE = Struct(
    [
        Field("batch_index", INT32, "8+"),
        Field("batch_index_error_message", STRING, "8+", nullable="8+"),
    ],
    name="BatchIndexAndErrorMessage",
)

_LEADER_ID_AND_EPOCH = Struct(
    [
        Field("leader_id", INT32, "10+", default=-1),
        Field("leader_epoch", INT32, "10+", default=-1),
    ],
    name="LeaderIdAndEpoch",
)

_PARTITION_PRODUCE_RESPONSE = Struct(
    [
        Field("index", INT32),
        Field("error_code", INT16),
        Field("base_offset", INT64),
        Field("log_append_time_ms", INT64, "2+", default=-1),
        Field("log_start_offset", INT64, "5+", default=-1),
        Field("record_errors", Array(_BATCH_INDEX_AND_ERROR_MESSAGE), "8+"),
        Field("error_message", STRING, "8+", nullable="8+"),
        Field("current_leader", _LEADER_ID_AND_EPOCH, "10+", tag=0),
    ],
    name="PartitionProduceResponse",
)

_TOPIC_PRODUCE_RESPONSE = Struct(
    [
        Field("name", STRING),
        Field("partition_responses", Array(_PARTITION_PRODUCE_RESPONSE)),
    ],
    name="TopicProduceResponse",
)

_NODE_ENDPOINT = Struct(
    [
        Field("node_id", INT32, "10+"),
        Field("host", STRING, "10+"),
        Field("port", INT32, "10+"),
        Field("rack", STRING, "10+", nullable="10+"),
    ],
    name="NodeEndpoint",
)

RESPONSE = Message(
    "ProduceResponse",
    api_key=0,
    kind="response",
    valid="3-10",
    flexible="9+",
    fields=[
        Field("responses", Array(_TOPIC_PRODUCE_RESPONSE)),
        Field("throttle_time_ms", INT32, "1+"),
        Field("node_endpoints", Array(_NODE_ENDPOINT), "10+", tag=0),
    ],
)
