"""`odradek group list|describe|delete|delete-offsets`: consumer-group administration.

Like the topic commands (:mod:`broker.cli_topic`, whose connection options, deadline, error
handling and tables these share), every command talks to the cluster only through
:class:`client.admin.AdminClient`, so it works against any Kafka-protocol broker.  ``describe``
prints what Kafka's ``kafka-consumer-groups --describe`` does: per partition the committed
offset (CURRENT-OFFSET), the high watermark (LOG-END-OFFSET), the lag between them and the
member it is assigned to; before that the group's state, protocol and members.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from typing import Any

from broker.cli_topic import (
    CommandError,
    cell,
    command_handler,
    connection_options_parser,
    output_options,
    print_table,
)
from client.admin import AdminClient
from client.admin_groups import GroupDescription, PartitionLag
from client.errors import (
    GroupIdNotFoundError,
    GroupSubscribedToTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NonEmptyGroupError,
    UnknownTopicOrPartitionError,
)
from client.metadata import TopicPartition

# Table header → key of the row dicts that ``--output json`` prints.
LIST_COLUMNS = {"GROUP": "group_id", "STATE": "state", "PROTOCOL TYPE": "protocol_type"}
MEMBER_COLUMNS = {
    "MEMBER-ID": "member_id",
    "CLIENT-ID": "client_id",
    "HOST": "client_host",
    "ASSIGNMENT": "assignment_text",
}
OFFSET_COLUMNS = {
    "TOPIC": "topic",
    "PARTITION": "partition",
    "CURRENT-OFFSET": "current_offset",
    "LOG-END-OFFSET": "log_end_offset",
    "LAG": "lag",
    "CONSUMER-ID": "consumer_id",
}

GROUP_EXAMPLES = """\
examples:
  odradek group list
  odradek group describe billing
  odradek group delete billing
  odradek group delete-offsets billing --topic orders
"""
LIST_EXAMPLES = """\
examples:
  odradek group list
  odradek group list --state Stable --state Empty
  odradek group list --output json --bootstrap-server kafka:9092
"""
DESCRIBE_EXAMPLES = """\
examples:
  odradek group describe billing
  odradek group describe billing audit --output json
  odradek group describe billing --bootstrap-server b1:9092,b2:9092 --timeout-ms 30000
"""
DELETE_EXAMPLES = """\
examples:
  odradek group delete billing
  odradek group delete billing audit --bootstrap-server kafka:9092

Only a group without members (state Empty) can be deleted; its committed offsets go with it.
"""
DELETE_OFFSETS_EXAMPLES = """\
examples:
  odradek group delete-offsets billing --topic orders
  odradek group delete-offsets billing --topic orders:0,2 --topic audit

A group with members keeps the offsets of the topics they subscribe to (Kafka's
kafka-consumer-groups --delete-offsets); a partition without a commit counts as deleted.
"""


def add_group_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``group`` and its commands to the ``odradek`` subcommands."""
    group = commands.add_parser(
        "group",
        help="list, describe (offsets and lag) and delete consumer groups or their offsets",
        description="Manage consumer groups on any Kafka-protocol cluster.",
        epilog=GROUP_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group_commands = group.add_subparsers(dest="group_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()
    output = output_options()

    def add(name: str, summary: str, epilog: str, *parents: argparse.ArgumentParser) -> Any:
        return group_commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=epilog,
            parents=[connection, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    listing = add("list", "list groups with their states and protocol types", LIST_EXAMPLES, output)
    listing.add_argument(
        "--state",
        metavar="STATE",
        action="append",
        dest="states",
        help="only groups in this state (Stable, Empty, PreparingRebalance, "
        "CompletingRebalance); repeatable",
    )
    listing.set_defaults(handler=command_handler(_list))

    describe = add(
        "describe",
        "show a group's state, members, and per partition its committed offset and lag",
        DESCRIBE_EXAMPLES,
        output,
    )
    describe.add_argument("group_ids", metavar="GROUP", nargs="+", help="the groups to describe")
    describe.set_defaults(handler=command_handler(_describe))

    delete = add("delete", "delete groups that have no members", DELETE_EXAMPLES)
    delete.add_argument("group_ids", metavar="GROUP", nargs="+", help="the groups to delete")
    delete.set_defaults(handler=command_handler(_delete))

    delete_offsets = add(
        "delete-offsets",
        "delete a group's committed offsets of some topics or partitions",
        DELETE_OFFSETS_EXAMPLES,
    )
    delete_offsets.add_argument("group_id", metavar="GROUP", help="the group")
    delete_offsets.add_argument(
        "--topic",
        metavar="TOPIC[:P,...]",
        action="append",
        dest="topics",
        required=True,
        type=_topic_partitions,
        help="a topic (all its partitions) or some of its partitions; repeatable",
    )
    delete_offsets.set_defaults(handler=command_handler(_delete_offsets))


def _topic_partitions(text: str) -> tuple[str, tuple[int, ...] | None]:
    """``TOPIC`` or ``TOPIC:P,P...`` (Kafka's ``--topic`` of ``--delete-offsets``)."""
    topic, colon, partitions = text.rpartition(":")
    if not colon:
        topic, partitions = text, ""
    if not topic:
        raise argparse.ArgumentTypeError(f"no topic in {text!r}")
    if not colon:
        return topic, None
    try:
        indexes = tuple(int(part) for part in partitions.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: partitions must be comma-separated numbers"
        ) from None
    if any(index < 0 for index in indexes):
        raise argparse.ArgumentTypeError(f"{text!r}: a negative partition")
    return topic, indexes


def _group_error(group_id: str, error: KafkaError) -> str:
    """One group's failure in words; timeouts and lost connections end the whole command."""
    if isinstance(error, KafkaTimeoutError | KafkaConnectionError):
        raise error
    if isinstance(error, GroupIdNotFoundError):
        return f"group {group_id!r} not found"
    if isinstance(error, NonEmptyGroupError):
        return f"group {group_id!r} is not empty (stop its members first)"
    return f"group {group_id!r}: {error}"


# -- list ------------------------------------------------------------------------------------


async def _list(admin: AdminClient, arguments: argparse.Namespace) -> None:
    listed = await admin.list_groups(states=arguments.states)
    rows = [
        {"group_id": group.group_id, "state": group.state, "protocol_type": group.protocol_type}
        for group in listed
    ]
    if arguments.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        print_table(LIST_COLUMNS, rows)


# -- describe --------------------------------------------------------------------------------


async def _describe(admin: AdminClient, arguments: argparse.Namespace) -> None:
    described: list[dict[str, Any]] = []
    failures: list[str] = []
    for group_id in dict.fromkeys(arguments.group_ids):
        try:
            description = (await admin.describe_groups([group_id]))[group_id]
            lags = await admin.group_lag(group_id)
        except KafkaError as error:
            failures.append(_group_error(group_id, error))
            continue
        described.append(_description(description, lags))
    if arguments.output == "json":
        print(json.dumps(described, indent=2))
    else:
        for index, group in enumerate(described):
            if index:
                print()
            _print_group(group)
    if failures:
        raise CommandError(failures)


def _assignment_text(assignment: Iterable[Mapping[str, Any]] | None) -> str | None:
    """``orders(0,1) audit(2)``: partitions grouped by topic; None if not decodable."""
    if assignment is None:
        return None
    by_topic: dict[str, list[str]] = {}
    for tp in assignment:
        by_topic.setdefault(tp["topic"], []).append(str(tp["partition"]))
    return " ".join(f"{topic}({','.join(parts)})" for topic, parts in by_topic.items()) or None


def _description(
    description: GroupDescription, lags: Mapping[TopicPartition, PartitionLag]
) -> dict[str, Any]:
    """A described group, as printed by ``--output json``; unknown values are ``null``."""
    members = [
        {
            "member_id": member.member_id,
            "group_instance_id": member.group_instance_id,
            "client_id": member.client_id,
            "client_host": member.client_host,
            "assignment": None
            if member.assignment is None
            else [{"topic": tp.topic, "partition": tp.partition} for tp in member.assignment],
        }
        for member in description.members
    ]
    partitions = [
        {
            "topic": tp.topic,
            "partition": tp.partition,
            "current_offset": lag.committed_offset,
            "log_end_offset": lag.high_watermark,
            "lag": lag.lag,
            "consumer_id": lag.member_id,
        }
        for tp, lag in lags.items()
    ]
    return {
        "group_id": description.group_id,
        "state": description.state,
        "protocol_type": description.protocol_type,
        "protocol": description.protocol or None,
        "members": members,
        "partitions": partitions,
    }


def _print_group(group: Mapping[str, Any]) -> None:
    """A summary line, the members table, then the offsets table."""
    fields = {
        "Group": group["group_id"],
        "State": group["state"],
        "ProtocolType": group["protocol_type"] or "-",
        "Protocol": cell(group["protocol"]),
        "Members": len(group["members"]),
    }
    print("  ".join(f"{label}: {value}" for label, value in fields.items()))
    if group["members"]:
        print()
        rows = [
            {
                **member,
                "client_host": member["client_host"] or None,  # some brokers send ""
                "assignment_text": _assignment_text(member["assignment"]),
            }
            for member in group["members"]
        ]
        print_table(MEMBER_COLUMNS, rows)
    else:
        print(f"Group {group['group_id']!r} has no active members.")
    print()
    if group["partitions"]:
        print_table(OFFSET_COLUMNS, group["partitions"])
    else:
        print(f"Group {group['group_id']!r} has no committed offsets or assigned partitions.")


# -- delete ----------------------------------------------------------------------------------


async def _delete(admin: AdminClient, arguments: argparse.Namespace) -> None:
    results = await admin.delete_groups(arguments.group_ids, raise_errors=False)
    failures = []
    for group_id, error in results.items():
        if error is None:
            print(f"Deleted group {group_id!r}.")
        else:
            failures.append(_group_error(group_id, error))
    if failures:
        raise CommandError(failures)


# -- delete-offsets --------------------------------------------------------------------------


async def _delete_offsets(admin: AdminClient, arguments: argparse.Namespace) -> None:
    group_id = arguments.group_id
    whole = [topic for topic, indexes in arguments.topics if indexes is None]
    try:
        described = await admin.describe_topics(whole) if whole else {}
    except UnknownTopicOrPartitionError as error:
        raise CommandError([f"{error}"]) from None
    partitions: list[TopicPartition] = []
    for topic, indexes in arguments.topics:
        if indexes is None:
            indexes = tuple(p.partition for p in described[topic].partitions)
        partitions += (TopicPartition(topic, index) for index in indexes)
    try:
        results = await admin.delete_group_offsets(group_id, partitions, raise_errors=False)
    except KafkaError as error:
        raise CommandError([_group_error(group_id, error)]) from None
    failures: list[str] = []
    for tp, failure in results.items():
        if failure is None:
            print(f"Deleted the offset of {tp.topic}-{tp.partition} in group {group_id!r}.")
        elif isinstance(failure, GroupSubscribedToTopicError):
            failures.append(
                f"{tp.topic}-{tp.partition}: group {group_id!r} has members subscribed to "
                f"{tp.topic!r} (stop them first)"
            )
        elif isinstance(failure, UnknownTopicOrPartitionError):
            failures.append(f"{tp.topic}-{tp.partition}: no such topic")
        else:
            failures.append(f"{tp.topic}-{tp.partition}: {failure}")
    if failures:
        raise CommandError(failures)
