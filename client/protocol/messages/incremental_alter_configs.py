"""IncrementalAlterConfigs (key 44): KIP-339 (per-key SET / DELETE / APPEND / SUBTRACT),
KIP-482 (flexible, v1)."""

from client.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Array, Field, Message, Struct

_ALTERABLE_CONFIG = Struct(
    [
        Field("name", STRING),
        Field("config_operation", INT8),
        Field("value", STRING, nullable="0+"),
    ],
    name="AlterableConfig",
)

_ALTER_CONFIGS_RESOURCE = Struct(
    [
        Field("resource_type", INT8),
        Field("resource_name", STRING),
        Field("configs", Array(_ALTERABLE_CONFIG)),
    ],
    name="AlterConfigsResource",
)

REQUEST = Message(
    "IncrementalAlterConfigsRequest",
    api_key=44,
    kind="request",
    valid="0-1",
    flexible="1+",
    fields=[
        Field("resources", Array(_ALTER_CONFIGS_RESOURCE)),
        Field("validate_only", BOOL),
    ],
)

_ALTER_CONFIGS_RESOURCE_RESPONSE = Struct(
    [
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("resource_type", INT8),
        Field("resource_name", STRING),
    ],
    name="AlterConfigsResourceResponse",
)

RESPONSE = Message(
    "IncrementalAlterConfigsResponse",
    api_key=44,
    kind="response",
    valid="0-1",
    flexible="1+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("responses", Array(_ALTER_CONFIGS_RESOURCE_RESPONSE)),
    ],
)
