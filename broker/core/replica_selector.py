"""Which replica serves a consumer's fetches (KIP-392, fetch from the closest replica).

A leader with ``replica.selector.class=...RackAwareReplicaSelector`` answers a consumer
that names its ``client.rack`` (Fetch v11+ ``rack_id``) with a *preferred read replica*
instead of records when a replica in that rack, other than the leader, can serve the fetch
offset; the consumer then fetches from that follower, which serves up to its own high
watermark.  Kafka's candidates: the leader, and the followers in the ISR whose log holds the
fetch offset (log start <= offset <= log end).  The rack-aware choice: the leader if it is in
the client's rack (or no candidate is), else the most caught-up candidate there: the highest
log end offset, then the most recently caught up, then the highest id (as Kafka's
``ReplicaView.comparator``).

Which replicas serve a consumer (Fetch v11+, :func:`consumer_read_error`): the leader, and a
follower in the ISR for offsets its log holds.  Kafka lets any follower serve; here one out
of the ISR (catching up after a restart, or cut off from the leader) or asked for an offset
outside its log answers NOT_LEADER_OR_FOLLOWER, so a client goes to the leader rather than
wait on a replica that may never catch up, or reset its position on an OFFSET_OUT_OF_RANGE
that only this replica would give (P9).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from broker.core.partition import Partition
from client.protocol.errors import ErrorCode

NO_PREFERRED_REPLICA = -1


class ReplicaView(NamedTuple):
    """One candidate replica as the selector sees it."""

    broker_id: int
    rack: str | None
    log_end_offset: int
    time_since_caught_up_ms: int


def consumer_read_error(
    partition: Partition, current_leader_epoch: int, fetch_offset: int, log_start_offset: int
) -> ErrorCode:
    """NONE if this replica may serve a consumer's fetch at ``fetch_offset``, else the error
    to answer: the leader epoch first (KIP-320), then the role (see the module docstring)."""
    error = partition.check_leader_epoch(current_leader_epoch)
    if error is not ErrorCode.NONE or partition.is_leader:
        return error
    if not partition.is_follower or partition.local_broker_id not in partition.isr:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    if not log_start_offset <= fetch_offset <= partition.log_end_offset:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    return ErrorCode.NONE


def read_replica_candidates(
    partition: Partition,
    fetch_offset: int,
    racks: Mapping[int, str | None],
    now_ms: int,
) -> list[ReplicaView]:
    """The followers that may serve ``fetch_offset``: in the ISR, alive (``racks`` holds the
    unfenced brokers and their racks), holding the offset."""
    candidates = []
    for broker, state in sorted(partition.followers.items()):
        if broker not in partition.isr or broker not in racks:
            continue
        if not state.log_start_offset <= fetch_offset <= state.log_end_offset:
            continue
        since = max(now_ms - state.last_caught_up_ms, 0)
        candidates.append(ReplicaView(broker, racks[broker], state.log_end_offset, since))
    return candidates


def rack_aware_choice(leader: ReplicaView, followers: list[ReplicaView], client_rack: str) -> int:
    """The preferred read replica's id, or NO_PREFERRED_REPLICA to read from the leader."""
    if not client_rack or leader.rack == client_rack:
        return NO_PREFERRED_REPLICA
    same_rack = [view for view in followers if view.rack == client_rack]
    if not same_rack:
        return NO_PREFERRED_REPLICA
    best = max(
        same_rack,
        key=lambda view: (view.log_end_offset, -view.time_since_caught_up_ms, view.broker_id),
    )
    return best.broker_id


def preferred_read_replica(
    partition: Partition,
    fetch_offset: int,
    client_rack: str,
    racks: Mapping[int, str | None],
    now_ms: int,
) -> int:
    """The rack-aware selector on a leader's partition (see the module docstring)."""
    if not client_rack:
        return NO_PREFERRED_REPLICA
    leader = ReplicaView(
        partition.local_broker_id, racks.get(partition.local_broker_id), partition.log_end_offset, 0
    )
    return rack_aware_choice(
        leader, read_replica_candidates(partition, fetch_offset, racks, now_ms), client_rack
    )
