"""UpdateFeatures (57): a controller command (a broker-only node forwards it, KIP-590); the
broker answers once its own image has the new levels, so ApiVersions on this broker reports
them when the client hears back.  The rules are in :mod:`broker.core.features`; ApiVersions
reports the levels (``Dispatcher.api_versions_body``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core import features
from broker.core.features import FeatureUpdate
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer

# v2 (KIP-1022) answers with the top-level error only.
_LAST_WITH_RESULTS = 1


def _updates(header: RequestHeader, request: Container) -> list[FeatureUpdate]:
    def upgrade_type(item: Container) -> int:
        if header.api_version == 0:
            return features.SAFE_DOWNGRADE if item.allow_downgrade else features.UPGRADE
        return int(item.upgrade_type)

    return [
        FeatureUpdate(item.feature, item.max_version_level, upgrade_type(item))
        for item in request.feature_updates
    ]


def _update(server: ControllerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    outcome = features.update_features(server.image, _updates(header, request))
    if outcome.error == ErrorCode.NONE and not request.get("validate_only"):
        server.commit(outcome.records)
    results = []
    if outcome.error == ErrorCode.NONE and header.api_version <= _LAST_WITH_RESULTS:
        results = [
            {"feature": item.feature, "error_code": ErrorCode.NONE, "error_message": None}
            for item in request.feature_updates
        ]
    return {
        "throttle_time_ms": 0,
        "error_code": outcome.error,
        "error_message": outcome.message,
        "results": results,
    }


async def update_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return _update(server, header, request)


async def update_features(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    response = dict(
        await server.answered_by_controller(
            header, request, lambda controller: _update(controller, header, request)
        )
    )
    if response["error_code"] != ErrorCode.NONE or request.get("validate_only"):
        return response
    wanted = {item.name: item.max_version_level for item in _updates(header, request)}
    await server.await_metadata(
        lambda: all(features.level(server.image, name) == value for name, value in wanted.items())
    )
    return response
