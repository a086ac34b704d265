"""`odradek config describe|set|delete --broker N | --broker-default`, in-process against a
real broker (client.admin.AdminClient.alter_broker_configs underneath)."""

from __future__ import annotations

import json
import logging

import pytest

from broker.testing import InProcessBroker
from client.admin import ConfigSource
from tests.unit.test_cli_topic_alter import configs, run, topic


def config(
    capsys: pytest.CaptureFixture[str], broker: InProcessBroker, *argv: str
) -> tuple[int, str, str]:
    return run(capsys, "config", *argv, "--bootstrap-server", broker.bootstrap)


def test_set_describe_delete(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert topic(capsys, kafka_broker, "create", "t")[0] == 0
    setting = ["set", "--broker-default", "log.retention.ms=86400000", "min.insync.replicas=1"]
    assert config(capsys, kafka_broker, *setting) == (
        0,
        "Set: log.retention.ms, min.insync.replicas of the cluster default.\n",
        "",
    )
    own = ["set", "--broker", "1", "log.segment.bytes=2097152"]
    assert config(capsys, kafka_broker, *own) == (
        0,
        "Set: log.segment.bytes of broker 1.\n",
        "",
    )
    described = configs(kafka_broker, "t")
    assert described["retention.ms"] == ("86400000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    assert described["segment.bytes"] == ("2097152", ConfigSource.DYNAMIC_BROKER_CONFIG)

    code, out, _ = config(capsys, kafka_broker, "describe", "--broker-default", "--output", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "name": "log.retention.ms",
            "value": "86400000",
            "source": "DYNAMIC_DEFAULT_BROKER_CONFIG",
        },
        {"name": "min.insync.replicas", "value": "1", "source": "DYNAMIC_DEFAULT_BROKER_CONFIG"},
    ]
    code, out, _ = config(capsys, kafka_broker, "describe", "--broker", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CONFIG", "VALUE", "SOURCE"]
    assert [line.split() for line in lines[1:]] == [
        ["log.retention.ms", "86400000", "DYNAMIC_DEFAULT_BROKER_CONFIG"],
        ["log.segment.bytes", "2097152", "DYNAMIC_BROKER_CONFIG"],
        ["min.insync.replicas", "1", "DYNAMIC_DEFAULT_BROKER_CONFIG"],
    ]
    code, out, _ = config(capsys, kafka_broker, "describe", "--broker", "1", "--all")
    assert code == 0 and "node.id" in out

    assert config(capsys, kafka_broker, "delete", "--broker", "1", "log.segment.bytes") == (
        0,
        "Removed log.segment.bytes of broker 1.\n",
        "",
    )
    assert configs(kafka_broker, "t")["segment.bytes"][1] == ConfigSource.DEFAULT_CONFIG
    argv = ["delete", "--broker-default", "log.retention.ms", "min.insync.replicas"]
    assert config(capsys, kafka_broker, *argv)[0] == 0
    assert config(capsys, kafka_broker, "describe", "--broker-default") == (
        0,
        "No dynamic configs for the cluster default.\n",
        "",
    )


def test_refusals(kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = config(capsys, kafka_broker, "set", "--broker", "1", "num.partitions=3")
    assert (code, out) == (1, "")
    assert err.startswith("odradek: error: broker 1: ") and "dynamically" in err
    code, _, err = config(capsys, kafka_broker, "set", "--broker-default", "log.retention.ms=x")
    assert code == 1 and "log.retention.ms" in err
    code, _, err = config(capsys, kafka_broker, "set", "--broker-default", "no-equals")
    assert code == 1 and "expected KEY=VALUE" in err
    argv = ["set", "--broker-default", "--validate-only", "log.retention.ms=5"]
    assert config(capsys, kafka_broker, *argv) == (
        0,
        "Valid: log.retention.ms of the cluster default.\n",
        "",
    )
    assert config(capsys, kafka_broker, "describe", "--broker-default")[1].startswith("No ")


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "set", "log.retention.ms=1")
    assert (code, out) == (2, "")
    assert (
        "one of the arguments --broker --broker-default --group --broker-logger is required" in err
    )
    code, _, err = run(capsys, "config", "set", "--broker", "x", "a=b")
    assert code == 2 and "invalid int value" in err


def test_group_configs_and_broker_loggers(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--group G`` (KIP-848 group configs) and ``--broker-logger N`` (KIP-412)."""
    setting = ["set", "--group", "orders", "consumer.session.timeout.ms=50000"]
    assert config(capsys, kafka_broker, *setting) == (
        0,
        "Set: consumer.session.timeout.ms of group 'orders'.\n",
        "",
    )
    code, out, _ = config(capsys, kafka_broker, "describe", "--group", "orders")
    assert code == 0 and out.split("\n")[1].split() == [
        "consumer.session.timeout.ms",
        "50000",
        "GROUP_CONFIG",
    ]
    code, _, err = config(capsys, kafka_broker, "set", "--group", "orders", "bogus=1")
    assert code == 1 and "INVALID_CONFIG" in err
    logger = "odradek.test-cli-loggers"
    logging.getLogger(logger).setLevel(logging.WARNING)
    try:
        assert (
            config(capsys, kafka_broker, "set", "--broker-logger", "1", f"{logger}=DEBUG")[0] == 0
        )
        assert logging.getLogger(logger).level == logging.DEBUG
        code, out, _ = config(
            capsys, kafka_broker, "describe", "--broker-logger", "1", "--output", "json"
        )
        assert {
            "name": logger,
            "value": "DEBUG",
            "source": "DYNAMIC_BROKER_LOGGER_CONFIG",
        } in json.loads(out)
        assert config(capsys, kafka_broker, "delete", "--broker-logger", "1", logger)[0] == 0
        assert logging.getLogger(logger).level == logging.NOTSET
    finally:
        logging.getLogger(logger).setLevel(logging.NOTSET)
