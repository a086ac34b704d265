"""DescribeLogDirs (35) on a broker with two log dirs: every directory listed, each partition
log in the one that holds it with its size on disk, filters, v0-v4 over the wire, and
kafka-python's ``describe_log_dirs`` reading the same answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from broker.testing import BrokerFactory, InProcessBroker, ProcessBroker
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection

DESCRIBE_LOG_DIRS = 35
TOPIC = "dirs"
PARTITIONS = 4
RECORDS = 10


@pytest.fixture
def two_dir_broker(
    kafka_broker_factory: BrokerFactory, tmp_path: Path
) -> Iterator[tuple[InProcessBroker | ProcessBroker, list[Path]]]:
    dirs = [(tmp_path / name).resolve() for name in ("first", "second")]
    broker = kafka_broker_factory.start(
        {"log.dirs": ",".join(str(d) for d in dirs)}, data_dir=dirs[0]
    )
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for index in range(RECORDS):
            producer.send(TOPIC, b"x" * 100, partition=index % 2)
        producer.flush(timeout=10)
        producer.close()
        yield broker, dirs
    finally:
        admin.close()


def _logged(results: list[Any]) -> dict[tuple[str, int], tuple[str, int, int]]:
    """(topic, partition) -> (log dir, size, offset lag) over every directory's topics."""
    found: dict[tuple[str, int], tuple[str, int, int]] = {}
    for result in results:
        assert result.error_code == ErrorCode.NONE
        for topic in result.topics:
            for p in topic.partitions:
                key = (topic.name, p.partition_index)
                assert key not in found, f"{key} in two log dirs"
                assert p.is_future_key is False
                found[key] = (result.log_dir, p.partition_size, p.offset_lag)
    return found


def _size_on_disk(log_dir: str, partition: int) -> int:
    return sum(f.stat().st_size for f in (Path(log_dir) / f"{TOPIC}-{partition}").glob("*.log"))


def test_every_dir_and_partition_with_its_size(
    two_dir_broker: tuple[InProcessBroker | ProcessBroker, list[Path]],
) -> None:
    broker, dirs = two_dir_broker
    with RawConnection(broker.bootstrap) as conn:
        answer = conn.request(DESCRIBE_LOG_DIRS, 4, {"topics": None})
        assert (answer.error_code, answer.throttle_time_ms) == (ErrorCode.NONE, 0)
        assert [result.log_dir for result in answer.results] == [str(d) for d in dirs]
        for result in answer.results:
            assert 0 <= result.usable_bytes <= result.total_bytes
        logged = {key: value for key, value in _logged(answer.results).items() if key[0] == TOPIC}
        assert sorted(logged) == [(TOPIC, p) for p in range(PARTITIONS)]
        assert {log_dir for log_dir, _, _ in logged.values()} == {str(d) for d in dirs}
        for (_, partition), (log_dir, size, lag) in logged.items():
            assert (size, lag) == (_size_on_disk(log_dir, partition), 0)
            assert (size > 0) == (partition < 2)

        # Only what is asked for; a partition or topic without a log here is left out.
        asked = [{"topic": TOPIC, "partitions": [1, 99]}, {"topic": "absent", "partitions": [0]}]
        filtered = conn.request(DESCRIBE_LOG_DIRS, 4, {"topics": asked})
        assert len(filtered.results) == len(dirs)
        assert list(_logged(filtered.results)) == [(TOPIC, 1)]

        # Older versions: no top-level error code before v3, no byte counts before v4.
        for version in (0, 1, 2, 3):
            old = conn.request(DESCRIBE_LOG_DIRS, version, {"topics": asked})
            assert list(_logged(old.results)) == [(TOPIC, 1)]
            assert ("error_code" in old) == (version >= 3)
            assert all("total_bytes" not in result for result in old.results)


def test_kafka_python_describe_log_dirs(
    two_dir_broker: tuple[InProcessBroker | ProcessBroker, list[Path]],
) -> None:
    broker, dirs = two_dir_broker
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        (answer,) = admin.describe_log_dirs({TOPIC: [0]})
    finally:
        admin.close()
    assert [result["log_dir"] for result in answer["log_dirs"]] == [str(d) for d in dirs]
    entries = [
        (result["log_dir"], topic["name"], p["partition_index"], p["partition_size"])
        for result in answer["log_dirs"]
        for topic in result["topics"]
        for p in topic["partitions"]
    ]
    ((log_dir, name, partition, size),) = entries
    assert (name, partition, size) == (TOPIC, 0, _size_on_disk(log_dir, 0))
    assert size > 0
