"""Share sessions (KIP-932), sans-IO: which partitions a share group member fetches from this
broker, and the epoch its next ShareFetch / ShareAcknowledge must carry.

A session is keyed by (group id, member id) on each broker, as Kafka's ShareSessionCache:

- ShareFetch at epoch 0 opens a session (replacing the member's old one) from the request's
  partitions; acknowledgements there are an INVALID_REQUEST.  The session's epoch is then 1.
- Later requests carry the session's epoch (else INVALID_SHARE_SESSION_EPOCH; no session:
  SHARE_SESSION_NOT_FOUND); their topics are *additions*, ``forgotten_topics_data`` the
  removals, and the epoch moves on by one (from INT32_MAX to 1).  A fetch serves every
  partition of the session.
- Epoch -1 closes the session after its acknowledgements (the shell then releases what the
  member holds).  ShareAcknowledge at epoch 0 is INVALID_SHARE_SESSION_EPOCH.
- At most ``group.share.max.share.sessions`` sessions (SHARE_SESSION_LIMIT_REACHED).

The connection that opened a session owns it; the shell drops it (and releases the member's
records) when that connection closes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from client.protocol.errors import ErrorCode

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
MAX_EPOCH = 2**31 - 1
# A partition of a session: (topic id, partition index).
SessionPartition = tuple[Hashable, int]


def next_epoch(epoch: int) -> int:
    return 1 if epoch >= MAX_EPOCH else epoch + 1


class RequestKind(Enum):
    FETCH = "fetch"
    ACKNOWLEDGE = "acknowledge"


@dataclass(slots=True)
class ShareSession:
    group_id: str
    member_id: str
    epoch: int
    partitions: dict[SessionPartition, None] = field(default_factory=dict)  # ordered set
    owner: Hashable = None


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """The top-level error, or the session to serve (None when it was just closed)."""

    error: ErrorCode
    session: ShareSession | None = None
    closed: bool = False


class ShareSessionCache:
    def __init__(self, max_sessions: int = 2000) -> None:
        self.max_sessions = max_sessions
        self.sessions: dict[tuple[str, str], ShareSession] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    def update(
        self,
        kind: RequestKind,
        group_id: str,
        member_id: str,
        epoch: int,
        added: Iterable[SessionPartition],
        *,
        forgotten: Iterable[SessionPartition] = (),
        has_acknowledgements: bool = False,
        owner: Hashable = None,
    ) -> SessionOutcome:
        """Apply one request's session fields (see the module docstring)."""
        key = (group_id, member_id)
        current = self.sessions.get(key)
        if epoch == INITIAL_EPOCH:
            if kind is RequestKind.ACKNOWLEDGE:
                return SessionOutcome(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
            if has_acknowledgements:
                return SessionOutcome(ErrorCode.INVALID_REQUEST)
            if current is None and len(self.sessions) >= self.max_sessions:
                return SessionOutcome(ErrorCode.SHARE_SESSION_LIMIT_REACHED)
            session = ShareSession(group_id, member_id, next_epoch(INITIAL_EPOCH), owner=owner)
            session.partitions = dict.fromkeys(added)
            self.sessions[key] = session
            return SessionOutcome(ErrorCode.NONE, session)
        if current is None:
            return SessionOutcome(ErrorCode.SHARE_SESSION_NOT_FOUND)
        if epoch == FINAL_EPOCH:
            del self.sessions[key]
            return SessionOutcome(ErrorCode.NONE, current, closed=True)
        if epoch != current.epoch:
            return SessionOutcome(ErrorCode.INVALID_SHARE_SESSION_EPOCH)
        for partition in added:
            current.partitions.setdefault(partition)
        for partition in forgotten:
            current.partitions.pop(partition, None)
        current.epoch = next_epoch(current.epoch)
        return SessionOutcome(ErrorCode.NONE, current)

    def drop_owned_by(self, owner: Hashable) -> list[ShareSession]:
        """A connection closed: its sessions end (the caller releases their records)."""
        gone = [s for s in self.sessions.values() if s.owner == owner]
        for session in gone:
            del self.sessions[(session.group_id, session.member_id)]
        return gone
