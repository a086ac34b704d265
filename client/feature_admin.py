"""Feature levels for :class:`client.admin.AdminClient` (KIP-584): ``describe_features``
reads ApiVersions v3 (what a broker supports, what the cluster has finalized) and
``update_features`` sends UpdateFeatures (57) as ``kafka-features`` does."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from construct import Container

API_VERSIONS = 18
UPDATE_FEATURES = 57
# ApiVersions v3 is the first with features (KIP-584).
FEATURES_MIN_VERSION = 3


class UpgradeType(enum.IntEnum):
    """UpdateFeatures' upgrade types (KIP-778)."""

    UPGRADE = 1
    SAFE_DOWNGRADE = 2
    UNSAFE_DOWNGRADE = 3


@dataclass(frozen=True, slots=True)
class FeatureMetadata:
    """ApiVersions' features: ``supported`` name → (min, max) level, ``finalized`` name →
    level (features at level 0 are not listed), and the epoch of the finalized levels."""

    supported: Mapping[str, tuple[int, int]]
    finalized: Mapping[str, int]
    finalized_epoch: int


def read_features(response: Container) -> FeatureMetadata:
    return FeatureMetadata(
        supported={
            item.name: (item.min_version, item.max_version)
            for item in response.get("supported_features") or ()
        },
        finalized={
            item.name: item.max_version_level for item in response.get("finalized_features") or ()
        },
        finalized_epoch=response.get("finalized_features_epoch", -1),
    )


def update_body(
    levels: Mapping[str, int], upgrade_type: UpgradeType, validate_only: bool, timeout_ms: int
) -> dict[str, Any]:
    """An UpdateFeatures request (every version's fields: v0 reads ``allow_downgrade``)."""
    return {
        "timeout_ms": timeout_ms,
        "feature_updates": [
            {
                "feature": name,
                "max_version_level": level,
                "allow_downgrade": upgrade_type != UpgradeType.UPGRADE,
                "upgrade_type": int(upgrade_type),
            }
            for name, level in levels.items()
        ],
        "validate_only": validate_only,
    }


def first_error(response: Container) -> Container:
    """The answer's error: the top-level one, else (v0-1, where older brokers answered per
    feature) the first failed feature's; the response itself when nothing failed."""
    if response.error_code:
        return response
    for result in response.get("results") or ():
        if result.error_code:
            return Container(error_code=result.error_code, error_message=result.error_message)
    return response
