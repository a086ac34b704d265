"""The shell around share partitions and share sessions (KIP-932) on a partition leader:
ShareFetch's reads and acquisitions, acknowledgements, lock expiry, long polls.

- One :class:`~broker.core.share_partition.SharePartition` per (share group, topic id,
  partition) this broker leads, created on first use at the group's
  ``share.auto.offset.reset`` (latest: the high watermark; earliest: the log start;
  by_duration: the first record that recent).  Its state is in memory only: a new leader
  (another broker, or this one in a new leader epoch) starts it afresh, so records in flight
  at a failover are delivered again or, with ``latest``, skipped (Kafka persists it through
  its share coordinator; see ``docs/share-groups.md``).
- Sessions are a :class:`~broker.core.share_session.ShareSessionCache`; the connection that
  opened one owns it, and when it closes the member's acquired records are released.
- A fetch reads whole batches from the partition's next offset to deliver up to the high
  watermark (the LSO for ``share.isolation.level=read_committed``, whose aborted batches are
  archived rather than delivered), stops at ``max_records`` records, and acquires them for the
  member.  A fetch that acquired nothing waits in the purgatory (:class:`DelayedShareFetch`)
  until a partition has something to acquire (an append, a release, a lock expiry) or
  ``max_wait_ms`` passes.
- One task sleeps until the earliest lock deadline and releases what expired.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from broker import config as broker_config
from broker.core.share_partition import (
    AcknowledgementBatch,
    AcknowledgeType,
    AcquiredRecords,
    SharePartition,
    ShareSettings,
)
from broker.core.share_session import ShareSession, ShareSessionCache
from broker.log.partition_log import OffsetOutOfRangeError
from broker.server.clock import monotonic_ms, wall_ms
from broker.server.replica_manager import PARTITION_READ_SOFT_CAP_BYTES
from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.core.partition import Partition
    from broker.log.partition_log import PartitionLog
    from broker.server.broker import BrokerServer

OWNER_STATE_KEY = "share_session_owner"
# (group id, topic id, partition)
ShareKey = tuple[str, uuid.UUID, int]
_BATCH_HEADER = 61
_TRANSACTIONAL, _CONTROL = 0x10, 0x20
_HEAD = struct.Struct(">qi")  # base offset, batch length
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_I64 = struct.Struct(">q")


@dataclass(slots=True)
class _Held:
    state: SharePartition
    topic: str
    leader_epoch: int


class ReadBatches:
    """The batches a share fetch read: how many bytes to send, their offsets, and (for
    read_committed) the offset ranges of aborted transactional batches among them."""

    __slots__ = ("aborted", "first", "last", "size")

    def __init__(
        self,
        data: bytes | memoryview,
        max_records: int,
        aborted_by: dict[int, list[tuple[int, int]]],
    ) -> None:
        """``aborted_by``: producer id -> the offset ranges of its aborted transactions (first
        record to abort marker); a batch of that producer starting within one is aborted."""
        view = memoryview(data)
        position = count = 0
        self.first = self.last = -1
        self.aborted: list[tuple[int, int]] = []
        while position + _BATCH_HEADER <= len(view):
            base, length = _HEAD.unpack_from(view, position)
            end = position + 12 + length
            if end > len(view):
                break
            last = base + _I32.unpack_from(view, position + 23)[0]
            if self.first < 0:
                self.first = base
            self.last = last
            if aborted_by:
                attributes = _I16.unpack_from(view, position + 21)[0]
                producer_id = _I64.unpack_from(view, position + 43)[0]
                if (
                    attributes & _TRANSACTIONAL
                    and not attributes & _CONTROL
                    and any(a <= base <= b for a, b in aborted_by.get(producer_id, ()))
                ):
                    self.aborted.append((base, last))
            count += last - base + 1
            position = end
            if count >= max_records:
                break
        self.size = position


def _subtract(ranges: list[AcquiredRecords], holes: list[tuple[int, int]]) -> list[AcquiredRecords]:
    """``ranges`` without the offsets in ``holes`` (both sorted)."""
    result = []
    for first, last, count in ranges:
        start = first
        for hole_first, hole_last in holes:
            if hole_last < start or hole_first > last:
                continue
            if hole_first > start:
                result.append(AcquiredRecords(start, hole_first - 1, count))
            start = max(start, hole_last + 1)
        if start <= last:
            result.append(AcquiredRecords(start, last, count))
    return result


@dataclass(slots=True)
class FetchedPartition:
    error: ErrorCode = ErrorCode.NONE
    records: bytes | memoryview = b""
    acquired: tuple[AcquiredRecords, ...] = ()


class DelayedShareFetch:
    """A share fetch that acquired nothing, waiting until one of its partitions could
    acquire something (or stopped being led here)."""

    def __init__(self, service: ShareService, group_id: str, keys: list[ShareKey]) -> None:
        self.service = service
        self.group_id = group_id
        self.keys = keys
        self.deadline_ms = 0
        self.completed = False
        self.event = anyio.Event()

    def try_complete(self, key: Hashable) -> bool:
        return any(self.service.could_acquire(share_key) for share_key in self.keys)

    def on_complete(self) -> None:
        self.event.set()


class ShareService:
    """See the module docstring."""

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        self.sessions = ShareSessionCache(server.config.group_share_max_share_sessions)
        self.held: dict[ShareKey, _Held] = {}
        self._wakeup = anyio.Event()

    # -- settings -------------------------------------------------------------------------

    def _group_configs(self, group_id: str) -> dict[str, str]:
        return dict(self.server.image.group_configs.get(group_id, {}))

    def record_lock_duration_ms(self, group_id: str) -> int:
        return broker_config.group_value(
            self.server.config, self._group_configs(group_id), "share.record.lock.duration.ms"
        )

    def read_committed(self, group_id: str) -> bool:
        level = broker_config.group_string(
            self._group_configs(group_id), broker_config.SHARE_ISOLATION_LEVEL
        )
        return level == "read_committed"

    def _settings(self, group_id: str) -> ShareSettings:
        config = self.server.config
        return ShareSettings(
            record_lock_duration_ms=self.record_lock_duration_ms(group_id),
            delivery_count_limit=config.group_share_delivery_count_limit,
            max_record_locks=config.group_share_partition_max_record_locks,
        )

    def _start_offset(self, group_id: str, log_: PartitionLog, high_watermark: int) -> int:
        reset = broker_config.share_auto_offset_reset(
            broker_config.group_string(
                self._group_configs(group_id), broker_config.SHARE_AUTO_OFFSET_RESET
            )
        )
        if reset == "earliest":
            return log_.log_start_offset
        if isinstance(reset, int):
            found = log_.offset_for_timestamp(wall_ms() - reset)
            if found is not None:
                return min(found[0], high_watermark)
        return high_watermark

    # -- share partitions -----------------------------------------------------------------

    def leader(self, topic: str, index: int) -> Partition | ErrorCode:
        partition = self.server.partitions.get((topic, index))
        if partition is None:
            return self.server.not_hosted_error(topic, index)
        if not partition.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return partition

    def _readable_end(self, group_id: str, partition: Partition, log_: PartitionLog) -> int:
        if self.read_committed(group_id):
            return log_.last_stable_offset(partition.high_watermark)
        return partition.high_watermark

    def share_partition(
        self, key: ShareKey, topic: str, partition: Partition, *, create: bool
    ) -> SharePartition | None:
        """The group's state of a partition this broker leads, brought up to date (log start
        moves, expired locks); created at ``share.auto.offset.reset`` if ``create``."""
        group_id, _, index = key
        held = self.held.get(key)
        if held is not None and held.leader_epoch != partition.leader_epoch:
            # Led again after another leader: what this broker knew is stale.
            del self.held[key]
            held = None
        log_ = self.server.partition_log(topic, index)
        if held is None:
            if not create:
                return None
            start = self._start_offset(group_id, log_, partition.high_watermark)
            state = SharePartition(start, self._settings(group_id))
            held = _Held(state, topic, partition.leader_epoch)
            self.held[key] = held
        state = held.state
        state.advance_start(log_.log_start_offset)
        state.expire_locks(monotonic_ms())
        return state

    def could_acquire(self, key: ShareKey) -> bool:
        """For a parked fetch: True when the partition has records to acquire now, or is no
        longer led here (the fetch then answers at once)."""
        held = self.held.get(key)
        if held is None:
            return True
        partition = self.leader(held.topic, key[2])
        if isinstance(partition, ErrorCode) or partition.leader_epoch != held.leader_epoch:
            return True
        log_ = self.server.partition_log(held.topic, key[2])
        return held.state.can_acquire(self._readable_end(key[0], partition, log_))

    def fetch_partition(
        self,
        key: ShareKey,
        topic: str,
        member_id: str,
        max_bytes: int,
        max_records: int,
        *,
        first: bool,
    ) -> FetchedPartition:
        """Read and acquire for ``member_id`` what the partition may deliver now."""
        group_id, _, index = key
        partition = self.leader(topic, index)
        if isinstance(partition, ErrorCode):
            return FetchedPartition(partition)
        state = self.share_partition(key, topic, partition, create=True)
        assert state is not None
        log_ = self.server.partition_log(topic, index)
        end = self._readable_end(group_id, partition, log_)
        if max_records <= 0 or not state.can_acquire(end):
            return FetchedPartition()
        offset = max(state.next_fetch_offset(), log_.log_start_offset)
        if offset >= end:
            return FetchedPartition()
        try:
            # As a consumer fetch: at most a soft cap per partition (max_records cuts later).
            limit = min(max(max_bytes, 0), PARTITION_READ_SOFT_CAP_BYTES)
            data = log_.read(offset, limit, end, min_one_batch=first)
        except OffsetOutOfRangeError:
            return FetchedPartition()
        aborted_by: dict[int, list[tuple[int, int]]] = {}
        if data and self.read_committed(group_id):
            for txn in log_.aborted_transactions(offset, end):
                aborted_by.setdefault(txn.producer_id, []).append(
                    (txn.first_offset, txn.last_offset)
                )
        batches = ReadBatches(data, max_records, aborted_by)
        if batches.first < 0:
            return FetchedPartition()
        now_ms = monotonic_ms()
        acquired = state.acquire(member_id, batches.first, batches.last, end, now_ms)
        if batches.aborted and acquired:
            holes = [(max(a, batches.first), b) for a, b in batches.aborted]
            # Aborted records are never delivered: archived as if acknowledged as a gap.
            kept = _subtract(acquired, holes)
            archived = _subtract(acquired, [(r.first_offset, r.last_offset) for r in kept])
            gap = (int(AcknowledgeType.GAP),)
            gaps = [AcknowledgementBatch(a.first_offset, a.last_offset, gap) for a in archived]
            state.acknowledge(member_id, gaps)
            acquired = kept
        if not acquired:
            return FetchedPartition()
        self._wakeup.set()
        return FetchedPartition(ErrorCode.NONE, memoryview(data)[: batches.size], tuple(acquired))

    def acknowledge(
        self,
        key: ShareKey,
        topic: str,
        member_id: str,
        batches: list[AcknowledgementBatch],
    ) -> ErrorCode:
        partition = self.leader(topic, key[2])
        if isinstance(partition, ErrorCode):
            return partition
        state = self.share_partition(key, topic, partition, create=False)
        if state is None:
            return ErrorCode.INVALID_RECORD_STATE
        error = state.acknowledge(member_id, batches)
        if error is ErrorCode.NONE and any(
            AcknowledgeType.RELEASE in batch.types for batch in batches
        ):
            self.server.complete_waiters((topic, key[2]))
        return error

    # -- sessions -------------------------------------------------------------------------

    @staticmethod
    def owner(state: dict[str, Any]) -> Hashable:
        """The connection's token as a share session owner."""
        token = state.get(OWNER_STATE_KEY)
        if token is None:
            token = state[OWNER_STATE_KEY] = object()
        return token

    def release_session(self, session: ShareSession) -> None:
        """A session ended: what its member holds in the session's partitions goes back."""
        for topic_id, index in session.partitions:
            assert isinstance(topic_id, uuid.UUID)
            key = (session.group_id, topic_id, index)
            held = self.held.get(key)
            if held is not None and held.state.release_member(session.member_id):
                self.server.complete_waiters((held.topic, index))

    def release_sessions(self, sessions: Iterable[ShareSession]) -> None:
        for session in sessions:
            self.release_session(session)

    def on_connection_closed(self, state: dict[str, Any]) -> None:
        token = state.get(OWNER_STATE_KEY)
        if token is not None:
            self.release_sessions(self.sessions.drop_owned_by(token))

    # -- long polls and lock expiry -------------------------------------------------------

    async def wait(self, group_id: str, keys: list[ShareKey], wait_ms: int) -> None:
        operation = DelayedShareFetch(self, group_id, keys)
        operation.deadline_ms = monotonic_ms() + wait_ms
        watched = [(self.held[key].topic, key[2]) for key in keys if key in self.held]
        if not watched or operation.try_complete(None):
            return
        self.server.watch_delayed(operation, watched)
        await operation.event.wait()

    def _next_deadline_ms(self) -> int | None:
        deadlines = [
            deadline
            for held in self.held.values()
            if (deadline := held.state.next_deadline_ms()) is not None
        ]
        return min(deadlines, default=None)

    async def run_timers(self) -> None:
        """Sleep until the earliest lock deadline (or a new acquisition), then release what
        expired and wake the fetches waiting on those partitions."""
        while True:
            self._wakeup = anyio.Event()
            deadline = self._next_deadline_ms()
            delay = None if deadline is None else max(deadline - monotonic_ms(), 0) / 1000
            with anyio.move_on_after(delay):
                await self._wakeup.wait()
            now_ms = monotonic_ms()
            for (_, _, index), held in list(self.held.items()):
                if held.state.expire_locks(now_ms):
                    self.server.complete_waiters((held.topic, index))
