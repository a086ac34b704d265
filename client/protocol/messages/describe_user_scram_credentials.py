"""DescribeUserScramCredentials (key 50, KIP-554): the SCRAM mechanisms and iteration counts
of users (null or empty ``users``: every user with a credential).  Never the keys."""

from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "DescribeUserScramCredentialsRequest",
    api_key=50,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field(
            "users",
            Array(Struct([Field("name", STRING)], name="UserName")),
            nullable="0+",
        ),
    ],
)

_CREDENTIAL = Struct(
    [Field("mechanism", INT8), Field("iterations", INT32)],
    name="CredentialInfo",
)

RESPONSE = Message(
    "DescribeUserScramCredentialsResponse",
    api_key=50,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field(
            "results",
            Array(
                Struct(
                    [
                        Field("user", STRING),
                        Field("error_code", INT16),
                        Field("error_message", STRING, nullable="0+"),
                        Field("credential_infos", Array(_CREDENTIAL)),
                    ],
                    name="DescribeUserScramCredentialsResult",
                )
            ),
        ),
    ],
)
