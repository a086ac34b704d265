"""JoinGroup (key 11): KIP-62 (rebalance timeout, v1), KIP-345 (group instance id, v5),
KIP-482 (flexible, v6), KIP-559 (protocol type in the response, v7), KIP-800 (reason, v8),
KIP-814 (skip assignment, v9)."""

from client.protocol.schema import BOOL, BYTES, INT16, INT32, STRING, Array, Field, Message, Struct

_JOIN_GROUP_REQUEST_PROTOCOL = Struct(
    [
        Field("name", STRING),
        Field("metadata", BYTES),
    ],
    name="JoinGroupRequestProtocol",
)

REQUEST = Message(
    "JoinGroupRequest",
    api_key=11,
    kind="request",
    valid="0-9",
    flexible="6+",
    fields=[
        Field("group_id", STRING),
        Field("session_timeout_ms", INT32),
        Field("rebalance_timeout_ms", INT32, "1+", default=-1),
        Field("member_id", STRING),
        Field("group_instance_id", STRING, "5+", nullable="5+"),
        Field("protocol_type", STRING),
        Field("protocols", Array(_JOIN_GROUP_REQUEST_PROTOCOL)),
        Field("reason", STRING, "8+", nullable="8+"),
    ],
)

_JOIN_GROUP_RESPONSE_MEMBER = Struct(
    [
        Field("member_id", STRING),
        Field("group_instance_id", STRING, "5+", nullable="5+"),
        Field("metadata", BYTES),
    ],
    name="JoinGroupResponseMember",
)

RESPONSE = Message(
    "JoinGroupResponse",
    api_key=11,
    kind="response",
    valid="0-9",
    flexible="6+",
    fields=[
        Field("throttle_time_ms", INT32, "2+"),
        Field("error_code", INT16),
        Field("generation_id", INT32, default=-1),
        Field("protocol_type", STRING, "7+", nullable="7+"),
        Field("protocol_name", STRING, nullable="7+"),
        Field("leader", STRING),
        Field("skip_assignment", BOOL, "9+", default=False),
        Field("member_id", STRING),
        Field("members", Array(_JOIN_GROUP_RESPONSE_MEMBER)),
    ],
)
