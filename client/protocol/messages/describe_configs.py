"""DescribeConfigs (key 32): KIP-133, KIP-226 (synonyms and config source, v1), KIP-482
(flexible, v4), KIP-569 (config type and documentation, v3)."""

from client.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Array, Field, Message, Struct

_DESCRIBE_CONFIGS_RESOURCE = Struct(
    [
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("configuration_keys", Array(STRING), nullable="0+"),
    ],
    name="DescribeConfigsResource",
)

REQUEST = Message(
    "DescribeConfigsRequest",
    api_key=32,
    kind="request",
    valid="0-4",
    flexible="4+",
    fields=[
        Field("resources", Array(_DESCRIBE_CONFIGS_RESOURCE)),
        Field("include_synonyms", BOOL, "1+", default=False),
        Field("include_documentation", BOOL, "3+", default=False),
    ],
)

_DESCRIBE_CONFIGS_SYNONYM = Struct(
    [
        Field("name", STRING, "1+"),
        Field("value", STRING, "1+", nullable="0+"),
        Field("source", INT8, "1+"),
    ],
    name="DescribeConfigsSynonym",
)

_DESCRIBE_CONFIGS_RESOURCE_RESULT = Struct(
    [
        Field("name", STRING),
        Field("value", STRING, nullable="0+"),
        Field("read_only", BOOL),
        Field("is_default", BOOL, "0"),
        Field("config_source", INT8, "1+", default=-1),
        Field("is_sensitive", BOOL),
        Field("synonyms", Array(_DESCRIBE_CONFIGS_SYNONYM), "1+"),
        Field("config_type", INT8, "3+"),
        Field("documentation", STRING, "3+", nullable="0+"),
    ],
    name="DescribeConfigsResourceResult",
)

_DESCRIBE_CONFIGS_RESULT = Struct(
    [
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("configs", Array(_DESCRIBE_CONFIGS_RESOURCE_RESULT)),
    ],
    name="DescribeConfigsResult",
)

RESPONSE = Message(
    "DescribeConfigsResponse",
    api_key=32,
    kind="response",
    valid="0-4",
    flexible="4+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("results", Array(_DESCRIBE_CONFIGS_RESULT)),
    ],
)
