"""Feature levels (KIP-584, KIP-778, KIP-1022): what this broker supports, what the cluster
has finalized, and UpdateFeatures' rules, as Kafka's FeatureControlManager has them.

Every node runs the same code, so the cluster's supported range of a feature is this
module's.  A feature no ``FeatureLevelRecord`` has set is at its default level (what Kafka
bootstraps a new cluster with).  Levels that change behaviour here: ``group.version`` 1
enables KIP-848 consumer groups (at 0 ConsumerGroupHeartbeat is refused, as in Kafka);
``share.version`` 1 enables KIP-932 share groups (at 0 the share APIs answer
UNSUPPORTED_VERSION, as in Kafka 4.1+);
``transaction.version`` stays 0 (KIP-890's version 2 is not implemented, so clients keep
to transaction version 1).  ``metadata.version`` is reported, and is upgraded or safely
downgraded by the rules Kafka applies; this broker's own metadata records do not depend on
it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from broker.core.metadata import FeatureLevelRecord, MetadataImage
from client.protocol.errors import ErrorCode

METADATA_VERSION = "metadata.version"
GROUP_VERSION = "group.version"
SHARE_VERSION = "share.version"

# metadata.version levels (Kafka's MetadataVersion): 7 = 3.3-IV3 (the oldest Kafka 4 knows)
# ... 21 = 3.9-IV0; the levels after which a downgrade may lose metadata (its
# "didMetadataChange" flag) are listed.
METADATA_VERSION_NAMES = {
    7: "3.3-IV3", 8: "3.4-IV0", 9: "3.5-IV0", 10: "3.5-IV1", 11: "3.5-IV2", 12: "3.6-IV0",
    13: "3.6-IV1", 14: "3.6-IV2", 15: "3.7-IV0", 16: "3.7-IV1", 17: "3.7-IV2", 18: "3.7-IV3",
    19: "3.7-IV4", 20: "3.8-IV0", 21: "3.9-IV0",
}  # fmt: skip
_METADATA_CHANGED_AT = frozenset({7, 8, 11, 13, 14, 15, 17})

# name -> (min, max) level this broker supports.
SUPPORTED: Mapping[str, tuple[int, int]] = {
    METADATA_VERSION: (min(METADATA_VERSION_NAMES), max(METADATA_VERSION_NAMES)),
    "kraft.version": (0, 0),
    GROUP_VERSION: (0, 1),
    "transaction.version": (0, 0),
    "eligible.leader.replicas.version": (0, 0),
    SHARE_VERSION: (0, 1),
}
DEFAULT_LEVELS: Mapping[str, int] = {
    METADATA_VERSION: SUPPORTED[METADATA_VERSION][1],
    GROUP_VERSION: 1,
    # As Kafka 4.2, where share groups became production-ready: on in a new cluster.
    SHARE_VERSION: 1,
}

# UpdateFeatures' upgrade types (v1+; v0 has allow_downgrade: SAFE_DOWNGRADE when set).
UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3


def level(image: MetadataImage, name: str) -> int:
    """The finalized level of ``name`` (0: not finalized)."""
    return image.features.get(name, DEFAULT_LEVELS.get(name, 0))


def finalized(image: MetadataImage) -> dict[str, int]:
    """Every finalized feature above level 0, by name (what ApiVersions reports)."""
    levels = {**DEFAULT_LEVELS, **image.features}
    return {name: value for name, value in sorted(levels.items()) if value > 0}


def finalized_epoch(image: MetadataImage) -> int:
    """ApiVersions' finalized_features_epoch: the metadata offset of the last level set
    (0 for a cluster still at its defaults)."""
    return max(image.features_offset, 0)


@dataclass(frozen=True, slots=True)
class FeatureUpdate:
    name: str
    max_version_level: int
    upgrade_type: int = UPGRADE


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """Records to commit, or the one error that refused the whole request."""

    records: tuple[FeatureLevelRecord, ...]
    error: ErrorCode = ErrorCode.NONE
    message: str | None = None


def update_features(image: MetadataImage, updates: Sequence[FeatureUpdate]) -> UpdateOutcome:
    """UpdateFeatures: all updates apply, or the first one refused refuses them all (as
    Kafka's controller answers since KIP-1022)."""
    seen: set[str] = set()
    records = []
    for update in updates:
        if update.name in seen:
            return _refused(
                ErrorCode.INVALID_REQUEST, f"Feature {update.name} was specified more than once."
            )
        seen.add(update.name)
        problem = _problem(image, update)
        if problem is not None:
            return _refused(ErrorCode.INVALID_UPDATE_VERSION, problem)
        records.append(FeatureLevelRecord(update.name, update.max_version_level))
    return UpdateOutcome(tuple(records))


def _refused(error: ErrorCode, message: str) -> UpdateOutcome:
    return UpdateOutcome((), error, message)


def _problem(image: MetadataImage, update: FeatureUpdate) -> str | None:
    name, new = update.name, update.max_version_level
    supported = SUPPORTED.get(name)
    if supported is None:
        return "The controller does not support the given feature."
    if new < 0:
        return "A feature version cannot be less than 0."
    if update.upgrade_type not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
        return f"Unknown upgrade type {update.upgrade_type}."
    current = level(image, name)
    low, high = supported
    if new < current and update.upgrade_type == UPGRADE:
        return (
            "Can't downgrade the version of this feature without setting the upgrade type to "
            "either safe or unsafe downgrade."
        )
    if new > current and update.upgrade_type != UPGRADE:
        return f"Can't downgrade to a newer version ({new} is above the finalized {current})."
    if name == METADATA_VERSION:
        return _metadata_version_problem(current, new, update.upgrade_type)
    if new > 0 and not low <= new <= high:
        return f"Invalid update version {new} for feature {name}. Supported: {low}-{high}."
    if new <= 0 and low > 0:
        return f"Feature {name} cannot be removed (its lowest supported level is {low})."
    return None


def _metadata_version_problem(current: int, new: int, upgrade_type: int) -> str | None:
    low, high = SUPPORTED[METADATA_VERSION]
    if new < low:
        return f"Unable to set a metadata.version below {METADATA_VERSION_NAMES[low]}."
    if new > high:
        return (
            f"Invalid update version {new} for feature metadata.version. "
            f"Supported: {low}-{high} ({METADATA_VERSION_NAMES[low]} to "
            f"{METADATA_VERSION_NAMES[high]})."
        )
    if new < current:
        if upgrade_type == UNSAFE_DOWNGRADE:
            return "Unsafe metadata downgrade is not supported in this version."
        if any(new < changed <= current for changed in _METADATA_CHANGED_AT):
            return (
                "Refusing to perform the requested downgrade because it might delete "
                "metadata information."
            )
    return None
