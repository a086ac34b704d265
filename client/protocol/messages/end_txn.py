"""EndTxn (key 26): KIP-98, a transactional producer commits or aborts its transaction.  v1 is
v0 (responses sent before throttling), v2 adds PRODUCER_FENCED, v3 is flexible (KIP-482), v4
adds TRANSACTION_ABORTABLE, v5 (KIP-890, transactions v2) returns the producer id and epoch the
coordinator bumped to."""

from client.protocol.schema import BOOL, INT16, INT32, INT64, STRING, Field, Message

REQUEST = Message(
    "EndTxnRequest",
    api_key=26,
    kind="request",
    valid="0-5",
    flexible="3+",
    fields=[
        Field("transactional_id", STRING),
        Field("producer_id", INT64),
        Field("producer_epoch", INT16),
        # True to commit, false to abort.
        Field("committed", BOOL),
    ],
)

RESPONSE = Message(
    "EndTxnResponse",
    api_key=26,
    kind="response",
    valid="0-5",
    flexible="3+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("producer_id", INT64, "5+", default=-1),
        Field("producer_epoch", INT16, "5+", default=-1),
    ],
)
