"""AlterClientQuotas (key 49, KIP-546): set or remove quota values of user / client-id / ip
entities (a null entity name is the default entity).  A controller command: a broker-only
node forwards it."""

from client.protocol.messages.describe_client_quotas import ENTITY
from client.protocol.schema import (
    BOOL,
    FLOAT64,
    INT16,
    INT32,
    STRING,
    Array,
    Field,
    Message,
    Struct,
)

REQUEST = Message(
    "AlterClientQuotasRequest",
    api_key=49,
    kind="request",
    valid="0-1",
    flexible="1+",
    fields=[
        Field(
            "entries",
            Array(
                Struct(
                    [
                        Field("entity", Array(ENTITY)),
                        Field(
                            "ops",
                            Array(
                                Struct(
                                    [
                                        Field("key", STRING),
                                        Field("value", FLOAT64),
                                        Field("remove", BOOL),
                                    ],
                                    name="OpData",
                                )
                            ),
                        ),
                    ],
                    name="EntryData",
                )
            ),
        ),
        Field("validate_only", BOOL),
    ],
)

RESPONSE = Message(
    "AlterClientQuotasResponse",
    api_key=49,
    kind="response",
    valid="0-1",
    flexible="1+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field(
            "entries",
            Array(
                Struct(
                    [
                        Field("error_code", INT16),
                        Field("error_message", STRING, nullable="0+"),
                        Field("entity", Array(ENTITY)),
                    ],
                    name="EntryData",
                )
            ),
        ),
    ],
)
