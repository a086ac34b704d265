"""ApiVersions (key 18): KIP-35, KIP-511 (client software name/version), KIP-584 (features)."""

from client.protocol.schema import INT16, INT32, INT64, STRING, Array, Field, Message, Struct

REQUEST = Message(
    "ApiVersionsRequest",
    api_key=18,
    kind="request",
    valid="0-4",
    flexible="3+",
    fields=[
        Field("client_software_name", STRING, "3+"),
        Field("client_software_version", STRING, "3+"),
    ],
)

RESPONSE = Message(
    "ApiVersionsResponse",
    api_key=18,
    kind="response",
    valid="0-4",
    flexible="3+",
    fields=[
        Field("error_code", INT16),
        Field(
            "api_keys",
            Array(
                Struct(
                    [
                        Field("api_key", INT16),
                        Field("min_version", INT16),
                        Field("max_version", INT16),
                    ]
                )
            ),
        ),
        Field("throttle_time_ms", INT32, "1+"),
        Field(
            "supported_features",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("min_version", INT16),
                        Field("max_version", INT16),
                    ]
                )
            ),
            "3+",
            tag=0,
        ),
        Field("finalized_features_epoch", INT64, "3+", tag=1, default=-1),
        Field(
            "finalized_features",
            Array(
                Struct(
                    [
                        Field("name", STRING),
                        Field("max_version_level", INT16),
                        Field("min_version_level", INT16),
                    ]
                )
            ),
            "3+",
            tag=2,
        ),
        Field("zk_migration_ready", "bool", "3+", tag=3, default=False),
    ],
)
