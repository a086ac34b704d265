"""`odradek acl list|add|remove` (broker/cli_acl.py), in-process against real brokers.

The ACL broker has the StandardAuthorizer and the SASL users of tests/interop/test_sasl.py;
the commands log in as its super user ``admin`` with ``--command-config``, as an operator
would.  Usage errors are found before any connection (exit 2); refusals by the broker print
one clear line (exit 1); never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker import cli
from client.blocking import AclBindingFilter, AdminClient
from tests.interop.test_sasl import SASL_SETTINGS, keyword_sasl
from tests.support.ports import unused_port

AUTHORIZER_SETTINGS = {
    **SASL_SETTINGS,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": "User:admin",
}
ALICE_WRITES_T1 = (
    "User:alice has Allow permission for operations: Write from hosts: * on TOPIC:LITERAL:t1"
)
ALICE_DESCRIBES_T1 = (
    "User:alice has Allow permission for operations: Describe from hosts: * on TOPIC:LITERAL:t1"
)
BOB_DENIED_LOGS = (
    "User:bob has Deny permission for operations: All from hosts: 10.0.0.7 on TOPIC:PREFIXED:logs-"
)
BOB_DENIED_LOGS_TOO = (
    "User:bob has Deny permission for operations: All from hosts: 10.0.0.8 on TOPIC:PREFIXED:logs-"
)
ETL_READS_GROUP = (
    "User:etl has Allow permission for operations: Read from hosts: * on GROUP:LITERAL:etl"
)
OPS_ALTERS_CLUSTER = (
    "User:ops has Allow permission for operations: Alter from hosts: * on "
    "CLUSTER:LITERAL:kafka-cluster"
)
NO_AUTHORIZER = "the broker has no authorizer (authorizer.class.name)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``odradek acl *argv`` in-process: (exit code, stdout, stderr)."""
    code = cli.main(["acl", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def command_config(directory: Path, user: str) -> Path:
    path = directory / f"{user}.properties"
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        f"sasl.plain.username={user}\nsasl.plain.password={user}-secret\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def acl_bootstrap(kafka_broker_factory: Any) -> str:
    return str(kafka_broker_factory.start(AUTHORIZER_SETTINGS).bootstrap)


@pytest.fixture
def as_admin(acl_bootstrap: str, tmp_path: Path) -> list[str]:
    """The connection options of a super user."""
    return [
        "--bootstrap-server",
        acl_bootstrap,
        "--command-config",
        str(command_config(tmp_path, "admin")),
    ]


def test_add_list_and_remove(
    as_admin: list[str], acl_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "list", *as_admin) == (0, "No ACLs match.\n", "")
    adding = ["add", "--allow-principal", "User:alice", "--operation", "Write"]
    code, out, _ = run(capsys, *adding, "--operation", "describe", "--topic", "t1", *as_admin)
    assert code == 0
    assert out.splitlines() == [f"Added ACL: {ALICE_WRITES_T1}", f"Added ACL: {ALICE_DESCRIBES_T1}"]
    denying = ["add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.7"]
    prefixed = ["--topic", "logs-", "--resource-pattern-type", "prefixed"]
    code, out, _ = run(
        capsys, *denying, "--deny-host", "10.0.0.8", "--operation", "All", *prefixed, *as_admin
    )
    assert (code, out.splitlines()) == (
        0,
        [f"Added ACL: {BOB_DENIED_LOGS}", f"Added ACL: {BOB_DENIED_LOGS_TOO}"],
    )
    etl = ["add", "--allow-principal", "User:etl", "--operation", "Read", "--group", "etl"]
    assert run(capsys, *etl, *as_admin)[0] == 0
    ops = ["add", "--allow-principal", "User:ops", "--operation", "ALTER", "--cluster"]
    assert run(capsys, *ops, *as_admin)[0] == 0

    code, out, _ = run(capsys, "list", *as_admin)
    assert code == 0
    assert out.splitlines() == [
        BOB_DENIED_LOGS,
        BOB_DENIED_LOGS_TOO,
        ALICE_WRITES_T1,
        ALICE_DESCRIBES_T1,
        ETL_READS_GROUP,
        OPS_ALTERS_CLUSTER,
    ]
    # A resource: its literal bindings by default; match: every binding that applies to it.
    assert run(capsys, "list", "--topic", "logs-app", *as_admin)[1] == "No ACLs match.\n"
    matched = run(
        capsys, "list", "--topic", "logs-app", "--resource-pattern-type", "match", *as_admin
    )
    assert matched[1].splitlines() == [BOB_DENIED_LOGS, BOB_DENIED_LOGS_TOO]
    assert run(capsys, "list", "--cluster", *as_admin)[1] == f"{OPS_ALTERS_CLUSTER}\n"
    assert run(capsys, "list", "--group", "etl", *as_admin)[1] == f"{ETL_READS_GROUP}\n"
    code, out, _ = run(capsys, "list", "--principal", "User:alice", "--output", "json", *as_admin)
    assert code == 0
    assert json.loads(out) == [
        {
            "resource_type": "TOPIC",
            "resource_name": "t1",
            "pattern_type": "LITERAL",
            "principal": "User:alice",
            "host": "*",
            "operation": operation,
            "permission_type": "ALLOW",
        }
        for operation in ("WRITE", "DESCRIBE")
    ]
    prefixed_only = run(capsys, "list", "--resource-pattern-type", "prefixed", *as_admin)
    assert prefixed_only[1].splitlines() == [BOB_DENIED_LOGS, BOB_DENIED_LOGS_TOO]

    # remove: the bindings the options match; never a prompt (CI has no stdin).
    removing = [
        "remove",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Write",
        "--topic",
        "t1",
    ]
    assert run(capsys, *removing, *as_admin) == (0, f"Removed ACL: {ALICE_WRITES_T1}\n", "")
    assert run(capsys, *removing, *as_admin) == (0, "No ACLs match: none removed.\n", "")
    # One host of a principal's bindings.
    one_host = ["remove", "--deny-principal", "User:bob", "--deny-host", "10.0.0.8", *prefixed]
    assert run(capsys, *one_host, *as_admin)[1] == f"Removed ACL: {BOB_DENIED_LOGS_TOO}\n"
    # Without principals: every binding of the resource (with --force, as kafka-acls takes it).
    everything_on_t1 = run(capsys, "remove", "--topic", "t1", "--force", *as_admin)
    assert everything_on_t1 == (0, f"Removed ACL: {ALICE_DESCRIBES_T1}\n", "")
    by_operation = ["remove", "--group", "etl", "--operation", "Describe"]
    assert run(capsys, *by_operation, *as_admin)[1] == "No ACLs match: none removed.\n"
    assert run(capsys, "remove", "--group", "etl", "--operation", "read", *as_admin)[1] == (
        f"Removed ACL: {ETL_READS_GROUP}\n"
    )
    with AdminClient(**keyword_sasl(acl_bootstrap, "PLAIN", "admin", "admin-secret")) as admin:
        left = admin.describe_acls(AclBindingFilter.ANY)
    assert sorted(str(binding) for binding in left) == [
        "User:bob DENY ALL from host 10.0.0.7 on TOPIC:PREFIXED:logs-",
        "User:ops ALLOW ALTER from host * on CLUSTER:LITERAL:kafka-cluster",
    ]


def test_a_binding_the_broker_refuses(
    as_admin: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    adding = ["add", "--allow-principal", "User:alice", "--operation", "Read"]
    code, out, err = run(capsys, *adding, "--topic", "", *as_admin)
    assert (code, out) == (1, "")
    assert err.startswith("odradek: error: INVALID_REQUEST (42): cannot create ACL User:alice")
    assert "Resource name should not be empty" in err


A = "add --allow-principal User:a"
USAGE_ERRORS = [
    (f"{A} --operation Read", "one of the arguments --topic"),
    ("add --operation Read --topic t", "name who: --allow-principal or --deny-principal"),
    (f"{A} --topic t", "required: --operation"),
    ("add --allow-principal alice --operation Read --topic t", "a principal as TYPE:NAME"),
    (f"{A} --operation Reed --topic t", "unknown operation 'Reed' (choose from All, Read,"),
    (f"{A} --operation Any --topic t", "unknown operation 'Any'"),
    (f"{A} --operation Write --group g", "--operation Write: not an operation on GROUP"),
    (f"{A} --operation Read --cluster", "--operation Read: not an operation on CLUSTER"),
    (f"{A} --deny-host h --operation Read --topic t", "--deny-host needs --deny-principal"),
    (f"{A} --operation Read --topic t --group g", "not allowed with argument --topic"),
    (
        f"{A} --operation Read --topic t --resource-pattern-type match",
        "invalid choice 'match' (choose from literal, prefixed)",
    ),
    ("remove --allow-principal User:a", "one of the arguments --topic"),
    ("remove --allow-host h --topic t", "--allow-host needs --allow-principal"),
    ("list --principal nobody", "expected a principal as TYPE:NAME"),
    ("list --resource-pattern-type exact", "invalid choice 'exact'"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS)
def test_usage_errors_exit_2_before_connecting(
    argv: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens there: a command that tried to connect would fail on its timeout instead.
    nowhere = ["--bootstrap-server", f"127.0.0.1:{unused_port()}", "--timeout-ms", "200"]
    code, out, err = run(capsys, *argv.split(), *nowhere)
    assert (code, out) == (2, "")
    assert message in err
    assert "usage: odradek acl" in err


def test_an_ordinary_user_is_refused(
    acl_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_alice = [
        "--bootstrap-server",
        acl_bootstrap,
        "--command-config",
        str(command_config(tmp_path, "alice")),
    ]
    adding = ["add", "--allow-principal", "User:alice", "--operation", "All", "--topic", "t"]
    for argv, verb, needs in (
        (["list"], "list", "DESCRIBE"),
        (adding, "add", "ALTER"),
        (["remove", "--topic", "t"], "remove", "ALTER"),
    ):
        code, out, err = run(capsys, *argv, *as_alice)
        assert (code, out) == (1, "")
        assert err == (
            f"odradek: error: not authorized to {verb} ACLs: that needs {needs} on the cluster "
            "(CLUSTER_AUTHORIZATION_FAILED); log in as a super user with --command-config\n"
        )


def test_a_broker_without_an_authorizer(
    kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = ["--bootstrap-server", kafka_broker.bootstrap]
    adding = ["add", "--allow-principal", "User:a", "--operation", "Read", "--operation", "Write"]
    for argv, verb in (
        (["list"], "list"),
        ([*adding, "--topic", "t"], "add"),
        (["remove", "--topic", "t", "--force"], "remove"),
    ):
        code, out, err = run(capsys, *argv, *plain)
        assert (code, out) == (1, "")
        assert err == f"odradek: error: {NO_AUTHORIZER}: cannot {verb} ACLs\n"


def test_acl_is_an_odradek_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "acl" in capsys.readouterr().out
    for command in ("list", "add", "remove"):
        assert cli.main(["acl", command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--bootstrap-server" in out and "--command-config" in out
        assert "--resource-pattern-type" in out
