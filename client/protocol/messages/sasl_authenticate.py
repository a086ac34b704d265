"""SaslAuthenticate (key 36, KIP-152): one SASL token each way; ``session_lifetime_ms`` (v1+,
KIP-368) is 0 when the broker does not ask for re-authentication."""

from client.protocol.schema import BYTES, INT16, INT64, STRING, Field, Message

REQUEST = Message(
    "SaslAuthenticateRequest",
    api_key=36,
    kind="request",
    valid="0-2",
    flexible="2+",
    fields=[Field("auth_bytes", BYTES)],
)

RESPONSE = Message(
    "SaslAuthenticateResponse",
    api_key=36,
    kind="response",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("auth_bytes", BYTES),
        Field("session_lifetime_ms", INT64, "1+", default=0),
    ],
)
