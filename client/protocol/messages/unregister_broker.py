"""UnregisterBroker (key 64): remove a broker's registration from the cluster metadata, as
``kafka-cluster unregister --id N`` does after decommissioning it (KIP-631).  Sent to any
broker, which forwards it to the controller.  Flexible from v0."""

from client.protocol.schema import INT16, INT32, STRING, Field, Message

REQUEST = Message(
    "UnregisterBrokerRequest",
    api_key=64,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[Field("broker_id", INT32)],
)

RESPONSE = Message(
    "UnregisterBrokerResponse",
    api_key=64,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
    ],
)
