"""A failing test that used ``kafka_cluster_factory`` shows the end of every node's log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# It runs a pytest of its own on two clusters (11 s): the slow tier's.
pytestmark = pytest.mark.slow

FAILING_TEST = """
def test_fails(kafka_cluster_factory):
    kafka_cluster_factory.start(brokers=1)
    assert False, "on purpose"


def test_passes(kafka_cluster_factory):
    kafka_cluster_factory.start(brokers=1)
"""


def test_a_failing_cluster_test_prints_the_nodes_logs(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(FAILING_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 1, output
    assert "1 failed, 1 passed" in output
    failure = output[output.index("test_fails") :]
    assert "Captured stdout teardown" in failure
    for node in ("controller", "broker 1"):
        assert f"==== cluster 1, {node}: last 200 lines ====" in failure
    assert "listening on PLAINTEXT://127.0.0.1:" in failure  # a line from the broker's log
    assert output.count("==== cluster 1, controller") == 1  # not for the passing test
