"""Offset and time index: lookup, truncation, zero tails, corruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.log.files import OS_FILES
from broker.log.index import CorruptIndexError, OffsetIndex, TimeIndex


def offset_index(path: Path, base: int = 100, max_bytes: int = 1024) -> OffsetIndex:
    return OffsetIndex(OS_FILES.open(path), base, max_bytes)


def test_offset_index_lookup_largest_entry_at_or_below(tmp_path: Path) -> None:
    index = offset_index(tmp_path / "a.index")
    for i in range(1, 50):
        index.append(100 + i * 10, i * 4096)
    assert index.lookup(99) == (100, 0)
    assert index.lookup(105) == (100, 0)
    assert index.lookup(110) == (110, 4096)
    assert index.lookup(119) == (110, 4096)
    assert index.lookup(10_000) == (590, 49 * 4096)
    assert (tmp_path / "a.index").stat().st_size == 49 * 8


def test_offset_index_reload_truncate_and_full(tmp_path: Path) -> None:
    index = offset_index(tmp_path / "a.index", max_bytes=80)
    for i in range(1, 11):
        index.append(100 + i, i * 10)
    assert index.is_full
    index.truncate_to(105)
    assert index.last_entry() == (104, 40)
    index.close()
    again = offset_index(tmp_path / "a.index", max_bytes=80)
    assert again.entries == 4 and not again.is_full
    again.sanity_check(log_size_bytes=1000)
    with pytest.raises(CorruptIndexError):
        again.sanity_check(log_size_bytes=40)


def test_offset_index_zero_tail_dropped_and_garbage_detected(tmp_path: Path) -> None:
    path = tmp_path / "a.index"
    index = offset_index(path)
    index.append(101, 10)
    index.append(102, 20)
    index.close()
    with path.open("ab") as handle:
        handle.write(b"\x00" * 8 * 5)
    assert offset_index(path).entries == 2
    assert path.stat().st_size == 16
    with path.open("ab") as handle:
        handle.write(b"\x00\x00\x00\x01\x00\x00\x00\x05")
    with pytest.raises(CorruptIndexError):
        offset_index(path).sanity_check(log_size_bytes=1000)
    with path.open("ab") as handle:
        handle.write(b"\x01")
    with pytest.raises(CorruptIndexError):
        offset_index(path)


def test_time_index_lookup_and_monotonic_append(tmp_path: Path) -> None:
    index = TimeIndex(OS_FILES.open(tmp_path / "a.timeindex"), 100, 1200)
    index.maybe_append(1000, 100)
    index.maybe_append(1000, 105)  # not larger: skipped
    index.maybe_append(2000, 110)
    index.maybe_append(3000, 120)
    assert index.entries == 3
    assert index.lookup(999) == (-1, 100)
    assert index.lookup(1500) == (1000, 100)
    assert index.lookup(3000) == (3000, 120)
    index.truncate_to(110)
    assert index.last_entry() == (1000, 100)
    index.close()
    again = TimeIndex(OS_FILES.open(tmp_path / "a.timeindex"), 100, 1200)
    assert again.entries == 1
    again.sanity_check(next_offset=200)
    with pytest.raises(CorruptIndexError):
        again.sanity_check(next_offset=100)
