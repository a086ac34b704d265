"""TxnOffsetCommit (key 28): KIP-98, a transactional producer commits consumer offsets inside
its transaction.  v1 is v0 (responses sent before throttling), v2 adds the leader epoch
(KIP-320), v3 is flexible (KIP-482) and adds the group metadata fencing fields (KIP-447), v4
adds TRANSACTION_ABORTABLE and v5 is the first for transactions v2 (both KIP-890); the layout
has not changed since v3."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

_REQUEST_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("committed_offset", INT64),
        Field("committed_leader_epoch", INT32, "2+", default=-1),
        Field("committed_metadata", STRING, nullable="0+"),
    ],
    name="TxnOffsetCommitRequestPartition",
)

_REQUEST_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_REQUEST_PARTITION)),
    ],
    name="TxnOffsetCommitRequestTopic",
)

REQUEST = Message(
    "TxnOffsetCommitRequest",
    api_key=28,
    kind="request",
    valid="0-5",
    flexible="3+",
    fields=[
        Field("transactional_id", STRING),
        Field("group_id", STRING),
        Field("producer_id", INT64),
        Field("producer_epoch", INT16),
        Field("generation_id", INT32, "3+", default=-1),
        Field("member_id", STRING, "3+", default=""),
        Field("group_instance_id", STRING, "3+", nullable="3+", default=None),
        Field("topics", Array(_REQUEST_TOPIC)),
    ],
)

_RESPONSE_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
    name="TxnOffsetCommitResponsePartition",
)

_RESPONSE_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_RESPONSE_PARTITION)),
    ],
    name="TxnOffsetCommitResponseTopic",
)

RESPONSE = Message(
    "TxnOffsetCommitResponse",
    api_key=28,
    kind="response",
    valid="0-5",
    flexible="3+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("topics", Array(_RESPONSE_TOPIC)),
    ],
)
