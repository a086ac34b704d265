"""ConsumerGroupHeartbeat (key 68): KIP-848, the next-generation consumer group protocol.  A
member joins (epoch 0), heartbeats, and leaves (epoch -1, or -2 for a static member that will
rejoin) with this one API; the group coordinator computes assignments server side and hands each
member its partitions in the response.  Flexible from v0.  v1 adds the subscribed topic regex,
and from v1 the consumer generates its own member id (KIP-1082).

Most request fields are sent only when they changed since the last heartbeat: null (or -1 for
the rebalance timeout) means unchanged.
"""

from client.protocol.schema import INT16, INT32, STRING, UUID, Array, Field, Message, Struct

_TOPIC_PARTITIONS = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(INT32)),
    ],
    name="TopicPartitions",
)

REQUEST = Message(
    "ConsumerGroupHeartbeatRequest",
    api_key=68,
    kind="request",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("group_id", STRING),
        Field("member_id", STRING),
        # 0 to join, -1 to leave, -2 for a static member leaving that will rejoin.
        Field("member_epoch", INT32),
        Field("instance_id", STRING, nullable="0+"),
        Field("rack_id", STRING, nullable="0+"),
        Field("rebalance_timeout_ms", INT32, default=-1),
        Field("subscribed_topic_names", Array(STRING), nullable="0+"),
        Field("subscribed_topic_regex", STRING, "1+", nullable="1+"),
        Field("server_assignor", STRING, nullable="0+"),
        # The partitions the member owns.
        Field("topic_partitions", Array(_TOPIC_PARTITIONS), nullable="0+"),
    ],
)

_ASSIGNMENT = Struct(
    [
        # The partitions the member may use right away.
        Field("topic_partitions", Array(_TOPIC_PARTITIONS)),
    ],
    name="Assignment",
)

RESPONSE = Message(
    "ConsumerGroupHeartbeatResponse",
    api_key=68,
    kind="response",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("member_id", STRING, nullable="0+"),
        Field("member_epoch", INT32),
        Field("heartbeat_interval_ms", INT32),
        # A nullable struct (KIP-893): null when the assignment did not change.
        Field("assignment", _ASSIGNMENT, nullable="0+"),
    ],
)
