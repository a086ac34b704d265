"""The fault-injecting TCP proxy of ``tests/support/fault_proxy.py``, against a tiny echo server.

Everything is on 127.0.0.1 with kernel-chosen ports.  Positive outcomes are awaited on the
sockets themselves (bounded by socket timeouts); "nothing arrives" is a bounded receive that
must time out.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.support.fault_proxy import CHUNK, FaultProxy

IO_TIMEOUT_S = 10.0
# How long a frozen connection is watched for a byte that must not come.
SILENCE_S = 0.3


class EchoServer:
    """Echoes every connection until the peer half-closes, then closes its side."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Condition()
        self.accepted = 0
        self.open_connections = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open_connections += 1
                self._sockets.append(conn)
                self._lock.notify_all()
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := conn.recv(CHUNK):
                conn.sendall(data)
        with contextlib.suppress(OSError):
            conn.close()
        with self._lock:
            self.open_connections -= 1
            self._lock.notify_all()

    def wait_for(self, what: str, predicate: object, timeout_s: float = IO_TIMEOUT_S) -> None:
        with self._lock:
            assert self._lock.wait_for(predicate, timeout_s), what  # type: ignore[arg-type]

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for conn in sockets:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy:
        yield proxy


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=IO_TIMEOUT_S)


def receive(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"EOF after {len(data)} of {count} bytes")
        data += chunk
    return bytes(data)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    return receive(sock, len(payload))


def is_closed(sock: socket.socket) -> bool:
    """The peer closed or reset the connection (observed within the socket timeout)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def is_refused(proxy: FaultProxy) -> bool:
    """A new connection is reset: the kernel completes the handshake, the proxy accepts and
    resets it at once (seen by connect() itself when the RST beats its return)."""
    try:
        conn = connect(proxy)
    except ConnectionResetError:
        return True
    with conn:
        return is_closed(conn)


def stays_silent(sock: socket.socket) -> bool:
    """No byte (and no close) arrives within ``SILENCE_S``."""
    sock.settimeout(SILENCE_S)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(IO_TIMEOUT_S)
    return False


def test_forwards_both_ways_with_bounded_buffers(proxy: FaultProxy, echo: EchoServer) -> None:
    """Several connections at once; a payload many times CHUNK streams through in both
    directions (read and write interleave: the proxy buffers at most CHUNK per direction)."""
    payload = bytes(range(256)) * (16 * CHUNK // 256)
    conns = [connect(proxy) for _ in range(3)]
    try:
        for index, conn in enumerate(conns):
            assert round_trip(conn, b"hello %d" % index) == b"hello %d" % index
        sender = threading.Thread(target=conns[0].sendall, args=(payload,), daemon=True)
        sender.start()
        assert receive(conns[0], len(payload)) == payload
        sender.join(IO_TIMEOUT_S)
        assert proxy.active_connections == 3
        assert proxy.accepted == 3
        assert proxy.mode == "open"
    finally:
        for conn in conns:
            conn.close()


def test_half_close_is_forwarded(proxy: FaultProxy, echo: EchoServer) -> None:
    with connect(proxy) as conn:
        conn.sendall(b"last words")
        conn.shutdown(socket.SHUT_WR)
        assert receive(conn, 10) == b"last words"
        assert conn.recv(1) == b""  # the echo server closed after our FIN reached it
    echo.wait_for("the echo connection closed", lambda: echo.open_connections == 0)


def test_reset_cut_closes_every_connection_and_refuses_new_ones(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    conns = [connect(proxy) for _ in range(3)]
    try:
        for conn in conns:
            assert round_trip(conn, b"ping") == b"ping"
        proxy.cut("reset")
        # When cut() returns, every connection is already gone, on both sides.
        assert proxy.active_connections == 0
        assert proxy.mode == "reset"
        for conn in conns:
            assert is_closed(conn)
        echo.wait_for("the target saw every connection close", lambda: echo.open_connections == 0)
        assert is_refused(proxy)
        assert proxy.refused == 1
        assert echo.accepted == 3, "a connection made while cut reached the target"
        proxy.heal()
        with connect(proxy) as conn:
            assert round_trip(conn, b"healed") == b"healed"
        assert echo.accepted == 4
    finally:
        for conn in conns:
            conn.close()


def test_blackhole_freezes_connections_and_heal_delivers_the_bytes(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    with connect(proxy) as old:
        assert round_trip(old, b"before") == b"before"
        proxy.cut("blackhole")
        assert proxy.mode == "blackhole"
        old.sendall(b"during")
        assert stays_silent(old), "a byte crossed the blackhole"
        with connect(proxy) as new:  # completes in the listen backlog, then nothing
            new.sendall(b"new")
            assert stays_silent(new)
            assert echo.accepted == 1, "the proxy connected to the target while cut"
            assert proxy.active_connections == 1  # frozen, not closed
            proxy.heal()
            assert receive(old, 6) == b"during"  # held by TCP, delivered late
            assert receive(new, 3) == b"new"
            assert round_trip(old, b"after") == b"after"
        assert echo.accepted == 2


def test_reset_after_blackhole_closes_the_frozen_connections(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    with connect(proxy) as conn:
        assert round_trip(conn, b"x") == b"x"
        proxy.cut("blackhole")
        proxy.cut("reset")
        assert is_closed(conn)
        assert proxy.active_connections == 0
    echo.wait_for("the target connection closed", lambda: echo.open_connections == 0)


def test_a_refused_target_is_a_reset_connection() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = int(closed.getsockname()[1])
    closed.close()  # nothing listens there now
    with FaultProxy(("127.0.0.1", port)) as proxy:
        assert is_refused(proxy)
        assert proxy.active_connections == 0
        assert proxy.accepted == 1


def test_close_stops_everything_and_is_idempotent(echo: EchoServer) -> None:
    proxy = FaultProxy(("127.0.0.1", echo.port))
    conn = connect(proxy)
    assert round_trip(conn, b"x") == b"x"
    proxy.close()
    assert is_closed(conn)
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=IO_TIMEOUT_S)
    with pytest.raises(RuntimeError):
        proxy.cut()
    proxy.close()


def test_unknown_mode_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown cut mode"):
        proxy.cut("drop")  # type: ignore[arg-type]
    assert proxy.mode == "open"


def test_control_from_many_threads(proxy: FaultProxy, echo: EchoServer) -> None:
    """cut/heal from several threads while traffic flows: every command is applied in some
    order, the loop survives, and a final heal leaves a working proxy."""
    errors: list[BaseException] = []

    def toggle(mode: str) -> None:
        try:
            for _ in range(50):
                proxy.cut(mode)  # type: ignore[arg-type]
                proxy.heal()
        except BaseException as error:
            errors.append(error)

    def traffic() -> None:
        for _ in range(20):
            with contextlib.suppress(OSError), connect(proxy) as conn:
                conn.settimeout(SILENCE_S)
                round_trip(conn, b"t")

    threads = [
        threading.Thread(target=toggle, args=("reset",)),
        threading.Thread(target=toggle, args=("blackhole",)),
        threading.Thread(target=traffic),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * IO_TIMEOUT_S)
        assert not thread.is_alive()
    assert not errors, errors
    proxy.heal()
    with connect(proxy) as conn:
        assert round_trip(conn, b"still works") == b"still works"
