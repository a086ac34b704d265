"""DeleteAcls (key 31, KIP-140): remove the ACL bindings matching each filter; one result per
filter, listing what it removed."""

from client.protocol.messages.describe_acls import FILTER_FIELDS
from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "DeleteAclsRequest",
    api_key=31,
    kind="request",
    valid="0-3",
    flexible="2+",
    fields=[
        Field(
            "filters",
            Array(Struct(FILTER_FIELDS, name="DeleteAclsFilter")),
        ),
    ],
)

_MATCHING = Struct(
    [
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("pattern_type", INT8, "1+", default=3),
        Field("principal", STRING),
        Field("host", STRING),
        Field("operation", INT8),
        Field("permission_type", INT8),
    ],
    name="DeleteAclsMatchingAcl",
)

RESPONSE = Message(
    "DeleteAclsResponse",
    api_key=31,
    kind="response",
    valid="0-3",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field(
            "filter_results",
            Array(
                Struct(
                    [
                        Field("error_code", INT16),
                        Field("error_message", STRING, nullable="0+"),
                        Field("matching_acls", Array(_MATCHING)),
                    ],
                    name="DeleteAclsFilterResult",
                )
            ),
        ),
    ],
)
