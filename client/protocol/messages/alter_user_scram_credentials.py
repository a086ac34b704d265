"""AlterUserScramCredentials (key 51, KIP-554): delete or upsert users' SCRAM credentials.
The client salts the password itself: the request carries the salt and the salted password,
which the controller turns into the stored and server keys."""

from client.protocol.schema import BYTES, INT8, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "AlterUserScramCredentialsRequest",
    api_key=51,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field(
            "deletions",
            Array(
                Struct(
                    [Field("name", STRING), Field("mechanism", INT8)],
                    name="ScramCredentialDeletion",
                )
            ),
        ),
        Field(
            "upsertions",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("mechanism", INT8),
                        Field("iterations", INT32),
                        Field("salt", BYTES),
                        Field("salted_password", BYTES),
                    ],
                    name="ScramCredentialUpsertion",
                )
            ),
        ),
    ],
)

RESPONSE = Message(
    "AlterUserScramCredentialsResponse",
    api_key=51,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field(
            "results",
            Array(
                Struct(
                    [
                        Field("user", STRING),
                        Field("error_code", INT16),
                        Field("error_message", STRING, nullable="0+"),
                    ],
                    name="AlterUserScramCredentialsResult",
                )
            ),
        ),
    ],
)
