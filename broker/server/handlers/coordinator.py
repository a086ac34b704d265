"""FindCoordinator (10): the broker leading the group's ``__consumer_offsets`` partition.

On a single node that is always this broker; finding a group coordinator creates
``__consumer_offsets`` on first use and loads the coordinator (COORDINATOR_NOT_AVAILABLE if
that fails).  Transaction coordinators (key type 1) are answered the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1


def _coordinator(server: BrokerServer, key: str, key_type: int) -> dict[str, Any]:
    if key_type not in (GROUP_KEY_TYPE, TRANSACTION_KEY_TYPE):
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": "Invalid key type",
        }
    if not key:
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": "Empty key",
        }
    return {
        "key": key,
        "node_id": server.node_id,
        "host": server.advertised_host,
        "port": server.advertised_port,
        "error_code": ErrorCode.NONE,
        "error_message": None,
    }


async def find_coordinator(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    key_type = request.get("key_type", GROUP_KEY_TYPE)
    if header.api_version >= 4:
        coordinators = [_coordinator(server, key, key_type) for key in request.coordinator_keys]
        return {"throttle_time_ms": 0, "coordinators": coordinators}
    single = _coordinator(server, request.key, key_type)
    return {"throttle_time_ms": 0, **single}
