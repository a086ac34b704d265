"""partition.metadata: Kafka's format, and the log manager writing and reading it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from broker.log import partition_metadata
from broker.log.config import LogConfig
from broker.log.files import OS_FILES
from broker.log.log_manager import LogManager


def test_kafka_text_form_of_a_topic_id() -> None:
    one = uuid.UUID(int=1)
    assert partition_metadata.topic_id_text(one) == "AAAAAAAAAAAAAAAAAAAAAQ"
    assert partition_metadata.encode(one) == b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n"
    some = uuid.UUID("7c4f1d0e-3a6b-4f5e-9d2c-1b0a9e8f7d6c")
    assert partition_metadata.decode(partition_metadata.encode(some)) == some


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"version: 1\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n",
        b"version: 0\n",
        b"version: 0\ntopic_id: not-an-id\n",
        b"version: 0\ntopic_id: AAAA\n",
        b"\xff\xfe",
    ],
)
def test_malformed_files_are_refused(data: bytes) -> None:
    with pytest.raises(partition_metadata.PartitionMetadataError):
        partition_metadata.decode(data)


def test_the_log_manager_keeps_the_topic_id(tmp_path: Path) -> None:
    topic_id = uuid.uuid4()
    manager = LogManager.open([tmp_path], LogConfig())
    created = manager.create("t", 0, topic_id=topic_id)
    assert created.topic_id == topic_id
    assert manager.create("u", 0).topic_id is None  # none given: none written
    manager.close()

    reopened = LogManager.open([tmp_path], LogConfig())
    first, second = reopened.get("t", 0), reopened.get("u", 0)
    assert first is not None and second is not None
    assert (first.topic_id, second.topic_id) == (topic_id, None)
    later = uuid.uuid4()
    second.set_topic_id(later)
    assert partition_metadata.read(OS_FILES, tmp_path / "u-0") == later
    assert reopened.delete_partition("t", 0) and not reopened.delete_partition("t", 0)
    assert reopened.get("t", 0) is None and not (tmp_path / "t-0").exists()
    reopened.close()


def test_a_damaged_file_reads_as_unknown(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], LogConfig())
    manager.create("t", 0, topic_id=uuid.uuid4())
    manager.close()
    (tmp_path / "t-0" / partition_metadata.PARTITION_METADATA_FILE).write_bytes(b"garbage")
    reopened = LogManager.open([tmp_path], LogConfig())
    log_ = reopened.get("t", 0)
    assert log_ is not None and log_.topic_id is None
    reopened.close()
