"""AlterPartitionReassignments (key 45): KIP-455 (start or cancel moving partitions to new
replicas), KIP-1206 (``allow_replication_factor_change``, v1)."""

from client.protocol.schema import BOOL, INT16, INT32, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "AlterPartitionReassignmentsRequest",
    api_key=45,
    kind="request",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("timeout_ms", INT32, default=60_000),
        Field("allow_replication_factor_change", BOOL, "1+", default=True),
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
                                    [
                                        Field("partition_index", INT32),
                                        Field("replicas", Array(INT32), nullable="0+"),
                                    ],
                                    name="ReassignablePartition",
                                )
                            ),
                        ),
                    ],
                    name="ReassignableTopic",
                )
            ),
        ),
    ],
)

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
    ],
    name="ReassignablePartitionResponse",
)

RESPONSE = Message(
    "AlterPartitionReassignmentsResponse",
    api_key=45,
    kind="response",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("allow_replication_factor_change", BOOL, "1+", default=True),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field(
            "responses",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("partitions", Array(_PARTITION)),
                    ],
                    name="ReassignableTopicResponse",
                )
            ),
        ),
    ],
)
