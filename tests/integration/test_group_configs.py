"""Group configs (KIP-848, ``kafka-configs --entity-type groups``): IncrementalAlterConfigs
sets a group's ``consumer.session.timeout.ms`` / ``consumer.heartbeat.interval.ms`` (any
group id, within the broker's ``group.consumer.min|max.*`` bounds), DescribeConfigs reports
them, ListConfigResources lists the groups that have some, and the coordinator hands the
group's heartbeat interval to its members."""

from __future__ import annotations

from typing import Any

from kafka.admin import ConfigResource, KafkaAdminClient

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import consumer_group_heartbeat, create_topic
from tests.integration.wire import RawConnection

DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS, LIST_CONFIG_RESOURCES = 32, 44, 74
GROUP = 32
SET, DELETE = 0, 1


def _alter(bootstrap: str, group: str, changes: list[tuple[str, str | None, int]]) -> Any:
    configs = [{"name": k, "value": v, "config_operation": op} for k, v, op in changes]
    body = {
        "resources": [{"resource_type": GROUP, "resource_name": group, "configs": configs}],
        "validate_only": False,
    }
    with RawConnection(bootstrap) as conn:
        (answer,) = conn.request(INCREMENTAL_ALTER_CONFIGS, 1, body).responses
    return answer.error_code, answer.error_message


def _describe(bootstrap: str, group: str) -> dict[str, tuple[str, int]]:
    body = {
        "resources": [{"resource_type": GROUP, "resource_name": group, "configuration_keys": None}],
        "include_synonyms": True,
        "include_documentation": False,
    }
    with RawConnection(bootstrap) as conn:
        (result,) = conn.request(DESCRIBE_CONFIGS, 4, body).results
    assert result.error_code == ErrorCode.NONE
    return {entry.name: (entry.value, entry.config_source) for entry in result.configs}


def _heartbeat_interval(bootstrap: str, group: str, topic: str) -> int:
    answer = consumer_group_heartbeat(bootstrap, group, topic)
    assert answer.error_code == ErrorCode.NONE, answer
    return int(answer.heartbeat_interval_ms)


SHARE_DEFAULTS = {
    "share.auto.offset.reset": ("latest", 5),
    "share.heartbeat.interval.ms": ("5000", 5),
    "share.isolation.level": ("read_uncommitted", 5),
    "share.record.lock.duration.ms": ("30000", 5),
    "share.session.timeout.ms": ("45000", 5),
}


def _consumer_configs(bootstrap: str, group: str) -> dict[str, tuple[str, int]]:
    described = _describe(bootstrap, group)
    assert {k: v for k, v in described.items() if k.startswith("share.")} == SHARE_DEFAULTS
    return {k: v for k, v in described.items() if k.startswith("consumer.")}


def test_a_groups_configs_reach_its_members(kafka_broker_factory: BrokerFactory) -> None:
    broker: Any = kafka_broker_factory.start()
    create_topic(broker.bootstrap, "gc-t")
    assert _consumer_configs(broker.bootstrap, "gc") == {
        "consumer.heartbeat.interval.ms": ("5000", 5),  # DEFAULT_CONFIG: the broker's
        "consumer.session.timeout.ms": ("45000", 5),
    }
    changes = [("consumer.session.timeout.ms", "50000", SET),
               ("consumer.heartbeat.interval.ms", "7000", SET)]  # fmt: skip
    assert _alter(broker.bootstrap, "gc", changes) == (ErrorCode.NONE, None)
    assert _consumer_configs(broker.bootstrap, "gc") == {
        "consumer.heartbeat.interval.ms": ("7000", 8),  # GROUP_CONFIG
        "consumer.session.timeout.ms": ("50000", 8),
    }
    assert _heartbeat_interval(broker.bootstrap, "gc", "gc-t") == 7000
    assert _heartbeat_interval(broker.bootstrap, "other", "gc-t") == 5000

    refused = _alter(broker.bootstrap, "gc", [("consumer.heartbeat.interval.ms", "60000", SET)])
    assert refused[0] == ErrorCode.INVALID_CONFIG and "group.consumer.max" in refused[1]
    with RawConnection(broker.bootstrap) as conn:
        listed = conn.request(LIST_CONFIG_RESOURCES, 1, {"resource_types": [GROUP]})
    assert [(r.resource_type, r.resource_name) for r in listed.config_resources] == [(GROUP, "gc")]

    assert (
        _alter(broker.bootstrap, "gc", [("consumer.heartbeat.interval.ms", None, DELETE)])[0] == 0
    )
    assert _describe(broker.bootstrap, "gc")["consumer.heartbeat.interval.ms"] == ("5000", 5)


def test_kafka_python_sets_and_reads_group_configs(kafka_broker_factory: BrokerFactory) -> None:
    broker: Any = kafka_broker_factory.start()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        resource = ConfigResource("GROUP", "kp-g", {"consumer.session.timeout.ms": "55000"})
        admin.alter_configs([resource], incremental=True)
        described = admin.describe_configs([ConfigResource("GROUP", "kp-g")], config_filter="all")
    finally:
        admin.close()
    assert "55000" in str(described)
