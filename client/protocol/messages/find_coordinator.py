"""FindCoordinator (key 10): KIP-98 (key type, v1), KIP-482 (flexible, v3), KIP-699 (several
keys per request, v4)."""

from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "FindCoordinatorRequest",
    api_key=10,
    kind="request",
    valid="0-4",
    flexible="3+",
    fields=[
        Field("key", STRING, "0-3"),
        Field("key_type", INT8, "1+"),
        Field("coordinator_keys", Array(STRING), "4+"),
    ],
)

_COORDINATOR = Struct(
    [
        Field("key", STRING, "4+"),
        Field("node_id", INT32, "4+"),
        Field("host", STRING, "4+"),
        Field("port", INT32, "4+"),
        Field("error_code", INT16, "4+"),
        Field("error_message", STRING, "4+", nullable="4+"),
    ],
    name="Coordinator",
)

RESPONSE = Message(
    "FindCoordinatorResponse",
    api_key=10,
    kind="response",
    valid="0-4",
    flexible="3+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("error_code", INT16, "0-3"),
        Field("error_message", STRING, "1-3", nullable="1-3"),
        Field("node_id", INT32, "0-3"),
        Field("host", STRING, "0-3"),
        Field("port", INT32, "0-3"),
        Field("coordinators", Array(_COORDINATOR), "4+"),
    ],
)
