"""ListPartitionReassignments (key 46): KIP-455, the ongoing reassignments."""

from client.protocol.schema import INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "ListPartitionReassignmentsRequest",
    api_key=46,
    kind="request",
    valid="0",
    flexible="0+",
    fields=[
        Field("timeout_ms", INT32, default=60_000),
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("partition_indexes", Array(INT32)),
                    ],
                    name="ListPartitionReassignmentsTopics",
                )
            ),
            nullable="0+",
        ),
    ],
)

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("replicas", Array(INT32)),
        Field("adding_replicas", Array(INT32)),
        Field("removing_replicas", Array(INT32)),
    ],
    name="OngoingPartitionReassignment",
)

RESPONSE = Message(
    "ListPartitionReassignmentsResponse",
    api_key=46,
    kind="response",
    valid="0",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field(
            "topics",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("partitions", Array(_PARTITION)),
                    ],
                    name="OngoingTopicReassignment",
                )
            ),
        ),
    ],
)
