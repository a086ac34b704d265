"""The controller's append-only metadata log: one record per line, each line CRC-checked.

Format: ``<crc32c as 8 hex digits> <json>\\n``.  A torn or corrupt tail (kill -9 during a
write) is truncated at the last whole, valid line on open, so the log replays to the state of
the last record that reached the disk.  Every append is fsynced before it returns: metadata
changes are rare and must survive a crash once acknowledged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import crc32c

from broker.log.checkpoints import CheckpointError, read_small_file, write_file_atomically
from broker.log.files import OS_FILES

FILE_NAME = "cluster-metadata.log"


class MetadataLog:
    """Reads all records on open; appends durably."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self.records, valid_bytes = _read_valid(self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the log's life
        if self._file.tell() != valid_bytes:
            self._file.truncate(valid_bytes)
            os.fsync(self._file.fileno())

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        lines = bytearray()
        for record in records:
            body = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
            lines += b"%08x " % crc32c.crc32c(body) + body + b"\n"
        self._file.write(lines)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records.extend(records)

    def close(self) -> None:
        self._file.close()


def _read_valid(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    position = 0
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            break
        line = data[position:end]
        record = _parse_line(line)
        if record is None:
            break
        records.append(record)
        position = end + 1
    return records, position


def _parse_line(line: bytes) -> dict[str, Any] | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != crc32c.crc32c(body):
            return None
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


QUORUM_STATE_FILE = "quorum-state"


def next_leader_epoch(directory: Path, node_id: int) -> int:
    """Take the controller's leadership for a new epoch: one more than the epoch recorded in
    ``quorum-state`` (Kafka's file of the KRaft election state; 0 if absent or unreadable), and
    record it before returning, so an epoch is never handed out twice across restarts."""
    path = directory / QUORUM_STATE_FILE
    previous = 0
    try:
        data = read_small_file(OS_FILES, path)
        if data is not None:
            previous = int(json.loads(data)["leaderEpoch"])
    except (CheckpointError, ValueError, KeyError, TypeError):
        previous = 0  # only DescribeQuorum reports it: no vote depends on it here
    epoch = max(previous, 0) + 1
    state = {
        "leaderId": node_id,
        "leaderEpoch": epoch,
        "votedId": -1,
        "appliedOffset": 0,
        "currentVoters": [{"voterId": node_id}],
        "data_version": 0,
    }
    write_file_atomically(OS_FILES, path, json.dumps(state, separators=(",", ":")).encode())
    return epoch
