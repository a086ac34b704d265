"""broker.core.features: the levels a new cluster has, what ApiVersions reports, and
UpdateFeatures' rules (all updates or none)."""

from __future__ import annotations

from broker.core import features
from broker.core.features import (
    SAFE_DOWNGRADE,
    UNSAFE_DOWNGRADE,
    UPGRADE,
    FeatureUpdate,
    UpdateOutcome,
)
from broker.core.metadata import FeatureLevelRecord, MetadataImage
from client.protocol.errors import ErrorCode


def _update(image: MetadataImage, *updates: tuple[str, int, int]) -> UpdateOutcome:
    outcome = features.update_features(image, [FeatureUpdate(*update) for update in updates])
    for record in outcome.records:
        image.replay(record)
    return outcome


def test_a_new_cluster_has_the_default_levels() -> None:
    image = MetadataImage()
    assert features.finalized(image) == {
        "group.version": 1,
        "metadata.version": 21,
        "share.version": 1,
    }
    assert features.finalized_epoch(image) == 0
    assert features.level(image, "transaction.version") == 0
    assert features.SUPPORTED["metadata.version"] == (7, 21)
    assert features.METADATA_VERSION_NAMES[21] == "3.9-IV0"


def test_levels_set_by_records_and_their_epoch() -> None:
    image = MetadataImage()
    image.replay(FeatureLevelRecord("group.version", 0))
    # level 0: not finalized
    assert features.finalized(image) == {"metadata.version": 21, "share.version": 1}
    assert features.level(image, "group.version") == 0
    assert features.finalized_epoch(image) == 0  # the offset of that record
    image.replay(FeatureLevelRecord("group.version", 1))
    assert features.finalized_epoch(image) == 1


def test_upgrades_and_downgrades() -> None:
    image = MetadataImage()
    assert _update(image, ("group.version", 0, SAFE_DOWNGRADE)).error == ErrorCode.NONE
    assert features.level(image, "group.version") == 0
    assert _update(image, ("group.version", 1, UPGRADE)) == UpdateOutcome(
        (FeatureLevelRecord("group.version", 1),)
    )
    refused = _update(image, ("group.version", 0, UPGRADE))
    assert refused.error == ErrorCode.INVALID_UPDATE_VERSION and not refused.records
    assert "without setting the upgrade type" in (refused.message or "")
    assert _update(image, ("group.version", 2, UPGRADE)).error == ErrorCode.INVALID_UPDATE_VERSION
    assert (
        _update(image, ("metadata.version", 22, UPGRADE)).error == ErrorCode.INVALID_UPDATE_VERSION
    )
    # An upgrade type that downgrades cannot raise a level.
    assert _update(image, ("metadata.version", 17, SAFE_DOWNGRADE)).error == ErrorCode.NONE
    assert (
        _update(image, ("metadata.version", 20, SAFE_DOWNGRADE)).error
        == ErrorCode.INVALID_UPDATE_VERSION
    )
    assert _update(image, ("metadata.version", 21, UPGRADE)).error == ErrorCode.NONE
    assert features.level(image, "metadata.version") == 21


def test_metadata_version_downgrades_keep_metadata() -> None:
    image = MetadataImage()
    # 3.7-IV2 (17) changed the metadata: going below it could lose some.
    lossy = _update(image, ("metadata.version", 16, SAFE_DOWNGRADE))
    assert lossy.error == ErrorCode.INVALID_UPDATE_VERSION
    assert "might delete metadata information" in (lossy.message or "")
    unsafe = _update(image, ("metadata.version", 18, UNSAFE_DOWNGRADE))
    assert unsafe.message == "Unsafe metadata downgrade is not supported in this version."
    assert (
        _update(image, ("metadata.version", 0, SAFE_DOWNGRADE)).error
        == ErrorCode.INVALID_UPDATE_VERSION
    )
    assert _update(image, ("metadata.version", 18, SAFE_DOWNGRADE)).error == ErrorCode.NONE


def test_one_refused_update_refuses_them_all() -> None:
    image = MetadataImage()
    outcome = _update(image, ("group.version", 0, SAFE_DOWNGRADE), ("nope", 1, UPGRADE))
    assert (outcome.error, outcome.message, outcome.records) == (
        ErrorCode.INVALID_UPDATE_VERSION,
        "The controller does not support the given feature.",
        (),
    )
    assert features.level(image, "group.version") == 1
    twice = _update(image, ("group.version", 1, UPGRADE), ("group.version", 1, UPGRADE))
    assert twice.error == ErrorCode.INVALID_REQUEST
    assert _update(image, ("group.version", 1, 7)).error == ErrorCode.INVALID_UPDATE_VERSION
    negative = _update(image, ("group.version", -1, SAFE_DOWNGRADE))
    assert negative.message == "A feature version cannot be less than 0."
    # transaction.version 2 (KIP-890) is not implemented, so not supported.
    assert (
        _update(image, ("transaction.version", 2, UPGRADE)).error
        == ErrorCode.INVALID_UPDATE_VERSION
    )
