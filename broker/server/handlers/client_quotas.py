"""DescribeClientQuotas (48) and AlterClientQuotas (49), KIP-546.

DescribeClientQuotas is answered from this node's metadata image.  AlterClientQuotas is a
controller command (a broker-only node forwards it, KIP-590); the broker answers once its
own image has the change, so the new quota holds on this broker when the client hears back.
The rules are in :mod:`broker.core.client_quotas`; enforcement in
:mod:`broker.server.quotas`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core import client_quotas
from broker.core.client_quotas import QuotaAlteration, QuotaOp
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer


def _entity(pairs: Any) -> list[dict[str, Any]]:
    return [{"entity_type": kind, "entity_name": name} for kind, name in pairs]


async def describe_client_quotas(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    components = [(c.entity_type, c.match_type, c.match) for c in request.components]
    error, found = client_quotas.describe_quotas(server.image, components, request.strict)
    if error is not None:
        return {
            "throttle_time_ms": 0,
            "error_code": error[0],
            "error_message": error[1],
            "entries": None,
        }
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "entries": [
            {
                "entity": _entity(entity),
                "values": [{"key": key, "value": value} for key, value in sorted(values.items())],
            }
            for entity, values in found
        ],
    }


def _alterations(request: Container) -> list[QuotaAlteration]:
    return [
        QuotaAlteration(
            [(item.entity_type, item.entity_name) for item in entry.entity],
            [QuotaOp(op.key, op.value, op.remove) for op in entry.ops],
        )
        for entry in request.entries
    ]


def _alter(server: ControllerServer, request: Container) -> dict[str, Any]:
    records, results = client_quotas.alter_quotas(server.image, _alterations(request))
    if not request.validate_only:
        server.commit(records)
    return {
        "throttle_time_ms": 0,
        "entries": [
            {
                "error_code": ErrorCode.NONE if error is None else error[0],
                "error_message": None if error is None else error[1],
                "entity": _entity(entity),
            }
            for error, entity in results
        ],
    }


async def alter_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return _alter(server, request)


async def alter_client_quotas(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    if not server.forwards_to_controller:
        assert server.controller_server is not None
        return _alter(server.controller_server, request)
    response = await server.forward_to_controller(header, request)
    if request.validate_only:
        return dict(response)
    wanted: dict[client_quotas.Entity, dict[str, float | None]] = {}
    for alteration, result in zip(_alterations(request), response.entries, strict=True):
        if result.error_code == ErrorCode.NONE:
            changes = wanted.setdefault(client_quotas.entity_key(alteration.entity), {})
            for op in alteration.ops:
                changes[op.key] = None if op.remove else op.value

    def applied() -> bool:
        quotas = server.image.client_quotas
        return all(
            quotas.get(entity, {}).get(key) == value
            for entity, changes in wanted.items()
            for key, value in changes.items()
        )

    await server.await_metadata(applied)
    return dict(response)
