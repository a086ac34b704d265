"""KIP-392's rack-aware replica selector: which replica a leader sends a consumer to."""

from __future__ import annotations

import uuid

from broker.core.partition import FollowerState, Partition
from broker.core.replica_selector import (
    NO_PREFERRED_REPLICA,
    ReplicaView,
    consumer_read_error,
    preferred_read_replica,
    rack_aware_choice,
    read_replica_candidates,
)
from client.protocol.errors import ErrorCode

RACKS: dict[int, str | None] = {1: "a", 2: "b", 3: "c", 4: "b"}


def _leader_partition(isr: tuple[int, ...] = (1, 2, 3, 4)) -> Partition:
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2, 3, 4), isr, 1, 5, 1)
    partition.log_end_offset = 100
    partition.followers = {
        2: FollowerState(log_end_offset=100, last_caught_up_ms=900, log_start_offset=0),
        3: FollowerState(log_end_offset=90, last_caught_up_ms=1000, log_start_offset=0),
        4: FollowerState(log_end_offset=100, last_caught_up_ms=990, log_start_offset=20),
    }
    return partition


def test_the_leader_serves_without_a_rack_or_in_its_own_rack() -> None:
    partition = _leader_partition()
    assert preferred_read_replica(partition, 50, "", RACKS, 1000) == NO_PREFERRED_REPLICA
    assert preferred_read_replica(partition, 50, "a", RACKS, 1000) == NO_PREFERRED_REPLICA
    assert preferred_read_replica(partition, 50, "zz", RACKS, 1000) == NO_PREFERRED_REPLICA


def test_the_most_caught_up_replica_in_the_clients_rack() -> None:
    partition = _leader_partition()
    # Rack b holds 2 and 4, both at the log end: 4 caught up more recently.
    assert preferred_read_replica(partition, 50, "b", RACKS, 1000) == 4
    assert preferred_read_replica(partition, 50, "c", RACKS, 1000) == 3
    # 4's log starts at 20: it cannot serve offset 10, so 2 does.
    assert preferred_read_replica(partition, 10, "b", RACKS, 1000) == 2
    # 3's log ends at 90: past it, rack c has no candidate and the leader serves.
    assert preferred_read_replica(partition, 95, "c", RACKS, 1000) == NO_PREFERRED_REPLICA


def test_only_live_isr_members_are_candidates() -> None:
    out_of_isr = _leader_partition(isr=(1, 2, 3))
    assert preferred_read_replica(out_of_isr, 50, "b", RACKS, 1000) == 2
    fenced = {broker: rack for broker, rack in RACKS.items() if broker != 4}
    partition = _leader_partition()
    assert preferred_read_replica(partition, 50, "b", fenced, 1000) == 2
    views = read_replica_candidates(partition, 50, RACKS, 1000)
    assert [view.broker_id for view in views] == [2, 3, 4]
    assert views[0] == ReplicaView(2, "b", 100, 100)


def test_ties_break_by_log_end_then_caught_up_time_then_the_highest_id() -> None:
    leader = ReplicaView(1, "a", 10, 0)
    views = [ReplicaView(5, "x", 10, 7), ReplicaView(3, "x", 10, 7), ReplicaView(4, "x", 9, 0)]
    assert rack_aware_choice(leader, views, "x") == 5
    views.append(ReplicaView(2, "x", 10, 6))
    assert rack_aware_choice(leader, views, "x") == 2
    views.append(ReplicaView(6, "x", 11, 500))
    assert rack_aware_choice(leader, views, "x") == 6


def test_which_replicas_serve_a_consumer() -> None:
    leader = _leader_partition()
    assert consumer_read_error(leader, -1, 500, 0) is ErrorCode.NONE  # the leader decides
    assert consumer_read_error(leader, 4, 0, 0) is ErrorCode.FENCED_LEADER_EPOCH
    assert consumer_read_error(leader, 6, 0, 0) is ErrorCode.UNKNOWN_LEADER_EPOCH
    follower = Partition("t", 0, uuid.uuid4(), 2, (1, 2, 3), (1, 2), 1, 5, 1)
    follower.log_end_offset = 40
    assert consumer_read_error(follower, 5, 0, 0) is ErrorCode.NONE
    assert consumer_read_error(follower, -1, 40, 10) is ErrorCode.NONE
    # Outside its log: the leader has the last word (never OFFSET_OUT_OF_RANGE from here).
    assert consumer_read_error(follower, 5, 41, 0) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert consumer_read_error(follower, 5, 9, 10) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert consumer_read_error(follower, 4, 0, 0) is ErrorCode.FENCED_LEADER_EPOCH
    # Out of the ISR (catching up): not a replica to read from.
    lagging = Partition("t", 0, uuid.uuid4(), 3, (1, 2, 3), (1, 2), 1, 5, 1)
    lagging.log_end_offset = 40
    assert consumer_read_error(lagging, 5, 0, 0) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    # No leader at all (offline partition).
    offline = Partition("t", 0, uuid.uuid4(), 2, (1, 2), (2,), -1, 5, 1)
    assert consumer_read_error(offline, 5, 0, 0) is ErrorCode.NOT_LEADER_OR_FOLLOWER
