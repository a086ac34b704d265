"""``partition.metadata`` in a partition directory (Kafka's PartitionMetadataFile, KIP-516).

Two lines, "version: 0" and "topic_id: <id>", the id in Kafka's text form (the 16 bytes in
URL-safe base64 without padding).  It ties a log directory, named only by topic name and
partition, to one incarnation of the topic: a topic deleted and created again under the same
name while a broker was down has a new id, so the broker knows its old log is stale and must
not serve it as the new topic's.  Written atomically (tmp file, fsync, rename, fsync the dir).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from pathlib import Path

from broker.log.checkpoints import CheckpointError, read_small_file, write_file_atomically
from broker.log.files import Files

PARTITION_METADATA_FILE = "partition.metadata"
VERSION = 0


class PartitionMetadataError(CheckpointError):
    """A partition.metadata file that does not parse."""


def topic_id_text(topic_id: uuid.UUID) -> str:
    """Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, no padding."""
    return base64.urlsafe_b64encode(topic_id.bytes).decode("ascii").rstrip("=")


def parse_topic_id(text: str) -> uuid.UUID:
    """The inverse of :func:`topic_id_text`; ValueError when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not a topic id: {text!r}") from error
    if len(raw) != 16:
        raise ValueError(f"not a topic id: {text!r}")
    return uuid.UUID(bytes=raw)


def encode(topic_id: uuid.UUID) -> bytes:
    return f"version: {VERSION}\ntopic_id: {topic_id_text(topic_id)}\n".encode("ascii")


def decode(data: bytes, source: str = PARTITION_METADATA_FILE) -> uuid.UUID:
    fields: dict[str, str] = {}
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as error:
        raise PartitionMetadataError(f"{source}: not text") from error
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields[key.strip()] = value.strip()
    if fields.get("version") != str(VERSION) or "topic_id" not in fields:
        raise PartitionMetadataError(f"{source}: expected version {VERSION} and a topic_id")
    try:
        return parse_topic_id(fields["topic_id"])
    except ValueError as error:
        raise PartitionMetadataError(f"{source}: {error}") from error


def write(files: Files, directory: Path, topic_id: uuid.UUID) -> None:
    write_file_atomically(files, directory / PARTITION_METADATA_FILE, encode(topic_id))


def read(files: Files, directory: Path) -> uuid.UUID | None:
    """The topic id the log belongs to; None for a log written before the file existed."""
    path = directory / PARTITION_METADATA_FILE
    data = read_small_file(files, path)
    return None if data is None else decode(data, str(path))
