"""broker.cli_topic: `odradek topic create|list|describe|delete`, in-process against a real broker.

Each test calls ``cli.main(argv)`` and reads what it printed with capsys; the broker is the
``kafka_broker`` fixture (a fresh one per test, so fixed topic names cannot collide).
"""

from __future__ import annotations

import json
import socket
from typing import Any

import anyio
import pytest

from broker import cli
from broker.testing import InProcessBroker
from client.admin import AdminClient
from client.protocol import records
from client.protocol.errors import ErrorCode
from tests.support.ports import unused_port

PRODUCE = 0
PARTITION_HEADER = "PARTITION  LEADER  REPLICAS  ISR  LOG START OFFSET  HIGH WATERMARK"
LIST_HEADER = "TOPIC  PARTITIONS  REPLICATION FACTOR"
SHORT_TIMEOUT_MS = 300


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``odradek *argv`` in-process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def topic(
    capsys: pytest.CaptureFixture[str], broker: InProcessBroker, *argv: str
) -> tuple[int, str, str]:
    """``odradek topic *argv --bootstrap-server <broker>``."""
    return run(capsys, "topic", *argv, "--bootstrap-server", broker.bootstrap)


def produce(bootstrap: str, name: str, partition: int, count: int) -> None:
    """Append ``count`` records to one partition (acks=all), as a raw Produce request."""

    async def send() -> None:
        async with AdminClient({"bootstrap.servers": bootstrap}) as admin:
            connection = await admin.cluster.leader_connection(name, partition)
            batch = records.build_batch([b"value"] * count)
            body: dict[str, Any] = {
                "transactional_id": None,
                "acks": -1,
                "timeout_ms": 10_000,
                "topic_data": [
                    {"name": name, "partition_data": [{"index": partition, "records": batch}]}
                ],
            }
            response = await connection.send(PRODUCE, body)
            answer = response.responses[0].partition_responses[0]
            assert answer.error_code == ErrorCode.NONE

    anyio.run(send)


# -- the round trip --------------------------------------------------------------------------


def test_create_list_describe_delete(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    created = topic(
        capsys,
        kafka_broker,
        "create",
        "orders",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=3600000",
        "--config",
        "cleanup.policy=compact",
    )
    assert created == (0, "Created topic 'orders'.\n", "")
    assert topic(capsys, kafka_broker, "create", "ab") == (0, "Created topic 'ab'.\n", "")

    code, out, err = topic(capsys, kafka_broker, "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "TOPIC   PARTITIONS  REPLICATION FACTOR",
        "ab      1           1",
        "orders  3           1",
    ]

    code, out, err = topic(capsys, kafka_broker, "describe", "orders")
    assert (code, err) == (0, "")
    first, header, *rows = out.splitlines()
    assert first.startswith("Topic: orders  TopicId: ")
    assert "PartitionCount: 3  ReplicationFactor: 1" in first
    assert first.endswith("Configs: cleanup.policy=compact,retention.ms=3600000")
    assert header == PARTITION_HEADER
    leader = kafka_broker.config.node_id
    assert [row.split() for row in rows] == [
        [str(partition), str(leader), str(leader), str(leader), "0", "0"] for partition in range(3)
    ]

    code, out, err = topic(capsys, kafka_broker, "delete", "orders", "ab")
    assert (code, out, err) == (0, "Deleted topic 'orders'.\nDeleted topic 'ab'.\n", "")
    assert topic(capsys, kafka_broker, "list") == (0, LIST_HEADER + "\n", "")
    assert topic(capsys, kafka_broker, "describe", "orders") == (
        1,
        "",
        "odradek: error: unknown topic 'orders'\n",
    )


def test_describe_shows_high_watermark_and_default_configs(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert topic(capsys, kafka_broker, "create", "events", "--partitions", "2")[0] == 0
    produce(kafka_broker.bootstrap, "events", 1, count=5)

    code, out, err = topic(capsys, kafka_broker, "describe")
    assert (code, err) == (0, "")
    first, header, zero, one = out.splitlines()
    assert first.endswith("Configs: (all defaults)")
    assert header == PARTITION_HEADER
    assert zero.split()[-2:] == ["0", "0"]
    assert one.split()[-2:] == ["0", "5"]
    # Columns line up under their headers.
    assert one.rindex("5") == header.index("HIGH WATERMARK")


def test_json_output(kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]) -> None:
    assert topic(capsys, kafka_broker, "list", "--output", "json") == (0, "[]\n", "")
    argv = ["create", "logs", "--partitions", "2", "--config", "retention.bytes=1048576"]
    assert topic(capsys, kafka_broker, *argv)[0] == 0
    produce(kafka_broker.bootstrap, "logs", 0, count=3)

    code, out, err = topic(capsys, kafka_broker, "list", "--output", "json")
    assert (code, err) == (0, "")
    expected = {"name": "logs", "partitions": 2, "replication_factor": 1, "internal": False}
    assert json.loads(out) == [expected]

    code, out, err = topic(capsys, kafka_broker, "describe", "logs", "--output", "json")
    assert (code, err) == (0, "")
    (described,) = json.loads(out)
    assert described["name"] == "logs" and described["topic_id"]
    assert described["configs"] == {"retention.bytes": "1048576"}
    node = kafka_broker.config.node_id
    assert [
        (p["partition"], p["leader"], p["replicas"], p["isr"], p["log_start_offset"])
        for p in described["partitions"]
    ] == [(0, node, [node], [node], 0), (1, node, [node], [node], 0)]
    assert [p["high_watermark"] for p in described["partitions"]] == [3, 0]


def test_bootstrap_server_takes_a_comma_list(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = f"127.0.0.1:{unused_port()},{kafka_broker.bootstrap}"
    code, out, err = run(capsys, "topic", "list", "--bootstrap-server", servers)
    assert (code, out, err) == (0, LIST_HEADER + "\n", "")


# -- errors from the cluster -----------------------------------------------------------------


def test_create_existing_topic(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert topic(capsys, kafka_broker, "create", "twice")[0] == 0
    assert topic(capsys, kafka_broker, "create", "twice") == (
        1,
        "",
        "odradek: error: topic 'twice' already exists\n",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bad name!"], "odradek: error: invalid topic name 'bad name!': "),
        (
            ["wide", "--replication-factor", "3"],
            "odradek: error: topic 'wide': INVALID_REPLICATION_FACTOR (38): ",
        ),
        (
            ["odd", "--config", "no.such.key=1"],
            "odradek: error: topic 'odd': INVALID_CONFIG (40): unknown topic config key",
        ),
        (
            ["odd", "--config", "retention.ms=soon"],
            "odradek: error: topic 'odd': INVALID_CONFIG (40): invalid value 'soon'",
        ),
    ],
)
def test_create_rejected_by_the_broker(
    kafka_broker: InProcessBroker,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code, out, err = topic(capsys, kafka_broker, "create", *argv)
    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert topic(capsys, kafka_broker, "list") == (0, LIST_HEADER + "\n", "")


def test_unknown_topics_are_each_named(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert topic(capsys, kafka_broker, "create", "real")[0] == 0
    assert topic(capsys, kafka_broker, "describe", "real", "ghost", "phantom") == (
        1,
        "",
        "odradek: error: unknown topic 'ghost'\nodradek: error: unknown topic 'phantom'\n",
    )
    assert topic(capsys, kafka_broker, "delete", "ghost", "real") == (
        1,
        "Deleted topic 'real'.\n",
        "odradek: error: unknown topic 'ghost'\n",
    )


def test_unreachable_broker_names_address_and_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"127.0.0.1:{unused_port()}"
    argv = ["--bootstrap-server", address, "--timeout-ms", str(SHORT_TIMEOUT_MS)]
    for command in (["list"], ["create", "x"], ["describe", "x"], ["delete", "x"]):
        code, out, err = run(capsys, "topic", *command, *argv)
        assert (code, out) == (1, "")
        assert err.startswith(
            f"odradek: error: cannot reach any broker at {address} "
            f"within {SHORT_TIMEOUT_MS} ms (--timeout-ms): "
        )
        assert err.count("\n") == 1
        assert "Traceback" not in err


def test_silent_broker_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    """A listener that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        argv = ["--bootstrap-server", address, "--timeout-ms", str(SHORT_TIMEOUT_MS)]
        code, out, err = run(capsys, "topic", "list", *argv)
    assert (code, out) == (1, "")
    assert err.startswith(
        f"odradek: error: cannot reach any broker at {address} within {SHORT_TIMEOUT_MS} ms"
    )
    assert err.count("\n") == 1


# -- usage and help --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["topic"], "the following arguments are required: COMMAND"),
        (["topic", "rename"], "invalid choice: 'rename'"),
        (["topic", "create"], "the following arguments are required: NAME"),
        (["topic", "delete"], "the following arguments are required: NAME"),
        (["topic", "create", "x", "--partitions", "0"], "argument --partitions: must be between"),
        (["topic", "create", "x", "--partitions", "many"], "expected an integer, got 'many'"),
        (["topic", "create", "x", "--replication-factor", "40000"], "must be between 1 and 32767"),
        (["topic", "create", "x", "--config", "retention.ms"], "expected KEY=VALUE"),
        (["topic", "create", "x", "--config", "=1"], "expected KEY=VALUE"),
        (
            ["topic", "create", "x", "--config", "a=1", "--config", "a=2"],
            "a given twice ('1' and '2')",
        ),
        (["topic", "list", "--output", "yaml"], "invalid choice: 'yaml'"),
        (["topic", "list", "--timeout-ms", "0"], "argument --timeout-ms: must be between"),
        (["topic", "list", "--bootstrap-server", "host:99999"], "port must be 1-65535"),
        (["topic", "list", "--bootstrap-server", ","], "expected host:port"),
        (["topic", "delete", "x", "--output", "json"], "unrecognized arguments: --output"),
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


def test_repeating_a_config_with_the_same_value_is_allowed(
    kafka_broker: InProcessBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create", "same", "--config", "retention.ms=1000", "--config", "retention.ms=1000"]
    assert topic(capsys, kafka_broker, *argv) == (0, "Created topic 'same'.\n", "")


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        ([], "odradek topic create orders"),
        (["topic"], "odradek topic list"),
        (["topic", "create"], "--config retention.ms=604800000"),
        (["topic", "list"], "odradek topic list --output json"),
        (["topic", "describe"], "odradek topic describe orders"),
        (["topic", "delete"], "odradek topic delete orders"),
        (["broker"], "odradek broker start"),
        (["broker", "start"], "odradek broker start --config"),
    ],
)
def test_help_exits_0_with_examples(
    capsys: pytest.CaptureFixture[str], argv: list[str], example: str
) -> None:
    code, out, err = run(capsys, *argv, "--help")
    assert (code, err) == (0, "")
    assert "examples:" in out
    assert example in out
