"""The group coordinator's side of KIP-848 consumer groups: ConsumerGroupHeartbeat (join,
heartbeat, leave, static members), the session and rebalance timeouts, and ConsumerGroupDescribe.

A consumer group's membership (:class:`~broker.core.consumer_group.ConsumerGroup`) hangs off
the classic :class:`~broker.core.group_metadata.Group` of the same id (``group.consumer``),
which keeps its committed offsets; the classic state stays Empty.  A group id is used by one
protocol at a time: a heartbeat for a group with classic members gets GROUP_ID_NOT_FOUND ("not
a consumer group"), a JoinGroup for a group with consumer members INCONSISTENT_GROUP_PROTOCOL.

**Persisted** as Kafka does: every change writes the group's records (epochs, subscribed
topics, each member's metadata, target and current assignment:
:mod:`broker.core.consumer_group_records`) to ``__consumer_offsets`` as a diff against what is
there (``ConsumerGroup.written``), and the answer waits until they are committed.  A new
coordinator replays them: members go on at their epochs, without a rebalance.

Timers (in the coordinator's purgatory): a session timer per member
(``group.consumer.session.timeout.ms``, re-armed by each heartbeat; a member that misses it is
fenced) and a rebalance timer while a member has partitions to revoke (its rebalance timeout;
a member still at that epoch when it fires is fenced).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from broker.core import consumer_group as cg
from broker.core import consumer_group_records as records
from broker.core.consumer_group import (
    Assignment,
    ConsumerGroup,
    ConsumerMember,
    HeartbeatError,
    HeartbeatRequest,
    MemberState,
    TopicsView,
)
from broker.core.group_membership import GroupMembership
from broker.core.group_metadata import Group, GroupState
from broker.core.group_timers import Timer
from broker.core.group_types import CoordinatorResult, OffsetsRecord
from client.protocol.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class ConsumerHeartbeatResponse:
    error_code: ErrorCode
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None  # None: not sent (unchanged)


@dataclass(frozen=True, slots=True)
class DescribedConsumerMember:
    member: ConsumerMember
    target: Assignment


@dataclass(frozen=True, slots=True)
class DescribedConsumerGroup:
    error_code: ErrorCode
    error_message: str | None
    group_id: str
    group_state: str
    group_epoch: int
    assignment_epoch: int
    assignor_name: str
    members: tuple[DescribedConsumerMember, ...]


@dataclass(eq=False, slots=True)
class ConsumerSessionTimer(Timer):
    member_id: str = ""

    @property
    def key(self) -> Hashable:
        return ("consumer-session", self.group.group_id, self.member_id)


@dataclass(eq=False, slots=True)
class ConsumerRebalanceTimer(Timer):
    member_id: str = ""
    member_epoch: int = 0

    @property
    def key(self) -> Hashable:
        return ("consumer-rebalance", self.group.group_id, self.member_id)


def consumer_members(group: Group) -> bool:
    """Whether ``group`` is a consumer-protocol group with members now."""
    consumer = group.consumer
    return consumer is not None and bool(consumer.members)


class ConsumerMembership(GroupMembership):
    """KIP-848 entry points; the classic ones are in :class:`GroupMembership`."""

    def consumer_heartbeat(
        self, request: HeartbeatRequest, topics: TopicsView, now_ms: int
    ) -> CoordinatorResult[ConsumerHeartbeatResponse]:
        """ConsumerGroupHeartbeat; ``topics`` is the cluster's topics (name -> id, count)."""
        self._begin(now_ms)
        try:
            response = self._consumer_heartbeat(request, topics, now_ms)
        except HeartbeatError as error:
            response = ConsumerHeartbeatResponse(error.code, error.message)
        return self._result(response)

    def _consumer_heartbeat(
        self, request: HeartbeatRequest, topics: TopicsView, now_ms: int
    ) -> ConsumerHeartbeatResponse:
        config = self.config
        cg.validate(request, config.group_consumer_assignors)
        group = self._groups.get(request.group_id)
        if (group is not None and not group.is_(GroupState.EMPTY)) or self._is_share_group(
            request.group_id
        ):
            raise HeartbeatError(
                ErrorCode.GROUP_ID_NOT_FOUND, f"Group {request.group_id} is not a consumer group."
            )
        if request.member_epoch in (cg.LEAVE_EPOCH, cg.STATIC_LEAVE_EPOCH):
            return self._consumer_leave(group, request)
        joining = request.member_epoch == cg.JOIN_EPOCH
        unknown = HeartbeatError(
            ErrorCode.UNKNOWN_MEMBER_ID,
            f"Member {request.member_id} is not a member of group {request.group_id}.",
        )
        if group is None:
            if not joining:
                raise unknown
            if len(self._groups) >= config.max_groups:
                raise HeartbeatError(ErrorCode.COORDINATOR_NOT_AVAILABLE, "Too many groups.")
            group = self._create_group(request.group_id)
        consumer = group.consumer
        if consumer is None:
            if not joining:
                raise unknown
            consumer = group.consumer = ConsumerGroup(request.group_id)
        member_id = request.member_id or self._member_id_suffix()
        member, is_new = self._heartbeat_member(group, consumer, request, member_id)
        previous_assigned = dict(member.assigned)
        subscription = (member.subscribed_topic_names, member.subscribed_topic_regex)
        _update_member(member, request)
        if is_new:
            consumer.add_member(member)
        changed = subscription != (member.subscribed_topic_names, member.subscribed_topic_regex)
        if consumer.refresh_metadata(topics) or changed or is_new:
            consumer.group_epoch += 1
        if consumer.group_epoch > consumer.assignment_epoch:
            consumer.compute_target(topics, config.group_consumer_assignors[0])
        consumer.reconcile(member, request.owned)
        self._arm_consumer_timers(group, member, now_ms)
        self._persist(group, consumer, member)
        full = joining or (
            request.rebalance_timeout_ms != -1
            and (request.subscribed_topic_names is not None or request.subscribed_topic_regex)
            and request.owned is not None
        )
        return ConsumerHeartbeatResponse(
            ErrorCode.NONE,
            member_id=member.member_id,
            member_epoch=member.member_epoch,
            heartbeat_interval_ms=self._consumer_setting(
                group.group_id,
                "consumer.heartbeat.interval.ms",
                config.group_consumer_heartbeat_interval_ms,
            ),
            assignment=dict(member.assigned)
            if full or member.assigned != previous_assigned
            else None,
        )

    def _heartbeat_member(
        self, group: Group, consumer: ConsumerGroup, request: HeartbeatRequest, member_id: str
    ) -> tuple[ConsumerMember, bool]:
        """The member the heartbeat is for, checked (epochs, static ids), or a new one."""
        joining = request.member_epoch == cg.JOIN_EPOCH
        instance_id = request.instance_id
        unknown = HeartbeatError(
            ErrorCode.UNKNOWN_MEMBER_ID,
            f"Member {member_id} is not a member of group {request.group_id}.",
        )
        if instance_id is None:
            member = consumer.members.get(member_id)
            if member is not None:
                cg.check_member_epoch(member, request.member_epoch, request.owned)
                return member, False
            if not joining:
                raise unknown
            self._check_consumer_group_size(consumer)
            return ConsumerMember(member_id), True
        existing_id = consumer.static_members.get(instance_id)
        existing = None if existing_id is None else consumer.members.get(existing_id)
        if not joining:
            if existing is None:
                raise HeartbeatError(
                    ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown."
                )
            if existing.member_id != member_id:
                raise HeartbeatError(
                    ErrorCode.FENCED_INSTANCE_ID,
                    f"Static member {member_id} with instance id {instance_id} is not the "
                    f"member of that instance id ({existing.member_id}).",
                )
            cg.check_member_epoch(existing, request.member_epoch, request.owned)
            return existing, False
        if existing is None:
            member = consumer.members.get(member_id)
            if member is not None:
                return member, False
            self._check_consumer_group_size(consumer)
            return ConsumerMember(member_id), True
        if existing.member_id == member_id:
            return existing, False
        if existing.member_epoch != cg.STATIC_LEAVE_EPOCH:
            raise HeartbeatError(
                ErrorCode.UNRELEASED_INSTANCE_ID,
                f"Static member {existing.member_id} with instance id {instance_id} is still "
                "in the group; it must leave before another member takes its instance id.",
            )
        # The instance is back under a new member id: it takes the old member's place (and
        # assignment) without a rebalance.
        self._cancel_consumer_timers(existing)
        del consumer.members[existing.member_id]
        target = consumer.target.pop(existing.member_id, None)
        existing.member_id = member_id
        existing.member_epoch = existing.previous_member_epoch = 0
        existing.state = MemberState.STABLE
        consumer.members[member_id] = existing
        consumer.static_members[instance_id] = member_id
        if target is not None:
            consumer.target[member_id] = target
        return existing, False

    def _check_consumer_group_size(self, consumer: ConsumerGroup) -> None:
        if len(consumer.members) >= self.config.group_consumer_max_size:
            raise HeartbeatError(
                ErrorCode.GROUP_MAX_SIZE_REACHED,
                "The consumer group has reached its maximum capacity of "
                f"{self.config.group_consumer_max_size} members.",
            )

    def _consumer_leave(
        self, group: Group | None, request: HeartbeatRequest
    ) -> ConsumerHeartbeatResponse:
        consumer = None if group is None else group.consumer
        if consumer is None or group is None:
            raise HeartbeatError(
                ErrorCode.UNKNOWN_MEMBER_ID, f"Group {request.group_id} has no such member."
            )
        if request.instance_id is None:
            member = consumer.members.get(request.member_id)
        else:
            member_id = consumer.static_members.get(request.instance_id)
            member = None if member_id is None else consumer.members.get(member_id)
            if member is not None and member.member_id != request.member_id:
                raise HeartbeatError(
                    ErrorCode.FENCED_INSTANCE_ID,
                    f"Instance id {request.instance_id} belongs to another member.",
                )
        if member is None:
            raise HeartbeatError(
                ErrorCode.UNKNOWN_MEMBER_ID,
                f"Member {request.member_id} is not a member of group {request.group_id}.",
            )
        if request.member_epoch == cg.STATIC_LEAVE_EPOCH:
            # A static member leaving for a while keeps its assignment (no rebalance) until
            # its session times out or the instance comes back.
            member.member_epoch = cg.STATIC_LEAVE_EPOCH
            member.pending_revocation = {}
            if member.rebalance_timer is not None:
                self._cancel(member.rebalance_timer)
                member.rebalance_timer = None
            self._persist(group, consumer, member)
        else:
            self._fence_consumer_member(group, consumer, member)
        return ConsumerHeartbeatResponse(
            ErrorCode.NONE, member_id=request.member_id, member_epoch=request.member_epoch
        )

    def _fence_consumer_member(
        self, group: Group, consumer: ConsumerGroup, member: ConsumerMember
    ) -> None:
        self._cancel_consumer_timers(member)
        consumer.remove_member(member.member_id)
        self._persist(group, consumer, None)

    def _persist(
        self, group: Group, consumer: ConsumerGroup, touched: ConsumerMember | None
    ) -> None:
        """Write what changed of the group to ``__consumer_offsets`` (Kafka's records, see
        :mod:`broker.core.consumer_group_records`): everything when the epochs or the
        members changed, else only the ``touched`` member's records."""
        shape = (consumer.group_epoch, consumer.assignment_epoch, frozenset(consumer.members))
        full = touched is None or shape != consumer.written_shape
        if full:
            desired = records.group_records(consumer)
            for member in consumer.members.values():
                desired.update(records.member_records(consumer, member))
            consumer.written_shape = shape
        else:
            assert touched is not None
            desired = records.member_records(consumer, touched)
        written = consumer.written
        for key, value in desired.items():
            if written.get(key) != value:
                written[key] = value
                self._out.records.append(OffsetsRecord(group.partition, key, value))
        if full:
            for key in [k for k in written if k not in desired]:
                del written[key]
                self._out.records.append(OffsetsRecord(group.partition, key, None))

    def _replay_consumer_record(self, group: Group, key: bytes, value: bytes | None) -> None:
        """Load one KIP-848 record into the group's consumer membership."""
        decoded = records.decode_key(key)
        consumer = group.consumer
        if consumer is None:
            if value is None:
                return  # a tombstone of a group already gone
            consumer = group.consumer = ConsumerGroup(decoded.group_id)
        records.replay(consumer, decoded, value)
        if value is None:
            consumer.written.pop(key, None)
            if decoded.record_type == records.GROUP_METADATA:
                group.consumer = None  # the group was deleted
        else:
            consumer.written[key] = value

    def _consumer_tombstones(self, group: Group) -> None:
        """The group is going: tombstones for every KIP-848 record it has in the log."""
        consumer = group.consumer
        if consumer is None:
            return
        for key in list(consumer.written):
            self._out.records.append(OffsetsRecord(group.partition, key, None))
        consumer.written.clear()

    def _start_loaded_consumer_timers(self, group: Group, now_ms: int) -> None:
        consumer = group.consumer
        if consumer is None:
            return
        for member in consumer.members.values():
            self._arm_consumer_timers(group, member, now_ms)

    def _cancel_consumer_timers(self, member: ConsumerMember) -> None:
        for timer in (member.session_timer, member.rebalance_timer):
            if timer is not None:
                self._cancel(timer)
        member.session_timer = member.rebalance_timer = None

    def _consumer_setting(self, group_id: str, name: str, default: int) -> int:
        """The group's own config ``name`` if it has one (validated when set), else the
        broker's ``default``."""
        value = self.group_configs(group_id).get(name)
        return default if value is None else int(value)

    def _arm_consumer_timers(self, group: Group, member: ConsumerMember, now_ms: int) -> None:
        if member.session_timer is not None:
            self._cancel(member.session_timer)
        deadline = now_ms + self._consumer_setting(
            group.group_id,
            "consumer.session.timeout.ms",
            self.config.group_consumer_session_timeout_ms,
        )
        member.session_timer = ConsumerSessionTimer(deadline, group, member_id=member.member_id)
        self._watch(member.session_timer)
        timer = member.rebalance_timer
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if timer is None or timer.member_epoch != member.member_epoch:
                if timer is not None:
                    self._cancel(timer)
                member.rebalance_timer = ConsumerRebalanceTimer(
                    now_ms + max(member.rebalance_timeout_ms, 0),
                    group,
                    member_id=member.member_id,
                    member_epoch=member.member_epoch,
                )
                self._watch(member.rebalance_timer)
        elif timer is not None:
            self._cancel(timer)
            member.rebalance_timer = None

    def _watch(self, timer: Timer) -> None:
        self._timers.watch(timer, [timer.key])

    def _on_consumer_timer(self, timer: Timer) -> None:
        consumer = timer.group.consumer
        if consumer is None or not isinstance(
            timer, (ConsumerSessionTimer, ConsumerRebalanceTimer)
        ):
            return
        member = consumer.members.get(timer.member_id)
        if member is None:
            return
        if isinstance(timer, ConsumerSessionTimer):
            if member.session_timer is timer:
                member.session_timer = None
                self._fence_consumer_member(timer.group, consumer, member)
        elif member.rebalance_timer is timer:
            member.rebalance_timer = None
            if member.member_epoch == timer.member_epoch:
                self._fence_consumer_member(timer.group, consumer, member)

    def _drop_consumer_members(self, group: Group) -> None:
        consumer = group.consumer
        if consumer is None:
            return
        for member in consumer.members.values():
            self._cancel_consumer_timers(member)
        group.consumer = None

    # -- admin views ----------------------------------------------------------------------------

    def describe_consumer_groups(self, group_ids: Iterable[str]) -> list[DescribedConsumerGroup]:
        """ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for an unknown or classic group."""
        described: list[DescribedConsumerGroup] = []
        for group_id in group_ids:
            group = self._groups.get(group_id)
            consumer = None if group is None else group.consumer
            if group is None or consumer is None or not group.is_(GroupState.EMPTY):
                message = (
                    f"Group {group_id} not found."
                    if group is None
                    else f"Group {group_id} is not a consumer group."
                )
                described.append(
                    DescribedConsumerGroup(
                        ErrorCode.GROUP_ID_NOT_FOUND, message, group_id, "Dead", 0, 0, "", ()
                    )
                )
                continue
            members = tuple(
                DescribedConsumerMember(m, consumer.target.get(m.member_id, {}))
                for m in consumer.members.values()
            )
            described.append(
                DescribedConsumerGroup(
                    ErrorCode.NONE,
                    None,
                    group_id,
                    consumer.state.value,
                    consumer.group_epoch,
                    consumer.assignment_epoch,
                    consumer.assignor_name or self.config.group_consumer_assignors[0],
                    members,
                )
            )
        return described


def _update_member(member: ConsumerMember, request: HeartbeatRequest) -> None:
    """Kafka's ``maybeUpdate...``: a field not sent (null / -1) keeps its value."""
    if request.instance_id is not None:
        member.instance_id = request.instance_id
    if request.rack_id is not None:
        member.rack_id = request.rack_id
    if request.rebalance_timeout_ms != -1:
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
    if request.server_assignor is not None:
        member.server_assignor = request.server_assignor
    if request.subscribed_topic_names is not None:
        member.subscribed_topic_names = tuple(sorted(set(request.subscribed_topic_names)))
    if request.subscribed_topic_regex is not None:
        member.subscribed_topic_regex = request.subscribed_topic_regex or None
    member.client_id = request.client_id
    member.client_host = request.client_host
