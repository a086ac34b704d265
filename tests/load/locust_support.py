"""Helpers of the Locust smoke tests: the ``locust`` command line, bounded runs (one process,
or a master and workers, each stopped by its PID), and the ``--csv`` stats."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.ports import unused_port

REPO = Path(__file__).resolve().parents[2]
# A hard limit on every locust process (a run is a few seconds; startup and shutdown add some).
RUN_TIMEOUT_S = 90
# How long a stopped process may take to exit before it is killed.
STOP_TIMEOUT_S = 15
# Locust's own exit code when a request failed.
FAILED_REQUESTS_EXIT_CODE = 1


def new_topic() -> str:
    """A topic (or group) name no earlier run used, so results never mix across runs."""
    return f"smoke-{uuid.uuid4().hex[:10]}"


def locust_command(locustfiles: str, *arguments: str) -> list[str]:
    """``python -m locust -f <locustfiles> <arguments>``."""
    return [sys.executable, "-m", "locust", "-f", locustfiles, *arguments]


def run_locust(
    locustfile: str,
    bootstrap: str,
    out: Path,
    *arguments: str,
    env: dict[str, str] | None = None,
    exit_code: int = 0,
    topic: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``locust -f <locustfile> --headless ... --csv out`` on a fresh topic (2 partitions
    unless ``arguments`` say otherwise), expecting ``exit_code`` (Locust exits 1 when any
    request failed)."""
    command = locust_command(
        locustfile, "--headless", "--host", bootstrap, "--csv", str(out), "--only-summary",
        "--topic", topic or new_topic(), "--partitions", "2", *arguments,
    )  # fmt: skip
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert completed.returncode == exit_code, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM this process (by its PID) if it still runs; SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def run_distributed(
    locustfiles: str, workers: int, out: Path, master_arguments: list[str]
) -> tuple[int | None, str]:
    """A headless master (``--expect-workers workers``, on a free port of 127.0.0.1) and
    ``workers`` worker processes; waits for the master (bounded), then for the workers (which
    quit with it).  Returns the master's exit code (None if it had to be stopped) and every
    process's output.  All of them are stopped by PID in any case."""
    port = str(unused_port())
    logs = [out.with_name(f"{out.name}-master.log")]
    logs += [out.with_name(f"{out.name}-worker{index}.log") for index in range(workers)]
    master_command = locust_command(
        locustfiles, "--master", "--headless", "--master-bind-host", "127.0.0.1",
        "--master-bind-port", port, "--expect-workers", str(workers),
        "--expect-workers-max-wait", "30", "--csv", str(out), "--only-summary",
        *master_arguments,
    )  # fmt: skip
    worker_command = locust_command(
        locustfiles, "--worker", "--master-host", "127.0.0.1", "--master-port", port
    )
    processes: list[subprocess.Popen[bytes]] = []
    master_code: int | None = None
    with contextlib.ExitStack() as files:
        outputs = [files.enter_context(log.open("wb")) for log in logs]
        try:
            commands = [master_command] + [worker_command] * workers
            for command, log_file in zip(commands, outputs, strict=True):
                process = subprocess.Popen(
                    command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
                processes.append(process)
            with contextlib.suppress(subprocess.TimeoutExpired):
                master_code = processes[0].wait(timeout=RUN_TIMEOUT_S)
                for worker in processes[1:]:
                    worker.wait(timeout=STOP_TIMEOUT_S)
        finally:
            for process in processes:
                stop(process)
    output = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in logs)
    return master_code, output


def stats_rows(out: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(request type, name) → (requests, failures) from ``<out>_stats.csv``."""
    rows: dict[tuple[str, str], tuple[int, int]] = {}
    with Path(f"{out}_stats.csv").open(newline="") as file:
        for row in csv.DictReader(file):
            if row["Type"]:
                count, failures = int(row["Request Count"]), int(row["Failure Count"])
                old = rows.get((row["Type"], row["Name"]), (0, 0))
                rows[row["Type"], row["Name"]] = (old[0] + count, old[1] + failures)
    return rows


def stats(out: Path) -> dict[str, tuple[int, int]]:
    """Request type → (requests, failures) from ``<out>_stats.csv``."""
    rows: dict[str, tuple[int, int]] = {}
    for (request_type, _), (count, failures) in stats_rows(out).items():
        old = rows.get(request_type, (0, 0))
        rows[request_type] = (old[0] + count, old[1] + failures)
    return rows


def assert_reported(rows: dict[str, tuple[int, int]], *request_types: str) -> None:
    """Each of ``request_types`` was reported at least once, and never failed."""
    for request_type in request_types:
        count, failures = rows.get(request_type, (0, 0))
        assert count > 0, (request_type, rows)
        assert failures == 0, (request_type, rows)
