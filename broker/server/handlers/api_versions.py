"""ApiVersions (18): what this broker implements, exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    return server.dispatcher.api_versions_body(ErrorCode.NONE, header.api_version)
