"""The classic-protocol group coordinator (Kafka's ``GroupCoordinator``), sans-IO.

One instance serves every group of the ``__consumer_offsets`` partitions this broker leads.
The modules: ``group_types`` (config, responses, results: everything the shell touches, all
re-exported here), ``group_metadata`` (a group, its members, the state transition table),
``group_membership`` (JoinGroup/SyncGroup/Heartbeat/LeaveGroup and their timers, the base class
of :class:`GroupCoordinator`), ``group_timers`` (the delayed operations), ``group_offsets``
(commits, fetches, retention, admin views) and ``group_records`` (the ``__consumer_offsets``
formats and :func:`partition_for`).  This module adds offsets, admin, loading and ``expire``.

**Entry points and results.**  ``join``, ``sync``, ``leave``, ``commit``, ``delete_groups``,
``delete_offsets``, ``expire`` and ``unload_partition`` return a :class:`CoordinatorResult`:

- ``response``: the answer to this request, or None when the request is *parked*
  (``parked`` is then a :class:`ParkedRequest`: a JoinGroup waiting for the rebalance, a SyncGroup
  waiting for the leader's assignment).  The parked object is the handle: the shell keeps it
  with the connection and correlation id, and sends ``parked.response`` when the object shows up
  in some later result's ``completed`` (from any entry point or from ``expire``).  Every parked
  request is completed exactly once; a removed member's with UNKNOWN_MEMBER_ID, a fenced static
  member's with FENCED_INSTANCE_ID, a superseded duplicate's with REBALANCE_IN_PROGRESS, on
  unload with NOT_COORDINATOR.
- ``records``: ``__consumer_offsets`` records (partition, key bytes, value bytes or None for a
  tombstone) the shell must append, in order, and see committed (acks=all within the cluster)
  *before* sending ``response`` or any ``completed`` response.  The state has already changed; if
  the append fails the shell calls :meth:`GroupCoordinator.unload_partition` for that partition and
  answers NOT_COORDINATOR (the partition's next leader, or this broker reloading it, replays the
  log, which is then the truth).

``heartbeat`` returns an ErrorCode; ``fetch_offsets``, ``list_groups`` and ``describe_groups``
return plain values; none of them parks or writes.

**Timers, the purgatory contract.**  Nothing here sleeps or reads a clock.  Rebalance timeouts
(DelayedJoin, and InitialDelayedJoin for ``group.initial.rebalance.delay.ms``, KIP-134), the
sync timeout (members that do not SyncGroup within the rebalance timeout are removed) and
session timeouts (one heartbeat timer per member and per pending member id) are delayed
operations in an internal :class:`~broker.core.purgatory.Purgatory`, keyed ``("join", group)``,
``("sync", group)`` and ``("heartbeat", group, member)``.  A request that may satisfy one (a
member rejoining, a SyncGroup, a heartbeat replacing the previous timer) calls
``check_and_complete`` on its key, as Kafka's ``tryCompleteElseWatch``/``checkAndComplete``.  The
shell sleeps until :meth:`GroupCoordinator.next_deadline_ms` and calls
:meth:`GroupCoordinator.expire` with the time, which also runs the offsets retention check every
``offsets.retention.check.interval.ms``.

**Clocks.**  ``now_ms`` is monotonic and drives every timeout.  Timestamps written to records
(commit timestamps, the group's state timestamp, which offsets retention compares after a
restart) are wall clock: ``now_ms + wall_clock_offset_ms`` from the configuration.

**Member ids** are ``client_id + "-" + suffix`` with the suffix from the injected
``member_id_suffix`` source (the shell passes ``lambda: str(uuid.uuid4())``, as Kafka; tests a
counter), re-drawn if it collides within the group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from broker.core import consumer_group_records, group_offsets
from broker.core.consumer_membership import consumer_members
from broker.core.group_metadata import (
    Group,
    GroupState,
    TopicPartition,
)
from broker.core.group_offsets import (
    NO_RETENTION,
    DescribedGroup,
    FetchedOffset,
    ListedGroup,
    OffsetCommitData,
)
from broker.core.group_records import (
    GroupMetadataKey,
    OffsetCommitKey,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    encode_group_metadata_key,
    partition_for,
)
from broker.core.group_timers import Timer
from broker.core.group_types import (
    MAX_EXPIRE_ROUNDS,
    MAX_GROUP_SIZE,
    MAX_GROUPS,
    MAX_MEMBER_ID_ATTEMPTS,
    MEMBER_ID_REQUIRED_VERSION,
    NEW_MEMBER_JOIN_TIMEOUT_MS,
    NO_GENERATION,
    UNKNOWN_MEMBER_ID,
    CoordinatorResult,
    GroupCoordinatorConfig,
    JoinGroupMember,
    JoinGroupResponse,
    LeaveGroupResponse,
    LeaveMemberResponse,
    OffsetsRecord,
    ParkedRequest,
    SyncGroupResponse,
)
from broker.core.share_membership import SHARE_PROTOCOL_TYPE, ShareMembership
from client.protocol.errors import ErrorCode

__all__ = [
    "MAX_EXPIRE_ROUNDS",
    "MAX_GROUPS",
    "MAX_GROUP_SIZE",
    "MAX_MEMBER_ID_ATTEMPTS",
    "MEMBER_ID_REQUIRED_VERSION",
    "NEW_MEMBER_JOIN_TIMEOUT_MS",
    "NO_GENERATION",
    "UNKNOWN_MEMBER_ID",
    "CoordinatorResult",
    "DescribedGroup",
    "FetchedOffset",
    "GroupCoordinator",
    "GroupCoordinatorConfig",
    "JoinGroupMember",
    "JoinGroupResponse",
    "LeaveGroupResponse",
    "LeaveMemberResponse",
    "ListedGroup",
    "OffsetCommitData",
    "OffsetsRecord",
    "ParkedRequest",
    "SyncGroupResponse",
    "partition_for",
]

_S = GroupState


class GroupCoordinator(ShareMembership):
    """Every group hosted by this broker (classic, KIP-848 consumer groups from
    :class:`~broker.core.consumer_membership.ConsumerMembership`, KIP-932 share groups from
    :class:`~broker.core.share_membership.ShareMembership`); see the module docstring for
    the contract."""

    def __init__(
        self,
        config: GroupCoordinatorConfig | None = None,
        member_id_suffix: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(config, member_id_suffix)
        self._next_cleanup_ms: int | None = None

    # ----------------------------------------------------------------- read-only views

    @property
    def groups(self) -> Mapping[str, Group]:
        """The hosted groups (for tests and metrics; mutate only through the entry points)."""
        return self._groups

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.config.offsets_topic_num_partitions)

    def next_deadline_ms(self) -> int | None:
        """When :meth:`expire` next has work: a timer's deadline or the retention check."""
        deadlines = [
            d
            for d in (
                self._timers.next_deadline_ms(),
                self._next_cleanup_ms,
                self.share_next_deadline_ms(),
            )
            if d is not None
        ]
        return min(deadlines, default=None)

    # ----------------------------------------------------------------- offsets

    def commit(
        self,
        *,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: Mapping[TopicPartition, OffsetCommitData],
        now_ms: int,
        retention_time_ms: int = NO_RETENTION,
    ) -> CoordinatorResult[dict[TopicPartition, ErrorCode]]:
        """OffsetCommit of ``{(topic, partition): (offset, leader_epoch, metadata)}``.

        Generation -1 with an empty member id commits for a group with no members ("simple"
        consumers, creating the group); otherwise the member and generation must be current.
        """
        self._begin(now_ms)
        error = self._commit_error(group_id, generation_id, member_id, group_instance_id, now_ms)
        if error is not ErrorCode.NONE:
            return self._result({tp: error for tp in offsets})
        group = self._groups[group_id]
        errors, records = group_offsets.store_offsets(
            group,
            offsets,
            self._wall(now_ms),
            retention_time_ms,
            self.config.offset_metadata_max_bytes,
        )
        for key, value in records:
            self._out.records.append(OffsetsRecord(group.partition, key, value))
        return self._result(errors)

    def txn_commit(
        self,
        *,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: Mapping[TopicPartition, OffsetCommitData],
        now_ms: int,
    ) -> CoordinatorResult[dict[TopicPartition, ErrorCode]]:
        """TxnOffsetCommit: the offsets are written in the producer's transaction and stay
        pending until its marker on the group's partition (:meth:`complete_txn`).  As Kafka,
        the group is created when unknown, and the member and generation are checked only
        when given (v3+)."""
        self._begin(now_ms)
        group = self._groups.get(group_id)
        error = ErrorCode.NONE
        if group is None:
            if len(self._groups) >= self.config.max_groups:
                error = ErrorCode.COORDINATOR_NOT_AVAILABLE
            else:
                group = self._create_group(group_id)
        elif consumer_members(group):
            if member_id or generation_id >= 0:
                error = _consumer_commit_error(group, generation_id, member_id)
        elif group.is_static_member_fenced(member_id, group_instance_id):
            error = ErrorCode.FENCED_INSTANCE_ID
        elif member_id and member_id not in group.members:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif generation_id >= 0 and generation_id != group.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        if error is not ErrorCode.NONE or group is None:
            return self._result({tp: error for tp in offsets})
        errors, records = group_offsets.store_offsets(
            group,
            offsets,
            self._wall(now_ms),
            NO_RETENTION,
            self.config.offset_metadata_max_bytes,
            txn_producer_id=producer_id,
        )
        for key, value in records:
            self._out.records.append(
                OffsetsRecord(group.partition, key, value, producer_id, producer_epoch)
            )
        return self._result(errors)

    def complete_txn(self, partition: int, producer_id: int, commit: bool) -> None:
        """A marker of ``producer_id`` on the ``__consumer_offsets`` partition (written, or
        replayed): its pending offsets become the committed ones, or are dropped."""
        for group in self._groups.values():
            if group.partition != partition:
                continue
            pending = group.pending_txn_offsets.pop(producer_id, None)
            if pending and commit:
                group.offsets.update(pending)

    def has_pending_offsets(self, group_id: str, tp: TopicPartition) -> bool:
        """Whether an open transaction holds an offset of ``tp`` (OffsetFetch with
        require_stable answers UNSTABLE_OFFSET_COMMIT then, KIP-447)."""
        group = self._groups.get(group_id)
        return group is not None and any(
            tp in pending for pending in group.pending_txn_offsets.values()
        )

    def _commit_error(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        now_ms: int,
    ) -> ErrorCode:
        group = self._groups.get(group_id)
        if group is not None and consumer_members(group):
            return _consumer_commit_error(group, generation_id, member_id)
        if group is None:
            if generation_id >= 0:
                return ErrorCode.ILLEGAL_GENERATION  # a generation of a group we do not have
            if len(self._groups) >= self.config.max_groups:
                return ErrorCode.COORDINATOR_NOT_AVAILABLE
            self._create_group(group_id)
            return ErrorCode.NONE
        if group.is_static_member_fenced(member_id, group_instance_id):
            return ErrorCode.FENCED_INSTANCE_ID
        if generation_id < 0 and group.is_(_S.EMPTY):
            return ErrorCode.NONE
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.is_(_S.COMPLETING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        # Stable, or PreparingRebalance: the heartbeat will tell it to rejoin.  Counts as one.
        self._schedule_member_heartbeat(group, member, now_ms + member.session_timeout_ms)
        return ErrorCode.NONE

    def offset_fetch_error(
        self, group_id: str, member_id: str | None, member_epoch: int
    ) -> ErrorCode:
        """OffsetFetch v9 of a consumer group with members (Kafka's ``validateOffsetFetch``):
        without a member id and epoch (an admin) anyone may read; a member must be known and
        at its epoch.  Classic groups are not checked."""
        group = self._groups.get(group_id)
        if group is None or not consumer_members(group):
            return ErrorCode.NONE
        if member_id is None and member_epoch < 0:
            return ErrorCode.NONE
        return _consumer_commit_error(group, member_epoch, member_id or "")

    def fetch_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition] | None
    ) -> dict[TopicPartition, FetchedOffset]:
        """OffsetFetch; ``partitions`` None (v2+ null topics) means every committed one."""
        return group_offsets.fetch_offsets(self._groups.get(group_id), partitions)

    def cleanup(self, now_ms: int) -> CoordinatorResult[None]:
        """The offsets retention check (Kafka's ``cleanupGroupMetadata``); :meth:`expire` runs
        it every ``offsets.retention.check.interval.ms``."""
        self._begin(now_ms)
        self._cleanup(now_ms)
        return self._result(None)

    def _cleanup(self, now_ms: int) -> None:
        retention_ms = self.config.offsets_retention_minutes * 60_000
        wall_ms = self._wall(now_ms)
        for group in list(self._groups.values()):
            for tp in group_offsets.expired_offsets(group, wall_ms, retention_ms):
                del group.offsets[tp]
                key = group_offsets.offset_tombstone_key(group.group_id, tp)
                self._out.records.append(OffsetsRecord(group.partition, key, None))
            if (
                group.is_(_S.EMPTY)
                and not group.offsets
                and not group.pending_members
                and not consumer_members(group)
            ):
                self._remove_group(group, now_ms)

    # ----------------------------------------------------------------- admin

    def list_groups(
        self, states_filter: Iterable[str] = (), types_filter: Iterable[str] = ()
    ) -> list[ListedGroup]:
        """ListGroups; the v4 states filter (KIP-518) and the v5 types filter (KIP-848:
        ``classic`` / ``consumer``) match case-insensitively."""
        wanted = {state.lower() for state in states_filter}
        types = {kind.lower() for kind in types_filter}
        listed = [group_offsets.listed_group(group) for group in self._groups.values()]
        listed += [
            ListedGroup(group_id, SHARE_PROTOCOL_TYPE, group.state, SHARE_PROTOCOL_TYPE)
            for group_id, group in self._share_groups.items()
        ]
        return [
            group
            for group in listed
            if (not wanted or group.group_state.lower() in wanted)
            and (not types or group.group_type in types)
        ]

    def describe_groups(self, group_ids: Iterable[str]) -> list[DescribedGroup]:
        return [group_offsets.described_group(gid, self._groups.get(gid)) for gid in group_ids]

    def delete_groups(
        self, group_ids: Iterable[str], now_ms: int
    ) -> CoordinatorResult[dict[str, ErrorCode]]:
        """DeleteGroups: only an Empty group goes (its offsets and metadata get tombstones)."""
        self._begin(now_ms)
        errors: dict[str, ErrorCode] = {}
        for group_id in group_ids:
            group = self._groups.get(group_id)
            if group is None:
                errors[group_id] = self.delete_share_group(group_id)
            elif not group.is_(_S.EMPTY) or consumer_members(group):
                errors[group_id] = ErrorCode.NON_EMPTY_GROUP
            else:
                self._remove_group(group, now_ms)
                errors[group_id] = ErrorCode.NONE
        return self._result(errors)

    def delete_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition], now_ms: int
    ) -> CoordinatorResult[tuple[ErrorCode, dict[TopicPartition, ErrorCode]]]:
        """OffsetDelete: the group's error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or NONE) and
        each partition's (:func:`~broker.core.group_offsets.delete_offsets`); each deleted
        offset gets a tombstone."""
        self._begin(now_ms)
        group = self._groups.get(group_id)
        if group is None or group.is_(_S.DEAD):
            return self._result((ErrorCode.GROUP_ID_NOT_FOUND, {}))
        error, errors, deleted = group_offsets.delete_offsets(group, partitions)
        for tp in deleted:
            key = group_offsets.offset_tombstone_key(group_id, tp)
            self._out.records.append(OffsetsRecord(group.partition, key, None))
        return self._result((error, errors))

    def _remove_group(self, group: Group, now_ms: int) -> None:
        """Empty to Dead: tombstones for what the log holds of it, then forget it."""
        assert group.is_(_S.EMPTY) and not group.members and not consumer_members(group)
        for tp in list(group.offsets):
            key = group_offsets.offset_tombstone_key(group.group_id, tp)
            self._out.records.append(OffsetsRecord(group.partition, key, None))
        if group.has_metadata_record or group.generation_id > 0:
            key = encode_group_metadata_key(GroupMetadataKey(group.group_id))
            self._out.records.append(OffsetsRecord(group.partition, key, None))
        self._consumer_tombstones(group)
        self._drop_group(group, ErrorCode.COORDINATOR_NOT_AVAILABLE, now_ms)

    # ----------------------------------------------------------------- loading and timers

    def replay(self, key: bytes, value: bytes | None, txn_producer_id: int = -1) -> None:
        """Apply one ``__consumer_offsets`` record (loading a partition, in log order); raises
        :class:`~broker.core.group_records.CorruptRecordError` for a record that does not decode.
        ``txn_producer_id``: the record is in that producer's transaction (a TxnOffsetCommit),
        pending until :meth:`complete_txn` replays its marker."""
        kind = consumer_group_records.record_type(key)
        if kind is not None:
            group_id = consumer_group_records.decode_key(key).group_id
            group = self._groups.get(group_id) or self._create_loaded_group(group_id)
            self._replay_consumer_record(group, key, value)
            if group.consumer is None and not (
                group.offsets or group.has_metadata_record or group.members
            ):
                del self._groups[group_id]
            return
        decoded = decode_key(key)
        if isinstance(decoded, OffsetCommitKey) and txn_producer_id >= 0:
            if value is not None:
                group = self._groups.get(decoded.group) or self._create_loaded_group(decoded.group)
                pending = group.pending_txn_offsets.setdefault(txn_producer_id, {})
                pending[(decoded.topic, decoded.partition)] = decode_offset_commit_value(value)
        elif isinstance(decoded, OffsetCommitKey):
            self._replay_offset(decoded, value)
        elif isinstance(decoded, GroupMetadataKey):
            self._replay_group(decoded.group, value)

    def _replay_offset(self, key: OffsetCommitKey, value: bytes | None) -> None:
        group = self._groups.get(key.group)
        if value is None:
            if group is not None:
                group.offsets.pop((key.topic, key.partition), None)
                consumer = group.consumer
                in_use = consumer is not None and bool(consumer.written)
                if not (group.offsets or group.has_metadata_record or group.members or in_use):
                    del self._groups[key.group]
            return
        offset = decode_offset_commit_value(value)
        if group is None:
            group = self._create_loaded_group(key.group)
        group.offsets[(key.topic, key.partition)] = offset

    def _replay_group(self, group_id: str, value: bytes | None) -> None:
        group = self._groups.get(group_id)
        if value is None:
            if group is not None:
                del self._groups[group_id]
                if group.offsets or group.consumer is not None:
                    # Offsets (and a KIP-848 membership) outlive the classic metadata.
                    kept = self._create_loaded_group(group_id)
                    kept.offsets.update(group.offsets)
                    kept.consumer = group.consumer
            return
        metadata = decode_group_metadata_value(value)
        if group is None:
            group = self._create_loaded_group(group_id)
        group.load(metadata)

    def _create_loaded_group(self, group_id: str) -> Group:
        # Loading is bounded by the log, not by max_groups: refusing a record would lose state.
        group = Group(group_id, self.partition_for(group_id))
        self._groups[group_id] = group
        return group

    def load_complete(self, partition: int, now_ms: int) -> None:
        """The partition's records are replayed: start every loaded member's session timer."""
        self._begin(now_ms)
        for group in self._groups.values():
            if group.partition == partition:
                for member in group.members.values():
                    deadline_ms = now_ms + member.session_timeout_ms
                    self._schedule_member_heartbeat(group, member, deadline_ms)
                self._start_loaded_consumer_timers(group, now_ms)
        self._result(None)

    def unload_partition(self, partition: int, now_ms: int) -> CoordinatorResult[None]:
        """Leadership of the partition moved: forget its groups, parked requests get
        NOT_COORDINATOR (the clients find the new coordinator)."""
        self._begin(now_ms)
        for group in [g for g in self._groups.values() if g.partition == partition]:
            self._drop_group(group, ErrorCode.NOT_COORDINATOR, now_ms)
        self.unload_share_groups(partition)
        return self._result(None)

    def expire(self, now_ms: int) -> CoordinatorResult[None]:
        """Fire every timer due at ``now_ms`` and, when due, the offsets retention check."""
        self._begin(now_ms)
        for _ in range(MAX_EXPIRE_ROUNDS):
            expired = self._timers.expire(now_ms)
            if not expired:
                break
            for timer in expired:
                assert isinstance(timer, Timer)
                self._dispatch(timer, now_ms)
                if not timer.cancelled and self._groups.get(timer.group.group_id) is timer.group:
                    self._on_consumer_timer(timer)
        self.expire_share_sessions(now_ms)
        if self._next_cleanup_ms is not None and now_ms >= self._next_cleanup_ms:
            self._cleanup(now_ms)
            self._next_cleanup_ms = now_ms + self.config.offsets_retention_check_interval_ms
        return self._result(None)

    def _begin(self, now_ms: int) -> None:
        super()._begin(now_ms)
        if self._next_cleanup_ms is None:
            self._next_cleanup_ms = now_ms + self.config.offsets_retention_check_interval_ms


def _consumer_commit_error(group: Group, member_epoch: int, member_id: str) -> ErrorCode:
    """An OffsetCommit for a consumer group with members: the member must be known and at
    its current epoch (STALE_MEMBER_EPOCH otherwise; Kafka's ``validateOffsetCommit``)."""
    consumer = group.consumer
    assert consumer is not None
    member = consumer.members.get(member_id)
    if member is None:
        return ErrorCode.UNKNOWN_MEMBER_ID
    if member_epoch != member.member_epoch:
        return ErrorCode.STALE_MEMBER_EPOCH
    return ErrorCode.NONE
