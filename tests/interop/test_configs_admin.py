"""`kafka-configs --alter` from unmodified clients: confluent-kafka's AdminClient
(``incremental_alter_configs``, ``alter_configs``) and kafka-python's KafkaAdminClient
(``alter_configs``, incremental and legacy), each read back with ``describe_configs``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KafkaPythonResource
from kafka.admin import ConfigResourceType

from tests.support.waiting import wait_until

TIMEOUT_S = 10.0
TIMEOUT_MS = 10_000


def confluent_admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": TIMEOUT_MS})


def create_topic(
    admin: AdminClient, name: str, replication_factor: int = 1, **configs: str
) -> None:
    settings = {key.replace("_", "."): value for key, value in configs.items()}
    new = NewTopic(name, num_partitions=1, replication_factor=replication_factor, config=settings)
    admin.create_topics([new], request_timeout=TIMEOUT_S)[name].result(timeout=TIMEOUT_S)


def described(admin: AdminClient, topic: str) -> dict[str, Any]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    futures = admin.describe_configs([resource], request_timeout=TIMEOUT_S)
    return dict(futures[resource].result(timeout=TIMEOUT_S))


@contextlib.contextmanager
def kafka_python_admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        yield admin
    finally:
        admin.close()


# -- confluent-kafka ---------------------------------------------------------------------------


def test_confluent_incremental_alter_configs(kafka_broker: Any, topic: str) -> None:
    admin = confluent_admin(kafka_broker.bootstrap)
    create_topic(admin, topic, retention_ms="3600000")
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "120000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry(
                "cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND
            ),
            ConfigEntry("max.message.bytes", "4096", incremental_operation=AlterConfigOpType.SET),
        ],
    )
    futures = admin.incremental_alter_configs([resource], request_timeout=TIMEOUT_S)
    assert futures[resource].result(timeout=TIMEOUT_S) is None
    configs = described(admin, topic)
    assert configs["retention.ms"].value == "120000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete,compact"
    assert configs["max.message.bytes"].value == "4096"

    delete = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
            ConfigEntry(
                "cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT
            ),
        ],
    )
    futures = admin.incremental_alter_configs([delete], request_timeout=TIMEOUT_S)
    assert futures[delete].result(timeout=TIMEOUT_S) is None
    configs = described(admin, topic)
    assert configs["retention.ms"].value == "604800000"
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["cleanup.policy"].value == "compact"
    assert configs["max.message.bytes"].value == "4096"


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_confluent_alter_configs_replaces_the_set(kafka_broker: Any, topic: str) -> None:
    admin = confluent_admin(kafka_broker.bootstrap)
    create_topic(admin, topic, retention_ms="3600000", segment_ms="60000")
    resource = ConfigResource(ResourceType.TOPIC, topic, set_config={"segment.bytes": "1048576"})
    futures = admin.alter_configs([resource], request_timeout=TIMEOUT_S)
    assert futures[resource].result(timeout=TIMEOUT_S) is None
    configs = described(admin, topic)
    assert configs["segment.bytes"].value == "1048576"
    assert configs["segment.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["segment.ms"].value == "604800000"


@pytest.mark.parametrize(
    ("key", "value", "operation"),
    [
        ("retention.mss", "1", AlterConfigOpType.SET),
        ("retention.ms", "soon", AlterConfigOpType.SET),
        ("retention.ms", "1", AlterConfigOpType.APPEND),
    ],
    ids=["unknown-key", "bad-value", "append-to-non-list"],
)
def test_confluent_invalid_changes_fail_with_invalid_config(
    kafka_broker: Any, topic: str, key: str, value: str, operation: AlterConfigOpType
) -> None:
    admin = confluent_admin(kafka_broker.bootstrap)
    create_topic(admin, topic)
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry(key, value, incremental_operation=operation)],
    )
    future = admin.incremental_alter_configs([resource], request_timeout=TIMEOUT_S)[resource]
    with pytest.raises(KafkaException) as raised:
        future.result(timeout=TIMEOUT_S)
    assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert described(admin, topic)["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_confluent_unknown_topic_and_static_broker_key(kafka_broker: Any, topic: str) -> None:
    admin = confluent_admin(kafka_broker.bootstrap)
    missing = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    broker = ConfigResource(
        ResourceType.BROKER,
        "1",
        incremental_configs=[
            ConfigEntry("num.partitions", "3", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    futures = admin.incremental_alter_configs([missing, broker], request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as raised:
        futures[missing].result(timeout=TIMEOUT_S)
    assert raised.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    with pytest.raises(KafkaException) as refused:
        futures[broker].result(timeout=TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert "dynamically" in refused.value.args[0].str()


def _broker_change(name: str, key: str, value: str | None) -> ConfigResource:
    operation = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry(key, value, incremental_operation=operation)
    return ConfigResource(ResourceType.BROKER, name, incremental_configs=[entry])


def test_dynamic_broker_configs(kafka_broker: Any, topic: str) -> None:
    """``kafka-configs --entity-type brokers --entity-name 1`` from confluent-kafka and
    kafka-python: the broker's dynamic configs become the topic's effective values.  (Both
    refuse the cluster default's empty name, ``--entity-default``: the wire tests in
    tests/integration/test_dynamic_broker_configs.py cover it.)"""
    admin = confluent_admin(kafka_broker.bootstrap)
    create_topic(admin, topic)
    changes = [_broker_change("1", "log.segment.bytes", "2097152")]
    for future in admin.incremental_alter_configs(changes, request_timeout=TIMEOUT_S).values():
        future.result(timeout=TIMEOUT_S)
    with kafka_python_admin(kafka_broker.bootstrap) as old_admin:
        change = KafkaPythonResource(
            ConfigResourceType.BROKER, "1", configs={"log.retention.ms": "7200000"}
        )
        assert old_admin.alter_configs([change]) == {"broker": {"1": "OK"}}
    configs = described(admin, topic)
    assert configs["retention.ms"].value == "7200000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert configs["segment.bytes"].value == "2097152"
    assert configs["segment.bytes"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    resource = ConfigResource(ResourceType.BROKER, "1")
    broker = admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource]
    entries = broker.result(timeout=TIMEOUT_S)
    assert entries["log.segment.bytes"].value == "2097152"
    assert entries["log.retention.ms"].value == "7200000"
    assert not entries["log.segment.bytes"].is_read_only
    assert entries["node.id"].is_read_only
    undo = [_broker_change("1", "log.segment.bytes", None)]
    for future in admin.incremental_alter_configs(undo, request_timeout=TIMEOUT_S).values():
        future.result(timeout=TIMEOUT_S)
    assert described(admin, topic)["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value


def test_confluent_validate_only(kafka_broker: Any, topic: str) -> None:
    admin = confluent_admin(kafka_broker.bootstrap)
    create_topic(admin, topic)
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    futures = admin.incremental_alter_configs(
        [resource], request_timeout=TIMEOUT_S, validate_only=True
    )
    assert futures[resource].result(timeout=TIMEOUT_S) is None
    assert described(admin, topic)["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_confluent_on_a_cluster(kafka_cluster_factory: Any, topic: str) -> None:
    """Forwarded to the controller by whichever broker librdkafka picks; read back from
    every broker."""
    cluster = kafka_cluster_factory.start(brokers=3)
    admin = confluent_admin(cluster.bootstrap)
    create_topic(admin, topic, replication_factor=3)
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("min.insync.replicas", "2", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    futures = admin.incremental_alter_configs([resource], request_timeout=TIMEOUT_S)
    assert futures[resource].result(timeout=TIMEOUT_S) is None
    for node in cluster.nodes.values():
        single = confluent_admin(f"127.0.0.1:{node.port}")

        # The broker that forwarded the change answers once it has it; others may lag.
        def seen(at: AdminClient = single) -> Any:
            try:
                value = described(at, topic)["min.insync.replicas"]
            except KafkaException:
                return None  # the topic is not known there yet
            return value if value.value == "2" else None

        value = wait_until(seen, f"min.insync.replicas=2 at {node.port}", TIMEOUT_S)
        assert (value.value, value.source) == ("2", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


# -- kafka-python ------------------------------------------------------------------------------


def test_kafka_python_alter_configs(kafka_broker: Any, topic: str) -> None:
    create_topic(confluent_admin(kafka_broker.bootstrap), topic, segment_ms="60000")
    with kafka_python_admin(kafka_broker.bootstrap) as admin:
        # IncrementalAlterConfigs (the broker advertises it): other keys stay.
        result = admin.alter_configs(
            [
                KafkaPythonResource(
                    ConfigResourceType.TOPIC,
                    topic,
                    configs={"retention.ms": "7200000", "cleanup.policy": ("APPEND", "compact")},
                )
            ]
        )
        assert result == {"topic": {topic: "OK"}}
        configs = admin.describe_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
        )["topic"][topic]
        assert configs["retention.ms"]["value"] == "7200000"
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["cleanup.policy"]["value"] == "delete,compact"
        assert configs["segment.ms"]["value"] == "60000"
        # The legacy AlterConfigs: kafka-python re-sends the modified keys it does not change.
        legacy = admin.alter_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic, configs={"segment.ms": "90000"})],
            incremental=False,
        )
        assert legacy == {"topic": {topic: "OK"}}
        configs = admin.describe_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic)], config_filter="modified"
        )["topic"][topic]
        assert {name: entry["value"] for name, entry in configs.items()} == {
            "retention.ms": "7200000",
            "cleanup.policy": "delete,compact",
            "segment.ms": "90000",
        }


def test_kafka_python_errors(kafka_broker: Any, topic: str) -> None:
    create_topic(confluent_admin(kafka_broker.bootstrap), topic)
    with kafka_python_admin(kafka_broker.bootstrap) as admin:
        bad = admin.alter_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "x"})]
        )
        assert "InvalidConfigurationError" in bad["topic"][topic]
        unknown = admin.alter_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic, configs={"no.such": "1"})],
            raise_on_unknown=False,
            incremental=False,
        )
        assert "InvalidConfigurationError" in unknown["topic"][topic]
        assert "no.such" in unknown["topic"][topic]
        validated = admin.alter_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "5"})],
            validate_only=True,
        )
        assert validated == {"topic": {topic: "OK"}}
        configs = admin.describe_configs(
            [KafkaPythonResource(ConfigResourceType.TOPIC, topic)], config_filter="modified"
        )["topic"][topic]
        assert configs == {}
