"""The group coordinator's public types: configuration, responses, parked requests, records.

See ``group_coordinator`` for how the shell uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from client.protocol.errors import ErrorCode

UNKNOWN_MEMBER_ID = ""
NO_GENERATION = -1
# JoinGroup v4+ first joins without a member id get MEMBER_ID_REQUIRED (KIP-394).
MEMBER_ID_REQUIRED_VERSION = 4
# Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: how long a new member's parked JoinGroup
# may wait before the member is dropped (it cannot heartbeat without an id).
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000
# Kafka has no bound on groups and a group.max.size of Integer.MAX_VALUE; we bound both so
# a flood of group or member ids cannot exhaust memory.
MAX_GROUPS = 100_000
MAX_GROUP_SIZE = 10_000
MAX_MEMBER_ID_ATTEMPTS = 10
# Timers a single expire() may fire in rounds (a zero timeout can schedule another one due now).
MAX_EXPIRE_ROUNDS = 100

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class GroupCoordinatorConfig:
    """Kafka's broker keys (attribute = key with ``.`` -> ``_``) and defaults, plus our bounds."""

    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    group_initial_rebalance_delay_ms: int = 3000
    group_max_size: int = MAX_GROUP_SIZE
    offsets_topic_num_partitions: int = 50
    offsets_retention_minutes: int = 10080
    offsets_retention_check_interval_ms: int = 600_000
    offset_metadata_max_bytes: int = 4096
    max_groups: int = MAX_GROUPS
    wall_clock_offset_ms: int = 0
    # KIP-848 consumer groups.
    group_consumer_session_timeout_ms: int = 45_000
    group_consumer_heartbeat_interval_ms: int = 5_000
    group_consumer_assignors: tuple[str, ...] = ("uniform", "range")
    group_consumer_max_size: int = MAX_GROUP_SIZE
    # KIP-932 share groups.
    group_share_session_timeout_ms: int = 45_000
    group_share_heartbeat_interval_ms: int = 5_000
    group_share_max_size: int = 200

    def __post_init__(self) -> None:
        assert 0 < self.group_min_session_timeout_ms <= self.group_max_session_timeout_ms
        assert self.group_initial_rebalance_delay_ms >= 0
        assert 1 <= self.group_max_size <= MAX_GROUP_SIZE and 1 <= self.max_groups <= MAX_GROUPS
        assert self.offsets_topic_num_partitions >= 1 and self.offsets_retention_minutes >= 1
        assert self.offsets_retention_check_interval_ms >= 1
        assert self.group_consumer_session_timeout_ms >= 1
        assert self.group_consumer_heartbeat_interval_ms >= 1
        assert self.group_consumer_assignors
        assert 1 <= self.group_consumer_max_size <= MAX_GROUP_SIZE


@dataclass(frozen=True, slots=True)
class JoinGroupMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinGroupResponse:
    """JoinGroup's response fields; None protocol fields encode as null (v7+) or ""."""

    error_code: ErrorCode
    member_id: str
    generation_id: int = NO_GENERATION
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    members: tuple[JoinGroupMember, ...] = ()
    skip_assignment: bool = False


@dataclass(frozen=True, slots=True)
class SyncGroupResponse:
    error_code: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True, slots=True)
class LeaveMemberResponse:
    member_id: str
    group_instance_id: str | None
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class LeaveGroupResponse:
    """v3+ answers per member; v0-v2 put the single member's error in ``error_code``'s place."""

    error_code: ErrorCode
    members: tuple[LeaveMemberResponse, ...] = ()


@dataclass(eq=False, slots=True)
class ParkedRequest:
    """A JoinGroup or SyncGroup answered later; compare by identity (it is the handle)."""

    api: str  # "JoinGroup" or "SyncGroup"
    group_id: str
    member_id: str
    response: JoinGroupResponse | SyncGroupResponse | None = None


@dataclass(frozen=True, slots=True)
class OffsetsRecord:
    """One ``__consumer_offsets`` record; ``value`` None is a tombstone."""

    partition: int
    key: bytes
    value: bytes | None
    # A transactional offset commit's producer (its batch is transactional); -1: none.
    producer_id: int = -1
    producer_epoch: int = -1


@dataclass(frozen=True, slots=True)
class CoordinatorResult(Generic[R]):
    response: R | None
    parked: ParkedRequest | None = None
    completed: tuple[ParkedRequest, ...] = ()
    records: tuple[OffsetsRecord, ...] = ()
