"""broker.cli_perf: `odradek perf produce|consume`, small bounded runs against a real broker,
and the meter and progress line on their own (explicit times, no event loop)."""

from __future__ import annotations

import io
import json
import re
import time
from array import array
from typing import Any

import pytest

from broker.cli_perf import Meter, Progress, Summary, percentile
from broker.testing import InProcessBroker
from tests.support.ports import unused_port
from tests.unit.test_cli_topic import run

RECORDS = 2000
SHORT_TIMEOUT_MS = 300
SUMMARY_FIELDS = {
    "records",
    "bytes",
    "errors",
    "elapsed_s",
    "records_per_s",
    "mb_per_s",
    "latency",
    "latency_avg_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
}
NUMBER = r"\d+(?:\.\d+)?"
SUMMARY_LINE = re.compile(
    rf"^(?P<records>\d+) records (?P<verb>sent|received), (?P<rate>{NUMBER}) records/s "
    rf"\((?P<mb>{NUMBER}) MB/s\), (?P<kind>[a-z-]+) latency: (?P<avg>{NUMBER}) ms avg, "
    rf"(?P<p50>{NUMBER}) ms p50, (?P<p95>{NUMBER}) ms p95, (?P<p99>{NUMBER}) ms p99, "
    rf"(?P<max>{NUMBER}) ms max, (?P<errors>\d+) errors\.$"
)


def perf(
    capsys: pytest.CaptureFixture[str], broker: InProcessBroker, *argv: str
) -> tuple[int, str, str]:
    return run(capsys, "perf", *argv, "--bootstrap-server", broker.bootstrap)


def json_summary(out: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(out)
    assert set(summary) == SUMMARY_FIELDS
    return summary


# -- runs against a broker -------------------------------------------------------------------


def test_produce_then_consume_json(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--topic", "perf", "--partitions", "3", "--output", "json"]
    code, out, err = perf(
        capsys, kafka_broker, "produce", *argv, "--num-records", str(RECORDS), "--record-size", "50"
    )
    assert code == 0, err
    assert err == "Created topic 'perf' with 3 partitions.\n"
    produced = json_summary(out)
    assert (produced["records"], produced["bytes"], produced["errors"]) == (
        RECORDS,
        RECORDS * 50,
        0,
    )
    assert produced["latency"] == "send-to-delivery"
    assert produced["records_per_s"] > 0 and produced["mb_per_s"] > 0
    latencies = [produced[f"latency_{name}_ms"] for name in ("p50", "p95", "p99", "max")]
    assert latencies == sorted(latencies) and latencies[-1] > 0
    assert 0 < produced["latency_avg_ms"] <= produced["latency_max_ms"]

    code, out, err = perf(capsys, kafka_broker, "consume", *argv)
    assert (code, err) == (0, "")
    consumed = json_summary(out)
    assert (consumed["records"], consumed["bytes"], consumed["errors"]) == (
        RECORDS,
        RECORDS * 50,
        0,
    )
    assert consumed["latency"] == "fetch"
    latencies = [consumed[f"latency_{name}_ms"] for name in ("p50", "p95", "p99", "max")]
    assert latencies == sorted(latencies)
    # Every partition got records: the producer takes them in turn.
    describe = run(
        capsys,
        "topic",
        "describe",
        "perf",
        "--output",
        "json",
        "--bootstrap-server",
        kafka_broker.bootstrap,
    )
    marks = [p["high_watermark"] for p in json.loads(describe[1])[0]["partitions"]]
    assert sum(marks) == RECORDS and min(marks) > 0


def test_text_summary_throttled_acks_1_compressed(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--topic",
        "slow",
        "--num-records",
        "400",
        "--throughput",
        "4000",
        "--acks",
        "1",
        "--compression",
        "lz4",
        "--config",
        "linger.ms=2",
    ]
    code, out, _ = perf(capsys, kafka_broker, "produce", *argv)
    assert code == 0
    match = SUMMARY_LINE.match(out.rstrip("\n"))
    assert match is not None, out
    assert match.group("records", "verb", "kind", "errors") == (
        "400",
        "sent",
        "send-to-delivery",
        "0",
    )
    # 400 records at 4000/s: the last is sent no sooner than ~0.1 s after the first.
    assert float(match.group("rate")) <= 4000 * 1.1
    p50, p95, p99, top = (float(match.group(name)) for name in ("p50", "p95", "p99", "max"))
    assert p50 <= p95 <= p99 <= top

    argv = ["--topic", "slow", "--num-records", "100", "--latency", "end-to-end"]
    code, out, _ = perf(capsys, kafka_broker, "consume", *argv)
    assert code == 0
    match = SUMMARY_LINE.match(out.rstrip("\n"))
    assert match is not None, out
    assert match.group("records", "verb", "kind") == ("100", "received", "end-to-end")


def test_consume_times_out_short_of_the_count(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert perf(capsys, kafka_broker, "produce", "--topic", "few", "--num-records", "10")[0] == 0
    argv = [
        "--topic",
        "few",
        "--num-records",
        "20",
        "--timeout-ms",
        str(SHORT_TIMEOUT_MS),
        "--output",
        "json",
    ]
    code, out, err = perf(capsys, kafka_broker, "consume", *argv)
    assert code == 1
    assert json_summary(out)["records"] == 10
    assert err == (
        f"odradek: error: got 10 of 20 records: none for {SHORT_TIMEOUT_MS} ms (--timeout-ms)\n"
    )


def test_consume_of_an_empty_topic(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = perf(capsys, kafka_broker, "consume", "--topic", "empty", "--partitions", "2")
    assert (code, out) == (1, "")
    assert err == (
        "Created topic 'empty' with 2 partitions.\n"
        "odradek: error: topic 'empty' is empty: give --num-records and --from-latest to wait "
        "for new records\n"
    )


def test_unreachable_broker(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{unused_port()}"
    for command in ("produce", "consume"):
        started = time.monotonic()
        argv = [
            "perf",
            command,
            "--topic",
            "t",
            "--num-records",
            "10",
            "--bootstrap-server",
            address,
            "--timeout-ms",
            str(SHORT_TIMEOUT_MS),
        ]
        code, out, err = run(capsys, *argv)
        assert time.monotonic() - started < 10
        assert (code, out) == (1, "")
        assert err.startswith(
            f"odradek: error: cannot reach any broker at {address} "
            f"within {SHORT_TIMEOUT_MS} ms (--timeout-ms): "
        )


# -- usage and help --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["perf"], "the following arguments are required: COMMAND", 2),
        (
            ["perf", "produce", "--topic", "t"],
            "the following arguments are required: --num-records",
            2,
        ),
        (
            ["perf", "produce", "--num-records", "1"],
            "the following arguments are required: --topic",
            2,
        ),
        (
            ["perf", "produce", "--topic", "t", "--num-records", "1", "--throughput", "0"],
            "must be > 0 or -1",
            2,
        ),
        (
            ["perf", "produce", "--topic", "t", "--num-records", "1", "--record-size", "0"],
            "must be between 1 and",
            2,
        ),
        (
            ["perf", "produce", "--topic", "t", "--num-records", "1", "--acks", "2"],
            "invalid choice: '2'",
            2,
        ),
        (["perf", "consume", "--topic", "t", "--from-latest"], "needs --num-records", 2),
        (["perf", "consume", "--topic", "t", "--latency", "p99"], "invalid choice: 'p99'", 2),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str, code: int
) -> None:
    exit_code, out, err = run(capsys, *argv)
    assert (exit_code, out) == (code, "")
    assert "usage: odradek perf" in err
    assert message in err


def test_bad_client_config_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "perf",
        "produce",
        "--topic",
        "t",
        "--num-records",
        "1",
        "--config",
        "linger=5",
        "--bootstrap-server",
        f"127.0.0.1:{unused_port()}",
    ]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("odradek: error: argument --config: unknown producer config key 'linger'")


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["perf"], "odradek perf consume --topic perf"),
        (["perf", "produce"], "--throughput 5000 --acks 1"),
        (["perf", "consume"], "--from-latest --num-records 100000 --latency end-to-end"),
    ],
)
def test_help_exits_0_with_examples(
    capsys: pytest.CaptureFixture[str], argv: list[str], example: str
) -> None:
    code, out, err = run(capsys, *argv, "--help")
    assert (code, err) == (0, "")
    assert "examples:" in out
    assert example in out


# -- the meter and the progress line ---------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    ordered = array("d", [float(value) for value in range(1, 101)])
    assert [percentile(ordered, f) for f in (0.5, 0.95, 0.99, 1.0)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile(array("d"), 0.5) == 0.0
    assert percentile(array("d", [7.0]), 0.01) == 7.0


def test_meter_summary() -> None:
    meter = Meter(4, "send-to-delivery", now_s=10.0)
    for latency_ms in (4.0, 1.0, 3.0, 2.0):
        meter.add(1, 1024 * 1024, now_s=12.0)
        meter.observe(latency_ms)
    meter.errors = 1
    assert meter.summary() == Summary(
        records=4,
        bytes=4 * 1024 * 1024,
        errors=1,
        elapsed_s=2.0,
        records_per_s=2.0,
        mb_per_s=2.0,
        latency="send-to-delivery",
        latency_avg_ms=2.5,
        latency_p50_ms=2.0,
        latency_p95_ms=4.0,
        latency_p99_ms=4.0,
        latency_max_ms=4.0,
    )


def test_meter_samples_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("broker.cli_perf.MAX_LATENCY_SAMPLES", 10)
    meter = Meter(100, "fetch", now_s=0.0)
    for latency_ms in range(100):
        meter.observe(float(latency_ms))
    summary = meter.summary()
    assert summary.latency_max_ms == 99.0  # max and average see every observation
    assert summary.latency_avg_ms == 49.5
    assert summary.latency_p50_ms == 40.0  # the samples: every 10th


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_on_a_terminal() -> None:
    meter = Meter(100, "fetch", now_s=0.0)
    stream = Terminal()
    progress = Progress(meter, "sent", stream, interval_ms=None)
    assert progress.interval_s == 0.5
    meter.add(50, 50 * 1024 * 1024, now_s=0.5)
    meter.observe(3.0)
    progress.report(now_s=1.0)
    meter.add(25, 0, now_s=1.5)
    progress.report(now_s=2.0)
    progress.finish()
    assert stream.getvalue() == (
        "\r50/100 records sent, 50.0 records/s (50.00 MB/s), 3.0 ms avg latency, "
        "3.0 ms max latency"
        "\r75/100 records sent, 25.0 records/s (0.00 MB/s), 0.0 ms avg latency, "
        "0.0 ms max latency "  # padded over the longer line before
        "\n"
    )


def test_progress_prints_lines_elsewhere() -> None:
    meter = Meter(10, "fetch", now_s=0.0)
    stream = io.StringIO()
    progress = Progress(meter, "received", stream, interval_ms=None)
    assert progress.interval_s == 5.0
    meter.add(10, 0, now_s=1.0)
    progress.report(now_s=5.0)
    progress.finish()
    assert stream.getvalue() == (
        "10/10 records received, 2.0 records/s (0.00 MB/s), 0.0 ms avg latency, "
        "0.0 ms max latency\n"
    )
    assert Progress(meter, "sent", stream, interval_ms=250).interval_s == 0.25
