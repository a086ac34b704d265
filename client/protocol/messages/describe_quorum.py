"""DescribeQuorum (key 55): KIP-595 (the KRaft metadata quorum: leader, epoch, high watermark,
voters and observers with their log end offsets), KIP-836 (fetch and caught-up times, v1),
KIP-853 (directory ids, error messages and the voters' endpoints, v2)."""

from client.protocol.schema import (
    INT16,
    INT32,
    INT64,
    STRING,
    UINT16,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

REQUEST = Message(
    "DescribeQuorumRequest",
    api_key=55,
    kind="request",
    valid="0-2",
    flexible="0+",
    fields=[
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("topic_name", STRING),
                        Field(
                            "partitions",
                            Array(Struct([Field("partition_index", INT32)], name="PartitionData")),
                        ),
                    ],
                    name="TopicData",
                )
            ),
        ),
    ],
)

_REPLICA_STATE = Struct(
    [
        Field("replica_id", INT32),
        Field("replica_directory_id", UUID, "2+"),
        Field("log_end_offset", INT64),
        Field("last_fetch_timestamp", INT64, "1+", default=-1),
        Field("last_caught_up_timestamp", INT64, "1+", default=-1),
    ],
    name="ReplicaState",
)

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, "2+", nullable="2+"),
        Field("leader_id", INT32),
        Field("leader_epoch", INT32),
        Field("high_watermark", INT64),
        Field("current_voters", Array(_REPLICA_STATE)),
        Field("observers", Array(_REPLICA_STATE)),
    ],
    name="PartitionData",
)

_NODE = Struct(
    [
        Field("node_id", INT32),
        Field(
            "listeners",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("host", STRING),
                        Field("port", UINT16),
                    ],
                    name="Listener",
                )
            ),
        ),
    ],
    name="Node",
)

RESPONSE = Message(
    "DescribeQuorumResponse",
    api_key=55,
    kind="response",
    valid="0-2",
    flexible="0+",
    fields=[
        Field("error_code", INT16),
        Field("error_message", STRING, "2+", nullable="2+"),
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("topic_name", STRING),
                        Field("partitions", Array(_PARTITION)),
                    ],
                    name="TopicData",
                )
            ),
        ),
        Field("nodes", Array(_NODE), "2+"),
    ],
)
