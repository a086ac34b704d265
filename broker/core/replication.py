"""Replication decisions shared by the broker shell and the simulator (sans-IO).

- :func:`check_follower_fetch` — the leader's verdict on one partition of a follower's Fetch:
  leader-epoch fencing (KIP-320), divergence by ``last_fetched_epoch`` (KIP-595 style
  ``diverging_epoch``), offset range; Kafka's ``Partition.fetchRecords`` for a follower.
- :func:`apply_follower_effect` — a follower applies one fetch effect to its log and partition
  in the order that keeps the high watermark honest: truncate or append first, then take the
  leader's high watermark (KAFKA-14704), then the leader's log start offset
  (:func:`follower_log_start_offset`: DeleteRecords and retention reach the followers).

Both work on small protocols of the log, so the simulator can pass its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from broker.core.partition import Partition
from broker.core.replica_fetcher import (
    AppendRecords,
    Effect,
    PartitionFailed,
    ResetLog,
    Truncate,
    UpdateHighWatermark,
)
from client.protocol.errors import ErrorCode


class LeaderLog(Protocol):
    @property
    def log_start_offset(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]: ...


class FollowerLog(LeaderLog, Protocol):
    def truncate_to(self, offset: int) -> None: ...

    def truncate_fully_and_start_at(self, offset: int) -> None: ...

    def advance_log_start_offset(self, offset: int) -> None: ...


def follower_log_start_offset(
    own_start: int, leader_start: int, log_end_offset: int, high_watermark: int
) -> int:
    """A follower's log start offset after a fetch response carrying the leader's.

    Kafka's ``ReplicaFetcherThread.processPartitionData`` rule: max(own, min(leader's, own
    LEO)), never back; -1 (the leader did not say) changes nothing.  Bounded by the
    follower's own high watermark as well: Kafka's ``maybeIncrementLogStartOffset`` refuses
    a start above it.  With the high watermark taken first from the same response (min of the
    leader's and the own LEO) and the leader's start at or below the leader's HW, that bound
    never binds, so the rule is Kafka's; it only keeps a follower that fell behind the
    leader's start (it is reset by OFFSET_OUT_OF_RANGE instead) from passing its own HW.
    """
    if leader_start < 0:
        return own_start
    return max(own_start, min(leader_start, log_end_offset, high_watermark))


@dataclass(frozen=True, slots=True)
class FollowerFetchCheck:
    """NONE with ``diverging`` None: serve records from the fetch offset up to the LEO."""

    error: ErrorCode
    diverging: tuple[int, int] | None = None


def check_follower_fetch(
    partition: Partition,
    log: LeaderLog,
    fetch_offset: int,
    last_fetched_epoch: int,
    current_leader_epoch: int,
) -> FollowerFetchCheck:
    # Kafka's order (localLogWithEpochOrThrow): the epoch first, then the leadership.
    error = partition.check_leader_epoch(current_leader_epoch)
    if error is not ErrorCode.NONE:
        return FollowerFetchCheck(error)
    if not partition.is_leader:
        return FollowerFetchCheck(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    if last_fetched_epoch >= 0:
        epoch, end_offset = log.end_offset_for_epoch(last_fetched_epoch)
        if epoch < 0 or end_offset < 0:
            # We hold nothing as old as that epoch: the follower starts over from our log
            # start (OFFSET_OUT_OF_RANGE is never fatal to a follower).
            return FollowerFetchCheck(ErrorCode.OFFSET_OUT_OF_RANGE)
        if epoch < last_fetched_epoch or end_offset < fetch_offset:
            return FollowerFetchCheck(ErrorCode.NONE, (epoch, end_offset))
    if fetch_offset > log.log_end_offset or fetch_offset < log.log_start_offset:
        return FollowerFetchCheck(ErrorCode.OFFSET_OUT_OF_RANGE)
    return FollowerFetchCheck(ErrorCode.NONE)


def apply_follower_effect(
    effect: Effect,
    partition: Partition,
    log: FollowerLog,
    append: Callable[[AppendRecords], int],
) -> bool:
    """Apply one effect; ``append`` writes the records' whole batches and returns the bytes
    written.  False when nothing changed on the log (the fetcher need not re-read it; a moved
    log start offset is a change: the next fetch reports it to the leader)."""
    if isinstance(effect, AppendRecords):
        written = append(effect)
        if written == 0:
            return False
        partition.on_local_append(log.log_end_offset, written)
        partition.on_leader_high_watermark(effect.leader_high_watermark)
        _take_leader_log_start(effect.leader_log_start_offset, partition, log)
        return True
    if isinstance(effect, Truncate):
        log.truncate_to(effect.offset)
        partition.on_truncated(log.log_end_offset)
        return True
    if isinstance(effect, ResetLog):
        log.truncate_fully_and_start_at(effect.offset)
        partition.on_truncated(log.log_end_offset)
        return True
    if isinstance(effect, UpdateHighWatermark):
        partition.on_leader_high_watermark(effect.leader_high_watermark)
        return _take_leader_log_start(effect.leader_log_start_offset, partition, log)
    assert isinstance(effect, PartitionFailed)
    return False


def _take_leader_log_start(leader_start: int, partition: Partition, log: FollowerLog) -> bool:
    """Move the local log start up to the leader's (see :func:`follower_log_start_offset`);
    True when it moved."""
    start = follower_log_start_offset(
        log.log_start_offset, leader_start, log.log_end_offset, partition.high_watermark
    )
    if start <= log.log_start_offset:
        return False
    log.advance_log_start_offset(start)
    return True
