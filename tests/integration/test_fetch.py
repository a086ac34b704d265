"""Fetch sizing (KIP-74, the per-partition soft cap) and long polling, at the wire level."""

from __future__ import annotations

import threading
from typing import Any

from broker.server.handlers.fetch import PARTITION_READ_SOFT_CAP_BYTES
from broker.testing import BrokerFactory
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch, iterate_batches
from tests.integration.wire import RawConnection

TOPIC = "sizes"
BIG = PARTITION_READ_SOFT_CAP_BYTES * 2


def _setup(conn: RawConnection, partitions: int = 2) -> None:
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
        "timeout_ms": 1000,
    }
    assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE


def _produce(conn: RawConnection, partition: int, values: list[bytes]) -> None:
    body = {
        "transactional_id": None,
        "acks": 1,
        "timeout_ms": 1000,
        "topic_data": [
            {
                "name": TOPIC,
                "partition_data": [{"index": partition, "records": build_batch(values)}],
            }
        ],
    }
    assert conn.request(0, 8, body).responses[0].partition_responses[0].error_code == 0


def _fetch(
    conn: RawConnection,
    partition_max: int,
    *,
    max_bytes: int = 1 << 30,
    min_bytes: int = 0,
    max_wait_ms: int = 0,
    partitions: tuple[int, ...] = (0, 1),
) -> Any:
    body = {
        "replica_id": -1,
        "max_wait_ms": max_wait_ms,
        "min_bytes": min_bytes,
        "max_bytes": max_bytes,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic": TOPIC,
                "partitions": [
                    {
                        "partition": p,
                        "fetch_offset": 0,
                        "log_start_offset": -1,
                        "partition_max_bytes": partition_max,
                    }
                    for p in partitions
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    return {p.partition_index: p for p in conn.request(1, 11, body).responses[0].partitions}


def _batches(partition: Any) -> int:
    return sum(1 for _ in iterate_batches(partition.records or b""))


def test_large_batches_within_limits_are_returned_for_every_partition(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start({"message.max.bytes": str(4 * BIG)})
    with RawConnection(broker.bootstrap) as conn:
        _setup(conn)
        for partition in (0, 1):
            _produce(conn, partition, [b"x" * BIG])
        both = _fetch(conn, partition_max=4 * BIG)
        assert [_batches(both[p]) for p in (0, 1)] == [1, 1]
        # Over the client's own per-partition limit: only the first partition gets its batch
        # (KIP-74: the first non-empty partition always makes progress).
        limited = _fetch(conn, partition_max=BIG // 2)
        assert [_batches(limited[p]) for p in (0, 1)] == [1, 0]
        assert limited[1].error_code == ErrorCode.NONE and limited[1].high_watermark == 1


def test_soft_cap_limits_each_partition_share(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    with RawConnection(broker.bootstrap) as conn:
        _setup(conn)
        chunk = PARTITION_READ_SOFT_CAP_BYTES // 4
        for _ in range(12):
            _produce(conn, 0, [b"y" * chunk])
        first = _fetch(conn, partition_max=1 << 30, partitions=(0,))[0]
        assert 0 < len(first.records) <= PARTITION_READ_SOFT_CAP_BYTES
        assert first.high_watermark == 12


def test_response_max_bytes_stops_after_the_first_partition(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start()
    with RawConnection(broker.bootstrap) as conn:
        _setup(conn)
        for partition in (0, 1):
            _produce(conn, partition, [b"z" * 1000])
        response = _fetch(conn, partition_max=1 << 20, max_bytes=10)
        assert [_batches(response[p]) for p in (0, 1)] == [1, 0]


def test_long_poll_waits_for_min_bytes_then_answers(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    with RawConnection(broker.bootstrap) as setup:
        _setup(setup)
    result: dict[str, Any] = {}
    parked = threading.Event()

    def poll() -> None:
        with RawConnection(broker.bootstrap) as conn:
            parked.set()
            result["response"] = _fetch(
                conn, partition_max=1 << 20, min_bytes=1, max_wait_ms=30_000, partitions=(0,)
            )

    poller = threading.Thread(target=poll)
    poller.start()
    assert parked.wait(10)
    # Wait (bounded) until the fetch is parked in the purgatory, so the append must wake it.
    purgatory = broker.server.purgatory  # type: ignore[union-attr]
    idle = threading.Event()
    for _ in range(1000):
        if len(purgatory) == 1:
            break
        idle.wait(0.01)
    assert len(purgatory) == 1
    with RawConnection(broker.bootstrap) as conn:
        _produce(conn, 0, [b"wake"])
    poller.join(20)
    assert not poller.is_alive()
    assert _batches(result["response"][0]) == 1


def test_long_poll_expires_at_max_wait(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    with RawConnection(broker.bootstrap) as conn:
        _setup(conn)
        response = _fetch(conn, partition_max=1 << 20, min_bytes=1, max_wait_ms=50, partitions=(0,))
        assert response[0].error_code == ErrorCode.NONE and not response[0].records
