"""AddPartitionsToTxn (key 24): KIP-98, a transactional producer adds partitions to its ongoing
transaction.  v1 is v0 (responses sent before throttling), v2 adds PRODUCER_FENCED, v3 is
flexible (KIP-482).

Only the client versions 0-3 are declared.  KIP-890's v4+ (the broker-to-broker batch of
transactions with ``verify_only``) is a different layout; Kafka keeps the client layout under
the ``V3AndBelow`` names, which these fields follow."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(INT32)),
    ],
    name="AddPartitionsToTxnTopic",
)

REQUEST = Message(
    "AddPartitionsToTxnRequest",
    api_key=24,
    kind="request",
    valid="0-3",
    flexible="3+",
    fields=[
        Field("v3_and_below_transactional_id", STRING, "0-3"),
        Field("v3_and_below_producer_id", INT64, "0-3"),
        Field("v3_and_below_producer_epoch", INT16, "0-3"),
        Field("v3_and_below_topics", Array(_TOPIC), "0-3"),
    ],
)

_PARTITION_RESULT = Struct(
    [
        Field("partition_index", INT32),
        Field("partition_error_code", INT16),
    ],
    name="AddPartitionsToTxnPartitionResult",
)

_TOPIC_RESULT = Struct(
    [
        Field("name", STRING),
        Field("results_by_partition", Array(_PARTITION_RESULT)),
    ],
    name="AddPartitionsToTxnTopicResult",
)

RESPONSE = Message(
    "AddPartitionsToTxnResponse",
    api_key=24,
    kind="response",
    valid="0-3",
    flexible="3+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("results_by_topic_v3_and_below", Array(_TOPIC_RESULT), "0-3"),
    ],
)
