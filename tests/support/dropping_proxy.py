"""A TCP proxy that loses Produce responses: the broker appended, the client never heard.

It forwards bytes both ways, tracking each request's API key by correlation id; when a Produce
response comes back and drops remain, it swallows the response and cuts both connections, so the
client sees a disconnect after its request was written — exactly the ambiguous case an
idempotent producer must retry without duplicating.  Start the broker with
``advertised.listeners`` pointing at the proxy so every client connection goes through it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

PRODUCE = 0
_HEADER = struct.Struct(">ihhi")


class DroppingProxy:
    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.dropped = 0
        self.upstream_port = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()

    def start(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            apis: dict[int, int] = {}
            threading.Thread(
                target=self._requests, args=(client, upstream, apis), daemon=True
            ).start()
            threading.Thread(
                target=self._responses, args=(upstream, client, apis), daemon=True
            ).start()

    @staticmethod
    def _read_frame(sock: socket.socket) -> bytes | None:
        data = bytearray()
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                return None
            data += chunk
        size = struct.unpack(">i", data)[0]
        while len(data) < 4 + size:
            chunk = sock.recv(min(1 << 20, 4 + size - len(data)))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def _requests(
        self, client: socket.socket, upstream: socket.socket, apis: dict[int, int]
    ) -> None:
        with contextlib.suppress(OSError):
            while (frame := self._read_frame(client)) is not None:
                _, api_key, _, correlation_id = _HEADER.unpack_from(frame, 0)
                apis[correlation_id] = api_key
                upstream.sendall(frame)
        self._cut(client, upstream)

    def _responses(
        self, upstream: socket.socket, client: socket.socket, apis: dict[int, int]
    ) -> None:
        with contextlib.suppress(OSError):
            while (frame := self._read_frame(upstream)) is not None:
                correlation_id = struct.unpack_from(">i", frame, 4)[0]
                if apis.pop(correlation_id, None) == PRODUCE and self._take_drop():
                    break
                client.sendall(frame)
        self._cut(client, upstream)

    def _take_drop(self) -> bool:
        with self._lock:
            if self.dropped >= self.drops:
                return False
            self.dropped += 1
            return True

    @staticmethod
    def _cut(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
