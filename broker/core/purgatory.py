"""The delayed-operation purgatory (Kafka's ``DelayedOperationPurgatory``), sans-IO.

An operation that cannot complete yet (a Fetch below ``fetch.min.bytes``, an ``acks=all``
Produce waiting for the ISR) is parked under one or more keys (partitions) with a deadline.
Whoever changes a key's state (an append, a follower fetch) calls
:meth:`Purgatory.check_and_complete`, which re-tries only the operations watching that key;
:meth:`Purgatory.expire` completes the ones whose deadline passed.  Each operation completes
exactly once: either because ``try_complete`` said so, or by expiry.  Nothing here reads a
clock: time is an argument.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Iterable
from typing import Protocol

MAX_WATCHED_OPERATIONS = 1_000_000
# Operations completed by their condition stay in the deadline heap until popped; once they
# outnumber the pending ones (and this many), the heap is rebuilt without them.  Without it an
# acks=all load keeps every answered produce (and what it references) alive until its
# request.timeout.ms passed: 30 s x 30,000 requests/s = 900,000 entries.
COMPACT_ABOVE = 1024


class DelayedOperation(Protocol):
    """What the purgatory needs of an operation."""

    deadline_ms: int
    completed: bool

    def try_complete(self, key: Hashable) -> bool:
        """Re-check the condition after ``key`` changed; True when the operation is done."""
        ...

    def on_complete(self) -> None:
        """Called by the shell exactly once, when the operation completed or expired."""
        ...


class Purgatory:
    """Operations parked by key and ordered by deadline."""

    def __init__(self) -> None:
        self._watchers: dict[Hashable, list[DelayedOperation]] = {}
        self._deadlines: list[tuple[int, int, DelayedOperation]] = []
        self._sequence = itertools.count()
        self._pending = 0

    def __len__(self) -> int:
        return self._pending

    def watch(self, operation: DelayedOperation, keys: Iterable[Hashable]) -> None:
        """Park ``operation`` (whose condition the caller has just found false) under ``keys``."""
        assert not operation.completed
        if self._pending >= MAX_WATCHED_OPERATIONS:
            raise OverflowError("purgatory is full")
        for key in keys:
            self._watchers.setdefault(key, []).append(operation)
        heapq.heappush(self._deadlines, (operation.deadline_ms, next(self._sequence), operation))
        self._pending += 1

    def check_and_complete(self, key: Hashable) -> list[DelayedOperation]:
        """Re-try the operations watching ``key``; returns those that completed now."""
        watchers = self._watchers.get(key)
        if not watchers:
            return []
        done: list[DelayedOperation] = []
        still: list[DelayedOperation] = []
        for operation in watchers:
            if operation.completed:
                continue
            if operation.try_complete(key):
                operation.completed = True
                self._pending -= 1
                done.append(operation)
            else:
                still.append(operation)
        if still:
            self._watchers[key] = still
        else:
            del self._watchers[key]
        if done and len(self._deadlines) - self._pending > max(self._pending, COMPACT_ABOVE):
            self._compact_deadlines()
        return done

    def expire(self, now_ms: int) -> list[DelayedOperation]:
        """Complete every pending operation whose deadline is at or before ``now_ms``."""
        expired: list[DelayedOperation] = []
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            _, _, operation = heapq.heappop(self._deadlines)
            if operation.completed:
                continue
            operation.completed = True
            self._pending -= 1
            expired.append(operation)
        if expired:
            self._purge_completed()
        return expired

    def next_deadline_ms(self) -> int | None:
        """The earliest deadline of a pending operation (when the shell should wake up)."""
        while self._deadlines and self._deadlines[0][2].completed:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def deadline_entries(self) -> int:
        """Entries in the deadline heap, completed ones not yet dropped included."""
        return len(self._deadlines)

    def _compact_deadlines(self) -> None:
        self._deadlines = [entry for entry in self._deadlines if not entry[2].completed]
        heapq.heapify(self._deadlines)

    def _purge_completed(self) -> None:
        for key in list(self._watchers):
            alive = [operation for operation in self._watchers[key] if not operation.completed]
            if alive:
                self._watchers[key] = alive
            else:
                del self._watchers[key]
