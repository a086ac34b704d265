"""PeerWatch: lost replica-fetch peers (Metadata answers wait for the controller's verdict on
them) and just-fenced brokers (still listed in Metadata for a grace)."""

from __future__ import annotations

from broker.core.peer_watch import FENCED_LISTING_GRACE_MS, PeerWatch

WINDOW_MS = 1_500
LONGEST_MS = 2_000


def test_a_loss_counts_from_the_first_report_for_the_session_window() -> None:
    watch = PeerWatch(WINDOW_MS)
    watch.on_unreachable(3, 100)
    watch.on_unreachable(3, 400)  # still the same loss
    assert watch.suspects(500) == {3: 100}
    assert watch.settle_wait_ms(watch.suspects(500), 500, LONGEST_MS) == 1_100
    assert watch.suspects(100 + WINDOW_MS) == {}


def test_an_old_loss_of_a_peer_no_longer_followed_does_not_cut_a_new_wait_short() -> None:
    """Regression: broker 2 was lost in one failover and never followed again (it led nothing
    here), so nothing cleared its entry; at the next kill, of broker 3, the wait was computed
    from broker 2's old loss, came out as 0, and Metadata named the dead leader."""
    watch = PeerWatch(WINDOW_MS)
    watch.on_unreachable(2, 0)
    watch.on_unreachable(3, 10_000)
    suspects = watch.suspects(10_005)
    assert suspects == {3: 10_000}
    assert watch.settle_wait_ms(suspects, 10_005, LONGEST_MS) == WINDOW_MS - 5
    # The forgotten loss starts afresh if the peer is lost again.
    watch.on_unreachable(2, 10_010)
    assert watch.suspects(10_010) == {3: 10_000, 2: 10_010}


def test_reconnecting_clears_a_loss_and_says_whether_there_was_one() -> None:
    watch = PeerWatch(WINDOW_MS)
    assert not watch.on_reachable(1)
    watch.on_unreachable(1, 0)
    assert watch.on_reachable(1)
    assert watch.suspects(1) == {}
    assert watch.settle_wait_ms({}, 1, LONGEST_MS) == 0


def test_the_wait_is_bounded_by_the_longest_allowed() -> None:
    watch = PeerWatch(60_000)
    watch.on_unreachable(1, 0)
    assert watch.settle_wait_ms(watch.suspects(10), 10, LONGEST_MS) == LONGEST_MS


def test_a_fenced_broker_stays_listed_for_the_grace_then_goes() -> None:
    watch = PeerWatch(WINDOW_MS)
    watch.on_fenced(3, 1_000)
    assert watch.listed_while_fenced(1_000) == {3}
    assert watch.listed_while_fenced(1_000 + FENCED_LISTING_GRACE_MS - 1) == {3}
    assert watch.listed_while_fenced(1_000 + FENCED_LISTING_GRACE_MS) == set()
    assert watch.listed_while_fenced(1_000) == set()  # forgotten, not just hidden


def test_a_new_registration_ends_the_grace_of_the_old_one() -> None:
    watch = PeerWatch(WINDOW_MS)
    watch.on_fenced(3, 0)
    watch.on_fenced(4, 0)
    watch.on_registered(3)
    assert watch.listed_while_fenced(1) == {4}
