"""DescribeAcls (key 29, KIP-140): the ACL bindings matching a filter.  ``pattern_type_filter``
(v1+, KIP-290) defaults to 3 (LITERAL) as Kafka's schema has it."""

from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

# An ACL binding filter: DescribeAcls' request, and each filter of DeleteAcls.
FILTER_FIELDS = [
    Field("resource_type_filter", INT8),
    Field("resource_name_filter", STRING, nullable="0+"),
    Field("pattern_type_filter", INT8, "1+", default=3),
    Field("principal_filter", STRING, nullable="0+"),
    Field("host_filter", STRING, nullable="0+"),
    Field("operation", INT8),
    Field("permission_type", INT8),
]

REQUEST = Message(
    "DescribeAclsRequest",
    api_key=29,
    kind="request",
    valid="0-3",
    flexible="2+",
    fields=FILTER_FIELDS,
)

_ACL = Struct(
    [
        Field("principal", STRING),
        Field("host", STRING),
        Field("operation", INT8),
        Field("permission_type", INT8),
    ],
    name="AclDescription",
)

RESPONSE = Message(
    "DescribeAclsResponse",
    api_key=29,
    kind="response",
    valid="0-3",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field(
            "resources",
            Array(
                Struct(
                    [
                        Field("resource_type", INT8),
                        Field("resource_name", STRING),
                        Field("pattern_type", INT8, "1+", default=3),
                        Field("acls", Array(_ACL)),
                    ],
                    name="DescribeAclsResource",
                )
            ),
        ),
    ],
)
