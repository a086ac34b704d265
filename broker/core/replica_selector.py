"""Which replica serves a consumer's fetches (KIP-392, fetch from the closest replica).

A leader with ``replica.selector.class=...RackAwareReplicaSelector`` answers a consumer
that names its ``client.rack`` (Fetch v11+ ``rack_id``) with a *preferred read replica*
instead of records when a replica in that rack, other than the leader, can serve the fetch
offset; the consumer then fetches from that follower, which serves up to its own high
watermark.  Kafka's candidates: the leader, and the followers in the ISR whose log holds the
fetch offset (log start <= offset <= log end).  The rack-aware choice: the leader if it is in
the client's rack (or no candidate is), else the most caught-up candidate there: the highest
log end offset, then the most recently caught up, then the lowest id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from broker.core.partition import Partition

NO_PREFERRED_REPLICA = -1


class ReplicaView(NamedTuple):
    """One candidate replica as the selector sees it."""

    broker_id: int
    rack: str | None
    log_end_offset: int
    time_since_caught_up_ms: int


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
    best = min(
        same_rack,
        key=lambda view: (-view.log_end_offset, view.time_since_caught_up_ms, view.broker_id),
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
