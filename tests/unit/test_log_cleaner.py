"""Log compaction (broker/log/cleaner.py, PartitionLog.clean) on real segment files."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from broker.core.producer_state import BatchInfo
from broker.log.config import LogConfig
from broker.log.partition_log import PartitionLog
from client.protocol import records as r

T0 = 1_700_000_000_000
DAY_MS = 86_400_000
COMPACT = LogConfig(segment_bytes=600, index_interval_bytes=128, cleanup_policy=("compact",))


def open_log(directory: Path, config: LogConfig = COMPACT, **kwargs: bool) -> PartitionLog:
    return PartitionLog.open(
        directory,
        config,
        recovery_point=0,
        log_start_offset=0,
        needs_recovery=kwargs.get("needs_recovery", False),
    )


def put(
    log: PartitionLog,
    pairs: list[tuple[bytes | None, bytes | None]],
    *,
    timestamp: int = T0,
    compression: int = r.COMPRESSION_NONE,
    producer_id: int = -1,
    sequence: int = -1,
    transactional: bool = False,
) -> int:
    """Append one batch of (key, value); its base offset."""
    batch = r.build_batch(
        [r.Record(0, timestamp, key, value, []) for key, value in pairs],
        compression=compression,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=sequence,
        transactional=transactional,
    )
    data = bytearray(batch)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20)
    if producer_id >= 0:
        info = BatchInfo.of(producer_id, 0, sequence, len(pairs), is_transactional=transactional)
        log.producer_state.check(info)
    return log.append(data, checked.batches, leader_epoch=0, wall_ms=timestamp).base_offset


def everything(log: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record, read from the log start to its end."""
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20, log.log_end_offset, min_one_batch=True)
        for position, header in r.iterate_batches(data):
            batch = bytes(data[position : position + header.size_bytes])
            if not header.is_control:
                out.extend(
                    (rec.offset, rec.key, rec.value)
                    for rec in r.decode_records(batch)
                    if rec.offset >= offset
                )
            offset = header.next_offset
    return out


def latest(log: PartitionLog) -> dict[bytes | None, bytes | None]:
    return {key: value for _, key, value in everything(log)}


def fill(log: PartitionLog, rounds: int, keys: int, **options: int) -> None:
    for number in range(rounds):
        for key in range(keys):
            put(log, [(b"k%d" % key, b"v%d-%d" % (key, number))], **options)
    log.roll(T0)


def test_only_the_latest_value_of_each_key_stays(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0")
    fill(log, rounds=6, keys=4)
    before = latest(log)
    end = log.log_end_offset
    stats = log.clean(T0, end, force=True)
    assert stats.segments > 0 and stats.records_removed > 0
    assert stats.bytes_after < stats.bytes_before
    assert latest(log) == before
    kept = everything(log)
    assert sorted(key for _, key, _ in kept) == sorted(before)  # one record per key
    assert log.log_end_offset == end  # offsets never move
    # Offsets are kept, so reading from a removed offset lands on the next kept one.
    first_kept = kept[0][0]
    assert first_kept > 0
    data = log.read(0, 1 << 20, end, min_one_batch=True)
    assert r.parse_header(data).last_offset >= 0


def test_a_reopened_log_reads_the_same(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0")
    fill(log, rounds=5, keys=3, compression=r.COMPRESSION_GZIP)
    log.clean(T0, log.log_end_offset, force=True)
    expected = everything(log)
    end = log.log_end_offset
    log.close()
    for needs_recovery in (False, True):
        again = open_log(tmp_path / "c-0", needs_recovery=needs_recovery)
        assert everything(again) == expected
        assert again.log_end_offset == end
        again.close()


def test_a_partly_kept_batch_keeps_its_offsets_and_compression(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0")
    base = put(
        log,
        [(b"a", b"1"), (b"b", b"1"), (b"c", b"1")],
        compression=r.COMPRESSION_ZSTD,
    )
    put(log, [(b"b", b"2")])
    log.roll(T0)
    log.clean(T0, log.log_end_offset, force=True)
    data = log.read(base, 1 << 20, log.log_end_offset, min_one_batch=True)
    header = r.parse_header(data)
    assert (header.base_offset, header.last_offset_delta, header.record_count) == (base, 2, 2)
    assert header.compression == r.COMPRESSION_ZSTD
    assert [
        (rec.offset, rec.key) for rec in r.decode_records(bytes(data[: header.size_bytes]))
    ] == [
        (0, b"a"),
        (2, b"c"),
    ]


def test_tombstones_go_after_delete_retention(tmp_path: Path) -> None:
    config = replace(COMPACT, delete_retention_ms=DAY_MS)
    log = open_log(tmp_path / "c-0", config)
    put(log, [(b"gone", b"x")])
    put(log, [(b"stays", b"y")])
    put(log, [(b"gone", None)])
    log.roll(T0)
    log.clean(T0 + 1000, log.log_end_offset, force=True)
    assert latest(log) == {b"gone": None, b"stays": b"y"}  # within delete.retention.ms
    log.clean(T0 + 2 * DAY_MS, log.log_end_offset, force=True)
    assert latest(log) == {b"stays": b"y"}


def test_records_without_a_key_are_dropped(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0")
    put(log, [(None, b"keyless")])
    put(log, [(b"k", b"v")])
    log.roll(T0)
    log.clean(T0, log.log_end_offset, force=True)
    assert everything(log) == [(1, b"k", b"v")]


def test_nothing_at_or_above_the_upper_bound_nor_the_active_segment_is_cleaned(
    tmp_path: Path,
) -> None:
    log = open_log(tmp_path / "c-0")
    fill(log, rounds=3, keys=2)
    hw = log.log_end_offset
    put(log, [(b"k0", b"newest")])  # active segment, above the bound
    before = everything(log)
    assert log.clean(T0, 0, force=True).segments == 0  # the bound is below every segment
    assert everything(log) == before
    log.clean(T0, hw, force=True)
    # The newest value of k0 is in the active segment: the older ones below hw may go, but
    # the map only holds keys below hw, so k0's last value below hw stays as well.
    assert [v for _, k, v in everything(log) if k == b"k0"][-1] == b"newest"
    assert latest(log) == {key: value for _, key, value in before}


def test_a_log_that_is_not_compacted_is_left_alone(tmp_path: Path) -> None:
    log = open_log(tmp_path / "d-0", replace(COMPACT, cleanup_policy=("delete",)))
    fill(log, rounds=3, keys=2)
    assert log.clean(T0, log.log_end_offset, force=True).segments == 0


def test_the_dirty_ratio_decides_unless_forced(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0", replace(COMPACT, min_cleanable_dirty_ratio=0.99))
    fill(log, rounds=4, keys=2)
    log.clean(T0, log.log_end_offset, force=True)
    assert log.dirty_ratio(log.cleanable_segments(T0, log.log_end_offset)) == 0
    put(log, [(b"k0", b"late")])
    log.roll(T0)
    # A little new data against a cleaned log: below 0.99, no pass.
    assert log.clean(T0, log.log_end_offset).segments == 0
    assert log.clean(T0, log.log_end_offset, force=True).segments > 0


def test_min_compaction_lag_keeps_young_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0", replace(COMPACT, min_compaction_lag_ms=DAY_MS))
    fill(log, rounds=4, keys=2)
    assert log.cleanable_segments(T0 + 1000, log.log_end_offset) == []
    assert log.cleanable_segments(T0 + 2 * DAY_MS, log.log_end_offset) != []


def test_aborted_transactions_are_removed_and_do_not_shadow_committed_values(
    tmp_path: Path,
) -> None:
    log = open_log(tmp_path / "c-0")
    put(log, [(b"k", b"committed")])
    put(log, [(b"k", b"aborted")], producer_id=7, sequence=0, transactional=True)
    log.append_marker(
        producer_id=7, producer_epoch=0, coordinator_epoch=0, commit=False, leader_epoch=0,
        wall_ms=T0,
    )  # fmt: skip
    put(log, [(b"other", b"x")])
    log.roll(T0)
    upper = log.last_stable_offset(log.log_end_offset)
    log.clean(T0, upper, force=True)
    values = [(key, value) for _, key, value in everything(log)]
    assert (b"k", b"committed") in values
    assert (b"k", b"aborted") not in values


def test_the_last_batch_of_each_producer_survives(tmp_path: Path) -> None:
    """Its sequence must survive a rebuild of the producer state from the log alone."""
    log = open_log(tmp_path / "c-0")
    put(log, [(b"k", b"1")], producer_id=3, sequence=0)
    put(log, [(b"k", b"2")], producer_id=3, sequence=1)
    put(log, [(b"k", b"3")])
    log.roll(T0)
    log.clean(T0, log.log_end_offset, force=True)
    assert [value for _, _, value in everything(log)] == [b"2", b"3"]
    log.close()
    for snapshot in (tmp_path / "c-0").glob("*.snapshot"):
        snapshot.unlink()
    again = open_log(tmp_path / "c-0", needs_recovery=True)
    assert again.producer_state.producers[3].last_sequence == 1


def test_a_follower_takes_the_leaders_compacted_batches(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "c-0")
    fill(leader, rounds=5, keys=3)
    leader.clean(T0, leader.log_end_offset, force=True)
    follower = open_log(tmp_path / "follower" / "c-0")
    while follower.log_end_offset < leader.log_end_offset:
        data = bytes(
            leader.read(follower.log_end_offset, 1 << 20, leader.log_end_offset, min_one_batch=True)
        )
        checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
        follower.append_as_follower(
            data, checked.batches, wall_ms=T0, fetch_offset=follower.log_end_offset
        )
    assert everything(follower) == everything(leader)


@pytest.mark.parametrize("seed", range(20))
def test_random_histories_keep_every_keys_latest_value(tmp_path: Path, seed: int) -> None:
    """Random keyed writes (some tombstones, some keyless), cleaned at random points: the
    latest value of every key below the bound is what a full read finds, offsets stay
    increasing, and the log end never moves."""
    rng = random.Random(seed)
    log = open_log(tmp_path / "c-0", replace(COMPACT, segment_bytes=rng.choice([300, 600, 2000])))
    model: dict[bytes, bytes | None] = {}
    for step in range(rng.randint(20, 120)):
        pairs = []
        for _ in range(rng.randint(1, 4)):
            key = None if rng.random() < 0.05 else b"k%d" % rng.randint(0, 12)
            value = None if rng.random() < 0.1 else b"v%d" % step
            pairs.append((key, value))
            if key is not None:
                model[key] = value
        put(log, pairs, compression=rng.choice([r.COMPRESSION_NONE, r.COMPRESSION_LZ4]))
        if rng.random() < 0.15:
            end = log.log_end_offset
            log.clean(T0, end, force=True)
            assert log.log_end_offset == end
    log.roll(T0)
    log.clean(T0, log.log_end_offset, force=True)
    found = everything(log)
    offsets = [offset for offset, _, _ in found]
    assert offsets == sorted(set(offsets))
    assert {key: value for _, key, value in found if key is not None} == model


def test_a_pass_whose_segments_changed_meanwhile_is_dropped(tmp_path: Path) -> None:
    """The job runs apart from the log (a worker thread): if a segment it read is gone when
    it finishes, nothing is swapped in."""
    log = open_log(tmp_path / "c-0", replace(COMPACT, cleanup_policy=("compact", "delete")))
    fill(log, rounds=6, keys=3)
    job = log.prepare_clean(T0, log.log_end_offset, force=True)
    assert job is not None
    results = job.run()
    log.advance_log_start_offset(log.segments[1].base_offset)  # the first segment goes
    before = everything(log)
    assert log.finish_clean(job, results).segments == 0
    assert everything(log) == before
    assert log.first_dirty_offset == 0  # the next pass cleans it all


def test_cleaned_segments_are_merged_up_to_segment_bytes(tmp_path: Path) -> None:
    log = open_log(tmp_path / "c-0")
    fill(log, rounds=8, keys=3)
    before_segments = len(log.segments)
    expected = latest(log)
    end = log.log_end_offset
    log.clean(T0, end, force=True)
    assert len(log.segments) < before_segments
    assert all(segment.size_bytes <= COMPACT.segment_bytes for segment in log.segments[:-1])
    assert latest(log) == expected and log.log_end_offset == end
    bases = sorted(int(p.stem) for p in (tmp_path / "c-0").glob("*.log"))
    assert bases == [segment.base_offset for segment in log.segments]
    log.close()
    again = open_log(tmp_path / "c-0", needs_recovery=True)
    assert latest(again) == expected and again.log_end_offset == end


def test_a_merge_cut_short_by_a_crash_loads_whole(tmp_path: Path) -> None:
    """The crash left the merged segment and the ones it took in: a load drops the covered
    ones and reads the same as the merge finished."""
    directory = tmp_path / "c-0"
    log = open_log(directory)
    fill(log, rounds=8, keys=3)
    saved = {path.name: path.read_bytes() for path in directory.glob("*.log")}
    log.clean(T0, log.log_end_offset, force=True)
    expected = everything(log)
    kept = {path.name for path in directory.glob("*.log")}
    log.close()
    for name, data in saved.items():
        if name not in kept:  # merged away: as if the crash came before its delete
            (directory / name).write_bytes(data)
    again = open_log(directory, needs_recovery=True)
    assert everything(again) == expected
    assert {path.name for path in directory.glob("*.log")} == kept
