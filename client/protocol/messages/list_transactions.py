"""ListTransactions (key 66): KIP-664, the transactions a coordinator knows, filtered by state
and producer id.  Flexible from v0; v1 adds the duration filter (KIP-994), v2 the transactional
id pattern (KIP-1152)."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "ListTransactionsRequest",
    api_key=66,
    kind="request",
    valid="0-2",
    flexible="0+",
    fields=[
        # Empty: every state.
        Field("state_filters", Array(STRING)),
        # Empty: every producer id.
        Field("producer_id_filters", Array(INT64)),
        # Negative: every transaction; else only those running longer than this many ms.
        Field("duration_filter", INT64, "1+", default=-1),
        # Null or empty: every transactional id; else a regular expression they must match.
        Field("transactional_id_pattern", STRING, "2+", nullable="2+", default=None),
    ],
)

_TRANSACTION_STATE = Struct(
    [
        Field("transactional_id", STRING),
        Field("producer_id", INT64),
        Field("transaction_state", STRING),
    ],
    name="TransactionState",
)

RESPONSE = Message(
    "ListTransactionsResponse",
    api_key=66,
    kind="response",
    valid="0-2",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("unknown_state_filters", Array(STRING)),
        Field("transaction_states", Array(_TRANSACTION_STATE)),
    ],
)
