"""Internal topics the broker writes itself: ``__consumer_offsets`` (and later others).

The group coordinator's state lives as records in the partition of ``__consumer_offsets`` that
``partition_for(group)`` names; whoever leads that partition coordinates the group and rebuilds
its state by replaying the partition.  Records are appended through the same log path as a
client's produce (offsets stamped, producer state, purgatory wake-ups), with ``acks=all``
semantics: the caller answers its client only after the append returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from broker.core.controller import NewTopic
from broker.server.clock import wall_ms
from client.protocol.errors import ErrorCode
from client.protocol.records import (
    Record,
    build_batch,
    decode_records,
    iterate_batches,
    validate_batches,
)

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

OFFSETS_TOPIC = "__consumer_offsets"
READ_CHUNK_BYTES = 1 << 20


async def ensure_offsets_topic(server: BrokerServer) -> ErrorCode:
    """Create ``__consumer_offsets`` on first use: ``offsets.topic.num.partitions`` partitions,
    replication factor ``offsets.topic.replication.factor`` capped at the live brokers (so a
    single node works), compacted as in Kafka."""
    if server.image.topic(OFFSETS_TOPIC) is not None:
        return ErrorCode.NONE
    brokers = max(len(server.live_brokers()), 1)
    factor = min(server.config.offsets_topic_replication_factor, brokers)
    topic = NewTopic(
        OFFSETS_TOPIC,
        server.config.offsets_topic_num_partitions,
        factor,
        configs={"cleanup.policy": "compact"},
    )
    results = await server.create_topics([topic])
    return results[0].error_code


def append(
    server: BrokerServer, topic: str, partition: int, pairs: list[tuple[bytes, bytes | None]]
) -> int:
    """Append (key, value) records as one batch; a ``None`` value is a tombstone.  Returns the
    base offset."""
    assert pairs
    now = wall_ms()
    data = bytearray(
        build_batch([Record(0, now, key, value) for key, value in pairs], timestamp_ms=now)
    )
    local = server.partitions[(topic, partition)]
    log_ = server.partition_log(topic, partition)
    batches = validate_batches(data, max_batch_bytes=max(len(data), 1), from_client=False)
    result = log_.append(data, batches.batches, leader_epoch=local.leader_epoch, wall_ms=now)
    server.on_appended(local, len(data))
    return result.base_offset


def replay(
    server: BrokerServer, topic: str, partition: int
) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """Every (offset, key, value) of a partition, from its log start offset to its end."""
    log_ = server.partition_log(topic, partition)
    offset = log_.log_start_offset
    while offset < log_.log_end_offset:
        data = log_.read(offset, READ_CHUNK_BYTES, log_.log_end_offset, min_one_batch=True)
        if not data:
            return
        view = memoryview(data)
        for position, header in iterate_batches(view):
            for record in decode_records(view[position : position + header.size_bytes]):
                if record.offset >= offset:
                    yield record.offset, record.key, record.value
            offset = header.next_offset
