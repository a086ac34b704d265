"""ACLs and the authorizer (Kafka's StandardAuthorizer, KIP-801), sans-IO.

An ACL binding says that a principal from a host is allowed or denied an operation on the
resources a pattern names.  The rules, as ``StandardAuthorizerData`` has them:

- Super users (``super.users``) may do everything.
- A binding applies when its resource type is the resource's, and its pattern is the literal
  name, the wildcard literal ``*``, or a prefix of the name (PREFIXED); its principal is the
  request's or ``User:*``; its host is the client's address or ``*``; its operation is the
  one asked, ``ALL``, or -- for ALLOW bindings only -- one that implies it (READ, WRITE,
  DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS).
- A DENY that applies wins; else an ALLOW that applies allows; else, when no binding at all
  names the resource (whoever it is for), ``allow.everyone.if.no.acl.found`` decides; else
  the request is denied.

Bindings live in the cluster metadata (``AccessControlEntryRecord`` /
``RemoveAccessControlEntryRecord``, Kafka's records 23 and 24); :func:`create_acls` and
:func:`delete_acls` are the controller's commands, answered with records to commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import NamedTuple

from client.protocol.acl import AclOperation, AclPermissionType, PatternType, ResourceType
from client.protocol.errors import ErrorCode

CLUSTER_NAME = "kafka-cluster"
WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"
ANONYMOUS = "User:ANONYMOUS"


Op = AclOperation
_IMPLIED_BY: dict[AclOperation, frozenset[AclOperation]] = {
    Op.DESCRIBE: frozenset({Op.DESCRIBE, Op.READ, Op.WRITE, Op.DELETE, Op.ALTER}),
    Op.DESCRIBE_CONFIGS: frozenset({Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}),
}

# The operations each resource type has (AclEntry.supportedOperations): what an
# ``authorized_operations`` bit field reports on.
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (
        Op.READ,
        Op.WRITE,
        Op.CREATE,
        Op.DESCRIBE,
        Op.DELETE,
        Op.ALTER,
        Op.DESCRIBE_CONFIGS,
        Op.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS),
    ResourceType.CLUSTER: (
        Op.CREATE,
        Op.CLUSTER_ACTION,
        Op.DESCRIBE_CONFIGS,
        Op.ALTER_CONFIGS,
        Op.IDEMPOTENT_WRITE,
        Op.ALTER,
        Op.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (Op.DESCRIBE, Op.WRITE),
    ResourceType.DELEGATION_TOKEN: (Op.DESCRIBE,),
    ResourceType.USER: (Op.CREATE_TOKENS, Op.DESCRIBE_TOKENS),
}


class AclBinding(NamedTuple):
    """One ACL: a resource pattern and an access control entry."""

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int

    def __str__(self) -> str:
        return (
            f"(pattern=ResourcePattern(resourceType={_name(ResourceType, self.resource_type)}, "
            f"name={self.resource_name}, patternType={_name(PatternType, self.pattern_type)}), "
            f"entry=(principal={self.principal}, host={self.host}, "
            f"operation={_name(AclOperation, self.operation)}, "
            f"permissionType={_name(AclPermissionType, self.permission_type)}))"
        )


class AclFilter(NamedTuple):
    """A DescribeAcls / DeleteAcls filter: ANY / None match everything of their field;
    pattern type MATCH matches every binding that applies to the named resource."""

    resource_type: int
    resource_name: str | None
    pattern_type: int
    principal: str | None
    host: str | None
    operation: int
    permission_type: int

    def matches(self, binding: AclBinding) -> bool:
        if self.resource_type not in (ResourceType.ANY, binding.resource_type):
            return False
        pattern = self.pattern_type
        if pattern not in (PatternType.ANY, PatternType.MATCH, binding.pattern_type):
            return False
        name = self.resource_name
        if name is not None:
            if pattern in (PatternType.ANY, binding.pattern_type):
                if name != binding.resource_name:
                    return False
            elif binding.pattern_type == PatternType.LITERAL:
                if binding.resource_name not in (name, WILDCARD):
                    return False
            elif not name.startswith(binding.resource_name):
                return False
        if self.principal is not None and self.principal != binding.principal:
            return False
        if self.host is not None and self.host != binding.host:
            return False
        if self.operation not in (AclOperation.ANY, binding.operation):
            return False
        return self.permission_type in (AclPermissionType.ANY, binding.permission_type)

    def unknown_field(self) -> str | None:
        """Why the filter can match nothing known (AclControlManager.validateFilter), if so."""
        if self.resource_type not in _known(ResourceType) or self.resource_type == 0:
            return "Unknown patternFilter."
        if self.pattern_type not in _known(PatternType) or self.pattern_type == 0:
            return "Unknown patternFilter."
        if self.operation not in _known(AclOperation) or self.operation == 0:
            return "Unknown entryFilter."
        if self.permission_type not in _known(AclPermissionType) or self.permission_type == 0:
            return "Unknown entryFilter."
        return None


def _known(kind: type[IntEnum]) -> set[int]:
    return {int(member) for member in kind}


def _name(kind: type[IntEnum], value: int) -> str:
    try:
        return kind(value).name
    except ValueError:
        return str(value)


def parse_principal(principal: str) -> tuple[str, str] | None:
    """``Type:Name`` as (type, name); None without a colon (Kafka's
    SecurityUtils.parseKafkaPrincipal)."""
    kind, colon, name = principal.partition(":")
    if not colon:
        return None
    return kind, name


def binding_error(binding: AclBinding) -> str | None:
    """Why a new binding is refused with INVALID_REQUEST (AclControlManager.validateNewAcl and
    AclApis' checks), or None."""
    if binding.resource_type not in _known(ResourceType) or binding.resource_type in (0, 1):
        return f"Invalid resourceType {_name(ResourceType, binding.resource_type)}"
    if binding.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return f"Invalid patternType {_name(PatternType, binding.pattern_type)}"
    if binding.operation not in _known(AclOperation) or binding.operation in (0, 1):
        return f"Invalid operation {_name(AclOperation, binding.operation)}"
    if binding.permission_type not in (AclPermissionType.DENY, AclPermissionType.ALLOW):
        return f"Invalid permissionType {_name(AclPermissionType, binding.permission_type)}"
    if not binding.resource_name:
        return "Resource name should not be empty"
    if binding.resource_type == ResourceType.CLUSTER and binding.resource_name != CLUSTER_NAME:
        return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    if parse_principal(binding.principal) is None:
        return f"Could not parse principal from `{binding.principal}` (no colon is found)"
    return None


# -- the authorizer -------------------------------------------------------------------------


class _Section:
    """The bindings of one resource type: literal ones by name (the wildcard among them) and
    the prefixed ones as (prefix, bindings)."""

    __slots__ = ("literal", "prefixed")

    def __init__(self) -> None:
        self.literal: dict[str, list[AclBinding]] = {}
        self.prefixed: dict[str, list[AclBinding]] = {}

    def applying(self, name: str) -> Iterable[AclBinding]:
        """Every binding whose pattern covers ``name``."""
        literal = self.literal
        yield from literal.get(name, ())
        if name != WILDCARD:
            yield from literal.get(WILDCARD, ())
        for prefix, bindings in self.prefixed.items():
            if name.startswith(prefix):
                yield from bindings


def _entry_applies(
    binding: AclBinding, principals: tuple[str, str], host: str, operation: AclOperation
) -> bool:
    if binding.principal not in principals:
        return False
    if binding.host not in (WILDCARD, host):
        return False
    if binding.operation in (AclOperation.ALL, operation):
        return True
    if binding.permission_type != AclPermissionType.ALLOW:
        return False
    implied = _IMPLIED_BY.get(operation)
    return implied is not None and binding.operation in implied


class Authorizer:
    """Decides requests from the ACLs of the metadata image (:meth:`set_acls` on a change)."""

    def __init__(self, super_users: Iterable[str] = (), allow_if_no_acl: bool = False) -> None:
        self.super_users = frozenset(super_users)
        self.allow_if_no_acl = allow_if_no_acl
        self._sections: dict[int, _Section] = {}

    def set_acls(self, bindings: Iterable[AclBinding]) -> None:
        sections: dict[int, _Section] = {}
        for binding in bindings:
            section = sections.setdefault(binding.resource_type, _Section())
            table = (
                section.prefixed
                if binding.pattern_type == PatternType.PREFIXED
                else section.literal
            )
            table.setdefault(binding.resource_name, []).append(binding)
        self._sections = sections

    def authorize(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> bool:
        if principal in self.super_users:
            return True
        section = self._sections.get(resource_type)
        if section is None:
            return self.allow_if_no_acl
        principals = (principal, WILDCARD_PRINCIPAL)
        found_any = allowed = False
        for binding in section.applying(name):
            found_any = True
            if not _entry_applies(binding, principals, host, operation):
                continue
            if binding.permission_type == AclPermissionType.DENY:
                return False
            allowed = True
        if allowed:
            return True
        return not found_any and self.allow_if_no_acl

    def authorize_any(
        self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        """Whether some resource of the type is open to ``operation`` (Kafka's default
        ``Authorizer.authorizeByResourceType``, e.g. WRITE on any topic for an idempotent
        producer).  A made-up name is asked first (super users; a type no ACL names under
        ``allow.everyone.if.no.acl.found``); then only bindings of ``operation`` itself or
        ALL count, not implied ones: a DENY on the wildcard closes every resource, an ALLOW
        on it opens one, else an ALLOW not covered by a DENY of the same literal name or of
        a prefix of its name."""
        if self.authorize(principal, host, operation, resource_type, "hardcode"):
            return True
        section = self._sections.get(resource_type)
        if section is None:
            return False
        principals = (principal, WILDCARD_PRINCIPAL)
        denied_literal: set[str] = set()
        denied_prefixes: set[str] = set()
        allows: list[AclBinding] = []
        for table in (section.literal, section.prefixed):
            for bindings in table.values():
                for binding in bindings:
                    if binding.principal not in principals or binding.host not in (WILDCARD, host):
                        continue
                    if binding.operation not in (AclOperation.ALL, operation):
                        continue
                    if binding.permission_type == AclPermissionType.ALLOW:
                        allows.append(binding)
                    elif binding.pattern_type == PatternType.PREFIXED:
                        denied_prefixes.add(binding.resource_name)
                    elif binding.resource_name == WILDCARD:
                        return False
                    else:
                        denied_literal.add(binding.resource_name)
        if any(
            a.pattern_type == PatternType.LITERAL and a.resource_name == WILDCARD for a in allows
        ):
            return True
        for allow in allows:
            name = allow.resource_name
            if allow.pattern_type == PatternType.LITERAL and name in denied_literal:
                continue
            if any(name[:length] in denied_prefixes for length in range(1, len(name) + 1)):
                continue
            return True
        return False

    def authorized_operations(
        self, principal: str, host: str, resource_type: ResourceType, name: str
    ) -> int:
        """The bit field of the resource type's operations the principal may do (bit n for
        operation n), as Metadata, DescribeGroups and DescribeCluster report."""
        bits = 0
        for operation in SUPPORTED_OPERATIONS.get(resource_type, ()):
            if self.authorize(principal, host, operation, resource_type, name):
                bits |= 1 << operation
        return bits


# -- the controller's commands --------------------------------------------------------------


def create_acls(
    existing: Mapping[str, AclBinding], bindings: Iterable[AclBinding]
) -> tuple[list[tuple[str, AclBinding]], list[tuple[ErrorCode, str] | None]]:
    """New (id, binding) pairs to record, and one result per binding: a binding already
    there (or asked twice) is not added again and succeeds, as in Kafka."""
    present = {binding: acl_id for acl_id, binding in existing.items()}
    added: list[tuple[str, AclBinding]] = []
    results: list[tuple[ErrorCode, str] | None] = []
    for binding in bindings:
        problem = binding_error(binding)
        if problem is not None:
            results.append((ErrorCode.INVALID_REQUEST, problem))
            continue
        if binding not in present:
            acl_id = str(uuid.uuid4())
            present[binding] = acl_id
            added.append((acl_id, binding))
        results.append(None)
    return added, results


def delete_acls(
    existing: Mapping[str, AclBinding], filters: Iterable[AclFilter]
) -> tuple[list[str], list[tuple[tuple[ErrorCode, str] | None, list[AclBinding]]]]:
    """Ids to remove, and per filter an error or the bindings it matched (a binding two
    filters match is removed once and listed under both, as KRaft's AclControlManager)."""
    removed: dict[str, AclBinding] = {}
    results: list[tuple[tuple[ErrorCode, str] | None, list[AclBinding]]] = []
    for acl_filter in filters:
        problem = acl_filter.unknown_field()
        if problem is not None:
            results.append(((ErrorCode.INVALID_REQUEST, problem), []))
            continue
        matched = [
            (acl_id, binding) for acl_id, binding in existing.items() if acl_filter.matches(binding)
        ]
        removed.update(matched)
        results.append((None, [binding for _, binding in matched]))
    return list(removed), results


def describe_acls(bindings: Iterable[AclBinding], acl_filter: AclFilter) -> list[AclBinding]:
    """The bindings a DescribeAcls filter matches, in a stable order."""
    return sorted(binding for binding in bindings if acl_filter.matches(binding))
