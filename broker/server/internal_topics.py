"""Internal topics the broker writes itself: ``__consumer_offsets`` and ``__transaction_state``.

The group coordinator's state lives as records in the partition of ``__consumer_offsets`` that
``partition_for(group)`` names; whoever leads that partition coordinates the group and rebuilds
its state by replaying the partition.  Records are appended through the same log path as a
client's produce (offsets stamped, producer state, purgatory wake-ups), with ``acks=all``
semantics: the caller answers its client only after the append returned.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import anyio

from broker.core.controller import NewTopic
from broker.server.clock import monotonic_ms, wall_ms
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
TRANSACTION_STATE_TOPIC = "__transaction_state"
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
        configs={
            "cleanup.policy": "compact",
            "segment.bytes": str(server.config.offsets_topic_segment_bytes),
        },
    )
    results = await server.create_topics([topic])
    return results[0].error_code


async def ensure_transaction_topic(server: BrokerServer) -> ErrorCode:
    """Create ``__transaction_state`` on first use: ``transaction.state.log.num.partitions``
    partitions, replication factor ``transaction.state.log.replication.factor`` capped at the
    live brokers, ``min.insync.replicas`` = ``transaction.state.log.min.isr``, compacted."""
    if server.image.topic(TRANSACTION_STATE_TOPIC) is not None:
        return ErrorCode.NONE
    config = server.config
    brokers = max(len(server.live_brokers()), 1)
    factor = min(config.transaction_state_log_replication_factor, brokers)
    topic = NewTopic(
        TRANSACTION_STATE_TOPIC,
        config.transaction_state_log_num_partitions,
        factor,
        configs={
            "cleanup.policy": "compact",
            "segment.bytes": str(config.transaction_state_log_segment_bytes),
            "min.insync.replicas": str(config.transaction_state_log_min_isr),
            "unclean.leader.election.enable": "false",
        },
    )
    results = await server.create_topics([topic])
    return results[0].error_code


async def await_committed(
    server: BrokerServer, required: dict[tuple[str, int], tuple[int, int]], timeout_ms: int
) -> dict[tuple[str, int], ErrorCode | None]:
    """Wait until each partition's high watermark passes the given (end offset, leader
    epoch), as an acks=all produce does; returns the partitions that failed, with their
    error (None: timed out)."""
    from broker.server.handlers.produce import DelayedProduce
    from broker.server.replica_manager import acks_key

    operation = DelayedProduce(server, required, monotonic_ms() + timeout_ms)
    if not operation.try_complete(None):
        server.watch_delayed(operation, [acks_key(key) for key in required])
        committed = anyio.Event()
        operation.subscribe(committed.set)
        await committed.wait()
    failed: dict[tuple[str, int], ErrorCode | None] = {}
    for key in required:
        status = operation.status(key)
        if status is not ErrorCode.NONE:
            failed[key] = status
    return failed


def append(
    server: BrokerServer,
    topic: str,
    partition: int,
    pairs: list[tuple[bytes, bytes | None]],
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
) -> int:
    """Append (key, value) records as one batch; a ``None`` value is a tombstone.  Returns the
    base offset.  With ``producer_id`` the batch is part of that producer's transaction
    (TxnOffsetCommit): its marker on this partition will commit or abort it."""
    assert pairs
    now = wall_ms()
    transactional = producer_id >= 0
    data = bytearray(
        build_batch(
            [Record(0, now, key, value) for key, value in pairs],
            timestamp_ms=now,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=0 if transactional else -1,
            transactional=transactional,
        )
    )
    local = server.partitions[(topic, partition)]
    log_ = server.partition_log(topic, partition)
    batches = validate_batches(data, max_batch_bytes=max(len(data), 1), from_client=False)
    result = log_.append(data, batches.batches, leader_epoch=local.leader_epoch, wall_ms=now)
    server.on_appended(local, len(data))
    return result.base_offset


MarkerCallback = Callable[[int, bool], None]
_CONTROL_KEY = struct.Struct(">hh")
_COMMIT = 1


def replay(
    server: BrokerServer, topic: str, partition: int, on_marker: MarkerCallback | None = None
) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Every (offset, key, value, transactional producer id or -1) of a partition, from its
    log start offset to its end; each end-transaction marker met on the way is reported, in
    order, to ``on_marker(producer_id, commit)``."""
    log_ = server.partition_log(topic, partition)
    offset = log_.log_start_offset
    while offset < log_.log_end_offset:
        data = log_.read(offset, READ_CHUNK_BYTES, log_.log_end_offset, min_one_batch=True)
        if not data:
            return
        view = memoryview(data)
        for position, header in iterate_batches(view):
            batch = view[position : position + header.size_bytes]
            if header.is_control:
                control = decode_records(batch)[0].key or b""
                if on_marker is not None and len(control) >= _CONTROL_KEY.size:
                    on_marker(header.producer_id, _CONTROL_KEY.unpack_from(control)[1] == _COMMIT)
                offset = header.next_offset
                continue
            txn_producer_id = header.producer_id if header.is_transactional else -1
            for record in decode_records(batch):
                if record.offset >= offset:
                    yield record.offset, record.key, record.value, txn_producer_id
            offset = header.next_offset
