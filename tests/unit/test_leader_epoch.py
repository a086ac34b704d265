"""LeaderEpochCache: Kafka's LeaderEpochFileCache rules, tables plus model-based properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.core.leader_epoch import EpochEntry, LeaderEpochCache


def cache_of(*pairs: tuple[int, int]) -> LeaderEpochCache:
    return LeaderEpochCache(EpochEntry(epoch, start) for epoch, start in pairs)


def pairs_of(cache: LeaderEpochCache) -> list[tuple[int, int]]:
    return [(entry.epoch, entry.start_offset) for entry in cache.entries]


def test_empty_cache() -> None:
    cache = LeaderEpochCache()
    assert cache.entries == ()
    assert cache.latest_epoch == -1
    assert cache.latest_entry is None and cache.earliest_entry is None
    assert cache.end_offset_for(0, 10) == (-1, -1)
    assert cache.epoch_for_offset(0) is None
    assert not cache.truncate_from_end(0)
    assert not cache.truncate_from_start(5)
    assert not cache.clear()


@pytest.mark.parametrize(
    ("before", "epoch", "start", "changed", "after"),
    [
        ([], 0, 0, True, [(0, 0)]),
        ([], -1, 0, False, []),  # batches without an epoch
        ([(1, 0)], 1, 5, False, [(1, 0)]),  # the latest epoch keeps its first start
        ([(1, 0)], 1, 0, False, [(1, 0)]),
        ([(1, 0), (3, 10)], 2, 20, False, [(1, 0), (3, 10)]),  # below the latest: ignored
        ([(1, 0), (3, 10)], 4, 20, True, [(1, 0), (3, 10), (4, 20)]),
        ([(1, 0), (3, 10)], 4, 10, True, [(1, 0), (4, 10)]),  # epoch 3 never wrote a batch
        ([(1, 0), (3, 10)], 5, 3, True, [(1, 0), (5, 3)]),  # starts at or after 3 go
        ([(1, 0), (3, 10)], 3, 4, True, [(1, 0), (3, 4)]),  # an earlier start for the latest
        ([(1, 5), (3, 10)], 3, 5, True, [(3, 5)]),
    ],
)
def test_assign(
    before: list[tuple[int, int]],
    epoch: int,
    start: int,
    changed: bool,
    after: list[tuple[int, int]],
) -> None:
    cache = cache_of(*before)
    assert cache.assign(epoch, start) is changed
    assert pairs_of(cache) == after


def test_accessors() -> None:
    cache = cache_of((1, 0), (3, 10), (6, 25))
    assert cache.latest_epoch == 6
    assert cache.latest_entry == EpochEntry(6, 25)
    assert cache.earliest_entry == EpochEntry(1, 0)
    assert repr(cache) == "LeaderEpochCache([1@0, 3@10, 6@25])"


def test_constructor_rejects_entries_out_of_order() -> None:
    with pytest.raises(AssertionError):
        cache_of((2, 0), (1, 5))
    with pytest.raises(AssertionError):
        cache_of((1, 5), (2, 5))


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (-1, (-1, -1)),  # undefined epoch
        (6, (6, 40)),  # the latest epoch ends at the log end offset
        (7, (-1, -1)),  # above the latest: unknown
        (3, (3, 25)),
        (4, (3, 25)),  # not in the cache: the largest smaller epoch (KIP-279)
        (5, (3, 25)),
        (1, (1, 10)),
        (2, (1, 10)),
        (0, (0, 0)),  # below every epoch: the requested one, ending at the first start
    ],
)
def test_end_offset_for(requested: int, expected: tuple[int, int]) -> None:
    cache = cache_of((1, 0), (3, 10), (6, 25))
    assert cache.end_offset_for(requested, 40) == expected


def test_end_offset_for_below_the_earliest_after_log_start_moved() -> None:
    cache = cache_of((4, 100), (5, 130))
    assert cache.end_offset_for(2, 200) == (2, 100)


@pytest.mark.parametrize(
    ("offset", "epoch"), [(0, None), (4, None), (5, 1), (9, 1), (10, 3), (24, 3), (25, 6), (99, 6)]
)
def test_epoch_for_offset(offset: int, epoch: int | None) -> None:
    assert cache_of((1, 5), (3, 10), (6, 25)).epoch_for_offset(offset) == epoch


@pytest.mark.parametrize(
    ("end", "changed", "after"),
    [
        (30, False, [(1, 0), (3, 10), (6, 25)]),
        (26, False, [(1, 0), (3, 10), (6, 25)]),
        (25, True, [(1, 0), (3, 10)]),
        (11, True, [(1, 0), (3, 10)]),
        (10, True, [(1, 0)]),
        (0, True, []),
    ],
)
def test_truncate_from_end(end: int, changed: bool, after: list[tuple[int, int]]) -> None:
    cache = cache_of((1, 0), (3, 10), (6, 25))
    assert cache.truncate_from_end(end) is changed
    assert pairs_of(cache) == after


@pytest.mark.parametrize(
    ("start", "changed", "after"),
    [
        (0, False, [(1, 5), (3, 10), (6, 25)]),  # nothing below the first entry
        (5, False, [(1, 5), (3, 10), (6, 25)]),  # inclusive: an entry at the start stays
        (7, True, [(1, 7), (3, 10), (6, 25)]),
        (10, True, [(3, 10), (6, 25)]),
        (24, True, [(3, 24), (6, 25)]),
        (100, True, [(6, 100)]),  # past every start: the latest epoch starts there
    ],
)
def test_truncate_from_start(start: int, changed: bool, after: list[tuple[int, int]]) -> None:
    cache = cache_of((1, 5), (3, 10), (6, 25))
    assert cache.truncate_from_start(start) is changed
    assert pairs_of(cache) == after


def test_clear() -> None:
    cache = cache_of((1, 0))
    assert cache.clear()
    assert cache.entries == ()


# ---- properties: a brute-force model of Kafka's rules ---------------------------------------


def model_assign(entries: list[tuple[int, int]], epoch: int, start: int) -> list[tuple[int, int]]:
    if epoch < 0:
        return entries
    if entries and (
        epoch < entries[-1][0] or (epoch == entries[-1][0] and start >= entries[-1][1])
    ):
        return entries
    kept = [(e, s) for e, s in entries if e < epoch and s < start]
    return [*kept, (epoch, start)]


def model_end_offset(entries: list[tuple[int, int]], requested: int, leo: int) -> tuple[int, int]:
    """Kafka's endOffsetFor spelled out over the whole list."""
    if requested == -1 or not entries:
        return -1, -1
    if requested == max(e for e, _ in entries):
        return requested, leo
    higher = [(e, s) for e, s in entries if e > requested]
    if not higher:
        return -1, -1
    end = min(s for _, s in higher)
    floor = [e for e, _ in entries if e <= requested]
    return (max(floor) if floor else requested), end


def model_epoch_for_offset(entries: list[tuple[int, int]], offset: int) -> int | None:
    covering = [e for e, s in entries if s <= offset]
    return max(covering) if covering else None


def model_truncate_from_start(entries: list[tuple[int, int]], start: int) -> list[tuple[int, int]]:
    below = [(e, s) for e, s in entries if s <= start]
    if not below:
        return entries
    return [(below[-1][0], start)] + [(e, s) for e, s in entries if s > start]


epochs = st.integers(min_value=-1, max_value=12)
offsets = st.integers(min_value=0, max_value=60)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), epochs, offsets),
        st.tuples(st.just("end"), offsets, st.just(0)),
        st.tuples(st.just("start"), offsets, st.just(0)),
        st.tuples(st.just("clear"), st.just(0), st.just(0)),
    ),
    max_size=40,
)


Model = list[tuple[int, int]]


def apply(cache: LeaderEpochCache, model: Model, operation: tuple[str, int, int]) -> Model:
    kind, first, second = operation
    if kind == "assign":
        after = model_assign(model, first, second)
        assert cache.assign(first, second) is (after != model)
    elif kind == "end":
        after = [(e, s) for e, s in model if s < first]
        assert cache.truncate_from_end(first) is (after != model)
    elif kind == "start":
        after = model_truncate_from_start(model, first)
        assert cache.truncate_from_start(first) is (after != model)
    else:
        after = []
        assert cache.clear() is bool(model)
    return after


def strictly_increasing(entries: tuple[EpochEntry, ...]) -> bool:
    return all(
        a.epoch < b.epoch and a.start_offset < b.start_offset
        for a, b in itertools.pairwise(entries)
    )


@given(operations)
def test_entries_stay_strictly_increasing_and_match_the_model(
    steps: list[tuple[str, int, int]],
) -> None:
    cache = LeaderEpochCache()
    model: list[tuple[int, int]] = []
    for operation in steps:
        model = apply(cache, model, operation)
        assert strictly_increasing(cache.entries)
        assert pairs_of(cache) == model
        assert cache.latest_epoch == (model[-1][0] if model else -1)


@given(operations, st.integers(min_value=-1, max_value=14), st.integers(0, 80))
def test_end_offset_for_agrees_with_brute_force(
    steps: list[tuple[str, int, int]], requested: int, extra: int
) -> None:
    cache = LeaderEpochCache()
    model: list[tuple[int, int]] = []
    for operation in steps:
        model = apply(cache, model, operation)
    log_end_offset = (model[-1][1] if model else 0) + extra
    assert cache.end_offset_for(requested, log_end_offset) == model_end_offset(
        model, requested, log_end_offset
    )
    for offset in range(log_end_offset + 1):
        assert cache.epoch_for_offset(offset) == model_epoch_for_offset(model, offset)


@given(operations, st.integers(0, 20))
def test_every_offset_lies_before_the_end_of_its_epoch(
    steps: list[tuple[str, int, int]], extra: int
) -> None:
    """What the divergence check relies on: an offset's epoch ends after it."""
    cache = LeaderEpochCache()
    model: list[tuple[int, int]] = []
    for operation in steps:
        model = apply(cache, model, operation)
    if not model:
        return
    log_end_offset = model[-1][1] + extra + 1
    for offset in range(model[0][1], log_end_offset):
        epoch = cache.epoch_for_offset(offset)
        assert epoch is not None
        found_epoch, end = cache.end_offset_for(epoch, log_end_offset)
        assert found_epoch == epoch and end > offset
