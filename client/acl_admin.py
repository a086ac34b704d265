"""ACLs through the admin clients (KIP-140; resource patterns KIP-290): the requests as data,
shared by the async and the blocking :class:`AdminClient`.

An :class:`AclBinding` says that a principal (``User:alice``) connecting from a host (``*``:
any) is allowed or denied one operation on the resources a pattern names: a LITERAL name
(``*`` is every resource of the type) or a PREFIXED one.  An :class:`AclBindingFilter`
selects bindings for DescribeAcls and DeleteAcls: ANY (or None for the names) matches every
value of its field, and the pattern type MATCH selects every binding that applies to the
named resource (literal, wildcard and prefix bindings alike).

The enums carry Kafka's codes; a code this client does not know reads as UNKNOWN.  Every
broker may be asked (brokers forward CreateAcls and DeleteAcls to the controller).  A broker
without an authorizer answers SECURITY_DISABLED, a caller without DESCRIBE (describe) or
ALTER (create, delete) on the cluster CLUSTER_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from construct import Container

from client.errors import KafkaError, error_for
from client.protocol.acl import AclOperation, AclPermissionType, ResourceType
from client.protocol.acl import PatternType as ResourcePatternType
from client.protocol.errors import ErrorCode

DESCRIBE_ACLS = 29
CREATE_ACLS = 30
DELETE_ACLS = 31
# Version 0 of the three has no pattern type: every pattern is LITERAL.
PATTERN_TYPE_MIN_VERSION = 1

CLUSTER_NAME = "kafka-cluster"
WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"

T = TypeVar("T")
__all__ = [
    "CLUSTER_NAME",
    "CREATE_ACLS",
    "DELETE_ACLS",
    "DESCRIBE_ACLS",
    "PATTERN_TYPE_MIN_VERSION",
    "WILDCARD",
    "WILDCARD_PRINCIPAL",
    "AclBinding",
    "AclBindingFilter",
    "AclOperation",
    "AclPermissionType",
    "AclRequest",
    "ResourcePatternType",
    "ResourceType",
    "create_request",
    "create_results",
    "creation_body",
    "delete_request",
    "delete_results",
    "describe_request",
    "describe_results",
    "filter_body",
    "raise_first",
]

E = TypeVar("E", bound=enum.IntEnum)


def _member(kind: type[E], code: int) -> E:
    """``kind``'s member for ``code``; UNKNOWN (0 in each of the four) for codes we lack."""
    try:
        return kind(code)
    except ValueError:
        return kind(0)


def _coerce(item: Any, names: Iterable[tuple[str, type[enum.IntEnum]]]) -> None:
    """Turn the plain ints given for enum fields of a frozen dataclass into members."""
    for name, kind in names:
        value = getattr(item, name)
        if not isinstance(value, kind):
            object.__setattr__(item, name, kind(value))


_ENUM_FIELDS = (
    ("resource_type", ResourceType),
    ("pattern_type", ResourcePatternType),
    ("operation", AclOperation),
    ("permission_type", AclPermissionType),
)


@dataclass(frozen=True, slots=True)
class AclBinding:
    """One ACL: ``principal`` from ``host`` is allowed or denied ``operation`` on the
    resources the pattern (type, name, pattern type) names.  Plain codes given for the enum
    fields are turned into the enums.

    ``AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice",
    "*", AclOperation.READ, AclPermissionType.ALLOW)``
    """

    resource_type: ResourceType
    resource_name: str
    pattern_type: ResourcePatternType
    principal: str
    host: str
    operation: AclOperation
    permission_type: AclPermissionType

    def __post_init__(self) -> None:
        _coerce(self, _ENUM_FIELDS)

    def to_filter(self) -> AclBindingFilter:
        """The filter matching exactly this binding."""
        return AclBindingFilter(
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission_type,
        )

    def __str__(self) -> str:
        return (
            f"{self.principal} {self.permission_type.name} {self.operation.name} from host "
            f"{self.host} on {self.resource_type.name}:{self.pattern_type.name}:"
            f"{self.resource_name}"
        )


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    """Selects bindings: every field left at its default (ANY, or None for the names)
    matches anything; ``AclBindingFilter.ANY`` matches every binding.

    ``AclBindingFilter(ResourceType.TOPIC, "orders", ResourcePatternType.MATCH)``: every
    binding that applies to topic ``orders``.
    """

    ANY: ClassVar[AclBindingFilter]

    resource_type: ResourceType = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: ResourcePatternType = ResourcePatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: AclOperation = AclOperation.ANY
    permission_type: AclPermissionType = AclPermissionType.ANY

    def __post_init__(self) -> None:
        _coerce(self, _ENUM_FIELDS)

    def __str__(self) -> str:
        def named(value: str | None) -> str:
            return "<any>" if value is None else value

        return (
            f"resource {self.resource_type.name}:{self.pattern_type.name}:"
            f"{named(self.resource_name)}, principal {named(self.principal)}, host "
            f"{named(self.host)}, operation {self.operation.name}, permission "
            f"{self.permission_type.name}"
        )


AclBindingFilter.ANY = AclBindingFilter()


@dataclass(frozen=True, slots=True)
class AclRequest(Generic[T]):
    """One ACL request for any broker: its body, the lowest version that can carry it, and
    how to read the answer (raising the request's error, returning per-item outcomes)."""

    api_key: int
    body: dict[str, Any]
    read: Callable[[Container], T]
    min_version: int | None = None


def _min_version(pattern_types: Iterable[ResourcePatternType]) -> int | None:
    """v1 when a pattern type other than LITERAL must be sent (v0 has no field for it)."""
    literal_only = all(kind == ResourcePatternType.LITERAL for kind in pattern_types)
    return None if literal_only else PATTERN_TYPE_MIN_VERSION


def filter_body(acl_filter: AclBindingFilter) -> dict[str, Any]:
    """DescribeAcls' request, and each entry of DeleteAcls' filters."""
    return {
        "resource_type_filter": int(acl_filter.resource_type),
        "resource_name_filter": acl_filter.resource_name,
        "pattern_type_filter": int(acl_filter.pattern_type),
        "principal_filter": acl_filter.principal,
        "host_filter": acl_filter.host,
        "operation": int(acl_filter.operation),
        "permission_type": int(acl_filter.permission_type),
    }


def creation_body(binding: AclBinding) -> dict[str, Any]:
    """One entry of CreateAcls' creations."""
    return {
        "resource_type": int(binding.resource_type),
        "resource_name": binding.resource_name,
        "resource_pattern_type": int(binding.pattern_type),
        "principal": binding.principal,
        "host": binding.host,
        "operation": int(binding.operation),
        "permission_type": int(binding.permission_type),
    }


def _binding(pattern: Container, entry: Container) -> AclBinding:
    """A binding read from a response: the resource pattern's fields from ``pattern``
    (``pattern_type`` is absent at v0: LITERAL), the entry's from ``entry``."""
    return AclBinding(
        _member(ResourceType, pattern.resource_type),
        pattern.resource_name,
        _member(ResourcePatternType, pattern.get("pattern_type", ResourcePatternType.LITERAL)),
        entry.principal,
        entry.host,
        _member(AclOperation, entry.operation),
        _member(AclPermissionType, entry.permission_type),
    )


def _refusal(code: int, message: str | None, what: str) -> KafkaError:
    """The typed error of ``code``, its message naming the item refused."""
    return error_for(code, f"{what}: {message}" if message else what)


def describe_results(response: Container) -> list[AclBinding]:
    """The bindings a DescribeAcls answer lists, in its order; raises its error."""
    if response.error_code != ErrorCode.NONE:
        raise error_for(response.error_code, response.error_message)
    return [
        _binding(resource, entry)
        for resource in response.resources or ()
        for entry in resource.acls or ()
    ]


def describe_request(acl_filter: AclBindingFilter) -> AclRequest[list[AclBinding]]:
    return AclRequest(
        DESCRIBE_ACLS,
        filter_body(acl_filter),
        describe_results,
        _min_version([acl_filter.pattern_type]),
    )


def create_results(
    bindings: list[AclBinding], response: Container
) -> dict[AclBinding, KafkaError | None]:
    """Binding -> None (created, or there already) or the broker's refusal; results come in
    the order of the creations."""
    results = list(response.results or ())
    outcomes: dict[AclBinding, KafkaError | None] = {}
    for index, binding in enumerate(bindings):
        if index >= len(results):
            error: KafkaError | None = error_for(
                ErrorCode.UNKNOWN_SERVER_ERROR, f"no CreateAcls result for ACL {binding}"
            )
        elif results[index].error_code != ErrorCode.NONE:
            result = results[index]
            what = f"cannot create ACL {binding}"
            error = _refusal(result.error_code, result.error_message, what)
        else:
            error = None
        # The same binding twice: one failure of it is its outcome.
        if outcomes.get(binding) is None:
            outcomes[binding] = error
    return outcomes


def create_request(
    bindings: Iterable[AclBinding],
) -> AclRequest[dict[AclBinding, KafkaError | None]]:
    creations = list(bindings)
    return AclRequest(
        CREATE_ACLS,
        {"creations": [creation_body(binding) for binding in creations]},
        lambda response: create_results(creations, response),
        _min_version(binding.pattern_type for binding in creations),
    )


def delete_results(
    filters: list[AclBindingFilter], response: Container
) -> dict[AclBindingFilter, list[AclBinding]]:
    """Filter -> the bindings it removed, as the broker lists them (equal filters share one
    list).  Raises the first refusal (SECURITY_DISABLED, INVALID_REQUEST, ...) after reading
    every result: the other filters' bindings are gone all the same."""
    results = list(response.filter_results or ())
    removed: dict[AclBindingFilter, list[AclBinding]] = {}
    failures: list[KafkaError] = []
    for index, acl_filter in enumerate(filters):
        gone = removed.setdefault(acl_filter, [])
        if index >= len(results):
            failures.append(
                error_for(
                    ErrorCode.UNKNOWN_SERVER_ERROR,
                    f"no DeleteAcls result for the filter ({acl_filter})",
                )
            )
            continue
        result = results[index]
        if result.error_code != ErrorCode.NONE:
            what = f"cannot delete the ACLs matching ({acl_filter})"
            failures.append(_refusal(result.error_code, result.error_message, what))
            continue
        for matching in result.matching_acls or ():
            binding = _binding(matching, matching)
            if matching.error_code != ErrorCode.NONE:
                what = f"cannot delete ACL {binding}"
                failures.append(_refusal(matching.error_code, matching.error_message, what))
            elif binding not in gone:
                gone.append(binding)
    if failures:
        raise failures[0]
    return removed


def delete_request(
    filters: Iterable[AclBindingFilter],
) -> AclRequest[dict[AclBindingFilter, list[AclBinding]]]:
    wanted = list(filters)
    return AclRequest(
        DELETE_ACLS,
        {"filters": [filter_body(acl_filter) for acl_filter in wanted]},
        lambda response: delete_results(wanted, response),
        _min_version(acl_filter.pattern_type for acl_filter in wanted),
    )


def raise_first(outcomes: dict[AclBinding, KafkaError | None]) -> None:
    """Raise the first failure of per-binding outcomes, if any."""
    for error in outcomes.values():
        if error is not None:
            raise error
