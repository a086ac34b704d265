"""AlterReplicaLogDirs (key 34): KIP-113 (move a replica to another of its broker's log
dirs).  Kafka 4 removed v0 (KIP-896); v1 is its layout, v2 is flexible."""

from client.protocol.schema import INT16, INT32, STRING, Array, Field, Message, Struct

_DIR = Struct(
    [
        Field("path", STRING),
        Field(
            "topics",
            Array(
                Struct(
                    [Field("name", STRING), Field("partitions", Array(INT32))],
                    name="AlterReplicaLogDirTopic",
                )
            ),
        ),
    ],
    name="AlterReplicaLogDir",
)

REQUEST = Message(
    "AlterReplicaLogDirsRequest",
    api_key=34,
    kind="request",
    valid="1-2",
    flexible="2+",
    fields=[Field("dirs", Array(_DIR))],
)

_TOPIC_RESULT = Struct(
    [
        Field("topic_name", STRING),
        Field(
            "partitions",
            Array(
                Struct(
                    [Field("partition_index", INT32), Field("error_code", INT16)],
                    name="AlterReplicaLogDirPartitionResult",
                )
            ),
        ),
    ],
    name="AlterReplicaLogDirTopicResult",
)

RESPONSE = Message(
    "AlterReplicaLogDirsResponse",
    api_key=34,
    kind="response",
    valid="1-2",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("results", Array(_TOPIC_RESULT)),
    ],
)
