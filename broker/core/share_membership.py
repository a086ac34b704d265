"""KIP-932 share groups in the group coordinator, sans-IO: ShareGroupHeartbeat,
ShareGroupDescribe, session expiry, and one protocol per group id.

A share group's members and assignment live in :class:`~broker.core.share_group.ShareGroup`;
this layer finds the group, applies the group's own configs (``share.session.timeout.ms``,
``share.heartbeat.interval.ms``, else the broker's ``group.share.*``), keeps the group ids
apart from classic and KIP-848 consumer groups (a ShareGroupHeartbeat for one of those gets
GROUP_ID_NOT_FOUND, "not a share group"; a JoinGroup or ConsumerGroupHeartbeat for a share
group gets INCONSISTENT_GROUP_PROTOCOL / GROUP_ID_NOT_FOUND from the layers below), and
fences members whose session ran out (:meth:`ShareMembership.expire_share_sessions`).

Membership is not written to ``__consumer_offsets``: a share group's members hold no
offsets (delivery state lives with the partition leaders), so a coordinator that moves
simply answers UNKNOWN_MEMBER_ID and the members rejoin, keeping their ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from broker.core.consumer_group import TopicsView
from broker.core.consumer_membership import ConsumerMembership
from broker.core.group_records import partition_for
from broker.core.group_types import GroupCoordinatorConfig
from broker.core.share_group import (
    MemberAssignment,
    ShareGroup,
    ShareGroupSettings,
    ShareHeartbeat,
    ShareMember,
)
from client.protocol.errors import ErrorCode

SHARE_PROTOCOL_TYPE = "share"
SHARE_ASSIGNOR = "simple"
# topic id -> partitions, what the wire carries
TopicIdAssignment = dict[uuid.UUID, frozenset[int]]


@dataclass(frozen=True, slots=True)
class ShareHeartbeatResponse:
    error_code: ErrorCode
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: TopicIdAssignment | None = None


@dataclass(frozen=True, slots=True)
class DescribedShareMember:
    member: ShareMember
    assignment: TopicIdAssignment


@dataclass(frozen=True, slots=True)
class DescribedShareGroup:
    group_id: str
    error_code: ErrorCode
    error_message: str | None = None
    group_state: str = "Dead"
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: tuple[DescribedShareMember, ...] = ()


def _by_topic_id(assignment: MemberAssignment, topics: TopicsView) -> TopicIdAssignment:
    return {topics[name][0]: parts for name, parts in assignment.items() if name in topics}


class ShareMembership(ConsumerMembership):
    """Share group entry points; the consumer and classic ones are in the base classes."""

    def __init__(
        self,
        config: GroupCoordinatorConfig | None = None,
        member_id_suffix: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(config, member_id_suffix)
        self._share_groups: dict[str, ShareGroup] = {}

    @property
    def share_groups(self) -> Mapping[str, ShareGroup]:
        return self._share_groups

    def _is_share_group(self, group_id: str) -> bool:
        return group_id in self._share_groups

    def _share_settings(self, group_id: str) -> ShareGroupSettings:
        own = self.group_configs(group_id)
        config = self.config
        session = own.get("share.session.timeout.ms")
        heartbeat = own.get("share.heartbeat.interval.ms")
        return ShareGroupSettings(
            session_timeout_ms=(
                config.group_share_session_timeout_ms if session is None else int(session)
            ),
            heartbeat_interval_ms=(
                config.group_share_heartbeat_interval_ms if heartbeat is None else int(heartbeat)
            ),
            max_size=config.group_share_max_size,
        )

    def share_heartbeat(
        self, group_id: str, request: ShareHeartbeat, topics: TopicsView, now_ms: int
    ) -> ShareHeartbeatResponse:
        """ShareGroupHeartbeat; ``topics`` is the cluster's topics (name -> id, count)."""
        if not group_id:
            return ShareHeartbeatResponse(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if group_id in self._groups:
            message = f"Group {group_id} is not a share group."
            return ShareHeartbeatResponse(ErrorCode.GROUP_ID_NOT_FOUND, message)
        settings = self._share_settings(group_id)
        group = self._share_groups.get(group_id)
        if group is None:
            if request.member_epoch != 0:
                # A leave or heartbeat for a group this coordinator does not know (it moved
                # here, or the group is gone): the member rejoins.
                error = ErrorCode.UNKNOWN_MEMBER_ID
                if request.member_epoch < -1 or not request.member_id:
                    error = ErrorCode.INVALID_REQUEST
                return ShareHeartbeatResponse(error)
            group = ShareGroup(group_id, settings)
        group.settings = settings
        counts = {name: count for name, (_, count) in topics.items()}
        result = group.heartbeat(request, counts, now_ms)
        if group.members or group.group_epoch:
            self._share_groups[group_id] = group
        if result.error_code is not ErrorCode.NONE:
            return ShareHeartbeatResponse(result.error_code, result.error_message)
        return ShareHeartbeatResponse(
            ErrorCode.NONE,
            None,
            result.member_id,
            result.member_epoch,
            settings.heartbeat_interval_ms,
            None if result.assignment is None else _by_topic_id(result.assignment, topics),
        )

    def share_next_deadline_ms(self) -> int | None:
        deadlines = [
            member.session_deadline_ms
            for group in self.share_groups.values()
            for member in group.members.values()
        ]
        return min(deadlines, default=None)

    def expire_share_sessions(self, now_ms: int) -> list[tuple[str, str]]:
        """Fence every member whose session timed out; (group id, member id) of each."""
        expired = []
        for group in self.share_groups.values():
            expired += [(group.group_id, member) for member in group.expire_sessions(now_ms)]
        return expired

    def unload_share_groups(self, partition: int) -> None:
        """Leadership of the ``__consumer_offsets`` partition moved: its share groups go
        (their members rejoin at the new coordinator)."""
        count = self.config.offsets_topic_num_partitions
        for group_id in [g for g in self._share_groups if partition_for(g, count) == partition]:
            del self._share_groups[group_id]

    def delete_share_group(self, group_id: str) -> ErrorCode:
        """DeleteGroups of a share group: only an empty one goes."""
        group = self._share_groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        del self._share_groups[group_id]
        return ErrorCode.NONE

    def describe_share_groups(
        self, group_ids: Iterable[str], topics: TopicsView
    ) -> list[DescribedShareGroup]:
        described = []
        for group_id in group_ids:
            group = self.share_groups.get(group_id)
            if group is None:
                kind = "is not a share group" if group_id in self._groups else "not found"
                described.append(
                    DescribedShareGroup(
                        group_id, ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} {kind}."
                    )
                )
                continue
            members = tuple(
                DescribedShareMember(member, _by_topic_id(member.assignment, topics))
                for member in group.members.values()
            )
            described.append(
                DescribedShareGroup(
                    group_id,
                    ErrorCode.NONE,
                    None,
                    group.state,
                    group.group_epoch,
                    group.assignment_epoch,
                    members,
                )
            )
        return described
