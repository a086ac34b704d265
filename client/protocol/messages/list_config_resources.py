"""ListConfigResources (key 74): KIP-1000 (v0, then ListClientMetricsResources: client-metrics
resources only), KIP-1142 (v1: the config resources of the types asked, every supported
type when none is)."""

from client.protocol.schema import INT8, INT16, INT32, STRING, Array, Field, Message, Struct

# Config resource types (DescribeConfigs' numbers).
TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP = 2, 4, 8, 16, 32

REQUEST = Message(
    "ListConfigResourcesRequest",
    api_key=74,
    kind="request",
    valid="0-1",
    flexible="0+",
    fields=[Field("resource_types", Array(INT8), "1+")],
)

RESPONSE = Message(
    "ListConfigResourcesResponse",
    api_key=74,
    kind="response",
    valid="0-1",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field(
            "config_resources",
            Array(
                Struct(
                    [
                        Field("resource_name", STRING),
                        Field("resource_type", INT8, "1+", default=CLIENT_METRICS),
                    ],
                    name="ConfigResource",
                )
            ),
        ),
    ],
)
