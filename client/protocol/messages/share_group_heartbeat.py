"""ShareGroupHeartbeat (key 76): KIP-932 share groups join (epoch 0), heartbeat and leave
(epoch -1) with this one API; the group coordinator assigns partitions server side, sharing a
partition among several members when they outnumber the partitions.  v0 was Kafka 4.0's early
access and was removed in 4.1; v1 is the stable version (the consumer generates its member
id).  Flexible from v0.  The rack and subscription are null when unchanged."""

from client.protocol.schema import INT16, INT32, STRING, UUID, Array, Field, Message, Struct

_TOPIC_PARTITIONS = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(INT32)),
    ],
    name="TopicPartitions",
)

REQUEST = Message(
    "ShareGroupHeartbeatRequest",
    api_key=76,
    kind="request",
    valid="1",
    flexible="0+",
    fields=[
        Field("group_id", STRING),
        Field("member_id", STRING),
        # 0 to join, -1 to leave.
        Field("member_epoch", INT32),
        Field("rack_id", STRING, nullable="0+"),
        Field("subscribed_topic_names", Array(STRING), nullable="0+"),
    ],
)

_ASSIGNMENT = Struct(
    [Field("topic_partitions", Array(_TOPIC_PARTITIONS))],
    name="Assignment",
)

RESPONSE = Message(
    "ShareGroupHeartbeatResponse",
    api_key=76,
    kind="response",
    valid="1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("member_id", STRING, nullable="0+"),
        Field("member_epoch", INT32),
        Field("heartbeat_interval_ms", INT32),
        # Null when not sent: only on a join, a full request, or a changed assignment.
        Field("assignment", _ASSIGNMENT, nullable="0+"),
    ],
)
