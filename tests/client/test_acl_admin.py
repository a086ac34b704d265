"""ACLs through our admin clients (client.acl_admin, AdminClient.describe_acls / create_acls /
delete_acls): the requests and answers as units, the version rules against a fake broker,
then both clients against real brokers with and without an authorizer.

The authorizer broker takes SASL logins (tests/interop/test_sasl.py's users); ``admin`` is
its super user, ``alice`` an ordinary one.  A broker answers CreateAcls / DeleteAcls once its
own metadata has the change, so a describe right after sees it: no waiting.
"""

from __future__ import annotations

from typing import Any

import pytest
from construct import Container

from client import acl_admin
from client import blocking as blocking_client
from client.acl_admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)
from client.admin import AdminClient
from client.connection import Connection
from client.errors import (
    ClusterAuthorizationFailedError,
    InvalidRequestError,
    SecurityDisabledError,
    UnknownServerError,
    UnsupportedVersionError,
)
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader
from tests.client.fakes import FakeConnection, fake_broker
from tests.interop.test_sasl import SASL_SETTINGS, keyword_sasl

AUTHORIZER_SETTINGS = {
    **SASL_SETTINGS,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": "User:admin",
}
TIMEOUTS = {"request_timeout_ms": 10_000, "default_api_timeout_ms": 20_000}

Topic, Group, Cluster = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY

READ_ORDERS = AclBinding(Topic, "orders", LITERAL, "User:alice", "*", AclOperation.READ, ALLOW)
WRITE_LOGS = AclBinding(Topic, "logs-", PREFIXED, "User:etl", "*", AclOperation.WRITE, ALLOW)
DENY_GROUP = AclBinding(
    Group, "billing", LITERAL, "User:mallory", "10.0.0.7", AclOperation.READ, DENY
)
ALTER_CLUSTER = AclBinding(
    Cluster, acl_admin.CLUSTER_NAME, LITERAL, "User:ops", "*", AclOperation.ALTER, ALLOW
)


def request_as_sent(api_key: int, version: int, body: dict[str, Any]) -> Container:
    """``body`` encoded as a request at ``version`` and decoded as the broker would."""
    frame = headers.encode_request(api_key, version, 7, "test", body)
    _, decoded = headers.decode_request(frame[4:])
    return decoded


def response_as_read(api_key: int, version: int, body: dict[str, Any]) -> Container:
    """``body`` encoded as a response at ``version`` and decoded as the client reads it."""
    frame = headers.encode_response(api_key, version, 7, body)
    _, decoded = headers.decode_response(api_key, version, frame[4:])
    return decoded


def matching(binding: AclBinding, error_code: int = ErrorCode.NONE) -> dict[str, Any]:
    return {
        "error_code": error_code,
        "error_message": None if error_code == ErrorCode.NONE else "refused",
        "resource_type": binding.resource_type,
        "resource_name": binding.resource_name,
        "pattern_type": binding.pattern_type,
        "principal": binding.principal,
        "host": binding.host,
        "operation": binding.operation,
        "permission_type": binding.permission_type,
    }


# -- the values ------------------------------------------------------------------------------


def test_the_enums_carry_kafkas_codes() -> None:
    assert [(kind.name, int(kind)) for kind in ResourceType] == [
        ("UNKNOWN", 0),
        ("ANY", 1),
        ("TOPIC", 2),
        ("GROUP", 3),
        ("CLUSTER", 4),
        ("TRANSACTIONAL_ID", 5),
        ("DELEGATION_TOKEN", 6),
        ("USER", 7),
    ]
    assert [int(kind) for kind in ResourcePatternType] == [0, 1, 2, 3, 4]
    assert ResourcePatternType.PREFIXED == 4 and ResourcePatternType.MATCH == 2
    assert [int(op) for op in AclOperation] == list(range(15))
    assert AclOperation.IDEMPOTENT_WRITE == 12 and AclOperation.DESCRIBE_TOKENS == 14
    assert (AclPermissionType.DENY, AclPermissionType.ALLOW) == (2, 3)


def test_bindings_take_plain_codes_and_print_readably() -> None:
    assert AclBinding(2, "orders", 3, "User:alice", "*", 3, 3) == READ_ORDERS
    assert isinstance(AclBinding(2, "t", 3, "User:a", "*", 3, 3).operation, AclOperation)
    assert str(READ_ORDERS) == "User:alice ALLOW READ from host * on TOPIC:LITERAL:orders"
    with pytest.raises(ValueError, match="99"):
        AclBinding(99, "t", 3, "User:a", "*", 3, 3)
    assert AclBindingFilter(operation=4).operation is AclOperation.WRITE
    exact = READ_ORDERS.to_filter()
    assert exact == AclBindingFilter(
        Topic, "orders", LITERAL, "User:alice", "*", AclOperation.READ, ALLOW
    )
    assert AclBindingFilter() == AclBindingFilter.ANY
    assert str(AclBindingFilter(Topic, "orders")) == (
        "resource TOPIC:ANY:orders, principal <any>, host <any>, operation ANY, permission ANY"
    )
    # Frozen and hashable: bindings and filters key the results.
    assert (
        len({READ_ORDERS, exact, READ_ORDERS, AclBinding(2, "orders", 3, "User:alice", "*", 3, 3)})
        == 2
    )


# -- requests --------------------------------------------------------------------------------


def test_describe_request_and_the_version_its_pattern_type_needs() -> None:
    literal = acl_admin.describe_request(AclBindingFilter(Topic, "orders", LITERAL))
    assert literal.api_key == acl_admin.DESCRIBE_ACLS
    assert literal.min_version is None
    assert literal.body == {
        "resource_type_filter": 2,
        "resource_name_filter": "orders",
        "pattern_type_filter": 3,
        "principal_filter": None,
        "host_filter": None,
        "operation": 1,
        "permission_type": 1,
    }
    as_v0 = request_as_sent(acl_admin.DESCRIBE_ACLS, 0, literal.body)
    assert (as_v0.resource_type_filter, as_v0.resource_name_filter) == (2, "orders")
    everything = acl_admin.describe_request(AclBindingFilter.ANY)
    assert everything.min_version == acl_admin.PATTERN_TYPE_MIN_VERSION
    as_v3 = request_as_sent(acl_admin.DESCRIBE_ACLS, 3, everything.body)
    assert as_v3.pattern_type_filter == ResourcePatternType.ANY
    assert as_v3.resource_name_filter is None


def test_create_and_delete_requests() -> None:
    literal_only = acl_admin.create_request([READ_ORDERS, DENY_GROUP])
    assert literal_only.api_key == acl_admin.CREATE_ACLS
    assert literal_only.min_version is None
    sent = request_as_sent(acl_admin.CREATE_ACLS, 0, literal_only.body)
    assert [(c.resource_name, c.principal, c.host) for c in sent.creations] == [
        ("orders", "User:alice", "*"),
        ("billing", "User:mallory", "10.0.0.7"),
    ]
    prefixed = acl_admin.create_request([READ_ORDERS, WRITE_LOGS])
    assert prefixed.min_version == 1
    sent = request_as_sent(acl_admin.CREATE_ACLS, 3, prefixed.body)
    assert [c.resource_pattern_type for c in sent.creations] == [LITERAL, PREFIXED]
    assert [(c.operation, c.permission_type) for c in sent.creations] == [(3, 3), (4, 3)]

    deleting = acl_admin.delete_request([READ_ORDERS.to_filter(), AclBindingFilter(Group)])
    assert deleting.api_key == acl_admin.DELETE_ACLS
    assert deleting.min_version == 1
    sent = request_as_sent(acl_admin.DELETE_ACLS, 3, deleting.body)
    assert [(f.resource_type_filter, f.pattern_type_filter) for f in sent.filters] == [
        (2, 3),
        (3, 1),
    ]
    assert acl_admin.delete_request([READ_ORDERS.to_filter()]).min_version is None


# -- answers ---------------------------------------------------------------------------------


def test_describe_answers_become_bindings() -> None:
    answer = response_as_read(
        acl_admin.DESCRIBE_ACLS,
        3,
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "error_message": None,
            "resources": [
                {
                    "resource_type": 2,
                    "resource_name": "orders",
                    "pattern_type": 3,
                    "acls": [
                        {
                            "principal": "User:alice",
                            "host": "*",
                            "operation": 3,
                            "permission_type": 3,
                        },
                        {
                            "principal": "User:bob",
                            "host": "h",
                            "operation": 99,
                            "permission_type": 2,
                        },
                    ],
                },
                {"resource_type": 42, "resource_name": "x", "pattern_type": 4, "acls": []},
            ],
        },
    )
    read = acl_admin.describe_results(answer)
    assert read == [
        READ_ORDERS,
        AclBinding(Topic, "orders", LITERAL, "User:bob", "h", AclOperation.UNKNOWN, DENY),
    ]
    # v0 has no pattern type: every resource is a literal one.
    old = response_as_read(
        acl_admin.DESCRIBE_ACLS,
        0,
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "error_message": None,
            "resources": [
                {
                    "resource_type": 3,
                    "resource_name": "g",
                    "acls": [
                        {"principal": "User:a", "host": "*", "operation": 3, "permission_type": 3}
                    ],
                }
            ],
        },
    )
    assert acl_admin.describe_results(old)[0].pattern_type is LITERAL


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (ErrorCode.SECURITY_DISABLED, SecurityDisabledError),
        (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, ClusterAuthorizationFailedError),
        (ErrorCode.INVALID_REQUEST, InvalidRequestError),
    ],
)
def test_a_refused_describe_raises_the_typed_error(code: ErrorCode, kind: type[Exception]) -> None:
    answer = response_as_read(
        acl_admin.DESCRIBE_ACLS,
        3,
        {"throttle_time_ms": 0, "error_code": code, "error_message": "the reason", "resources": []},
    )
    with pytest.raises(kind, match="the reason"):
        acl_admin.describe_results(answer)


def test_create_answers_per_binding() -> None:
    request = acl_admin.create_request([READ_ORDERS, WRITE_LOGS, READ_ORDERS, DENY_GROUP])
    answer = response_as_read(
        acl_admin.CREATE_ACLS,
        3,
        {
            "throttle_time_ms": 0,
            "results": [
                {"error_code": 0, "error_message": None},
                {"error_code": ErrorCode.INVALID_REQUEST, "error_message": "bad prefix"},
                {"error_code": 0, "error_message": None},
            ],
        },
    )
    outcomes = request.read(answer)
    assert list(outcomes) == [READ_ORDERS, WRITE_LOGS, DENY_GROUP]
    assert outcomes[READ_ORDERS] is None
    refused = outcomes[WRITE_LOGS]
    assert isinstance(refused, InvalidRequestError)
    assert str(refused) == (
        "INVALID_REQUEST (42): cannot create ACL User:etl ALLOW WRITE from host * on "
        "TOPIC:PREFIXED:logs-: bad prefix"
    )
    # The broker answered three of four: the last gets an error, never a silent success.
    assert isinstance(outcomes[DENY_GROUP], UnknownServerError)
    with pytest.raises(InvalidRequestError, match="bad prefix"):
        acl_admin.raise_first(outcomes)
    acl_admin.raise_first({READ_ORDERS: None})


def test_delete_answers_list_what_each_filter_removed() -> None:
    by_user = AclBindingFilter(principal="User:alice")
    on_topics = AclBindingFilter(Topic)
    request = acl_admin.delete_request([by_user, on_topics, by_user])
    answer = response_as_read(
        acl_admin.DELETE_ACLS,
        3,
        {
            "throttle_time_ms": 0,
            "filter_results": [
                {"error_code": 0, "error_message": None, "matching_acls": [matching(READ_ORDERS)]},
                {
                    "error_code": 0,
                    "error_message": None,
                    "matching_acls": [matching(WRITE_LOGS), matching(READ_ORDERS)],
                },
                {"error_code": 0, "error_message": None, "matching_acls": []},
            ],
        },
    )
    assert request.read(answer) == {by_user: [READ_ORDERS], on_topics: [WRITE_LOGS, READ_ORDERS]}


def test_a_refused_delete_raises_after_reading_every_filter() -> None:
    wanted = [AclBindingFilter(Topic), AclBindingFilter(Group)]
    request = acl_admin.delete_request(wanted)
    refused = response_as_read(
        acl_admin.DELETE_ACLS,
        3,
        {
            "throttle_time_ms": 0,
            "filter_results": [
                {
                    "error_code": ErrorCode.SECURITY_DISABLED,
                    "error_message": "No Authorizer",
                    "matching_acls": [],
                },
                {"error_code": 0, "error_message": None, "matching_acls": [matching(DENY_GROUP)]},
            ],
        },
    )
    with pytest.raises(SecurityDisabledError, match=r"TOPIC:ANY:<any>.*No Authorizer"):
        request.read(refused)
    one_binding = response_as_read(
        acl_admin.DELETE_ACLS,
        3,
        {
            "throttle_time_ms": 0,
            "filter_results": [
                {"error_code": 0, "error_message": None, "matching_acls": []},
                {
                    "error_code": 0,
                    "error_message": None,
                    "matching_acls": [matching(DENY_GROUP, ErrorCode.UNKNOWN_SERVER_ERROR)],
                },
            ],
        },
    )
    with pytest.raises(UnknownServerError, match="cannot delete ACL User:mallory DENY READ"):
        request.read(one_binding)
    short = response_as_read(
        acl_admin.DELETE_ACLS, 3, {"throttle_time_ms": 0, "filter_results": []}
    )
    with pytest.raises(UnknownServerError, match="no DeleteAcls result"):
        request.read(short)


# -- versions, against a fake broker ---------------------------------------------------------


@pytest.mark.anyio
async def test_only_literal_patterns_go_to_a_v0_broker() -> None:
    """A broker with v0 only cannot carry a pattern type: a literal filter is sent at v0 (and
    its answer read as literal), anything else fails here, unsent."""
    seen: list[tuple[int, Container]] = []

    async def on_request(peer: FakeConnection, header: RequestHeader, body: Container) -> None:
        seen.append((header.api_version, body))
        resource = {
            "resource_type": 2,
            "resource_name": "orders",
            "acls": [
                {"principal": "User:alice", "host": "*", "operation": 3, "permission_type": 3}
            ],
        }
        answer = {"throttle_time_ms": 0, "error_code": 0, "error_message": None}
        await peer.reply(header, {**answer, "resources": [resource]})

    v0_only = {acl_admin.DESCRIBE_ACLS: (0, 0), acl_admin.CREATE_ACLS: (0, 0)}
    async with (
        fake_broker(on_request, advertised=v0_only) as broker,
        Connection.connect("127.0.0.1", broker.port, request_timeout_ms=10_000) as connection,
    ):
        request = acl_admin.describe_request(AclBindingFilter(Topic, "orders", LITERAL))
        version = connection.pick_version(request.api_key, request.min_version)
        response = await connection.send(request.api_key, request.body, version=version)
        assert request.read(response) == [READ_ORDERS]
        for pattern in (ResourcePatternType.ANY, ResourcePatternType.MATCH, PREFIXED):
            wider = acl_admin.describe_request(AclBindingFilter(Topic, "orders", pattern))
            with pytest.raises(UnsupportedVersionError, match="DescribeAcls v0-0"):
                connection.pick_version(wider.api_key, wider.min_version)
        creating = acl_admin.create_request([WRITE_LOGS])
        with pytest.raises(UnsupportedVersionError, match="CreateAcls v0-0"):
            connection.pick_version(creating.api_key, creating.min_version)
    assert [(version, body.resource_name_filter) for version, body in seen] == [(0, "orders")]


# -- against real brokers --------------------------------------------------------------------


@pytest.fixture
def acl_bootstrap(kafka_broker_factory: Any) -> str:
    """A broker with the StandardAuthorizer and SASL users (admin is a super user)."""
    return str(kafka_broker_factory.start(AUTHORIZER_SETTINGS).bootstrap)


def login(bootstrap: str, user: str) -> dict[str, Any]:
    return keyword_sasl(bootstrap, "PLAIN", user, f"{user}-secret", **TIMEOUTS)


@pytest.mark.anyio
async def test_async_admin_creates_describes_and_deletes(acl_bootstrap: str) -> None:
    async with AdminClient(**login(acl_bootstrap, "admin")) as admin:
        assert await admin.describe_acls() == []
        created = await admin.create_acls([READ_ORDERS, WRITE_LOGS, DENY_GROUP, ALTER_CLUSTER])
        assert created == dict.fromkeys([READ_ORDERS, WRITE_LOGS, DENY_GROUP, ALTER_CLUSTER])
        # Creating a binding that exists is no error, and keeps one copy.
        assert await admin.create_acls([READ_ORDERS]) == {READ_ORDERS: None}
        everything = await admin.describe_acls()
        assert sorted(everything, key=str) == sorted(
            [READ_ORDERS, WRITE_LOGS, DENY_GROUP, ALTER_CLUSTER], key=str
        )
        assert await admin.describe_acls(AclBindingFilter(Topic)) in (
            [READ_ORDERS, WRITE_LOGS],
            [WRITE_LOGS, READ_ORDERS],
        )
        # MATCH: every binding that applies to the topic, the prefixed one included.
        applying = AclBindingFilter(Topic, "logs-app", ResourcePatternType.MATCH)
        assert await admin.describe_acls(applying) == [WRITE_LOGS]
        assert await admin.describe_acls(AclBindingFilter(Topic, "logs-app", LITERAL)) == []
        assert await admin.describe_acls(AclBindingFilter(principal="User:mallory")) == [DENY_GROUP]

        by_alice = AclBindingFilter(principal="User:alice")
        on_groups = AclBindingFilter(Group)
        nothing = AclBindingFilter(Topic, "no-such-topic", LITERAL)
        removed = await admin.delete_acls([by_alice, on_groups, nothing])
        assert removed == {by_alice: [READ_ORDERS], on_groups: [DENY_GROUP], nothing: []}
        left = await admin.describe_acls()
        assert sorted(left, key=str) == sorted([WRITE_LOGS, ALTER_CLUSTER], key=str)
        assert await admin.create_acls([]) == {}
        assert await admin.delete_acls([]) == {}


@pytest.mark.anyio
async def test_async_admin_reports_each_refused_creation(acl_bootstrap: str) -> None:
    any_topic = AclBinding(
        ResourceType.ANY, "orders", LITERAL, "User:alice", "*", AclOperation.READ, ALLOW
    )
    async with AdminClient(**login(acl_bootstrap, "admin")) as admin:
        outcomes = await admin.create_acls([READ_ORDERS, any_topic], raise_errors=False)
        assert outcomes[READ_ORDERS] is None
        refused = outcomes[any_topic]
        assert isinstance(refused, InvalidRequestError)
        assert "cannot create ACL User:alice ALLOW READ from host * on ANY:LITERAL:orders" in str(
            refused
        )
        with pytest.raises(InvalidRequestError, match="ANY:LITERAL:orders"):
            await admin.create_acls([any_topic])
        assert await admin.describe_acls() == [READ_ORDERS]
        with pytest.raises(InvalidRequestError):
            await admin.describe_acls(AclBindingFilter(ResourceType.UNKNOWN))


@pytest.mark.anyio
async def test_an_ordinary_user_may_not_touch_acls(acl_bootstrap: str) -> None:
    async with AdminClient(**login(acl_bootstrap, "alice")) as admin:
        with pytest.raises(ClusterAuthorizationFailedError):
            await admin.describe_acls()
        with pytest.raises(ClusterAuthorizationFailedError):
            await admin.create_acls([READ_ORDERS])
        with pytest.raises(ClusterAuthorizationFailedError):
            await admin.delete_acls([AclBindingFilter.ANY])
    async with AdminClient(**login(acl_bootstrap, "admin")) as admin:
        assert await admin.describe_acls() == []
        # Given ALTER and DESCRIBE on the cluster, alice may.
        grants = [
            AclBinding(Cluster, acl_admin.CLUSTER_NAME, LITERAL, "User:alice", "*", op, ALLOW)
            for op in (AclOperation.ALTER, AclOperation.DESCRIBE)
        ]
        await admin.create_acls(grants)
    async with AdminClient(**login(acl_bootstrap, "alice")) as admin:
        assert await admin.create_acls([READ_ORDERS]) == {READ_ORDERS: None}
        assert READ_ORDERS in await admin.describe_acls(AclBindingFilter(Topic))


def test_blocking_admin_creates_describes_and_deletes(acl_bootstrap: str) -> None:
    with blocking_client.AdminClient(**login(acl_bootstrap, "admin")) as admin:
        assert admin.describe_acls() == []
        assert admin.create_acls([READ_ORDERS, WRITE_LOGS]) == {READ_ORDERS: None, WRITE_LOGS: None}
        assert admin.describe_acls(AclBindingFilter(Topic, "orders", LITERAL)) == [READ_ORDERS]
        outcomes = admin.create_acls(
            [AclBinding(Topic, "t", ResourcePatternType.MATCH, "User:a", "*", 3, 3)],
            raise_errors=False,
        )
        assert isinstance(next(iter(outcomes.values())), InvalidRequestError)
        exact = WRITE_LOGS.to_filter()
        assert admin.delete_acls([exact]) == {exact: [WRITE_LOGS]}
        assert admin.delete_acls([exact]) == {exact: []}
        assert admin.describe_acls() == [READ_ORDERS]
    with (
        blocking_client.AdminClient(**login(acl_bootstrap, "alice")) as admin,
        pytest.raises(ClusterAuthorizationFailedError),
    ):
        admin.describe_acls()


@pytest.mark.anyio
async def test_async_admin_without_an_authorizer(kafka_broker: Any) -> None:
    async with AdminClient(bootstrap_servers=kafka_broker.bootstrap, **TIMEOUTS) as admin:
        with pytest.raises(SecurityDisabledError):
            await admin.describe_acls()
        with pytest.raises(SecurityDisabledError, match="cannot create ACL User:alice ALLOW READ"):
            await admin.create_acls([READ_ORDERS])
        outcomes = await admin.create_acls([READ_ORDERS, WRITE_LOGS], raise_errors=False)
        assert all(isinstance(error, SecurityDisabledError) for error in outcomes.values())
        with pytest.raises(SecurityDisabledError):
            await admin.delete_acls([AclBindingFilter.ANY])


def test_blocking_admin_without_an_authorizer(kafka_broker: Any) -> None:
    with blocking_client.AdminClient(bootstrap_servers=kafka_broker.bootstrap, **TIMEOUTS) as admin:
        with pytest.raises(SecurityDisabledError):
            admin.describe_acls()
        with pytest.raises(SecurityDisabledError):
            admin.create_acls([READ_ORDERS])
        with pytest.raises(SecurityDisabledError):
            admin.delete_acls([READ_ORDERS.to_filter()])


def test_the_types_are_exported_by_both_facades() -> None:
    import client

    for name in (
        "AclBinding",
        "AclBindingFilter",
        "AclOperation",
        "AclPermissionType",
        "ResourcePatternType",
        "ResourceType",
    ):
        assert getattr(client, name) is getattr(acl_admin, name)
        assert getattr(blocking_client, name) is getattr(acl_admin, name)
        assert name in client.__all__ and name in blocking_client.__all__
