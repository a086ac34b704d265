"""InitProducerId (key 22): KIP-98, KIP-482 (flexible, v2), KIP-360 (producer id and epoch to
bump, v3)."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Field, Message

REQUEST = Message(
    "InitProducerIdRequest",
    api_key=22,
    kind="request",
    valid="0-5",
    flexible="2+",
    fields=[
        Field("transactional_id", STRING, nullable="0+"),
        Field("transaction_timeout_ms", INT32),
        Field("producer_id", INT64, "3+", default=-1),
        Field("producer_epoch", INT16, "3+", default=-1),
    ],
)

RESPONSE = Message(
    "InitProducerIdResponse",
    api_key=22,
    kind="response",
    valid="0-5",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("producer_id", INT64, default=-1),
        Field("producer_epoch", INT16),
    ],
)
