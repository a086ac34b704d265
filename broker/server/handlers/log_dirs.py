"""DescribeLogDirs (35) and AlterReplicaLogDirs (34): this broker's log directories, the
partition logs in each, and moving a log to another of them (KIP-113).

As Kafka's ``ReplicaManager.describeLogDirs``: every directory of ``log.dirs`` is listed, with
the logs it holds of the partitions asked for (null topics: all of them) — their size on disk
(every segment's log file), the offset lag (the high watermark minus the log end offset, never
below 0; -1 for a log of a partition this broker no longer hosts), and ``is_future_key`` false
(a move is done at once: no "future" replica copies behind).  From v4 each directory carries
its volume's total and usable bytes (KIP-827).  Partitions this broker has no log for are left
out, as in Kafka.

AlterReplicaLogDirs moves a log by renaming its directory into the other log dir, between two
requests, so readers and writers go on with the same open files.  Kafka copies the log into a
"future" replica first; a rename needs both dirs on one file system (else the partition gets
KAFKA_STORAGE_ERROR and stays).  A path that is not one of ``log.dirs`` is LOG_DIR_NOT_FOUND;
an unknown partition UNKNOWN_TOPIC_OR_PARTITION; one this broker has no log of is
REPLICA_NOT_AVAILABLE (if it is one of its replicas, its log will be created in that dir, as
Kafka's preferred log dir).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from construct import Container

from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader
from client.protocol.messages.describe_log_dirs import UNKNOWN_VOLUME_BYTES

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

INVALID_OFFSET_LAG = -1
log = logging.getLogger("odradek.broker")


def _volume(log_dir: Path) -> tuple[ErrorCode, int, int]:
    try:
        usage = shutil.disk_usage(log_dir)
    except OSError:
        return ErrorCode.KAFKA_STORAGE_ERROR, UNKNOWN_VOLUME_BYTES, UNKNOWN_VOLUME_BYTES
    return ErrorCode.NONE, usage.total, usage.free


async def describe_log_dirs(server: BrokerServer, header: RequestHeader, request: Container) -> Any:
    wanted = (
        None
        if request.topics is None
        else {(entry.topic, index) for entry in request.topics for index in entry.partitions}
    )
    results = []
    for log_dir, hosted in server.logs.by_dir().items():
        topics: dict[str, list[dict[str, Any]]] = {}
        for key, log_ in hosted:
            if wanted is not None and key not in wanted:
                continue
            partition = server.partitions.get(key)
            lag = (
                INVALID_OFFSET_LAG
                if partition is None
                else max(partition.high_watermark - log_.log_end_offset, 0)
            )
            topics.setdefault(key[0], []).append(
                {
                    "partition_index": key[1],
                    "partition_size": log_.size_bytes,
                    "offset_lag": lag,
                    "is_future_key": False,
                }
            )
        error, total, usable = _volume(log_dir)
        results.append(
            {
                "error_code": error,
                "log_dir": str(log_dir),
                "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
                "total_bytes": total,
                "usable_bytes": usable,
            }
        )
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "results": results}


def _configured_dir(configured: dict[str, Path], path: str) -> Path | None:
    """As Kafka: an absolute path naming one of log.dirs (normalised, links not followed)."""
    return configured.get(os.path.normpath(path)) if os.path.isabs(path) else None


def _move(server: BrokerServer, log_dir: Path | None, topic: str, partition: int) -> ErrorCode:
    if log_dir is None:
        return ErrorCode.LOG_DIR_NOT_FOUND
    if server.logs.get(topic, partition) is None:
        described = server.image.topic(topic)
        registration = None if described is None else described.partitions.get(partition)
        if registration is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if server.node_id in registration.replicas:
            server.logs.move(topic, partition, log_dir)  # where it will be created
        return ErrorCode.REPLICA_NOT_AVAILABLE
    try:
        server.logs.move(topic, partition, log_dir)
    except OSError:
        log.exception("moving %s-%d to %s failed", topic, partition, log_dir)
        return ErrorCode.KAFKA_STORAGE_ERROR
    return ErrorCode.NONE


async def alter_replica_log_dirs(
    server: BrokerServer, header: RequestHeader, request: Container
) -> Any:
    configured = {str(directory): directory for directory in server.logs.log_dirs}
    # One destination per partition: a partition named under two paths goes to the last.
    wanted: dict[tuple[str, int], Path | None] = {}
    for entry in request.dirs:
        log_dir = _configured_dir(configured, entry.path)
        for topic in entry.topics:
            for partition in topic.partitions:
                wanted.pop((topic.name, partition), None)
                wanted[topic.name, partition] = log_dir
    results: dict[str, list[dict[str, Any]]] = {}
    for (topic_name, partition), log_dir in wanted.items():
        error = _move(server, log_dir, topic_name, partition)
        if error == ErrorCode.NONE:
            log.info("moved %s-%d to %s", topic_name, partition, log_dir)
        answer = {"partition_index": partition, "error_code": error}
        results.setdefault(topic_name, []).append(answer)
    return {
        "throttle_time_ms": 0,
        "results": [
            {"topic_name": name, "partitions": partitions} for name, partitions in results.items()
        ],
    }
