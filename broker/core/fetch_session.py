"""The leader's side of a KIP-227 incremental fetch session, sans-IO (Kafka's ``FetchSession``).

A session remembers, per partition, the fetch data the follower last sent (fetch offset, log
start offset, leader epochs, partition max bytes) and what the leader last answered for it
(high watermark, last stable offset, log start offset).  An incremental request then names
only the partitions that were added or whose fetch data changed, and lists the ones to drop in
``forgotten_topics_data``; the leader serves *every* session partition with the data it has for
it, and answers only the partitions with something to say (:meth:`FetchSession.must_answer`).

Request metadata (``session_id``, ``session_epoch``):

- epoch -1 (FINAL): a sessionless full fetch (a session id names a session to close).
- epoch 0 (INITIAL): a full fetch asking for a new session (a session id names one to close).
- epoch N > 0: an incremental fetch in session ``session_id``; the epoch must be the one the
  session expects (it starts at 1 and is advanced by :func:`next_epoch` per request).

One deliberate difference from Kafka: a partition the request names (added or changed) is
always answered, even with nothing new, so a follower that ignored an answer (its state moved
while the fetch was out) gets the leader's high watermark again as soon as it asks.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from client.protocol.errors import ErrorCode

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
MAX_EPOCH = 0x7FFFFFFF

K = TypeVar("K", bound=Hashable)


def next_epoch(epoch: int) -> int:
    """The epoch after ``epoch`` (Kafka's ``FetchMetadata.nextEpoch``): wraps to 1, never 0."""
    if epoch < 0:
        return FINAL_EPOCH
    if epoch == MAX_EPOCH:
        return 1
    return epoch + 1


@dataclass(frozen=True, slots=True)
class PartitionFetchData:
    """What a follower sends for one partition; equal data is left out of incremental requests."""

    fetch_offset: int
    log_start_offset: int
    current_leader_epoch: int
    last_fetched_epoch: int
    partition_max_bytes: int


@dataclass(slots=True)
class CachedPartition:
    data: PartitionFetchData
    # What the session answered last (-1: nothing yet).
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    # Answer it next time whatever it carries (new, changed, or after an error).
    pending: bool = True


class FetchSession(Generic[K]):
    """One follower's session: its partitions in insertion order and the epoch expected next."""

    def __init__(self, session_id: int, partitions: Mapping[K, PartitionFetchData]) -> None:
        if session_id == INVALID_SESSION_ID:
            raise ValueError("a fetch session id is never 0")
        self.id = session_id
        self.epoch = next_epoch(INITIAL_EPOCH)
        self.partitions: dict[K, CachedPartition] = {
            key: CachedPartition(data) for key, data in partitions.items()
        }

    def incremental(
        self,
        epoch: int,
        changed: Mapping[K, PartitionFetchData],
        forgotten: Iterable[K],
    ) -> ErrorCode:
        """Take an incremental request: the epoch must be the expected one (then it advances);
        ``forgotten`` partitions leave the session, ``changed`` ones are added or updated."""
        if epoch != self.epoch:
            return ErrorCode.INVALID_FETCH_SESSION_EPOCH
        self.epoch = next_epoch(epoch)
        for key in forgotten:
            self.partitions.pop(key, None)
        for key, data in changed.items():
            cached = self.partitions.get(key)
            if cached is None:
                self.partitions[key] = CachedPartition(data)
            else:
                cached.data = data
                cached.pending = True
        return ErrorCode.NONE

    def fetch_data(self) -> list[tuple[K, PartitionFetchData]]:
        """Every session partition with the fetch data to serve it with."""
        return [(key, cached.data) for key, cached in self.partitions.items()]

    def must_answer(
        self,
        key: K,
        *,
        error: ErrorCode,
        high_watermark: int,
        last_stable_offset: int,
        log_start_offset: int,
        has_records: bool,
        diverging: bool,
    ) -> bool:
        """Whether the response carries this partition (Kafka's ``maybeUpdateResponseData``):
        records, an error, a divergence, a changed HW / LSO / log start, or a pending one.
        Remembers what is answered; a partition not in the session is always answered."""
        cached = self.partitions.get(key)
        if cached is None:
            return True
        answer = cached.pending or has_records or diverging
        if (high_watermark, last_stable_offset, log_start_offset) != (
            cached.high_watermark,
            cached.last_stable_offset,
            cached.log_start_offset,
        ):
            answer = True
            cached.high_watermark = high_watermark
            cached.last_stable_offset = last_stable_offset
            cached.log_start_offset = log_start_offset
        cached.pending = error is not ErrorCode.NONE
        return answer or cached.pending
