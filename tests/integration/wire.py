"""A raw Kafka-protocol socket for tests: send frames, read frames, with deadlines."""

from __future__ import annotations

import socket
import struct
from typing import Any

from construct import Container

from client.protocol import headers

TIMEOUT_S = 10.0


class RawConnection:
    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes:
        size = struct.unpack(">i", self._read_exactly(4))[0]
        return self._read_exactly(size)

    def is_closed_by_peer(self) -> bool:
        """True when the broker closed the connection (EOF or reset) within the timeout."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read_exactly(self, count: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < count:
            chunk = self.sock.recv(count - len(chunks))
            if not chunk:
                raise ConnectionError("closed by the broker")
            chunks += chunk
        return bytes(chunks)

    def request(self, api_key: int, version: int, body: dict[str, Any]) -> Container:
        self.correlation_id += 1
        frame = headers.encode_request(api_key, version, self.correlation_id, "wire-test", body)
        self.send_bytes(frame)
        correlation_id, response = headers.decode_response(api_key, version, self.read_frame())
        assert correlation_id == self.correlation_id
        return response
