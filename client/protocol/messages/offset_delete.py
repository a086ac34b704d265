"""OffsetDelete (key 47): KIP-496, deleting a group's committed offsets of some partitions."""

from client.protocol.schema import INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "OffsetDeleteRequest",
    api_key=47,
    kind="request",
    valid="0",
    flexible="none",
    fields=[
        Field("group_id", STRING),
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field(
                            "partitions",
                            Array(
                                Struct(
                                    [Field("partition_index", INT32)],
                                    name="OffsetDeleteRequestPartition",
                                )
                            ),
                        ),
                    ],
                    name="OffsetDeleteRequestTopic",
                )
            ),
        ),
    ],
)

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
    name="OffsetDeleteResponsePartition",
)

RESPONSE = Message(
    "OffsetDeleteResponse",
    api_key=47,
    kind="response",
    valid="0",
    flexible="none",
    fields=[
        Field("error_code", INT16),
        Field("throttle_time_ms", INT32),
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("partitions", Array(_PARTITION)),
                    ],
                    name="OffsetDeleteResponseTopic",
                )
            ),
        ),
    ],
)
