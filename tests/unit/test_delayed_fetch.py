"""A consumer's parked Fetch (``DelayedFetch``): when it wakes on a leader or a follower."""

from __future__ import annotations

import uuid
from typing import Any

from broker.core.partition import Partition
from broker.server.handlers.fetch import DelayedFetch

KEY = ("t", 0)


class _Log:
    def last_stable_offset(self, high_watermark: int) -> int:
        return high_watermark


class _Server:
    def __init__(self, partition: Partition) -> None:
        self.partitions = {KEY: partition}

    def partition_log(self, topic: str, index: int) -> _Log:
        return _Log()


def _follower() -> Partition:
    # Broker 2 follows leader 1 at epoch 5, in the ISR; it holds 10 records, its HW is 4.
    partition = Partition("t", 0, uuid.uuid4(), 2, (1, 2, 3), (1, 2, 3), 1, 5, 1)
    partition.log_end_offset = 10
    partition.high_watermark = 4
    partition.bytes_appended = 1000
    return partition


def _parked(partition: Partition, **options: Any) -> DelayedFetch:
    server: Any = _Server(partition)
    return DelayedFetch(server, [KEY], 1, 10_000, for_replica=False, **options)


def test_a_high_watermark_move_wakes_a_fetch_parked_after_the_append() -> None:
    partition = _follower()
    operation = _parked(partition, from_any_replica=True)
    assert not operation.try_complete(KEY)
    partition.high_watermark = 10  # the records appended before the fetch parked
    assert operation.try_complete(KEY)


def test_bytes_alone_do_not_wake_a_consumer() -> None:
    partition = _follower()
    operation = _parked(partition, from_any_replica=True)
    partition.bytes_appended += 500  # appended, not yet below the HW
    assert not operation.try_complete(KEY)


def test_a_fetch_ends_when_its_replica_may_no_longer_serve_it() -> None:
    partition = _follower()
    left_isr = _parked(partition, from_any_replica=True)
    partition.isr = (1, 3)
    assert left_isr.try_complete(KEY)

    partition = _follower()
    new_epoch = _parked(partition, from_any_replica=True)
    partition.leader_epoch = 6
    assert new_epoch.try_complete(KEY)

    leader = _follower()
    leader.leader = 2
    below_v11 = _parked(leader)
    assert not below_v11.try_complete(KEY)
    leader.leader = 3  # no longer the leader: a Fetch below v11 gets its error at once
    assert below_v11.try_complete(KEY)
