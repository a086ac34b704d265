"""Start a local cluster as real processes: one controller and N brokers on 127.0.0.1.

Kafka's KRaft "isolated" layout: the controller runs with ``process.roles=controller`` and a
CONTROLLER listener; each broker with ``process.roles=broker``, a PLAINTEXT listener and
``controller.quorum.voters`` naming the controller.  Used by ``odradek cluster up`` and by the
tests (``broker.testing``), which kill -9, SIGSTOP and restart single nodes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLER_NODE_ID = 100
# The node asks the kernel for SIGTERM when this launcher dies (see broker.cli), so a killed
# `cluster up` or test never leaves nodes behind.
PARENT_PID_VARIABLE = "ODRADEK_PARENT_PID"
READY = {
    "broker": re.compile(rb"odradek node.id=\d+ listening on [A-Za-z0-9_-]+://([^:\s]+):(\d+)"),
    "controller": re.compile(rb"listening on CONTROLLER://([^:\s]+):(\d+)"),
}
START_TIMEOUT_S = 30.0
# Local failure detection (Kafka's defaults are 9000 / 2000 ms): fast failover on one machine.
LOCAL_SETTINGS = {
    "broker.session.timeout.ms": "1500",
    "broker.heartbeat.interval.ms": "250",
    "replica.lag.time.max.ms": "5000",
    "replica.fetch.wait.max.ms": "100",
    "replica.fetch.backoff.ms": "100",
}


def controller_settings(data_dir: Path, port: int) -> dict[str, str]:
    return {
        "process.roles": "controller",
        "node.id": str(CONTROLLER_NODE_ID),
        "listeners": f"CONTROLLER://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.voters": f"{CONTROLLER_NODE_ID}@127.0.0.1:{port}",
        "log.dirs": str(data_dir),
    }


def broker_settings(
    node_id: int, data_dir: Path, port: int, controller_port: int
) -> dict[str, str]:
    return {
        "process.roles": "broker",
        "node.id": str(node_id),
        "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.voters": f"{CONTROLLER_NODE_ID}@127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir),
    }


@dataclass
class NodeProcess:
    """One ``odradek broker start`` child process."""

    role: str
    node_id: int
    data_dir: Path
    settings: dict[str, str]
    on_line: Callable[[NodeProcess, bytes], None] | None = None
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    output: list[bytes] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> NodeProcess:
        command = [sys.executable, "-m", "broker.cli", "broker", "start"]
        for key, value in self.settings.items():
            command += ["--set", f"{key}={value}"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, PARENT_PID_VARIABLE: str(os.getpid())},
        )
        self.port = self._wait_for_ready()
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _wait_for_ready(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        timer = threading.Timer(START_TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                self._line(line)
                match = READY[self.role].search(line)
                if match:
                    return int(match.group(2))
        finally:
            timer.cancel()
        raise RuntimeError(
            f"{self.role} {self.node_id} exited before listening:\n"
            + b"".join(self.output).decode(errors="replace")
        )

    def _line(self, line: bytes) -> None:
        self.output.append(line)
        if self.on_line is not None:
            self.on_line(self, line)

    def _drain(self) -> None:
        process = self.process
        assert process is not None and process.stdout is not None
        for line in process.stdout:
            self._line(line)

    def signal(self, signum: int) -> None:
        if self.running:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL and reap: no flush, no checkpoint, no controlled shutdown."""
        self.signal(signal.SIGKILL)
        self.wait()

    def terminate(self, timeout_s: float = START_TIMEOUT_S) -> int:
        """SIGTERM (controlled shutdown) and wait; SIGKILL if it takes too long."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def wait(self, timeout_s: float = START_TIMEOUT_S) -> int:
        if self.process is None:
            return 0
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def restart(self) -> NodeProcess:
        """Start again on the same data dir (a fresh port unless the settings fix one)."""
        if self.running:
            self.kill()
        return self.start()


@dataclass
class LocalCluster:
    """One controller and ``brokers`` brokers under ``base_dir``."""

    base_dir: Path
    brokers: int = 3
    base_port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    on_line: Callable[[NodeProcess, bytes], None] | None = None
    controller: NodeProcess | None = None
    nodes: dict[int, NodeProcess] = field(default_factory=dict)
    # More client listeners per broker, by name (each on a free port, after PLAINTEXT).
    extra_listeners: tuple[str, ...] = ()
    # broker.rack of broker N: racks[(N - 1) % len(racks)]; empty: no racks.
    racks: tuple[str, ...] = ()

    def _port(self, offset: int) -> int:
        return 0 if self.base_port == 0 else self.base_port + offset

    def start(self) -> LocalCluster:
        controller_dir = self.base_dir / "controller"
        controller_dir.mkdir(parents=True, exist_ok=True)
        settings = controller_settings(controller_dir, self._port(100))
        settings |= LOCAL_SETTINGS | self.settings
        self.controller = NodeProcess(
            "controller", CONTROLLER_NODE_ID, controller_dir, settings, self.on_line
        ).start()
        # Pin the port the controller bound, so it keeps it across restarts.
        self.controller.settings["listeners"] = f"CONTROLLER://127.0.0.1:{self.controller.port}"
        for node_id in range(1, self.brokers + 1):
            self.start_broker(node_id)
        return self

    def start_broker(self, node_id: int) -> NodeProcess:
        assert self.controller is not None
        node = self.nodes.get(node_id)
        if node is None:
            data_dir = self.base_dir / f"broker-{node_id}"
            data_dir.mkdir(parents=True, exist_ok=True)
            settings = broker_settings(
                node_id, data_dir, self._port(node_id - 1), self.controller.port
            )
            for name in self.extra_listeners:
                settings["listeners"] += f",{name}://127.0.0.1:0"
            if self.racks:
                settings["broker.rack"] = self.racks[(node_id - 1) % len(self.racks)]
            node = NodeProcess(
                "broker", node_id, data_dir, settings | LOCAL_SETTINGS | self.settings, self.on_line
            )
            self.nodes[node_id] = node
        return node.start()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes.values() if node.running)

    def stop(self) -> None:
        """Brokers first (each a controlled shutdown), then the controller."""
        for node in self.nodes.values():
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGTERM)
        for node in self.nodes.values():
            node.wait()
        if self.controller is not None:
            self.controller.signal(signal.SIGCONT)
            self.controller.terminate()
