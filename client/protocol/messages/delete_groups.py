"""DeleteGroups (key 42): KIP-229, KIP-482 (flexible, v2)."""

from client.protocol.schema import INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "DeleteGroupsRequest",
    api_key=42,
    kind="request",
    valid="0-2",
    flexible="2+",
    fields=[Field("groups_names", Array(STRING))],
)

_DELETABLE_GROUP_RESULT = Struct(
    [
        Field("group_id", STRING),
        Field("error_code", INT16),
    ],
    name="DeletableGroupResult",
)

RESPONSE = Message(
    "DeleteGroupsResponse",
    api_key=42,
    kind="response",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("results", Array(_DELETABLE_GROUP_RESULT)),
    ],
)
