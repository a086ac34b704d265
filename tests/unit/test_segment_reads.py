"""LogSegment.read and translate_offset against a model of the batches written.

The segment finds the batch holding an offset three ways: from its tail list (batches since
the last offset index entry, by bisection), by scanning headers from an index entry, and it
skips cutting the read when it runs to the segment's end below ``max_offset``.  Every answer
must equal the model's, after appends, after a reopen (the tail rebuilt from the file), after
a truncation and after a recovery, and with the tail list emptied (the scan alone).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.log import segment as segment_module
from broker.log.config import LogConfig
from broker.log.partition_log import PartitionLog
from broker.log.segment import LogSegment
from client.protocol import records as r

T0 = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=1 << 22, index_interval_bytes=256)

Batch = tuple[int, int, bytes]  # base offset, last offset, the batch's bytes


def open_log(directory: Path, config: LogConfig) -> PartitionLog:
    return PartitionLog.open(
        directory, config, recovery_point=0, log_start_offset=0, needs_recovery=False
    )


def append(log: PartitionLog, count: int, size: int) -> None:
    batch = r.build_batch(
        [r.Record(0, T0 + i, None, bytes([i % 251]) * size, []) for i in range(count)]
    )
    data = bytearray(batch)
    checked = r.validate_batches(data, max_batch_bytes=log.config.max_message_bytes)
    log.append(data, checked.batches, leader_epoch=1, wall_ms=T0)


def model_of(segment: LogSegment) -> list[Batch]:
    whole = segment._log.pread(segment.size_bytes, 0)
    return [
        (h.base_offset, h.last_offset, bytes(whole[position : position + h.size_bytes]))
        for position, h in r.iterate_batches(whole)
    ]


def expected_read(
    model: list[Batch], offset: int, max_bytes: int, max_offset: int, min_one_batch: bool
) -> bytes | None:
    index = next((i for i, batch in enumerate(model) if batch[1] >= offset), None)
    if index is None:
        return None
    first = model[index]
    if first[0] >= max_offset or (len(first[2]) > max_bytes and not min_one_batch):
        return b""
    limit = max(max_bytes, len(first[2]))
    out = b""
    for base, _last, data in model[index:]:
        if base >= max_offset or len(out) + len(data) > limit:
            break
        out += data
    return out


def check_reads(segment: LogSegment, model: list[Batch], queries: list[tuple[int, ...]]) -> None:
    end = model[-1][1] + 1 if model else segment.base_offset
    assert segment.next_offset == end
    for offset_pick, bytes_pick, max_pick, min_one in queries:
        offset = segment.base_offset + offset_pick % (end - segment.base_offset + 2)
        max_offset = segment.base_offset + max_pick % (end - segment.base_offset + 2)
        got = segment.read(offset, bytes_pick, max_offset, min_one_batch=bool(min_one))
        want = expected_read(model, offset, bytes_pick, max_offset, bool(min_one))
        assert (None if got is None else bytes(got)) == want, (offset, bytes_pick, max_offset)
        found = segment.translate_offset(offset)
        holder = next(((b, last) for b, last, _ in model if last >= offset), None)
        assert (None if found is None else (found[1].base_offset, found[1].last_offset)) == holder


def check_with_and_without_tail(
    segment: LogSegment, model: list[Batch], queries: list[tuple[int, ...]]
) -> None:
    SEEN.append(segment)
    check_reads(segment, model, queries)
    lasts, positions = segment._tail_last_offsets, segment._tail_positions
    segment._tail_last_offsets, segment._tail_positions = [], []
    try:
        check_reads(segment, model, queries)  # the index scan alone
    finally:
        segment._tail_last_offsets, segment._tail_positions = lasts, positions


QUERY = st.tuples(
    st.integers(0, 10_000), st.integers(1, 20_000), st.integers(0, 10_000), st.integers(0, 1)
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    batches=st.one_of(
        st.lists(st.tuples(st.integers(1, 3), st.integers(5, 1500)), max_size=60),
        # Many small batches: long runs between index entries (the tail list gets cut).
        st.lists(st.tuples(st.integers(1, 2), st.integers(5, 120)), min_size=30, max_size=120),
    ),
    interval=st.sampled_from([64, 256, 4096, 65536]),
    queries=st.lists(QUERY, min_size=1, max_size=25),
    cut=st.integers(0, 10_000),
    tail_cap=st.sampled_from([2, 5, 1024]),
)
def test_reads_match_the_model(
    batches: list[tuple[int, int]],
    interval: int,
    queries: list[tuple[int, ...]],
    cut: int,
    tail_cap: int,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segment_module, "TAIL_BATCHES", tail_cap)  # small: the list gets cut
        check_everything(batches, interval, queries, cut)
        assert all(len(s._tail_last_offsets) <= tail_cap for s in SEEN)


SEEN: list[LogSegment] = []


def check_everything(
    batches: list[tuple[int, int]], interval: int, queries: list[tuple[int, ...]], cut: int
) -> None:
    SEEN.clear()
    config = replace(CONFIG, index_interval_bytes=interval)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t-0"
        log = open_log(path, config)
        for count, size in batches:
            append(log, count, size)
        (segment,) = log.segments
        model = model_of(segment)
        assert len(model) == len(batches)
        check_with_and_without_tail(segment, model, queries)

        log.close()
        log = open_log(path, config)  # the tail rebuilt from the index and the file
        (segment,) = log.segments
        check_with_and_without_tail(segment, model, queries)

        if model:
            target = cut % (model[-1][1] + 1)
            log.truncate_to(target)
            (segment,) = log.segments
            model = [batch for batch in model if batch[1] < target]
            check_with_and_without_tail(segment, model, queries)
            append(log, 2, 30)  # appends after a truncation extend the rebuilt tail
            model = model_of(segment)
            check_with_and_without_tail(segment, model, queries)

        segment.recover()
        check_with_and_without_tail(segment, model_of(segment), queries)
        log.close()
