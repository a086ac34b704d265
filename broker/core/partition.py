"""Partition state on the broker: leader epoch, ISR, log end offsets, high watermark, acks.

Kafka's ``Partition.scala`` in miniature, without locks: the shell feeds in appends and
follower positions and asks for decisions.  The high watermark is the smallest log end offset
among the ISR (the leader's own included) and never moves backwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from client.protocol.errors import ErrorCode

ACKS_NONE = 0
ACKS_LEADER = 1
ACKS_ALL = -1


@dataclass(slots=True)
class Partition:
    """One partition replica hosted by this broker."""

    topic: str
    index: int
    topic_id: uuid.UUID
    local_broker_id: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    min_insync_replicas: int
    high_watermark: int = 0
    replica_log_end_offsets: dict[int, int] = field(default_factory=dict)
    bytes_appended: int = 0

    @property
    def is_leader(self) -> bool:
        return self.leader == self.local_broker_id

    def effective_min_isr(self) -> int:
        """min(min.insync.replicas, replication factor), as current Kafka (KIP-966 era)."""
        return min(self.min_insync_replicas, len(self.replicas))

    def check_produce(self, acks: int) -> ErrorCode:
        """May this leader accept a produce with ``acks``?  (The acks=all ISR-size rule.)"""
        if acks not in (ACKS_NONE, ACKS_LEADER, ACKS_ALL):
            return ErrorCode.INVALID_REQUIRED_ACKS
        if not self.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if acks == ACKS_ALL and len(self.isr) < self.effective_min_isr():
            return ErrorCode.NOT_ENOUGH_REPLICAS
        return ErrorCode.NONE

    def check_leader_epoch(self, current_leader_epoch: int) -> ErrorCode:
        """Fetch/ListOffsets leader-epoch fencing (KIP-320); -1 means the client did not say."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return ErrorCode.NONE
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        return ErrorCode.UNKNOWN_LEADER_EPOCH

    def on_local_append(self, log_end_offset: int, size_bytes: int) -> bool:
        """Record the leader's new log end offset; True when the high watermark advanced."""
        previous = self.replica_log_end_offsets.get(self.local_broker_id, 0)
        assert log_end_offset >= previous, (log_end_offset, previous)
        self.replica_log_end_offsets[self.local_broker_id] = log_end_offset
        self.bytes_appended += size_bytes
        return self._maybe_advance_high_watermark()

    def _maybe_advance_high_watermark(self) -> bool:
        offsets = [self.replica_log_end_offsets.get(replica, 0) for replica in self.isr]
        candidate = min(offsets) if offsets else 0
        if candidate <= self.high_watermark:
            return False
        self.high_watermark = candidate
        return True
