"""A pytest plugin: real odradek brokers for any project's tests (entry point ``pytest11``).

Fixtures:

- ``kafka_broker``: a broker in this process (its own event-loop thread) on a free port of
  127.0.0.1 with a temporary data dir; ``kafka_broker.bootstrap`` is the address to give a client.
- ``kafka_broker_factory``: ``start(overrides=..., subprocess=False, data_dir=None)`` for custom
  configs, several brokers, or a broker in a child process (``subprocess=True``) that a test may
  ``kill()`` with SIGKILL and start again on the same data dir.
- ``kafka_cluster_factory``: ``start(brokers=3, overrides=...)`` gives a
  :class:`~broker.cluster_launcher.LocalCluster`: a controller process and N broker processes
  on free ports of 127.0.0.1 (``cluster.bootstrap``; ``cluster.nodes[i].kill()``, ``.pause()``,
  ``.resume()``, ``.terminate()``, ``.start()``), with fast local failure detection.

Every broker started by a fixture is stopped at the end of the test.  When a test that used
``kafka_cluster_factory`` fails, the end of each node's log is printed at teardown (pytest
shows it under "Captured stdout teardown"), so a rare failure comes with the brokers' side.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from broker.cluster_launcher import PARENT_PID_VARIABLE, LocalCluster
from broker.config import BrokerConfig, load_config

READY_PATTERN = re.compile(rb"odradek node.id=\d+ listening on [A-Za-z0-9_-]+://([^:\s]+):(\d+)")
START_TIMEOUT_S = 30.0
FAILURE_LOG_LINES = 200  # per node, printed when a cluster test fails
_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test itself failed, for the cluster fixture's teardown."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


def broker_config(data_dir: Path, overrides: dict[str, str] | None = None) -> BrokerConfig:
    """An embedded-default config on 127.0.0.1, port 0, data in ``data_dir``."""
    settings = {"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": str(data_dir)}
    settings.update(overrides or {})
    return load_config(None, [f"{key}={value}" for key, value in settings.items()]).config


@dataclass
class InProcessBroker:
    """A broker running on an event loop in a background thread of this process."""

    data_dir: Path
    config: BrokerConfig
    host: str = "127.0.0.1"
    port: int = 0
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    server: Any = None
    portal: Any = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` (a coroutine function) on the broker's event loop."""
        return self.portal.call(function, *args)

    def start(self) -> InProcessBroker:
        from anyio.from_thread import start_blocking_portal

        from broker.server.broker import BrokerServer

        self.server = BrokerServer(self.config)
        portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        self.portal = portal
        future, port = portal.start_task(self.server.serve)
        self._future = future
        self.port = int(port)
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        self._future.cancel()
        with contextlib.suppress(BaseException):
            self._future.result(timeout=START_TIMEOUT_S)
        self._stack.close()
        self.server.close()
        self.server = None


@dataclass
class ProcessBroker:
    """A broker in a child process (``odradek broker start``), for kill -9 and signal tests."""

    data_dir: Path
    overrides: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    output: list[bytes] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> ProcessBroker:
        settings = {"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": str(self.data_dir)}
        settings.update(self.overrides)
        command = [sys.executable, "-m", "broker.cli", "broker", "start"]
        for key, value in settings.items():
            command += ["--set", f"{key}={value}"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # SIGTERM when this process dies (a killed test run leaves no broker behind).
            env={**os.environ, PARENT_PID_VARIABLE: str(os.getpid())},
        )
        assert self.process.stdout is not None
        self.port = _wait_for_ready(self.process, self.process.stdout, self.output)
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def kill(self) -> None:
        """SIGKILL: no flush, no checkpoint, no clean-shutdown marker."""
        self._signal(signal.SIGKILL)

    def terminate(self) -> int:
        """SIGTERM and wait: the clean shutdown path.  Returns the exit code."""
        return self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        code = self.process.wait(timeout=START_TIMEOUT_S)
        self.process = None
        return code

    stop = terminate


def _wait_for_ready(
    process: subprocess.Popen[bytes], stdout: IO[bytes], output: list[bytes]
) -> int:
    """Read the child's log until its 'listening on' line; return the port it bound."""
    timer = threading.Timer(START_TIMEOUT_S, process.kill)
    timer.start()
    try:
        for line in stdout:
            output.append(line)
            match = READY_PATTERN.search(line)
            if match:
                return int(match.group(2))
    finally:
        timer.cancel()
    raise RuntimeError(
        "broker exited before listening:\n" + b"".join(output).decode(errors="replace")
    )


class BrokerFactory:
    """Starts brokers for one test and stops them all afterwards."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.started: list[InProcessBroker | ProcessBroker] = []
        self._count = 0

    def new_data_dir(self) -> Path:
        self._count += 1
        path = self.base_dir / f"broker-{self._count}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(
        self,
        overrides: dict[str, str] | None = None,
        *,
        subprocess: bool = False,
        data_dir: Path | None = None,
    ) -> InProcessBroker | ProcessBroker:
        directory = data_dir or self.new_data_dir()
        broker: InProcessBroker | ProcessBroker
        if subprocess:
            broker = ProcessBroker(directory, dict(overrides or {}))
        else:
            broker = InProcessBroker(directory, broker_config(directory, overrides))
        self.started.append(broker.start())
        return broker

    def stop_all(self) -> None:
        for broker in reversed(self.started):
            broker.stop()
        self.started.clear()


@pytest.fixture
def kafka_broker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerFactory]:
    """Start odradek brokers (in-process or as subprocesses); all stopped after the test."""
    factory = BrokerFactory(tmp_path_factory.mktemp("odradek"))
    try:
        yield factory
    finally:
        factory.stop_all()


class ClusterFactory:
    """Starts local clusters (real processes) for one test; stops them all afterwards."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.started: list[LocalCluster] = []

    def start(
        self,
        brokers: int = 3,
        overrides: dict[str, str] | None = None,
        *,
        extra_listeners: tuple[str, ...] = (),
        racks: tuple[str, ...] = (),
    ) -> LocalCluster:
        """``extra_listeners``: names of more client listeners each broker serves (on free
        ports, after PLAINTEXT, which stays the inter-broker one and the bootstrap);
        ``racks``: broker N's ``broker.rack`` is ``racks[(N - 1) % len(racks)]``."""
        directory = self.base_dir / f"cluster-{len(self.started) + 1}"
        cluster = LocalCluster(directory, brokers, 0, dict(overrides or {}))
        cluster.extra_listeners = extra_listeners
        cluster.racks = racks
        self.started.append(cluster)
        return cluster.start()

    def log_tails(self, lines: int = FAILURE_LOG_LINES) -> str:
        """The last ``lines`` lines each node of every cluster wrote, node by node."""
        out: list[str] = []
        for number, cluster in enumerate(self.started, 1):
            nodes = [("controller", cluster.controller)] + [
                (f"broker {node_id}", node) for node_id, node in sorted(cluster.nodes.items())
            ]
            for name, node in nodes:
                if node is None:
                    continue
                text = b"".join(node.output).decode("utf-8", "replace").splitlines()
                out.append(f"==== cluster {number}, {name}: last {lines} lines ====")
                out.extend(text[-lines:])
        return "\n".join(out)

    def stop_all(self) -> None:
        for cluster in reversed(self.started):
            for node in [*cluster.nodes.values(), cluster.controller]:
                if node is not None and node.running:
                    node.resume()
            cluster.stop()
        self.started.clear()


@pytest.fixture
def kafka_cluster_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterFactory]:
    """Start local odradek clusters (controller + brokers as processes); stopped afterwards."""
    factory = ClusterFactory(tmp_path_factory.mktemp("odradek-cluster"))
    try:
        yield factory
    finally:
        if request.node.stash.get(_CALL_FAILED, False):
            print(factory.log_tails())  # the test failed: the nodes' side of the story
        factory.stop_all()


@pytest.fixture
def kafka_broker(kafka_broker_factory: BrokerFactory) -> InProcessBroker | ProcessBroker:
    """A fresh single-node odradek broker on 127.0.0.1 (free port, temporary data dir)."""
    return kafka_broker_factory.start()
