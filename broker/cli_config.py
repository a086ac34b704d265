"""`odradek config describe|set|delete`: dynamic broker configs (KIP-226), group configs
(KIP-848) and broker loggers (KIP-412).

What Kafka's ``kafka-configs --entity-type brokers (--entity-name N | --entity-default)
--alter --add-config 'log.retention.ms=86400000'`` and ``--describe`` do (and
``--entity-type groups`` / ``broker-loggers``), through :class:`client.admin.AdminClient`
like the other commands.  ``--broker N`` names one broker (the request goes to it),
``--broker-default`` the cluster-wide default, ``--group G`` a consumer group's configs,
``--broker-logger N`` broker N's log levels.  Topic configs are `odradek topic alter`'s.
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
from client.admin import AdminClient, ConfigResource, ConfigResourceType, ConfigSource
from client.errors import KafkaError

COLUMNS = {"CONFIG": "name", "VALUE": "value", "SOURCE": "source"}
CONFIG_EXAMPLES = """\
examples:
  odradek config set --broker-default log.retention.ms=86400000 min.insync.replicas=2
  odradek config set --broker 1 log.segment.bytes=536870912
  odradek config describe --broker-default
  odradek config describe --broker 1            # its dynamic configs; --all for every key
  odradek config delete --broker 1 log.segment.bytes
  odradek config set --group orders consumer.session.timeout.ms=50000
  odradek config set --broker-logger 1 odradek.broker=DEBUG

Dynamic keys: the broker defaults of topic configs (log.retention.ms, log.retention.bytes,
log.segment.bytes, log.roll.ms, log.cleanup.policy, log.cleaner.*, message.max.bytes,
min.insync.replicas, compression.type, unclean.leader.election.enable, ...).  A topic's own
config still wins; then the broker's, then the cluster default, then the properties file.
Group keys: consumer.session.timeout.ms, consumer.heartbeat.interval.ms.  Broker loggers:
logger=LEVEL (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF), deleted back to the parent's.
"""
_DYNAMIC = (
    ConfigSource.DYNAMIC_BROKER_CONFIG,
    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    ConfigSource.GROUP_CONFIG,
    ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG,
)


def add_config_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config`` and its commands to the ``odradek`` subcommands."""
    config = commands.add_parser(
        "config",
        help="set, show and remove dynamic configs of brokers, groups and broker loggers",
        description="Manage dynamic configs on any Kafka-protocol cluster.",
        epilog=CONFIG_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()
    entity = argparse.ArgumentParser(add_help=False)
    group = entity.add_mutually_exclusive_group(required=True)
    group.add_argument("--broker", type=int, metavar="ID", help="this broker's configs")
    group.add_argument(
        "--broker-default", action="store_true", help="the cluster-wide default configs"
    )
    group.add_argument("--group", metavar="GROUP", help="this consumer group's configs")
    group.add_argument("--broker-logger", type=int, metavar="ID", help="this broker's loggers")

    def add(name: str, summary: str, *parents: argparse.ArgumentParser) -> Any:
        return config_commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=CONFIG_EXAMPLES,
            parents=[connection, entity, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    describe = add("describe", "show dynamic broker configs", output_options())
    describe.add_argument(
        "--all", action="store_true", help="every key of the broker, not only dynamic ones"
    )
    describe.set_defaults(handler=command_handler(_describe))

    setting = add("set", "set dynamic broker configs")
    setting.add_argument("values", metavar="KEY=VALUE", nargs="+", help="configs to set")
    setting.add_argument(
        "--validate-only", action="store_true", help="check the change, apply nothing"
    )
    setting.set_defaults(handler=command_handler(_set))

    delete = add("delete", "remove dynamic broker configs (the next layer applies again)")
    delete.add_argument("keys", metavar="KEY", nargs="+", help="configs to remove")
    delete.set_defaults(handler=command_handler(_delete))


def _target(arguments: argparse.Namespace) -> tuple[ConfigResource, str]:
    if arguments.group is not None:
        return ConfigResource(ConfigResourceType.GROUP, arguments.group), (
            f"group {arguments.group!r}"
        )
    if arguments.broker_logger is not None:
        name = str(arguments.broker_logger)
        return ConfigResource(ConfigResourceType.BROKER_LOGGER, name), f"broker {name}'s loggers"
    if arguments.broker_default:
        return ConfigResource(ConfigResourceType.BROKER, ""), "the cluster default"
    name = str(arguments.broker)
    return ConfigResource(ConfigResourceType.BROKER, name), f"broker {name}"


def _parse_values(values: list[str]) -> dict[str, str | None]:
    parsed: dict[str, str | None] = {}
    problems = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"{item!r}: expected KEY=VALUE (e.g. log.retention.ms=86400000)")
        else:
            parsed[key.strip()] = value
    if problems:
        raise CommandError(problems)
    return parsed


async def _alter(
    admin: AdminClient,
    arguments: argparse.Namespace,
    changes: dict[str, str | None],
    validate_only: bool = False,
) -> str:
    resource, name = _target(arguments)
    try:
        await admin.alter_configs(resource, changes, validate_only=validate_only)
    except KafkaError as error:
        raise CommandError([f"{name}: {error}"]) from None
    return name


async def _set(admin: AdminClient, arguments: argparse.Namespace) -> None:
    changes = _parse_values(arguments.values)
    name = await _alter(admin, arguments, changes, arguments.validate_only)
    verb = "Valid" if arguments.validate_only else "Set"
    print(f"{verb}: {', '.join(changes)} of {name}.")


async def _delete(admin: AdminClient, arguments: argparse.Namespace) -> None:
    changes: dict[str, str | None] = dict.fromkeys(arguments.keys)
    name = await _alter(admin, arguments, changes)
    print(f"Removed {', '.join(changes)} of {name}.")


async def _describe(admin: AdminClient, arguments: argparse.Namespace) -> None:
    resource, name = _target(arguments)
    try:
        described = (await admin.describe_configs([resource]))[resource]
    except KafkaError as error:
        raise CommandError([f"{name}: {error}"]) from None
    rows = [
        {"name": entry.name, "value": entry.value, "source": entry.source.name}
        for entry in sorted(described.values(), key=lambda entry: entry.name)
        if arguments.all or entry.source in _DYNAMIC
    ]
    if arguments.output == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        print_table(COLUMNS, [{**row, "value": row["value"] or ""} for row in rows])
    else:
        print(f"No dynamic configs for {name}.")
