"""ShareAcknowledge (key 79): KIP-932, acknowledgements without a fetch, in the member's share
session on that broker (the epoch must match and moves on; -1 also closes the session).
v1 is the stable version (v0 was Kafka 4.0's early access)."""

from client.protocol.messages.share_fetch import (
    ACKNOWLEDGEMENT_BATCH,
    LEADER_ID_AND_EPOCH,
    NODE_ENDPOINT,
)
from client.protocol.schema import INT16, INT32, STRING, UUID, Array, Field, Message, Struct

_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("acknowledgement_batches", Array(ACKNOWLEDGEMENT_BATCH)),
    ],
    name="AcknowledgePartition",
)

_TOPIC = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(_PARTITION)),
    ],
    name="AcknowledgeTopic",
)

REQUEST = Message(
    "ShareAcknowledgeRequest",
    api_key=79,
    kind="request",
    valid="1",
    flexible="0+",
    fields=[
        Field("group_id", STRING, nullable="0+"),
        Field("member_id", STRING, nullable="0+"),
        Field("share_session_epoch", INT32),
        Field("topics", Array(_TOPIC)),
    ],
)

_PARTITION_DATA = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("current_leader", LEADER_ID_AND_EPOCH),
    ],
    name="PartitionData",
)

_TOPIC_RESPONSE = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(_PARTITION_DATA)),
    ],
    name="ShareAcknowledgeTopicResponse",
)

RESPONSE = Message(
    "ShareAcknowledgeResponse",
    api_key=79,
    kind="response",
    valid="1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("responses", Array(_TOPIC_RESPONSE)),
        Field("node_endpoints", Array(NODE_ENDPOINT)),
    ],
)
