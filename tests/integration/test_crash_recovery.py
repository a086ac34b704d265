"""kill -9 under load loses nothing acknowledged; restart recovers a consistent log."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch, decode_records, iterate_batches
from tests.integration.wire import RawConnection

TOPIC = "crash"
MAX_BATCHES = 5_000
KILL_AFTER_ACKS = 150


def _produce_body(records: bytes, partition: int) -> dict[str, Any]:
    return {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 5000,
        "topic_data": [
            {"name": TOPIC, "partition_data": [{"index": partition, "records": records}]}
        ],
    }


class Producer(threading.Thread):
    """Produces numbered batches until the broker dies; remembers what was acknowledged."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.acked: dict[int, dict[int, bytes]] = {p: {} for p in range(partitions)}
        self.count = 0
        self.enough = threading.Event()

    def run(self) -> None:
        try:
            with RawConnection(self.bootstrap) as conn:
                for sequence in range(MAX_BATCHES):
                    partition = sequence % self.partitions
                    values = [b"v-%d-%d" % (sequence, i) for i in range(3)]
                    response = conn.request(0, 8, _produce_body(build_batch(values), partition))
                    result = response.responses[0].partition_responses[0]
                    assert result.error_code == ErrorCode.NONE
                    for i, value in enumerate(values):
                        self.acked[partition][result.base_offset + i] = value
                    self.count += 1
                    if self.count >= KILL_AFTER_ACKS:
                        self.enough.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.enough.set()


def _read_all(conn: RawConnection, partition: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    offset = 0
    while True:
        body = {
            "replica_id": -1,
            "max_wait_ms": 0,
            "min_bytes": 0,
            "max_bytes": 1 << 24,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [
                {
                    "topic": TOPIC,
                    "partitions": [
                        {
                            "partition": partition,
                            "fetch_offset": offset,
                            "log_start_offset": -1,
                            "partition_max_bytes": 1 << 24,
                        }
                    ],
                }
            ],
            "forgotten_topics_data": [],
            "rack_id": "",
        }
        data = conn.request(1, 11, body).responses[0].partitions[0]
        assert data.error_code == ErrorCode.NONE
        records = data.records or b""
        if not records:
            return found
        for position, header in iterate_batches(records):
            batch = records[position : position + header.size_bytes]
            for record in decode_records(batch):
                assert record.offset not in found
                found[record.offset] = record.value or b""
            offset = header.next_offset


def _create_topic(bootstrap: str, partitions: int) -> None:
    with RawConnection(bootstrap) as conn:
        body = {
            "topics": [
                {
                    "name": TOPIC,
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [],
                }
            ],
            "timeout_ms": 5000,
        }
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE


def _kill_and_recover(factory: BrokerFactory, overrides: dict[str, str], data_dir: Path) -> None:
    partitions = 2
    broker = factory.start(overrides, subprocess=True, data_dir=data_dir)
    _create_topic(broker.bootstrap, partitions)
    producer = Producer(broker.bootstrap, partitions)
    producer.start()
    assert producer.enough.wait(60)
    broker.kill()  # type: ignore[union-attr]
    producer.join(30)
    assert not producer.is_alive()
    assert producer.count >= KILL_AFTER_ACKS
    restarted = factory.start(overrides, subprocess=True, data_dir=data_dir)
    with RawConnection(restarted.bootstrap) as conn:
        for partition in range(partitions):
            stored = _read_all(conn, partition)
            for offset, value in producer.acked[partition].items():
                assert stored.get(offset) == value, (partition, offset)
            # Offsets are dense from 0: nothing torn in the middle.
            assert sorted(stored) == list(range(len(stored)))
        # The recovered log accepts new writes at its end.
        response = conn.request(0, 8, _produce_body(build_batch([b"after"]), 0))
        result = response.responses[0].partition_responses[0]
        assert result.error_code == ErrorCode.NONE
        assert result.base_offset == len(_read_all(conn, 0)) - 1


def test_kill9_with_fsync_per_message(kafka_broker_factory: BrokerFactory) -> None:
    data_dir = kafka_broker_factory.new_data_dir()
    _kill_and_recover(kafka_broker_factory, {"log.flush.interval.messages": "1"}, data_dir)


def test_kill9_with_default_flush_policy(kafka_broker_factory: BrokerFactory) -> None:
    # Page cache durability: a killed process loses nothing the kernel already has.
    data_dir = kafka_broker_factory.new_data_dir()
    _kill_and_recover(kafka_broker_factory, {}, data_dir)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(20))
def test_kill9_rounds(kafka_broker_factory: BrokerFactory, round_: int) -> None:
    data_dir = kafka_broker_factory.new_data_dir()
    overrides = {"log.flush.interval.messages": "1"} if round_ % 2 else {}
    _kill_and_recover(kafka_broker_factory, overrides, data_dir)
