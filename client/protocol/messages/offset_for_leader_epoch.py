"""OffsetForLeaderEpoch (key 23): KIP-101, KIP-279 (leader epoch in the result, v1), KIP-320
(current leader epoch, v2), replica id (v3), KIP-482 (flexible, v4)."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_OFFSET_FOR_LEADER_PARTITION = Struct(
    [
        Field("partition", INT32),
        Field("current_leader_epoch", INT32, "2+", default=-1),
        Field("leader_epoch", INT32),
    ],
    name="OffsetForLeaderPartition",
)

_OFFSET_FOR_LEADER_TOPIC = Struct(
    [
        Field("topic", STRING),
        Field("partitions", Array(_OFFSET_FOR_LEADER_PARTITION)),
    ],
    name="OffsetForLeaderTopic",
)

REQUEST = Message(
    "OffsetForLeaderEpochRequest",
    api_key=23,
    kind="request",
    valid="0-4",
    flexible="4+",
    fields=[
        # -2 marks a debug request; consumers send -1 and followers their broker id.
        Field("replica_id", INT32, "3+", default=-2),
        Field("topics", Array(_OFFSET_FOR_LEADER_TOPIC)),
    ],
)

_EPOCH_END_OFFSET = Struct(
    [
        Field("error_code", INT16),
        Field("partition", INT32),
        Field("leader_epoch", INT32, "1+", default=-1),
        Field("end_offset", INT64, default=-1),
    ],
    name="EpochEndOffset",
)

_OFFSET_FOR_LEADER_TOPIC_RESULT = Struct(
    [
        Field("topic", STRING),
        Field("partitions", Array(_EPOCH_END_OFFSET)),
    ],
    name="OffsetForLeaderTopicResult",
)

RESPONSE = Message(
    "OffsetForLeaderEpochResponse",
    api_key=23,
    kind="response",
    valid="0-4",
    flexible="4+",
    fields=[
        Field("throttle_time_ms", INT32, "2+"),
        Field("topics", Array(_OFFSET_FOR_LEADER_TOPIC_RESULT)),
    ],
)
