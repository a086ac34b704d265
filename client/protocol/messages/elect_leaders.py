"""ElectLeaders (key 43): KIP-183 (preferred, v0), KIP-460 (election type and a top-level
error, v1), KIP-482 (flexible, v2)."""

from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

_TOPIC_PARTITIONS = Struct(
    [
        Field("topic", STRING),
        Field("partitions", Array(INT32)),
    ],
    name="TopicPartitions",
)

REQUEST = Message(
    "ElectLeadersRequest",
    api_key=43,
    kind="request",
    valid="0-2",
    flexible="2+",
    fields=[
        # 0 elects the preferred replica, 1 any live replica of a leaderless partition.
        Field("election_type", INT8, "1+"),
        # Null: every partition of the cluster.
        Field("topic_partitions", Array(_TOPIC_PARTITIONS), nullable="0+"),
        Field("timeout_ms", INT32, default=60000),
    ],
)

_PARTITION_RESULT = Struct(
    [
        Field("partition_id", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
    ],
    name="PartitionResult",
)

_REPLICA_ELECTION_RESULT = Struct(
    [
        Field("topic", STRING),
        Field("partition_result", Array(_PARTITION_RESULT)),
    ],
    name="ReplicaElectionResult",
)

RESPONSE = Message(
    "ElectLeadersResponse",
    api_key=43,
    kind="response",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16, "1+"),
        Field("replica_election_results", Array(_REPLICA_ELECTION_RESULT)),
    ],
)
