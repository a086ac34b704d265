"""ShareGroupDescribe (key 77): KIP-932, the members, epochs and assignments of share groups
(``kafka-share-groups --describe``).  v1 is the stable version (v0 was 4.0's early access)."""

from client.protocol.schema import BOOL, INT16, INT32, STRING, UUID, Array, Field, Message, Struct

AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

REQUEST = Message(
    "ShareGroupDescribeRequest",
    api_key=77,
    kind="request",
    valid="1",
    flexible="0+",
    fields=[
        Field("group_ids", Array(STRING)),
        Field("include_authorized_operations", BOOL),
    ],
)

_TOPIC_PARTITIONS = Struct(
    [
        Field("topic_id", UUID),
        Field("topic_name", STRING),
        Field("partitions", Array(INT32)),
    ],
    name="TopicPartitions",
)

_ASSIGNMENT = Struct(
    [Field("topic_partitions", Array(_TOPIC_PARTITIONS))],
    name="Assignment",
)

_MEMBER = Struct(
    [
        Field("member_id", STRING),
        Field("rack_id", STRING, nullable="0+"),
        Field("member_epoch", INT32),
        Field("client_id", STRING),
        Field("client_host", STRING),
        Field("subscribed_topic_names", Array(STRING)),
        Field("assignment", _ASSIGNMENT),
    ],
    name="Member",
)

_GROUP = Struct(
    [
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("group_id", STRING),
        # Empty, Stable, Dead or Unknown.
        Field("group_state", STRING),
        Field("group_epoch", INT32),
        Field("assignment_epoch", INT32),
        Field("assignor_name", STRING),
        Field("members", Array(_MEMBER)),
        Field("authorized_operations", INT32, default=AUTHORIZED_OPERATIONS_OMITTED),
    ],
    name="DescribedGroup",
)

RESPONSE = Message(
    "ShareGroupDescribeResponse",
    api_key=77,
    kind="response",
    valid="1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("groups", Array(_GROUP)),
    ],
)
