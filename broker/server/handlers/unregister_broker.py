"""UnregisterBroker (64): ``kafka-cluster unregister --id N``.

A broker-only node forwards the request to the controller as it came (KIP-590) and, after a
success, waits (bounded) until its own metadata no longer has the registration, so that the
client's next Metadata or DescribeCluster request here does not list the broker.  The
controller, or a combined node, runs ``ClusterControl.unregister_broker``: the broker leaves
every ISR and leadership (as a fence) and its registration goes
(``UnregisterBrokerRecord``).  An unknown id is BROKER_ID_NOT_REGISTERED.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer
    from broker.server.controller_server import ControllerServer

log = logging.getLogger("odradek.controller")


def answer(server: ControllerServer, request: Container) -> dict[str, Any]:
    broker_id = int(request.broker_id)
    error = server.apply(server.cluster.unregister_broker(broker_id))
    message = None
    if error is ErrorCode.NONE:
        log.warning("broker %d unregistered (UnregisterBroker)", broker_id)
    else:
        message = f"Broker {broker_id} is not registered."
    return {"throttle_time_ms": 0, "error_code": error, "error_message": message}


async def handle_on_controller(
    server: ControllerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    del header
    return answer(server, request)


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    broker_id = int(request.broker_id)
    before = server.image.brokers.get(broker_id)
    response = await server.answered_by_controller(
        header, request, lambda controller: answer(controller, request)
    )

    def gone() -> bool:
        # A broker still running registers again at once: a new epoch counts as gone too.
        current = server.image.brokers.get(broker_id)
        return current is None or before is None or current.broker_epoch != before.broker_epoch

    if response["error_code"] == ErrorCode.NONE and server.forwards_to_controller:
        await server.await_metadata(gone)
    return response
