"""A partition replica on a broker: leader epoch, ISR, high watermark, follower states, acks.

Kafka's ``Partition.scala`` in miniature, without locks.  The shell feeds in local appends,
follower fetches, committed partition states from the controller and the time; the partition
answers with decisions and *proposals* (ISR changes for the controller to commit, as
AlterPartition).  Rules (``docs/replication-design.md``):

- the high watermark is the smallest log end offset over the *maximal ISR* (the committed ISR
  plus a joiner whose expansion is in flight), advances only while the committed ISR has at
  least min(``min.insync.replicas``, replication factor) members, and never moves back on a
  leader;
- a follower is caught up when it fetched at the leader's log end offset, or reached the log end
  offset the leader had at its previous fetch (Kafka's ``Replica.updateFetchState``); it is
  dropped from the ISR after ``replica.lag.time.max.ms`` without catching up, unless its log end
  offset is the leader's (Kafka's ``isCaughtUp``: an idle partition shrinks no one);
- a follower may join when its log end offset reached the high watermark and the start of the
  current leader epoch and the controller's image says it is live with that broker epoch; a
  caught-up follower that is eligible to join holds the high watermark at its log end offset
  until it has joined (Kafka's ``shouldWaitForReplicaToJoinIsr``), else a follower fetching
  behind a steadily written leader whose ISR is the leader alone could never reach the HW;
- one ISR change is in flight at a time; on failure the leader reverts to the committed state.

Time comes only from the arguments: the partition keeps the latest ``now_ms`` it was given
(``clock_ms``) for the checks of calls that take no time (a local append).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from client.protocol.errors import ErrorCode

ACKS_NONE = 0
ACKS_LEADER = 1
ACKS_ALL = -1
NO_LEADER = -1
UNKNOWN_OFFSET = -1
NO_BROKER_EPOCH = -1
# ``last_caught_up_ms`` of a follower that has not caught up under this leadership (Kafka uses 0,
# which only means "long ago" with wall-clock milliseconds; our clocks may start near 0).
NEVER_CAUGHT_UP_MS = -(1 << 62)
DEFAULT_REPLICA_LAG_TIME_MAX_MS = 30_000


@dataclass(slots=True)
class FollowerState:
    """What a leader knows about one follower, from its fetches."""

    log_end_offset: int = UNKNOWN_OFFSET
    last_caught_up_ms: int = NEVER_CAUGHT_UP_MS
    last_fetch_leader_log_end_offset: int = UNKNOWN_OFFSET
    last_fetch_ms: int = 0
    broker_epoch: int = NO_BROKER_EPOCH
    # The follower's log start offset as its latest fetch reported it (DeleteRecords waits for
    # every live replica to pass the requested offset, KIP-107).
    log_start_offset: int = UNKNOWN_OFFSET
    # The image's verdict at the last fetch (registered with that epoch, unfenced, not shutting
    # down): only an eligible follower may join or hold the high watermark for joining.
    eligible: bool = False


@dataclass(frozen=True, slots=True)
class IsrProposal:
    """An AlterPartition the leader wants committed (the effect the shell sends)."""

    topic: str
    index: int
    topic_id: uuid.UUID
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]
    broker_epochs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PartitionState:
    """A committed partition state, as the controller's image has it."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int
    leader_recovery_state: int = 0


@dataclass(frozen=True, slots=True)
class FollowerFetchOutcome:
    high_watermark_advanced: bool
    proposal: IsrProposal | None
    log_start_offset_changed: bool = False


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
    partition_epoch: int = 0
    leader_recovery_state: int = 0
    high_watermark: int = 0
    log_end_offset: int = 0
    leader_epoch_start_offset: int = 0
    followers: dict[int, FollowerState] = field(default_factory=dict)
    pending_isr: tuple[int, ...] | None = None
    bytes_appended: int = 0
    replica_lag_time_max_ms: int = DEFAULT_REPLICA_LAG_TIME_MAX_MS
    clock_ms: int = 0
    # False until the first apply_state: the constructor's leader and epochs come from the
    # image, but the role (epoch start, follower states) is only set up by apply_state.
    _role_applied: bool = field(default=False, init=False, repr=False)

    # -- roles ----------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leader == self.local_broker_id

    @property
    def is_follower(self) -> bool:
        return self.leader not in (self.local_broker_id, NO_LEADER)

    @property
    def maximal_isr(self) -> tuple[int, ...]:
        """The committed ISR plus an in-flight joiner (a shrink keeps the old ISR until done)."""
        if self.pending_isr is None:
            return self.isr
        extra = tuple(replica for replica in self.pending_isr if replica not in self.isr)
        return self.isr + extra

    def effective_min_isr(self) -> int:
        """min(min.insync.replicas, replication factor), as current Kafka (KIP-966 era)."""
        return min(self.min_insync_replicas, len(self.replicas))

    def is_under_min_isr(self) -> bool:
        return len(self.isr) < self.effective_min_isr()

    def apply_state(self, state: PartitionState, now_ms: int) -> bool:
        """Adopt a committed state from the controller; True when the role was (re)set up.

        A state with an older partition or leader epoch is ignored (P6), and so is a replay of
        the partition epoch we hold (an in-flight ISR change stays pending).  A new leader
        epoch, a new leader or the first state applied set up the role: a leader records
        where its epoch starts and treats the ISR members as caught up now (Kafka's
        ``makeLeader``), a follower forgets the follower states.  A leader then re-evaluates
        its high watermark (the ISR may have shrunk to the caught-up members, or to itself):
        the caller compares ``high_watermark`` before and after.
        """
        if state.partition_epoch < self.partition_epoch or state.leader_epoch < self.leader_epoch:
            return False
        self._advance_clock(now_ms)
        leadership_changed = (
            not self._role_applied
            or state.leader_epoch != self.leader_epoch
            or state.leader != self.leader
        )
        if not leadership_changed and state.partition_epoch == self.partition_epoch:
            return False  # the state we hold (same CAS version): nothing committed since
        self._role_applied = True
        self.replicas = state.replicas
        self.isr = state.isr
        self.leader = state.leader
        self.leader_epoch = state.leader_epoch
        self.partition_epoch = state.partition_epoch
        self.leader_recovery_state = state.leader_recovery_state
        self.pending_isr = None
        if leadership_changed:
            self.followers = {}
            if self.is_leader:
                self.leader_epoch_start_offset = self.log_end_offset
                for replica in self.replicas:
                    if replica != self.local_broker_id:
                        caught_up = now_ms if replica in self.isr else NEVER_CAUGHT_UP_MS
                        self.followers[replica] = FollowerState(last_caught_up_ms=caught_up)
        elif self.is_leader:
            for replica in self.replicas:
                if replica != self.local_broker_id:
                    self.followers.setdefault(replica, FollowerState())
            for replica in list(self.followers):
                if replica not in self.replicas:
                    del self.followers[replica]
        if self.is_leader:
            self.maybe_advance_high_watermark()
        return leadership_changed

    def _advance_clock(self, now_ms: int | None) -> None:
        if now_ms is not None and now_ms > self.clock_ms:
            self.clock_ms = now_ms

    # -- produce --------------------------------------------------------------------------

    def check_produce(self, acks: int) -> ErrorCode:
        """May this leader accept a produce with ``acks``?  (The acks=all ISR-size rule.)"""
        if acks not in (ACKS_NONE, ACKS_LEADER, ACKS_ALL):
            return ErrorCode.INVALID_REQUIRED_ACKS
        if not self.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if acks == ACKS_ALL and len(self.isr) < self.effective_min_isr():
            return ErrorCode.NOT_ENOUGH_REPLICAS
        return ErrorCode.NONE

    def acks_all_status(
        self, required_offset: int, leader_epoch: int | None = None
    ) -> ErrorCode | None:
        """None while an acks=all write ending before ``required_offset`` is uncommitted.

        ``leader_epoch``, when given, is the epoch the write was appended in: once the leader
        epoch moved on (even back to this broker), the write may have been truncated and
        replaced, so it is answered NOT_LEADER_OR_FOLLOWER like a lost leadership.
        """
        if not self.is_leader or (leader_epoch is not None and leader_epoch != self.leader_epoch):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if self.high_watermark < required_offset:
            return None
        if len(self.maximal_isr) < self.effective_min_isr():
            return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        return ErrorCode.NONE

    def check_leader_epoch(self, current_leader_epoch: int) -> ErrorCode:
        """Fetch/ListOffsets leader-epoch fencing (KIP-320); -1 means the client did not say."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return ErrorCode.NONE
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        return ErrorCode.UNKNOWN_LEADER_EPOCH

    @property
    def high_watermark_below_epoch_start(self) -> bool:
        """A new leader's HW not yet at its epoch start: ListOffsets latest is not available."""
        return self.is_leader and self.high_watermark < self.leader_epoch_start_offset

    # -- the leader's log end offset and followers ------------------------------------------

    def on_local_append(
        self, log_end_offset: int, size_bytes: int, now_ms: int | None = None
    ) -> bool:
        """Record the local log end offset; True when the high watermark advanced."""
        assert log_end_offset >= self.log_end_offset or not self.is_leader, (
            log_end_offset,
            self.log_end_offset,
        )
        self._advance_clock(now_ms)
        self.log_end_offset = log_end_offset
        self.bytes_appended += size_bytes
        if self.is_leader:
            return self.maybe_advance_high_watermark()
        self.high_watermark = min(self.high_watermark, log_end_offset)  # P7: HW <= LEO
        return False

    def on_follower_fetch(
        self,
        replica: int,
        fetch_offset: int,
        broker_epoch: int,
        now_ms: int,
        eligible: bool,
        *,
        log_start_offset: int = UNKNOWN_OFFSET,
    ) -> FollowerFetchOutcome:
        """A follower fetched at ``fetch_offset`` (its log end offset).

        ``eligible`` is the image's verdict on the follower's broker: registered with this
        broker epoch, unfenced, not shutting down (KIP-841, KIP-903).  Call it only for a
        fetch that is answered with records (not for a diverging or out-of-range one, as
        Kafka).  Ignored: a fetch beyond our log end (a divergent log: Kafka answers
        OFFSET_OUT_OF_RANGE and keeps the state), and a fetch from an older incarnation of the
        broker than one already seen (a stale fetch must not move its state, KIP-903).
        ``log_start_offset`` is the one the fetch reported (-1: not given); the outcome says
        whether it changed, which may complete a DeleteRecords waiting on :meth:`low_watermark`.
        """
        state = self.followers.get(replica)
        if not self.is_leader or state is None:
            return FollowerFetchOutcome(False, None)
        leader_end = self.log_end_offset
        stale = NO_BROKER_EPOCH < broker_epoch < state.broker_epoch
        if fetch_offset > leader_end or stale:
            return FollowerFetchOutcome(False, None)
        self._advance_clock(now_ms)
        if fetch_offset >= leader_end:
            state.last_caught_up_ms = max(state.last_caught_up_ms, now_ms)
        elif fetch_offset >= state.last_fetch_leader_log_end_offset >= 0:
            state.last_caught_up_ms = max(state.last_caught_up_ms, state.last_fetch_ms)
        state.last_fetch_leader_log_end_offset = max(
            leader_end, state.last_fetch_leader_log_end_offset
        )
        state.last_fetch_ms = now_ms
        state.log_end_offset = fetch_offset
        if broker_epoch != NO_BROKER_EPOCH:
            state.broker_epoch = broker_epoch
        state.eligible = eligible
        start_changed = log_start_offset not in (UNKNOWN_OFFSET, state.log_start_offset)
        if start_changed:
            state.log_start_offset = log_start_offset
        proposal = None
        if eligible and replica not in self.maximal_isr and self._may_join(state):
            proposal = self._propose((*self.isr, replica))
        return FollowerFetchOutcome(self.maybe_advance_high_watermark(), proposal, start_changed)

    def _may_join(self, state: FollowerState) -> bool:
        """KAFKA-7128: at the HW *and* at the current epoch's start."""
        return (
            state.log_end_offset >= self.high_watermark
            and state.log_end_offset >= self.leader_epoch_start_offset
        )

    def _is_caught_up(self, state: FollowerState) -> bool:
        """Kafka's ``ReplicaState.isCaughtUp`` at ``clock_ms``."""
        return (
            state.log_end_offset == self.log_end_offset
            or self.clock_ms - state.last_caught_up_ms <= self.replica_lag_time_max_ms
        )

    def maybe_shrink(self, now_ms: int, replica_lag_time_max_ms: int) -> IsrProposal | None:
        """Propose dropping ISR followers that are no longer caught up.

        Out of sync (Kafka's ``isFollowerOutOfSync``): not at the leader's log end offset and
        not caught up for more than ``replica_lag_time_max_ms`` (which the partition keeps
        for its other checks).  Call it periodically: it also re-evaluates the high watermark,
        which a joiner stopped holding once it fell behind (compare ``high_watermark``).
        """
        self._advance_clock(now_ms)
        self.replica_lag_time_max_ms = replica_lag_time_max_ms
        if not self.is_leader:
            return None
        self.maybe_advance_high_watermark()
        if self.pending_isr is not None:
            return None
        out_of_sync = set()
        for replica in self.isr:
            if replica == self.local_broker_id:
                continue
            state = self.followers.get(replica)
            if state is None or not self._is_caught_up(state):
                out_of_sync.add(replica)
        if not out_of_sync:
            return None
        return self._propose(tuple(r for r in self.isr if r not in out_of_sync))

    def _propose(self, new_isr: tuple[int, ...]) -> IsrProposal | None:
        if self.pending_isr is not None or new_isr == self.isr:
            return None
        self.pending_isr = new_isr
        epochs = tuple(self._broker_epoch_of(r) for r in new_isr)
        return IsrProposal(
            self.topic,
            self.index,
            self.topic_id,
            self.leader_epoch,
            self.partition_epoch,
            new_isr,
            epochs,
        )

    def _broker_epoch_of(self, replica: int) -> int:
        """The broker epoch of its latest fetch (-1: ourselves, or no fetch seen yet)."""
        state = self.followers.get(replica)
        if replica == self.local_broker_id or state is None:
            return NO_BROKER_EPOCH
        return state.broker_epoch

    def on_isr_change_failed(self, proposal: IsrProposal) -> None:
        """The controller refused (or we could not ask): revert to the committed ISR.

        Only for a refusal: a committed change arrives through :meth:`apply_state`, and
        reverting one the controller did commit would drop a joiner from the maximal ISR while
        the controller already counts it.  An answer for a proposal made against another
        committed state (partition or leader epoch) is ignored.
        """
        if (
            self.pending_isr == proposal.new_isr
            and proposal.partition_epoch == self.partition_epoch
            and proposal.leader_epoch == self.leader_epoch
        ):
            self.pending_isr = None

    def on_broker_ineligible(self, broker_id: int) -> bool:
        """The image fenced the broker (or it is shutting down, or re-registered): it may no
        longer hold the HW as a joiner.  True when the HW advanced."""
        state = self.followers.get(broker_id)
        if state is None or not state.eligible:
            return False
        state.eligible = False
        return self.maybe_advance_high_watermark()

    def maybe_advance_high_watermark(self, now_ms: int | None = None) -> bool:
        """HW = min LEO over the maximal ISR and the caught-up followers eligible to join,
        gated on min ISR (KAFKA-15583); never back.  An unknown LEO holds it."""
        self._advance_clock(now_ms)
        if not self.is_leader or self.is_under_min_isr():
            return False
        candidate = self.log_end_offset
        maximal = self.maximal_isr
        for replica in maximal:
            if replica == self.local_broker_id:
                continue
            state = self.followers.get(replica)
            if state is None or state.log_end_offset < 0:
                return False
            candidate = min(candidate, state.log_end_offset)
        for replica, state in self.followers.items():
            if (
                replica not in maximal
                and state.eligible
                and 0 <= state.log_end_offset < candidate
                and self._is_caught_up(state)
            ):
                candidate = state.log_end_offset
        if candidate <= self.high_watermark:
            return False
        self.high_watermark = candidate
        return True

    def low_watermark(self, log_start_offset: int, is_live: Callable[[int], bool]) -> int:
        """The smallest log start offset over this leader (``log_start_offset``, its log's)
        and the followers on live brokers; a live follower not heard from under this
        leadership counts as -1 (Kafka's ``Partition.lowWatermarkIfLeader``).  A DeleteRecords
        is answered once this reaches the offset asked for."""
        assert self.is_leader
        low = log_start_offset
        for replica, state in self.followers.items():
            if state.log_start_offset < low and is_live(replica):
                low = state.log_start_offset
        return low

    # -- follower -------------------------------------------------------------------------

    def on_leader_high_watermark(self, leader_high_watermark: int) -> bool:
        """A follower learns the HW from a fetch response: min(leader HW, own LEO)."""
        if self.is_leader:
            return False
        new = max(min(leader_high_watermark, self.log_end_offset), 0)
        if new == self.high_watermark:
            return False
        self.high_watermark = new
        return True

    def on_truncated(self, log_end_offset: int) -> None:
        """The local log was truncated (by epoch) to ``log_end_offset``."""
        assert not self.is_leader
        self.log_end_offset = log_end_offset
        self.high_watermark = min(self.high_watermark, log_end_offset)
