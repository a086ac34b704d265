"""InitProducerId (22): a fresh producer id for an idempotent producer (KIP-98, KIP-360).

Ids come from blocks whose end is persisted in the metadata log before any id of the block is
handed out, so ids are unique and never reused after a restart.  As in Kafka, a producer without
a ``transactional.id`` always gets a new id at epoch 0 (a KIP-360 epoch-bump request from an
idempotent producer is answered the same way).  A request with a ``transactional.id`` goes to
the transaction coordinator (:mod:`broker.server.handlers.transactions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import Container

from broker.server.handlers import transactions
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer


async def handle(server: BrokerServer, header: RequestHeader, request: Container) -> dict[str, Any]:
    if request.transactional_id is not None:
        return await transactions.init_producer_id(server, header, request)
    return {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "producer_id": await server.allocate_producer_id(),
        "producer_epoch": 0,
    }
