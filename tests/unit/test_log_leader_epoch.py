"""PartitionLog's leader-epoch cache and follower appends; leader-epoch-checkpoint and the
replication-offset-checkpoint (high watermarks)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.core.leader_epoch import EpochEntry, LeaderEpochCache
from broker.log import leader_epoch_checkpoint
from broker.log.checkpoints import REPLICATION_OFFSET_CHECKPOINT
from broker.log.config import LONG_MAX, LogConfig
from broker.log.files import OS_FILES
from broker.log.leader_epoch_checkpoint import LEADER_EPOCH_CHECKPOINT, LeaderEpochCheckpointError
from broker.log.log_manager import LogManager
from broker.log.partition_log import NonContiguousAppendError, PartitionLog
from broker.log.segment import records_end
from client.protocol import records as r

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256)
T0 = 1_700_000_000_000


def open_log(directory: Path, config: LogConfig = SMALL, **kwargs: int | bool) -> PartitionLog:
    options: dict[str, int | bool] = {
        "recovery_point": 0,
        "log_start_offset": 0,
        "needs_recovery": False,
    }
    options.update(kwargs)
    return PartitionLog.open(directory, config, **options)  # type: ignore[arg-type]


def batch(count: int = 3, size: int = 50, **fields: int) -> bytearray:
    return bytearray(
        r.build_batch(
            [r.Record(0, T0 + i, f"k{i}".encode(), b"v" * size, []) for i in range(count)],
            **fields,
        )
    )


def append(log: PartitionLog, epoch: int, count: int = 3, **fields: int) -> None:
    data = batch(count, **fields)
    checked = r.validate_batches(data, max_batch_bytes=log.config.max_message_bytes)
    log.append(data, checked.batches, leader_epoch=epoch, wall_ms=T0)


def epochs(log: PartitionLog) -> list[tuple[int, int]]:
    return [(entry.epoch, entry.start_offset) for entry in log.leader_epoch_cache.entries]


def stored_epochs(log: PartitionLog) -> list[tuple[int, int]] | None:
    entries = leader_epoch_checkpoint.read(log.files, log.directory)
    return None if entries is None else [(e.epoch, e.start_offset) for e in entries]


def leader_chunk(log: PartitionLog, offset: int, max_bytes: int = 1 << 20) -> bytes:
    """What a fetch from ``log`` would carry: whole batches as stored (offsets, epochs)."""
    return bytes(log.read(offset, max_bytes, log.log_end_offset, min_one_batch=True))


def all_batches(log: PartitionLog) -> bytes:
    """Every stored byte from the log start offset, across segments."""
    out = bytearray()
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = leader_chunk(log, offset, 1 << 22)
        out += data
        offset = [h for _, h in r.iterate_batches(data)][-1].next_offset
    return bytes(out)


def follow(log: PartitionLog, data: bytes | bytearray | memoryview) -> int:
    """The follower's side of one fetch response: whole batches only, then append."""
    whole = memoryview(data)[: records_end(data, LONG_MAX)]
    if not whole:
        return 0
    checked = r.validate_batches(whole, max_batch_bytes=1 << 20, from_client=False)
    log.append_as_follower(whole, checked.batches, wall_ms=T0)
    return len(whole)


def headers(log: PartitionLog) -> list[r.BatchHeader]:
    return [header for segment in log.segments for _, header in segment.headers_from(0)]


# ---- the leader's side -------------------------------------------------------------------


def test_append_assigns_epoch_starts_and_persists_them(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    assert epochs(log) == [] and log.last_fetched_epoch() == -1
    assert not (log.directory / LEADER_EPOCH_CHECKPOINT).exists()  # nothing to say yet
    append(log, 0)
    append(log, 0)
    append(log, 2)
    append(log, 1)  # a stale epoch never rewinds the cache
    append(log, 2)
    assert epochs(log) == [(0, 0), (2, 6)]
    assert stored_epochs(log) == [(0, 0), (2, 6)]
    assert (log.directory / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n2\n0 0\n2 6\n"
    assert log.last_fetched_epoch() == 2
    assert log.end_offset_for_epoch(0) == (0, 6)
    assert log.end_offset_for_epoch(1) == (0, 6)
    assert log.end_offset_for_epoch(2) == (2, 15)
    assert log.end_offset_for_epoch(3) == (-1, -1)


def test_assign_epoch_start_on_becoming_leader(tmp_path: Path) -> None:
    """KAFKA-7415: the new epoch's start is known before its first append."""
    log = open_log(tmp_path / "t-0")
    append(log, 1, count=4)
    assert log.assign_epoch_start(3)
    assert not log.assign_epoch_start(3)
    assert epochs(log) == [(1, 0), (3, 4)]
    assert stored_epochs(log) == [(1, 0), (3, 4)]
    assert log.end_offset_for_epoch(1) == (1, 4)
    append(log, 3)
    assert epochs(log) == [(1, 0), (3, 4)]
    assert log.end_offset_for_epoch(3) == (3, 7)


# ---- the follower's side -----------------------------------------------------------------


def test_follower_append_keeps_the_leaders_offsets_and_epochs(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    for epoch in (0, 0, 1, 1, 1, 4):
        append(leader, epoch, producer_id=7, producer_epoch=0, base_sequence=0)
    follower = open_log(tmp_path / "follower" / "t-0")
    follow(follower, all_batches(leader))
    assert follower.log_end_offset == leader.log_end_offset == 18
    assert all_batches(follower) == all_batches(leader)  # byte for byte
    assert epochs(follower) == epochs(leader) == [(0, 0), (1, 6), (4, 15)]
    assert stored_epochs(follower) == epochs(leader)
    assert follower.last_fetched_epoch() == 4
    assert follower.producer_state.producers[7].last_offset == 17


def test_follower_append_result(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    append(leader, 2, count=3)
    append(leader, 2, count=2)
    follower = open_log(tmp_path / "follower" / "t-0")
    data = leader_chunk(leader, 0)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    result = follower.append_as_follower(data, checked.batches, wall_ms=T0)
    assert (result.base_offset, result.last_offset, result.record_count) == (0, 4, 5)
    assert result.size_bytes == len(data) and result.log_append_time_ms == -1
    assert result.max_timestamp == T0 + 2 and result.shallow_offset_of_max_timestamp == 2


def test_follower_takes_whole_batches_of_a_cut_chunk(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    for _ in range(5):
        append(leader, 3)
    chunk = leader_chunk(leader, 0)
    follower = open_log(tmp_path / "follower" / "t-0")
    size = r.parse_header(chunk).size_bytes
    taken = follow(follower, chunk[: size * 2 + 30])  # the leader cut the third batch
    assert taken == size * 2 and follower.log_end_offset == 6
    follow(follower, leader_chunk(leader, 6))
    assert all_batches(follower) == chunk


@pytest.mark.parametrize("first_offset", [0, 5])
def test_follower_append_never_starts_before_the_log_end_offset(
    tmp_path: Path, first_offset: int
) -> None:
    follower = open_log(tmp_path / "t-0")
    append(follower, 1, count=6)
    data = batch(2, base_offset=first_offset, partition_leader_epoch=2)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    with pytest.raises(NonContiguousAppendError, match="expected 6"):
        follower.append_as_follower(data, checked.batches, wall_ms=T0)
    assert follower.log_end_offset == 6 and epochs(follower) == [(1, 0)]


def test_follower_append_refuses_records_fetched_from_elsewhere(tmp_path: Path) -> None:
    """Fetched from 4, but the log now ends at 6 (a truncation or append raced the fetch):
    refused, though a compacted leader's batch may begin after the fetch offset."""
    follower = open_log(tmp_path / "t-0")
    append(follower, 1, count=6)
    data = batch(2, base_offset=7, partition_leader_epoch=2)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    with pytest.raises(NonContiguousAppendError, match="fetched from 4"):
        follower.append_as_follower(data, checked.batches, wall_ms=T0, fetch_offset=4)
    assert follower.log_end_offset == 6
    follower.append_as_follower(data, checked.batches, wall_ms=T0, fetch_offset=6)
    assert follower.log_end_offset == 9


def test_follower_append_takes_a_compacted_leaders_gaps(tmp_path: Path) -> None:
    follower = open_log(tmp_path / "t-0")
    data = batch(2, base_offset=0, partition_leader_epoch=1)
    data += batch(2, base_offset=3, partition_leader_epoch=1)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    follower.append_as_follower(data, checked.batches, wall_ms=T0, fetch_offset=0)
    assert follower.log_end_offset == 5 and epochs(follower) == [(1, 0)]
    # A batch starting inside the previous one is never taken.
    data = batch(2, base_offset=5, partition_leader_epoch=1)
    data += batch(2, base_offset=6, partition_leader_epoch=1)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    with pytest.raises(NonContiguousAppendError, match="base offset 6, expected 7"):
        follower.append_as_follower(data, checked.batches, wall_ms=T0)


def test_follower_append_replaces_an_epoch_begun_at_its_log_end(tmp_path: Path) -> None:
    """A former leader's unwritten epoch gives way to the batches of the new leader."""
    follower = open_log(tmp_path / "t-0")
    append(follower, 1, count=4)
    follower.assign_epoch_start(2)  # it led epoch 2 but wrote nothing
    data = batch(3, base_offset=4, partition_leader_epoch=1)
    data += batch(2, base_offset=7, partition_leader_epoch=3)
    checked = r.validate_batches(data, max_batch_bytes=1 << 20, from_client=False)
    follower.append_as_follower(data, checked.batches, wall_ms=T0)
    assert epochs(follower) == [(1, 0), (3, 7)]
    assert stored_epochs(follower) == [(1, 0), (3, 7)]


def test_follower_chunk_larger_than_a_segment_is_split(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0", replace(SMALL, segment_bytes=1 << 20))
    for index in range(80):
        append(leader, index // 20, count=4)
    chunk = leader_chunk(leader, 0)
    assert len(chunk) > 5 * SMALL.segment_bytes
    tiny_index = replace(SMALL, max_index_bytes=24, index_interval_bytes=0)
    for config in (SMALL, tiny_index):
        follower = open_log(tmp_path / f"follower-{config.max_index_bytes}" / "t-0", config)
        follow(follower, chunk)
        assert len(follower.segments) > 3
        assert all(s.size_bytes <= config.segment_bytes for s in follower.segments)
        assert all(s.offset_index.entries <= s.offset_index.max_entries for s in follower.segments)
        assert all_batches(follower) == chunk
        assert epochs(follower) == epochs(leader)
        follower.close()
        again = open_log(follower.directory, config, recovery_point=follower.log_end_offset)
        assert again.log_end_offset == 320 and all_batches(again) == chunk
        assert again.producer_state.snapshot() == follower.producer_state.snapshot()


def test_follower_flush_policy_counts_records(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    for _ in range(3):
        append(leader, 0, count=3)
    follower = open_log(tmp_path / "follower" / "t-0", replace(SMALL, flush_interval_messages=9))
    chunk = leader_chunk(leader, 0)
    size = r.parse_header(chunk).size_bytes
    follow(follower, chunk[:size])
    assert follower.recovery_point == 0
    follow(follower, chunk[size:])
    assert follower.recovery_point == 9


# ---- truncation --------------------------------------------------------------------------


def test_truncate_to_truncates_the_cache(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for epoch in (0, 0, 2, 2, 5, 5):
        append(log, epoch, count=4)
    assert epochs(log) == [(0, 0), (2, 8), (5, 16)]
    log.truncate_to(18)  # mid-batch: the batch from 16 goes, and epoch 5 with it
    assert log.log_end_offset == 16
    assert epochs(log) == stored_epochs(log) == [(0, 0), (2, 8)]
    log.truncate_to(12)
    assert epochs(log) == [(0, 0), (2, 8)]
    log.truncate_to(8)
    assert epochs(log) == stored_epochs(log) == [(0, 0)]
    append(log, 6)
    assert epochs(log) == [(0, 0), (6, 8)]


def test_truncate_to_the_log_end_drops_an_unwritten_epoch(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, 1, count=4)
    log.assign_epoch_start(2)
    log.truncate_to(4)
    assert log.log_end_offset == 4
    assert epochs(log) == stored_epochs(log) == [(1, 0)]


def test_truncate_fully_clears_the_cache(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, 1)
    append(log, 2)
    log.truncate_fully_and_start_at(40)
    assert epochs(log) == [] and stored_epochs(log) == []
    append(log, 3)
    assert epochs(log) == [(3, 40)]
    log.truncate_to(0)  # below the log start offset: fully again
    assert epochs(log) == []


def test_log_start_offset_truncates_the_cache_from_the_start(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for index in range(60):
        append(log, index // 20, count=4)  # epochs 0, 1, 2 from 0, 80, 160
    log.advance_log_start_offset(90)
    assert epochs(log) == stored_epochs(log) == [(1, 90), (2, 160)]
    log.enforce_retention(T0)  # segments wholly below 90 go
    assert log.log_start_offset == 90
    assert epochs(log) == [(1, 90), (2, 160)]
    log.advance_log_start_offset(log.log_end_offset)
    log.enforce_retention(T0)
    assert log.log_start_offset == log.log_end_offset == 240
    assert epochs(log) == stored_epochs(log) == [(2, 240)]


# ---- the checkpoint across reopen --------------------------------------------------------


def test_checkpoint_survives_a_clean_reopen(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for epoch in (0, 3, 3, 7):
        append(log, epoch)
    log.assign_epoch_start(9)
    log.flush()
    log.close()
    again = open_log(tmp_path / "t-0", recovery_point=12)
    # An epoch begun at the log end offset and never written is dropped on load (as Kafka's
    # truncateFromEnd(logEndOffset)); the broker records it again on becoming leader.
    assert epochs(again) == [(0, 0), (3, 3), (7, 9)]
    assert again.end_offset_for_epoch(3) == (3, 9)


def test_unclean_reopen_cuts_the_cache_to_the_recovered_log(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, 1, count=4)
    append(log, 2, count=4)
    append(log, 5, count=4)  # its bytes are torn by the crash
    active = log.active_segment.path(".log")
    os.truncate(active, active.stat().st_size - 7)
    again = open_log(tmp_path / "t-0", needs_recovery=True)
    assert again.log_end_offset == 8
    assert epochs(again) == stored_epochs(again) == [(1, 0), (2, 4)]


def test_unclean_reopen_assigns_the_epochs_of_recovered_batches(tmp_path: Path) -> None:
    """A checkpoint that lost an epoch (written without it) is topped up from the batches
    after the recovery point, as Kafka's segment recovery does."""
    log = open_log(tmp_path / "t-0")
    append(log, 1, count=4)
    append(log, 2, count=4)
    leader_epoch_checkpoint.write(log.files, log.directory, [EpochEntry(1, 0)])
    again = open_log(tmp_path / "t-0", needs_recovery=True, recovery_point=4)
    assert epochs(again) == stored_epochs(again) == [(1, 0), (2, 4)]


def test_missing_checkpoint_is_rebuilt_from_headers(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for index in range(30):
        append(log, index // 7, count=4)
    expected = epochs(log)
    assert len(log.segments) > 2 and len(expected) == 5
    log.close()
    (tmp_path / "t-0" / LEADER_EPOCH_CHECKPOINT).unlink()
    again = open_log(tmp_path / "t-0", recovery_point=120)
    assert epochs(again) == stored_epochs(again) == expected


def test_missing_checkpoint_rebuild_respects_the_log_start_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for index in range(6):
        append(log, index, count=4)
    log.close()
    (tmp_path / "t-0" / LEADER_EPOCH_CHECKPOINT).unlink()
    again = open_log(tmp_path / "t-0", recovery_point=24, log_start_offset=10)
    assert epochs(again) == [(2, 10), (3, 12), (4, 16), (5, 20)]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"1\n1\n0 0\n",  # unknown version
        b"0\n2\n0 0\n",  # count mismatch
        b"0\nx\n",
        b"0\n1\n0\n",
        b"0\n1\n0 zero\n",
        b"0\n1\n-1 0\n",
        b"0\n2\n3 0\n2 4\n",  # epochs not increasing
        b"0\n2\n2 4\n3 4\n",  # start offsets not increasing
        b"\xff\xfe\n",
    ],
)
def test_malformed_checkpoint_is_rebuilt_from_headers(tmp_path: Path, content: bytes) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, 1)
    append(log, 4)
    log.close()
    path = tmp_path / "t-0" / LEADER_EPOCH_CHECKPOINT
    path.write_bytes(content)
    with pytest.raises(LeaderEpochCheckpointError):
        leader_epoch_checkpoint.read(log.files, log.directory)
    again = open_log(tmp_path / "t-0", recovery_point=6)
    assert epochs(again) == [(1, 0), (4, 3)]
    assert path.read_text() == "0\n2\n1 0\n4 3\n"


def test_empty_checkpoint_beside_batches_is_rebuilt(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, 1)
    log.close()
    leader_epoch_checkpoint.write(log.files, log.directory, [])
    assert epochs(open_log(tmp_path / "t-0", recovery_point=3)) == [(1, 0)]


def test_checkpoint_format_round_trip(tmp_path: Path) -> None:
    entries = [EpochEntry(0, 0), EpochEntry(4, 17), EpochEntry(9, 1 << 40)]
    encoded = leader_epoch_checkpoint.encode(entries)
    assert encoded == b"0\n3\n0 0\n4 17\n9 1099511627776\n"
    assert leader_epoch_checkpoint.decode(encoded) == entries
    assert leader_epoch_checkpoint.decode(b"0\n0\n") == []
    assert leader_epoch_checkpoint.read(OS_FILES, tmp_path) is None
    leader_epoch_checkpoint.write(OS_FILES, tmp_path, entries)
    assert leader_epoch_checkpoint.read(OS_FILES, tmp_path) == entries
    assert [path.name for path in tmp_path.iterdir()] == [LEADER_EPOCH_CHECKPOINT]


# ---- model-based: the cache is always what the batch headers say -------------------------

log_operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 2), st.integers(1, 4)),
        st.tuples(st.just("follow"), st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("truncate"), st.integers(0, 40), st.just(0)),
        st.tuples(st.just("start"), st.integers(0, 40), st.just(0)),
        st.tuples(st.just("reopen"), st.booleans(), st.just(0)),
    ),
    max_size=25,
)


def run_operation(
    log: PartitionLog, kind: str, first: int, second: int, epoch: int
) -> PartitionLog:
    """One step; appends use ``epoch`` (never below an epoch already in the log: as in a
    real log, epochs rise with offsets)."""
    if kind == "append":
        append(log, epoch, count=second)
    elif kind == "follow":
        end = log.log_end_offset
        data = bytearray()
        for index in range(second):
            data += batch(2, base_offset=end + 2 * index, partition_leader_epoch=epoch + index)
        follow(log, data)
    elif kind == "truncate":
        log.truncate_to(first)
    elif kind == "start":
        log.advance_log_start_offset(min(first, log.log_end_offset))
    else:
        end, start = log.log_end_offset, log.log_start_offset
        log.flush()
        if first:  # clean
            log.close()
        return open_log(
            log.directory, recovery_point=end, log_start_offset=start, needs_recovery=not first
        )
    return log


def below_log_end(entries: tuple[EpochEntry, ...], log_end_offset: int) -> list[EpochEntry]:
    """An entry at the log end offset names an epoch with no batch yet (the log start moved
    to the end); loading drops it, as Kafka's truncateFromEnd(logEndOffset)."""
    return [entry for entry in entries if entry.start_offset < log_end_offset]


@settings(max_examples=40, deadline=None)
@given(log_operations)
def test_cache_always_matches_the_batch_headers(steps: list[tuple[str, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as root:
        log = open_log(Path(root) / "t-0")
        epoch = 0
        for kind, first, second in steps:
            if kind in ("append", "follow"):
                epoch += first  # a new leader's epoch, or the same one
            log = run_operation(log, kind, first, second, epoch)
            if kind == "follow":
                epoch += second - 1
            rebuilt = LeaderEpochCache()
            for header in headers(log):
                rebuilt.assign(header.partition_leader_epoch, header.base_offset)
            rebuilt.truncate_from_start(log.log_start_offset)
            end = log.log_end_offset
            assert below_log_end(log.leader_epoch_cache.entries, end) == below_log_end(
                rebuilt.entries, end
            ), (kind, first, second)
            assert stored_epochs(log) in (None, epochs(log))
        log.close()


# ---- high watermarks ---------------------------------------------------------------------

CONFIG = LogConfig(segment_bytes=2048, index_interval_bytes=256)


def test_high_watermark_checkpoint_round_trip(tmp_path: Path) -> None:
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    manager = LogManager.open(dirs, CONFIG)
    assert manager.high_watermarks() == {}
    for partition in range(4):
        log = manager.create("orders", partition)
        append(log, 0, count=partition + 1)
    manager.checkpoint()  # without high watermarks: no replication-offset-checkpoint
    assert not any((d / REPLICATION_OFFSET_CHECKPOINT).exists() for d in dirs)
    watermarks = {("orders", 0): 1, ("orders", 1): 2, ("orders", 3): 3, ("gone", 0): 9}
    manager.checkpoint(watermarks)
    assert all((d / REPLICATION_OFFSET_CHECKPOINT).exists() for d in dirs)
    manager.close()
    again = LogManager.open(dirs, CONFIG)
    assert again.high_watermarks() == {("orders", 0): 1, ("orders", 1): 2, ("orders", 3): 3}
    again.checkpoint({("orders", 0): 1, ("orders", 1): 2, ("orders", 2): 3, ("orders", 3): 4})
    again.delete_topic("orders")
    assert again.high_watermarks() == {}
    again.close()
    assert LogManager.open(dirs, CONFIG).high_watermarks() == {}


def test_high_watermark_checkpoint_unclean_start(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], CONFIG)
    append(manager.create("t", 0), 0, count=5)
    manager.checkpoint({("t", 0): 5})
    # kill -9: no close; the checkpoint was already durable
    again = LogManager.open([tmp_path], CONFIG)
    assert again.high_watermarks() == {("t", 0): 5}
    assert (tmp_path / REPLICATION_OFFSET_CHECKPOINT).read_text() == "0\n1\nt 0 5\n"
    log = again.get("t", 0)
    assert log is not None and epochs(log) == [(0, 0)]


def test_follower_append_in_the_known_epoch_leaves_the_checkpoint_alone(tmp_path: Path) -> None:
    follower = open_log(tmp_path / "t-0")
    follower.assign_epoch_start(3)
    inode = (follower.directory / LEADER_EPOCH_CHECKPOINT).stat().st_ino
    follow(follower, batch(2, base_offset=0, partition_leader_epoch=3))
    follow(follower, batch(2, base_offset=2, partition_leader_epoch=3))
    assert epochs(follower) == [(3, 0)]
    assert (follower.directory / LEADER_EPOCH_CHECKPOINT).stat().st_ino == inode
