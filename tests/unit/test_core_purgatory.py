"""The purgatory's contract: complete exactly once, by condition or by deadline."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from broker.core.purgatory import COMPACT_ABOVE, Purgatory


@dataclass
class Waiting:
    deadline_ms: int
    ready: bool = False
    completed: bool = False
    completions: list[str] = field(default_factory=list)

    def try_complete(self, key: Hashable) -> bool:
        return self.ready

    def on_complete(self) -> None:
        self.completions.append("done")


def test_check_and_complete_wakes_only_ready_watchers() -> None:
    purgatory = Purgatory()
    first, second = Waiting(100), Waiting(100)
    purgatory.watch(first, ["a", "b"])
    purgatory.watch(second, ["b"])
    assert len(purgatory) == 2
    assert purgatory.check_and_complete("a") == []
    first.ready = True
    assert purgatory.check_and_complete("b") == [first]
    assert first.completed and not second.completed
    # Already completed under another key: never returned twice.
    assert purgatory.check_and_complete("a") == []
    assert len(purgatory) == 1


def test_expire_completes_in_deadline_order_once() -> None:
    purgatory = Purgatory()
    late, early = Waiting(200), Waiting(50)
    purgatory.watch(late, ["k"])
    purgatory.watch(early, ["k"])
    assert purgatory.next_deadline_ms() == 50
    assert purgatory.expire(49) == []
    assert purgatory.expire(50) == [early]
    assert purgatory.next_deadline_ms() == 200
    late.ready = True
    assert purgatory.check_and_complete("k") == [late]
    assert purgatory.expire(10_000) == []
    assert purgatory.next_deadline_ms() is None
    assert len(purgatory) == 0


def test_unknown_key_is_a_no_op() -> None:
    assert Purgatory().check_and_complete(("t", 0)) == []


def test_completed_operations_do_not_pile_up_in_the_deadline_heap() -> None:
    """An acks=all load: most operations complete long before their deadline.  The heap keeps
    at most about twice the pending operations (plus COMPACT_ABOVE), and deadlines still
    expire the pending ones in order."""
    purgatory = Purgatory()
    pending: list[Waiting] = []
    total = 20 * COMPACT_ABOVE
    for number in range(total):
        operation = Waiting(30_000 + number)
        if number % 10:  # nine in ten complete at once
            purgatory.watch(operation, [("acks", number)])
            operation.ready = True
            assert purgatory.check_and_complete(("acks", number)) == [operation]
        else:
            purgatory.watch(operation, ["waiting"])
            pending.append(operation)
        assert purgatory.deadline_entries() <= 2 * len(purgatory) + COMPACT_ABOVE + 1
    assert len(purgatory) == len(pending) == total // 10
    assert purgatory.next_deadline_ms() == pending[0].deadline_ms
    assert purgatory.expire(30_000 + total) == pending  # deadline order, each once
    assert len(purgatory) == 0 and purgatory.next_deadline_ms() is None
