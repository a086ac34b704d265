"""broker.cli_group: `odradek group list|describe|delete`, in-process against a real broker.

The broker and its groups come from ``consumer_groups`` (tests/client/test_admin_groups.py):
``closed`` (kafka-python, committed partitions 0 and 1, left: Empty) and ``active`` (one
confluent-kafka member owning all three partitions, committed partition 2: Stable).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from broker import cli
from broker.testing import BrokerFactory
from tests.client.test_admin_groups import (
    ACTIVE_CLIENT_ID,
    RECORDS_PER_PARTITION,
    Groups,
    consumer_groups,
)

LIST_HEADER = "GROUP  STATE  PROTOCOL TYPE"
OFFSETS_HEADER = "TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID"
SHORT_TIMEOUT_MS = 300


@pytest.fixture
def groups(kafka_broker_factory: BrokerFactory) -> Iterator[Groups]:
    with consumer_groups(kafka_broker_factory) as made:
        yield made


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``odradek *argv`` in-process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def group(capsys: pytest.CaptureFixture[str], groups: Groups, *argv: str) -> tuple[int, str, str]:
    """``odradek group *argv --bootstrap-server <broker>``."""
    return run(capsys, "group", *argv, "--bootstrap-server", groups.bootstrap)


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells split on runs of spaces) of the table under ``header`` in ``text``."""
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if " ".join(line.split()) == " ".join(header.split())
    )
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return rows


def test_list_text_json_and_state_filter(
    groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = group(capsys, groups, "list")
    assert (code, err) == (0, "")
    assert sorted(table(out, LIST_HEADER)) == [
        [groups.active, "Stable", "consumer"],
        [groups.closed, "Empty", "consumer"],
    ]

    code, out, err = group(capsys, groups, "list", "--output", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == [
        {"group_id": groups.active, "state": "Stable", "protocol_type": "consumer"},
        {"group_id": groups.closed, "state": "Empty", "protocol_type": "consumer"},
    ]

    code, out, _ = group(capsys, groups, "list", "--state", "Empty", "--output", "json")
    assert (code, [row["group_id"] for row in json.loads(out)]) == (0, [groups.closed])


def test_describe_active_and_closed_groups(
    groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = group(capsys, groups, "describe", groups.active, groups.closed)
    assert (code, err) == (0, "")
    active, closed = out.split("\n\nGroup: ")
    assert active.startswith(
        f"Group: {groups.active}  State: Stable  ProtocolType: consumer  Protocol: "
    )
    ((member_id, client_id, _host, assignment),) = table(
        active, "MEMBER-ID  CLIENT-ID  HOST  ASSIGNMENT"
    )
    assert (client_id, assignment) == (ACTIVE_CLIENT_ID, f"{groups.topic}(0,1,2)")
    hw = str(RECORDS_PER_PARTITION)
    assert table(active, OFFSETS_HEADER) == [
        [groups.topic, "0", "-", hw, "-", member_id],
        [groups.topic, "1", "-", hw, "-", member_id],
        [groups.topic, "2", "5", hw, "5", member_id],
    ]

    assert closed.startswith(f"{groups.closed}  State: Empty  ProtocolType: consumer")
    assert f"Group {groups.closed!r} has no active members." in closed
    assert table(closed, OFFSETS_HEADER) == [
        [groups.topic, "0", "4", hw, "6", "-"],
        [groups.topic, "1", "7", hw, "3", "-"],
    ]


def test_describe_json(groups: Groups, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = group(capsys, groups, "describe", groups.active, "--output", "json")
    assert (code, err) == (0, "")
    (described,) = json.loads(out)
    assert (described["group_id"], described["state"]) == (groups.active, "Stable")
    (member,) = described["members"]
    assert member["client_id"] == ACTIVE_CLIENT_ID
    assert member["assignment"] == [{"topic": groups.topic, "partition": p} for p in range(3)]
    assert [
        (p["partition"], p["current_offset"], p["log_end_offset"], p["lag"], p["consumer_id"])
        for p in described["partitions"]
    ] == [
        (0, None, RECORDS_PER_PARTITION, None, member["member_id"]),
        (1, None, RECORDS_PER_PARTITION, None, member["member_id"]),
        (2, 5, RECORDS_PER_PARTITION, 5, member["member_id"]),
    ]


def test_describe_unknown_group_is_named(
    groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = group(capsys, groups, "describe", "ghost")
    assert (code, out, err) == (1, "", "odradek: error: group 'ghost' not found\n")

    # The known group is still described; the unknown one fails the command.
    code, out, err = group(capsys, groups, "describe", "ghost", groups.closed)
    assert code == 1
    assert out.startswith(f"Group: {groups.closed}  State: Empty")
    assert err == "odradek: error: group 'ghost' not found\n"


def test_delete(groups: Groups, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = group(capsys, groups, "delete", groups.active, groups.closed, "ghost")
    assert code == 1
    assert out == f"Deleted group {groups.closed!r}.\n"
    assert err.splitlines() == [
        f"odradek: error: group {groups.active!r} is not empty (stop its members first)",
        "odradek: error: group 'ghost' not found",
    ]
    code, out, _ = group(capsys, groups, "list", "--output", "json")
    assert (code, [row["group_id"] for row in json.loads(out)]) == (0, [groups.active])
    code, _, err = group(capsys, groups, "describe", groups.closed)
    assert (code, err) == (1, f"odradek: error: group {groups.closed!r} not found\n")


def test_delete_offsets(groups: Groups, capsys: pytest.CaptureFixture[str]) -> None:
    topic = groups.topic
    code, out, err = group(capsys, groups, "delete-offsets", groups.closed, "--topic", f"{topic}:1")
    assert (code, out, err) == (
        0,
        f"Deleted the offset of {topic}-1 in group {groups.closed!r}.\n",
        "",
    )
    code, out, err = group(capsys, groups, "delete-offsets", groups.active, "--topic", topic)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"odradek: error: {topic}-{partition}: group {groups.active!r} has members subscribed "
        f"to {topic!r} (stop them first)"
        for partition in range(3)
    ]
    code, out, err = group(capsys, groups, "delete-offsets", "ghost", "--topic", f"{topic}:0")
    assert (code, out, err) == (1, "", "odradek: error: group 'ghost' not found\n")
    code, out, _ = group(capsys, groups, "describe", groups.closed, "--output", "json")
    (described,) = json.loads(out)
    assert [(p["partition"], p["current_offset"]) for p in described["partitions"]] == [(0, 4)]


def test_unreachable_cluster_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    argv = ["group", "list", "--bootstrap-server", address, "--timeout-ms", str(SHORT_TIMEOUT_MS)]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(f"odradek: error: cannot reach any broker at {address}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["group"], "the following arguments are required: COMMAND"),
        (["group", "describe"], "the following arguments are required: GROUP"),
        (["group", "delete"], "the following arguments are required: GROUP"),
        (["group", "list", "--output", "yaml"], "invalid choice: 'yaml'"),
        (["group", "delete", "g", "--output", "json"], "unrecognized arguments: --output"),
        (["group", "delete-offsets", "g"], "the following arguments are required: --topic"),
        (["group", "delete-offsets", "g", "--topic", "t:x"], "partitions must be comma-separated"),
        (["group", "delete-offsets", "g", "--topic", ":1"], "no topic in ':1'"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert "usage: odradek" in err
    assert message in err


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        ([], "odradek group describe billing"),
        (["group"], "odradek group list"),
        (["group", "list"], "odradek group list --state Stable"),
        (["group", "describe"], "odradek group describe billing audit --output json"),
        (["group", "delete"], "odradek group delete billing"),
        (["group", "delete-offsets"], "odradek group delete-offsets billing --topic orders"),
    ],
)
def test_help_exits_0_with_examples(
    capsys: pytest.CaptureFixture[str], argv: list[str], example: str
) -> None:
    code, out, err = run(capsys, *argv, "--help")
    assert (code, err) == (0, "")
    assert "examples:" in out
    assert example in out
