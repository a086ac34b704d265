"""AllocateProducerIds (key 67, controller listener): a broker asks the controller for a block
of producer ids.  KIP-730 (v0).  Flexible from v0."""

from client.protocol.schema import INT16, INT32, INT64, Field, Message

REQUEST = Message(
    "AllocateProducerIdsRequest",
    api_key=67,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field("broker_id", INT32),
        Field("broker_epoch", INT64, default=-1),
    ],
)

RESPONSE = Message(
    "AllocateProducerIdsResponse",
    api_key=67,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        # The block is [producer_id_start, producer_id_start + producer_id_len).
        Field("producer_id_start", INT64),
        Field("producer_id_len", INT32),
    ],
)
