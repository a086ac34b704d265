"""Broker memory under a flood: producers that never read their responses.

    python -m bench.e2e.memory [--connections 8] [--seconds 10] [--request-kib 1024]

Each connection writes 1 MiB produce requests as fast as the socket takes them and never reads
a response.  The broker handles one request per connection at a time and stops reading a
connection whose responses are not being read (the write buffer's high-water mark), so TCP
pushes back and the broker's resident memory stays flat.  Prints the broker's peak RSS (VmHWM)
and its RSS before and after.  Bounded in time and in bytes sent.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

from broker.testing import ProcessBroker
from client.protocol import headers
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

MAX_BYTES_PER_CONNECTION = 4 * 1024**3


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _flood(bootstrap: str, frame: bytes, stop: threading.Event) -> None:
    host, port = bootstrap.rsplit(":", 1)
    sent = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(1.0)
        while not stop.is_set() and sent < MAX_BYTES_PER_CONNECTION:
            try:
                sock.sendall(frame)
                sent += len(frame)
            except TimeoutError:
                continue
            except OSError:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--request-kib", type=int, default=1024)
    args = parser.parse_args()
    broker = ProcessBroker(Path(tempfile.mkdtemp(prefix="odradek-mem-")), {}).start()
    assert broker.process is not None
    pid = broker.process.pid
    try:
        with RawConnection(broker.bootstrap) as conn:
            body = {
                "topics": [
                    {
                        "name": "flood",
                        "num_partitions": 1,
                        "replication_factor": 1,
                        "assignments": [],
                        "configs": [{"name": "retention.bytes", "value": str(256 * 1024**2)}],
                    }
                ],
                "timeout_ms": 1000,
            }
            conn.request(19, 4, body)
        batch = build_batch([b"m" * 1000] * max(args.request_kib * 1024 // 1030, 1))
        frame = headers.encode_request(
            0,
            8,
            1,
            "flood",
            {
                "transactional_id": None,
                "acks": 1,
                "timeout_ms": 1000,
                "topic_data": [
                    {"name": "flood", "partition_data": [{"index": 0, "records": batch}]}
                ],
            },
        )
        before = _rss_kib(pid, "VmRSS")
        stop = threading.Event()
        threads = [
            threading.Thread(target=_flood, args=(broker.bootstrap, frame, stop))
            for _ in range(args.connections)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + args.seconds
        samples = []
        while time.monotonic() < deadline:
            samples.append(_rss_kib(pid, "VmRSS"))
            stop.wait(0.25)
        stop.set()
        for thread in threads:
            thread.join(10)
        print(
            f"connections={args.connections} request={args.request_kib} KiB "
            f"rss_before={before // 1024} MiB rss_max_sampled={max(samples) // 1024} MiB "
            f"peak_rss(VmHWM)={_rss_kib(pid, 'VmHWM') // 1024} MiB"
        )
    finally:
        broker.terminate()


if __name__ == "__main__":
    main()
