"""AlterPartition (key 56, controller listener): a partition leader asks the controller to change
its ISR.  KIP-497 (v0), KIP-704 (leader recovery state, v1), KIP-841 (topic ids instead of
names, v2), KIP-903 (ISR members with their broker epochs, v3).  Flexible from v0."""

from client.protocol.schema import (
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

_BROKER_STATE = Struct(
    [
        Field("broker_id", INT32, "3+"),
        # -1 when the broker does not support the epoch check.
        Field("broker_epoch", INT64, "3+", default=-1),
    ],
    name="BrokerState",
)

_PARTITION_DATA = Struct(
    [
        Field("partition_index", INT32),
        Field("leader_epoch", INT32),
        Field("new_isr", Array(INT32), "0-2"),
        Field("new_isr_with_epochs", Array(_BROKER_STATE), "3+"),
        # 1 while recovering from an unclean leader election, 0 otherwise.
        Field("leader_recovery_state", INT8, "1+", default=0),
        Field("partition_epoch", INT32),
    ],
    name="PartitionData",
)

_TOPIC_DATA = Struct(
    [
        Field("topic_name", STRING, "0-1"),
        Field("topic_id", UUID, "2+"),
        Field("partitions", Array(_PARTITION_DATA)),
    ],
    name="TopicData",
)

REQUEST = Message(
    "AlterPartitionRequest",
    api_key=56,
    kind="request",
    valid="0-3",
    flexible="0+",
    fields=[
        Field("broker_id", INT32),
        Field("broker_epoch", INT64, default=-1),
        Field("topics", Array(_TOPIC_DATA)),
    ],
)

_PARTITION_RESULT = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("leader_id", INT32),
        Field("leader_epoch", INT32),
        Field("isr", Array(INT32)),
        Field("leader_recovery_state", INT8, "1+", default=0),
        Field("partition_epoch", INT32),
    ],
    name="PartitionData",
)

_TOPIC_RESULT = Struct(
    [
        Field("topic_name", STRING, "0-1"),
        Field("topic_id", UUID, "2+"),
        Field("partitions", Array(_PARTITION_RESULT)),
    ],
    name="TopicData",
)

RESPONSE = Message(
    "AlterPartitionResponse",
    api_key=56,
    kind="response",
    valid="0-3",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("topics", Array(_TOPIC_RESULT)),
    ],
)
