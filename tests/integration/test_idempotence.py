"""Idempotent produce: a retried batch gets its original offsets; state survives kill -9."""

from __future__ import annotations

from typing import Any

from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

TOPIC = "idem"


def _produce(
    conn: RawConnection, producer_id: int, epoch: int, sequence: int, values: list[bytes]
) -> Any:
    batch = build_batch(
        values, producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence
    )
    body = {
        "transactional_id": None,
        "acks": -1,
        "timeout_ms": 1000,
        "topic_data": [{"name": TOPIC, "partition_data": [{"index": 0, "records": batch}]}],
    }
    return conn.request(0, 8, body).responses[0].partition_responses[0]


def _setup(conn: RawConnection) -> int:
    body = {
        "topics": [
            {
                "name": TOPIC,
                "num_partitions": 1,
                "replication_factor": 1,
                "assignments": [],
                "configs": [],
            }
        ],
        "timeout_ms": 1000,
    }
    assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE
    response = conn.request(22, 1, {"transactional_id": None, "transaction_timeout_ms": 1000})
    return int(response.producer_id)


def test_retries_are_deduplicated_and_gaps_refused(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    with RawConnection(broker.bootstrap) as conn:
        pid = _setup(conn)
        first = _produce(conn, pid, 0, 0, [b"a", b"b"])
        second = _produce(conn, pid, 0, 2, [b"c"])
        assert (first.error_code, first.base_offset) == (ErrorCode.NONE, 0)
        assert (second.error_code, second.base_offset) == (ErrorCode.NONE, 2)
        # A retry of either batch: no error, the original offsets, nothing appended.
        assert _produce(conn, pid, 0, 0, [b"a", b"b"]).base_offset == 0
        assert _produce(conn, pid, 0, 2, [b"c"]).base_offset == 2
        gap = _produce(conn, pid, 0, 9, [b"z"])
        assert gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert _produce(conn, pid, 0, 3, [b"d"]).base_offset == 3
        body = {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [{"name": TOPIC, "partitions": [{"partition_index": 0, "timestamp": -1}]}],
        }
        assert conn.request(2, 5, body).topics[0].partitions[0].offset == 4


def test_producer_state_survives_kill9(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start(subprocess=True)
    with RawConnection(broker.bootstrap) as conn:
        pid = _setup(conn)
        for sequence in range(7):
            assert _produce(conn, pid, 0, sequence, [b"v%d" % sequence]).base_offset == sequence
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(subprocess=True, data_dir=broker.data_dir)
    with RawConnection(again.bootstrap) as conn:
        # The last five batches are still known after the crash: retries are duplicates.
        for sequence in range(2, 7):
            retry = _produce(conn, pid, 0, sequence, [b"v%d" % sequence])
            assert (retry.error_code, retry.base_offset) == (ErrorCode.NONE, sequence)
        assert _produce(conn, pid, 0, 7, [b"v7"]).base_offset == 7
