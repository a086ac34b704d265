"""UpdateFeatures (key 57): KIP-584 (finalized feature levels), KIP-778 (upgrade type and
validate-only, v1), KIP-1022 (no per-feature results, v2: one top-level error)."""

from client.protocol.schema import BOOL, INT8, INT16, INT32, STRING, Array, Field, Message, Struct

# FeatureUpdateKey.upgrade_type (v1+): what a lower level is allowed to be.
UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3

_FEATURE_UPDATE = Struct(
    [
        Field("feature", STRING),
        Field("max_version_level", INT16),
        Field("allow_downgrade", BOOL, "0"),
        Field("upgrade_type", INT8, "1+", default=UPGRADE),
    ],
    name="FeatureUpdateKey",
)

REQUEST = Message(
    "UpdateFeaturesRequest",
    api_key=57,
    kind="request",
    valid="0-2",
    flexible="0+",
    fields=[
        Field("timeout_ms", INT32, default=60_000),
        Field("feature_updates", Array(_FEATURE_UPDATE)),
        Field("validate_only", BOOL, "1+"),
    ],
)

_RESULT = Struct(
    [
        Field("feature", STRING),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
    ],
    name="UpdatableFeatureResult",
)

RESPONSE = Message(
    "UpdateFeaturesResponse",
    api_key=57,
    kind="response",
    valid="0-2",
    flexible="0+",
    fields=[
        Field("throttle_time_ms", INT32),
        Field("error_code", INT16),
        Field("error_message", STRING, nullable="0+"),
        Field("results", Array(_RESULT), "0-1"),
    ],
)
