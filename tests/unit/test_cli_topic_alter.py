"""`odradek topic alter NAME --config K=V --delete-config K [--validate-only]`, in-process
against a real broker (client.admin.AdminClient.alter_topic_configs underneath)."""

from __future__ import annotations

import anyio
import pytest

from broker import cli
from broker.testing import InProcessBroker
from client.admin import AdminClient, ConfigResource, ConfigResourceType, ConfigSource


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def topic(
    capsys: pytest.CaptureFixture[str], broker: InProcessBroker, *argv: str
) -> tuple[int, str, str]:
    return run(capsys, "topic", *argv, "--bootstrap-server", broker.bootstrap)


def configs(broker: InProcessBroker, name: str) -> dict[str, tuple[str | None, ConfigSource]]:
    async def describe() -> dict[str, tuple[str | None, ConfigSource]]:
        async with AdminClient({"bootstrap.servers": broker.bootstrap}) as admin:
            resource = ConfigResource(ConfigResourceType.TOPIC, name)
            entries = (await admin.describe_configs([resource]))[resource]
        return {key: (entry.value, entry.source) for key, entry in entries.items()}

    return anyio.run(describe)


def test_set_then_delete(kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]) -> None:
    assert topic(capsys, kafka_broker, "create", "t", "--config", "segment.ms=60000")[0] == 0
    argv = ["alter", "t", "--config", "retention.ms=1000", "--config", "min.insync.replicas=1"]
    assert topic(capsys, kafka_broker, *argv) == (0, "Altered the configs of topic 't'.\n", "")
    described = configs(kafka_broker, "t")
    assert described["retention.ms"] == ("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert described["segment.ms"] == ("60000", ConfigSource.DYNAMIC_TOPIC_CONFIG)  # kept
    code, _, err = topic(capsys, kafka_broker, "alter", "t", "--delete-config", "retention.ms")
    assert (code, err) == (0, "")
    described = configs(kafka_broker, "t")
    assert described["retention.ms"] == ("604800000", ConfigSource.DEFAULT_CONFIG)
    assert described["min.insync.replicas"] == ("1", ConfigSource.DYNAMIC_TOPIC_CONFIG)


def test_validate_only(kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]) -> None:
    assert topic(capsys, kafka_broker, "create", "t")[0] == 0
    argv = ["alter", "t", "--config", "retention.ms=1000", "--validate-only"]
    assert topic(capsys, kafka_broker, *argv) == (
        0,
        "Validated the change to the configs of topic 't'.\n",
        "",
    )
    assert configs(kafka_broker, "t")["retention.ms"][1] == ConfigSource.DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["t", "--config", "no.such.key=1"],
            "odradek: error: topic 't': INVALID_CONFIG (40): unknown topic config key",
        ),
        (
            ["t", "--config", "retention.ms=soon"],
            "odradek: error: topic 't': INVALID_CONFIG (40): invalid value 'soon'",
        ),
        (["missing", "--config", "retention.ms=1"], "odradek: error: unknown topic 'missing'"),
    ],
)
def test_refused_by_the_broker(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert topic(capsys, kafka_broker, "create", "t")[0] == 0
    code, out, err = topic(capsys, kafka_broker, "alter", *argv)
    assert (code, out) == (1, "")
    assert err.startswith(message), err
    assert configs(kafka_broker, "t")["retention.ms"][1] == ConfigSource.DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to change"),
        (["--config", "retention.ms=1", "--delete-config", "retention.ms"], "both set"),
    ],
)
def test_usage_errors_do_not_connect(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # Port 1 on 127.0.0.1: nothing listens; the command must not even try.
    code, out, err = run(capsys, "topic", "alter", "t", *argv, "--bootstrap-server", "127.0.0.1:1")
    assert (code, out) == (2, "")
    assert message in err


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "topic", "alter", "--help")
    assert (code, err) == (0, "")
    assert "odradek topic alter orders --delete-config retention.ms" in out
