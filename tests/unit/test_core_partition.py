"""The replica state machine (Kafka's Partition.scala / Replica.scala): roles, high watermark,
caught-up tracking, ISR shrink and expansion, acks=all, the follower's high watermark."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.core.partition import (
    ACKS_ALL,
    ACKS_LEADER,
    ACKS_NONE,
    NEVER_CAUGHT_UP_MS,
    NO_LEADER,
    UNKNOWN_OFFSET,
    FollowerFetchOutcome,
    IsrProposal,
    Partition,
    PartitionState,
)
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


# -- helpers -------------------------------------------------------------------------------

LAG_MS = 1000
EPOCH = {2: 102, 3: 103}  # broker epochs of the followers


def _leader(
    *,
    replicas: tuple[int, ...] = (1, 2, 3),
    isr: tuple[int, ...] = (1, 2, 3),
    min_isr: int = 2,
    log_end_offset: int = 0,
    now_ms: int = 0,
    leader_epoch: int = 5,
) -> Partition:
    """Broker 1 as it becomes leader at ``leader_epoch`` with its log at ``log_end_offset``."""
    partition = Partition("t", 0, uuid.uuid4(), 1, replicas, isr, 2, leader_epoch - 1, min_isr)
    partition.partition_epoch = 7
    partition.on_local_append(log_end_offset, 0)
    partition.apply_state(PartitionState(replicas, isr, 1, leader_epoch, 8), now_ms)
    partition.replica_lag_time_max_ms = LAG_MS
    return partition


def _commit(partition: Partition, isr: tuple[int, ...], now_ms: int) -> bool:
    """The controller commits ``isr`` (partition epoch + 1), as AlterPartition answers."""
    state = PartitionState(
        partition.replicas, isr, partition.leader, partition.leader_epoch,
        partition.partition_epoch + 1,
    )  # fmt: skip
    return partition.apply_state(state, now_ms)


def _fetch(
    partition: Partition, replica: int, offset: int, now_ms: int, eligible: bool = True
) -> FollowerFetchOutcome:
    return partition.on_follower_fetch(replica, offset, EPOCH.get(replica, -1), now_ms, eligible)


# -- apply_state -----------------------------------------------------------------------------


def test_become_leader_sets_epoch_start_and_follower_states() -> None:
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2, 3), (1, 2, 3), 2, 4, 2)
    partition.partition_epoch = 7
    partition.on_local_append(50, 0)
    assert partition.is_follower and not partition.is_leader
    assert partition.apply_state(PartitionState((1, 2, 3), (1, 2), 1, 5, 8), 1_000)
    assert partition.is_leader and partition.leader_epoch == 5 and partition.partition_epoch == 8
    assert partition.leader_epoch_start_offset == 50
    assert partition.maximal_isr == (1, 2)
    two, three = partition.followers[2], partition.followers[3]
    assert two.last_caught_up_ms == 1_000  # an ISR member counts as caught up now
    assert three.last_caught_up_ms == NEVER_CAUGHT_UP_MS  # the others do not
    # Nothing is known of the followers' logs yet: their LEOs are unknown.
    assert two.log_end_offset == three.log_end_offset == UNKNOWN_OFFSET
    assert partition.high_watermark == 0
    # ISR members are not shrunk for a lag time after the election, the others at once.
    assert partition.maybe_shrink(1_000 + LAG_MS, LAG_MS) is None


def test_become_follower_forgets_follower_states() -> None:
    partition = _leader(log_end_offset=10)
    _fetch(partition, 2, 10, 5)
    assert partition.apply_state(PartitionState((1, 2, 3), (2, 3), 2, 6, 9), 10)
    assert partition.is_follower and partition.leader == 2
    assert partition.followers == {} and partition.pending_isr is None
    assert partition.check_produce(1) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert _fetch(partition, 3, 10, 20) == FollowerFetchOutcome(False, None)


def test_stale_states_are_ignored() -> None:
    partition = _leader(log_end_offset=10)
    assert partition.partition_epoch == 8 and partition.leader_epoch == 5
    # An older partition epoch, then an older leader epoch (with a newer partition epoch).
    assert not partition.apply_state(PartitionState((1, 2, 3), (2,), 2, 6, 7), 10)
    assert not partition.apply_state(PartitionState((1, 2, 3), (2,), 2, 4, 9), 10)
    assert partition.is_leader and partition.isr == (1, 2, 3)
    assert (partition.leader_epoch, partition.partition_epoch) == (5, 8)


def test_isr_only_update_keeps_follower_states() -> None:
    partition = _leader(log_end_offset=10)
    _fetch(partition, 2, 10, 5)
    _fetch(partition, 3, 4, 5)
    before = partition.followers[2]
    assert not _commit(partition, (1, 2), 6)  # the leadership did not change
    assert partition.isr == (1, 2) and partition.partition_epoch == 9
    assert partition.followers[2] is before and before.log_end_offset == 10
    assert partition.followers[3].log_end_offset == 4
    assert partition.leader_epoch_start_offset == 10


def test_first_state_applied_sets_up_the_role() -> None:
    # The shell builds the Partition from the image, then applies the same state: the leader
    # role (epoch start, follower states) is set up even though no epoch moved.
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2), (1, 2), 1, 3, 1, partition_epoch=4)
    partition.on_local_append(20, 0)
    assert partition.apply_state(PartitionState((1, 2), (1, 2), 1, 3, 4), 100)
    assert partition.leader_epoch_start_offset == 20
    assert partition.followers[2].last_caught_up_ms == 100
    # Applying it again is a replay: nothing changes.
    partition.followers[2].log_end_offset = 20
    assert not partition.apply_state(PartitionState((1, 2), (1, 2), 1, 3, 4), 200)
    assert partition.followers[2].log_end_offset == 20


def test_replayed_state_keeps_the_pending_change() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10)
    outcome = _fetch(partition, 3, 10, 5)
    assert outcome.proposal is not None and partition.pending_isr == (1, 2, 3)
    # The same committed state again (same partition epoch): the expansion is still in flight,
    # so the joiner still counts for the HW.
    same = PartitionState((1, 2, 3), (1, 2), 1, 5, 8)
    assert not partition.apply_state(same, 6)
    assert partition.pending_isr == (1, 2, 3)


def test_re_elected_leader_resets_states() -> None:
    partition = _leader(log_end_offset=10)
    _fetch(partition, 2, 10, 5)
    partition.on_local_append(15, 0)
    assert partition.apply_state(PartitionState((1, 2, 3), (1, 2, 3), 1, 6, 9), 50)
    assert partition.leader_epoch_start_offset == 15
    assert partition.followers[2].log_end_offset == UNKNOWN_OFFSET
    assert partition.followers[2].last_caught_up_ms == 50


# -- high watermark --------------------------------------------------------------------------


def test_high_watermark_is_the_min_over_the_isr() -> None:
    partition = _leader(log_end_offset=0)
    partition.on_local_append(10, 100)
    assert partition.high_watermark == 0
    assert not _fetch(partition, 2, 10, 1).high_watermark_advanced  # 3 is still unknown
    assert _fetch(partition, 3, 6, 2).high_watermark_advanced
    assert partition.high_watermark == 6
    assert _fetch(partition, 3, 10, 3).high_watermark_advanced
    assert partition.high_watermark == 10
    partition.on_local_append(12, 10)
    assert partition.high_watermark == 10


def test_unknown_follower_log_end_holds_the_high_watermark() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=5)
    assert not partition.on_local_append(8, 1)
    assert partition.high_watermark == 0
    assert _fetch(partition, 2, 8, 1).high_watermark_advanced
    assert partition.high_watermark == 8


def test_high_watermark_never_moves_back() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    _fetch(partition, 2, 10, 1)
    assert partition.high_watermark == 10
    # The ISR grows by a replica far behind (committed by the controller): the HW stays.
    _fetch(partition, 3, 2, 2)
    assert not _commit(partition, (1, 2, 3), 3)
    assert partition.high_watermark == 10
    partition.on_local_append(20, 1)
    _fetch(partition, 2, 20, 4)
    assert partition.high_watermark == 10
    assert not partition.maybe_advance_high_watermark()
    _fetch(partition, 3, 20, 5)
    assert partition.high_watermark == 20


def test_high_watermark_frozen_below_min_isr_even_for_acks_1() -> None:
    """F9 / KAFKA-15583: with the committed ISR under min ISR nothing is committed."""
    partition = _leader(isr=(1, 2, 3), log_end_offset=10, min_isr=2)
    _fetch(partition, 2, 10, 1)
    _fetch(partition, 3, 10, 1)
    assert partition.high_watermark == 10
    _commit(partition, (1,), 2)  # two followers fenced and removed
    assert partition.is_under_min_isr()
    assert partition.check_produce(ACKS_ALL) is ErrorCode.NOT_ENOUGH_REPLICAS
    assert partition.check_produce(ACKS_LEADER) is ErrorCode.NONE
    assert not partition.on_local_append(15, 5)  # an acks=1 append
    assert not partition.maybe_advance_high_watermark(3)
    assert partition.high_watermark == 10
    # A joiner in flight does not lift the gate; its commit does.
    outcome = _fetch(partition, 2, 15, 4)
    assert outcome.proposal is not None and not outcome.high_watermark_advanced
    assert partition.check_produce(ACKS_ALL) is ErrorCode.NOT_ENOUGH_REPLICAS
    _commit(partition, (1, 2), 5)
    assert partition.check_produce(ACKS_ALL) is ErrorCode.NONE
    # Applying the commit re-evaluates the HW, but 3, out of the ISR, was caught up at t=1
    # and eligible at its last fetch: it holds the HW (for joining) for the lag time.
    assert partition.high_watermark == 10
    assert partition.maybe_shrink(LAG_MS + 2, LAG_MS) is None
    assert partition.high_watermark == 15


def test_min_isr_is_capped_by_the_replication_factor() -> None:
    partition = _leader(replicas=(1, 2), isr=(1, 2), min_isr=3, log_end_offset=4)
    assert partition.effective_min_isr() == 2
    _fetch(partition, 2, 4, 1)
    assert partition.high_watermark == 4


def test_a_joiner_delays_the_high_watermark_at_once() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    _fetch(partition, 2, 10, 1)
    assert partition.high_watermark == 10
    outcome = _fetch(partition, 3, 10, 2)
    assert outcome.proposal is not None and outcome.proposal.new_isr == (1, 2, 3)
    assert partition.maximal_isr == (1, 2, 3) and partition.isr == (1, 2)
    partition.on_local_append(20, 1)
    _fetch(partition, 2, 20, 3)
    assert partition.high_watermark == 10  # 3 counts before the controller commits
    _fetch(partition, 3, 16, 4)
    assert partition.high_watermark == 16
    # However long the controller takes, and even if the joiner stops fetching, it counts
    # while the expansion is in flight: the controller may still commit it.
    partition.on_local_append(30, 1, 10 * LAG_MS)
    _fetch(partition, 2, 30, 10 * LAG_MS)
    assert partition.maybe_shrink(10 * LAG_MS, LAG_MS) is None
    assert partition.high_watermark == 16


def test_a_shrink_in_flight_keeps_the_old_isr_for_the_high_watermark() -> None:
    partition = _leader(isr=(1, 2, 3), log_end_offset=10, min_isr=1)
    _fetch(partition, 2, 10, 1)
    _fetch(partition, 3, 3, 1)
    assert partition.high_watermark == 3
    partition.on_local_append(20, 1)
    for now in range(100, 3_000, 100):
        _fetch(partition, 2, partition.log_end_offset, now)
    proposal = partition.maybe_shrink(3_000, LAG_MS)
    assert proposal is not None and proposal.new_isr == (1, 2)
    assert partition.maximal_isr == (1, 2, 3)
    _fetch(partition, 2, 20, 3_100)
    assert partition.high_watermark == 3
    _commit(partition, (1, 2), 3_200)
    assert partition.high_watermark == 20


def test_a_caught_up_eligible_follower_holds_the_high_watermark_until_it_joins() -> None:
    """L2 with ISR = [leader]: the follower fetches behind a leader appending steadily.

    Without the hold (Kafka's shouldWaitForReplicaToJoinIsr) the HW would always be at the
    leader's log end, above every fetch offset of the follower, which could never join.
    """
    partition = _leader(replicas=(1, 2), isr=(1,), min_isr=1, log_end_offset=0)
    follower_end = 0
    proposal = None
    for step in range(1, 3_000):
        now = step * 10
        partition.on_local_append(partition.log_end_offset + 1, 1, now)
        if step % 10 == 0:
            outcome = _fetch(partition, 2, follower_end, now)
            follower_end = partition.log_end_offset  # the response brings all it has
            if outcome.proposal is not None:
                proposal = outcome.proposal
                break
    assert proposal is not None and proposal.new_isr == (1, 2)
    assert step < 40  # within a few fetches of catching up
    assert partition.high_watermark <= partition.followers[2].log_end_offset


def test_the_hold_ends_when_the_follower_stops_catching_up() -> None:
    partition = _leader(replicas=(1, 2, 3), isr=(1, 2), min_isr=1, log_end_offset=10)
    _fetch(partition, 2, 10, 0)
    _fetch(partition, 3, 10, 0)  # joins: pending expansion
    assert partition.pending_isr == (1, 2, 3)
    partition.on_isr_change_failed(IsrProposal("t", 0, partition.topic_id, 5, 8, (1, 2, 3), ()))
    assert partition.pending_isr is None
    partition.on_local_append(20, 1, 10)
    _fetch(partition, 2, 20, 20)
    assert partition.high_watermark == 10  # 3 is caught up and eligible: it holds the HW
    partition.on_local_append(30, 1, 500)
    _fetch(partition, 2, 30, 600)
    assert partition.high_watermark == 10
    # 3 stopped fetching: once it is not caught up for the lag time, the HW moves on.
    assert partition.maybe_shrink(LAG_MS, LAG_MS) is None
    assert partition.high_watermark == 10
    assert partition.maybe_shrink(LAG_MS + 1, LAG_MS) is None  # 3 is not in the ISR
    assert partition.high_watermark == 30
    # An ineligible follower (fenced) never holds it.
    partition.on_local_append(40, 1, LAG_MS + 2)
    _fetch(partition, 3, 40, LAG_MS + 3, eligible=False)
    partition.on_local_append(50, 1, LAG_MS + 4)
    _fetch(partition, 2, 50, LAG_MS + 5)
    assert partition.high_watermark == 50


def test_a_fenced_follower_stops_holding_the_high_watermark_at_once() -> None:
    """The image fenced the follower (kill -9): the leader must not wait out the lag time."""
    partition = _leader(replicas=(1, 2, 3), isr=(1, 2), min_isr=1, log_end_offset=10)
    _fetch(partition, 2, 10, 0)
    _fetch(partition, 3, 10, 0)
    partition.on_isr_change_failed(IsrProposal("t", 0, partition.topic_id, 5, 8, (1, 2, 3), ()))
    partition.on_local_append(20, 1, 10)
    _fetch(partition, 2, 20, 20)
    assert partition.high_watermark == 10  # 3 holds it, caught up and eligible
    assert partition.on_broker_ineligible(3)  # fenced: the HW moves on now
    assert partition.high_watermark == 20
    assert not partition.on_broker_ineligible(3)  # idempotent
    assert not partition.on_broker_ineligible(9)  # not a replica


# -- caught-up tracking and shrink -----------------------------------------------------------


def test_caught_up_at_the_leader_log_end_now() -> None:
    partition = _leader(log_end_offset=10)
    _fetch(partition, 2, 10, 500)
    state = partition.followers[2]
    assert state.last_caught_up_ms == 500 and state.last_fetch_ms == 500
    assert state.last_fetch_leader_log_end_offset == 10 and state.broker_epoch == 102


def test_caught_up_at_the_previous_fetch() -> None:
    """Replica.updateFetchState's second case: the follower reached the LEO the leader had
    at its previous fetch, so it was caught up at that fetch's time."""
    partition = _leader(log_end_offset=10, now_ms=0)
    _fetch(partition, 2, 4, 100)  # behind: no change (caught up at the election, t=0)
    assert partition.followers[2].last_caught_up_ms == 0
    partition.on_local_append(15, 1)
    _fetch(partition, 2, 10, 200)  # reached 10, the leader's LEO at the fetch at t=100
    assert partition.followers[2].last_caught_up_ms == 100
    _fetch(partition, 2, 12, 300)  # short of 15, the LEO at t=200: no change
    assert partition.followers[2].last_caught_up_ms == 100
    _fetch(partition, 2, 15, 400)
    assert partition.followers[2].last_caught_up_ms == 400


def test_shrink_after_the_lag_time() -> None:
    partition = _leader(log_end_offset=10, now_ms=0)
    _fetch(partition, 2, 10, 0)
    _fetch(partition, 3, 10, 0)
    partition.on_local_append(11, 1)
    _fetch(partition, 2, 11, LAG_MS)
    assert partition.maybe_shrink(LAG_MS, LAG_MS) is None  # 3 caught up LAG_MS ago: still in
    proposal = partition.maybe_shrink(LAG_MS + 1, LAG_MS)
    assert proposal is not None
    assert proposal.new_isr == (1, 2)
    assert proposal.broker_epochs == (-1, 102)
    assert (proposal.leader_epoch, proposal.partition_epoch) == (5, 8)
    assert partition.pending_isr == (1, 2)
    # One change in flight: no second proposal, no expansion.
    assert partition.maybe_shrink(LAG_MS + 100, LAG_MS) is None
    assert _fetch(partition, 3, 11, LAG_MS + 100).proposal is None
    _commit(partition, (1, 2), LAG_MS + 200)
    assert partition.isr == (1, 2) and partition.pending_isr is None
    # Back at the HW and the epoch start: it may rejoin now.
    outcome = _fetch(partition, 3, 11, LAG_MS + 300)
    assert outcome.proposal is not None and outcome.proposal.new_isr == (1, 2, 3)


def test_an_idle_follower_at_the_leader_log_end_is_not_shrunk() -> None:
    """Kafka's isCaughtUp: at the leader's LEO counts as caught up, however long ago."""
    partition = _leader(log_end_offset=10, now_ms=0)
    _fetch(partition, 2, 10, 0)
    _fetch(partition, 3, 10, 0)
    assert partition.maybe_shrink(100 * LAG_MS, LAG_MS) is None
    partition.on_local_append(11, 1)
    proposal = partition.maybe_shrink(100 * LAG_MS, LAG_MS)
    assert proposal is not None and proposal.new_isr == (1,)


def test_a_follower_that_never_fetched_is_shrunk() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, now_ms=0)
    assert partition.maybe_shrink(LAG_MS, LAG_MS) is None
    proposal = partition.maybe_shrink(LAG_MS + 1, LAG_MS)
    assert proposal is not None and proposal.new_isr == (1,) and proposal.broker_epochs == (-1,)


@pytest.mark.parametrize("offset_phase", [0, 3, 9])
def test_a_healthy_follower_under_steady_load_never_shrinks(offset_phase: int) -> None:
    """L4: fetch every 100 ms, append every 10 ms, lag max 1000 ms, 10 000 steps."""
    partition = _leader(replicas=(1, 2, 3), isr=(1, 2, 3), log_end_offset=0, now_ms=0)
    ends = {2: 0, 3: 0}
    high_watermarks = []
    for step in range(1, 10_001):
        now = step * 10
        partition.on_local_append(partition.log_end_offset + 1, 100, now)
        for replica, phase in ((2, 0), (3, offset_phase)):
            if step % 10 == phase:
                outcome = _fetch(partition, replica, ends[replica], now)
                assert outcome.proposal is None
                ends[replica] = partition.log_end_offset
        assert partition.maybe_shrink(now, LAG_MS) is None, step
        high_watermarks.append(partition.high_watermark)
    assert partition.isr == (1, 2, 3) and partition.pending_isr is None
    assert high_watermarks == sorted(high_watermarks)
    assert partition.high_watermark > partition.log_end_offset - 25


# -- expansion -------------------------------------------------------------------------------


def test_kafka_7128_at_the_high_watermark_but_below_the_epoch_start() -> None:
    """A new leader at LEO 10 whose HW is still 5: a follower at 5 has the HW but not the
    current epoch's start, so it may not join (it lacks 5..9, which the new leader holds)."""
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2, 3), (2, 1), 2, 4, 1)
    partition.on_local_append(10, 0)
    partition.on_leader_high_watermark(5)
    assert partition.high_watermark == 5
    partition.apply_state(PartitionState((1, 2, 3), (1,), 1, 5, 1), 0)
    assert partition.leader_epoch_start_offset == 10
    assert partition.high_watermark == 10  # ISR = [1]: its own LEO
    partition.high_watermark = 5  # as though min ISR held it (or the follower's HW lagged)
    assert _fetch(partition, 3, 5, 1).proposal is None
    assert _fetch(partition, 3, 9, 2).proposal is None
    outcome = _fetch(partition, 3, 10, 3)
    assert outcome.proposal is not None and outcome.proposal.new_isr == (1, 3)


def test_below_the_high_watermark_may_not_join() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    _fetch(partition, 2, 10, 1)
    assert _fetch(partition, 3, 9, 2).proposal is None
    assert _fetch(partition, 3, 10, 3).proposal is not None


def test_an_ineligible_broker_is_never_proposed() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    _fetch(partition, 2, 10, 1)
    for now in range(2, 50):
        assert _fetch(partition, 3, 10, now, eligible=False).proposal is None
    assert partition.pending_isr is None
    assert _fetch(partition, 3, 10, 50, eligible=True).proposal is not None


def test_expansion_carries_broker_epochs_and_reverts_on_failure() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    _fetch(partition, 2, 10, 1)
    proposal = _fetch(partition, 3, 10, 2).proposal
    assert proposal == IsrProposal("t", 0, partition.topic_id, 5, 8, (1, 2, 3), (-1, 102, 103))
    partition.on_isr_change_failed(proposal)
    assert partition.pending_isr is None and partition.maximal_isr == (1, 2)
    # A failure for some other proposal does not touch the pending one.
    again = _fetch(partition, 3, 10, 3).proposal
    assert again == proposal
    partition.on_isr_change_failed(IsrProposal("t", 0, partition.topic_id, 5, 8, (1,), (-1,)))
    assert partition.pending_isr == (1, 2, 3)
    # A refusal of a proposal made against another committed state does not either.
    partition.on_isr_change_failed(IsrProposal("t", 0, partition.topic_id, 5, 7, (1, 2, 3), ()))
    partition.on_isr_change_failed(IsrProposal("t", 0, partition.topic_id, 4, 8, (1, 2, 3), ()))
    assert partition.pending_isr == (1, 2, 3)
    # The commit clears it.
    assert not _commit(partition, (1, 2, 3), 4)
    assert partition.pending_isr is None and partition.isr == (1, 2, 3)
    assert partition.partition_epoch == 9


def test_fetches_beyond_the_log_end_or_from_an_old_incarnation_are_ignored() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    # A divergent follower ahead of us: not counted (Kafka answers OFFSET_OUT_OF_RANGE).
    assert _fetch(partition, 3, 12, 1) == FollowerFetchOutcome(False, None)
    assert partition.followers[3].log_end_offset == UNKNOWN_OFFSET
    assert partition.pending_isr is None
    partition.on_follower_fetch(2, 10, 200, 2, True)
    assert partition.high_watermark == 10
    partition.on_local_append(20, 1)
    # A fetch still in flight from broker 2's previous incarnation (epoch 150).
    assert not partition.on_follower_fetch(2, 20, 150, 3, True).high_watermark_advanced
    assert partition.followers[2].log_end_offset == 10 and partition.high_watermark == 10
    assert partition.on_follower_fetch(2, 20, 200, 4, True).high_watermark_advanced


def test_fetches_to_a_non_leader_or_from_a_non_replica_do_nothing() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    assert _fetch(partition, 9, 10, 1) == FollowerFetchOutcome(False, None)
    follower = Partition("t", 0, uuid.uuid4(), 1, (1, 2), (1, 2), 2, 3, 1)
    assert _fetch(follower, 2, 0, 1) == FollowerFetchOutcome(False, None)
    assert follower.maybe_shrink(10 * LAG_MS, LAG_MS) is None


# -- acks=all and produce checks --------------------------------------------------------------


def test_acks_all_status() -> None:
    partition = _leader(isr=(1, 2, 3), log_end_offset=0, min_isr=2)
    partition.on_local_append(10, 1)
    assert partition.acks_all_status(10) is None
    _fetch(partition, 2, 10, 1)
    _fetch(partition, 3, 8, 1)
    assert partition.high_watermark == 8
    assert partition.acks_all_status(8) is ErrorCode.NONE
    assert partition.acks_all_status(10) is None
    _fetch(partition, 3, 10, 2)
    assert partition.acks_all_status(10) is ErrorCode.NONE
    assert partition.acks_all_status(10, leader_epoch=5) is ErrorCode.NONE


def test_acks_all_not_enough_replicas_after_append() -> None:
    """F9: the write was appended with enough replicas; the ISR shrank before it was
    answered, so it is committed but with too few copies."""
    partition = _leader(isr=(1, 2, 3), log_end_offset=0, min_isr=2)
    assert partition.check_produce(ACKS_ALL) is ErrorCode.NONE
    partition.on_local_append(10, 1)
    _fetch(partition, 2, 10, 1)
    _fetch(partition, 3, 10, 1)
    _commit(partition, (1,), 2)
    assert partition.acks_all_status(10) is ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
    # A joiner in flight counts (the maximal ISR).
    partition.on_local_append(12, 1)
    _fetch(partition, 2, 10, 3)
    assert partition.pending_isr == (1, 2)
    assert partition.acks_all_status(10) is ErrorCode.NONE


def test_acks_all_after_losing_the_leadership() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    assert partition.acks_all_status(12) is None
    partition.apply_state(PartitionState((1, 2, 3), (2,), 2, 6, 9), 1)
    assert partition.acks_all_status(12) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    # Leader again at a later epoch: a write of epoch 5 may have been truncated meanwhile.
    partition.apply_state(PartitionState((1, 2, 3), (1,), 1, 7, 10), 2)
    partition.on_local_append(20, 1)
    assert partition.high_watermark == 20
    assert partition.acks_all_status(12, leader_epoch=5) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert partition.acks_all_status(12, leader_epoch=7) is ErrorCode.NONE


def test_check_produce_rules() -> None:
    partition = _leader(isr=(1, 2, 3), min_isr=2)
    for acks in (ACKS_NONE, ACKS_LEADER, ACKS_ALL):
        assert partition.check_produce(acks) is ErrorCode.NONE
    for acks in (2, -2, 3):
        assert partition.check_produce(acks) is ErrorCode.INVALID_REQUIRED_ACKS
    _commit(partition, (1,), 1)
    assert partition.check_produce(ACKS_ALL) is ErrorCode.NOT_ENOUGH_REPLICAS
    assert partition.check_produce(ACKS_LEADER) is ErrorCode.NONE
    assert partition.check_produce(ACKS_NONE) is ErrorCode.NONE
    partition.apply_state(PartitionState((1, 2, 3), (2,), 2, 6, 10), 2)
    assert partition.check_produce(ACKS_LEADER) is ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert partition.check_produce(2) is ErrorCode.INVALID_REQUIRED_ACKS
    offline = _leader()
    offline.apply_state(PartitionState((1, 2, 3), (1,), NO_LEADER, 6, 9), 1)
    assert not offline.is_leader and not offline.is_follower
    assert offline.check_produce(ACKS_ALL) is ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_high_watermark_below_epoch_start() -> None:
    partition = _leader(isr=(1, 2), log_end_offset=10, min_isr=1)
    assert partition.high_watermark == 0 and partition.leader_epoch_start_offset == 10
    assert partition.high_watermark_below_epoch_start
    _fetch(partition, 2, 10, 1)
    assert not partition.high_watermark_below_epoch_start


# -- follower ---------------------------------------------------------------------------------


def test_follower_high_watermark_is_capped_by_its_log_end() -> None:
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2), (1, 2), 2, 3, 1)
    partition.on_local_append(5, 10)
    assert partition.on_leader_high_watermark(8)
    assert partition.high_watermark == 5
    assert not partition.on_leader_high_watermark(9)
    partition.on_local_append(10, 10)
    assert partition.on_leader_high_watermark(8)
    assert partition.high_watermark == 8
    assert not partition.on_leader_high_watermark(8)
    assert partition.on_leader_high_watermark(-1) and partition.high_watermark == 0


def test_follower_truncation_caps_the_high_watermark() -> None:
    partition = Partition("t", 0, uuid.uuid4(), 1, (1, 2), (1, 2), 2, 3, 1)
    partition.on_local_append(10, 10)
    partition.on_leader_high_watermark(10)
    partition.on_truncated(7)
    assert (partition.log_end_offset, partition.high_watermark) == (7, 7)
    partition.on_truncated(9)  # a truncation never raises it
    assert partition.high_watermark == 7


def test_a_leader_ignores_the_high_watermark_of_a_fetch_response() -> None:
    partition = _leader(isr=(1,), log_end_offset=10, min_isr=1)
    assert partition.high_watermark == 10
    assert not partition.on_leader_high_watermark(3)
    assert partition.high_watermark == 10


# -- property: random interleavings ----------------------------------------------------------


@st.composite
def _schedules(draw: st.DrawFn) -> list[tuple[str, int]]:
    action = st.one_of(
        st.tuples(st.just("append"), st.integers(1, 5)),
        st.tuples(st.just("fetch"), st.sampled_from([2, 3])),
        st.tuples(st.just("partial_fetch"), st.sampled_from([2, 3])),
        st.tuples(st.just("tick"), st.integers(1, 700)),
        st.tuples(st.just("commit"), st.just(0)),
        st.tuples(st.just("refuse"), st.just(0)),
        st.tuples(st.just("fence"), st.sampled_from([2, 3])),
    )
    return draw(st.lists(action, max_size=120))


@settings(max_examples=300, deadline=None)
@given(schedule=_schedules(), min_isr=st.integers(1, 3), initial=st.sampled_from([(1,), (1, 2)]))
def test_random_interleavings_keep_the_invariants(
    schedule: list[tuple[str, int]], min_isr: int, initial: tuple[int, ...]
) -> None:
    """Leader appends, two followers fetching (whole or part of what is there), time passing,
    the controller committing or refusing proposals, brokers fenced: HW <= the LEO of every
    maximal-ISR member, HW monotonic, the leader in the ISR, one change in flight."""
    partition = _leader(isr=initial, min_isr=min_isr, log_end_offset=0, now_ms=0)
    ends = {2: 0, 3: 0}  # the followers' real log ends
    fenced: set[int] = set()
    in_flight: IsrProposal | None = None
    now = 0
    previous_hw = 0
    for kind, value in schedule:
        was_under_min_isr = partition.is_under_min_isr()
        if kind == "append":
            partition.on_local_append(partition.log_end_offset + value, value, now)
        elif kind in ("fetch", "partial_fetch"):
            replica = value
            outcome = _fetch(partition, replica, ends[replica], now, replica not in fenced)
            if outcome.proposal is not None:
                assert in_flight is None
                in_flight = outcome.proposal
            target = partition.log_end_offset
            if kind == "partial_fetch":
                target = (ends[replica] + target + 1) // 2
            ends[replica] = max(ends[replica], target)
        elif kind == "tick":
            now += value
            proposal = partition.maybe_shrink(now, LAG_MS)
            if proposal is not None:
                assert in_flight is None
                in_flight = proposal
        elif kind == "commit" and in_flight is not None:
            # The controller drops fenced members it is asked to add (INELIGIBLE_REPLICA).
            if any(r in fenced and r not in partition.isr for r in in_flight.new_isr):
                partition.on_isr_change_failed(in_flight)
            else:
                _commit(partition, in_flight.new_isr, now)
            in_flight = None
        elif kind == "refuse" and in_flight is not None:
            partition.on_isr_change_failed(in_flight)
            in_flight = None
        elif kind == "fence":
            fenced.add(value)
        hw = partition.high_watermark
        assert hw >= previous_hw
        assert hw <= partition.log_end_offset
        assert partition.local_broker_id in partition.isr
        assert partition.local_broker_id in partition.maximal_isr
        assert (partition.pending_isr is None) == (in_flight is None)
        for replica in partition.maximal_isr:
            if replica != partition.local_broker_id:
                assert hw <= ends[replica]
                known = partition.followers[replica].log_end_offset
                assert known == UNKNOWN_OFFSET or hw <= known
        if partition.is_under_min_isr():
            assert partition.check_produce(ACKS_ALL) is ErrorCode.NOT_ENOUGH_REPLICAS
            if was_under_min_isr:
                assert hw == previous_hw  # frozen (F9), whatever was appended
        previous_hw = hw
