"""broker.cli: `odradek broker start` and `odradek --version`, in-process with a fake server."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import types
from pathlib import Path

import pytest

from broker import cli
from broker.config import BrokerConfig, load_config

SHIPPED_PROPERTIES = Path(__file__).resolve().parents[2] / "configs" / "server.properties"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[BrokerConfig]:
    """Replace broker.server.broker with a fake whose run() records its config."""
    configs: list[BrokerConfig] = []

    def run(config: BrokerConfig) -> int:
        configs.append(config)
        return 0

    fake = types.ModuleType("broker.server.broker")
    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "broker.server.broker", fake)
    return configs


def test_start_with_embedded_default(started: list[BrokerConfig]) -> None:
    assert cli.main(["broker", "start"]) == 0
    assert started == [load_config(None, []).config]


def test_start_with_file_and_overrides(started: list[BrokerConfig], tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=2\nlog.dirs=/data\n")
    argv = ["broker", "start", "--config", str(path), "--set", "num.partitions=4"]
    assert cli.main([*argv, "--set", "min.insync.replicas=2"]) == 0
    (config,) = started
    assert (config.num_partitions, config.min_insync_replicas) == (4, 2)
    assert config.log_dirs == ("/data",)


def test_start_with_shipped_file(started: list[BrokerConfig]) -> None:
    assert cli.main(["broker", "start", "--config", str(SHIPPED_PROPERTIES)]) == 0
    assert started == [load_config(None, []).config]


def test_run_exit_code_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("broker.server.broker")
    fake.run = lambda config: 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "broker.server.broker", fake)
    assert cli.main(["broker", "start"]) == 3


def test_warnings_go_to_stderr(
    started: list[BrokerConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["broker", "start", "--set", "num.io.threads=8"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "odradek: warning: ignoring Kafka config keys that odradek does not support yet: "
        "num.io.threads"
    ]
    assert len(started) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--set", "log.retention.msx=1"],
            "odradek: error: unknown config key 'log.retention.msx' "
            "(did you mean 'log.retention.ms'?)",
        ),
        (
            ["--set", "num.partitions=abc"],
            "odradek: error: invalid value 'abc' for 'num.partitions': expected an integer >= 1",
        ),
        (["--set", "num.partitions"], "odradek: error: invalid --set 'num.partitions'"),
        (
            ["--set", "listeners=SSL://:9093"],
            "odradek: error: SSL listener 'SSL' needs ssl.keystore.location",
        ),
        (
            ["--config", "/nonexistent/server.properties"],
            "odradek: error: cannot read config file '/nonexistent/server.properties': "
            "No such file or directory",
        ),
    ],
)
def test_config_errors_exit_2_without_starting(
    started: list[BrokerConfig],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert cli.main(["broker", "start", *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith(message)
    assert error.count("\n") == 1
    assert "Traceback" not in error
    assert started == []


def test_unreadable_file(
    started: list[BrokerConfig], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["broker", "start", "--config", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("odradek: error: cannot read config file")
    assert started == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["broker"], "the following arguments are required: COMMAND"),
        (["broker", "stop"], "invalid choice: 'stop'"),
        (["topics"], "invalid choice: 'topics'"),
        (["broker", "start", "--bogus"], "unrecognized arguments: --bogus"),
        (["broker", "start", "--config"], "expected one argument"),
    ],
)
def test_usage_errors_exit_2(
    started: list[BrokerConfig],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert "usage: odradek" in error
    assert message in error
    assert "Traceback" not in error
    assert started == []


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["broker", "start", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--config FILE" in out
    assert "--set KEY=VALUE" in out


def test_version_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"odradek {importlib.metadata.version('odradek')}\n"


def test_version_as_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"odradek {importlib.metadata.version('odradek')}\n"


@pytest.mark.parametrize("racks", ["a,,b", ",", " "])
def test_cluster_up_refuses_an_empty_rack_name(
    capsys: pytest.CaptureFixture[str], racks: str
) -> None:
    assert cli.main(["cluster", "up", "--racks", racks]) == 2
    error = capsys.readouterr().err
    assert "invalid rack list" in error and "Traceback" not in error
