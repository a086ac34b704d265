"""The listener and one client connection: frames in, responses out, in request order.

Like Kafka's network layer, a connection has one request in progress at a time (Kafka mutes the
channel until the response is sent), which preserves order.  Back-pressure is real: the socket
is read only when the connection wants its next frame, so a client that floods requests (or
never reads its responses) is held back by TCP, and the broker buffers at most one request of
``socket.request.max.bytes`` plus one receive chunk per connection.  (anyio's stream wrapper
keeps reading while its queue is non-empty, so a flood grew the broker by gigabytes; this
shell therefore drives non-blocking sockets directly with ``anyio.wait_readable`` /
``wait_writable``.)  Responses go out with ``sendmsg`` (one gather write, records uncopied).
Connections idle for ``connections.max.idle.ms`` are closed.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from broker.config import (
    SECURITY_PROTOCOL_IDS,
    BrokerConfig,
    Listener,
    ListenerSasl,
    listener_sasl,
    listener_ssl,
)
from broker.core.sasl import SASL_AUTHENTICATE, SASL_HANDSHAKE, SaslAuthenticator
from broker.server.clock import monotonic_ms
from broker.server.quotas import MUTED_UNTIL, BrokerQuotas
from client.protocol import codec, headers
from client.protocol.errors import ProtocolError
from client.protocol.framing import FrameTooLarge
from client.protocol.messages import APIS
from client.protocol.primitives import Reader

if TYPE_CHECKING:
    from broker.server.dispatcher import Dispatcher


@dataclass
class ServedListener:
    """One client listener of a broker: where it binds, what it advertises, its SASL settings
    (None: PLAINTEXT) and, once bound, its port."""

    name: str
    bind_host: str
    bind_port: int
    advertised_host: str
    advertised_port: int
    sasl: ListenerSasl | None
    bound_port: int = 0
    # The server TLS context of an SSL / SASL_SSL listener (None: no TLS).
    tls: ssl.SSLContext | None = None

    @classmethod
    def of(cls, config: BrokerConfig, listener: Listener) -> ServedListener:
        advertised = next(
            (item for item in config.advertised_listeners if item.name == listener.name),
            listener,
        )
        return cls(
            listener.name,
            listener.host or "0.0.0.0",
            listener.port,
            advertised.host or "127.0.0.1",
            advertised.port,
            listener_sasl(config, listener.name),
            tls=listener_ssl(config, listener.name),
        )

    def bind(self, port: int) -> None:
        self.bound_port = port
        if self.advertised_port == 0:
            self.advertised_port = port

    @property
    def protocol_name(self) -> str:
        if self.tls is None:
            return "PLAINTEXT" if self.sasl is None else "SASL_PLAINTEXT"
        return "SSL" if self.sasl is None else "SASL_SSL"

    @property
    def security_protocol(self) -> int:
        """Kafka's SecurityProtocol id (BrokerRegistration)."""
        return SECURITY_PROTOCOL_IDS[self.protocol_name]

    def describe(self) -> str:
        protocol = self.protocol_name
        suffix = "" if protocol == "PLAINTEXT" else f" ({protocol})"
        return f"{self.name}://{self.advertised_host}:{self.bound_port}{suffix}"


class Server(Protocol):
    """What the network layer needs of a broker or controller process."""

    config: BrokerConfig
    dispatcher: Dispatcher


T = TypeVar("T")
log = logging.getLogger("odradek.connection")
ANONYMOUS_PRINCIPAL = "User:ANONYMOUS"

# The peer of the connection whose request is being handled (each connection is its own task,
# so each has its own value): JoinGroup reports it as the member's client host, as Kafka does.
current_peer_host: contextvars.ContextVar[str] = contextvars.ContextVar("peer_host", default="")
# The listener the request came on (None: a controller listener): Metadata and the other
# answers naming brokers give each broker's endpoint of that listener, as Kafka does.
current_listener: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "listener", default=None
)
# Per-connection facts a handler wants to act on when the connection closes (the controller
# fences the broker that registered on a connection the moment that connection drops).
current_connection_state: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "connection_state"
)

RECEIVE_CHUNK_BYTES = 64 * 1024
LISTEN_BACKLOG = 1024
MAX_GATHER_BUFFERS = 512
_SIZE = struct.Struct(">i")

Buffer = bytes | bytearray | memoryview
MAX_DEFERRED_RESPONSES = 256
MAX_CORKED_BYTES = 256 * 1024
# Requests whose handler never waits before answering (Produce answers or defers at once,
# ApiVersions): only across these are ready responses held back for one gather write.
NEVER_WAITING_APIS = frozenset({0, 18})
_API_KEY = struct.Struct(">h")
SASL_APIS = (SASL_HANDSHAKE, SASL_AUTHENTICATE)


def _api_key(frame: bytes | bytearray) -> int:
    return _API_KEY.unpack_from(frame, 0)[0] if len(frame) >= 2 else -1


class DeferredResponse:
    """The response of a request that only has to wait now (see ``_Pipeline``): ``ready()``
    says whether waiting is over, ``encode()`` then gives its pieces, and ``subscribe(f)``
    has ``f`` called once when it becomes ready."""

    __slots__ = ("encode", "ready", "subscribe")

    def __init__(
        self,
        encode: Callable[[], Sequence[Buffer]],
        ready: Callable[[], bool],
        subscribe: Callable[[Callable[[], None]], None],
    ) -> None:
        self.encode = encode
        self.ready = ready
        self.subscribe = subscribe


# Pipelines woken inside a ``coalesced_writes()`` block of the running task (None outside one).
_woken_in_block: contextvars.ContextVar[list[_Pipeline] | None] = contextvars.ContextVar(
    "woken_in_block", default=None
)


@contextlib.contextmanager
def coalesced_writes() -> Iterator[None]:
    """Within this block, a pipeline woken several times writes once, when the block ends.

    For synchronous stretches that complete many waiting answers at once (a follower's fetch
    moving the HW of several partitions, each completing produces of the same client
    connection): one gather write per connection instead of one per partition."""
    outer = _woken_in_block.get()
    if outer is not None:
        yield  # an enclosing block writes
        return
    woken: list[_Pipeline] = []
    token = _woken_in_block.set(woken)
    try:
        yield
    finally:
        _woken_in_block.reset(token)
        seen: set[int] = set()
        for pipeline in woken:
            if id(pipeline) not in seen:
                seen.add(id(pipeline))
                pipeline.wake()


class PeerClosed(Exception):
    """The peer closed or reset the connection."""


class FrameSocket:
    """Size-prefixed frames over a non-blocking socket, read only on demand."""

    def __init__(self, sock: socket.socket, max_frame_bytes: int) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.max_frame_bytes = max_frame_bytes
        self._pending = bytearray()

    async def _recv_some(self, limit: int) -> bytes:
        while True:
            try:
                data = self.sock.recv(limit)
            except BlockingIOError:
                await anyio.wait_readable(self.sock)
                continue
            except (ConnectionResetError, BrokenPipeError) as error:
                raise PeerClosed(str(error)) from error
            if not data:
                raise PeerClosed("end of stream")
            return data

    async def _recv_into(self, view: memoryview) -> None:
        while view:
            try:
                count = self.sock.recv_into(view)
            except BlockingIOError:
                await anyio.wait_readable(self.sock)
                continue
            except (ConnectionResetError, BrokenPipeError) as error:
                raise PeerClosed(str(error)) from error
            if count == 0:
                raise PeerClosed("end of stream")
            view = view[count:]

    def buffered_frame(self) -> bytes | None:
        """The next frame if it is already wholly in the receive buffer (no I/O), else None."""
        pending = self._pending
        if len(pending) < 4:
            return None
        (size,) = _SIZE.unpack_from(pending, 0)
        if size < 0 or size > self.max_frame_bytes:
            raise FrameTooLarge(size, self.max_frame_bytes)
        end = 4 + size
        if len(pending) < end:
            return None
        frame = bytes(pending[4:end])
        del pending[:end]
        return frame

    async def read_frame(self) -> bytes | bytearray:
        """The next frame body; ``FrameTooLarge`` on a size prefix over the limit."""
        pending = self._pending
        while len(pending) < 4:
            pending += await self._recv_some(RECEIVE_CHUNK_BYTES)
        (size,) = _SIZE.unpack_from(pending, 0)
        if size < 0 or size > self.max_frame_bytes:
            raise FrameTooLarge(size, self.max_frame_bytes)
        end = 4 + size
        if len(pending) >= end:
            frame = bytes(pending[4:end])
            del pending[:end]
            return frame
        # A large frame: read the rest straight into its own buffer (one copy from the kernel).
        frame_buffer = bytearray(size)
        have = len(pending) - 4
        frame_buffer[:have] = pending[4:]
        pending.clear()
        await self._recv_into(memoryview(frame_buffer)[have:])
        return frame_buffer

    async def send_all(self, pieces: Sequence[Buffer]) -> None:
        """Write every piece, in order, with gather writes; waits while the socket is full."""
        views = self.send_now(pieces)
        while views:
            await anyio.wait_writable(self.sock)
            views = self.send_now(views)

    def send_now(self, pieces: Sequence[Buffer]) -> list[memoryview]:
        """Write what the socket takes now (gather writes, no waiting); the rest, unsent."""
        views = [memoryview(piece).cast("B") for piece in pieces if len(piece)]
        while views:
            try:
                sent = self.sock.sendmsg(views[:MAX_GATHER_BUFFERS])
            except BlockingIOError:
                return views
            except (ConnectionResetError, BrokenPipeError) as error:
                raise PeerClosed(str(error)) from error
            while sent:
                head = views[0]
                if sent >= len(head):
                    sent -= len(head)
                    views.pop(0)
                else:
                    views[0] = head[sent:]
                    sent = 0
        return views

    def close(self) -> None:
        self.sock.close()


TLS_WRITE_BYTES = 256 * 1024


class TlsFrameSocket(FrameSocket):
    """Frames over TLS (SSL / SASL_SSL listeners): ``ssl.SSLSocket`` on a non-blocking
    socket, each read or write retried on TLS's want-read / want-write.  A read always tries
    the TLS object first (it may hold decrypted bytes the socket no longer shows), and
    writes go out one joined buffer at a time (TLS copies into its records anyway)."""

    sock: ssl.SSLSocket

    async def _retrying(self, operation: Callable[[], T]) -> T:
        """``operation`` on the TLS socket, waiting whenever TLS wants the socket readable
        or writable first; other socket errors close the connection."""
        while True:
            try:
                return operation()
            except ssl.SSLWantReadError:
                await anyio.wait_readable(self.sock)
            except ssl.SSLWantWriteError:
                await anyio.wait_writable(self.sock)
            except OSError as error:  # ssl.SSLError included: not TLS, a refused certificate
                raise PeerClosed(f"TLS: {error}") from error

    async def handshake(self) -> None:
        await self._retrying(self.sock.do_handshake)

    async def _recv_some(self, limit: int) -> bytes:
        data = await self._retrying(lambda: self.sock.recv(limit))
        if not data:
            raise PeerClosed("end of stream")
        return data

    async def _recv_into(self, view: memoryview) -> None:
        while view:
            count = await self._retrying(lambda view=view: self.sock.recv_into(view))  # type: ignore[misc]
            if count == 0:
                raise PeerClosed("end of stream")
            view = view[count:]

    def send_now(self, pieces: Sequence[Buffer]) -> list[memoryview]:
        views = [memoryview(piece).cast("B") for piece in pieces if len(piece)]
        if not views:
            return []
        data = views[0] if len(views) == 1 else memoryview(b"".join(views))
        while data:
            try:
                # A retry after want-write sends the very same bytes, as TLS requires.
                sent = self.sock.send(data[:TLS_WRITE_BYTES])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                return [data]
            except OSError as error:
                raise PeerClosed(str(error)) from error
            data = data[sent:]
        return []

    def peer_principal(self) -> str | None:
        """``User:<distinguished name>`` of a client certificate, as Kafka's default
        principal builder names it (most specific first: CN=alice,OU=eng,O=acme)."""
        certificate = self.sock.getpeercert()
        if not certificate:
            return None
        parts = [
            f"{_DN_NAMES.get(name, name)}={value}"
            for rdn in reversed(certificate.get("subject", ()))
            for name, value in rdn
        ]
        return "User:" + ",".join(parts) if parts else None


_DN_NAMES = {
    "commonName": "CN",
    "organizationalUnitName": "OU",
    "organizationName": "O",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "countryName": "C",
    "emailAddress": "EMAILADDRESS",
    "domainComponent": "DC",
}


async def serve_listener(
    server: Server, listener: socket.socket, served: ServedListener | None = None
) -> None:
    """Accept connections until cancelled; each is served in its own task.  ``served``: the
    client listener this socket is (None: a controller listener, PLAINTEXT)."""
    listener.setblocking(False)
    async with anyio.create_task_group() as group:
        while True:
            await anyio.wait_readable(listener)
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as error:  # e.g. EMFILE: keep serving the connections we have
                log.warning("accept failed: %s", error)
                await anyio.sleep(0.1)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = f"{address[0]}:{address[1]}"
            quotas: BrokerQuotas | None = getattr(server, "quotas", None)
            if quotas is not None and quotas.active:
                throttle_ms = quotas.connection_throttle_ms(address[0])
                if throttle_ms > 0:
                    group.start_soon(_close_throttled, sock, peer, throttle_ms)
                    continue
            group.start_soon(serve_connection, server, sock, peer, served)


async def _close_throttled(sock: socket.socket, peer: str, throttle_ms: int) -> None:
    """Over its IP's connection_creation_rate: close the connection after the throttle time,
    reading nothing from it (Kafka's delayed close of a throttled connection)."""
    log.info("closing connection from %s in %d ms: connection_creation_rate", peer, throttle_ms)
    try:
        await anyio.sleep(throttle_ms / 1000)
    finally:
        sock.close()


def open_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket (SO_REUSEADDR, as Kafka) on host:port; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)


async def serve_connection(
    server: Server, sock: socket.socket, peer: str, served: ServedListener | None = None
) -> None:
    current_peer_host.set("/" + peer.rsplit(":", 1)[0])
    current_listener.set(None if served is None else served.name)
    state: dict[str, Any] = {}
    current_connection_state.set(state)
    connection: FrameSocket | None = None
    try:
        idle_ms = server.config.connections_max_idle_ms
        idle_s = None if idle_ms < 0 else idle_ms / 1000
        if served is not None and served.tls is not None:
            sock.setblocking(False)
            secured = served.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            tls = TlsFrameSocket(secured, server.config.socket_request_max_bytes)
            connection = tls
            handshaken = False
            with anyio.move_on_after(idle_s):
                await tls.handshake()
                handshaken = True
            if not handshaken:
                raise AuthenticationClosed(f"no TLS handshake within {idle_ms} ms")
            # Kafka's SSL principal: the client certificate's name, else ANONYMOUS.
            state["principal"] = tls.peer_principal() or ANONYMOUS_PRINCIPAL
        else:
            connection = FrameSocket(sock, server.config.socket_request_max_bytes)
        settings = None if served is None else served.sasl
        if settings is not None:
            principal = None
            with anyio.move_on_after(idle_s):
                principal = await _authenticate(server, connection, settings)
            if principal is None:
                raise AuthenticationClosed(f"not authenticated within {idle_ms} ms")
            state["principal"] = principal
        await _serve(server, connection, peer)
    except PeerClosed:
        pass
    except AuthenticationClosed as error:
        log.info("failed authentication with %s (%s)", peer, error)
    except FrameTooLarge as error:
        log.warning("closing connection from %s: %s (socket.request.max.bytes)", peer, error)
    except ProtocolError as error:
        log.warning("closing connection from %s: %s", peer, error)
    except Exception:
        # A bug (in the SASL exchange, say) must not take the listener down: drop only this
        # connection.
        log.exception("closing connection from %s after an unexpected error", peer)
    finally:
        if connection is not None:
            connection.close()
        else:
            sock.close()
        on_closed = getattr(server, "on_connection_closed", None)
        if state and on_closed is not None:
            on_closed(state)


class AuthenticationClosed(Exception):
    """The SASL exchange ended the connection (refused, or a request out of turn)."""


async def _authenticate(server: Server, connection: FrameSocket, settings: ListenerSasl) -> str:
    """Run the SASL exchange of a SASL_PLAINTEXT connection (``broker.core.sasl``) and return
    the principal (``User:<name>``); what is answered is written at once, as nothing else is
    in flight yet."""
    dispatcher = server.dispatcher
    authenticator = SaslAuthenticator(
        settings.mechanisms, settings.plain_users, getattr(server, "scram_lookup", _no_users)
    )
    while authenticator.principal is None:
        frame = await connection.read_frame()
        if authenticator.expects_raw_token:
            step = authenticator.on_raw_token(bytes(frame))
            header = None
        else:
            header = headers.decode_request_header(frame)
            body = None
            if header.api_key in SASL_APIS:
                if not dispatcher.supports(header.api_key, header.api_version):
                    await connection.send_all(dispatcher.unsupported(header))
                    raise AuthenticationClosed(
                        f"unsupported {header.api_key} v{header.api_version} during SASL"
                    )
                message = APIS[header.api_key][0]
                reader = Reader(frame, header.body_offset)
                body = codec.decode_from(message, header.api_version, reader)
            step = authenticator.on_request(header.api_key, header.api_version, body)
        if step.dispatch:
            response = await dispatcher.handle(frame)
            if isinstance(response, list):
                await connection.send_all(response)
        elif step.answer is not None and header is not None:
            await connection.send_all(
                headers.encode_response_parts(
                    header.api_key, header.api_version, header.correlation_id, step.answer
                )
            )
        elif step.raw is not None:
            await connection.send_all([_SIZE.pack(len(step.raw)), step.raw])
        if step.close:
            if step.failed:
                # Kafka's connection.failed.authentication.delay.ms: slows down guessing.
                delay_ms = server.config.connection_failed_authentication_delay_ms
                await anyio.sleep(delay_ms / 1000)
            raise AuthenticationClosed(step.reason)
    return authenticator.principal


def _no_users(mechanism: str, user: str) -> None:
    return None


class _Pipeline:
    """Responses of one connection, written strictly in request order.

    A request whose effects are all done and that only waits (an acks=all produce waiting for
    replication) answers with a :class:`DeferredResponse`; the connection then reads and
    handles the next requests meanwhile (up to ``MAX_DEFERRED_RESPONSES``).  When the head of
    the queue becomes ready (its ``subscribe`` callback, run by whatever completed it: the HW
    moving on a follower's fetch, a timeout), the ready responses at the head are written
    right there if the socket takes them; only a full socket starts a writer task.
    Everything else is answered inline, so a connection without deferred responses behaves
    exactly like Kafka's muted channel.
    """

    def __init__(self, connection: FrameSocket, group: anyio.abc.TaskGroup) -> None:
        self.connection = connection
        self.group = group
        self.pending: deque[DeferredResponse | Sequence[Buffer]] = deque()
        self.writing = False
        self.closed = False
        self.room: anyio.Event | None = None
        self.failure: BaseException | None = None
        # Ready responses held back while more requests are already buffered, so that a burst
        # of pipelined requests is answered with one gather write instead of one per request.
        self.corked: list[Buffer] = []
        self.corked_bytes = 0

    async def submit(self, response: DeferredResponse | Sequence[Buffer]) -> None:
        if self.failure is not None:
            raise self.failure
        # Corked (written by this task) only while no writer task is draining a full socket:
        # otherwise its bytes would go out ahead of the writer's rest (TLS would refuse the
        # write outright).
        if not self.pending and not self.writing and not isinstance(response, DeferredResponse):
            self.corked.extend(response)
            self.corked_bytes += sum(len(piece) for piece in response)
            if self.corked_bytes >= MAX_CORKED_BYTES or len(self.corked) >= MAX_GATHER_BUFFERS:
                await self.flush()
            return
        if self.corked:
            self.pending.append(self.corked)
            self.corked, self.corked_bytes = [], 0
        self.pending.append(response)
        if isinstance(response, DeferredResponse):
            response.subscribe(self.wake)
        else:
            self.wake()
        while len(self.pending) > MAX_DEFERRED_RESPONSES and self.failure is None:
            self.room = anyio.Event()
            await self.room.wait()
        if self.failure is not None:
            raise self.failure

    async def flush(self) -> None:
        """Send the corked responses (before the connection waits for more requests)."""
        if self.corked:
            corked, self.corked, self.corked_bytes = self.corked, [], 0
            await self.connection.send_all(corked)

    def _take_ready(self) -> list[Buffer]:
        """The pieces of the ready responses at the head of the queue, dequeued."""
        parts: list[Buffer] = []
        pending = self.pending
        while pending and len(parts) < MAX_GATHER_BUFFERS:
            head = pending[0]
            if isinstance(head, DeferredResponse):
                if not head.ready():
                    break
                parts.extend(head.encode())
            else:
                parts.extend(head)
            pending.popleft()
        if parts and self.room is not None:
            self.room.set()
            self.room = None
        return parts

    def wake(self) -> None:
        """Something in the queue may be ready: write what is, without waiting.  Runs in
        the task that completed it, so it never raises: a failure stops this connection."""
        if self.writing or self.closed or self.failure is not None:
            return  # the writer task takes it from here (or nobody will)
        woken = _woken_in_block.get()
        if woken is not None:
            woken.append(self)  # written when the enclosing coalesced_writes() block ends
            return
        try:
            while True:
                parts = self._take_ready()
                if not parts:
                    return
                unsent = self.connection.send_now(parts)
                if unsent:
                    self.writing = True
                    self.group.start_soon(self._write, unsent)
                    return
        except Exception as error:  # the peer went away, or a response failed to encode
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        self.failure = error
        if self.room is not None:
            self.room.set()
        self.group.cancel_scope.cancel()

    async def _write(self, unsent: list[memoryview]) -> None:
        """The socket is full: write the rest as it drains, then whatever became ready."""
        try:
            await self.connection.send_all(unsent)
            while parts := self._take_ready():
                await self.connection.send_all(parts)
        except Exception as error:
            self._fail(error)
        finally:
            self.writing = False


class _IdleWatch:
    """Closes a connection that has waited for its next request for ``connections.max.idle.ms``.

    One sleeping task per connection, instead of a cancel scope around every frame read (a
    profile of the broker under many small produce requests spent ~3% in those scopes)."""

    __slots__ = ("idle_seconds", "since", "waiting")

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self.waiting = False
        self.since = time.monotonic()

    async def run(self, peer: str, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self.idle_seconds - (time.monotonic() - self.since))
            if self.waiting and time.monotonic() - self.since >= self.idle_seconds:
                log.info(
                    "closing connection from %s idle for %d ms", peer, self.idle_seconds * 1000
                )
                scope.cancel()
                return
            if not self.waiting:
                self.since = time.monotonic()


# A connection whose requests never make it wait (its socket always has the next one) still
# lets the other connections run after this many requests.
REQUESTS_PER_CHECKPOINT = 8


async def _stay_muted(pipeline: _Pipeline, state: dict[str, Any]) -> None:
    """A client quota was broken: the response goes out now, the next request is read once
    the throttle time has passed (Kafka mutes the channel)."""
    until = state.pop(MUTED_UNTIL)
    await pipeline.flush()
    remaining = until - monotonic_ms()
    if remaining > 0:
        await anyio.sleep(remaining / 1000)


async def _serve(server: Server, connection: FrameSocket, peer: str) -> None:
    idle_ms = server.config.connections_max_idle_ms
    dispatcher = server.dispatcher
    state = current_connection_state.get()
    failure: BaseException | None = None
    async with anyio.create_task_group() as group:
        pipeline = _Pipeline(connection, group)
        watch: _IdleWatch | None = None
        reading = anyio.CancelScope()
        if idle_ms >= 0:
            watch = _IdleWatch(idle_ms / 1000)
            group.start_soon(watch.run, peer, reading)
        unyielded = 0
        try:
            with reading:
                while True:
                    frame: bytes | bytearray | None = connection.buffered_frame()
                    if frame is None:
                        await pipeline.flush()
                        if watch is not None:
                            watch.since = time.monotonic()
                            watch.waiting = True
                        frame = await connection.read_frame()
                        if watch is not None:
                            watch.waiting = False
                    if pipeline.corked and _api_key(frame) not in NEVER_WAITING_APIS:
                        # This request may park (a long-poll Fetch, JoinGroup, a forwarded
                        # admin request): what is answered already must not wait behind it.
                        await pipeline.flush()
                    response = await dispatcher.handle(frame)
                    if response is not None:
                        await pipeline.submit(response)
                    if MUTED_UNTIL in state:
                        await _stay_muted(pipeline, state)
                    # A busy connection must not starve the others (its socket may never
                    # block).
                    unyielded += 1
                    if unyielded >= REQUESTS_PER_CHECKPOINT:
                        unyielded = 0
                        await anyio.lowlevel.checkpoint()
        except Exception as error:  # re-raised below, outside the task group
            failure = error
            if not isinstance(error, PeerClosed) and not pipeline.pending:
                # Answer what came before the bad request, as Kafka does, then close.
                with contextlib.suppress(Exception):
                    await pipeline.flush()
        pipeline.closed = True
        group.cancel_scope.cancel()
    failure = failure or pipeline.failure
    if failure is not None:
        raise failure
