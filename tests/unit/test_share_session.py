"""KIP-932 share sessions: opening, epochs, additions and removals, closing, limits."""

from __future__ import annotations

from broker.core.share_session import (
    MAX_EPOCH,
    RequestKind,
    ShareSessionCache,
    next_epoch,
)
from client.protocol.errors import ErrorCode

FETCH, ACK = RequestKind.FETCH, RequestKind.ACKNOWLEDGE
P0, P1, P2 = ("t", 0), ("t", 1), ("u", 0)


def test_open_then_add_and_forget_with_rising_epochs() -> None:
    cache = ShareSessionCache()
    opened = cache.update(FETCH, "g", "m", 0, [P0, P1])
    assert opened.error is ErrorCode.NONE and opened.session is not None
    assert opened.session.epoch == 1 and list(opened.session.partitions) == [P0, P1]
    later = cache.update(FETCH, "g", "m", 1, [P2], forgotten=[P0], has_acknowledgements=True)
    assert later.session is not None
    assert list(later.session.partitions) == [P1, P2] and later.session.epoch == 2
    acked = cache.update(ACK, "g", "m", 2, [])
    assert acked.error is ErrorCode.NONE and acked.session is not None
    assert acked.session.epoch == 3


def test_epoch_errors() -> None:
    cache = ShareSessionCache()
    assert cache.update(FETCH, "g", "m", 3, []).error is ErrorCode.SHARE_SESSION_NOT_FOUND
    assert cache.update(ACK, "g", "m", 0, []).error is ErrorCode.INVALID_SHARE_SESSION_EPOCH
    cache.update(FETCH, "g", "m", 0, [P0])
    assert cache.update(FETCH, "g", "m", 5, []).error is ErrorCode.INVALID_SHARE_SESSION_EPOCH
    # The failed request did not move the epoch.
    assert cache.update(FETCH, "g", "m", 1, []).error is ErrorCode.NONE
    # Acknowledgements in an opening fetch are refused.
    opening = cache.update(FETCH, "g", "m", 0, [P0], has_acknowledgements=True)
    assert opening.error is ErrorCode.INVALID_REQUEST


def test_reopening_replaces_the_session_and_final_closes_it() -> None:
    cache = ShareSessionCache()
    cache.update(FETCH, "g", "m", 0, [P0])
    cache.update(FETCH, "g", "m", 1, [P1])
    again = cache.update(FETCH, "g", "m", 0, [P2])
    assert again.session is not None and list(again.session.partitions) == [P2]
    closed = cache.update(ACK, "g", "m", -1, [])
    assert closed.closed and closed.error is ErrorCode.NONE
    assert len(cache) == 0
    assert cache.update(ACK, "g", "m", -1, []).error is ErrorCode.SHARE_SESSION_NOT_FOUND


def test_the_session_limit_and_connection_loss() -> None:
    cache = ShareSessionCache(max_sessions=2)
    cache.update(FETCH, "g", "a", 0, [P0], owner="conn-1")
    cache.update(FETCH, "g", "b", 0, [P0], owner="conn-2")
    full = cache.update(FETCH, "g", "c", 0, [P0], owner="conn-3")
    assert full.error is ErrorCode.SHARE_SESSION_LIMIT_REACHED
    # An existing member may still reopen its own session.
    assert cache.update(FETCH, "g", "a", 0, [P1], owner="conn-1").error is ErrorCode.NONE
    gone = cache.drop_owned_by("conn-1")
    assert [s.member_id for s in gone] == ["a"] and len(cache) == 1


def test_epochs_wrap_to_one() -> None:
    assert next_epoch(MAX_EPOCH) == 1 and next_epoch(0) == 1 and next_epoch(41) == 42
