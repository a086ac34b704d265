"""What the checker remembers: each replica's log as read back, and committed records.

A :class:`Shadow` mirrors one broker incarnation's log of one partition: the stored bytes of
each batch (one record per batch in the simulation) and a hash chain over them, so two replicas
with the same batch at the same offset and epoch can be compared in O(1) (P4).  A
:class:`Commit` is the batch a leader's HW first passed; an :class:`Excuse` records a loss of
committed records that replication.md allows (F10, F11).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from broker.core.leader_epoch import EpochEntry
from broker.core.partition import Partition
from broker.log.partition_log import PartitionLog
from broker.sim.messages import TopicPartition
from client.protocol.records import decode_records, iterate_batches

WHOLE_LOG = (1 << 63) - 1


def digest(*parts: bytes) -> bytes:
    hasher = hashlib.blake2b(digest_size=12)
    for part in parts:
        hasher.update(part)
    return hasher.digest()


@dataclass(slots=True)
class Shadow:
    """What the checker has read of one broker incarnation's log of one partition."""

    incarnation: int
    log_id: int = -1
    fingerprint: tuple[int, ...] = ()
    start: int = 0
    batches: list[bytes] = field(default_factory=list)
    chains: list[bytes] = field(default_factory=list)
    high_watermark: int = 0
    leader_term: tuple[int, int] | None = None
    leader_epoch: int = -1
    partition_epoch: int = -1
    epochs: tuple[EpochEntry, ...] = ()
    epochs_end: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.batches)

    def at(self, offset: int) -> bytes | None:
        index = offset - self.start
        return self.batches[index] if 0 <= index < len(self.batches) else None


@dataclass(frozen=True, slots=True)
class Replica:
    """One broker's replica of one partition, as a check sees it."""

    broker_id: int
    key: TopicPartition
    shadow: Shadow
    log: PartitionLog
    partition: Partition | None  # None: reading a reopened log, before any role


@dataclass(frozen=True, slots=True)
class Commit:
    """The batch a leader of ``epoch`` first passed its HW over, when, with which ISR."""

    batch: bytes
    time_ms: int
    epoch: int
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Excuse:
    """Committed records from ``offset`` on were lost (F10/F11) when the leader of ``epoch``
    took over: any record there written in an earlier epoch may be gone."""

    offset: int
    epoch: int
    reason: str
    time_ms: int
    values: tuple[bytes, ...]


def value_of(batch: bytes) -> bytes:
    record = decode_records(batch)[0]
    assert record.value is not None
    return record.value


def fingerprint(log: PartitionLog) -> tuple[int, ...]:
    active = log.active_segment
    return (
        log.log_end_offset,
        log.log_start_offset,
        len(log.segments),
        active.base_offset,
        active.size_bytes,
    )


def batches_of(log: PartitionLog, offset: int, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Every batch of ``log`` from ``offset`` on, as stored."""
    while offset < log.log_end_offset:
        data = bytes(log.read(offset, chunk_bytes, WHOLE_LOG, min_one_batch=True))
        if not data:
            return
        for position, header in iterate_batches(data):
            yield data[position : position + header.size_bytes]
            offset = header.next_offset
