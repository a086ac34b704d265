"""Smoke test of the end-to-end benchmark matrix (``python -m bench.e2e``): a tiny matrix (one
broker process on a free port of 127.0.0.1, two clients, acks=1, 100 B records, one repetition
of at most half a second or 2,000 records per cell) into tmp_path.

Speed is not asserted (nothing here is a timed test): only that every configuration produced
a row with positive rates and ordered percentiles, and that the plot, the JSON and RESULTS.md
were written.  The broker is stopped by PID (SIGTERM) when the matrix ends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.e2e.matrix import TABLE_HEADER, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLIENTS = ("confluent", "odradek")


def _number(cell: str) -> float:
    """The median of a table cell such as ``1,234`` or ``1,234 (1,000-2,000)``."""
    return float(cell.split(maxsplit=1)[0].replace(",", ""))


def test_tiny_matrix_writes_table_plot_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "results"
    results_md = tmp_path / "RESULTS.md"
    argv = [
        "--topologies=single",
        f"--clients={','.join(CLIENTS)}",
        "--acks=1",
        "--sizes=100",
        "--reps=1",
        "--seconds=0.5",
        "--records=2000",
        f"--out-dir={out_dir}",
        f"--results-md={results_md}",
    ]

    assert main(argv) == 0

    printed = capsys.readouterr().out
    assert TABLE_HEADER in printed
    document = results_md.read_text()
    assert TABLE_HEADER in document
    assert "python -m bench.e2e --topologies=single" in document
    assert "## Machine" in document

    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in document.splitlines()
        if line.startswith("| single |")
    ]
    assert sorted(row[1] for row in rows) == sorted(CLIENTS)
    for row in rows:
        _topology, _client, acks, size, rate, mb_s, p50, p99, consume, reps = row
        assert (acks, size, reps) == ("1", "100", "1/1")
        assert _number(rate) > 0
        assert _number(mb_s) >= 0
        assert _number(consume) > 0
        assert 0 <= _number(p50) <= _number(p99)

    png = (out_dir / "matrix.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 10_000

    raw = json.loads((out_dir / "matrix.json").read_text())
    assert len(raw["cells"]) == len(CLIENTS)
    for cell in raw["cells"]:
        assert cell["error"] is None
        assert 0 < cell["acked"] == cell["sent"] <= 2000
        assert cell["records_per_s"] > 0
        latency = cell["latency_ms"]
        assert 0 <= latency["p50"] <= latency["p99"] <= latency["max"]
    assert {s["client"] for s in raw["summary"]} == set(CLIENTS)
