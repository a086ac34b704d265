"""One share group's view of one partition (KIP-932 "queues"), sans-IO.

A share group reads a partition cooperatively: each fetched record is *acquired* by one
member for ``group.share.record.lock.duration.ms``; the member acknowledges it (ACCEPT: done,
RELEASE: give it back for redelivery, REJECT: never deliver again) or its lock expires and the
record is available again.  A record delivered ``group.share.delivery.count.limit`` times and
released (or timed out) once more is archived instead.

State (Kafka's SharePartition): the share-partition start offset (SPSO) — everything below
is done — and end offset (SPEO) — the next log offset never yet acquired.  Records in
[SPSO, SPEO) are *in flight*, each AVAILABLE (released, to be redelivered), ACQUIRED (locked
by a member until a deadline), ACKNOWLEDGED or ARCHIVED.  They are kept as contiguous spans of
offsets that share a state, delivery count, owner and deadline (a fetch acquires whole
batches, so spans stay few); the SPSO moves past any leading run of finished spans.

Nothing here reads a clock or the log: the shell passes the time and the offsets it read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import NamedTuple

from client.protocol.errors import ErrorCode


class RecordState(IntEnum):
    # The numbers of Kafka's RecordState (persisted delivery states).
    AVAILABLE = 0
    ACQUIRED = 1
    ACKNOWLEDGED = 2
    ARCHIVED = 4


class AcknowledgeType(IntEnum):
    """ShareFetch / ShareAcknowledge ``acknowledge_types``."""

    GAP = 0  # no record at that offset (compacted away, a control record)
    ACCEPT = 1
    RELEASE = 2
    REJECT = 3


NO_MEMBER = ""


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets ``first``..``last`` (inclusive) in one state."""

    first: int
    last: int
    state: RecordState
    delivery_count: int
    member_id: str = NO_MEMBER
    deadline_ms: int = 0


class AcquiredRecords(NamedTuple):
    """One ShareFetch ``acquired_records`` entry."""

    first_offset: int
    last_offset: int
    delivery_count: int


class AcknowledgementBatch(NamedTuple):
    first_offset: int
    last_offset: int
    # One type for the whole range, or one per offset (Kafka's acknowledge_types array).
    types: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ShareSettings:
    record_lock_duration_ms: int = 30_000
    delivery_count_limit: int = 5
    max_record_locks: int = 2000


class SharePartition:
    """See the module docstring."""

    def __init__(self, start_offset: int, settings: ShareSettings) -> None:
        self.settings = settings
        self.start_offset = start_offset
        self.end_offset = start_offset
        self.spans: list[Span] = []

    # -- views ---------------------------------------------------------------------------

    def acquired_count(self) -> int:
        return sum(s.last - s.first + 1 for s in self.spans if s.state is RecordState.ACQUIRED)

    def state_of(self, offset: int) -> RecordState | None:
        """The state of an in-flight offset; None below the SPSO or from the SPEO on."""
        for span in self.spans:
            if span.first <= offset <= span.last:
                return span.state
        return None

    def next_fetch_offset(self) -> int:
        """Where the next read of the log should start: the first record to redeliver, or
        the SPEO."""
        for span in self.spans:
            if span.state is RecordState.AVAILABLE:
                return span.first
        return self.end_offset

    def can_acquire(self, readable_end: int) -> bool:
        """Whether a fetch could acquire anything now (``readable_end``: the HW or LSO)."""
        if any(span.state is RecordState.AVAILABLE for span in self.spans):
            return True
        return self.end_offset < readable_end and self.acquired_count() < self._lock_budget()

    def next_deadline_ms(self) -> int | None:
        deadlines = [s.deadline_ms for s in self.spans if s.state is RecordState.ACQUIRED]
        return min(deadlines) if deadlines else None

    def _lock_budget(self) -> int:
        return max(self.settings.max_record_locks, 1)

    # -- acquiring -----------------------------------------------------------------------

    def acquire(
        self, member_id: str, read_first: int, read_last: int, readable_end: int, now_ms: int
    ) -> list[AcquiredRecords]:
        """Acquire for ``member_id`` what a read of the log covering ``read_first`` ..
        ``read_last`` (whole batches) may deliver: the AVAILABLE in-flight records in that
        range, then new records from the SPEO up to ``readable_end`` (exclusive) — whole
        batches as read, while fewer than ``max_record_locks`` records are acquired."""
        deadline = now_ms + self.settings.record_lock_duration_ms
        acquired: list[AcquiredRecords] = []
        low = max(read_first, self.start_offset)
        old_end = min(read_last, self.end_offset - 1)
        if low <= old_end:
            self._split_at(low)
            self._split_at(old_end + 1)
            spans = []
            for span in self.spans:
                if (
                    low <= span.first
                    and span.last <= old_end
                    and span.state is RecordState.AVAILABLE
                ):
                    span = replace(
                        span,
                        state=RecordState.ACQUIRED,
                        delivery_count=span.delivery_count + 1,
                        member_id=member_id,
                        deadline_ms=deadline,
                    )
                    acquired.append(AcquiredRecords(span.first, span.last, span.delivery_count))
                spans.append(span)
            self.spans = spans
        new_first = max(self.end_offset, read_first)
        new_last = min(read_last, readable_end - 1)
        if new_first <= new_last and self.acquired_count() < self._lock_budget():
            if new_first > self.end_offset:
                # The read skipped offsets (nothing there any more): they are done.
                self.spans.append(Span(self.end_offset, new_first - 1, RecordState.ARCHIVED, 0))
            span = Span(new_first, new_last, RecordState.ACQUIRED, 1, member_id, deadline)
            self.spans.append(span)
            self.end_offset = new_last + 1
            acquired.append(AcquiredRecords(new_first, new_last, 1))
        self._compact()
        return _merged(acquired)

    # -- acknowledging -------------------------------------------------------------------

    def acknowledge(self, member_id: str, batches: list[AcknowledgementBatch]) -> ErrorCode:
        """Apply a member's acknowledgements, all or nothing: every offset named must be
        in flight and acquired by ``member_id`` (else INVALID_RECORD_STATE), every type
        known and the ranges well formed (else INVALID_REQUEST).  Offsets below the SPSO are
        done already (archived, or gone with the log start): their acknowledgement is
        ignored, as Kafka does."""
        plan: list[tuple[int, int, AcknowledgeType]] = []
        previous_last = -1
        for batch in batches:
            first, last, types = batch
            if first > last or first <= previous_last or not types:
                return ErrorCode.INVALID_REQUEST
            if len(types) not in (1, last - first + 1):
                return ErrorCode.INVALID_REQUEST
            try:
                kinds = [AcknowledgeType(t) for t in types]
            except ValueError:
                return ErrorCode.INVALID_REQUEST
            previous_last = last
            if len(kinds) == 1:
                plan.append((first, last, kinds[0]))
            else:
                plan.extend((first + i, first + i, kind) for i, kind in enumerate(kinds))
        plan = [
            (max(first, self.start_offset), last, kind)
            for first, last, kind in plan
            if last >= self.start_offset
        ]
        for first, last, _ in plan:
            if not self._owned_by(member_id, first, last):
                return ErrorCode.INVALID_RECORD_STATE
        for first, last, kind in plan:
            self._settle(first, last, kind)
        self._compact()
        return ErrorCode.NONE

    def _owned_by(self, member_id: str, first: int, last: int) -> bool:
        if last >= self.end_offset:
            return False
        return all(
            span.state is RecordState.ACQUIRED and span.member_id == member_id
            for span in self.spans
            if span.last >= first and span.first <= last
        )

    def _settle(self, first: int, last: int, kind: AcknowledgeType) -> None:
        self._split_at(first)
        self._split_at(last + 1)
        self.spans = [
            self._after(span, kind) if first <= span.first and span.last <= last else span
            for span in self.spans
        ]

    def _after(self, span: Span, kind: AcknowledgeType) -> Span:
        if kind is AcknowledgeType.ACCEPT:
            return replace(span, state=RecordState.ACKNOWLEDGED, member_id=NO_MEMBER)
        if kind is AcknowledgeType.RELEASE:
            return self._released(span)
        return replace(span, state=RecordState.ARCHIVED, member_id=NO_MEMBER)  # REJECT, GAP

    def _released(self, span: Span) -> Span:
        """Back to AVAILABLE, or ARCHIVED once delivered as often as allowed."""
        state = (
            RecordState.ARCHIVED
            if span.delivery_count >= self.settings.delivery_count_limit
            else RecordState.AVAILABLE
        )
        return replace(span, state=state, member_id=NO_MEMBER, deadline_ms=0)

    # -- locks and members ---------------------------------------------------------------

    def expire_locks(self, now_ms: int) -> bool:
        """Release every acquisition whose lock deadline passed; True if any did."""
        return self._release_where(lambda span: span.deadline_ms <= now_ms)

    def release_member(self, member_id: str) -> bool:
        """A member left or was fenced: what it holds is released (its delivery counted)."""
        return self._release_where(lambda span: span.member_id == member_id)

    def _release_where(self, chosen: Callable[[Span], bool]) -> bool:
        """Release the acquired spans ``chosen`` picks; True if there were any."""
        changed = False
        spans = []
        for span in self.spans:
            if span.state is RecordState.ACQUIRED and chosen(span):
                span = self._released(span)
                changed = True
            spans.append(span)
        if changed:
            self.spans = spans
            self._compact()
        return changed

    def advance_start(self, log_start_offset: int) -> None:
        """The log start moved past the SPSO (retention, DeleteRecords): those records are
        gone, whatever their state."""
        if log_start_offset <= self.start_offset:
            return
        self._split_at(log_start_offset)
        self.spans = [span for span in self.spans if span.first >= log_start_offset]
        self.start_offset = log_start_offset
        self.end_offset = max(self.end_offset, log_start_offset)
        self._compact()

    # -- spans ---------------------------------------------------------------------------

    def _split_at(self, offset: int) -> None:
        """Make ``offset`` the first offset of a span (if a span holds it)."""
        for index, span in enumerate(self.spans):
            if span.first < offset <= span.last:
                self.spans[index : index + 1] = [
                    replace(span, last=offset - 1),
                    replace(span, first=offset),
                ]
                return

    def _compact(self) -> None:
        """Drop the finished spans at the front (moving the SPSO) and merge neighbours that
        agree in everything but their offsets."""
        spans = self.spans
        done = (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED)
        cut = 0
        while cut < len(spans) and spans[cut].state in done:
            cut += 1
        if cut:
            self.start_offset = spans[cut - 1].last + 1
            spans = spans[cut:]
        if not spans:
            self.start_offset = self.end_offset
        merged: list[Span] = []
        for span in spans:
            if merged and _mergeable(merged[-1], span):
                merged[-1] = replace(merged[-1], last=span.last)
            else:
                merged.append(span)
        self.spans = merged


def _mergeable(left: Span, right: Span) -> bool:
    return (
        left.last + 1 == right.first
        and left.state is right.state
        and left.delivery_count == right.delivery_count
        and left.member_id == right.member_id
        and left.deadline_ms == right.deadline_ms
    )


def _merged(ranges: list[AcquiredRecords]) -> list[AcquiredRecords]:
    out: list[AcquiredRecords] = []
    for item in ranges:
        if (
            out
            and out[-1].last_offset + 1 == item.first_offset
            and (out[-1].delivery_count == item.delivery_count)
        ):
            out[-1] = AcquiredRecords(out[-1].first_offset, item.last_offset, item.delivery_count)
        else:
            out.append(item)
    return out
