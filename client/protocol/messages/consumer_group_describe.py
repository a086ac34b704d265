"""ConsumerGroupDescribe (key 69): KIP-848, describes groups of the next-generation consumer
protocol (group and assignment epochs, the server-side assignor, each member's subscription and
its current and target assignments).  Flexible from v0.  v1 adds each member's type (KIP-1099:
-1 unknown, 0 classic, 1 consumer)."""

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

REQUEST = Message(
    "ConsumerGroupDescribeRequest",
    api_key=69,
    kind="request",
    valid="0-1",
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
    [
        Field("topic_partitions", Array(_TOPIC_PARTITIONS)),
    ],
    name="Assignment",
)

_MEMBER = Struct(
    [
        Field("member_id", STRING),
        Field("instance_id", STRING, nullable="0+"),
        Field("rack_id", STRING, nullable="0+"),
        Field("member_epoch", INT32),
        Field("client_id", STRING),
        Field("client_host", STRING),
        Field("subscribed_topic_names", Array(STRING)),
        Field("subscribed_topic_regex", STRING, nullable="0+"),
        Field("assignment", _ASSIGNMENT),
        Field("target_assignment", _ASSIGNMENT),
        Field("member_type", INT8, "1+", default=-1),
    ],
    name="Member",
)

_DESCRIBED_GROUP = Struct(
    [
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("group_id", STRING),
        Field("group_state", STRING),
        Field("group_epoch", INT32),
        Field("assignment_epoch", INT32),
        Field("assignor_name", STRING),
        Field("members", Array(_MEMBER)),
        Field("authorized_operations", INT32, default=-(2**31)),
    ],
    name="DescribedGroup",
)

RESPONSE = Message(
    "ConsumerGroupDescribeResponse",
    api_key=69,
    kind="response",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("groups", Array(_DESCRIBED_GROUP)),
    ],
)
