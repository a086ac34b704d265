"""One module per API; ``HANDLERS`` maps an API key to its handler coroutine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.server.handlers import (
    admin,
    api_versions,
    coordinator,
    fetch,
    list_offsets,
    metadata,
    produce,
    producer_id,
)

if TYPE_CHECKING:
    from broker.server.dispatcher import Handler

HANDLERS: dict[int, Handler] = {
    0: produce.handle,
    1: fetch.handle,
    2: list_offsets.handle,
    3: metadata.handle,
    10: coordinator.find_coordinator,
    9: coordinator.offset_fetch,
    18: api_versions.handle,
    19: admin.create_topics,
    20: admin.delete_topics,
    22: producer_id.handle,
    32: admin.describe_configs,
    37: admin.create_partitions,
    60: metadata.describe_cluster,
}
