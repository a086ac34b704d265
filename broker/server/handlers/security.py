"""SASL after authentication, SCRAM credentials and ACLs (APIs 17, 36, 50, 51; 29-31).

The SASL exchange itself runs before a connection reaches the dispatcher
(``broker.core.sasl.SaslAuthenticator``, driven by the connection): a SaslHandshake or
SaslAuthenticate that gets here came on a PLAINTEXT listener or after authentication, and is
answered ILLEGAL_SASL_STATE, as Kafka's KafkaApis does (no re-authentication: KIP-368's
``connections.max.reauth.ms`` is 0).

DescribeUserScramCredentials is answered from this node's metadata image;
AlterUserScramCredentials is a controller command (forwarded by a broker-only node, KIP-590),
and the broker answers once its own image has the change, so a client may log in with the new
credential on this broker at once.

With an authorizer (``authorizer.class.name`` = StandardAuthorizer), DescribeAcls is answered
from this node's image and CreateAcls / DeleteAcls are controller commands (forwarded by a
broker-only node; answered once this broker's image, hence its authorizer, has the change).
Without one, as Kafka answers then, they get SECURITY_DISABLED, for each creation and filter.
Who may call them (DESCRIBE / ALTER on the cluster) is checked in
:mod:`broker.server.authorization`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core import acl, scram_control
from broker.core.acl import AclBinding, AclFilter
from broker.core.metadata import AccessControlEntryRecord, RemoveAccessControlEntryRecord
from broker.core.scram_control import Deletion, Upsertion
from client.protocol.acl import PatternType
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer


async def sasl_handshake(server: Any, header: RequestHeader, request: Container) -> dict[str, Any]:
    # As KafkaApis.handleSaslHandshakeRequest: no mechanisms listed.
    return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}


async def sasl_authenticate(
    server: Any, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.ILLEGAL_SASL_STATE,
        "error_message": "SaslAuthenticate request received after successful authentication"
        " or on a listener without SASL",
        "auth_bytes": b"",
        "session_lifetime_ms": 0,
    }


NO_AUTHORIZER = "No Authorizer is configured on the broker"


def _filter(item: Container) -> AclFilter:
    return AclFilter(
        item.resource_type_filter,
        item.resource_name_filter,
        item.get("pattern_type_filter", PatternType.LITERAL),
        item.principal_filter,
        item.host_filter,
        item.operation,
        item.permission_type,
    )


async def describe_acls(server: Any, header: RequestHeader, request: Container) -> dict[str, Any]:
    if getattr(server, "authorizer", None) is None:
        return {
            "throttle_time_ms": 0,
            "error_code": ErrorCode.SECURITY_DISABLED,
            "error_message": NO_AUTHORIZER,
            "resources": [],
        }
    wanted = _filter(request)
    problem = wanted.unknown_field()
    if problem is not None:
        return {
            "throttle_time_ms": 0,
            "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": problem,
            "resources": [],
        }
    resources: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    for binding in acl.describe_acls(server.image.acls.values(), wanted):
        key = (binding.resource_type, binding.resource_name, binding.pattern_type)
        resources.setdefault(key, []).append(
            {
                "principal": binding.principal,
                "host": binding.host,
                "operation": binding.operation,
                "permission_type": binding.permission_type,
            }
        )
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "resources": [
            {"resource_type": kind, "resource_name": name, "pattern_type": pattern, "acls": acls}
            for (kind, name, pattern), acls in resources.items()
        ],
    }


def _creations(request: Container) -> list[AclBinding]:
    return [
        AclBinding(
            item.resource_type,
            item.resource_name,
            item.get("resource_pattern_type", PatternType.LITERAL),
            item.principal,
            item.host,
            item.operation,
            item.permission_type,
        )
        for item in request.creations
    ]


def _create(server: ControllerServer, request: Container) -> dict[str, Any]:
    added, results = acl.create_acls(server.image.acls, _creations(request))
    server.commit([AccessControlEntryRecord.of(acl_id, binding) for acl_id, binding in added])
    return {
        "throttle_time_ms": 0,
        "results": [
            {
                "error_code": ErrorCode.NONE if error is None else error[0],
                "error_message": None if error is None else error[1],
            }
            for error in results
        ],
    }


def _delete(server: ControllerServer, request: Container) -> dict[str, Any]:
    removed, results = acl.delete_acls(server.image.acls, [_filter(f) for f in request.filters])
    server.commit([RemoveAccessControlEntryRecord(acl_id) for acl_id in removed])
    return {
        "throttle_time_ms": 0,
        "filter_results": [
            {
                "error_code": ErrorCode.NONE if error is None else error[0],
                "error_message": None if error is None else error[1],
                "matching_acls": [
                    {
                        "error_code": ErrorCode.NONE,
                        "error_message": None,
                        "resource_type": binding.resource_type,
                        "resource_name": binding.resource_name,
                        "pattern_type": binding.pattern_type,
                        "principal": binding.principal,
                        "host": binding.host,
                        "operation": binding.operation,
                        "permission_type": binding.permission_type,
                    }
                    for binding in bindings
                ],
            }
            for error, bindings in results
        ],
    }


async def create_acls_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return _create(server, request)


async def delete_acls_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return _delete(server, request)


async def create_acls(server: Any, header: RequestHeader, request: Container) -> dict[str, Any]:
    if getattr(server, "authorizer", None) is None:
        refused = {"error_code": ErrorCode.SECURITY_DISABLED, "error_message": NO_AUTHORIZER}
        return {"throttle_time_ms": 0, "results": [refused for _ in request.creations]}
    if not server.forwards_to_controller:
        return _create(server.controller_server, request)
    response = await server.forward_to_controller(header, request)
    created = {
        binding
        for binding, result in zip(_creations(request), response.results, strict=False)
        if result.error_code == ErrorCode.NONE
    }
    await server.await_metadata(lambda: created <= set(server.image.acls.values()))
    return dict(response)


async def delete_acls(server: Any, header: RequestHeader, request: Container) -> dict[str, Any]:
    if getattr(server, "authorizer", None) is None:
        refused = {
            "error_code": ErrorCode.SECURITY_DISABLED,
            "error_message": NO_AUTHORIZER,
            "matching_acls": [],
        }
        return {"throttle_time_ms": 0, "filter_results": [refused for _ in request.filters]}
    if not server.forwards_to_controller:
        return _delete(server.controller_server, request)
    response = await server.forward_to_controller(header, request)
    gone = {
        AclBinding(
            m.resource_type,
            m.resource_name,
            m.pattern_type,
            m.principal,
            m.host,
            m.operation,
            m.permission_type,
        )
        for result in response.filter_results
        for m in result.matching_acls
    }
    await server.await_metadata(lambda: not gone & set(server.image.acls.values()))
    return dict(response)


async def describe_user_scram_credentials(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    users = None if request.users is None else [user.name for user in request.users]
    return scram_control.describe_credentials(server.image, users)


def _alter(server: ControllerServer, request: Container) -> dict[str, Any]:
    deletions = [Deletion(item.name, item.mechanism) for item in request.deletions]
    upsertions = [
        Upsertion(
            item.name,
            item.mechanism,
            item.iterations,
            bytes(item.salt),
            bytes(item.salted_password),
        )
        for item in request.upsertions
    ]
    records, results = scram_control.alter_credentials(server.image, deletions, upsertions)
    server.commit(records)
    return {"throttle_time_ms": 0, "results": results}


async def alter_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return _alter(server, request)


async def alter_user_scram_credentials(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    if not server.forwards_to_controller:
        assert server.controller_server is not None
        return _alter(server.controller_server, request)
    response = await server.forward_to_controller(header, request)
    done = {r.user for r in response.results if r.error_code == ErrorCode.NONE}
    deleted = {(i.name, i.mechanism) for i in request.deletions if i.name in done}
    upserted = {(i.name, i.mechanism) for i in request.upsertions if i.name in done}

    def applied() -> bool:
        credentials = server.image.scram_credentials
        return all(key in credentials for key in upserted) and not any(
            key in credentials for key in deleted
        )

    await server.await_metadata(applied)
    return dict(response)
