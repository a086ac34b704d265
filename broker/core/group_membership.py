"""The classic rebalance protocol (Kafka's ``GroupCoordinator`` membership half), sans-IO.

JoinGroup, SyncGroup, Heartbeat and LeaveGroup, and the timers behind them: DelayedJoin (the
rebalance timeout), InitialDelayedJoin (``group.initial.rebalance.delay.ms``, KIP-134), the
sync timeout, and a session timer per member and per pending member id (KIP-394).  The timers
are delayed operations in a :class:`~broker.core.purgatory.Purgatory`, each watched under one
key (``("join", group)``, ``("sync", group)``, ``("heartbeat", group, member)``); a request that
may satisfy one calls ``check_and_complete`` on that key (:meth:`GroupMembership._poll`), and
``expire`` hands back the ones whose deadline passed.  A timer that is replaced or dropped is
cancelled: its ``try_complete`` then says done, and whoever gets it back ignores it.

:class:`GroupMembership` is the base of ``group_coordinator.GroupCoordinator``, which adds
offsets, admin, loading and ``expire``; read that module's docstring for the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

from broker.core.group_metadata import (
    CAN_REBALANCE_STATES,
    Group,
    GroupState,
    Member,
)
from broker.core.group_records import (
    GroupMetadataKey,
    encode_group_metadata_key,
    encode_group_metadata_value,
    partition_for,
)
from broker.core.group_timers import (
    HeartbeatTimer,
    JoinRequest,
    JoinTimer,
    Output,
    SyncTimer,
    Timer,
    counter_suffixes,
)
from broker.core.group_types import (
    MAX_MEMBER_ID_ATTEMPTS,
    MEMBER_ID_REQUIRED_VERSION,
    NEW_MEMBER_JOIN_TIMEOUT_MS,
    UNKNOWN_MEMBER_ID,
    CoordinatorResult,
    GroupCoordinatorConfig,
    JoinGroupMember,
    JoinGroupResponse,
    LeaveGroupResponse,
    LeaveMemberResponse,
    OffsetsRecord,
    ParkedRequest,
    R,
    SyncGroupResponse,
)
from broker.core.purgatory import Purgatory
from client.protocol.errors import ErrorCode

_S = GroupState


class GroupMembership:
    """The groups and their rebalances; entry points live in the subclass's contract."""

    def __init__(
        self,
        config: GroupCoordinatorConfig | None = None,
        member_id_suffix: Callable[[], str] | None = None,
    ) -> None:
        self.config = config or GroupCoordinatorConfig()
        # A group's own configs (KIP-848 group configs: ``consumer.session.timeout.ms``,
        # ``consumer.heartbeat.interval.ms``), by group id; the shell points it at the
        # metadata image's.
        self.group_configs: Callable[[str], Mapping[str, str]] = lambda group_id: {}
        self._member_id_suffix = member_id_suffix or counter_suffixes()
        self._groups: dict[str, Group] = {}
        self._timers = Purgatory()
        self._out = Output()

    # ----------------------------------------------------------------- JoinGroup

    def join(
        self,
        *,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        version: int,
        now_ms: int,
    ) -> CoordinatorResult[JoinGroupResponse]:
        """JoinGroup.  ``rebalance_timeout_ms`` < 0 (v0) means the session timeout."""
        self._begin(now_ms)
        if not group_id:
            return self._result(JoinGroupResponse(ErrorCode.INVALID_GROUP_ID, member_id))
        if not (
            self.config.group_min_session_timeout_ms
            <= session_timeout_ms
            <= self.config.group_max_session_timeout_ms
        ):
            return self._result(JoinGroupResponse(ErrorCode.INVALID_SESSION_TIMEOUT, member_id))
        request = JoinRequest(
            group_id,
            member_id,
            group_instance_id,
            client_id,
            client_host,
            session_timeout_ms,
            rebalance_timeout_ms if rebalance_timeout_ms >= 0 else session_timeout_ms,
            protocol_type,
            tuple(protocols),
            version,
        )
        existing = self._groups.get(group_id)
        if self._is_share_group(group_id) or (
            existing is not None and existing.consumer is not None and existing.consumer.members
        ):
            # A KIP-848 consumer group: one protocol per group id (no online migration).
            return self._result(JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id))
        parked = ParkedRequest("JoinGroup", group_id, member_id)
        if member_id == UNKNOWN_MEMBER_ID:
            response = self._join_unknown_member(request, parked, now_ms)
        else:
            response = self._join_known_member(request, parked, now_ms)
        group = self._groups.get(group_id)
        if group is not None and group.is_(_S.PREPARING_REBALANCE):
            self._poll(("join", group_id), now_ms)
        if response is not None:
            return self._result(response)
        return self._result(None, parked)

    def _join_unknown_member(
        self, request: JoinRequest, parked: ParkedRequest, now_ms: int
    ) -> JoinGroupResponse | None:
        group = self._groups.get(request.group_id)
        if group is None:
            if not (request.protocol_type and request.protocols):
                return JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID)
            if len(self._groups) >= self.config.max_groups:
                return JoinGroupResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE, UNKNOWN_MEMBER_ID)
            group = self._create_group(request.group_id)
        static_rejoin = request.group_instance_id in group.static_members
        if not static_rejoin and not self._accepts_new_member(group):
            return JoinGroupResponse(ErrorCode.GROUP_MAX_SIZE_REACHED, UNKNOWN_MEMBER_ID)
        if not group.supports_protocols(request.protocol_type, request.protocols):
            return JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID)
        new_member_id = self._new_member_id(group, request.client_id)
        if request.group_instance_id is not None:
            return self._join_static_member(group, request, new_member_id, parked, now_ms)
        if request.version >= MEMBER_ID_REQUIRED_VERSION:
            timer = self._schedule_heartbeat(
                group, new_member_id, now_ms + request.session_timeout_ms
            )
            group.pending_members[new_member_id] = timer
            return JoinGroupResponse(ErrorCode.MEMBER_ID_REQUIRED, new_member_id)
        self._add_member_and_rebalance(group, request, new_member_id, parked, now_ms)
        return None

    def _join_static_member(
        self,
        group: Group,
        request: JoinRequest,
        new_member_id: str,
        parked: ParkedRequest,
        now_ms: int,
    ) -> JoinGroupResponse | None:
        """KIP-345: a known instance id takes over its member under a new id, fencing the old."""
        assert request.group_instance_id is not None
        old_member_id = group.static_members.get(request.group_instance_id)
        if old_member_id is None:
            self._add_member_and_rebalance(group, request, new_member_id, parked, now_ms)
            return None
        member = group.members[old_member_id]
        self._answer_pending(member, ErrorCode.FENCED_INSTANCE_ID)
        if member.heartbeat is not None:
            self._cancel(member.heartbeat)
            member.heartbeat = None
        group.replace_static_member(old_member_id, new_member_id)
        self._schedule_member_heartbeat(group, member, now_ms + request.session_timeout_ms)
        self._update_member(member, request, parked)
        if group.is_(_S.STABLE):
            if group.protocol_name == group.select_protocol():
                # Nothing the assignment depends on changed: persist the new member id and hand
                # back the current generation; a leader gets the members but must not assign.
                member.pending_join = None
                self._store_group(group)
                return self._current_generation(group, member, skip_assignment=True)
            self._prepare_rebalance(group, now_ms)
        elif group.is_(_S.COMPLETING_REBALANCE):
            # The leader may already hold the old member id: rebalance so the ids agree.
            self._prepare_rebalance(group, now_ms)
        return None

    def _join_known_member(
        self, request: JoinRequest, parked: ParkedRequest, now_ms: int
    ) -> JoinGroupResponse | None:
        group = self._groups.get(request.group_id)
        member_id = request.member_id
        if group is None:
            return JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        if not group.supports_protocols(request.protocol_type, request.protocols, member_id):
            return JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
        if member_id in group.pending_members:
            # KIP-394 second round: the id we handed out; already counted against the max.
            self._cancel(group.pending_members[member_id])
            del group.pending_members[member_id]
            self._add_member_and_rebalance(group, request, member_id, parked, now_ms)
            return None
        if group.is_static_member_fenced(member_id, request.group_instance_id):
            return JoinGroupResponse(ErrorCode.FENCED_INSTANCE_ID, member_id)
        member = group.members.get(member_id)
        unknown_instance = (
            request.group_instance_id is not None
            and request.group_instance_id not in group.static_members
        )
        if member is None or unknown_instance:
            return JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
        if not self._accepts_rejoining_member(group, member):
            # Over group.max.size (it was lowered): the last members to rejoin are dropped.
            self._remove_member_and_update_group(group, member, now_ms)
            return JoinGroupResponse(ErrorCode.GROUP_MAX_SIZE_REACHED, UNKNOWN_MEMBER_ID)
        return self._rejoin(group, member, request, parked, now_ms)

    def _rejoin(
        self,
        group: Group,
        member: Member,
        request: JoinRequest,
        parked: ParkedRequest,
        now_ms: int,
    ) -> JoinGroupResponse | None:
        """A known member's JoinGroup, by group state (Kafka's ``doCurrentMemberJoinGroup``)."""
        unchanged = member.matches(request.protocols)
        is_leader = group.leader_id == member.member_id
        if group.is_(_S.COMPLETING_REBALANCE) and unchanged:
            # It missed its JoinGroup response: answer with the current generation again.
            return self._current_generation(group, member, skip_assignment=False)
        if group.is_(_S.STABLE) and unchanged and not is_leader:
            return self._current_generation(group, member, skip_assignment=False)
        if group.state in (_S.EMPTY, _S.DEAD):
            return JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member.member_id)
        # A changed subscription, or the leader asking for a rebalance (e.g. new partitions).
        self._update_member(member, request, parked)
        self._maybe_prepare_rebalance(group, now_ms)
        return None

    def _current_generation(
        self, group: Group, member: Member, skip_assignment: bool
    ) -> JoinGroupResponse:
        is_leader = group.leader_id == member.member_id
        return JoinGroupResponse(
            ErrorCode.NONE,
            member.member_id,
            group.generation_id,
            group.protocol_type,
            group.protocol_name,
            group.leader_id or "",
            self._join_members(group) if is_leader else (),
            skip_assignment and is_leader,
        )

    def _join_members(self, group: Group) -> tuple[JoinGroupMember, ...]:
        assert group.protocol_name is not None
        protocol = group.protocol_name
        return tuple(
            JoinGroupMember(m.member_id, m.group_instance_id, m.metadata(protocol))
            for m in group.members.values()
        )

    def _accepts_new_member(self, group: Group) -> bool:
        """Kafka's ``acceptJoiningMember`` for a new member id; member ids handed out count."""
        if group.is_(_S.PREPARING_REBALANCE):
            size = group.awaiting_join_count + len(group.pending_members)
        else:
            size = group.size
        return size < self.config.group_max_size

    def _accepts_rejoining_member(self, group: Group, member: Member) -> bool:
        if not group.is_(_S.PREPARING_REBALANCE) or member.pending_join is not None:
            return True
        return group.awaiting_join_count < self.config.group_max_size

    def _new_member_id(self, group: Group, client_id: str) -> str:
        for _ in range(MAX_MEMBER_ID_ATTEMPTS):
            member_id = f"{client_id}-{self._member_id_suffix()}"
            if member_id not in group.members and member_id not in group.pending_members:
                return member_id
        raise AssertionError("the member id source keeps repeating itself")

    def _add_member_and_rebalance(
        self,
        group: Group,
        request: JoinRequest,
        member_id: str,
        parked: ParkedRequest,
        now_ms: int,
    ) -> None:
        member = Member(
            member_id,
            request.group_instance_id,
            request.client_id,
            request.client_host,
            request.rebalance_timeout_ms,
            request.session_timeout_ms,
            request.protocol_type,
            request.protocols,
            is_new=True,
            pending_join=parked,
        )
        if group.is_(_S.PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True  # the initial delay may be extended (KIP-134)
        group.add(member)
        # It cannot heartbeat while its JoinGroup is parked; bound how long that may last.
        self._schedule_member_heartbeat(group, member, now_ms + NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group, now_ms)

    def _update_member(self, member: Member, request: JoinRequest, parked: ParkedRequest) -> None:
        member.protocols = request.protocols
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.session_timeout_ms = request.session_timeout_ms
        if member.pending_join is not None:  # a duplicate JoinGroup replaces the parked one
            self._answer(
                member.pending_join,
                JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id),
            )
        member.pending_join = parked

    # ----------------------------------------------------------------- rebalance

    def _maybe_prepare_rebalance(self, group: Group, now_ms: int) -> None:
        if group.state in CAN_REBALANCE_STATES:
            self._prepare_rebalance(group, now_ms)

    def _prepare_rebalance(self, group: Group, now_ms: int) -> None:
        if group.is_(_S.COMPLETING_REBALANCE):
            for member in group.members.values():
                member.assignment = b""
                if member.pending_sync is not None:
                    self._answer(
                        member.pending_sync, SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS)
                    )
                    member.pending_sync = None
        self._cancel_sync_timer(group)
        group.pending_sync_members.clear()
        delay_ms = self.config.group_initial_rebalance_delay_ms
        if group.is_(_S.EMPTY) and delay_ms > 0:
            remaining_ms = max(group.rebalance_timeout_ms - delay_ms, 0)
            timer = JoinTimer(
                now_ms + delay_ms, group, delay_ms=delay_ms, remaining_ms=remaining_ms
            )
        else:
            timer = JoinTimer(now_ms + group.rebalance_timeout_ms, group)
        group.transition_to(_S.PREPARING_REBALANCE, self._wall(now_ms))
        self._watch_join(group, timer, now_ms)

    def _watch_join(self, group: Group, timer: JoinTimer, now_ms: int) -> None:
        """Kafka's ``tryCompleteElseWatch`` for the group's join timer."""
        assert group.join_timer is None
        if timer.try_complete(timer.key):
            self._complete_join(group, now_ms)
            return
        group.join_timer = timer
        self._timers.watch(timer, [timer.key])

    def _on_join_timer(self, timer: JoinTimer, now_ms: int) -> None:
        group = timer.group
        if group.join_timer is not timer:
            return
        group.join_timer = None
        if timer.delay_ms and group.new_member_added and timer.remaining_ms > 0:
            # KIP-134: members are still arriving; wait another delay, within the rebalance timeout.
            group.new_member_added = False
            delay_ms = min(self.config.group_initial_rebalance_delay_ms, timer.remaining_ms)
            remaining_ms = max(timer.remaining_ms - timer.delay_ms, 0)
            again = JoinTimer(
                now_ms + delay_ms, group, delay_ms=delay_ms, remaining_ms=remaining_ms
            )
            self._watch_join(group, again, now_ms)
            return
        self._complete_join(group, now_ms)

    def _complete_join(self, group: Group, now_ms: int) -> None:
        """Kafka's ``onCompleteJoin``: drop dynamic members that did not rejoin; next generation."""
        assert group.is_(_S.PREPARING_REBALANCE)
        for member in list(group.members.values()):
            if member.pending_join is None and member.group_instance_id is None:
                self._remove_member(group, member)
        if not group.elect_joined_leader() and group.members:
            # Only static members that did not rejoin are left: wait for them or their session.
            self._watch_join(group, JoinTimer(now_ms + group.rebalance_timeout_ms, group), now_ms)
            return
        group.generation_id += 1
        wall_ms = self._wall(now_ms)
        if not group.members:
            group.protocol_name = None
            group.transition_to(_S.EMPTY, wall_ms)
            self._store_group(group)
            return
        group.protocol_name = group.select_protocol()
        group.transition_to(_S.COMPLETING_REBALANCE, wall_ms)
        for member in group.members.values():
            response = self._current_generation(group, member, skip_assignment=False)
            if member.pending_join is not None:
                self._answer(member.pending_join, response)
                member.pending_join = None
            member.is_new = False
            self._schedule_member_heartbeat(group, member, now_ms + member.session_timeout_ms)
            group.pending_sync_members.add(member.member_id)
        sync_timer = SyncTimer(
            now_ms + group.rebalance_timeout_ms, group, generation_id=group.generation_id
        )
        group.sync_timer = sync_timer
        self._timers.watch(sync_timer, [sync_timer.key])

    # ----------------------------------------------------------------- SyncGroup

    def sync(
        self,
        *,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: Mapping[str, bytes],
        now_ms: int,
    ) -> CoordinatorResult[SyncGroupResponse]:
        """SyncGroup; ``protocol_type``/``protocol_name`` are None before v5 (not checked)."""
        self._begin(now_ms)
        group = self._groups.get(group_id)
        error = self._member_error(group, generation_id, member_id, group_instance_id, group_id)
        if error is not ErrorCode.NONE:
            return self._result(SyncGroupResponse(error))
        assert group is not None
        member = group.members[member_id]
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
            protocol_name is not None and protocol_name != group.protocol_name
        ):
            return self._result(SyncGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
        if group.is_(_S.PREPARING_REBALANCE):
            return self._result(SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        group.pending_sync_members.discard(member_id)
        if group.is_(_S.STABLE):
            self._poll(("sync", group_id), now_ms)
            self._schedule_member_heartbeat(group, member, now_ms + member.session_timeout_ms)
            return self._result(self._assignment(group, member))
        assert group.is_(_S.COMPLETING_REBALANCE), group.state
        parked = ParkedRequest("SyncGroup", group_id, member_id)
        if member.pending_sync is not None:
            self._answer(member.pending_sync, SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        member.pending_sync = parked
        if group.leader_id == member_id:
            self._complete_sync(group, assignments, now_ms)
        self._poll(("sync", group_id), now_ms)
        return self._result(None, parked)

    def _complete_sync(self, group: Group, assignments: Mapping[str, bytes], now_ms: int) -> None:
        """The leader's assignment: store the group, go Stable, answer every parked SyncGroup."""
        for member in group.members.values():
            member.assignment = assignments.get(member.member_id, b"")
        group.transition_to(_S.STABLE, self._wall(now_ms))
        self._store_group(group)
        for member in group.members.values():
            if member.pending_sync is not None:
                self._answer(member.pending_sync, self._assignment(group, member))
                member.pending_sync = None
            self._schedule_member_heartbeat(group, member, now_ms + member.session_timeout_ms)

    def _assignment(self, group: Group, member: Member) -> SyncGroupResponse:
        return SyncGroupResponse(
            ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment
        )

    def _on_sync_timer(self, timer: SyncTimer, now_ms: int) -> None:
        """Members that never sent SyncGroup within the rebalance timeout are removed."""
        group = timer.group
        if group.sync_timer is not timer:
            return
        group.sync_timer = None
        if group.generation_id != timer.generation_id or not group.pending_sync_members:
            return
        assert group.state in (_S.COMPLETING_REBALANCE, _S.STABLE), group.state
        for member_id in list(group.pending_sync_members):
            self._remove_member(group, group.members[member_id])
        self._prepare_rebalance(group, now_ms)

    def _cancel_sync_timer(self, group: Group) -> None:
        if group.sync_timer is not None:
            self._cancel(group.sync_timer)
            group.sync_timer = None

    # ----------------------------------------------------------------- Heartbeat, LeaveGroup

    def heartbeat(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        now_ms: int,
    ) -> ErrorCode:
        """Heartbeat: REBALANCE_IN_PROGRESS tells a member of the current generation to rejoin."""
        self._begin(now_ms)
        group = self._groups.get(group_id)
        error = self._member_error(group, generation_id, member_id, group_instance_id, group_id)
        if error is ErrorCode.NONE:
            assert group is not None
            member = group.members[member_id]
            self._schedule_member_heartbeat(group, member, now_ms + member.session_timeout_ms)
            if group.is_(_S.PREPARING_REBALANCE):
                error = ErrorCode.REBALANCE_IN_PROGRESS
        result = self._result(error)
        assert not result.completed and not result.records
        return error

    def _member_error(
        self,
        group: Group | None,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        group_id: str,
    ) -> ErrorCode:
        """Kafka's checks for SyncGroup and Heartbeat, in its order."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_static_member_fenced(member_id, group_instance_id):
            return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in group.members or group.is_(_S.EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    def leave(
        self, group_id: str, members: Sequence[tuple[str, str | None]], now_ms: int
    ) -> CoordinatorResult[LeaveGroupResponse]:
        """LeaveGroup of (member_id, group_instance_id) pairs; v0-v2 send one with no instance
        id.  An empty member id with an instance id removes that static member (KIP-345)."""
        self._begin(now_ms)
        if not group_id:
            return self._result(LeaveGroupResponse(ErrorCode.INVALID_GROUP_ID))
        group = self._groups.get(group_id)
        answers = tuple(
            LeaveMemberResponse(
                member_id, instance_id, self._leave_one(group, member_id, instance_id, now_ms)
            )
            for member_id, instance_id in members
        )
        return self._result(LeaveGroupResponse(ErrorCode.NONE, answers))

    def _leave_one(
        self, group: Group | None, member_id: str, group_instance_id: str | None, now_ms: int
    ) -> ErrorCode:
        if group is None or group.is_(_S.DEAD):
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_id != UNKNOWN_MEMBER_ID and group.is_static_member_fenced(
            member_id, group_instance_id
        ):
            return ErrorCode.FENCED_INSTANCE_ID
        if member_id in group.pending_members:
            self._cancel(group.pending_members.pop(member_id))
            if group.is_(_S.PREPARING_REBALANCE):
                self._poll(("join", group.group_id), now_ms)
            return ErrorCode.NONE
        static_id = group.static_members.get(group_instance_id) if group_instance_id else None
        member = group.members.get(static_id if static_id is not None else member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._remove_member_and_update_group(group, member, now_ms)
        return ErrorCode.NONE

    # ----------------------------------------------------------------- members and heartbeats

    def _remove_member(self, group: Group, member: Member) -> None:
        if member.heartbeat is not None:
            self._cancel(member.heartbeat)
            member.heartbeat = None
        group.remove(member.member_id)

    def _remove_member_and_update_group(self, group: Group, member: Member, now_ms: int) -> None:
        self._answer_pending(member, ErrorCode.UNKNOWN_MEMBER_ID)
        self._remove_member(group, member)
        if group.state in (_S.STABLE, _S.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, now_ms)
        elif group.is_(_S.PREPARING_REBALANCE):
            self._poll(("join", group.group_id), now_ms)

    def _answer_pending(self, member: Member, error: ErrorCode) -> None:
        if member.pending_join is not None:
            reply_id = (
                member.member_id if error is ErrorCode.FENCED_INSTANCE_ID else UNKNOWN_MEMBER_ID
            )
            self._answer(member.pending_join, JoinGroupResponse(error, reply_id))
            member.pending_join = None
        if member.pending_sync is not None:
            self._answer(member.pending_sync, SyncGroupResponse(error))
            member.pending_sync = None

    def _schedule_heartbeat(self, group: Group, member_id: str, deadline_ms: int) -> HeartbeatTimer:
        timer = HeartbeatTimer(deadline_ms, group, member_id=member_id)
        self._timers.watch(timer, [timer.key])
        return timer

    def _schedule_member_heartbeat(self, group: Group, member: Member, deadline_ms: int) -> None:
        if member.heartbeat is not None:
            self._cancel(member.heartbeat)
        member.heartbeat = self._schedule_heartbeat(group, member.member_id, deadline_ms)

    def _on_heartbeat_timer(self, timer: HeartbeatTimer, now_ms: int) -> None:
        group = timer.group
        member_id = timer.member_id
        if group.pending_members.get(member_id) is timer:  # a KIP-394 id that was never used
            del group.pending_members[member_id]
            if group.is_(_S.PREPARING_REBALANCE):
                self._poll(("join", group.group_id), now_ms)
            return
        member = group.members.get(member_id)
        if member is None or member.heartbeat is not timer:
            return
        member.heartbeat = None
        waiting = member.pending_join is not None or member.pending_sync is not None
        if waiting and not member.is_new:
            # Parked in a rebalance counts as alive (Kafka's hasSatisfiedHeartbeat); re-arm.
            self._schedule_member_heartbeat(group, member, now_ms + member.session_timeout_ms)
            return
        self._remove_member_and_update_group(group, member, now_ms)

    def _create_group(self, group_id: str) -> Group:
        assert group_id not in self._groups and len(self._groups) < self.config.max_groups
        group = Group(group_id, partition_for(group_id, self.config.offsets_topic_num_partitions))
        self._groups[group_id] = group
        return group

    def _drop_group(self, group: Group, error: ErrorCode, now_ms: int) -> None:
        self._drop_consumer_members(group)
        for member in list(group.members.values()):
            self._answer_pending(member, error)
            self._remove_member(group, member)
        for timer in group.pending_members.values():
            self._cancel(timer)
        group.pending_members.clear()
        if group.join_timer is not None:
            self._cancel(group.join_timer)
            group.join_timer = None
        self._cancel_sync_timer(group)
        group.transition_to(_S.DEAD, self._wall(now_ms))
        del self._groups[group.group_id]

    def _store_group(self, group: Group) -> None:
        key = encode_group_metadata_key(GroupMetadataKey(group.group_id))
        value = encode_group_metadata_value(group.metadata_value())
        self._out.records.append(OffsetsRecord(group.partition, key, value))
        group.has_metadata_record = True

    def _drop_consumer_members(self, group: Group) -> None:
        """Hook: the KIP-848 membership of a group being dropped (the subclass's)."""

    def _dispatch(self, timer: Timer, now_ms: int) -> None:
        if timer.cancelled or self._groups.get(timer.group.group_id) is not timer.group:
            return
        if isinstance(timer, JoinTimer):
            self._on_join_timer(timer, now_ms)
        elif isinstance(timer, SyncTimer):
            self._on_sync_timer(timer, now_ms)
        elif isinstance(timer, HeartbeatTimer):
            self._on_heartbeat_timer(timer, now_ms)

    def _poll(self, key: Hashable, now_ms: int) -> None:
        """``check_and_complete`` on a key, acting on what completed by its condition."""
        for timer in self._timers.check_and_complete(key):
            assert isinstance(timer, Timer)
            group = timer.group
            if timer.cancelled:
                continue
            if isinstance(timer, SyncTimer) and group.sync_timer is timer:
                group.sync_timer = None  # every member synced: nothing left to time out
            elif isinstance(timer, JoinTimer) and group.join_timer is timer:
                group.join_timer = None
                self._complete_join(group, now_ms)

    def _cancel(self, timer: Timer) -> None:
        timer.cancelled = True
        self._timers.check_and_complete(timer.key)
        assert timer.completed

    # ----------------------------------------------------------------- plumbing

    def _is_share_group(self, group_id: str) -> bool:
        """Whether ``group_id`` is a KIP-932 share group (one protocol per group id)."""
        return False

    def _wall(self, now_ms: int) -> int:
        return now_ms + self.config.wall_clock_offset_ms

    def _begin(self, now_ms: int) -> None:
        assert not self._out.completed and not self._out.records, "entry points do not nest"

    def _answer(
        self, parked: ParkedRequest, response: JoinGroupResponse | SyncGroupResponse
    ) -> None:
        assert parked.response is None, "a parked request is answered once"
        parked.response = response
        self._out.completed.append(parked)

    def _result(
        self, response: R | None, parked: ParkedRequest | None = None
    ) -> CoordinatorResult[R]:
        completed, records = self._out.completed, self._out.records
        self._out = Output()
        if parked is not None and parked.response is not None:
            # Completed while we were still in the call: answer directly.
            completed.remove(parked)
            response = parked.response  # type: ignore[assignment]
            parked = None
        return CoordinatorResult(response, parked, tuple(completed), tuple(records))
