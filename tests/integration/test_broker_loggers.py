"""BROKER_LOGGER config resources (KIP-412, ``kafka-configs --entity-type broker-loggers``):
DescribeConfigs lists this broker's loggers with their levels in log4j's names;
IncrementalAlterConfigs sets (SET) or unsets (DELETE) a level at run time.  The broker runs
in this process, so the test drives a logger of its own and leaves it as it found it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import ConfigResource, KafkaAdminClient

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection

DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS, LIST_CONFIG_RESOURCES = 32, 33, 44, 74
BROKER_LOGGER = 8
SET, DELETE, APPEND = 0, 1, 2
LOGGER = "odradek.test-broker-loggers"


@pytest.fixture
def test_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.WARNING)
    try:
        yield logger
    finally:
        logger.setLevel(logging.NOTSET)


def _levels(bootstrap: str, name: str = "1") -> tuple[int, dict[str, str]]:
    body = {
        "resources": [
            {"resource_type": BROKER_LOGGER, "resource_name": name, "configuration_keys": None}
        ],
        "include_synonyms": False,
        "include_documentation": False,
    }
    with RawConnection(bootstrap) as conn:
        (result,) = conn.request(DESCRIBE_CONFIGS, 4, body).results
    for entry in result.configs:
        assert (entry.config_source, entry.read_only) == (6, False)  # DYNAMIC_BROKER_LOGGER
    return result.error_code, {entry.name: entry.value for entry in result.configs}


def _alter(
    bootstrap: str, changes: list[tuple[str, str | None, int]], name: str = "1", api: int = 44
) -> tuple[int, str | None]:
    configs: list[dict[str, Any]] = [
        {"name": key, "value": value, "config_operation": op} for key, value, op in changes
    ]
    resource = {"resource_type": BROKER_LOGGER, "resource_name": name, "configs": configs}
    with RawConnection(bootstrap) as conn:
        version = 1 if api == INCREMENTAL_ALTER_CONFIGS else 2
        (answer,) = conn.request(
            api, version, {"resources": [resource], "validate_only": False}
        ).responses
    return answer.error_code, answer.error_message


def test_describe_and_change_a_level(
    kafka_broker_factory: BrokerFactory, test_logger: logging.Logger
) -> None:
    broker: Any = kafka_broker_factory.start()
    error, levels = _levels(broker.bootstrap)
    assert error == ErrorCode.NONE and levels[LOGGER] == "WARN" and "root" in levels
    assert "odradek.broker" in levels

    assert _alter(broker.bootstrap, [(LOGGER, "debug", SET)]) == (ErrorCode.NONE, None)
    assert test_logger.level == logging.DEBUG
    assert _levels(broker.bootstrap)[1][LOGGER] == "DEBUG"
    assert _alter(broker.bootstrap, [(LOGGER, "TRACE", SET)])[0] == ErrorCode.NONE
    assert _levels(broker.bootstrap)[1][LOGGER] == "TRACE"
    # DELETE: back to what it inherits.
    assert _alter(broker.bootstrap, [(LOGGER, None, DELETE)])[0] == ErrorCode.NONE
    assert test_logger.level == logging.NOTSET

    # Refusals change nothing (the whole resource is checked first).
    test_logger.setLevel(logging.WARNING)
    bad_level = _alter(broker.bootstrap, [(LOGGER, "INFO", SET), ("odradek.broker", "LOUD", SET)])
    assert bad_level[0] == ErrorCode.INVALID_CONFIG and "Valid log levels are" in str(bad_level[1])
    assert test_logger.level == logging.WARNING
    assert _alter(broker.bootstrap, [("no.such.logger", "INFO", SET)]) == (
        ErrorCode.INVALID_CONFIG,
        "Logger no.such.logger does not exist!",
    )
    assert _alter(broker.bootstrap, [("root", None, DELETE)])[0] == ErrorCode.INVALID_REQUEST
    assert _alter(broker.bootstrap, [(LOGGER, "INFO", APPEND)])[0] == ErrorCode.INVALID_REQUEST
    assert (
        _alter(broker.bootstrap, [(LOGGER, "INFO", SET)], name="7")[0] == ErrorCode.INVALID_REQUEST
    )
    assert _levels(broker.bootstrap, name="")[0] == ErrorCode.INVALID_REQUEST
    legacy = _alter(broker.bootstrap, [(LOGGER, "INFO", SET)], api=ALTER_CONFIGS)
    assert legacy[0] == ErrorCode.INVALID_REQUEST
    assert test_logger.level == logging.WARNING

    with RawConnection(broker.bootstrap) as conn:
        listed = conn.request(LIST_CONFIG_RESOURCES, 1, {"resource_types": [BROKER_LOGGER]})
    assert [(r.resource_type, r.resource_name) for r in listed.config_resources] == [
        (BROKER_LOGGER, "1")
    ]


def test_kafka_python_describes_broker_loggers(
    kafka_broker_factory: BrokerFactory, test_logger: logging.Logger
) -> None:
    broker: Any = kafka_broker_factory.start()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        described = admin.describe_configs(
            [ConfigResource("BROKER_LOGGER", "1")], config_filter="all"
        )
    finally:
        admin.close()
    assert LOGGER in str(described) and "WARN" in str(described)
