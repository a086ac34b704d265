"""AlterReplicaLogDirs (34, KIP-113, ``kafka-reassign-partitions --replica-alter-log-dirs``):
a broker with two log dirs moves a partition's log from one to the other while it is being
written and read; the moved log keeps its records, takes new ones, and is found there after a
restart.  Refusals: a path outside log.dirs, an unknown partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartitionReplica

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import create_topic, fetch, produce
from tests.integration.wire import RawConnection

ALTER_REPLICA_LOG_DIRS, DESCRIBE_LOG_DIRS = 34, 35


def _alter(bootstrap: str, path: str, topic: str, partitions: list[int], version: int = 2) -> Any:
    body = {"dirs": [{"path": path, "topics": [{"name": topic, "partitions": partitions}]}]}
    with RawConnection(bootstrap) as conn:
        response = conn.request(ALTER_REPLICA_LOG_DIRS, version, body)
    return {
        (topic.topic_name, p.partition_index): ErrorCode(p.error_code)
        for topic in response.results
        for p in topic.partitions
    }


def _placement(bootstrap: str) -> dict[tuple[str, int], str]:
    with RawConnection(bootstrap) as conn:
        response = conn.request(DESCRIBE_LOG_DIRS, 4, {"topics": None})
    return {
        (topic.name, p.partition_index): result.log_dir
        for result in response.results
        for topic in result.topics
        for p in topic.partitions
    }


def _two_dirs(kafka_broker_factory: BrokerFactory) -> tuple[dict[str, str], Path, Path]:
    base = kafka_broker_factory.new_data_dir()
    first, second = (base / "a").resolve(), (base / "b").resolve()
    return {"log.dirs": f"{first},{second}"}, first, second


def test_a_log_moves_to_the_other_dir_and_stays_there(
    kafka_broker_factory: BrokerFactory,
) -> None:
    settings, first, second = _two_dirs(kafka_broker_factory)
    broker: Any = kafka_broker_factory.start(settings)
    create_topic(broker.bootstrap, "moving", partitions=2)
    where = _placement(broker.bootstrap)
    source = Path(where["moving", 0])
    target = second if source == first else first
    end = produce(broker.bootstrap, "moving", 0, batches=4)

    assert _alter(broker.bootstrap, str(target), "moving", [0]) == {("moving", 0): ErrorCode.NONE}
    assert _placement(broker.bootstrap)["moving", 0] == str(target)
    assert (
        not (source / "moving-0").exists()
        and (target / "moving-0" / "00000000000000000000.log").exists()
    )
    # Same place again: nothing to do.
    assert _alter(broker.bootstrap, str(target), "moving", [0]) == {("moving", 0): ErrorCode.NONE}
    # Readers see every record, writers go on.
    error, _, bases = fetch(broker.bootstrap, "moving", 0, 0)
    assert error == ErrorCode.NONE and bases[0] == 0
    end_after = produce(broker.bootstrap, "moving", 0, batches=2)
    assert end_after == end + 10

    broker.stop()
    again: Any = kafka_broker_factory.start(settings)
    assert _placement(again.bootstrap)["moving", 0] == str(target)
    error, _, bases = fetch(again.bootstrap, "moving", 0, 0)
    assert error == ErrorCode.NONE and bases == list(range(0, end_after, 5))


def test_refusals(kafka_broker_factory: BrokerFactory) -> None:
    settings, first, second = _two_dirs(kafka_broker_factory)
    broker: Any = kafka_broker_factory.start(settings)
    create_topic(broker.bootstrap, "stays")
    elsewhere = str(first.parent / "not-a-log-dir")
    assert _alter(broker.bootstrap, elsewhere, "stays", [0]) == {
        ("stays", 0): ErrorCode.LOG_DIR_NOT_FOUND
    }
    assert _alter(broker.bootstrap, "relative/dir", "stays", [0], version=1) == {
        ("stays", 0): ErrorCode.LOG_DIR_NOT_FOUND
    }
    assert _alter(broker.bootstrap, str(second), "stays", [7]) == {
        ("stays", 7): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    }
    assert _alter(broker.bootstrap, str(second), "no/such", [0]) == {
        ("no/such", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    }
    # A partition named under two paths goes to the last one, answered once.
    here = Path(_placement(broker.bootstrap)["stays", 0])
    there = second if here == first else first
    body = {"dirs": [{"path": str(path), "topics": [{"name": "stays", "partitions": [0]}]}
                     for path in (here, there)]}  # fmt: skip
    with RawConnection(broker.bootstrap) as conn:
        response = conn.request(ALTER_REPLICA_LOG_DIRS, 2, body)
    assert [(t.topic_name, [p.error_code for p in t.partitions]) for t in response.results] == [
        ("stays", [ErrorCode.NONE])
    ]
    assert _placement(broker.bootstrap)["stays", 0] == str(there)


def test_kafka_python_moves_a_replica(kafka_broker_factory: BrokerFactory) -> None:
    settings, first, second = _two_dirs(kafka_broker_factory)
    broker: Any = kafka_broker_factory.start(settings)
    create_topic(broker.bootstrap, "kp-move")
    source = Path(_placement(broker.bootstrap)["kp-move", 0])
    target = second if source == first else first
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        replica = TopicPartitionReplica("kp-move", 0, 1)
        result = admin.alter_replica_log_dirs({replica: str(target)})
        assert [error.__name__ for error in result.values()] == ["NoError"]
    finally:
        admin.close()
    assert _placement(broker.bootstrap)["kp-move", 0] == str(target)
