"""DescribeGroups (key 15): KIP-430 (authorized operations, v3), KIP-345 (group instance id,
v4), KIP-482 (flexible, v5)."""

from client.protocol.schema import BOOL, BYTES, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "DescribeGroupsRequest",
    api_key=15,
    kind="request",
    valid="0-5",
    flexible="5+",
    fields=[
        Field("groups", Array(STRING)),
        Field("include_authorized_operations", BOOL, "3+"),
    ],
)

_DESCRIBED_GROUP_MEMBER = Struct(
    [
        Field("member_id", STRING),
        Field("group_instance_id", STRING, "4+", nullable="4+"),
        Field("client_id", STRING),
        Field("client_host", STRING),
        Field("member_metadata", BYTES),
        Field("member_assignment", BYTES),
    ],
    name="DescribedGroupMember",
)

_DESCRIBED_GROUP = Struct(
    [
        Field("error_code", INT16),
        Field("group_id", STRING),
        Field("group_state", STRING),
        Field("protocol_type", STRING),
        Field("protocol_data", STRING),
        Field("members", Array(_DESCRIBED_GROUP_MEMBER)),
        Field("authorized_operations", INT32, "3+", default=-(2**31)),
    ],
    name="DescribedGroup",
)

RESPONSE = Message(
    "DescribeGroupsResponse",
    api_key=15,
    kind="response",
    valid="0-5",
    flexible="5+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("groups", Array(_DESCRIBED_GROUP)),
    ],
)
