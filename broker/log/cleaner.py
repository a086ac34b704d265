"""Log compaction (Kafka's LogCleaner) for logs with ``cleanup.policy`` compact.

A pass looks at the cleanable part of a log: the segments before the active one that lie
wholly below the first uncleanable offset (the high watermark, the last stable offset, and
the first segment younger than ``min.compaction.lag.ms``).  When the dirty part -- written
since the last pass -- is at least ``min.cleanable.dirty.ratio`` of it, the pass builds the
offset map (each key's latest offset in the cleanable part) and rewrites every segment
keeping, record by record:

- a record whose key has no later record in the cleanable part;
- not a record without a key (Kafka's cleaner drops those);
- a tombstone (null value) only while its segment is younger than ``delete.retention.ms``
  (by its largest timestamp), so a consumer that is behind still sees the delete;
- not the records of aborted transactions (their data is never read committed);
- transaction markers, and the whole last batch of every producer id, as they are (the
  producer's sequence and epoch survive a reload from the log).

A batch keeps its base offset, last offset delta, timestamps and producer fields: offsets
never change, a partly kept batch is rebuilt with the records that stay, and a segment's
last batch stays even when empty (Kafka writes such empty batches), so each segment still
ends where the next begins -- recovery insists on that.

The cleaned segment is written as ``<base>.log.cleaned`` and renamed over the old ``.log``
after its indexes are removed; at any crash point a load finds either segment whole, with
indexes missing at worst, and rebuilds them (leftover ``.cleaned`` files are removed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from broker.log.segment import LogSegment
from broker.log.txn_index import AbortedTxn
from client.protocol import records
from client.protocol.records import BatchHeader

CLEANED_SUFFIX = ".cleaned"


class CleanerStats(NamedTuple):
    """What one pass did."""

    segments: int
    bytes_before: int
    bytes_after: int
    records_removed: int


NOTHING = CleanerStats(0, 0, 0, 0)


def aborted_batches(entries: Iterable[AbortedTxn]) -> Callable[[BatchHeader], bool]:
    """Whether a transactional batch belongs to an aborted transaction (its producer's
    aborted range, from the first offset to the abort marker, holds the batch)."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for entry in entries:
        ranges.setdefault(entry.producer_id, []).append((entry.first_offset, entry.last_offset))

    def aborted(header: BatchHeader) -> bool:
        if not header.is_transactional or header.is_control:
            return False
        spans = ranges.get(header.producer_id)
        return spans is not None and any(
            first <= header.base_offset <= last for first, last in spans
        )

    return aborted


class OffsetMap(NamedTuple):
    """Each key's latest offset in the cleanable part, and the base offset of each
    producer id's last batch there."""

    latest: dict[bytes, int]
    producers: dict[int, int]


def build_offset_map(
    segments: Sequence[LogSegment], aborted: Callable[[BatchHeader], bool]
) -> OffsetMap:
    latest: dict[bytes, int] = {}
    producers: dict[int, int] = {}
    for segment in segments:
        for position, header in segment.headers_from(0):
            if header.producer_id >= 0:
                producers[header.producer_id] = header.base_offset
            if header.is_control or header.record_count == 0 or aborted(header):
                continue
            payload = records.batch_payload(segment.read_batch(position, header), header)
            for span in records.record_spans(payload, header):
                if span.key is not None:
                    latest[span.key] = span.offset
    return OffsetMap(latest, producers)


def clean_segment(
    segment: LogSegment,
    offsets: OffsetMap,
    aborted: Callable[[BatchHeader], bool],
    *,
    keep_tombstones: bool,
) -> tuple[bytes, int] | None:
    """The segment's cleaned bytes and how many records went; None if nothing would."""
    out: list[bytes] = []
    removed = 0
    batches = list(segment.headers_from(0))
    for number, (position, header) in enumerate(batches):
        raw = segment.read_batch(position, header)
        last_of_segment = number == len(batches) - 1
        if header.is_control or offsets.producers.get(header.producer_id) == header.base_offset:
            out.append(raw)
            continue
        if header.record_count == 0:
            if last_of_segment:
                out.append(raw)
            continue
        payload = records.batch_payload(raw, header)
        spans = records.record_spans(payload, header)
        if aborted(header):
            kept = []
        else:
            kept = [
                span
                for span in spans
                if span.key is not None
                and offsets.latest.get(span.key, -1) <= span.offset
                and (keep_tombstones or not span.tombstone)
            ]
        removed += len(spans) - len(kept)
        if len(kept) == len(spans):
            out.append(raw)
        elif kept or last_of_segment:
            body = b"".join(payload[span.start : span.end] for span in kept)
            out.append(records.rebuild_batch(header, body, len(kept)))
    if removed == 0:
        return None
    return b"".join(out), removed


class CleanJob:
    """One pass over ``segments`` (oldest first, none active): ``run`` builds the offset map
    and each segment's cleaned bytes (None: unchanged).  It only reads the segments, which
    no longer change, so it may run in a worker thread; ``PartitionLog.finish_clean`` swaps
    the results in."""

    def __init__(
        self,
        segments: Sequence[LogSegment],
        keep_tombstones: Sequence[bool],
        aborted: Callable[[BatchHeader], bool],
        end: int,
    ) -> None:
        self.segments = list(segments)
        self.keep_tombstones = list(keep_tombstones)
        self.aborted = aborted
        self.end = end

    def run(self) -> list[tuple[bytes, int] | None]:
        offsets = build_offset_map(self.segments, self.aborted)
        return [
            clean_segment(segment, offsets, self.aborted, keep_tombstones=keep)
            for segment, keep in zip(self.segments, self.keep_tombstones, strict=True)
        ]
