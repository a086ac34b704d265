"""Partition state: acks checks, leader-epoch fencing, high watermark."""

from __future__ import annotations

import uuid

from broker.core.partition import Partition
from client.protocol.errors import ErrorCode


def _partition(
    isr: tuple[int, ...] = (1,), replicas: tuple[int, ...] = (1,), min_isr: int = 1
) -> Partition:
    return Partition("t", 0, uuid.uuid4(), 1, replicas, isr, 1, 3, min_isr)


def test_acks_rules() -> None:
    partition = _partition(min_isr=2)
    # min.insync.replicas above the replication factor is capped by it (one replica here).
    assert partition.check_produce(-1) is ErrorCode.NONE
    assert partition.check_produce(1) is ErrorCode.NONE
    assert partition.check_produce(2) is ErrorCode.INVALID_REQUIRED_ACKS
    shrunk = _partition(isr=(1,), replicas=(1, 2, 3), min_isr=2)
    assert shrunk.check_produce(-1) is ErrorCode.NOT_ENOUGH_REPLICAS
    assert shrunk.check_produce(1) is ErrorCode.NONE


def test_leader_epoch_fencing() -> None:
    partition = _partition()
    assert partition.check_leader_epoch(-1) is ErrorCode.NONE
    assert partition.check_leader_epoch(3) is ErrorCode.NONE
    assert partition.check_leader_epoch(2) is ErrorCode.FENCED_LEADER_EPOCH
    assert partition.check_leader_epoch(4) is ErrorCode.UNKNOWN_LEADER_EPOCH


def test_high_watermark_follows_the_slowest_isr_member() -> None:
    partition = _partition()
    assert partition.on_local_append(5, 100)
    assert partition.high_watermark == 5
    assert not partition.on_local_append(5, 0)
    assert partition.bytes_appended == 100
    replicated = _partition(isr=(1, 2), replicas=(1, 2))
    replicated.on_local_append(5, 10)
    assert replicated.high_watermark == 0  # follower 2 has nothing yet
