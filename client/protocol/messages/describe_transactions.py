"""DescribeTransactions (key 65): KIP-664, the transaction coordinator's state of transactional
ids.  Flexible from v0."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "DescribeTransactionsRequest",
    api_key=65,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field("transactional_ids", Array(STRING)),
    ],
)

_TOPIC_DATA = Struct(
    [
        Field("topic", STRING),
        Field("partitions", Array(INT32)),
    ],
    name="TopicData",
)

_TRANSACTION_STATE = Struct(
    [
        Field("error_code", INT16),
        Field("transactional_id", STRING),
        Field("transaction_state", STRING),
        Field("transaction_timeout_ms", INT32),
        Field("transaction_start_time_ms", INT64),
        Field("producer_id", INT64),
        Field("producer_epoch", INT16),
        # Only the partitions without markers yet while preparing to commit or abort.
        Field("topics", Array(_TOPIC_DATA)),
    ],
    name="TransactionState",
)

RESPONSE = Message(
    "DescribeTransactionsResponse",
    api_key=65,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("transaction_states", Array(_TRANSACTION_STATE)),
    ],
)
