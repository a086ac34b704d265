"""`odradek cluster up`: a controller and 3 brokers as processes, replicating; SIGTERM stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

START_TIMEOUT_S = 60


def _create_topic(bootstrap: str) -> None:
    body: dict[str, Any] = {
        "topics": [
            {
                "name": "replicated",
                "num_partitions": 2,
                "replication_factor": 3,
                "assignments": [],
                "configs": [{"name": "min.insync.replicas", "value": "2"}],
            }
        ],
        "timeout_ms": 5000,
    }
    with RawConnection(bootstrap) as conn:
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE


def _metadata(bootstrap: str) -> Any:
    with RawConnection(bootstrap) as conn:
        return conn.request(3, 9, {"topics": [{"name": "replicated"}]})


def _cluster_id(bootstrap: str) -> str:
    with RawConnection(bootstrap) as conn:
        return str(conn.request(3, 9, {"topics": []}).cluster_id)


def test_cluster_up_replicates_and_stops_cleanly(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "broker.cli", "cluster", "up", "--brokers", "3"]
    command += ["--base-port", "0", "--data-dir", str(tmp_path), "--racks", "east,west"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    timer = threading.Timer(START_TIMEOUT_S, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        bootstrap = process.stdout.readline().decode().strip()
        assert bootstrap.count(",") == 2, bootstrap
        first = bootstrap.split(",")[0]
        # One cluster: every broker adopted the controller's cluster id.
        cluster_ids = {_cluster_id(address) for address in bootstrap.split(",")}
        controller_meta = (tmp_path / "controller" / "meta.properties").read_text()
        assert len(cluster_ids) == 1 and f"cluster.id={cluster_ids.pop()}" in controller_meta
        _create_topic(first)
        metadata = _metadata(first)
        assert sorted(b.node_id for b in metadata.brokers) == [1, 2, 3]
        # --racks east,west: brokers 1, 2, 3 in east, west, east.
        assert {b.node_id: b.rack for b in metadata.brokers} == {1: "east", 2: "west", 3: "east"}
        partitions = metadata.topics[0].partitions
        assert [sorted(p.isr_nodes) for p in partitions] == [[1, 2, 3], [1, 2, 3]]
        leader = next(b for b in metadata.brokers if b.node_id == partitions[0].leader_id)
        produce = {
            "transactional_id": None,
            "acks": -1,
            "timeout_ms": 5000,
            "topic_data": [
                {
                    "name": "replicated",
                    "partition_data": [{"index": 0, "records": build_batch([b"a", b"b"])}],
                }
            ],
        }
        with RawConnection(f"{leader.host}:{leader.port}") as conn:
            result = conn.request(0, 8, produce).responses[0].partition_responses[0]
        assert (result.error_code, result.base_offset) == (ErrorCode.NONE, 0)
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=START_TIMEOUT_S)
    finally:
        timer.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and every node it started
            process.wait()
    assert process.returncode == 0
    log = errors.decode(errors="replace")
    assert log.count("stopped cleanly") == 4, log
    # Every replica holds the acknowledged batch (they were all in the ISR).
    for node in (1, 2, 3):
        segment = tmp_path / f"broker-{node}" / "replicated-0" / "00000000000000000000.log"
        assert segment.stat().st_size > 0, node
