"""ACLs: the StandardAuthorizer rules (``broker.core.acl.Authorizer``), ACL filters, the
controller's CreateAcls / DeleteAcls commands, and the ACL records of the cluster metadata.

The expectations are Kafka's semantics (``StandardAuthorizerData``, ``Authorizer``'s default
``authorizeByResourceType``, ``AclControlManager``, ``ResourcePatternFilter`` /
``AccessControlEntryFilter``), written independently of the module under test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import pytest

from broker.core.acl import (
    CLUSTER_NAME,
    SUPPORTED_OPERATIONS,
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AclBinding,
    AclFilter,
    AclOperation,
    AclPermissionType,
    Authorizer,
    PatternType,
    ResourceType,
    binding_error,
    create_acls,
    delete_acls,
    describe_acls,
)
from broker.core.metadata import (
    AccessControlEntryRecord,
    MetadataImage,
    RemoveAccessControlEntryRecord,
    record_from_dict,
    record_to_dict,
)
from client.protocol.errors import ErrorCode

Op = AclOperation
RT = ResourceType
PT = PatternType
ALLOW = AclPermissionType.ALLOW
DENY = AclPermissionType.DENY

ALICE = "User:alice"
BOB = "User:bob"
CAROL = "User:carol"
ADMIN = "User:admin"
HOST = "10.0.0.1"
OTHER_HOST = "10.0.0.2"

# Every operation a binding may carry (ANY and UNKNOWN are filter-only / invalid).
BINDING_OPERATIONS = tuple(op for op in AclOperation if op not in (Op.UNKNOWN, Op.ANY))
# Every operation a request may ask for (a request never asks for ALL).
REQUEST_OPERATIONS = tuple(op for op in BINDING_OPERATIONS if op != Op.ALL)
CONCRETE_TYPES = (RT.TOPIC, RT.GROUP, RT.CLUSTER, RT.TRANSACTIONAL_ID, RT.DELEGATION_TOKEN, RT.USER)


def acl(
    operation: AclOperation,
    permission: AclPermissionType = ALLOW,
    *,
    name: str = "orders",
    resource_type: ResourceType = RT.TOPIC,
    pattern: PatternType = PT.LITERAL,
    principal: str = ALICE,
    host: str = WILDCARD,
) -> AclBinding:
    """A binding, by default an ALLOW for alice from any host on the literal topic orders."""
    return AclBinding(resource_type, name, pattern, principal, host, operation, permission)


def authorizer(
    *bindings: AclBinding, super_users: Iterable[str] = (), allow_if_no_acl: bool = False
) -> Authorizer:
    auth = Authorizer(super_users=super_users, allow_if_no_acl=allow_if_no_acl)
    auth.set_acls(bindings)
    return auth


def can(
    auth: Authorizer,
    operation: AclOperation,
    name: str = "orders",
    *,
    principal: str = ALICE,
    host: str = HOST,
    resource_type: ResourceType = RT.TOPIC,
) -> bool:
    return auth.authorize(principal, host, operation, resource_type, name)


def any_of_type(
    auth: Authorizer,
    operation: AclOperation,
    *,
    principal: str = ALICE,
    host: str = HOST,
    resource_type: ResourceType = RT.TOPIC,
) -> bool:
    return auth.authorize_any(principal, host, operation, resource_type)


def bits(operations: Iterable[AclOperation]) -> int:
    field = 0
    for operation in operations:
        field |= 1 << operation
    return field


def acl_filter(
    resource_type: int = RT.ANY,
    name: str | None = None,
    pattern: int = PT.ANY,
    *,
    principal: str | None = None,
    host: str | None = None,
    operation: int = Op.ANY,
    permission: int = AclPermissionType.ANY,
) -> AclFilter:
    return AclFilter(resource_type, name, pattern, principal, host, operation, permission)


# -- super users --------------------------------------------------------------------------


def test_super_user_is_allowed_everything_without_any_acl() -> None:
    auth = authorizer(super_users=[ADMIN])
    for resource_type in CONCRETE_TYPES:
        for operation in REQUEST_OPERATIONS:
            assert auth.authorize(ADMIN, HOST, operation, resource_type, "anything")
    assert not can(auth, Op.READ)  # alice is no super user, and allow_if_no_acl is off


def test_super_user_is_allowed_even_when_a_deny_applies() -> None:
    auth = authorizer(
        acl(Op.ALL, DENY, name=WILDCARD, principal=WILDCARD_PRINCIPAL),
        acl(Op.ALL, DENY, name="orders", principal=ADMIN),
        acl(Op.READ, DENY, name="ord", pattern=PT.PREFIXED, principal=ADMIN, host=HOST),
        super_users=[ADMIN],
    )
    for operation in REQUEST_OPERATIONS:
        assert can(auth, operation, principal=ADMIN)
    assert not can(auth, Op.READ)


def test_super_users_are_matched_by_the_whole_principal() -> None:
    auth = authorizer(super_users=["User:admin"])
    assert can(auth, Op.ALTER, principal="User:admin")
    assert not can(auth, Op.ALTER, principal="Group:admin")
    assert not can(auth, Op.ALTER, principal="User:admin2")


# -- which bindings apply: resource pattern -------------------------------------------------


def test_literal_binding_applies_only_to_the_exact_name() -> None:
    auth = authorizer(acl(Op.READ, name="orders"))
    assert can(auth, Op.READ, "orders")
    for other in ("orders2", "order", "Orders", "xorders", "", "*"):
        assert not can(auth, Op.READ, other), other


def test_literal_wildcard_applies_to_every_resource_of_its_type() -> None:
    auth = authorizer(acl(Op.READ, name=WILDCARD))
    for name in ("orders", "a", "*", "anything-at-all"):
        assert can(auth, Op.READ, name), name
    assert not can(auth, Op.READ, "orders", resource_type=RT.GROUP)


def test_prefixed_binding_applies_to_names_starting_with_the_prefix() -> None:
    auth = authorizer(acl(Op.WRITE, name="ord", pattern=PT.PREFIXED))
    for name in ("ord", "orders", "ord-x", "ordinal"):
        assert can(auth, Op.WRITE, name), name
    for name in ("or", "xord", "Orders", "o", "*"):
        assert not can(auth, Op.WRITE, name), name


def test_prefixed_star_is_a_plain_prefix_not_a_wildcard() -> None:
    auth = authorizer(acl(Op.READ, name="*", pattern=PT.PREFIXED))
    assert can(auth, Op.READ, "*")
    assert can(auth, Op.READ, "*orders")
    assert not can(auth, Op.READ, "orders")


def test_binding_of_another_resource_type_never_applies() -> None:
    auth = authorizer(
        acl(Op.READ, name="orders", resource_type=RT.GROUP),
        acl(Op.READ, name=WILDCARD, resource_type=RT.TRANSACTIONAL_ID),
        acl(Op.READ, name="ord", pattern=PT.PREFIXED, resource_type=RT.USER),
    )
    assert not can(auth, Op.READ, "orders")
    assert can(auth, Op.READ, "orders", resource_type=RT.GROUP)


def test_deny_of_another_resource_type_does_not_deny() -> None:
    auth = authorizer(acl(Op.READ), acl(Op.ALL, DENY, name=WILDCARD, resource_type=RT.GROUP))
    assert can(auth, Op.READ)
    assert not can(auth, Op.READ, resource_type=RT.GROUP)


# -- which bindings apply: principal and host -----------------------------------------------


def test_principal_must_be_the_requests_or_the_wildcard_user() -> None:
    auth = authorizer(acl(Op.READ, principal=BOB), acl(Op.WRITE, principal=WILDCARD_PRINCIPAL))
    assert not can(auth, Op.READ, principal=ALICE)
    assert can(auth, Op.READ, principal=BOB)
    for principal in (ALICE, BOB, CAROL):
        assert can(auth, Op.WRITE, principal=principal), principal


def test_principal_match_is_exact() -> None:
    auth = authorizer(acl(Op.READ, principal=ALICE))
    assert can(auth, Op.READ, principal=ALICE)
    for principal in ("User:Alice", "User:alice2", "Group:alice", "alice"):
        assert not can(auth, Op.READ, principal=principal), principal


def test_host_must_be_the_clients_or_the_wildcard() -> None:
    auth = authorizer(acl(Op.READ, host=HOST), acl(Op.WRITE, host=WILDCARD))
    assert can(auth, Op.READ, host=HOST)
    assert not can(auth, Op.READ, host=OTHER_HOST)
    assert can(auth, Op.WRITE, host=HOST)
    assert can(auth, Op.WRITE, host=OTHER_HOST)


def test_deny_for_another_host_or_principal_does_not_deny() -> None:
    auth = authorizer(
        acl(Op.READ),
        acl(Op.READ, DENY, host=OTHER_HOST),
        acl(Op.READ, DENY, principal=BOB),
    )
    assert can(auth, Op.READ, host=HOST)
    assert not can(auth, Op.READ, host=OTHER_HOST)
    assert not can(auth, Op.READ, principal=BOB)


# -- DENY over ALLOW, ALL ----------------------------------------------------------------


def test_deny_that_applies_wins_over_allow() -> None:
    auth = authorizer(acl(Op.READ), acl(Op.READ, DENY))
    assert not can(auth, Op.READ)


@pytest.mark.parametrize(
    "deny",
    [
        acl(Op.READ, DENY, name="orders"),
        acl(Op.READ, DENY, name=WILDCARD),
        acl(Op.READ, DENY, name="or", pattern=PT.PREFIXED),
        acl(Op.READ, DENY, name="orders", pattern=PT.PREFIXED),
        acl(Op.READ, DENY, principal=WILDCARD_PRINCIPAL),
        acl(Op.READ, DENY, host=HOST),
        acl(Op.ALL, DENY),
        acl(Op.ALL, DENY, name="o", pattern=PT.PREFIXED, principal=WILDCARD_PRINCIPAL),
    ],
    ids=str,
)
def test_deny_through_any_pattern_wins_over_a_literal_allow(deny: AclBinding) -> None:
    allows = (acl(Op.READ), acl(Op.ALL, name=WILDCARD), acl(Op.READ, name="o", pattern=PT.PREFIXED))
    assert can(authorizer(*allows), Op.READ)
    assert not can(authorizer(*allows, deny), Op.READ)
    assert not can(authorizer(deny, *allows), Op.READ)


def test_allow_all_matches_every_operation() -> None:
    auth = authorizer(acl(Op.ALL))
    for operation in REQUEST_OPERATIONS:
        assert can(auth, operation), operation
    assert not can(auth, Op.READ, "other")


def test_deny_all_denies_every_operation() -> None:
    everything = [acl(op) for op in REQUEST_OPERATIONS]
    auth = authorizer(*everything, acl(Op.ALL, DENY))
    for operation in REQUEST_OPERATIONS:
        assert not can(auth, operation), operation
    assert not can(authorizer(acl(Op.ALL), acl(Op.ALL, DENY)), Op.READ)


def test_allow_of_one_operation_does_not_allow_another() -> None:
    auth = authorizer(acl(Op.WRITE))
    assert can(auth, Op.WRITE)
    for operation in REQUEST_OPERATIONS:
        if operation not in (Op.WRITE, Op.DESCRIBE):
            assert not can(auth, operation), operation


# -- implied operations --------------------------------------------------------------------


@pytest.mark.parametrize("granted", [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.DESCRIBE])
def test_allow_of_read_write_delete_alter_implies_describe(granted: AclOperation) -> None:
    auth = authorizer(acl(granted))
    assert can(auth, Op.DESCRIBE)
    assert not can(auth, Op.DESCRIBE, "other")


@pytest.mark.parametrize("granted", [Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS])
def test_allow_of_alter_configs_implies_describe_configs(granted: AclOperation) -> None:
    assert can(authorizer(acl(granted)), Op.DESCRIBE_CONFIGS)


@pytest.mark.parametrize(
    ("granted", "asked"),
    [
        (Op.CREATE, Op.DESCRIBE),
        (Op.CLUSTER_ACTION, Op.DESCRIBE),
        (Op.IDEMPOTENT_WRITE, Op.DESCRIBE),
        (Op.DESCRIBE_CONFIGS, Op.DESCRIBE),
        (Op.ALTER_CONFIGS, Op.DESCRIBE),
        (Op.DESCRIBE, Op.READ),
        (Op.DESCRIBE, Op.DESCRIBE_CONFIGS),
        (Op.READ, Op.WRITE),
        (Op.WRITE, Op.READ),
        (Op.ALTER, Op.ALTER_CONFIGS),
        (Op.ALTER, Op.DESCRIBE_CONFIGS),
        (Op.READ, Op.DESCRIBE_CONFIGS),
        (Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS),
        (Op.DESCRIBE_TOKENS, Op.CREATE_TOKENS),
    ],
)
def test_operations_not_implied(granted: AclOperation, asked: AclOperation) -> None:
    assert not can(authorizer(acl(granted)), asked)


@pytest.mark.parametrize(
    ("denied", "implied"),
    [
        (Op.READ, Op.DESCRIBE),
        (Op.WRITE, Op.DESCRIBE),
        (Op.DELETE, Op.DESCRIBE),
        (Op.ALTER, Op.DESCRIBE),
        (Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS),
    ],
)
def test_deny_does_not_deny_what_its_operation_implies(
    denied: AclOperation, implied: AclOperation
) -> None:
    auth = authorizer(acl(implied), acl(denied, DENY))
    assert can(auth, implied)
    assert not can(auth, denied)


def test_deny_read_does_not_stop_describe_implied_by_allow_write() -> None:
    auth = authorizer(acl(Op.WRITE), acl(Op.READ, DENY))
    assert can(auth, Op.DESCRIBE)
    assert can(auth, Op.WRITE)
    assert not can(auth, Op.READ)


def test_deny_describe_denies_describe_implied_by_an_allow() -> None:
    auth = authorizer(acl(Op.READ), acl(Op.DESCRIBE, DENY))
    assert can(auth, Op.READ)
    assert not can(auth, Op.DESCRIBE)


def test_implied_describe_through_prefix_and_wildcard_user() -> None:
    auth = authorizer(acl(Op.ALTER, name="ord", pattern=PT.PREFIXED, principal=WILDCARD_PRINCIPAL))
    assert can(auth, Op.DESCRIBE, "orders", principal=CAROL)


# -- allow.everyone.if.no.acl.found ------------------------------------------------------


@pytest.mark.parametrize("allow_if_no_acl", [False, True])
def test_no_binding_at_all_lets_allow_if_no_acl_decide(allow_if_no_acl: bool) -> None:
    auth = authorizer(allow_if_no_acl=allow_if_no_acl)
    for resource_type in CONCRETE_TYPES:
        for operation in REQUEST_OPERATIONS:
            assert auth.authorize(ALICE, HOST, operation, resource_type, "x") is allow_if_no_acl


@pytest.mark.parametrize("allow_if_no_acl", [False, True])
def test_bindings_on_other_resources_leave_it_to_allow_if_no_acl(allow_if_no_acl: bool) -> None:
    auth = authorizer(
        acl(Op.ALL, DENY, name="payments"),
        acl(Op.ALL, DENY, name="pay", pattern=PT.PREFIXED),
        acl(Op.ALL, DENY, name="orders-x", pattern=PT.PREFIXED),
        acl(Op.ALL, DENY, name=WILDCARD, resource_type=RT.GROUP),
        acl(Op.ALL, DENY, name="orders", resource_type=RT.GROUP),
        allow_if_no_acl=allow_if_no_acl,
    )
    assert can(auth, Op.READ, "orders") is allow_if_no_acl
    assert not can(auth, Op.READ, "payments")


@pytest.mark.parametrize(
    "naming",
    [
        acl(Op.READ, principal=BOB),
        acl(Op.READ, name=WILDCARD, principal=BOB),
        acl(Op.READ, name="ord", pattern=PT.PREFIXED, principal=BOB),
        acl(Op.READ, host=OTHER_HOST),
        acl(Op.WRITE),
        acl(Op.DESCRIBE),
        acl(Op.READ, DENY, principal=BOB),
    ],
    ids=str,
)
def test_a_binding_naming_the_resource_denies_those_it_does_not_apply_to(
    naming: AclBinding,
) -> None:
    """Once some binding names the resource, allow_if_no_acl no longer decides for it."""
    auth = authorizer(naming, allow_if_no_acl=True)
    assert not can(auth, Op.READ, "orders")
    if naming.resource_name != WILDCARD:  # the wildcard names every topic
        assert can(auth, Op.READ, "unnamed")


def test_allow_if_no_acl_does_not_override_a_deny() -> None:
    auth = authorizer(acl(Op.READ, DENY), allow_if_no_acl=True)
    assert not can(auth, Op.READ)
    assert not can(auth, Op.DESCRIBE)  # named by the DENY, and DENY READ implies nothing
    assert can(auth, Op.READ, principal=BOB) is False


def test_set_acls_replaces_the_bindings() -> None:
    auth = authorizer(acl(Op.READ))
    assert can(auth, Op.READ)
    auth.set_acls([acl(Op.WRITE, name="payments")])
    assert not can(auth, Op.READ)
    assert can(auth, Op.WRITE, "payments")
    auth.set_acls([])
    assert not can(auth, Op.WRITE, "payments")


def test_duplicate_bindings_are_harmless() -> None:
    auth = authorizer(acl(Op.READ), acl(Op.READ), acl(Op.READ, DENY, principal=BOB))
    assert can(auth, Op.READ)
    assert not can(auth, Op.READ, principal=BOB)


# -- authorize_any (authorizeByResourceType) -----------------------------------------------


def test_authorize_any_without_bindings_is_false() -> None:
    auth = authorizer()
    for resource_type in CONCRETE_TYPES:
        assert not any_of_type(auth, Op.WRITE, resource_type=resource_type)


def test_authorize_any_super_user_is_true() -> None:
    auth = authorizer(super_users=[ADMIN])
    assert any_of_type(auth, Op.WRITE, principal=ADMIN)
    denied = authorizer(
        acl(Op.ALL, DENY, name=WILDCARD, principal=WILDCARD_PRINCIPAL), super_users=[ADMIN]
    )
    assert any_of_type(denied, Op.WRITE, principal=ADMIN)
    assert not any_of_type(denied, Op.WRITE)


def test_authorize_any_true_for_an_allow_on_some_resource() -> None:
    for allow in (
        acl(Op.WRITE, name="orders"),
        acl(Op.WRITE, name="ord", pattern=PT.PREFIXED),
        acl(Op.WRITE, name=WILDCARD),
        acl(Op.WRITE, principal=WILDCARD_PRINCIPAL),
        acl(Op.WRITE, host=HOST),
        acl(Op.ALL),
    ):
        assert any_of_type(authorizer(allow), Op.WRITE), allow


def test_authorize_any_ignores_allows_that_do_not_apply() -> None:
    for allow in (
        acl(Op.WRITE, principal=BOB),
        acl(Op.WRITE, host=OTHER_HOST),
        acl(Op.READ),
        acl(Op.WRITE, resource_type=RT.GROUP),
        acl(Op.WRITE, resource_type=RT.TRANSACTIONAL_ID, name=WILDCARD),
    ):
        assert not any_of_type(authorizer(allow), Op.WRITE), allow


def test_authorize_any_needs_the_operation_itself_not_one_implying_it() -> None:
    """authorizeByResourceType matches a binding's operation to ``op`` or ALL only: the
    DESCRIBE implied by an ALLOW READ on one topic does not count."""
    auth = authorizer(acl(Op.READ, name="orders"))
    assert not any_of_type(auth, Op.DESCRIBE)
    assert not any_of_type(authorizer(acl(Op.ALTER_CONFIGS)), Op.DESCRIBE_CONFIGS)


def test_authorize_any_literal_deny_covers_the_same_literal_only() -> None:
    assert not any_of_type(authorizer(acl(Op.WRITE), acl(Op.WRITE, DENY)), Op.WRITE)
    assert not any_of_type(authorizer(acl(Op.WRITE), acl(Op.ALL, DENY)), Op.WRITE)
    other = authorizer(acl(Op.WRITE, name="orders"), acl(Op.WRITE, DENY, name="payments"))
    assert any_of_type(other, Op.WRITE)
    # A literal DENY does not cover a PREFIXED ALLOW of the same name: "orders-x" is open.
    prefixed = authorizer(acl(Op.WRITE, pattern=PT.PREFIXED), acl(Op.WRITE, DENY))
    assert any_of_type(prefixed, Op.WRITE)


def test_authorize_any_prefix_deny_covers_longer_allows() -> None:
    deny = acl(Op.WRITE, DENY, name="ord", pattern=PT.PREFIXED)
    assert not any_of_type(authorizer(acl(Op.WRITE, name="orders"), deny), Op.WRITE)
    assert not any_of_type(authorizer(acl(Op.WRITE, name="ord"), deny), Op.WRITE)
    assert not any_of_type(
        authorizer(acl(Op.WRITE, name="orders", pattern=PT.PREFIXED), deny), Op.WRITE
    )
    assert not any_of_type(
        authorizer(acl(Op.WRITE, name="ord", pattern=PT.PREFIXED), deny), Op.WRITE
    )
    # A DENY of a longer prefix leaves the rest of a shorter ALLOW prefix open.
    longer = acl(Op.WRITE, DENY, name="orders", pattern=PT.PREFIXED)
    assert any_of_type(authorizer(acl(Op.WRITE, name="or", pattern=PT.PREFIXED), longer), Op.WRITE)
    # ... and one ALLOW not covered is enough.
    assert any_of_type(authorizer(acl(Op.WRITE, name="payments"), deny), Op.WRITE)


def test_authorize_any_deny_on_literal_wildcard_is_false() -> None:
    for allow in (
        acl(Op.WRITE, name="orders"),
        acl(Op.WRITE, name="o", pattern=PT.PREFIXED),
        acl(Op.WRITE, name=WILDCARD),
        acl(Op.ALL),
    ):
        for deny in (
            acl(Op.WRITE, DENY, name=WILDCARD),
            acl(Op.ALL, DENY, name=WILDCARD, principal=WILDCARD_PRINCIPAL),
        ):
            assert not any_of_type(authorizer(allow, deny), Op.WRITE), (allow, deny)
            assert not any_of_type(authorizer(deny, allow), Op.WRITE), (allow, deny)


def test_authorize_any_ignores_denies_that_do_not_apply() -> None:
    allow = acl(Op.WRITE)
    for deny in (
        acl(Op.WRITE, DENY, principal=BOB),
        acl(Op.WRITE, DENY, host=OTHER_HOST),
        acl(Op.READ, DENY),
        acl(Op.WRITE, DENY, name=WILDCARD, resource_type=RT.GROUP),
    ):
        assert any_of_type(authorizer(allow, deny), Op.WRITE), deny


def test_authorize_any_with_allow_if_no_acl_and_no_bindings_is_true() -> None:
    """Kafka's authorizeByResourceType first authorizes a hard-coded resource name: with
    allow.everyone.if.no.acl.found and no binding naming that, the answer is ALLOWED."""
    assert any_of_type(authorizer(allow_if_no_acl=True), Op.WRITE)


# -- authorized_operations ---------------------------------------------------------------


def test_authorized_operations_bit_field() -> None:
    auth = authorizer(acl(Op.READ), acl(Op.ALTER_CONFIGS))
    expected = bits([Op.READ, Op.DESCRIBE, Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS])
    assert auth.authorized_operations(ALICE, HOST, RT.TOPIC, "orders") == expected
    assert auth.authorized_operations(ALICE, HOST, RT.TOPIC, "other") == 0
    assert auth.authorized_operations(BOB, HOST, RT.TOPIC, "orders") == 0


def test_authorized_operations_bit_n_is_operation_n() -> None:
    auth = authorizer(acl(Op.WRITE))
    assert auth.authorized_operations(ALICE, HOST, RT.TOPIC, "orders") == (1 << 4) | (1 << 8)


@pytest.mark.parametrize("resource_type", CONCRETE_TYPES)
def test_authorized_operations_covers_only_supported_operations(
    resource_type: ResourceType,
) -> None:
    name = CLUSTER_NAME if resource_type == RT.CLUSTER else "r"
    supported = bits(SUPPORTED_OPERATIONS[resource_type])
    allow_all = authorizer(acl(Op.ALL, name=WILDCARD, resource_type=resource_type))
    assert allow_all.authorized_operations(ALICE, HOST, resource_type, name) == supported
    superuser = authorizer(super_users=[ADMIN])
    assert superuser.authorized_operations(ADMIN, HOST, resource_type, name) == supported
    default_allow = authorizer(allow_if_no_acl=True)
    assert default_allow.authorized_operations(ALICE, HOST, resource_type, name) == supported
    assert authorizer().authorized_operations(ALICE, HOST, resource_type, name) == 0


def test_supported_operations_are_kafkas() -> None:
    assert {rt: set(ops) for rt, ops in SUPPORTED_OPERATIONS.items()} == {
        RT.TOPIC: {
            Op.READ,
            Op.WRITE,
            Op.CREATE,
            Op.DESCRIBE,
            Op.DELETE,
            Op.ALTER,
            Op.DESCRIBE_CONFIGS,
            Op.ALTER_CONFIGS,
        },
        RT.GROUP: {Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS},
        RT.CLUSTER: {
            Op.CREATE,
            Op.CLUSTER_ACTION,
            Op.DESCRIBE_CONFIGS,
            Op.ALTER_CONFIGS,
            Op.IDEMPOTENT_WRITE,
            Op.ALTER,
            Op.DESCRIBE,
        },
        RT.TRANSACTIONAL_ID: {Op.DESCRIBE, Op.WRITE},
        RT.DELEGATION_TOKEN: {Op.DESCRIBE},
        RT.USER: {Op.CREATE_TOKENS, Op.DESCRIBE_TOKENS},
    }


def test_authorized_operations_with_a_deny() -> None:
    auth = authorizer(acl(Op.ALL), acl(Op.DELETE, DENY), acl(Op.DESCRIBE_CONFIGS, DENY))
    expected = bits(SUPPORTED_OPERATIONS[RT.TOPIC]) & ~bits([Op.DELETE, Op.DESCRIBE_CONFIGS])
    assert auth.authorized_operations(ALICE, HOST, RT.TOPIC, "orders") == expected


# -- AclFilter ---------------------------------------------------------------------------

LIT_ORDERS = acl(Op.READ, name="orders")
LIT_STAR = acl(Op.READ, name=WILDCARD)
LIT_ORD = acl(Op.READ, name="ord")
PRE_ORD = acl(Op.READ, name="ord", pattern=PT.PREFIXED)
PRE_ORDERS = acl(Op.READ, name="orders", pattern=PT.PREFIXED)
PRE_ORDERS_X = acl(Op.READ, name="orders-x", pattern=PT.PREFIXED)
PRE_STAR = acl(Op.READ, name=WILDCARD, pattern=PT.PREFIXED)
LIT_OTHER = acl(Op.READ, name="other")
GROUP_ORDERS = acl(Op.READ, name="orders", resource_type=RT.GROUP)
GROUP_STAR = acl(Op.READ, name=WILDCARD, resource_type=RT.GROUP)
PATTERN_BINDINGS = (
    LIT_ORDERS,
    LIT_STAR,
    LIT_ORD,
    PRE_ORD,
    PRE_ORDERS,
    PRE_ORDERS_X,
    PRE_STAR,
    LIT_OTHER,
    GROUP_ORDERS,
    GROUP_STAR,
)


def matching(flt: AclFilter, bindings: Iterable[AclBinding] = PATTERN_BINDINGS) -> set[AclBinding]:
    return {binding for binding in bindings if flt.matches(binding)}


def test_filter_any_matches_everything() -> None:
    everything = [
        *PATTERN_BINDINGS,
        acl(Op.ALL, DENY, principal=BOB, host=HOST),
        acl(Op.CLUSTER_ACTION, name=CLUSTER_NAME, resource_type=RT.CLUSTER),
    ]
    assert matching(acl_filter(), everything) == set(everything)


def test_filter_by_resource_type() -> None:
    assert matching(acl_filter(RT.GROUP)) == {GROUP_ORDERS, GROUP_STAR}
    assert matching(acl_filter(RT.CLUSTER)) == set()
    assert matching(acl_filter(RT.TOPIC)) == set(PATTERN_BINDINGS) - {GROUP_ORDERS, GROUP_STAR}


def test_filter_match_with_a_name_matches_every_pattern_applying_to_it() -> None:
    flt = acl_filter(RT.TOPIC, "orders", PT.MATCH)
    assert matching(flt) == {LIT_ORDERS, LIT_STAR, PRE_ORD, PRE_ORDERS}
    assert matching(acl_filter(RT.ANY, "orders", PT.MATCH)) == {
        LIT_ORDERS,
        LIT_STAR,
        PRE_ORD,
        PRE_ORDERS,
        GROUP_ORDERS,
        GROUP_STAR,
    }


def test_filter_match_without_a_name_matches_every_pattern() -> None:
    assert matching(acl_filter(RT.TOPIC, None, PT.MATCH)) == set(PATTERN_BINDINGS) - {
        GROUP_ORDERS,
        GROUP_STAR,
    }


def test_filter_any_pattern_with_a_name_matches_the_exact_name_only() -> None:
    assert matching(acl_filter(RT.TOPIC, "orders", PT.ANY)) == {LIT_ORDERS, PRE_ORDERS}
    assert matching(acl_filter(RT.TOPIC, WILDCARD, PT.ANY)) == {LIT_STAR, PRE_STAR}
    assert matching(acl_filter(RT.TOPIC, "ord", PT.ANY)) == {LIT_ORD, PRE_ORD}


def test_filter_specific_pattern_type_matches_that_type_and_exact_name() -> None:
    assert matching(acl_filter(RT.TOPIC, "orders", PT.LITERAL)) == {LIT_ORDERS}
    assert matching(acl_filter(RT.TOPIC, WILDCARD, PT.LITERAL)) == {LIT_STAR}
    assert matching(acl_filter(RT.TOPIC, "ord", PT.PREFIXED)) == {PRE_ORD}
    assert matching(acl_filter(RT.TOPIC, "orders", PT.PREFIXED)) == {PRE_ORDERS}
    assert matching(acl_filter(RT.TOPIC, "orders-x-y", PT.PREFIXED)) == set()
    assert matching(acl_filter(RT.TOPIC, None, PT.PREFIXED)) == {
        PRE_ORD,
        PRE_ORDERS,
        PRE_ORDERS_X,
        PRE_STAR,
    }
    assert matching(acl_filter(RT.ANY, None, PT.LITERAL)) == {
        LIT_ORDERS,
        LIT_STAR,
        LIT_ORD,
        LIT_OTHER,
        GROUP_ORDERS,
        GROUP_STAR,
    }


def test_filter_entry_fields() -> None:
    a = acl(Op.READ, ALLOW, principal=ALICE, host=HOST)
    b = acl(Op.WRITE, DENY, principal=BOB, host=WILDCARD)
    c = acl(Op.ALL, ALLOW, principal=WILDCARD_PRINCIPAL, host=OTHER_HOST)
    pool = (a, b, c)
    assert matching(acl_filter(principal=ALICE), pool) == {a}
    assert matching(acl_filter(principal=WILDCARD_PRINCIPAL), pool) == {c}
    assert matching(acl_filter(host=HOST), pool) == {a}
    assert matching(acl_filter(host=WILDCARD), pool) == {b}
    assert matching(acl_filter(operation=Op.WRITE), pool) == {b}
    assert matching(acl_filter(operation=Op.ALL), pool) == {c}  # ALL is a value, not ANY
    assert matching(acl_filter(permission=ALLOW), pool) == {a, c}
    assert matching(acl_filter(permission=DENY), pool) == {b}
    assert matching(acl_filter(principal=ALICE, permission=DENY), pool) == set()


@pytest.mark.parametrize(
    "flt",
    [
        acl_filter(resource_type=RT.UNKNOWN),
        acl_filter(pattern=PT.UNKNOWN),
        acl_filter(operation=Op.UNKNOWN),
        acl_filter(permission=AclPermissionType.UNKNOWN),
        AclFilter(RT.UNKNOWN, "x", PT.UNKNOWN, ALICE, HOST, Op.UNKNOWN, 0),
    ],
)
def test_filter_unknown_field(flt: AclFilter) -> None:
    assert flt.unknown_field() is not None


@pytest.mark.parametrize(
    "flt",
    [
        acl_filter(),
        AclFilter(RT.TOPIC, "orders", PT.MATCH, ALICE, HOST, Op.READ, ALLOW),
        AclFilter(RT.CLUSTER, CLUSTER_NAME, PT.LITERAL, None, None, Op.ALL, DENY),
        AclFilter(RT.GROUP, None, PT.PREFIXED, None, None, Op.ANY, AclPermissionType.ANY),
    ],
)
def test_filter_without_unknown_field(flt: AclFilter) -> None:
    assert flt.unknown_field() is None


def test_describe_acls_filters_in_a_stable_order() -> None:
    shuffled = list(PATTERN_BINDINGS)
    random.Random(7).shuffle(shuffled)
    flt = acl_filter(RT.TOPIC, "orders", PT.MATCH)
    described = describe_acls(shuffled, flt)
    assert set(described) == {LIT_ORDERS, LIT_STAR, PRE_ORD, PRE_ORDERS}
    assert described == describe_acls(reversed(shuffled), flt)


# -- binding_error -----------------------------------------------------------------------


def _valid_bindings() -> list[AclBinding]:
    valid = []
    for resource_type in CONCRETE_TYPES:
        name = CLUSTER_NAME if resource_type == RT.CLUSTER else "r"
        for pattern in (PT.LITERAL, PT.PREFIXED):
            for operation in BINDING_OPERATIONS:
                for permission in (ALLOW, DENY):
                    valid.append(
                        acl(
                            operation,
                            permission,
                            name=name,
                            resource_type=resource_type,
                            pattern=pattern,
                        )
                    )
    return valid


def test_binding_error_none_for_valid_bindings() -> None:
    for binding in _valid_bindings():
        assert binding_error(binding) is None, binding
    for binding in (
        acl(Op.READ, name=WILDCARD),
        acl(Op.READ, principal=WILDCARD_PRINCIPAL),
        acl(Op.READ, principal="Group:ops"),
        acl(Op.READ, host=HOST),
        acl(Op.READ, host="::1"),
    ):
        assert binding_error(binding) is None, binding


@pytest.mark.parametrize(
    "binding",
    [
        acl(Op.READ, resource_type=RT.ANY),
        acl(Op.READ, resource_type=RT.UNKNOWN),
        acl(Op.READ, pattern=PT.ANY),
        acl(Op.READ, pattern=PT.MATCH),
        acl(Op.READ, pattern=PT.UNKNOWN),
        acl(Op.ANY),
        acl(Op.UNKNOWN),
        acl(Op.READ, AclPermissionType.ANY),
        acl(Op.READ, AclPermissionType.UNKNOWN),
        acl(Op.READ, name=""),
        acl(Op.READ, name="", pattern=PT.PREFIXED),
        acl(Op.ALTER, name="my-cluster", resource_type=RT.CLUSTER),
        acl(Op.ALTER, name=WILDCARD, resource_type=RT.CLUSTER),
        acl(Op.ALTER, name="kafka", pattern=PT.PREFIXED, resource_type=RT.CLUSTER),
        acl(Op.READ, principal="alice"),
        acl(Op.READ, principal=""),
    ],
    ids=str,
)
def test_binding_error_for_invalid_bindings(binding: AclBinding) -> None:
    problem = binding_error(binding)
    assert isinstance(problem, str)
    assert problem


# -- create_acls ---------------------------------------------------------------------------


def test_create_acls_adds_new_bindings_with_fresh_ids() -> None:
    first, second = acl(Op.READ), acl(Op.WRITE, DENY, principal=BOB)
    added, results = create_acls({}, [first, second])
    assert [binding for _, binding in added] == [first, second]
    ids = [acl_id for acl_id, _ in added]
    assert len(set(ids)) == 2
    assert all(isinstance(acl_id, str) and acl_id for acl_id in ids)
    assert results == [None, None]


def test_create_acls_new_ids_differ_from_existing_ones() -> None:
    existing = {"id-1": acl(Op.READ)}
    added, _ = create_acls(existing, [acl(Op.WRITE), acl(Op.DELETE)])
    assert len(added) == 2
    assert not {acl_id for acl_id, _ in added} & set(existing)


def test_create_acls_existing_binding_is_not_added_again_and_succeeds() -> None:
    existing = {"id-1": acl(Op.READ)}
    before = dict(existing)
    added, results = create_acls(existing, [acl(Op.READ)])
    assert added == []
    assert results == [None]
    assert existing == before  # the command answers, it does not change its input


def test_create_acls_same_binding_twice_in_one_request_is_added_once() -> None:
    binding = acl(Op.READ)
    added, results = create_acls({}, [binding, binding, acl(Op.WRITE), binding])
    assert [b for _, b in added] == [binding, acl(Op.WRITE)]
    assert results == [None, None, None, None]


def test_create_acls_invalid_bindings_give_invalid_request() -> None:
    good = acl(Op.READ)
    bad_type = acl(Op.READ, resource_type=RT.ANY)
    bad_cluster = acl(Op.ALTER, name="c", resource_type=RT.CLUSTER)
    bad_principal = acl(Op.READ, principal="nobody")
    added, results = create_acls({}, [bad_type, good, bad_cluster, bad_principal])
    assert [b for _, b in added] == [good]
    assert len(results) == 4
    assert results[1] is None
    for index in (0, 2, 3):
        result = results[index]
        assert result is not None
        code, message = result
        assert code == ErrorCode.INVALID_REQUEST
        assert isinstance(message, str)
        assert message


def test_create_acls_of_nothing() -> None:
    assert create_acls({"id": acl(Op.READ)}, []) == ([], [])


# -- delete_acls ---------------------------------------------------------------------------


def test_delete_acls_removes_what_a_filter_matches() -> None:
    existing = {"a": acl(Op.READ), "b": acl(Op.WRITE), "c": acl(Op.READ, name="payments")}
    before = dict(existing)
    removed, results = delete_acls(existing, [acl_filter(operation=Op.READ)])
    assert sorted(removed) == ["a", "c"]
    assert len(results) == 1
    error, bindings = results[0]
    assert error is None
    assert sorted(bindings) == sorted([existing["a"], existing["c"]])
    assert existing == before


def test_delete_acls_binding_matched_by_two_filters_is_removed_once_listed_under_both() -> None:
    """As KRaft's AclControlManager: each filter lists every binding it matches."""
    read = acl(Op.READ)
    write = acl(Op.WRITE)
    group = acl(Op.READ, resource_type=RT.GROUP)
    existing = {"r": read, "w": write, "g": group}
    filters = [acl_filter(RT.TOPIC, "orders", PT.LITERAL), acl_filter(operation=Op.READ)]
    removed, results = delete_acls(existing, filters)
    assert sorted(removed) == ["g", "r", "w"]
    assert len(removed) == len(set(removed))
    assert results[0][0] is None
    assert sorted(results[0][1]) == sorted([read, write])
    assert results[1][0] is None
    assert sorted(results[1][1]) == sorted([read, group])


def test_delete_acls_same_filter_twice_removes_once() -> None:
    existing = {"r": acl(Op.READ)}
    removed, results = delete_acls(existing, [acl_filter(), acl_filter()])
    assert removed == ["r"]
    assert results == [(None, [acl(Op.READ)]), (None, [acl(Op.READ)])]


def test_delete_acls_filter_with_unknown_field_is_invalid_and_removes_nothing() -> None:
    existing = {"r": acl(Op.READ), "w": acl(Op.WRITE)}
    unknown = acl_filter(operation=Op.UNKNOWN)
    removed, results = delete_acls(existing, [unknown])
    assert removed == []
    assert len(results) == 1
    error, bindings = results[0]
    assert error is not None
    assert error[0] == ErrorCode.INVALID_REQUEST
    assert error[1]
    assert bindings == []


def test_delete_acls_unknown_filter_does_not_stop_the_others() -> None:
    existing = {"r": acl(Op.READ), "w": acl(Op.WRITE)}
    filters = [
        acl_filter(resource_type=RT.UNKNOWN),
        acl_filter(operation=Op.WRITE),
        acl_filter(pattern=PT.UNKNOWN),
    ]
    removed, results = delete_acls(existing, filters)
    assert removed == ["w"]
    assert results[1] == (None, [acl(Op.WRITE)])
    for index in (0, 2):
        error, bindings = results[index]
        assert error is not None
        assert error[0] == ErrorCode.INVALID_REQUEST
        assert bindings == []


def test_delete_acls_filter_matching_nothing() -> None:
    existing = {"r": acl(Op.READ)}
    assert delete_acls(existing, [acl_filter(RT.GROUP)]) == ([], [(None, [])])
    assert delete_acls({}, [acl_filter()]) == ([], [(None, [])])
    assert delete_acls(existing, []) == ([], [])


def test_delete_acls_match_filter_removes_every_binding_applying_to_a_name() -> None:
    existing = {f"id-{index}": binding for index, binding in enumerate(PATTERN_BINDINGS)}
    removed, results = delete_acls(existing, [acl_filter(RT.TOPIC, "orders", PT.MATCH)])
    assert {existing[acl_id] for acl_id in removed} == {LIT_ORDERS, LIT_STAR, PRE_ORD, PRE_ORDERS}
    assert set(results[0][1]) == {LIT_ORDERS, LIT_STAR, PRE_ORD, PRE_ORDERS}


# -- the ACL records in the metadata -------------------------------------------------------


def test_access_control_entry_record_binding_round_trip() -> None:
    binding = acl(Op.ALTER, DENY, name="ord", pattern=PT.PREFIXED, principal=BOB, host=HOST)
    record = AccessControlEntryRecord.of("id-1", binding)
    assert record.id == "id-1"
    assert record.binding() == binding
    assert (record.resource_type, record.resource_name, record.pattern_type) == (
        RT.TOPIC,
        "ord",
        PT.PREFIXED,
    )
    assert (record.principal, record.host, record.operation, record.permission_type) == (
        BOB,
        HOST,
        Op.ALTER,
        DENY,
    )


def test_replay_adds_and_removes_acls() -> None:
    image = MetadataImage()
    assert image.acls == {}
    read, write = acl(Op.READ), acl(Op.WRITE, principal=BOB)
    image.replay(AccessControlEntryRecord.of("id-1", read))
    image.replay(AccessControlEntryRecord.of("id-2", write))
    assert image.acls == {"id-1": read, "id-2": write}
    assert isinstance(image.acls["id-1"], AclBinding)
    image.replay(RemoveAccessControlEntryRecord("id-1"))
    assert image.acls == {"id-2": write}
    assert image.records_replayed == 3


def test_replay_removing_an_unknown_acl_raises() -> None:
    image = MetadataImage()
    image.replay(AccessControlEntryRecord.of("id-1", acl(Op.READ)))
    with pytest.raises(ValueError):
        image.replay(RemoveAccessControlEntryRecord("id-2"))
    assert image.acls == {"id-1": acl(Op.READ)}
    image.replay(RemoveAccessControlEntryRecord("id-1"))
    with pytest.raises(ValueError):
        image.replay(RemoveAccessControlEntryRecord("id-1"))
    assert image.acls == {}


def test_acl_records_round_trip_through_dicts_and_json() -> None:
    entry = AccessControlEntryRecord.of(
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        acl(Op.IDEMPOTENT_WRITE, name=CLUSTER_NAME, resource_type=RT.CLUSTER, host=HOST),
    )
    removal = RemoveAccessControlEntryRecord("0f8fad5b-d9cb-469f-a165-70867728950e")
    for record in (entry, removal):
        body = record_to_dict(record)
        assert body["type"] == type(record).__name__
        assert record_from_dict(body) == record
        again = record_from_dict(json.loads(json.dumps(body)))
        assert again == record
        assert type(again) is type(record)
    loaded = record_from_dict(json.loads(json.dumps(record_to_dict(entry))))
    assert isinstance(loaded, AccessControlEntryRecord)
    assert loaded.binding() == entry.binding()


def test_create_and_delete_through_replayed_records() -> None:
    """The commands' answers, committed as records and replayed, give the expected image."""
    image = MetadataImage()
    bindings = [acl(Op.READ), acl(Op.WRITE), acl(Op.READ, name="payments"), acl(Op.READ)]
    added, _ = create_acls(image.acls, bindings)
    for acl_id, binding in added:
        image.replay(AccessControlEntryRecord.of(acl_id, binding))
    assert sorted(image.acls.values()) == sorted(set(bindings))
    added_again, results = create_acls(image.acls, bindings)
    assert added_again == []
    assert results == [None] * 4
    removed, _ = delete_acls(image.acls, [acl_filter(RT.TOPIC, "orders", PT.MATCH)])
    for acl_id in removed:
        image.replay(RemoveAccessControlEntryRecord(acl_id))
    assert list(image.acls.values()) == [acl(Op.READ, name="payments")]
    auth = authorizer(*image.acls.values())
    assert can(auth, Op.READ, "payments")
    assert not can(auth, Op.READ, "orders")


# -- property test against a reference authorizer ----------------------------------------

_IMPLIES = {
    Op.DESCRIBE: {Op.DESCRIBE, Op.READ, Op.WRITE, Op.DELETE, Op.ALTER},
    Op.DESCRIBE_CONFIGS: {Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS},
}


class Request(NamedTuple):
    principal: str
    host: str
    operation: AclOperation
    resource_type: ResourceType
    name: str


def reference_authorize(
    bindings: Sequence[AclBinding],
    request: Request,
    *,
    super_users: frozenset[str],
    allow_if_no_acl: bool,
) -> bool:
    """The rules, written out directly."""
    principal, host, operation, resource_type, name = request
    if principal in super_users:
        return True

    def names_resource(binding: AclBinding) -> bool:
        if binding.resource_type != resource_type:
            return False
        if binding.pattern_type == PT.LITERAL:
            return binding.resource_name in (name, WILDCARD)
        return binding.pattern_type == PT.PREFIXED and name.startswith(binding.resource_name)

    def applies(binding: AclBinding, permission: AclPermissionType) -> bool:
        if binding.permission_type != permission:
            return False
        if binding.principal not in (principal, WILDCARD_PRINCIPAL):
            return False
        if binding.host not in (host, WILDCARD):
            return False
        if binding.operation in (Op.ALL, operation):
            return True
        return permission == ALLOW and binding.operation in _IMPLIES.get(operation, set())

    naming = [binding for binding in bindings if names_resource(binding)]
    if any(applies(binding, DENY) for binding in naming):
        return False
    if any(applies(binding, ALLOW) for binding in naming):
        return True
    return not naming and allow_if_no_acl


_NAMES = ("a", "ab", "abc", "abd", "b", "ba", "*", CLUSTER_NAME)
_PREFIXES = ("a", "ab", "abc", "b", "kafka", "*")
_PRINCIPALS = (ALICE, BOB, WILDCARD_PRINCIPAL)
_HOSTS = (WILDCARD, HOST, OTHER_HOST)
_TYPES = (RT.TOPIC, RT.GROUP, RT.CLUSTER)
_OPS = (
    Op.ALL,
    Op.READ,
    Op.WRITE,
    Op.DELETE,
    Op.ALTER,
    Op.DESCRIBE,
    Op.CREATE,
    Op.DESCRIBE_CONFIGS,
    Op.ALTER_CONFIGS,
    Op.IDEMPOTENT_WRITE,
)


def _random_binding(rng: random.Random) -> AclBinding:
    pattern = rng.choice((PT.LITERAL, PT.PREFIXED))
    name = rng.choice(_NAMES if pattern == PT.LITERAL else _PREFIXES)
    return AclBinding(
        rng.choice(_TYPES),
        name,
        pattern,
        rng.choice(_PRINCIPALS),
        rng.choice(_HOSTS),
        rng.choice(_OPS),
        rng.choice((ALLOW, DENY)),
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_authorize_agrees_with_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    checked = allowed = 0
    for _ in range(100):
        bindings = [_random_binding(rng) for _ in range(rng.randint(0, 10))]
        super_users = frozenset(rng.sample([ADMIN, BOB], rng.randint(0, 1)))
        allow_if_no_acl = rng.random() < 0.5
        auth = authorizer(*bindings, super_users=super_users, allow_if_no_acl=allow_if_no_acl)
        for _ in range(10):
            principal = rng.choice((ALICE, BOB, CAROL, ADMIN))
            host = rng.choice((HOST, OTHER_HOST, "10.0.0.3"))
            operation = rng.choice(REQUEST_OPERATIONS)
            resource_type = rng.choice(_TYPES)
            name = rng.choice(_NAMES)
            request = Request(principal, host, operation, resource_type, name)
            config = {"super_users": super_users, "allow_if_no_acl": allow_if_no_acl}
            expected = reference_authorize(
                bindings, request, super_users=super_users, allow_if_no_acl=allow_if_no_acl
            )
            actual = auth.authorize(principal, host, operation, resource_type, name)
            assert actual == expected, (bindings, config, request)
            expected_bits = bits(
                op
                for op in SUPPORTED_OPERATIONS[resource_type]
                if reference_authorize(
                    bindings,
                    request._replace(operation=op),
                    super_users=super_users,
                    allow_if_no_acl=allow_if_no_acl,
                )
            )
            assert auth.authorized_operations(principal, host, resource_type, name) == (
                expected_bits
            )
            checked += 1
            allowed += actual
    # the draw exercises both answers
    assert checked == 1000
    assert 0 < allowed < checked
