"""`odradek features describe|upgrade|downgrade|disable`, in-process against a real broker
(client.admin.AdminClient.describe_features / update_features underneath)."""

from __future__ import annotations

import json

import pytest

from broker.testing import InProcessBroker
from tests.unit.test_cli_topic_alter import run


def features(
    capsys: pytest.CaptureFixture[str], broker: InProcessBroker, *argv: str
) -> tuple[int, str, str]:
    return run(capsys, "features", *argv, "--bootstrap-server", broker.bootstrap)


def _finalized(capsys: pytest.CaptureFixture[str], broker: InProcessBroker) -> dict[str, str]:
    code, out, _ = features(capsys, broker, "describe", "--output", "json")
    assert code == 0
    return {row["feature"]: row["finalized"] for row in json.loads(out)}


def test_describe_upgrade_downgrade_disable(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = features(capsys, kafka_broker, "describe")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["FEATURE", "SUPPORTED-MIN", "SUPPORTED-MAX", "FINALIZED", "EPOCH"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["metadata.version"] == ["3.3-IV3", "3.9-IV0", "3.9-IV0", "0"]
    assert rows["transaction.version"] == ["0", "0", "0", "0"]
    assert _finalized(capsys, kafka_broker)["group.version"] == "1"

    assert features(capsys, kafka_broker, "downgrade", "--metadata", "3.7-IV2") == (
        0,
        "Done: downgrade metadata.version=3.7-IV2.\n",
        "",
    )
    assert _finalized(capsys, kafka_broker)["metadata.version"] == "3.7-IV2"
    code, _, err = features(capsys, kafka_broker, "downgrade", "--metadata", "3.6", "--unsafe")
    assert code == 1 and "Unsafe metadata downgrade is not supported" in err
    assert features(capsys, kafka_broker, "upgrade", "--metadata", "3.9")[0] == 0
    assert _finalized(capsys, kafka_broker)["metadata.version"] == "3.9-IV0"

    assert features(capsys, kafka_broker, "disable", "--feature", "group.version", "--dry-run") == (
        0,
        "Valid: disable group.version=0.\n",
        "",
    )
    assert _finalized(capsys, kafka_broker)["group.version"] == "1"
    assert features(capsys, kafka_broker, "disable", "--feature", "group.version")[0] == 0
    assert _finalized(capsys, kafka_broker)["group.version"] == "0"
    code, _, err = features(capsys, kafka_broker, "upgrade", "--feature", "group.version=2")
    assert code == 1 and "INVALID_UPDATE_VERSION" in err
    assert features(capsys, kafka_broker, "upgrade", "--feature", "group.version=1")[0] == 0


def test_bad_usage_is_a_clear_message(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = features(capsys, kafka_broker, "upgrade")
    assert code == 1 and "name at least one --feature" in err
    code, _, err = features(capsys, kafka_broker, "upgrade", "--feature", "group.version")
    assert code == 1 and "expected NAME=LEVEL" in err
    code, _, err = features(capsys, kafka_broker, "upgrade", "--metadata", "banana")
    assert code == 1 and "not a metadata.version" in err
