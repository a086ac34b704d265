"""DescribeProducers (key 61): KIP-664, the active (idempotent or transactional) producers of
partitions, as their leaders' producer state has them."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "DescribeProducersRequest",
    api_key=61,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("partition_indexes", Array(INT32)),
                    ],
                    name="TopicRequest",
                )
            ),
        ),
    ],
)

_PRODUCER_STATE = Struct(
    [
        Field("producer_id", INT64),
        Field("producer_epoch", INT32),
        Field("last_sequence", INT32, default=-1),
        Field("last_timestamp", INT64, default=-1),
        Field("coordinator_epoch", INT32),
        Field("current_txn_start_offset", INT64, default=-1),
    ],
    name="ProducerState",
)

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("active_producers", Array(_PRODUCER_STATE)),
    ],
    name="PartitionResponse",
)

RESPONSE = Message(
    "DescribeProducersResponse",
    api_key=61,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("partitions", Array(_PARTITION)),
                    ],
                    name="TopicResponse",
                )
            ),
        ),
    ],
)
