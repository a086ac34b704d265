"""LeaveGroup (key 13): KIP-345 (batch of members, v3), KIP-482 (flexible, v4), KIP-800
(reason, v5)."""

from client.protocol.schema import INT16, INT32, STRING, Array, Field, Message, Struct

_MEMBER_IDENTITY = Struct(
    [
        Field("member_id", STRING, "3+"),
        Field("group_instance_id", STRING, "3+", nullable="3+"),
        Field("reason", STRING, "5+", nullable="5+"),
    ],
    name="MemberIdentity",
)

REQUEST = Message(
    "LeaveGroupRequest",
    api_key=13,
    kind="request",
    valid="0-5",
    flexible="4+",
    fields=[
        Field("group_id", STRING),
        Field("member_id", STRING, "0-2"),
        Field("members", Array(_MEMBER_IDENTITY), "3+"),
    ],
)

_MEMBER_RESPONSE = Struct(
    [
        Field("member_id", STRING, "3+"),
        Field("group_instance_id", STRING, "3+", nullable="3+"),
        Field("error_code", INT16, "3+"),
    ],
    name="MemberResponse",
)

RESPONSE = Message(
    "LeaveGroupResponse",
    api_key=13,
    kind="response",
    valid="0-5",
    flexible="4+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("error_code", INT16),
        Field("members", Array(_MEMBER_RESPONSE), "3+"),
    ],
)
