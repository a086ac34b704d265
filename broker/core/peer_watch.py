"""What a broker has seen of its peers ahead of the controller's verdict, for Metadata answers.

Two observations, both kept with the time they were made (pure: the caller passes ``now_ms``):

- **Lost peers.**  A kill -9 closes a leader's end of every follower's replica-fetch connection
  at once; the controller's election reaches the followers ~10 ms later.  A Metadata answer in
  between would name the dead leader, and clients back off for up to a second before they ask
  again, so the broker holds such answers until the verdict (``BrokerServer.leaders_settled``).
  A loss counts for ``broker.session.timeout.ms``: by then the controller has fenced a dead
  peer anyway, so one still unfenced is alive.  Older losses are forgotten, whether or not
  the peer came back: a broker stops following a peer that leads nothing it replicates and so
  never reconnects to clear the entry, and a stale loss must not shorten the next wait.
- **Just-fenced peers.**  A Metadata answer that both moves a partition's leadership away
  from a dead broker and drops that broker from its broker list trips librdkafka (2.10+): it
  decommissions the missing broker's thread while the partition is still migrating off it,
  forgets the new leader ("Reverting from preferred replica N to leader -1") and parks the
  partition until its once-a-second leader scan, so producing resumes up to a second late.
  Listing a fenced broker for a short grace after its fencing lets the first answer move the
  partitions cleanly; a later answer drops the broker once nothing is delegated to it.  Its
  replicas are still reported in ``offline_replicas`` and it leads nothing, so no client is
  sent to it.
"""

from __future__ import annotations

# How long a just-fenced broker stays in Metadata broker lists (see the module docstring).
FENCED_LISTING_GRACE_MS = 1_000


class PeerWatch:
    """Lost replica-fetch peers and just-fenced brokers, each with when it was seen."""

    __slots__ = ("_fenced_at", "_lost_since", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._lost_since: dict[int, int] = {}
        self._fenced_at: dict[int, int] = {}

    # -- lost peers ---------------------------------------------------------------------

    def on_unreachable(self, broker_id: int, now_ms: int) -> None:
        """The connection to ``broker_id`` failed (or is not up yet); the first time counts."""
        self._lost_since.setdefault(broker_id, now_ms)

    def on_reachable(self, broker_id: int) -> bool:
        """Connected again; True if it had been counted as lost (waiters should look again)."""
        return self._lost_since.pop(broker_id, None) is not None

    def suspects(self, now_ms: int) -> dict[int, int]:
        """Peers lost less than ``window_ms`` ago, with when; older losses are forgotten."""
        for broker_id, since in list(self._lost_since.items()):
            if now_ms - since >= self.window_ms:
                del self._lost_since[broker_id]
        return dict(self._lost_since)

    def settle_wait_ms(self, suspects: dict[int, int], now_ms: int, longest_ms: int) -> int:
        """How long a Metadata answer may wait for the verdict on ``suspects``: until the
        oldest loss is ``window_ms`` old, at most ``longest_ms``."""
        if not suspects:
            return 0
        oldest = min(suspects.values())
        return min(longest_ms, max(oldest + self.window_ms - now_ms, 0))

    # -- just-fenced brokers ------------------------------------------------------------

    def on_fenced(self, broker_id: int, now_ms: int) -> None:
        self._fenced_at[broker_id] = now_ms

    def on_registered(self, broker_id: int) -> None:
        """A new registration (or an unfence): the old fencing no longer applies."""
        self._fenced_at.pop(broker_id, None)

    def listed_while_fenced(self, now_ms: int) -> set[int]:
        """Fenced brokers still within their listing grace."""
        for broker_id, at in list(self._fenced_at.items()):
            if now_ms - at >= FENCED_LISTING_GRACE_MS:
                del self._fenced_at[broker_id]
        return set(self._fenced_at)
