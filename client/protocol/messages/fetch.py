"""Fetch (key 1): KIP-98 (isolation level, aborted transactions, v4), KIP-227 (fetch sessions,
v7), KIP-320 (current leader epoch, v9), KIP-392 (rack id, preferred read replica, v11),
KIP-595 (diverging epoch, snapshot id, v12), KIP-516 (topic ids, v13), KIP-903 (replica
state, v15), KIP-951 (current leader and node endpoints, v12 / v16)."""

from client.protocol.schema import (
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

_REPLICA_STATE = Struct(
    [
        Field("replica_id", INT32, "15+", default=-1),
        Field("replica_epoch", INT64, "15+", default=-1),
    ],
    name="ReplicaState",
)

_FETCH_PARTITION = Struct(
    [
        Field("partition", INT32),
        Field("current_leader_epoch", INT32, "9+", default=-1),
        Field("fetch_offset", INT64),
        Field("last_fetched_epoch", INT32, "12+", default=-1),
        Field("log_start_offset", INT64, "5+", default=-1),
        Field("partition_max_bytes", INT32),
    ],
    name="FetchPartition",
)

_FETCH_TOPIC = Struct(
    [
        Field("topic", STRING, "0-12"),
        Field("topic_id", UUID, "13+"),
        Field("partitions", Array(_FETCH_PARTITION)),
    ],
    name="FetchTopic",
)

_FORGOTTEN_TOPIC = Struct(
    [
        Field("topic", STRING, "7-12"),
        Field("topic_id", UUID, "13+"),
        Field("partitions", Array(INT32), "7+"),
    ],
    name="ForgottenTopic",
)

REQUEST = Message(
    "FetchRequest",
    api_key=1,
    kind="request",
    valid="4-16",
    flexible="12+",
    fields=[
        Field("cluster_id", STRING, "12+", nullable="12+", tag=0),
        Field("replica_id", INT32, "0-14", default=-1),
        Field("replica_state", _REPLICA_STATE, "15+", tag=1),
        Field("max_wait_ms", INT32),
        Field("min_bytes", INT32),
        Field("max_bytes", INT32, "3+", default=0x7FFFFFFF),
        Field("isolation_level", INT8, "4+"),
        Field("session_id", INT32, "7+"),
        Field("session_epoch", INT32, "7+", default=-1),
        Field("topics", Array(_FETCH_TOPIC)),
        Field("forgotten_topics_data", Array(_FORGOTTEN_TOPIC), "7+"),
        Field("rack_id", STRING, "11+"),
    ],
)

_EPOCH_END_OFFSET = Struct(
    [
        Field("epoch", INT32, "12+", default=-1),
        Field("end_offset", INT64, "12+", default=-1),
    ],
    name="EpochEndOffset",
)

_LEADER_ID_AND_EPOCH = Struct(
    [
        Field("leader_id", INT32, "12+", default=-1),
        Field("leader_epoch", INT32, "12+", default=-1),
    ],
    name="LeaderIdAndEpoch",
)

_SNAPSHOT_ID = Struct(
    [
        Field("end_offset", INT64, default=-1),
        Field("epoch", INT32, default=-1),
    ],
    name="SnapshotId",
)

_ABORTED_TRANSACTION = Struct(
    [
        Field("producer_id", INT64, "4+"),
        Field("first_offset", INT64, "4+"),
    ],
    name="AbortedTransaction",
)

_PARTITION_DATA = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("high_watermark", INT64),
        Field("last_stable_offset", INT64, "4+", default=-1),
        Field("log_start_offset", INT64, "5+", default=-1),
        Field("diverging_epoch", _EPOCH_END_OFFSET, "12+", tag=0),
        Field("current_leader", _LEADER_ID_AND_EPOCH, "12+", tag=1),
        Field("snapshot_id", _SNAPSHOT_ID, "12+", tag=2),
        Field("aborted_transactions", Array(_ABORTED_TRANSACTION), "4+", nullable="4+"),
        Field("preferred_read_replica", INT32, "11+", default=-1),
        Field("records", RECORDS, nullable="0+"),
    ],
    name="PartitionData",
)

_FETCHABLE_TOPIC_RESPONSE = Struct(
    [
        Field("topic", STRING, "0-12"),
        Field("topic_id", UUID, "13+"),
        Field("partitions", Array(_PARTITION_DATA)),
    ],
    name="FetchableTopicResponse",
)

_NODE_ENDPOINT = Struct(
    [
        Field("node_id", INT32, "16+"),
        Field("host", STRING, "16+"),
        Field("port", INT32, "16+"),
        Field("rack", STRING, "16+", nullable="16+"),
    ],
    name="NodeEndpoint",
)

RESPONSE = Message(
    "FetchResponse",
    api_key=1,
    kind="response",
    valid="4-16",
    flexible="12+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("error_code", INT16, "7+"),
        Field("session_id", INT32, "7+"),
        Field("responses", Array(_FETCHABLE_TOPIC_RESPONSE)),
        Field("node_endpoints", Array(_NODE_ENDPOINT), "16+", tag=0),
    ],
)
