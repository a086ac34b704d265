"""ListGroups (key 16): KIP-482 (flexible, v3), KIP-518 (states filter, v4), KIP-848 (v5: the
request's types filter and each listed group's type, ``classic`` or ``consumer``)."""

from client.protocol.schema import INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "ListGroupsRequest",
    api_key=16,
    kind="request",
    valid="0-5",
    flexible="3+",
    fields=[
        Field("states_filter", Array(STRING), "4+"),
        # Empty: every group, whatever its type.
        Field("types_filter", Array(STRING), "5+"),
    ],
)

_LISTED_GROUP = Struct(
    [
        Field("group_id", STRING),
        Field("protocol_type", STRING),
        Field("group_state", STRING, "4+"),
        Field("group_type", STRING, "5+"),
    ],
    name="ListedGroup",
)

RESPONSE = Message(
    "ListGroupsResponse",
    api_key=16,
    kind="response",
    valid="0-5",
    flexible="3+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("error_code", INT16),
        Field("groups", Array(_LISTED_GROUP)),
    ],
)
