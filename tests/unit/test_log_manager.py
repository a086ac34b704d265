"""LogManager and checkpoint files: layout, clean shutdown, recovery, delete topic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.log.checkpoints import (
    CheckpointError,
    decode_checkpoint,
    encode_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from broker.log.config import LogConfig
from broker.log.files import OS_FILES
from broker.log.log_manager import CLEAN_SHUTDOWN_FILE, LogDirError, LogManager
from broker.log.partition_log import PartitionLog
from client.protocol import records as r

CONFIG = LogConfig(segment_bytes=2048, index_interval_bytes=256)
T0 = 1_700_000_000_000


def append(log: PartitionLog, count: int = 2) -> None:
    data = bytearray(r.build_batch([b"value" * 10] * count, timestamp_ms=T0))
    log.append(data, r.validate_batches(data, max_batch_bytes=1 << 20).batches,
               leader_epoch=0, wall_ms=T0)  # fmt: skip


def test_checkpoint_round_trip_and_format(tmp_path: Path) -> None:
    offsets = {("orders", 0): 10, ("orders", 1): 0, ("a-b.c", 12): 99}
    path = tmp_path / "recovery-point-offset-checkpoint"
    write_checkpoint(OS_FILES, path, offsets)
    assert read_checkpoint(OS_FILES, path) == offsets
    assert path.read_text() == "0\n3\na-b.c 12 99\norders 0 10\norders 1 0\n"
    assert not (tmp_path / "recovery-point-offset-checkpoint.tmp").exists()
    assert read_checkpoint(OS_FILES, tmp_path / "missing") == {}
    assert decode_checkpoint(encode_checkpoint({})) == {}


@pytest.mark.parametrize(
    "content",
    [b"", b"1\n0\n", b"0\n2\nt 0 1\n", b"0\nx\n", b"0\n1\nt zero 1\n", b"0\n1\nt 0\n", b"\xff\n"],
)
def test_corrupt_checkpoint_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "log-start-offset-checkpoint"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        read_checkpoint(OS_FILES, path)


def test_create_append_close_reopen(tmp_path: Path) -> None:
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    manager = LogManager.open(dirs, CONFIG)
    for partition in range(4):
        log = manager.create("orders", partition)
        for _ in range(partition * 10):
            append(log)
    manager.get("orders", 3).advance_log_start_offset(7)  # type: ignore[union-attr]
    assert {log.directory.parent for log in manager.logs()} == set(dirs)
    manager.close()
    for log_dir in dirs:
        assert (log_dir / CLEAN_SHUTDOWN_FILE).exists()
        assert (log_dir / "recovery-point-offset-checkpoint").exists()
    again = LogManager.open(dirs, CONFIG)
    assert not any((d / CLEAN_SHUTDOWN_FILE).exists() for d in dirs)
    for partition in range(4):
        log = again.get("orders", partition)
        assert log is not None
        assert log.log_end_offset == partition * 20
        assert log.recovery_point == partition * 20
    assert again.get("orders", 3).log_start_offset == 7  # type: ignore[union-attr]
    assert again.get("orders", 9) is None


def test_unclean_shutdown_recovers_torn_tail(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], CONFIG)
    log = manager.create("t", 0)
    for _ in range(5):
        append(log)
    manager.checkpoint()
    for _ in range(5):
        append(log)
    active = log.active_segment.path(".log")
    size = active.stat().st_size
    # kill -9: no close, no marker; the last batch is torn
    os.truncate(active, size - 5)
    again = LogManager.open([tmp_path], CONFIG)
    recovered = again.get("t", 0)
    assert recovered is not None
    assert recovered.log_end_offset == 18
    assert recovered.recovery_point == 18


def test_delete_topic(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], CONFIG)
    for partition in range(3):
        append(manager.create("gone", partition))
    append(manager.create("kept", 0))
    assert manager.delete_topic("gone") == [0, 1, 2]
    assert manager.get("gone", 0) is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["kept-0"]
    # nothing was flushed, so the recovery point is still 0
    assert read_checkpoint(OS_FILES, tmp_path / "recovery-point-offset-checkpoint") == {
        ("kept", 0): 0
    }
    (tmp_path / "gone-1.0123456789abcdef0123456789abcdef-delete").mkdir()
    manager.close()
    again = LogManager.open([tmp_path], CONFIG)
    assert [(log.topic, log.partition) for log in again.logs()] == [("kept", 0)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["kept-0"]


def test_topic_configs_and_duplicate_dirs(tmp_path: Path) -> None:
    special = LogConfig(segment_bytes=100_000)
    manager = LogManager.open(
        [tmp_path / "a"], CONFIG, lambda topic: special if topic == "big" else CONFIG
    )
    assert manager.create("big", 0).config == special
    assert manager.create("small", 0).config == CONFIG
    manager.close()
    (tmp_path / "b" / "big-0").mkdir(parents=True)
    with pytest.raises(LogDirError):
        LogManager.open([tmp_path / "a", tmp_path / "b"], CONFIG)


def test_move_keeps_the_log_its_checkpoints_and_open_files(tmp_path: Path) -> None:
    first, second = tmp_path / "d1", tmp_path / "d2"
    manager = LogManager.open([first, second], CONFIG)
    log = manager.create("orders", 0)
    for _ in range(30):  # several segments
        append(log)
    log.advance_log_start_offset(4)
    manager.checkpoint({("orders", 0): 50})
    source = manager.dir_of("orders", 0)
    target = second if source == first else first
    manager.move("orders", 0, target)
    assert manager.dir_of("orders", 0) == target and log.directory == target / "orders-0"
    assert not (source / "orders-0").exists()
    append(log)  # the open segment goes on; a new one is made in the new place
    log.roll(wall_ms=T0)
    append(log)
    assert log.log_end_offset == 64
    assert read_checkpoint(OS_FILES, target / "replication-offset-checkpoint") == {
        ("orders", 0): 50
    }
    assert ("orders", 0) not in read_checkpoint(
        OS_FILES, source / "recovery-point-offset-checkpoint"
    )
    # Not created yet: it will be, where asked.
    manager.move("orders", 1, source)
    assert manager.create("orders", 1).directory == source / "orders-1"
    manager.close()
    again = LogManager.open([first, second], CONFIG)
    moved = again.get("orders", 0)
    assert moved is not None and moved.directory.parent == target
    assert (moved.log_start_offset, moved.log_end_offset, moved.recovery_point) == (4, 64, 64)
    assert again.high_watermarks()[("orders", 0)] == 50
