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
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import anyio.lowlevel

from client.protocol.errors import ProtocolError
from client.protocol.framing import FrameTooLarge

if TYPE_CHECKING:
    from broker.config import BrokerConfig
    from broker.server.dispatcher import Dispatcher


class Server(Protocol):
    """What the network layer needs of a broker or controller process."""

    config: BrokerConfig
    dispatcher: Dispatcher


log = logging.getLogger("odradek.connection")

# The peer of the connection whose request is being handled (each connection is its own task,
# so each has its own value): JoinGroup reports it as the member's client host, as Kafka does.
current_peer_host: contextvars.ContextVar[str] = contextvars.ContextVar("peer_host", default="")
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


async def serve_listener(server: Server, listener: socket.socket) -> None:
    """Accept connections until cancelled; each is served in its own task."""
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
            group.start_soon(serve_connection, server, sock, f"{address[0]}:{address[1]}")


def open_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket (SO_REUSEADDR, as Kafka) on host:port; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)


async def serve_connection(server: Server, sock: socket.socket, peer: str) -> None:
    current_peer_host.set("/" + peer.rsplit(":", 1)[0])
    state: dict[str, Any] = {}
    current_connection_state.set(state)
    connection = FrameSocket(sock, server.config.socket_request_max_bytes)
    try:
        await _serve(server, connection, peer)
    except PeerClosed:
        pass
    except FrameTooLarge as error:
        log.warning("closing connection from %s: %s (socket.request.max.bytes)", peer, error)
    except ProtocolError as error:
        log.warning("closing connection from %s: %s", peer, error)
    finally:
        connection.close()
        on_closed = getattr(server, "on_connection_closed", None)
        if state and on_closed is not None:
            on_closed(state)


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
        if not self.pending and not isinstance(response, DeferredResponse):
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


async def _serve(server: Server, connection: FrameSocket, peer: str) -> None:
    idle_ms = server.config.connections_max_idle_ms
    dispatcher = server.dispatcher
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
