"""DescribeClientQuotas (key 48, KIP-546): the quotas of the entities (user, client-id, ip)
that match a filter.  A component matches an entity type by exact name (0), the default
entity (1, name null) or any specified name (2); ``strict`` leaves out entities with types
the filter does not name."""

from client.protocol.schema import (
    BOOL,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    STRING,
    Array,
    Field,
    Message,
    Struct,
)

REQUEST = Message(
    "DescribeClientQuotasRequest",
    api_key=48,
    kind="request",
    valid="0-1",
    flexible="1+",
    fields=[
        Field(
            "components",
            Array(
                Struct(
                    [
                        Field("entity_type", STRING),
                        Field("match_type", INT8),
                        Field("match", STRING, nullable="0+"),
                    ],
                    name="ComponentData",
                )
            ),
        ),
        Field("strict", BOOL),
    ],
)

ENTITY = Struct(
    [Field("entity_type", STRING), Field("entity_name", STRING, nullable="0+")],
    name="EntityData",
)

RESPONSE = Message(
    "DescribeClientQuotasResponse",
    api_key=48,
    kind="response",
    valid="0-1",
    flexible="1+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field(
            "entries",
            Array(
                Struct(
                    [
                        Field("entity", Array(ENTITY)),
                        Field(
                            "values",
                            Array(
                                Struct(
                                    [Field("key", STRING), Field("value", FLOAT64)],
                                    name="ValueData",
                                )
                            ),
                        ),
                    ],
                    name="EntryData",
                )
            ),
            nullable="0+",
        ),
    ],
)
