"""Every locustfile of ``bench/load`` runs headless for a few seconds against a test broker:
requests succeed and are reported (Locust's stats CSV has produce/fetch rows with requests and
no failures), and the step shape prints the highest sustainable rate.

Bounded: a handful of users, ``-t 3s`` (the step shape: three 1 s steps), and a subprocess
timeout.  The broker runs in this process (the ``kafka_broker`` fixture) or is any broker named
by ``ODRADEK_TEST_BOOTSTRAP``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOAD = REPO / "bench" / "load"
RUN_TIMEOUT_S = 90


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    """$ODRADEK_TEST_BOOTSTRAP, or a fresh in-process odradek broker."""
    external = os.environ.get("ODRADEK_TEST_BOOTSTRAP")
    if external:
        return external
    return str(request.getfixturevalue("kafka_broker").bootstrap)


def run_locust(
    locustfile: str,
    bootstrap: str,
    out: Path,
    *arguments: str,
    env: dict[str, str] | None = None,
    exit_code: int = 0,
) -> subprocess.CompletedProcess[str]:
    """``locust -f bench/load/<locustfile> --headless ... --csv out``, expecting ``exit_code``
    (Locust exits 1 when any request failed)."""
    command = [
        sys.executable, "-m", "locust", "-f", locustfile, "--headless",
        "--host", bootstrap, "--csv", str(out), "--only-summary",
        "--topic", f"smoke-{uuid.uuid4().hex[:10]}", "--partitions", "2", *arguments,
    ]  # fmt: skip
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


def stats(out: Path) -> dict[str, tuple[int, int]]:
    """Request type → (requests, failures) from ``<out>_stats.csv``."""
    rows: dict[str, tuple[int, int]] = {}
    with Path(f"{out}_stats.csv").open(newline="") as file:
        for row in csv.DictReader(file):
            if row["Type"]:
                count, failures = int(row["Request Count"]), int(row["Failure Count"])
                old = rows.get(row["Type"], (0, 0))
                rows[row["Type"]] = (old[0] + count, old[1] + failures)
    return rows


def assert_reported(rows: dict[str, tuple[int, int]], *request_types: str) -> None:
    for request_type in request_types:
        count, failures = rows.get(request_type, (0, 0))
        assert count > 0, (request_type, rows)
        assert failures == 0, (request_type, rows)


SHORT_RUN = ("-u", "4", "-r", "4", "-t", "3s")


@pytest.mark.parametrize("acks", ["1", "all"])
def test_produce_locustfile(bootstrap: str, tmp_path: Path, acks: str) -> None:
    out = tmp_path / "produce"
    run_locust("bench/load/produce.py", bootstrap, out, *SHORT_RUN, "--acks", acks,
               "--keyed", "true", "--record-size", "200")  # fmt: skip
    assert_reported(stats(out), "produce")


def test_consume_locustfile(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "consume"
    run_locust("bench/load/consume.py", bootstrap, out, *SHORT_RUN, "--seed-records", "2000")
    assert_reported(stats(out), "fetch")


def test_mixed_locustfile_reports_end_to_end_latency(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    run_locust("bench/load/mixed.py", bootstrap, out, *SHORT_RUN)
    assert_reported(stats(out), "produce", "fetch", "e2e")


def test_step_shape_finds_a_sustainable_rate(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "step"
    shape = {
        "ODRADEK_STEP_USERS": "2",
        "ODRADEK_STEP_SECONDS": "1",
        "ODRADEK_MAX_USERS": "6",
        "ODRADEK_P99_MS": "10000",
    }
    completed = run_locust(
        "bench/load/produce.py,bench/load/step_shape.py", bootstrap, out, env=shape
    )
    assert "highest sustainable rate:" in completed.stdout, completed.stdout[-3000:]
    assert completed.stdout.count("step ") >= 2
    assert_reported(stats(out), "produce")


def test_failures_are_named_by_their_kafka_error(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "too-large"
    # Above max.request.size (1 MiB): every send fails before it is written.
    run_locust("bench/load/produce.py", bootstrap, out, "-u", "1", "-r", "1", "-t", "2s",
               "--record-size", "2000000", exit_code=1)  # fmt: skip
    count, failures = stats(out)["produce"]
    assert count == failures > 0
    with Path(f"{out}_failures.csv").open(newline="") as file:
        errors = {row["Error"] for row in csv.DictReader(file)}
    assert errors == {"MESSAGE_TOO_LARGE (not written)"}
