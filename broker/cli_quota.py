"""`odradek quota describe|set|delete`: client quotas (KIP-546).

What Kafka's ``kafka-configs --entity-type users|clients|ips --alter --add-config
'producer_byte_rate=1048576'`` and ``--describe`` do, through
:class:`client.admin.AdminClient` like the other commands.  An entity is any of ``--user``,
``--client-id`` (together: that user's client) or ``--ip``; ``--user-default`` and the like
name the default entity.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from broker.cli_topic import (
    CommandError,
    command_handler,
    connection_options_parser,
    output_options,
    print_table,
)
from client.admin import AdminClient
from client.errors import KafkaError
from client.quota_admin import (
    CLIENT_ID,
    IP,
    USER,
    ClientQuotaAlteration,
    QuotaFilterComponent,
)

COLUMNS = {"ENTITY": "entity", "QUOTA": "key", "VALUE": "value"}
QUOTA_EXAMPLES = """\
examples:
  odradek quota set --client-id billing producer_byte_rate=1048576 consumer_byte_rate=2097152
  odradek quota set --user alice --client-default request_percentage=50
  odradek quota set --ip-default connection_creation_rate=100
  odradek quota describe
  odradek quota describe --client-id billing --output json
  odradek quota delete --client-id billing producer_byte_rate

Keys: producer_byte_rate, consumer_byte_rate (bytes/s), request_percentage (% of one
thread), controller_mutation_rate (partitions/s) for users and client ids;
connection_creation_rate (connections/s) for ips.  Quotas hold per broker.
"""
_ENTITY_OPTIONS = ((USER, "user"), (CLIENT_ID, "client_id"), (IP, "ip"))


def add_quota_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``quota`` and its commands to the ``odradek`` subcommands."""
    quota = commands.add_parser(
        "quota",
        help="set, show and remove client quotas (byte rates, request time, connections)",
        description="Manage client quotas on any Kafka-protocol cluster (KIP-546).",
        epilog=QUOTA_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quota_commands = quota.add_subparsers(dest="quota_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()
    entity = argparse.ArgumentParser(add_help=False)
    for kind, dest in _ENTITY_OPTIONS:
        group = entity.add_mutually_exclusive_group()
        group.add_argument(f"--{kind}", dest=dest, metavar="NAME", help=f"the {kind} entity")
        group.add_argument(
            f"--{kind.split('-')[0]}-default",
            dest=f"{dest}_default",
            action="store_true",
            help=f"the default {kind} entity",
        )

    def add(name: str, summary: str, *parents: argparse.ArgumentParser) -> Any:
        return quota_commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=QUOTA_EXAMPLES,
            parents=[connection, entity, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    describe = add(
        "describe", "show the quotas of the entities named (none: all)", output_options()
    )
    describe.add_argument(
        "--strict",
        action="store_true",
        help="only entities with exactly the entity types named",
    )
    describe.set_defaults(handler=command_handler(_describe))

    setting = add("set", "set quota values of an entity")
    setting.add_argument("values", metavar="KEY=VALUE", nargs="+", help="quota values to set")
    setting.set_defaults(handler=command_handler(_set))

    delete = add("delete", "remove quota values of an entity")
    delete.add_argument("keys", metavar="KEY", nargs="+", help="quota keys to remove")
    delete.set_defaults(handler=command_handler(_delete))


def _entity(arguments: argparse.Namespace) -> dict[str, str | None]:
    entity: dict[str, str | None] = {}
    for kind, dest in _ENTITY_OPTIONS:
        if getattr(arguments, f"{dest}_default"):
            entity[kind] = None
        elif getattr(arguments, dest) is not None:
            entity[kind] = getattr(arguments, dest)
    return entity


def _required_entity(arguments: argparse.Namespace) -> dict[str, str | None]:
    entity = _entity(arguments)
    if not entity:
        raise CommandError(["name an entity: --user, --client-id or --ip (or their -default)"])
    return entity


def _text(entity: Any) -> str:
    return ", ".join(f"{kind}={'<default>' if name is None else name}" for kind, name in entity)


def _parse_values(values: list[str]) -> dict[str, float | None]:
    parsed: dict[str, float | None] = {}
    problems = []
    for item in values:
        key, sep, text = item.partition("=")
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not sep or not key or math.isnan(number):
            problems.append(f"{item!r}: expected KEY=NUMBER (e.g. producer_byte_rate=1048576)")
        else:
            parsed[key] = number
    if problems:
        raise CommandError(problems)
    return parsed


async def _alter(
    admin: AdminClient, entity: dict[str, str | None], ops: dict[str, float | None], done: str
) -> None:
    results = await admin.alter_client_quotas([ClientQuotaAlteration(entity, ops)])
    failures = [f"{_text(key)}: {error}" for key, error in results.items() if error is not None]
    if failures:
        raise CommandError(failures)
    print(done)


async def _set(admin: AdminClient, arguments: argparse.Namespace) -> None:
    entity = _required_entity(arguments)
    ops = _parse_values(arguments.values)
    await _alter(admin, entity, ops, f"Set {', '.join(ops)} of {_text(entity.items())}.")


async def _delete(admin: AdminClient, arguments: argparse.Namespace) -> None:
    entity = _required_entity(arguments)
    ops: dict[str, float | None] = dict.fromkeys(arguments.keys)
    await _alter(admin, entity, ops, f"Removed {', '.join(ops)} of {_text(entity.items())}.")


async def _describe(admin: AdminClient, arguments: argparse.Namespace) -> None:
    components = [
        QuotaFilterComponent.of_default_entity(kind)
        if name is None
        else QuotaFilterComponent.of_entity(kind, name)
        for kind, name in _entity(arguments).items()
    ]
    try:
        described = await admin.describe_client_quotas(components, strict=arguments.strict)
    except KafkaError as error:
        raise CommandError([str(error)]) from None
    rows = [
        {"entity": _text(entity), "key": key, "value": value}
        for entity, values in sorted(described.items(), key=lambda item: _text(item[0]))
        for key, value in sorted(values.items())
    ]
    if arguments.output == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        print_table(COLUMNS, [{**row, "value": f"{row['value']:g}"} for row in rows])
    else:
        print("No quotas match.")
