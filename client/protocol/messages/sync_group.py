"""SyncGroup (key 14): KIP-345 (group instance id, v3), KIP-482 (flexible, v4), KIP-559
(protocol type and name, v5)."""

from client.protocol.schema import BYTES, INT16, INT32, STRING, Array, Field, Message, Struct

_SYNC_GROUP_REQUEST_ASSIGNMENT = Struct(
    [
        Field("member_id", STRING),
        Field("assignment", BYTES),
    ],
    name="SyncGroupRequestAssignment",
)

REQUEST = Message(
    "SyncGroupRequest",
    api_key=14,
    kind="request",
    valid="0-5",
    flexible="4+",
    fields=[
        Field("group_id", STRING),
        Field("generation_id", INT32),
        Field("member_id", STRING),
        Field("group_instance_id", STRING, "3+", nullable="3+"),
        Field("protocol_type", STRING, "5+", nullable="5+"),
        Field("protocol_name", STRING, "5+", nullable="5+"),
        Field("assignments", Array(_SYNC_GROUP_REQUEST_ASSIGNMENT)),
    ],
)

RESPONSE = Message(
    "SyncGroupResponse",
    api_key=14,
    kind="response",
    valid="0-5",
    flexible="4+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("error_code", INT16),
        Field("protocol_type", STRING, "5+", nullable="5+"),
        Field("protocol_name", STRING, "5+", nullable="5+"),
        Field("assignment", BYTES),
    ],
)
