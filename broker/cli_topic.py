"""`odradek topic create|list|describe|alter|delete`: topic administration over the client's
AdminClient.

Every command talks to the cluster only through :class:`client.admin.AdminClient`, so it works
against any Kafka-protocol broker, not only ours.  Arguments are validated by argparse (usage
errors exit 2 with the usage line); a command that reaches the cluster and fails raises
:class:`CommandError`, which ``broker.cli.main`` prints as ``odradek: error: ...`` lines and
turns into exit code 1.

One deadline, ``--timeout-ms``, bounds a whole command: bootstrapping (retried with backoff,
as Kafka's admin client keeps trying an unreachable cluster until its API timeout), every
request and every retry.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from broker import jaas
from broker.config import parse_properties
from client.admin import (
    AdminClient,
    ConfigEntry,
    ConfigResource,
    ConfigResourceType,
    NewTopic,
    OffsetSpec,
    TopicDescription,
)
from client.cluster import exponential_backoff_ms
from client.config import CommonConfig, parse_address
from client.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from client.metadata import TopicPartition

OPERATION_ERROR_EXIT_CODE = 1
DEFAULT_BOOTSTRAP_SERVER = "127.0.0.1:9092"
DEFAULT_TIMEOUT_MS = 10_000
# The wire types bound these: NumPartitions and timeouts are INT32, ReplicationFactor INT16.
MAX_INT32 = 2**31 - 1
MAX_REPLICATION_FACTOR = 2**15 - 1
# Waits between bootstrap attempts while the deadline allows (Kafka's retry.backoff.ms range).
BOOTSTRAP_BACKOFF_MS = 100
BOOTSTRAP_BACKOFF_MAX_MS = 1000
NO_LEADER = -1
CLIENT_ID = "odradek-cli"
COLUMN_GAP = "  "
# Table header → key of the row dicts that ``--output json`` prints.
LIST_COLUMNS = {
    "TOPIC": "name",
    "PARTITIONS": "partitions",
    "REPLICATION FACTOR": "replication_factor",
}
PARTITION_COLUMNS = {
    "PARTITION": "partition",
    "LEADER": "leader",
    "REPLICAS": "replicas",
    "ISR": "isr",
    "LOG START OFFSET": "log_start_offset",
    "HIGH WATERMARK": "high_watermark",
}

Command = Callable[[AdminClient, argparse.Namespace], Awaitable[None]]


class CommandError(Exception):
    """A command failed after its arguments were accepted; ``messages`` are printed one per line.

    ``broker.cli.main`` prints each as ``odradek: error: <message>`` on stderr and exits with
    ``exit_code``.
    """

    def __init__(self, messages: Sequence[str], exit_code: int = OPERATION_ERROR_EXIT_CODE) -> None:
        assert messages, "a CommandError needs at least one message"
        self.messages = tuple(messages)
        self.exit_code = exit_code
        super().__init__("; ".join(self.messages))


# -- argument types --------------------------------------------------------------------------


def bootstrap_servers_arg(text: str) -> tuple[str, ...]:
    """``host:port[,host:port...]``, each address checked as the client would."""
    servers = tuple(server.strip() for server in text.split(",") if server.strip())
    if not servers:
        raise argparse.ArgumentTypeError("expected host:port[,host:port...]")
    for server in servers:
        try:
            parse_address(server)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return servers


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


class ConfigAction(argparse.Action):
    """``--config KEY=VALUE``, repeatable, into one dict; a key given two values is an error."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, str)
        key, sep, value = values.partition("=")
        key = key.strip()
        if not sep or not key:
            parser.error(f"argument --config: expected KEY=VALUE, got {values!r}")
        configs: dict[str, str] = dict(getattr(namespace, self.dest) or {})
        if configs.get(key, value) != value:
            parser.error(f"argument --config: {key} given twice ({configs[key]!r} and {value!r})")
        configs[key] = value
        setattr(namespace, self.dest, configs)


# -- the parsers -----------------------------------------------------------------------------

TOPIC_EXAMPLES = """\
examples:
  odradek topic create orders --partitions 6 --replication-factor 3
  odradek topic list
  odradek topic describe orders
  odradek topic alter orders --config retention.ms=86400000
  odradek topic delete orders
"""
CREATE_EXAMPLES = """\
examples:
  odradek topic create orders --partitions 6 --replication-factor 3
  odradek topic create audit --config retention.ms=604800000 --config cleanup.policy=compact
  odradek topic create events --bootstrap-server b1:9092,b2:9092 --timeout-ms 30000
"""
LIST_EXAMPLES = """\
examples:
  odradek topic list
  odradek topic list --output json --bootstrap-server kafka:9092
"""
DESCRIBE_EXAMPLES = """\
examples:
  odradek topic describe orders
  odradek topic describe orders payments --output json
  odradek topic describe --bootstrap-server kafka:9092    # every topic
"""
ALTER_EXAMPLES = """\
examples:
  odradek topic alter orders --config retention.ms=86400000 --config min.insync.replicas=2
  odradek topic alter orders --delete-config retention.ms    # back to the default
  odradek topic alter audit --config cleanup.policy=compact --validate-only
"""
REASSIGNMENT_COLUMNS = {
    "PARTITION": "partition",
    "REPLICAS": "replicas",
    "ADDING": "adding",
    "REMOVING": "removing",
}
REASSIGN_EXAMPLES = """\
examples:
  odradek topic reassign orders --partition 0=2,3,4 --partition 1=3,4,1
  odradek topic reassign orders            # the moves of its partitions still in progress
  odradek topic reassign orders --cancel 1

A move completes by itself once every new replica has caught up and joined the ISR
(Kafka's AlterPartitionReassignments, KIP-455); the brokers that lose a replica delete it.
"""
DELETE_EXAMPLES = """\
examples:
  odradek topic delete orders
  odradek topic delete orders payments --bootstrap-server kafka:9092
"""


def command_config_arg(path: str) -> tuple[tuple[str, str], ...]:
    """``--command-config FILE``: client properties (Kafka's CLI option), e.g.
    ``security.protocol=SASL_PLAINTEXT``, ``sasl.mechanism=SCRAM-SHA-256`` and either
    ``sasl.plain.username`` / ``sasl.plain.password`` or Kafka's ``sasl.jaas.config``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {error.strerror}") from None
    try:
        entries = dict(parse_properties(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{path}: {error}") from None
    jaas_text = entries.pop("sasl.jaas.config", None)
    if jaas_text is not None:
        try:
            options = jaas.parse(jaas_text).options
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{path}: sasl.jaas.config: {error}") from None
        entries.setdefault("sasl.plain.username", options.get("username", ""))
        entries.setdefault("sasl.plain.password", options.get("password", ""))
    _java_tls_keys(path, entries)
    known = CommonConfig.keys_set()
    unknown = sorted(key for key in entries if key not in known)
    if unknown:
        message = f"{path}: not connection keys every client takes: {', '.join(unknown)}"
        raise argparse.ArgumentTypeError(message)
    return tuple(entries.items())


def _java_tls_keys(path: str, entries: dict[str, str]) -> None:
    """Kafka's (Java) TLS client keys as ours: ``ssl.truststore.location`` -> ``ssl.cafile``,
    ``ssl.keystore.location`` (a PEM file with the certificate and key) -> ``ssl.certfile``,
    ``ssl.key.password`` -> ``ssl.password``, an empty
    ``ssl.endpoint.identification.algorithm`` -> ``ssl.check.hostname=false``."""
    for key in ("ssl.truststore.type", "ssl.keystore.type"):
        kind = entries.pop(key, "PEM").upper()
        if kind != "PEM":
            message = f"{path}: {key}={kind}: only PEM stores are read (convert it to PEM)"
            raise argparse.ArgumentTypeError(message)
    renames = {
        "ssl.truststore.location": "ssl.cafile",
        "ssl.keystore.location": "ssl.certfile",
        "ssl.key.password": "ssl.password",
    }
    for java, ours in renames.items():
        if java in entries:
            entries.setdefault(ours, entries.pop(java))
    algorithm = entries.pop("ssl.endpoint.identification.algorithm", None)
    if algorithm is not None and not algorithm.strip():
        entries.setdefault("ssl.check.hostname", "false")
    entries.pop("ssl.keystore.password", None)
    entries.pop("ssl.truststore.password", None)


def add_command_config(options: argparse.ArgumentParser) -> None:
    options.add_argument(
        "--command-config",
        dest="command_config",
        metavar="FILE",
        type=command_config_arg,
        default=(),
        help="client properties file, e.g. security.protocol=SASL_PLAINTEXT (or SSL, "
        "SASL_SSL), sasl.mechanism, sasl.plain.username / sasl.plain.password (or "
        "sasl.jaas.config), ssl.truststore.location (PEM)",
    )


def connection_options_parser() -> argparse.ArgumentParser:
    """Options every topic command takes: where the cluster is and how long to wait."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--bootstrap-server",
        dest="bootstrap_servers",
        metavar="HOST:PORT",
        type=bootstrap_servers_arg,
        default=DEFAULT_BOOTSTRAP_SERVER,
        help="broker(s) to bootstrap from, a comma-separated list (default: %(default)s)",
    )
    add_command_config(options)
    options.add_argument(
        "--timeout-ms",
        metavar="MS",
        type=bounded_int(1, MAX_INT32),
        default=DEFAULT_TIMEOUT_MS,
        help="limit of the whole command, connecting and retries included (default: %(default)s)",
    )
    return options


def output_options() -> argparse.ArgumentParser:
    """``--output``, for list and describe."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="aligned plain-text tables or JSON (default: %(default)s)",
    )
    return options


def add_topic_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``topic`` and its commands to the ``odradek`` subcommands."""
    topic = commands.add_parser(
        "topic",
        help="create, list, describe, alter and delete topics",
        description="Manage topics on any Kafka-protocol cluster.",
        epilog=TOPIC_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    topic_commands = topic.add_subparsers(dest="topic_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()
    output = output_options()

    def add(name: str, summary: str, epilog: str, *parents: argparse.ArgumentParser) -> Any:
        return topic_commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=epilog,
            parents=[connection, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    create = add("create", "create a topic", CREATE_EXAMPLES)
    create.add_argument("name", metavar="NAME", help="the topic to create")
    create.add_argument(
        "--partitions",
        metavar="N",
        type=bounded_int(1, MAX_INT32),
        default=-1,
        help="number of partitions (default: the broker's num.partitions)",
    )
    create.add_argument(
        "--replication-factor",
        metavar="R",
        type=bounded_int(1, MAX_REPLICATION_FACTOR),
        default=-1,
        help="replicas per partition (default: the broker's default.replication.factor)",
    )
    create.add_argument(
        "--config",
        metavar="KEY=VALUE",
        action=ConfigAction,
        dest="configs",
        default={},
        help="a topic config such as retention.ms=86400000; repeatable",
    )
    create.set_defaults(handler=command_handler(_create))

    listing = add("list", "list topics with their partition counts", LIST_EXAMPLES, output)
    listing.set_defaults(handler=command_handler(_list), names=[])

    describe = add(
        "describe",
        "show partitions (leader, replicas, ISR, offsets) and non-default configs",
        DESCRIBE_EXAMPLES,
        output,
    )
    describe.add_argument("names", metavar="NAME", nargs="*", help="topics (default: all)")
    describe.set_defaults(handler=command_handler(_describe))

    alter = add(
        "alter", "change a topic's configs (other configs keep their values)", ALTER_EXAMPLES
    )
    alter.add_argument("name", metavar="NAME", help="the topic to change")
    alter.add_argument(
        "--config",
        metavar="KEY=VALUE",
        action=ConfigAction,
        dest="configs",
        default={},
        help="set a topic config such as retention.ms=86400000; repeatable",
    )
    alter.add_argument(
        "--delete-config",
        metavar="KEY",
        action="append",
        dest="deleted",
        default=[],
        help="remove a topic config (its default applies again); repeatable",
    )
    alter.add_argument(
        "--validate-only",
        action="store_true",
        help="let the broker check the change without making it",
    )
    alter.set_defaults(handler=_alter_handler)

    reassign = add(
        "reassign",
        "move partitions to new replicas, list the moves in progress, or cancel one",
        REASSIGN_EXAMPLES,
    )
    reassign.add_argument("name", metavar="NAME", help="the topic")
    reassign.add_argument(
        "--partition",
        metavar="P=B1,B2,...",
        action="append",
        dest="moves",
        default=[],
        type=_partition_move,
        help="move partition P to brokers B1,B2,... (the first is its preferred leader); "
        "repeatable",
    )
    reassign.add_argument(
        "--cancel",
        metavar="P",
        action="append",
        dest="cancelled",
        default=[],
        type=int,
        help="cancel the move of partition P; repeatable",
    )
    reassign.set_defaults(handler=command_handler(_reassign))

    delete = add("delete", "delete topics", DELETE_EXAMPLES)
    delete.add_argument("names", metavar="NAME", nargs="+", help="the topics to delete")
    delete.set_defaults(handler=command_handler(_delete))


# -- running a command -----------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """Where the cluster is, the command's deadline, and how far the command got."""

    servers: tuple[str, ...]
    timeout_ms: int
    client_properties: tuple[tuple[str, str], ...] = ()  # --command-config
    connected: bool = False
    last_error: KafkaError | None = None

    def settings(self) -> dict[str, Any]:
        """AdminClient settings: every client timeout is the command's own."""
        return {
            **dict(self.client_properties),
            "bootstrap.servers": list(self.servers),
            "client.id": CLIENT_ID,
            "request.timeout.ms": self.timeout_ms,
            "default.api.timeout.ms": self.timeout_ms,
            "socket.connection.setup.timeout.ms": self.timeout_ms,
            "socket.connection.setup.timeout.max.ms": self.timeout_ms,
        }

    def timeout_message(self) -> str:
        """Why the deadline passed: no broker reached, or no answer after connecting."""
        address = ",".join(self.servers)
        detail = f": {self.last_error}" if self.last_error is not None else ""
        if not self.connected:
            return (
                f"cannot reach any broker at {address} within {self.timeout_ms} ms "
                f"(--timeout-ms){detail}"
            )
        return (
            f"timed out after {self.timeout_ms} ms (--timeout-ms) waiting for the cluster "
            f"at {address}{detail}"
        )


def command_handler(command: Command) -> Callable[[argparse.Namespace], int]:
    """The argparse handler running ``command`` under one event loop; returns the exit code."""

    def handle(arguments: argparse.Namespace) -> int:
        session = Session(
            arguments.bootstrap_servers, arguments.timeout_ms, arguments.command_config
        )
        try:
            anyio.run(_with_admin, session, command, arguments)
        except (TimeoutError, KafkaTimeoutError) as error:
            if isinstance(error, KafkaTimeoutError):
                session.last_error = error
            raise CommandError([session.timeout_message()]) from error
        except KafkaConnectionError as error:
            # Only after bootstrapping: open_admin retries connection errors until the deadline.
            raise CommandError([f"lost the connection to the cluster: {error}"]) from error
        except KafkaError as error:
            raise CommandError([str(error)]) from error
        return 0

    return handle


async def _with_admin(session: Session, command: Command, arguments: argparse.Namespace) -> None:
    with anyio.fail_after(session.timeout_ms / 1000):
        async with contextlib.AsyncExitStack() as stack:
            admin = await open_admin(stack, session)
            session.connected = True
            await command(admin, arguments)


async def open_admin(stack: contextlib.AsyncExitStack, session: Session) -> AdminClient:
    """An open AdminClient, retrying unreachable bootstrap servers until the deadline.

    A broker that is still starting refuses connections; retrying (as Kafka's admin client
    does until its API timeout) lets ``odradek topic create`` follow ``broker start`` in a
    script.  The outer ``fail_after`` ends the loop; the last error explains the timeout.
    """
    attempt = 0
    while True:
        try:
            return await stack.enter_async_context(AdminClient(session.settings()))
        except (KafkaConnectionError, KafkaTimeoutError) as error:
            session.last_error = error
            attempt += 1
            wait_ms = exponential_backoff_ms(
                attempt, BOOTSTRAP_BACKOFF_MS, BOOTSTRAP_BACKOFF_MAX_MS
            )
            await anyio.sleep(wait_ms / 1000)


def _broker_detail(error: KafkaError) -> str:
    """The broker's own message, without the ``CODE (n): `` prefix the client adds."""
    prefix = error.default_message()
    if error.message == prefix:
        return ""
    return error.message.removeprefix(prefix + ": ")


def topic_error(name: str, error: KafkaError) -> str:
    """One topic's failure in words; timeouts and lost connections end the whole command."""
    if isinstance(error, KafkaTimeoutError | KafkaConnectionError):
        raise error
    if isinstance(error, TopicAlreadyExistsError):
        return f"topic {name!r} already exists"
    if isinstance(error, UnknownTopicOrPartitionError):
        return f"unknown topic {name!r}"
    detail = _broker_detail(error)
    if isinstance(error, InvalidTopicError):
        return f"invalid topic name {name!r}" + (f": {detail}" if detail else "")
    return f"topic {name!r}: {error}"


# -- create and delete -----------------------------------------------------------------------


async def _create(admin: AdminClient, arguments: argparse.Namespace) -> None:
    topic = NewTopic(
        arguments.name, arguments.partitions, arguments.replication_factor, arguments.configs
    )
    results = await admin.create_topics([topic], raise_errors=False)
    error = results[topic.name]
    if error is not None:
        raise CommandError([topic_error(topic.name, error)])
    print(f"Created topic {topic.name!r}.")


def _config_changes(arguments: argparse.Namespace) -> dict[str, str | None]:
    """``--config`` and ``--delete-config`` as key -> value (None: delete); a usage error
    when there is nothing to change or a key is both set and deleted."""
    changes: dict[str, str | None] = dict(arguments.configs)
    for given in arguments.deleted:
        key = given.strip()
        if key in arguments.configs:
            raise CommandError([f"{key} is both set (--config) and deleted (--delete-config)"], 2)
        changes[key] = None
    if not changes:
        raise CommandError(["nothing to change: give --config KEY=VALUE or --delete-config KEY"], 2)
    return changes


def _alter_handler(arguments: argparse.Namespace) -> int:
    arguments.changes = _config_changes(arguments)  # before connecting: a usage error
    return command_handler(_alter)(arguments)


async def _alter(admin: AdminClient, arguments: argparse.Namespace) -> None:
    results = await admin.alter_topic_configs(
        {arguments.name: arguments.changes},
        validate_only=arguments.validate_only,
        raise_errors=False,
    )
    error = results[arguments.name]
    if error is not None:
        raise CommandError([topic_error(arguments.name, error)])
    verb = "Validated the change to" if arguments.validate_only else "Altered"
    print(f"{verb} the configs of topic {arguments.name!r}.")


def _partition_move(text: str) -> tuple[int, list[int]]:
    """``P=B1,B2,...``: a partition and its new replicas."""
    partition, equals, brokers = text.partition("=")
    try:
        if not equals:
            raise ValueError
        return int(partition), [int(broker) for broker in brokers.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected PARTITION=BROKER,BROKER,... (e.g. 0=2,3,4)"
        ) from None


async def _reassign(admin: AdminClient, arguments: argparse.Namespace) -> None:
    name = arguments.name
    changes: dict[TopicPartition, list[int] | None] = {
        TopicPartition(name, partition): replicas for partition, replicas in arguments.moves
    }
    changes.update({TopicPartition(name, p): None for p in arguments.cancelled})
    failures = []
    if changes:
        results = await admin.alter_partition_reassignments(changes)
        for tp, error in sorted(results.items()):
            target = changes.get(tp)
            if error is not None:
                failures.append(f"{name}-{tp.partition}: {error}")
            elif target is None:
                print(f"Cancelled the move of {name}-{tp.partition}.")
            else:
                listed = ",".join(str(b) for b in target)
                print(f"Moving {name}-{tp.partition} to brokers {listed}.")
    else:
        ongoing = await admin.list_partition_reassignments()
        rows = [
            {
                "partition": tp.partition,
                "replicas": ",".join(map(str, replicas)),
                "adding": ",".join(map(str, adding)),
                "removing": ",".join(map(str, removing)),
            }
            for tp, (replicas, adding, removing) in ongoing.items()
            if tp.topic == name
        ]
        if rows:
            print_table(REASSIGNMENT_COLUMNS, rows)
        else:
            print(f"No partition of {name!r} is being moved.")
    if failures:
        raise CommandError(failures)


async def _delete(admin: AdminClient, arguments: argparse.Namespace) -> None:
    results = await admin.delete_topics(arguments.names, raise_errors=False)
    failures = []
    for name, error in results.items():
        if error is None:
            print(f"Deleted topic {name!r}.")
        else:
            failures.append(topic_error(name, error))
    if failures:
        raise CommandError(failures)


# -- list and describe -----------------------------------------------------------------------


async def _topics(admin: AdminClient, arguments: argparse.Namespace) -> list[TopicDescription]:
    """The named topics in order (every unknown one named), else every topic by name.

    Internal topics are included, as by Kafka's ``kafka-topics --list``.
    """
    names = list(dict.fromkeys(arguments.names))
    if not names:
        return list((await admin.describe_topics()).values())
    try:
        return list((await admin.describe_topics(names)).values())
    except UnknownTopicOrPartitionError:
        existing = set(await admin.list_topics(include_internal=True))
        missing = [name for name in names if name not in existing]
        if not missing:
            raise  # deleted and re-created in between: report what the broker said
        raise CommandError([f"unknown topic {name!r}" for name in missing]) from None


def _replication_factor(topic: TopicDescription) -> int:
    return max((len(partition.replicas) for partition in topic.partitions), default=0)


def _summary(topic: TopicDescription) -> dict[str, Any]:
    """One ``list`` row, as printed by ``--output json``."""
    return {
        "name": topic.name,
        "partitions": len(topic.partitions),
        "replication_factor": _replication_factor(topic),
        "internal": topic.is_internal,
    }


async def _list(admin: AdminClient, arguments: argparse.Namespace) -> None:
    rows = [_summary(topic) for topic in await _topics(admin, arguments)]
    if arguments.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        print_table(LIST_COLUMNS, rows)


Offsets = dict[TopicPartition, tuple[int, int]]


async def _offsets(admin: AdminClient, topics: Iterable[TopicDescription]) -> Offsets:
    """(log start offset, high watermark) of every partition that has a leader to ask.

    ListOffsets as a consumer (read_uncommitted): EARLIEST is the log start offset, LATEST the
    high watermark.
    """
    led = [
        TopicPartition(topic.name, partition.partition)
        for topic in topics
        for partition in topic.partitions
        if partition.leader != NO_LEADER
    ]
    if not led:
        return {}
    earliest = await admin.list_offsets(dict.fromkeys(led, OffsetSpec.EARLIEST))
    latest = await admin.list_offsets(dict.fromkeys(led, OffsetSpec.LATEST))
    return {tp: (earliest[tp].offset, latest[tp].offset) for tp in led}


def _shown_value(entry: ConfigEntry) -> str | None:
    return "(sensitive)" if entry.is_sensitive else entry.value


async def _non_default_configs(
    admin: AdminClient, topics: Iterable[TopicDescription]
) -> dict[str, dict[str, str | None]]:
    """Each topic's configs whose source is not the built-in default, sorted by key."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, topic.name) for topic in topics]
    if not resources:
        return {}
    described = await admin.describe_configs(resources)
    return {
        resource.name: {
            key: _shown_value(entry)
            for key, entry in sorted(entries.items())
            if not entry.is_default
        }
        for resource, entries in described.items()
    }


async def _describe(admin: AdminClient, arguments: argparse.Namespace) -> None:
    topics = await _topics(admin, arguments)
    offsets = await _offsets(admin, topics)
    configs = await _non_default_configs(admin, topics)
    described = [_description(topic, offsets, configs[topic.name]) for topic in topics]
    if arguments.output == "json":
        print(json.dumps(described, indent=2))
        return
    for index, topic in enumerate(described):
        if index:
            print()
        _print_topic(topic)


def _description(
    topic: TopicDescription, offsets: Offsets, configs: dict[str, str | None]
) -> dict[str, Any]:
    """A described topic, as printed by ``--output json``; no leader or offset is ``null``."""
    partitions = []
    for partition in topic.partitions:
        start, high = offsets.get(TopicPartition(topic.name, partition.partition), (None, None))
        partitions.append(
            {
                "partition": partition.partition,
                "leader": None if partition.leader == NO_LEADER else partition.leader,
                "leader_epoch": partition.leader_epoch,
                "replicas": list(partition.replicas),
                "isr": list(partition.isr),
                "offline_replicas": list(partition.offline_replicas),
                "log_start_offset": start,
                "high_watermark": high,
            }
        )
    return {
        "name": topic.name,
        "topic_id": None if topic.topic_id is None else str(topic.topic_id),
        "internal": topic.is_internal,
        "replication_factor": _replication_factor(topic),
        "configs": configs,
        "partitions": partitions,
    }


def _print_topic(topic: Mapping[str, Any]) -> None:
    """A summary line in the layout of Kafka's ``kafka-topics --describe``, then a table."""
    configs = ",".join(f"{key}={value}" for key, value in topic["configs"].items())
    fields = {
        "Topic": topic["name"],
        "TopicId": cell(topic["topic_id"]),
        "PartitionCount": len(topic["partitions"]),
        "ReplicationFactor": topic["replication_factor"],
        "Configs": configs or "(all defaults)",
    }
    print(COLUMN_GAP.join(f"{label}: {value}" for label, value in fields.items()))
    print_table(PARTITION_COLUMNS, topic["partitions"])


def cell(value: Any) -> str:
    """A table cell: ``-`` for nothing (no leader, no offset, an empty ISR), lists comma-joined."""
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "-"
    return "-" if value is None else str(value)


def print_table(columns: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Left-aligned columns two spaces apart: headers (``columns`` keys), then one line per row."""
    table = [list(columns), *([cell(row[key]) for key in columns.values()] for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(columns))]
    for line in table:
        cells = (text.ljust(width) for text, width in zip(line, widths, strict=True))
        print(COLUMN_GAP.join(cells).rstrip())
