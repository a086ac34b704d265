"""The purgatory's contract: complete exactly once, by condition or by deadline."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from broker.core.purgatory import Purgatory


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
