"""broker.cli_data: `odradek produce` and `odradek consume`, in-process against a real broker.

Each test calls ``cli.main(argv)`` with stdin monkeypatched and reads what it printed with
capsys; the broker is the ``kafka_broker`` fixture (a fresh one per test).  Every consume is
bounded by ``--max-messages`` or an idle ``--timeout-ms``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from broker import cli_data
from broker.testing import InProcessBroker
from tests.support.ports import unused_port
from tests.unit.test_cli_topic import run

SHORT_TIMEOUT_MS = 300
IDLE_TIMEOUT_MS = 500
# Waiting for records that exist takes well under this; it only bounds a broken test.
CONSUME_TIMEOUT_MS = 10_000


def feed(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Make ``data`` the process's stdin."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def create(capsys: pytest.CaptureFixture[str], broker: InProcessBroker, name: str, n: int) -> None:
    argv = ["topic", "create", name, "--partitions", str(n), "--bootstrap-server", broker.bootstrap]
    assert run(capsys, *argv)[0] == 0


def produce(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    broker: InProcessBroker,
    data: bytes,
    *argv: str,
) -> tuple[int, str, str]:
    feed(monkeypatch, data)
    return run(capsys, "produce", *argv, "--bootstrap-server", broker.bootstrap)


def consume(
    capsys: pytest.CaptureFixture[str], broker: InProcessBroker, *argv: str
) -> tuple[int, str, str]:
    bounded = [] if "--timeout-ms" in argv else ["--timeout-ms", str(CONSUME_TIMEOUT_MS)]
    return run(capsys, "consume", *argv, *bounded, "--bootstrap-server", broker.bootstrap)


# -- round trips -----------------------------------------------------------------------------


def test_keys_and_headers_round_trip_in_every_format(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create(capsys, kafka_broker, "events", 1)
    lines = b"user-1:clicked\nuser-2:left: early\r\nuser-3:\n"
    argv = ["events", "--key-separator", ":", "--header", "source=cli", "--header", "empty="]
    assert produce(capsys, monkeypatch, kafka_broker, lines, *argv) == (
        0,
        "",
        "Sent 3 records to 'events' (0 errors).\n",
    )
    read = ["events", "--from-beginning", "--max-messages", "3"]
    code, out, err = consume(capsys, kafka_broker, *read)
    assert (code, out, err) == (0, "clicked\nleft: early\n\n", "Processed a total of 3 messages.\n")
    code, out, _ = consume(capsys, kafka_broker, *read, "--format", "key-value")
    assert (code, out) == (0, "user-1\tclicked\nuser-2\tleft: early\nuser-3\t\n")
    _, out, _ = consume(
        capsys, kafka_broker, *read, "--format", "key-value", "--key-separator", "="
    )
    assert out.splitlines()[0] == "user-1=clicked"
    code, out, _ = consume(capsys, kafka_broker, *read, "--format", "json")
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [(o["partition"], o["offset"], o["key"], o["value"]) for o in objects] == [
        (0, 0, "user-1", "clicked"),
        (0, 1, "user-2", "left: early"),
        (0, 2, "user-3", ""),
    ]
    headers = [{"key": "source", "value": "cli"}, {"key": "empty", "value": ""}]
    now_ms = time.time() * 1000
    for record in objects:
        assert record["topic"] == "events"
        assert record["headers"] == headers
        assert now_ms - 60_000 < record["timestamp"] <= now_ms + 1000


def test_file_input_null_keys_acks_and_compression(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    create(capsys, kafka_broker, "logs", 1)
    path = tmp_path / "lines.txt"
    path.write_bytes(b"first\nsecond")  # no newline after the last line
    for acks, compression in (("1", "gzip"), ("0", "none"), ("all", "zstd")):
        argv = ["logs", "--file", str(path), "--acks", acks, "--compression", compression]
        assert produce(capsys, monkeypatch, kafka_broker, b"", *argv)[0] == 0
    code, out, _ = consume(
        capsys, kafka_broker, "logs", "--from-beginning", "--max-messages", "6", "--format", "json"
    )
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["value"] for o in objects] == ["first", "second"] * 3
    assert {o["key"] for o in objects} == {None}
    assert {json.dumps(o["headers"]) for o in objects} == {"[]"}


def test_binary_values_replace_or_base64(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create(capsys, kafka_broker, "raw", 1)
    assert (
        produce(capsys, monkeypatch, kafka_broker, b"k\xff|v\xfe\n", "raw", "--key-separator", "|")[
            0
        ]
        == 0
    )
    read = ["raw", "--from-beginning", "--max-messages", "1", "--format", "json"]
    record = json.loads(consume(capsys, kafka_broker, *read)[1])
    assert (record["key"], record["value"]) == ("k\ufffd", "v\ufffd")
    record = json.loads(consume(capsys, kafka_broker, *read, "--binary")[1])
    assert base64.b64decode(record["key"]) == b"k\xff"
    assert base64.b64decode(record["value"]) == b"v\xfe"
    out = consume(
        capsys, kafka_broker, "raw", "--from-beginning", "--max-messages", "1", "--binary"
    )[1]
    assert out == base64.b64encode(b"v\xfe").decode() + "\n"


# -- where and how much to read --------------------------------------------------------------


def test_partition_and_offset(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create(capsys, kafka_broker, "split", 2)
    assert (
        produce(capsys, monkeypatch, kafka_broker, b"a\nb\nc\n", "split", "--partition", "1")[0]
        == 0
    )
    assert produce(capsys, monkeypatch, kafka_broker, b"x\n", "split", "--partition", "0")[0] == 0
    code, out, _ = consume(
        capsys,
        kafka_broker,
        "split",
        "--partition",
        "1",
        "--offset",
        "1",
        "--max-messages",
        "2",
        "--format",
        "json",
    )
    assert code == 0
    assert [
        (json.loads(line)["partition"], json.loads(line)["offset"], json.loads(line)["value"])
        for line in out.splitlines()
    ] == [(1, 1, "b"), (1, 2, "c")]
    argv = ["split", "--partition", "0", "--from-beginning", "--max-messages", "1"]
    assert consume(capsys, kafka_broker, *argv)[:2] == (0, "x\n")
    _, out, _ = consume(capsys, kafka_broker, "split", "--from-beginning", "--max-messages", "4")
    assert sorted(out.splitlines()) == ["a", "b", "c", "x"]


def test_max_messages_stops_early(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create(capsys, kafka_broker, "many", 1)
    data = b"".join(b"%d\n" % number for number in range(1200))
    assert produce(capsys, monkeypatch, kafka_broker, data, "many")[2] == (
        "Sent 1200 records to 'many' (0 errors).\n"
    )
    for limit in (1, 2, 700):
        argv = ["many", "--from-beginning", "--max-messages", str(limit)]
        code, out, err = consume(capsys, kafka_broker, *argv)
        assert (code, out.splitlines()) == (0, [str(number) for number in range(limit)])
        assert err == f"Processed a total of {limit} messages.\n"


def test_idle_timeout_ends_consume(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create(capsys, kafka_broker, "quiet", 1)
    assert produce(capsys, monkeypatch, kafka_broker, b"one\ntwo\n", "quiet")[0] == 0
    argv = ["quiet", "--from-beginning", "--timeout-ms", str(IDLE_TIMEOUT_MS)]
    started = time.monotonic()
    assert consume(capsys, kafka_broker, *argv) == (
        0,
        "one\ntwo\n",
        "Processed a total of 2 messages.\n",
    )
    assert time.monotonic() - started >= IDLE_TIMEOUT_MS / 1000
    # Without --from-beginning only new records count: none come.
    argv = ["quiet", "--timeout-ms", str(IDLE_TIMEOUT_MS)]
    assert consume(capsys, kafka_broker, *argv) == (0, "", "Processed a total of 0 messages.\n")


def test_sigterm_stops_consume_with_a_summary(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No --timeout-ms: the consumer runs until a signal, sent when the first record renders."""
    create(capsys, kafka_broker, "endless", 1)
    assert produce(capsys, monkeypatch, kafka_broker, b"only\n", "endless")[0] == 0
    formatter = cli_data._formatter

    def signalling(arguments: Any) -> Any:
        render = formatter(arguments)

        def render_and_signal(record: Any) -> str:
            os.kill(os.getpid(), signal.SIGTERM)
            return render(record)

        return render_and_signal

    monkeypatch.setattr(cli_data, "_formatter", signalling)
    argv = ["consume", "endless", "--from-beginning", "--bootstrap-server", kafka_broker.bootstrap]
    assert run(capsys, *argv) == (0, "only\n", "Processed a total of 1 messages.\n")


# -- errors ----------------------------------------------------------------------------------


def test_lines_without_key_separator_fail(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create(capsys, kafka_broker, "keyed", 1)
    code, out, err = produce(
        capsys, monkeypatch, kafka_broker, b"k=v\nnokey\n", "keyed", "--key-separator", "="
    )
    assert (code, out) == (1, "")
    assert err == (
        "odradek: error: line 2: no key separator '='\nSent 1 records to 'keyed' (1 errors).\n"
    )


def test_unknown_topic_and_partition(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unknown = "odradek: error: unknown topic 'ghost' (create it with: odradek topic create ghost)\n"
    assert produce(capsys, monkeypatch, kafka_broker, b"x\n", "ghost") == (1, "", unknown)
    assert consume(capsys, kafka_broker, "ghost") == (1, "", unknown)
    create(capsys, kafka_broker, "small", 2)
    no_partition = "odradek: error: topic 'small' has no partition 2 (it has 2)\n"
    assert produce(capsys, monkeypatch, kafka_broker, b"x\n", "small", "--partition", "2") == (
        1,
        "",
        no_partition,
    )
    assert consume(capsys, kafka_broker, "small", "--partition", "2")[::2] == (1, no_partition)


def test_offset_beyond_the_log_is_an_error(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, kafka_broker, "short", 1)
    code, out, err = consume(capsys, kafka_broker, "short", "--partition", "0", "--offset", "5")
    assert (code, out) == (1, "")
    assert "OFFSET_OUT_OF_RANGE" in err or "out of range" in err
    assert "Traceback" not in err


def test_missing_input_file(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    create(capsys, kafka_broker, "files", 1)
    missing = tmp_path / "missing.txt"
    argv = [
        "produce",
        "files",
        "--file",
        str(missing),
        "--bootstrap-server",
        kafka_broker.bootstrap,
    ]
    assert run(capsys, *argv) == (
        1,
        "",
        f"odradek: error: cannot read {missing}: No such file or directory\n",
    )


@pytest.mark.parametrize("command", [["produce", "t"], ["consume", "t"]])
def test_unreachable_broker_names_address_and_timeout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    feed(monkeypatch, b"x\n")
    address = f"127.0.0.1:{unused_port()}"
    started = time.monotonic()
    code, out, err = run(
        capsys, *command, "--bootstrap-server", address, "--timeout-ms", str(SHORT_TIMEOUT_MS)
    )
    assert time.monotonic() - started < 10
    assert (code, out) == (1, "")
    assert err.startswith(
        f"odradek: error: cannot reach any broker at {address} "
        f"within {SHORT_TIMEOUT_MS} ms (--timeout-ms): "
    )
    assert err.count("\n") == 1


# -- usage and help --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["produce"], "the following arguments are required: TOPIC"),
        (["produce", "t", "--acks", "2"], "invalid choice: '2'"),
        (["produce", "t", "--compression", "brotli"], "invalid choice: 'brotli'"),
        (["produce", "t", "--header", "novalue"], "expected KEY=VALUE, got 'novalue'"),
        (["produce", "t", "--header", "=v"], "expected KEY=VALUE, got '=v'"),
        (["produce", "t", "--key-separator", ""], "the separator must not be empty"),
        (["produce", "t", "--partition", "-1"], "must be between 0 and"),
        (["consume"], "the following arguments are required: TOPIC"),
        (["consume", "t", "--offset", "3"], "argument --offset: needs --partition"),
        (
            ["consume", "t", "--offset", "3", "--partition", "0", "--from-beginning"],
            "not allowed with argument",
        ),
        (["consume", "t", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["consume", "t", "--max-messages", "0"], "must be between 1 and"),
        (["consume", "t", "--timeout-ms", "0"], "argument --timeout-ms: must be between"),
        (["consume", "t", "--group", "g", "--offset", "3"], "not with --partition or --offset"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert "usage: odradek" in err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["produce"], "odradek produce events --file lines.txt"),
        (["consume"], "odradek consume events --partition 0 --offset 42"),
        ([], "odradek consume orders --from-beginning"),
    ],
)
def test_help_exits_0_with_examples(
    capsys: pytest.CaptureFixture[str], argv: list[str], example: str
) -> None:
    code, out, err = run(capsys, *argv, "--help")
    assert (code, err) == (0, "")
    assert "examples:" in out
    assert example in out


def test_group_consume_resumes_from_committed_offsets(
    kafka_broker_factory: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = kafka_broker_factory.start(
        {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "3"}
    )
    create(capsys, broker, "grouped", 2)
    data = b"".join(b"%d\n" % number for number in range(10))
    produce(capsys, monkeypatch, broker, data, "grouped")
    first = consume(
        capsys, broker, "grouped", "--group", "g", "--from-beginning", "--max-messages", "6"
    )
    assert first[0] == 0 and len(first[1].splitlines()) == 6
    rest = consume(capsys, broker, "grouped", "--group", "g", "--timeout-ms", "1500")
    # The first run committed what it printed: the second prints exactly the other four.
    assert sorted(first[1].splitlines() + rest[1].splitlines(), key=int) == [
        str(number) for number in range(10)
    ]
    assert rest[2] == "Processed a total of 4 messages.\n"


def test_group_with_partition_is_a_usage_error(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = consume(capsys, kafka_broker, "t", "--group", "g", "--partition", "0")
    assert code == 2 and "--group" in err
