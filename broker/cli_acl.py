"""`odradek acl list|add|remove`: ACL bindings (KIP-140; prefixed patterns KIP-290).

What Kafka's ``kafka-acls --list``, ``--add`` and ``--remove`` do, with its option names,
through :class:`client.admin.AdminClient` like the other commands.  A resource is one of
``--topic``, ``--group``, ``--cluster`` or ``--transactional-id``; ``--allow-principal`` /
``--deny-principal`` (repeatable) name who, ``--allow-host`` / ``--deny-host`` from where
(default ``*``, any host, when adding), ``--operation`` (repeatable) what.  ``add`` creates
every principal x host x operation combination.  ``remove`` deletes the bindings those
options match; without principals every binding of the resource (for the operations named,
if any).  Nothing ever prompts (``--force`` is accepted for kafka-acls scripts).

The broker needs an authorizer (``authorizer.class.name``) and the caller DESCRIBE (list)
or ALTER (add, remove) on the cluster, which super users (``super.users``) have.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from broker.cli_topic import (
    Command,
    CommandError,
    command_handler,
    connection_options_parser,
    output_options,
)
from client.acl_admin import (
    CLUSTER_NAME,
    WILDCARD,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)
from client.admin import AdminClient
from client.errors import ClusterAuthorizationFailedError, KafkaError, SecurityDisabledError

USAGE_ERROR_EXIT_CODE = 2  # argparse's, as in broker.cli
ACL_EXAMPLES = """\
examples:
  odradek acl add --allow-principal User:alice --operation Read --operation Describe --topic orders
  odradek acl add --allow-principal User:billing --operation Read --group billing
  odradek acl add --allow-principal User:etl --operation Write --topic logs- \\
      --resource-pattern-type prefixed
  odradek acl add --deny-principal User:mallory --deny-host 10.0.0.7 --operation All --cluster
  odradek acl list
  odradek acl list --topic orders --resource-pattern-type match
  odradek acl list --principal User:alice --output json
  odradek acl remove --allow-principal User:alice --operation Read --topic orders
  odradek acl remove --topic orders              # every binding of the literal topic

Operations: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction,
DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens.  Principals
are TYPE:NAME (User:alice; User:* is everyone), hosts IP addresses (* is any).  The broker
needs authorizer.class.name; log in as a super user with --command-config.
"""
# The operations ``add`` accepts per resource type, as kafka-acls checks them.
VALID_OPERATIONS: dict[ResourceType, frozenset[AclOperation]] = {
    ResourceType.TOPIC: frozenset(
        {
            AclOperation.READ,
            AclOperation.WRITE,
            AclOperation.CREATE,
            AclOperation.DESCRIBE,
            AclOperation.DELETE,
            AclOperation.ALTER,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
            AclOperation.ALL,
        }
    ),
    ResourceType.GROUP: frozenset(
        {
            AclOperation.READ,
            AclOperation.DESCRIBE,
            AclOperation.DELETE,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
            AclOperation.ALL,
        }
    ),
    ResourceType.CLUSTER: frozenset(
        {
            AclOperation.CREATE,
            AclOperation.CLUSTER_ACTION,
            AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS,
            AclOperation.IDEMPOTENT_WRITE,
            AclOperation.ALTER,
            AclOperation.DESCRIBE,
            AclOperation.ALL,
        }
    ),
    ResourceType.TRANSACTIONAL_ID: frozenset(
        {AclOperation.DESCRIBE, AclOperation.WRITE, AclOperation.ALL}
    ),
}
# A binding's operation: neither UNKNOWN nor the filters' ANY.
_OPERATIONS = tuple(op for op in AclOperation if op not in (AclOperation.UNKNOWN, AclOperation.ANY))
_ADD_PATTERN_TYPES = (ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED)
_FILTER_PATTERN_TYPES = (
    ResourcePatternType.ANY,
    ResourcePatternType.MATCH,
    ResourcePatternType.LITERAL,
    ResourcePatternType.PREFIXED,
)
# What each command needs on the cluster: for the message when it is refused.
_VERBS = {"list": ("list", "DESCRIBE"), "add": ("add", "ALTER"), "remove": ("remove", "ALTER")}

Validator = Callable[[argparse.Namespace], str | None]


# -- names -----------------------------------------------------------------------------------


def _squashed(text: str) -> str:
    """``DescribeConfigs``, ``describe-configs`` and ``DESCRIBE_CONFIGS`` all alike."""
    return text.replace("_", "").replace("-", "").lower()


def _camel(name: str) -> str:
    """Kafka's display name of an enum member: ``DESCRIBE_CONFIGS`` -> ``DescribeConfigs``."""
    return "".join(word.capitalize() for word in name.split("_"))


def operation_arg(text: str) -> AclOperation:
    for operation in _OPERATIONS:
        if _squashed(operation.name) == _squashed(text):
            return operation
    names = ", ".join(_camel(operation.name) for operation in _OPERATIONS)
    raise argparse.ArgumentTypeError(f"unknown operation {text!r} (choose from {names})")


def principal_arg(text: str) -> str:
    kind, sep, name = text.partition(":")
    if not sep or not kind or not name:
        raise argparse.ArgumentTypeError(
            f"expected a principal as TYPE:NAME (e.g. User:alice, User:*), got {text!r}"
        )
    return text


def host_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a host (an IP address, or * for any)")
    return text.strip()


def pattern_type_arg(
    choices: Sequence[ResourcePatternType],
) -> Callable[[str], ResourcePatternType]:
    def parse(text: str) -> ResourcePatternType:
        for kind in choices:
            if kind.name.lower() == text.strip().lower():
                return kind
        names = ", ".join(kind.name.lower() for kind in choices)
        raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {names})")

    return parse


def binding_text(binding: AclBinding) -> str:
    """One binding as a line: ``User:alice has Allow permission for operations: Write from
    hosts: * on TOPIC:LITERAL:t1``."""
    return (
        f"{binding.principal} has {_camel(binding.permission_type.name)} permission for "
        f"operations: {_camel(binding.operation.name)} from hosts: {binding.host} on "
        f"{binding.resource_type.name}:{binding.pattern_type.name}:{binding.resource_name}"
    )


def _sort_key(binding: AclBinding) -> tuple[Any, ...]:
    return (
        binding.resource_type,
        binding.resource_name,
        binding.pattern_type,
        binding.principal,
        binding.host,
        binding.permission_type,
        binding.operation,
    )


# -- the parsers -----------------------------------------------------------------------------


def add_acl_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``acl`` and its commands to the ``odradek`` subcommands."""
    acl = commands.add_parser(
        "acl",
        help="list, add and remove ACLs (who may do what on topics, groups, the cluster)",
        description="Manage ACL bindings on any Kafka-protocol cluster with an authorizer.",
        epilog=ACL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    acl_commands = acl.add_subparsers(dest="acl_command", metavar="COMMAND", required=True)
    connection = connection_options_parser()

    def add(name: str, summary: str, *parents: argparse.ArgumentParser) -> Any:
        return acl_commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=ACL_EXAMPLES,
            parents=[connection, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    listing = add("list", "list the ACL bindings (all, or a resource's)", output_options())
    _resource_options(listing, required=False, pattern_types=_FILTER_PATTERN_TYPES)
    listing.add_argument(
        "--principal",
        type=principal_arg,
        metavar="TYPE:NAME",
        help="only the bindings of this principal (e.g. User:alice)",
    )
    listing.set_defaults(handler=_handler(_list, listing))

    adding = add("add", "add ACL bindings: each principal x host x operation")
    _resource_options(adding, required=True, pattern_types=_ADD_PATTERN_TYPES)
    _entry_options(adding, adding=True)
    adding.set_defaults(handler=_handler(_add, adding, _check_add))

    removing = add("remove", "remove the ACL bindings the options match")
    _resource_options(removing, required=True, pattern_types=_FILTER_PATTERN_TYPES)
    _entry_options(removing, adding=False)
    removing.add_argument(
        "--force",
        action="store_true",
        help="accepted for kafka-acls scripts: odradek never asks for confirmation",
    )
    removing.set_defaults(handler=_handler(_remove, removing, _check_entries))


def _resource_options(
    parser: argparse.ArgumentParser,
    *,
    required: bool,
    pattern_types: Sequence[ResourcePatternType],
) -> None:
    resource = parser.add_mutually_exclusive_group(required=required)
    resource.add_argument("--topic", metavar="NAME", help="a topic (* is every topic)")
    resource.add_argument("--group", metavar="NAME", help="a consumer group (* is every group)")
    resource.add_argument("--cluster", action="store_true", help=f"the cluster ({CLUSTER_NAME})")
    resource.add_argument(
        "--transactional-id",
        dest="transactional_id",
        metavar="ID",
        help="a transactional id (* is every one)",
    )
    meanings = ["literal: exactly the name (* is every one)", "prefixed: names starting with it"]
    if ResourcePatternType.MATCH in pattern_types:
        meanings += [
            "any: literal and prefixed bindings of exactly this name",
            "match: every binding that applies to the resource",
        ]
    default = "literal" if required else "literal; without a resource: any"
    parser.add_argument(
        "--resource-pattern-type",
        dest="pattern_type",
        metavar="|".join(kind.name.lower() for kind in pattern_types),
        type=pattern_type_arg(pattern_types),
        default=None,
        help=f"how bindings name the resource: {'; '.join(meanings)} (default: {default})",
    )


def _entry_options(parser: argparse.ArgumentParser, *, adding: bool) -> None:
    """Who, from where, what: ``add`` needs operations and defaults the hosts to *;
    ``remove`` matches any host and operation not named."""
    for side in ("allow", "deny"):
        parser.add_argument(
            f"--{side}-principal",
            dest=f"{side}_principals",
            metavar="TYPE:NAME",
            type=principal_arg,
            action="append",
            default=[],
            help=f"a principal to {side} (e.g. User:alice; User:* is everyone); repeatable",
        )
        parser.add_argument(
            f"--{side}-host",
            dest=f"{side}_hosts",
            metavar="HOST",
            type=host_arg,
            action="append",
            default=[],
            help=f"a host the --{side}-principal bindings apply to"
            + (" (default: *, any host)" if adding else " (default: any)")
            + "; repeatable",
        )
    parser.add_argument(
        "--operation",
        dest="operations",
        metavar="OPERATION",
        type=operation_arg,
        action="append",
        required=adding,
        default=[],
        help="an operation: Read, Write, Describe, All, ... (see below); repeatable"
        + ("" if adding else " (default: every operation)"),
    )


def _handler(
    command: Command, parser: argparse.ArgumentParser, validate: Validator | None = None
) -> Callable[[argparse.Namespace], int]:
    """Checks across options first (a usage error: the usage line and exit 2, before any
    connection is tried), then ``command`` as the other commands run."""
    run = command_handler(command)

    def handle(arguments: argparse.Namespace) -> int:
        message = None if validate is None else validate(arguments)
        if message is not None:
            parser.print_usage(sys.stderr)
            print(f"{parser.prog}: error: {message}", file=sys.stderr)
            return USAGE_ERROR_EXIT_CODE
        return run(arguments)

    return handle


def _check_entries(arguments: argparse.Namespace) -> str | None:
    for side in ("allow", "deny"):
        if getattr(arguments, f"{side}_hosts") and not getattr(arguments, f"{side}_principals"):
            return f"--{side}-host needs --{side}-principal"
    return None


def _check_add(arguments: argparse.Namespace) -> str | None:
    if not arguments.allow_principals and not arguments.deny_principals:
        return "name who: --allow-principal or --deny-principal"
    resource_type, _ = _resource(arguments)
    valid = VALID_OPERATIONS[resource_type]
    invalid = [op for op in dict.fromkeys(arguments.operations) if op not in valid]
    if invalid:
        names = ", ".join(_camel(op.name) for op in _OPERATIONS if op in valid)
        wrong = ", ".join(_camel(op.name) for op in invalid)
        return f"--operation {wrong}: not an operation on {resource_type.name} (those: {names})"
    return _check_entries(arguments)


# -- building bindings and filters -----------------------------------------------------------


def _resource(arguments: argparse.Namespace) -> tuple[ResourceType, str | None]:
    """The resource the options name, or (ANY, None)."""
    if arguments.topic is not None:
        return ResourceType.TOPIC, arguments.topic
    if arguments.group is not None:
        return ResourceType.GROUP, arguments.group
    if arguments.cluster:
        return ResourceType.CLUSTER, CLUSTER_NAME
    if arguments.transactional_id is not None:
        return ResourceType.TRANSACTIONAL_ID, arguments.transactional_id
    return ResourceType.ANY, None


def _pattern_type(
    arguments: argparse.Namespace, resource_type: ResourceType
) -> ResourcePatternType:
    """``--resource-pattern-type``, by default LITERAL (ANY when no resource is named)."""
    if arguments.pattern_type is not None:
        chosen: ResourcePatternType = arguments.pattern_type
        return chosen
    if resource_type == ResourceType.ANY:
        return ResourcePatternType.ANY
    return ResourcePatternType.LITERAL


def _sides(arguments: argparse.Namespace) -> Iterable[tuple[AclPermissionType, str, list[str]]]:
    """(permission, principal, hosts given) for each principal named."""
    for permission, side in ((AclPermissionType.ALLOW, "allow"), (AclPermissionType.DENY, "deny")):
        hosts = list(dict.fromkeys(getattr(arguments, f"{side}_hosts")))
        for principal in dict.fromkeys(getattr(arguments, f"{side}_principals")):
            yield permission, principal, hosts


def bindings_of(arguments: argparse.Namespace) -> list[AclBinding]:
    """``add``'s bindings: every principal x host (default *) x operation."""
    resource_type, name = _resource(arguments)
    assert name is not None, "add requires a resource"
    pattern_type = _pattern_type(arguments, resource_type)
    return [
        AclBinding(resource_type, name, pattern_type, principal, host, operation, permission)
        for permission, principal, hosts in _sides(arguments)
        for host in hosts or [WILDCARD]
        for operation in dict.fromkeys(arguments.operations)
    ]


def filters_of(arguments: argparse.Namespace) -> list[AclBindingFilter]:
    """``remove``'s filters: per principal x host (default any) x operation (default any);
    without principals, the resource's bindings of the operations (default any)."""
    resource_type, name = _resource(arguments)
    pattern_type = _pattern_type(arguments, resource_type)
    operations = list(dict.fromkeys(arguments.operations)) or [AclOperation.ANY]
    sides: list[tuple[AclPermissionType, str | None, list[str | None]]] = [
        (permission, principal, [*hosts] or [None])
        for permission, principal, hosts in _sides(arguments)
    ]
    if not sides:
        sides = [(AclPermissionType.ANY, None, [None])]
    return [
        AclBindingFilter(resource_type, name, pattern_type, principal, host, operation, permission)
        for permission, principal, hosts in sides
        for host in hosts
        for operation in operations
    ]


# -- the commands ----------------------------------------------------------------------------


# The broker's refusals of a whole command (any other error is printed as it is).
_REFUSALS = (SecurityDisabledError, ClusterAuthorizationFailedError)


def _refused(error: KafkaError, command: str) -> CommandError:
    """A refusal of the whole command (one of ``_REFUSALS``) in words."""
    verb, needs = _VERBS[command]
    if isinstance(error, SecurityDisabledError):
        return CommandError(
            [f"the broker has no authorizer (authorizer.class.name): cannot {verb} ACLs"]
        )
    return CommandError(
        [
            f"not authorized to {verb} ACLs: that needs {needs} on the cluster "
            "(CLUSTER_AUTHORIZATION_FAILED); log in as a super user with --command-config"
        ]
    )


def _row(binding: AclBinding) -> dict[str, Any]:
    return {
        "resource_type": binding.resource_type.name,
        "resource_name": binding.resource_name,
        "pattern_type": binding.pattern_type.name,
        "principal": binding.principal,
        "host": binding.host,
        "operation": binding.operation.name,
        "permission_type": binding.permission_type.name,
    }


async def _list(admin: AdminClient, arguments: argparse.Namespace) -> None:
    resource_type, name = _resource(arguments)
    wanted = AclBindingFilter(
        resource_type, name, _pattern_type(arguments, resource_type), arguments.principal
    )
    try:
        bindings = sorted(await admin.describe_acls(wanted), key=_sort_key)
    except _REFUSALS as error:
        raise _refused(error, "list") from None
    if arguments.output == "json":
        print(json.dumps([_row(binding) for binding in bindings], indent=2))
    elif bindings:
        for binding in bindings:
            print(binding_text(binding))
    else:
        print("No ACLs match.")


async def _add(admin: AdminClient, arguments: argparse.Namespace) -> None:
    outcomes = await admin.create_acls(bindings_of(arguments), raise_errors=False)
    failures = [error for error in outcomes.values() if error is not None]
    refusals = [error for error in failures if isinstance(error, _REFUSALS)]
    if refusals:
        raise _refused(refusals[0], "add")
    for binding, error in outcomes.items():
        if error is None:
            print(f"Added ACL: {binding_text(binding)}")
    if failures:
        raise CommandError([str(error) for error in failures])


async def _remove(admin: AdminClient, arguments: argparse.Namespace) -> None:
    try:
        removed = await admin.delete_acls(filters_of(arguments))
    except _REFUSALS as error:
        raise _refused(error, "remove") from None
    gone = sorted({binding for bindings in removed.values() for binding in bindings}, key=_sort_key)
    for binding in gone:
        print(f"Removed ACL: {binding_text(binding)}")
    if not gone:
        print("No ACLs match: none removed.")
