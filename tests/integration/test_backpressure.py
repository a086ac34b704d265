"""Clients that flood requests faster than the broker appends them, never reading responses:
the broker reads a connection only when it wants the next frame, so TCP holds the clients back
and the broker's memory stays bounded (an eagerly reading shell buffered the whole flood)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from broker.testing import BrokerFactory, ProcessBroker
from client.protocol import headers
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

CONNECTIONS = 4
BYTES_PER_CONNECTION = 64 * 1024**2
RSS_LIMIT_MIB = 120


def _rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def _flood(bootstrap: str, frame: bytes, sent: list[int]) -> None:
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        total = 0
        while total < BYTES_PER_CONNECTION:
            sock.sendall(frame)
            total += len(frame)
        sent.append(total)


def test_flooding_clients_are_pushed_back(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start(subprocess=True)
    assert isinstance(broker, ProcessBroker) and broker.process is not None
    with RawConnection(broker.bootstrap) as conn:
        body = {
            "topics": [
                {
                    "name": "flood",
                    "num_partitions": 1,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [],
                }
            ],
            "timeout_ms": 1000,
        }
        assert conn.request(19, 4, body).topics[0].error_code == 0
    batch = build_batch([b"f" * 1000] * 900)
    frame = headers.encode_request(
        0,
        8,
        1,
        "flood",
        {
            "transactional_id": None,
            "acks": 1,
            "timeout_ms": 1000,
            "topic_data": [{"name": "flood", "partition_data": [{"index": 0, "records": batch}]}],
        },
    )
    sent: list[int] = []
    floods = [
        threading.Thread(target=_flood, args=(broker.bootstrap, frame, sent))
        for _ in range(CONNECTIONS)
    ]
    for flood in floods:
        flood.start()
    for flood in floods:
        flood.join(60)
    assert len(sent) == CONNECTIONS
    assert _rss_mib(broker.process.pid) < RSS_LIMIT_MIB
    # Still serving others.
    with RawConnection(broker.bootstrap) as conn:
        assert conn.request(18, 0, {}).error_code == 0
