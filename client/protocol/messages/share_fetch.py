"""ShareFetch (key 78): KIP-932, a share group member's fetch.  It runs in a share session
per (group, member) on each broker: epoch 0 opens it (the request names the partitions),
later requests name only the partitions added (and ``forgotten_topics_data`` the ones dropped)
with the epoch one higher each time, -1 closes it.  Acknowledgements of records fetched
before ride along per partition.  The response carries whole record batches plus the offset
ranges this member acquired in them (``acquired_records``), locked for
``acquisition_lock_timeout_ms``.  v1 is the stable version (v0 was Kafka 4.0's early access);
v2 (KIP-1206/1222: acquire mode, renew acknowledgements) is not served yet."""

from client.protocol.schema import (
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    UUID,
    Array,
    Field,
    Message,
    Struct,
)

ACKNOWLEDGEMENT_BATCH = Struct(
    [
        Field("first_offset", INT64),
        Field("last_offset", INT64),  # inclusive
        # One type for the whole range, or one per offset: 0 gap, 1 accept, 2 release,
        # 3 reject.
        Field("acknowledge_types", Array(INT8)),
    ],
    name="AcknowledgementBatch",
)

_FETCH_PARTITION = Struct(
    [
        Field("partition_index", INT32),
        Field("acknowledgement_batches", Array(ACKNOWLEDGEMENT_BATCH)),
    ],
    name="FetchPartition",
)

_FETCH_TOPIC = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(_FETCH_PARTITION)),
    ],
    name="FetchTopic",
)

_FORGOTTEN_TOPIC = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(INT32)),
    ],
    name="ForgottenTopic",
)

REQUEST = Message(
    "ShareFetchRequest",
    api_key=78,
    kind="request",
    valid="1",
    flexible="0+",
    fields=[
        Field("group_id", STRING, nullable="0+"),
        Field("member_id", STRING, nullable="0+"),
        Field("share_session_epoch", INT32),
        Field("max_wait_ms", INT32),
        Field("min_bytes", INT32),
        Field("max_bytes", INT32, default=0x7FFFFFFF),
        # Exceeded to keep whole batches.
        Field("max_records", INT32),
        Field("batch_size", INT32),
        Field("topics", Array(_FETCH_TOPIC)),
        Field("forgotten_topics_data", Array(_FORGOTTEN_TOPIC)),
    ],
)

LEADER_ID_AND_EPOCH = Struct(
    [
        # -1 / -1 when there is no hint (librdkafka uses it only when both are set).
        Field("leader_id", INT32),
        Field("leader_epoch", INT32),
    ],
    name="LeaderIdAndEpoch",
)

_ACQUIRED_RECORDS = Struct(
    [
        Field("first_offset", INT64),
        Field("last_offset", INT64),
        Field("delivery_count", INT16),
    ],
    name="AcquiredRecords",
)

_PARTITION_DATA = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("acknowledge_error_code", INT16),
        Field("acknowledge_error_message", STRING, nullable="0+"),
        Field("current_leader", LEADER_ID_AND_EPOCH),
        # Never null from v1 (librdkafka refuses a null here).
        Field("records", RECORDS),
        Field("acquired_records", Array(_ACQUIRED_RECORDS)),
    ],
    name="PartitionData",
)

_TOPIC_RESPONSE = Struct(
    [
        Field("topic_id", UUID),
        Field("partitions", Array(_PARTITION_DATA)),
    ],
    name="ShareFetchableTopicResponse",
)

NODE_ENDPOINT = Struct(
    [
        Field("node_id", INT32),
        Field("host", STRING),
        Field("port", INT32),
        Field("rack", STRING, nullable="0+"),
    ],
    name="NodeEndpoint",
)

RESPONSE = Message(
    "ShareFetchResponse",
    api_key=78,
    kind="response",
    valid="1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("acquisition_lock_timeout_ms", INT32),
        Field("responses", Array(_TOPIC_RESPONSE)),
        # The leaders named in NOT_LEADER_OR_FOLLOWER answers.
        Field("node_endpoints", Array(NODE_ENDPOINT)),
    ],
)
