"""`odradek features describe|upgrade|downgrade|disable`: feature levels (KIP-584).

What Kafka's ``kafka-features --bootstrap-server ... describe`` and ``upgrade --metadata 3.9``
/ ``upgrade --feature group.version=1`` / ``downgrade --feature ...`` / ``disable --feature``
do, through :class:`client.admin.AdminClient` like the other commands.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from broker.cli_topic import (
    CommandError,
    command_handler,
    connection_options_parser,
    output_options,
    print_table,
)
from broker.core.features import METADATA_VERSION, METADATA_VERSION_NAMES
from client.admin import AdminClient
from client.errors import KafkaError
from client.feature_admin import UpgradeType

COLUMNS = {
    "FEATURE": "feature",
    "SUPPORTED-MIN": "supported_min",
    "SUPPORTED-MAX": "supported_max",
    "FINALIZED": "finalized",
    "EPOCH": "epoch",
}
FEATURES_EXAMPLES = """\
examples:
  odradek features describe
  odradek features upgrade --metadata 3.9-IV0
  odradek features upgrade --feature group.version=1
  odradek features downgrade --metadata 3.7-IV2      # refused if metadata could be lost
  odradek features disable --feature group.version   # KIP-848 consumer groups off
  odradek features upgrade --feature group.version=1 --dry-run

metadata.version is given as a release (3.3-IV3 ... 3.9-IV0) or as its level (7 ... 21).
"""
_LEVELS_BY_NAME = {name: level for level, name in METADATA_VERSION_NAMES.items()}


def add_features_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``features`` and its commands to the ``odradek`` subcommands."""
    features = commands.add_parser(
        "features",
        help="show and change the cluster's finalized feature levels",
        description="Manage feature levels on any Kafka-protocol cluster (KIP-584).",
        epilog=FEATURES_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = features.add_subparsers(dest="features_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()

    def add(name: str, summary: str, *parents: argparse.ArgumentParser) -> Any:
        return subcommands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=FEATURES_EXAMPLES,
            parents=[connection, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    describe = add("describe", "show supported and finalized feature levels", output_options())
    describe.set_defaults(handler=command_handler(_describe))
    for name, summary, upgrade_type in (
        ("upgrade", "raise feature levels", UpgradeType.UPGRADE),
        ("downgrade", "lower feature levels", UpgradeType.SAFE_DOWNGRADE),
    ):
        command = add(name, summary)
        command.add_argument("--metadata", metavar="VERSION", help="metadata.version to set")
        command.add_argument(
            "--feature", action="append", default=[], metavar="NAME=LEVEL", help="repeatable"
        )
        if upgrade_type == UpgradeType.SAFE_DOWNGRADE:
            command.add_argument(
                "--unsafe", action="store_true", help="allow a downgrade that may lose metadata"
            )
        command.add_argument("--dry-run", action="store_true", help="check, change nothing")
        command.set_defaults(handler=command_handler(_update), upgrade_type=upgrade_type)
    disable = add("disable", "take features back to level 0")
    disable.add_argument("--feature", action="append", required=True, metavar="NAME")
    disable.add_argument("--dry-run", action="store_true", help="check, change nothing")
    disable.set_defaults(handler=command_handler(_update), upgrade_type=UpgradeType.SAFE_DOWNGRADE)


def _level_name(feature: str, level: int) -> str:
    if feature == METADATA_VERSION and level in METADATA_VERSION_NAMES:
        return METADATA_VERSION_NAMES[level]
    return str(level)


def _metadata_level(value: str) -> int:
    if value in _LEVELS_BY_NAME:
        return _LEVELS_BY_NAME[value]
    matches = [level for name, level in _LEVELS_BY_NAME.items() if name.startswith(value + "-")]
    if matches:
        return max(matches)  # "3.9" is its last internal version, as kafka-features reads it
    if value.isdigit():
        return int(value)
    known = ", ".join(METADATA_VERSION_NAMES.values())
    raise CommandError([f"--metadata {value!r}: not a metadata.version ({known}, or a level)"])


def _levels(arguments: argparse.Namespace) -> dict[str, int]:
    levels: dict[str, int] = {}
    problems = []
    if arguments.features_command == "disable":
        return dict.fromkeys(arguments.feature, 0)
    if arguments.metadata is not None:
        levels[METADATA_VERSION] = _metadata_level(arguments.metadata)
    for item in arguments.feature:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            problems.append(f"--feature {item!r}: expected NAME=LEVEL (e.g. group.version=1)")
        else:
            levels[name.strip()] = int(value)
    if problems:
        raise CommandError(problems)
    if not levels:
        raise CommandError(["name at least one --feature NAME=LEVEL or --metadata VERSION"])
    return levels


async def _update(admin: AdminClient, arguments: argparse.Namespace) -> None:
    levels = _levels(arguments)
    upgrade_type = arguments.upgrade_type
    if getattr(arguments, "unsafe", False):
        upgrade_type = UpgradeType.UNSAFE_DOWNGRADE
    try:
        await admin.update_features(
            levels, upgrade_type=upgrade_type, validate_only=arguments.dry_run
        )
    except KafkaError as error:
        raise CommandError([str(error)]) from None
    verb = "Valid" if arguments.dry_run else "Done"
    changes = ", ".join(f"{name}={_level_name(name, level)}" for name, level in levels.items())
    print(f"{verb}: {arguments.features_command} {changes}.")


async def _describe(admin: AdminClient, arguments: argparse.Namespace) -> None:
    try:
        described = await admin.describe_features()
    except KafkaError as error:
        raise CommandError([str(error)]) from None
    rows = []
    for name in sorted(set(described.supported) | set(described.finalized)):
        low, high = described.supported.get(name, (0, 0))
        level = described.finalized.get(name, 0)
        rows.append(
            {
                "feature": name,
                "supported_min": _level_name(name, low),
                "supported_max": _level_name(name, high),
                "finalized": _level_name(name, level),
                "epoch": described.finalized_epoch,
            }
        )
    if arguments.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        print_table(COLUMNS, rows)
