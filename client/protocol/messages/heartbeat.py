"""Heartbeat (key 12): KIP-345 (group instance id, v3), KIP-482 (flexible, v4)."""

from client.protocol.schema import INT16, INT32, STRING, Field, Message

REQUEST = Message(
    "HeartbeatRequest",
    api_key=12,
    kind="request",
    valid="0-4",
    flexible="4+",
    fields=[
        Field("group_id", STRING),
        Field("generation_id", INT32),
        Field("member_id", STRING),
        Field("group_instance_id", STRING, "3+", nullable="3+"),
    ],
)

RESPONSE = Message(
    "HeartbeatResponse",
    api_key=12,
    kind="response",
    valid="0-4",
    flexible="4+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("error_code", INT16),
    ],
)
