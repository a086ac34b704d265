"""All partition logs of a broker across its ``log.dirs`` (Kafka's LogManager).

Each log dir holds "<topic>-<partition>" directories, the offset checkpoints (recovery
points, log start offsets, high watermarks) and, after a clean shutdown, the
``.kafka_cleanshutdown`` marker. Without the marker every log is recovered from its
recovery point. Deleted topics are first renamed to
"<topic>-<partition>.<uuid hex>-delete", so a crash mid-delete leaves a directory that the
next start removes rather than a half-deleted log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from broker.log.checkpoints import (
    CLEANER_OFFSET_CHECKPOINT,
    LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
    read_checkpoint,
    write_checkpoint,
)
from broker.log.config import LogConfig
from broker.log.files import OS_FILES, Files
from broker.log.partition_log import PartitionLog, parse_log_dir_name

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
DELETE_DIR_SUFFIX = "-delete"

TopicPartition = tuple[str, int]


class LogDirError(Exception):
    """The log dirs are inconsistent (the same partition in two of them)."""


class LogManager:
    """Owns every PartitionLog; the shell calls it for create, delete, flush and close."""

    def __init__(
        self,
        log_dirs: list[Path],
        default_config: LogConfig,
        topic_configs: Callable[[str], LogConfig] | None,
        files: Files,
    ) -> None:
        assert log_dirs, "log.dirs names at least one directory"
        self.log_dirs = log_dirs
        self.default_config = default_config
        self._topic_configs = topic_configs
        self.files = files
        self._logs: dict[TopicPartition, PartitionLog] = {}
        self._dir_of: dict[TopicPartition, Path] = {}
        self._high_watermarks: dict[TopicPartition, int] = {}
        # AlterReplicaLogDirs for a replica without a log yet: where to create it.
        self._preferred_dirs: dict[TopicPartition, Path] = {}

    @classmethod
    def open(
        cls,
        log_dirs: list[Path],
        default_config: LogConfig,
        topic_configs: Callable[[str], LogConfig] | None = None,
        *,
        files: Files = OS_FILES,
        wall_ms: int = 0,
    ) -> LogManager:
        """Load every partition log found; recover them if the last shutdown was unclean."""
        manager = cls(log_dirs, default_config, topic_configs, files)
        for log_dir in log_dirs:
            manager._load_dir(log_dir, wall_ms)
        return manager

    def config_for(self, topic: str) -> LogConfig:
        return self._topic_configs(topic) if self._topic_configs else self.default_config

    def _load_dir(self, log_dir: Path, wall_ms: int) -> None:
        self.files.mkdir(log_dir)
        marker = log_dir / CLEAN_SHUTDOWN_FILE
        clean = self.files.exists(marker)
        recovery_points = read_checkpoint(self.files, log_dir / RECOVERY_POINT_CHECKPOINT)
        start_offsets = read_checkpoint(self.files, log_dir / LOG_START_OFFSET_CHECKPOINT)
        high_watermarks = read_checkpoint(self.files, log_dir / REPLICATION_OFFSET_CHECKPOINT)
        cleaned = read_checkpoint(self.files, log_dir / CLEANER_OFFSET_CHECKPOINT)
        for name in self.files.listdir(log_dir):
            path = log_dir / name
            if not self.files.is_dir(path):
                continue
            if name.endswith(DELETE_DIR_SUFFIX):
                self.files.remove_tree(path)
                continue
            parsed = parse_log_dir_name(name)
            if parsed is None:
                continue
            if parsed in self._logs:
                raise LogDirError(f"{name} is in both {self._dir_of[parsed]} and {log_dir}")
            self._logs[parsed] = PartitionLog.open(
                path,
                self.config_for(parsed[0]),
                recovery_point=recovery_points.get(parsed, 0),
                log_start_offset=start_offsets.get(parsed, 0),
                needs_recovery=not clean,
                files=self.files,
                wall_ms=wall_ms,
            )
            self._dir_of[parsed] = log_dir
            if parsed in cleaned:
                log_ = self._logs[parsed]
                log_.first_dirty_offset = min(
                    max(cleaned[parsed], log_.log_start_offset), log_.log_end_offset
                )
            if parsed in high_watermarks:
                self._high_watermarks[parsed] = high_watermarks[parsed]
        if clean:
            # The marker vouches for the state at load only; a crash from now on must
            # recover, so it goes before anything is appended (Kafka deletes it on load).
            self.files.remove(marker)
            self.files.fsync_dir(log_dir)

    def high_watermarks(self) -> dict[TopicPartition, int]:
        """The high watermarks read from ``replication-offset-checkpoint`` at start (only
        for logs found), or as last given to ``checkpoint``; a partition without one is
        absent (Kafka then starts it at 0, bounded by the log end offset)."""
        return dict(self._high_watermarks)

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self._logs.get((topic, partition))

    def by_key(self) -> Mapping[TopicPartition, PartitionLog]:
        """Every open log by (topic, partition): a read-only view, nothing copied."""
        return MappingProxyType(self._logs)

    def by_dir(self) -> dict[Path, list[tuple[TopicPartition, PartitionLog]]]:
        """Every log dir (in ``log.dirs`` order) with the partition logs it holds, sorted."""
        hosted: dict[Path, list[tuple[TopicPartition, PartitionLog]]] = {
            log_dir: [] for log_dir in self.log_dirs
        }
        for key in sorted(self._logs):
            hosted[self._dir_of[key]].append((key, self._logs[key]))
        return hosted

    def logs(self) -> list[PartitionLog]:
        return list(self._logs.values())

    def create(
        self,
        topic: str,
        partition: int,
        config: LogConfig | None = None,
        *,
        wall_ms: int = 0,
        topic_id: uuid.UUID | None = None,
    ) -> PartitionLog:
        """The partition's log, created in the log dir holding the fewest logs if new (its
        ``partition.metadata`` names ``topic_id`` when given)."""
        existing = self.get(topic, partition)
        if existing is not None:
            return existing
        log_dir = self._preferred_dirs.pop((topic, partition), None) or min(
            self.log_dirs, key=lambda d: sum(1 for v in self._dir_of.values() if v == d)
        )
        directory = log_dir / f"{topic}-{partition}"
        assert parse_log_dir_name(directory.name) == (topic, partition), "invalid topic name"
        log = PartitionLog.open(
            directory,
            config or self.config_for(topic),
            recovery_point=0,
            log_start_offset=0,
            needs_recovery=False,
            files=self.files,
            wall_ms=wall_ms,
        )
        if topic_id is not None:
            log.set_topic_id(topic_id)
        log.flush()
        self.files.fsync_dir(log_dir)
        self._logs[(topic, partition)] = log
        self._dir_of[(topic, partition)] = log_dir
        return log

    def dir_of(self, topic: str, partition: int) -> Path | None:
        """The log dir holding the partition's log (None: no log here)."""
        return self._dir_of.get((topic, partition))

    def move(self, topic: str, partition: int, log_dir: Path) -> None:
        """AlterReplicaLogDirs: put the partition's log in ``log_dir`` (one of ``log.dirs``);
        a partition without a log yet is created there.  The checkpoints of every dir are
        written again, so the moved log keeps its recovery point and high watermark.  Raises
        OSError if the directory cannot be moved (the log stays where it was)."""
        assert log_dir in self.log_dirs, log_dir
        key = (topic, partition)
        log = self._logs.get(key)
        if log is None:
            self._preferred_dirs[key] = log_dir
            return
        source = self._dir_of[key]
        if source == log_dir:
            return
        # Both dirs' checkpoints name the partition before the rename (a dir's entries for a
        # log it does not hold are ignored at load), so a crash on either side of it keeps
        # the log start offset, recovery point and high watermark.
        self.checkpoint(self._high_watermarks, also={key: log_dir})
        try:
            log.relocate(log_dir / log.directory.name)
        finally:
            if log.directory.parent == log_dir:
                self._dir_of[key] = log_dir
            self.checkpoint(self._high_watermarks)

    def delete_topic(self, topic: str) -> list[int]:
        """Delete every partition of ``topic``; returns the partitions deleted."""
        partitions = sorted(p for t, p in self._logs if t == topic)
        self.delete_partitions([(topic, partition) for partition in partitions])
        return partitions

    def delete_partition(self, topic: str, partition: int) -> bool:
        """Delete one partition's log (a stale one: see ``PartitionLog.topic_id``)."""
        return bool(self.delete_partitions([(topic, partition)]))

    def delete_partitions(self, keys: Iterable[TopicPartition]) -> list[TopicPartition]:
        """Delete the logs of ``keys`` that exist, then write the checkpoints once; returns the
        ones deleted."""
        keys = list(keys)
        for key in keys:
            self._preferred_dirs.pop(key, None)
        deleted = [key for key in keys if key in self._logs]
        for key in deleted:
            self._delete(key)
        if deleted:
            # The high watermarks go too (the last ones given: lower than now, so safe), or a
            # topic created again under the name would start from the old one's.
            self.checkpoint(self._high_watermarks)
        return deleted

    def _delete(self, key: TopicPartition) -> None:
        log = self._logs.pop(key)
        log_dir = self._dir_of.pop(key)
        self._high_watermarks.pop(key, None)
        log.close()
        doomed = log_dir / f"{key[0]}-{key[1]}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}"
        self.files.rename(log.directory, doomed)
        self.files.fsync_dir(log_dir)
        self.files.remove_tree(doomed)

    def checkpoint(
        self,
        high_watermarks: Mapping[TopicPartition, int] | None = None,
        *,
        also: Mapping[TopicPartition, Path] | None = None,
    ) -> None:
        """Write the recovery-point, log-start-offset and (for compacted logs) cleaner-offset
        checkpoints in every log dir, and
        with ``high_watermarks`` the replication-offset-checkpoint too (entries for
        partitions without a log here are left out).  ``also``: partitions to list in one
        more dir as well (a log about to move there)."""
        if high_watermarks is not None:
            self._high_watermarks = {
                key: offset for key, offset in high_watermarks.items() if key in self._logs
            }
        extra = also or {}
        for log_dir in self.log_dirs:
            here = [
                (key, log)
                for key, log in self._logs.items()
                if self._dir_of[key] == log_dir or extra.get(key) == log_dir
            ]
            write_checkpoint(
                self.files,
                log_dir / RECOVERY_POINT_CHECKPOINT,
                {key: log.recovery_point for key, log in here},
            )
            write_checkpoint(
                self.files,
                log_dir / LOG_START_OFFSET_CHECKPOINT,
                {key: log.log_start_offset for key, log in here},
            )
            compacted = {key: log.first_dirty_offset for key, log in here if log.compacted}
            if compacted or self.files.exists(log_dir / CLEANER_OFFSET_CHECKPOINT):
                write_checkpoint(self.files, log_dir / CLEANER_OFFSET_CHECKPOINT, compacted)
            if high_watermarks is not None:
                write_checkpoint(
                    self.files,
                    log_dir / REPLICATION_OFFSET_CHECKPOINT,
                    {
                        key: self._high_watermarks[key]
                        for key, _ in here
                        if key in self._high_watermarks
                    },
                )

    def flush_all(self) -> None:
        for log in self._logs.values():
            log.flush()

    def close(self) -> None:
        """Flush, checkpoint, close, then mark each log dir cleanly shut down."""
        self.flush_all()
        self.checkpoint()
        for log in self._logs.values():
            log.close()
        for log_dir in self.log_dirs:
            marker = self.files.open(log_dir / CLEAN_SHUTDOWN_FILE)
            marker.fsync()
            marker.close()
            self.files.fsync_dir(log_dir)
        self._logs.clear()
        self._dir_of.clear()
