"""The group coordinator's internal delayed operations and bookkeeping types.

Timers follow :class:`~broker.core.purgatory.DelayedOperation`: each is watched under its one
``key``; ``try_complete`` is its condition (a cancelled timer is always done, so replacing or
dropping one is ``cancelled = True`` plus ``check_and_complete(key)``); ``on_complete`` does
nothing because the coordinator acts on the operations the purgatory hands back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from broker.core.group_metadata import Group, Protocols
from broker.core.group_types import OffsetsRecord, ParkedRequest


@dataclass(frozen=True, slots=True)
class JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    version: int


@dataclass(eq=False, slots=True)
class Timer:
    """A delayed operation of the internal purgatory; the coordinator acts on what it returns."""

    deadline_ms: int
    group: Group
    completed: bool = False
    cancelled: bool = False

    @property
    def key(self) -> Hashable:
        """The one key the timer is watched under."""
        raise NotImplementedError

    def try_complete(self, key: Hashable) -> bool:
        return self.cancelled

    def on_complete(self) -> None:
        """Nothing: the coordinator dispatches the operations the purgatory hands back."""


@dataclass(eq=False, slots=True)
class JoinTimer(Timer):
    """DelayedJoin; with ``delay_ms`` > 0 an InitialDelayedJoin (completes only by expiry)."""

    delay_ms: int = 0
    remaining_ms: int = 0

    @property
    def key(self) -> Hashable:
        return ("join", self.group.group_id)

    def try_complete(self, key: Hashable) -> bool:
        return self.cancelled or (not self.delay_ms and self.group.has_all_members_joined())


@dataclass(eq=False, slots=True)
class SyncTimer(Timer):
    generation_id: int = 0

    @property
    def key(self) -> Hashable:
        return ("sync", self.group.group_id)

    def try_complete(self, key: Hashable) -> bool:
        group = self.group
        return (
            self.cancelled
            or group.generation_id != self.generation_id
            or not group.pending_sync_members
        )


@dataclass(eq=False, slots=True)
class HeartbeatTimer(Timer):
    member_id: str = ""  # as it was when scheduled (a static member's id can change)

    @property
    def key(self) -> Hashable:
        return ("heartbeat", self.group.group_id, self.member_id)


def counter_suffixes() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: str(next(counter))


@dataclass(slots=True)
class Output:
    """What the current entry point has produced so far."""

    completed: list[ParkedRequest] = field(default_factory=list)
    records: list[OffsetsRecord] = field(default_factory=list)
