"""SaslHandshake (key 17): the client names its SASL mechanism; the answer lists the enabled
ones.  From v1 the tokens then travel in SaslAuthenticate requests; after a v0 handshake they
follow as bare size-prefixed frames (KIP-152)."""

from client.protocol.schema import INT16, STRING, Array, Field, Message

REQUEST = Message(
    "SaslHandshakeRequest",
    api_key=17,
    kind="request",
    valid="0-1",
    flexible="none",
    fields=[Field("mechanism", STRING)],
)

RESPONSE = Message(
    "SaslHandshakeResponse",
    api_key=17,
    kind="response",
    valid="0-1",
    flexible="none",
    fields=[
        Field("error_code", INT16),
        Field("mechanisms", Array(STRING)),
    ],
)
