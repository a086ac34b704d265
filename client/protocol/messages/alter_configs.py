"""AlterConfigs (key 33): KIP-133 (replaces a resource's whole set of dynamic configs),
KIP-482 (flexible, v2).  v1 only changed the throttling behaviour (KIP-219)."""

from client.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Array, Field, Message, Struct

_ALTERABLE_CONFIG = Struct(
    [
        Field("name", STRING),
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
    "AlterConfigsRequest",
    api_key=33,
    kind="request",
    valid="0-2",
    flexible="2+",
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
    "AlterConfigsResponse",
    api_key=33,
    kind="response",
    valid="0-2",
    flexible="2+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("responses", Array(_ALTER_CONFIGS_RESOURCE_RESPONSE)),
    ],
)
