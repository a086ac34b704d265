"""DeleteTopics (key 20): KIP-482 (flexible, v4), KIP-599 (error message, v5), KIP-516 (topics
by id, v6)."""

from client.protocol.schema import INT16, INT32, STRING, UUID, Array, Field, Message, Struct

_DELETE_TOPIC_STATE = Struct(
    [
        Field("name", STRING, "6+", nullable="6+"),
        Field("topic_id", UUID, "6+"),
    ],
    name="DeleteTopicState",
)

REQUEST = Message(
    "DeleteTopicsRequest",
    api_key=20,
    kind="request",
    valid="0-6",
    flexible="4+",
    fields=[
        Field("topics", Array(_DELETE_TOPIC_STATE), "6+"),
        Field("topic_names", Array(STRING), "0-5"),
        Field("timeout_ms", INT32),
    ],
)

_DELETABLE_TOPIC_RESULT = Struct(
    [
        Field("name", STRING, nullable="6+"),
        Field("topic_id", UUID, "6+"),
        Field("error_code", INT16),
        Field("error_message", STRING, "5+", nullable="5+"),
    ],
    name="DeletableTopicResult",
)

RESPONSE = Message(
    "DeleteTopicsResponse",
    api_key=20,
    kind="response",
    valid="0-6",
    flexible="4+",
    fields=[
        Field("throttle_time_ms", INT32, "1+"),
        Field("responses", Array(_DELETABLE_TOPIC_RESULT)),
    ],
)
