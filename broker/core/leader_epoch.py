"""The leader-epoch cache: for each leader epoch, the first offset written in it (KIP-101).

Kafka's LeaderEpochFileCache without the file: entries ``(epoch, start_offset)`` strictly
increasing in both fields.  A leader records its epoch's start when it becomes leader
(KAFKA-7415) and on its first append; a follower records the epochs stamped on the batches it
copies.  ``end_offset_for`` answers OffsetsForLeaderEpoch and the fetch-time divergence check
(KIP-279, KIP-595's ``diverging_epoch``).  Pure: the log persists ``entries`` after each change
(every mutator returns whether it changed anything).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


@dataclass(frozen=True, slots=True)
class EpochEntry:
    """Leader epoch ``epoch`` begins at ``start_offset``."""

    epoch: int
    start_offset: int


class LeaderEpochCache:
    """Entries ordered by epoch; both epochs and start offsets strictly increase."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[EpochEntry] = ()) -> None:
        self._entries: list[EpochEntry] = list(entries)
        self._check()

    def _check(self) -> None:
        for earlier, later in itertools.pairwise(self._entries):
            assert earlier.epoch < later.epoch, f"epochs not increasing: {self._entries}"
            assert earlier.start_offset < later.start_offset, f"starts: {self._entries}"
        assert all(entry.epoch >= 0 and entry.start_offset >= 0 for entry in self._entries)

    # ---- reading ----------------------------------------------------------------------

    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch, -1 when empty (Kafka's latestEpoch)."""
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    @property
    def latest_entry(self) -> EpochEntry | None:
        return self._entries[-1] if self._entries else None

    @property
    def earliest_entry(self) -> EpochEntry | None:
        return self._entries[0] if self._entries else None

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) for ``requested_epoch`` (Kafka's endOffsetFor, as coded).

        The latest epoch ends at the log end offset.  Otherwise the answer is the largest
        epoch <= the requested one and the start offset of the next larger epoch; when no
        epoch is <= the requested one (the log start moved past it), the requested epoch
        itself with the first entry's start offset.  (-1, -1) for an undefined requested
        epoch, an empty cache, or an epoch above the latest.
        """
        if requested_epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self._entries[-1].epoch:
            return requested_epoch, log_end_offset
        higher = bisect.bisect_right(self._entries, requested_epoch, key=_epoch_of)
        if higher == len(self._entries):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        end = self._entries[higher].start_offset
        if higher == 0:
            return requested_epoch, end
        return self._entries[higher - 1].epoch, end

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch whose range holds ``offset``; None below the first entry."""
        index = bisect.bisect_right(self._entries, offset, key=_start_of) - 1
        return self._entries[index].epoch if index >= 0 else None

    # ---- changing ---------------------------------------------------------------------

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; returns whether anything changed.

        Epochs below zero (batches without one) and below the latest are ignored; the latest
        epoch keeps its start unless offered an earlier one (Kafka's isUpdateNeeded).  A new
        entry first removes the entries it contradicts: the same epoch, or a start at or
        after its own (Kafka's maybeTruncateNonMonotonicEntries).
        """
        assert start_offset >= 0, f"start offset {start_offset}"
        if epoch < 0:
            return False
        if self._entries:
            latest = self._entries[-1]
            if epoch < latest.epoch:
                return False
            if epoch == latest.epoch and start_offset >= latest.start_offset:
                return False
        while self._entries and (
            self._entries[-1].epoch >= epoch or self._entries[-1].start_offset >= start_offset
        ):
            self._entries.pop()
        self._entries.append(EpochEntry(epoch, start_offset))
        self._check()
        return True

    def truncate_from_end(self, end_offset: int) -> bool:
        """Drop the entries starting at or after ``end_offset`` (the log was cut there)."""
        changed = False
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
            changed = True
        return changed

    def truncate_from_start(self, start_offset: int) -> bool:
        """Drop the entries wholly below ``start_offset``; the epoch holding it now starts
        there (Kafka's truncateFromStart: an entry at ``start_offset`` itself stays)."""
        covering = bisect.bisect_right(self._entries, start_offset, key=_start_of) - 1
        if covering < 0 or (covering == 0 and self._entries[0].start_offset == start_offset):
            return False
        epoch = self._entries[covering].epoch
        del self._entries[: covering + 1]
        self._entries.insert(0, EpochEntry(epoch, start_offset))
        self._check()
        return True

    def clear(self) -> bool:
        changed = bool(self._entries)
        self._entries.clear()
        return changed

    def __repr__(self) -> str:
        pairs = ", ".join(f"{entry.epoch}@{entry.start_offset}" for entry in self._entries)
        return f"LeaderEpochCache([{pairs}])"


def _epoch_of(entry: EpochEntry) -> int:
    return entry.epoch


def _start_of(entry: EpochEntry) -> int:
    return entry.start_offset
