"""Feature levels (KIP-584): ApiVersions v3 reports the supported and finalized features,
UpdateFeatures (57) changes them (forwarded to the controller by a broker-only node, answered
once that broker's metadata has the change), the levels survive a restart, and
``group.version`` 0 turns KIP-848's ConsumerGroupHeartbeat away as Kafka does."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.admin import KafkaAdminClient
from kafka.errors import InvalidUpdateVersionError

from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import consumer_group_heartbeat
from tests.integration.wire import RawConnection

API_VERSIONS, UPDATE_FEATURES = 18, 57


def _features(
    bootstrap: str, version: int = 4
) -> tuple[dict[str, tuple[int, int]], dict[str, int], int]:
    """(supported ranges, finalized levels, finalized epoch) from ApiVersions."""
    with RawConnection(bootstrap) as conn:
        body = {"client_software_name": "wire-test", "client_software_version": "1"}
        response = conn.request(API_VERSIONS, version, body)
    supported = {f.name: (f.min_version, f.max_version) for f in response.supported_features}
    finalized = {f.name: f.max_version_level for f in response.finalized_features}
    return supported, finalized, response.finalized_features_epoch


def _update(bootstrap: str, version: int, feature: str, level: int, upgrade_type: int) -> Any:
    update = {"feature": feature, "max_version_level": level, "upgrade_type": upgrade_type,
              "allow_downgrade": upgrade_type != 1}  # fmt: skip
    body = {"timeout_ms": 10_000, "feature_updates": [update], "validate_only": False}
    with RawConnection(bootstrap) as conn:
        return conn.request(UPDATE_FEATURES, version, body)


def _consumer_heartbeat_error(bootstrap: str) -> int:
    return int(consumer_group_heartbeat(bootstrap, "features-g", "t").error_code)


def test_group_version_turns_the_consumer_protocol_off_and_on(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker: Any = kafka_broker_factory.start()
    supported, finalized, epoch = _features(broker.bootstrap)
    assert supported["group.version"] == (0, 1) and supported["metadata.version"] == (7, 21)
    assert finalized == {"group.version": 1, "metadata.version": 21, "share.version": 1}
    assert epoch == 0
    # Before v4, ranges from level 0 are left out (KAFKA-17011: old Java clients refuse them).
    assert list(_features(broker.bootstrap, version=3)[0]) == ["metadata.version"]
    assert _consumer_heartbeat_error(broker.bootstrap) == ErrorCode.NONE

    answer = _update(broker.bootstrap, 1, "group.version", 0, 2)
    assert answer.error_code == ErrorCode.NONE
    assert [(r.feature, r.error_code) for r in answer.results] == [("group.version", 0)]
    supported, finalized, epoch = _features(broker.bootstrap)
    assert finalized == {"metadata.version": 21, "share.version": 1} and epoch > 0
    assert _consumer_heartbeat_error(broker.bootstrap) == ErrorCode.UNSUPPORTED_VERSION

    # v0 has allow_downgrade instead of an upgrade type; refusals are one top-level error.
    refused = _update(broker.bootstrap, 0, "group.version", 2, 1)
    assert refused.error_code == ErrorCode.INVALID_UPDATE_VERSION and refused.results == []
    assert _update(broker.bootstrap, 0, "group.version", 1, 1).error_code == ErrorCode.NONE
    assert _consumer_heartbeat_error(broker.bootstrap) == ErrorCode.NONE


def test_kafka_python_describes_and_updates_features_that_survive_a_restart(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker: Any = kafka_broker_factory.start()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        described = admin.describe_features()
        assert described["metadata.version"]["supported"] == (7, 21)
        assert described["metadata.version"]["finalized"] == (21, 21)
        assert admin.update_features({"metadata.version": ("SAFE_DOWNGRADE", 18)}) == {
            "metadata.version": "OK"
        }
        with pytest.raises(InvalidUpdateVersionError, match="might delete metadata"):
            admin.update_features({"metadata.version": ("SAFE_DOWNGRADE", 16)})
        with pytest.raises(InvalidUpdateVersionError, match="does not support"):
            admin.update_features({"streams.version": 1})
        # validate_only checks and changes nothing.
        assert admin.update_features({"metadata.version": 20}, validate_only=True) == {
            "metadata.version": "OK"
        }
        assert admin.describe_features()["metadata.version"]["finalized"] == (18, 18)
    finally:
        admin.close()
    broker.stop()
    again: Any = kafka_broker_factory.start(data_dir=broker.data_dir)
    assert _features(again.bootstrap)[1]["metadata.version"] == 18


def test_a_broker_forwards_updates_and_answers_once_it_has_them(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    cluster = kafka_cluster_factory.start(brokers=2)
    addresses = {node_id: f"127.0.0.1:{node.port}" for node_id, node in cluster.nodes.items()}
    assert _update(addresses[2], 2, "group.version", 0, 2).error_code == ErrorCode.NONE
    # Answered by broker 2 only once its own metadata has the new level.
    assert "group.version" not in _features(addresses[2])[1]
    assert _consumer_heartbeat_error(addresses[2]) == ErrorCode.UNSUPPORTED_VERSION
    refused = _update(addresses[1], 2, "metadata.version", 22, 1)
    assert refused.error_code == ErrorCode.INVALID_UPDATE_VERSION
    assert "Supported: 7-21" in refused.error_message
