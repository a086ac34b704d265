"""WriteTxnMarkers (key 27): KIP-98, a transaction coordinator asks partition leaders to write
commit or abort markers.  v1 is flexible (KIP-482; Kafka 4 removed v0), v2 adds the marker's
transaction version (KIP-890)."""

from client.protocol.schema import (
    BOOL,
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    Array,
    Field,
    Message,
    Struct,
)

_MARKER_TOPIC = Struct(
    [
        Field("name", STRING),
        Field("partition_indexes", Array(INT32)),
    ],
    name="WritableTxnMarkerTopic",
)

_MARKER = Struct(
    [
        Field("producer_id", INT64),
        Field("producer_epoch", INT16),
        # False to abort, true to commit.
        Field("transaction_result", BOOL),
        Field("topics", Array(_MARKER_TOPIC)),
        Field("coordinator_epoch", INT32),
        # 0 and 1 are the legacy transaction versions, 2 is KIP-890's.
        Field("transaction_version", INT8, "2+", default=0),
    ],
    name="WritableTxnMarker",
)

REQUEST = Message(
    "WriteTxnMarkersRequest",
    api_key=27,
    kind="request",
    valid="0-2",
    flexible="1+",
    fields=[
        Field("markers", Array(_MARKER)),
    ],
)

_PARTITION_RESULT = Struct(
    [
        Field("partition_index", INT32),
        Field("error_code", INT16),
    ],
    name="WritableTxnMarkerPartitionResult",
)

_TOPIC_RESULT = Struct(
    [
        Field("name", STRING),
        Field("partitions", Array(_PARTITION_RESULT)),
    ],
    name="WritableTxnMarkerTopicResult",
)

_MARKER_RESULT = Struct(
    [
        Field("producer_id", INT64),
        Field("topics", Array(_TOPIC_RESULT)),
    ],
    name="WritableTxnMarkerResult",
)

RESPONSE = Message(
    "WriteTxnMarkersResponse",
    api_key=27,
    kind="response",
    valid="0-2",
    flexible="1+",
    fields=[
        Field("markers", Array(_MARKER_RESULT)),
    ],
)
