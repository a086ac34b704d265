"""ListConfigResources (74, KIP-1000 / KIP-1142): the config resources DescribeConfigs can
be asked about, by type: every topic, every broker and its loggers; v0
(ListClientMetricsResources) and the client-metrics type list none here (groups with
configs: tests/integration/test_group_configs.py); an unknown type is refused."""

from __future__ import annotations

from typing import Any

from kafka.admin import KafkaAdminClient

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import create_topic
from tests.integration.wire import RawConnection

LIST_CONFIG_RESOURCES = 74
TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP = 2, 4, 8, 16, 32


def _list(bootstrap: str, version: int, types: list[int]) -> tuple[int, list[tuple[int, str]]]:
    with RawConnection(bootstrap) as conn:
        response = conn.request(LIST_CONFIG_RESOURCES, version, {"resource_types": types})
    resources = [(r.resource_type, r.resource_name) for r in response.config_resources]
    return response.error_code, resources


def test_topics_and_brokers_by_type(kafka_broker_factory: BrokerFactory) -> None:
    broker: Any = kafka_broker_factory.start()
    for name in ("lcr-b", "lcr-a"):
        create_topic(broker.bootstrap, name)
    assert _list(broker.bootstrap, 1, [TOPIC]) == (0, [(TOPIC, "lcr-a"), (TOPIC, "lcr-b")])
    assert _list(broker.bootstrap, 1, [BROKER, CLIENT_METRICS]) == (0, [(BROKER, "1")])
    error, every = _list(broker.bootstrap, 1, [])
    assert error == 0
    assert every == [(TOPIC, "lcr-a"), (TOPIC, "lcr-b"), (BROKER_LOGGER, "1"), (BROKER, "1")]
    # v0 is ListClientMetricsResources: client metrics only, of which there are none.
    assert _list(broker.bootstrap, 0, []) == (0, [])
    assert _list(broker.bootstrap, 1, [GROUP]) == (0, [])  # no group has configs
    assert _list(broker.bootstrap, 1, [TOPIC, 64]) == (ErrorCode.UNSUPPORTED_VERSION, [])

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        assert admin.list_config_resources(["TOPIC"]) == {"topic": ["lcr-a", "lcr-b"]}
        assert admin.list_config_resources() == {
            "topic": ["lcr-a", "lcr-b"],
            "broker_logger": ["1"],
            "broker": ["1"],
        }
    finally:
        admin.close()
