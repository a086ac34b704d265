"""CreateAcls (key 30, KIP-140): add ACL bindings; one result per creation, in order."""

from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "CreateAclsRequest",
    api_key=30,
    kind="request",
    valid="0-3",
    flexible="2+",
    fields=[
        Field(
            "creations",
            Array(
                Struct(
                    [
                        Field("resource_type", INT8),
                        Field("resource_name", STRING),
                        Field("resource_pattern_type", INT8, "1+", default=3),
                        Field("principal", STRING),
                        Field("host", STRING),
                        Field("operation", INT8),
                        Field("permission_type", INT8),
                    ],
                    name="AclCreation",
                )
            ),
        ),
    ],
)

RESPONSE = Message(
    "CreateAclsResponse",
    api_key=30,
    kind="response",
    valid="0-3",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field(
            "results",
            Array(
                Struct(
                    [
                        Field("error_code", INT16),
                        Field("error_message", STRING, nullable="0+"),
                    ],
                    name="AclCreationResult",
                )
            ),
        ),
    ],
)
