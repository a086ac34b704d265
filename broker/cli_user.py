"""`odradek user list|describe|set-scram|delete-scram`: SCRAM users (KIP-554).

What Kafka's ``kafka-configs --entity-type users --alter --add-config 'SCRAM-SHA-256=[...]'``
and ``--describe`` do, through :class:`client.admin.AdminClient` like the other commands.  The
password is salted here and never sent; read it from a file or stdin rather than the command
line (``--password-file -``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from broker.cli_topic import (
    CommandError,
    bounded_int,
    command_handler,
    connection_options_parser,
    output_options,
    print_table,
)
from client import sasl
from client.admin import AdminClient
from client.errors import KafkaError, ResourceNotFoundError
from client.scram_admin import ScramUpsertion

COLUMNS = {"USER": "user", "MECHANISM": "mechanism", "ITERATIONS": "iterations"}
USER_EXAMPLES = """\
examples:
  odradek user set-scram alice --mechanism SCRAM-SHA-256 --password-file alice.txt
  echo -n s3cret | odradek user set-scram bob --password-file -
  odradek user list
  odradek user describe alice bob --output json
  odradek user delete-scram alice --mechanism SCRAM-SHA-256

Brokers with a SASL_PLAINTEXT listener take these users for SCRAM logins at once.  Talk to a
SASL listener with --command-config (security.protocol, sasl.mechanism, credentials).
"""


def add_user_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``user`` and its commands to the ``odradek`` subcommands."""
    user = commands.add_parser(
        "user",
        help="create, list and delete SCRAM users (SASL/SCRAM logins)",
        description="Manage SCRAM credentials on any Kafka-protocol cluster (KIP-554).",
        epilog=USER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    user_commands = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()
    output = output_options()

    def add(name: str, summary: str, *parents: argparse.ArgumentParser) -> Any:
        return user_commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=USER_EXAMPLES,
            parents=[connection, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def mechanism_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--mechanism",
            choices=sasl.SCRAM_MECHANISMS,
            default=sasl.SCRAM_SHA_256,
            help="the SCRAM mechanism (default: %(default)s)",
        )

    listing = add("list", "list the users that have SCRAM credentials", output)
    listing.set_defaults(handler=command_handler(_describe), users=None)

    describe = add("describe", "show users' SCRAM mechanisms and iteration counts", output)
    describe.add_argument("users", metavar="USER", nargs="+", help="the users to describe")
    describe.set_defaults(handler=command_handler(_describe))

    upsert = add("set-scram", "create or replace a user's SCRAM credential")
    upsert.add_argument("user", metavar="USER")
    mechanism_option(upsert)
    upsert.add_argument(
        "--password-file",
        metavar="PATH",
        required=True,
        help="file holding the password (one line; '-' reads stdin)",
    )
    upsert.add_argument(
        "--iterations",
        type=bounded_int(sasl.SCRAM_MIN_ITERATIONS, sasl.SCRAM_MAX_ITERATIONS),
        default=sasl.SCRAM_MIN_ITERATIONS,
        help="PBKDF2 iterations, 4096-16384 (default: %(default)s)",
    )
    upsert.set_defaults(handler=command_handler(_upsert))

    delete = add("delete-scram", "delete a user's SCRAM credential")
    delete.add_argument("user", metavar="USER")
    mechanism_option(delete)
    delete.set_defaults(handler=command_handler(_delete))


def _read_password(path: str) -> str:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError([f"cannot read {path}: {error.strerror}"]) from None
    password = text.rstrip("\r\n")
    if not password:
        raise CommandError([f"{path}: the password is empty"])
    return password


def _report(results: dict[str, KafkaError | None], done: str) -> None:
    failures = [f"{user}: {error}" for user, error in results.items() if error is not None]
    if failures:
        raise CommandError(failures)
    print(done)


async def _upsert(admin: AdminClient, arguments: argparse.Namespace) -> None:
    password = _read_password(arguments.password_file)
    upsertion = ScramUpsertion(
        arguments.user, arguments.mechanism, password, iterations=arguments.iterations
    )
    results = await admin.alter_user_scram_credentials([upsertion])
    _report(results, f"Set the {arguments.mechanism} credential of user {arguments.user!r}.")


async def _delete(admin: AdminClient, arguments: argparse.Namespace) -> None:
    results = await admin.alter_user_scram_credentials(
        deletions=[(arguments.user, arguments.mechanism)]
    )
    _report(results, f"Deleted the {arguments.mechanism} credential of user {arguments.user!r}.")


async def _describe(admin: AdminClient, arguments: argparse.Namespace) -> None:
    try:
        described = await admin.describe_user_scram_credentials(arguments.users)
    except ResourceNotFoundError as error:
        raise CommandError([str(error)]) from None
    rows = [
        {"user": user, "mechanism": info.mechanism, "iterations": info.iterations}
        for user, infos in sorted(described.items())
        for info in infos
    ]
    if arguments.output == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        print_table(COLUMNS, rows)
    else:
        print("No user has SCRAM credentials.")
