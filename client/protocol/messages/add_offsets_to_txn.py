"""AddOffsetsToTxn (key 25): KIP-98, a transactional producer adds a consumer group's offsets
partition to its transaction.  v1 is v0 (responses sent before throttling), v2 adds
PRODUCER_FENCED, v3 is flexible (KIP-482), v4 adds TRANSACTION_ABORTABLE (KIP-890); the layout
never changed."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Field, Message

REQUEST = Message(
    "AddOffsetsToTxnRequest",
    api_key=25,
    kind="request",
    valid="0-4",
    flexible="3+",
    fields=[
        Field("transactional_id", STRING),
        Field("producer_id", INT64),
        Field("producer_epoch", INT16),
        Field("group_id", STRING),
    ],
)

RESPONSE = Message(
    "AddOffsetsToTxnResponse",
    api_key=25,
    kind="response",
    valid="0-4",
    flexible="3+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
    ],
)
