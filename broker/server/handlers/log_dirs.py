"""DescribeLogDirs (35): this broker's log directories and the partition logs in each (KIP-113).

As Kafka's ``ReplicaManager.describeLogDirs``: every directory of ``log.dirs`` is listed, with
the logs it holds of the partitions asked for (null topics: all of them) — their size on disk
(every segment's log file), the offset lag (the high watermark minus the log end offset, never
below 0; -1 for a log of a partition this broker no longer hosts), and ``is_future_key`` false
(no AlterReplicaLogDirs moves here).  From v4 each directory carries its volume's total and
usable bytes (KIP-827).  Partitions this broker has no log for are left out, as in Kafka.
"""

from __future__ import annotations

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
