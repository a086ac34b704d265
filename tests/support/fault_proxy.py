"""A fault-injecting TCP proxy: network partitions on demand, for the real-process fault tests.

It listens on 127.0.0.1 (port 0: the kernel picks one) and forwards every accepted connection
to one target address, byte for byte, until told otherwise:

- ``cut(mode="reset")``: every proxied connection is closed at once with a TCP reset (RST) to
  both peers, and until :meth:`heal` new connections are accepted and reset at once (a peer
  sees "connection reset", as when the other host drops off the network and says so);
- ``cut(mode="blackhole")``: the connections stay open but no byte moves in either direction,
  and new connections wait, unaccepted, in the listen backlog: a silent partition.  Whatever
  the peers send stays in the kernel's socket buffers, as TCP would keep retransmitting it, so
  after :meth:`heal` it arrives late rather than never (unless a peer gave up and closed);
- ``heal()``: forwarding resumes and new connections are proxied again;
- ``close()``: every connection and the listener are closed and the loop thread ends.

One thread runs a selector loop over all the sockets.  The control methods hand a command to
that thread and wait (bounded by ``CONTROL_TIMEOUT_S``) until it has been applied, so when
``cut()`` returns, every connection is already reset or frozen: nothing is left to timing.
Memory is bounded: each direction of a connection holds at most ``CHUNK`` bytes, and a side
is read only once the bytes read from it before have all been written to the other side
(back pressure then comes from TCP itself).  A half-close is forwarded as a half-close.
"""

from __future__ import annotations

import contextlib
import errno
import queue
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

CutMode = Literal["reset", "blackhole"]
CHUNK = 64 * 1024
CONTROL_TIMEOUT_S = 10.0
ACCEPTS_PER_WAKEUP = 64
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (no lingering, unsent bytes dropped)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


@dataclass(eq=False)
class _Pipe:
    """One direction of a proxied connection: bytes read from ``source``, owed to ``sink``."""

    source: socket.socket
    sink: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    eof: bool = False  # the source half-closed (or closed)
    done: bool = False  # eof, the buffer drained and the sink shut for writing

    def wants_read(self) -> bool:
        return not self.eof and not self.buffer

    def wants_write(self) -> bool:
        return bool(self.buffer)


@dataclass(eq=False)
class _Link:
    """A client connection and the connection the proxy opened to the target for it."""

    client: socket.socket
    upstream: socket.socket
    connecting: bool = True
    forward: _Pipe = field(init=False)
    backward: _Pipe = field(init=False)

    def __post_init__(self) -> None:
        self.forward = _Pipe(self.client, self.upstream)
        self.backward = _Pipe(self.upstream, self.client)

    @property
    def pipes(self) -> tuple[_Pipe, _Pipe]:
        return self.forward, self.backward

    def interest(self, sock: socket.socket) -> int:
        """The selector events ``sock`` waits for while the link is forwarding."""
        if sock is self.upstream and self.connecting:
            return selectors.EVENT_WRITE  # a non-blocking connect completes as writable
        events = 0
        for pipe in self.pipes:
            # Nothing is read from the client before the target accepted: it may refuse.
            if pipe.source is sock and pipe.wants_read() and not self.connecting:
                events |= selectors.EVENT_READ
            if pipe.sink is sock and pipe.wants_write():
                events |= selectors.EVENT_WRITE
        return events


class _Marker:
    """Selector data of the proxy's own sockets (the listener, the wake-up pipe)."""


_LISTENER = _Marker()
_WAKE = _Marker()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`cut` and :meth:`heal` partition it."""

    def __init__(self, target: tuple[str, int], *, name: str = "fault-proxy") -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, _WAKE)
        self._selector.register(self._listener, selectors.EVENT_READ, _LISTENER)
        self._commands: queue.SimpleQueue[_Command[object]] = queue.SimpleQueue()
        self._state_lock = threading.Lock()
        self._stopped = False  # set by the loop thread as it exits
        self._stop_requested = False  # loop thread: set by the close command
        self._failure: BaseException | None = None
        # Loop-thread state: only the loop thread reads or writes these.
        self._mode: Literal["open", "reset", "blackhole"] = "open"
        self._links: set[_Link] = set()
        self._accepted = 0
        self._refused = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- control, from any thread ---------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` to give a client instead of the target's."""
        return f"127.0.0.1:{self.port}"

    def cut(self, mode: CutMode = "reset") -> None:
        """Partition: ``"reset"`` closes every connection (and refuses new ones) until
        :meth:`heal`; ``"blackhole"`` freezes them (and leaves new ones unanswered)."""
        if mode not in ("reset", "blackhole"):
            raise ValueError(f"unknown cut mode {mode!r}: 'reset' or 'blackhole'")
        self._call(lambda: self._set_mode(mode))

    def heal(self) -> None:
        """Forward again: frozen connections resume, new ones are proxied."""
        self._call(lambda: self._set_mode("open"))

    @property
    def mode(self) -> str:
        """``"open"``, ``"reset"`` or ``"blackhole"``."""
        return self._call(lambda: self._mode)

    @property
    def active_connections(self) -> int:
        """Connections being proxied (or frozen) right now."""
        return self._call(lambda: len(self._links))

    @property
    def accepted(self) -> int:
        """Connections accepted and forwarded to the target so far."""
        return self._call(lambda: self._accepted)

    @property
    def refused(self) -> int:
        """Connections accepted and reset at once because the proxy was cut (``"reset"``)."""
        return self._call(lambda: self._refused)

    def close(self, timeout_s: float = CONTROL_TIMEOUT_S) -> None:
        """Close every connection and the listener; idempotent."""
        with self._state_lock:
            stopped = self._stopped
        if not stopped:
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                self._call(self._shut_down)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"proxy loop did not stop within {timeout_s} s")
        self._wake_writer.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, action: Callable[[], T]) -> T:
        """Run ``action`` on the loop thread; wait (bounded) for its result."""
        command: _Command[T] = _Command(action)
        with self._state_lock:
            if self._stopped:
                raise RuntimeError(f"the proxy is closed (loop failure: {self._failure!r})")
            self._commands.put(command)  # type: ignore[arg-type]
        # A full wake-up pipe wakes the loop already; a closed one means the loop has ended
        # (and failed every pending command).
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")
        if not command.done.wait(CONTROL_TIMEOUT_S):
            raise RuntimeError(f"proxy loop did not answer within {CONTROL_TIMEOUT_S} s")
        if command.error is not None:
            raise command.error
        return command.result  # type: ignore[return-value]

    # ---- the loop thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopped_by_command():
                for key, events in self._selector.select():
                    if key.data is _WAKE:
                        self._drain_wakeups()
                    elif key.data is _LISTENER:
                        self._accept()
                    elif isinstance(key.data, _Link) and key.data in self._links:
                        self._service(key.data, key.fileobj, events)  # type: ignore[arg-type]
        except BaseException as error:
            self._failure = error
            raise
        finally:
            self._close_everything()
            with self._state_lock:
                self._stopped = True
                pending = []
                while not self._commands.empty():
                    pending.append(self._commands.get_nowait())
            for command in pending:
                command.error = RuntimeError("the proxy closed")
                command.done.set()

    def _stopped_by_command(self) -> bool:
        """Apply every queued command; True once one of them shut the proxy down."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return False
            try:
                command.result = command.action()
            except Exception as error:
                command.error = error
            command.done.set()
            if self._stop_requested:
                return True

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(4096):
                pass

    def _shut_down(self) -> None:
        """The close command: :meth:`_run` stops after it and closes everything."""
        self._stop_requested = True

    def _set_mode(self, mode: Literal["open", "reset", "blackhole"]) -> None:
        self._mode = mode
        if mode == "reset":
            for link in list(self._links):
                self._drop(link, reset=True)
        self._watch(self._listener, 0 if mode == "blackhole" else selectors.EVENT_READ, _LISTENER)
        for link in self._links:
            self._rewatch(link)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                client, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # the peer gave up between SYN and accept
                raise
            if self._mode == "reset":
                self._refused += 1
                _reset(client)
                continue
            self._accepted += 1
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setblocking(False)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = upstream.connect_ex(self.target)
            link = _Link(client, upstream, connecting=code != 0)
            self._links.add(link)
            if code not in (0, errno.EINPROGRESS):
                self._drop(link, reset=True)  # the target refused: so does the proxy
                continue
            self._rewatch(link)

    def _service(self, link: _Link, sock: socket.socket, events: int) -> None:
        try:
            if sock is link.upstream and link.connecting:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code != 0:
                    self._drop(link, reset=True)
                    return
                link.connecting = False
            else:
                if events & selectors.EVENT_READ:
                    self._read(link, sock)
                if events & selectors.EVENT_WRITE:
                    self._write(link, sock)
        except (BlockingIOError, InterruptedError):
            pass  # spurious readiness: ask again
        except OSError:
            self._drop(link, reset=True)  # a reset (or worse) on one side: reset the other
            return
        for pipe in link.pipes:
            if pipe.eof and not pipe.buffer and not pipe.done:
                with contextlib.suppress(OSError):
                    pipe.sink.shutdown(socket.SHUT_WR)  # forward the half-close
                pipe.done = True
        if link.forward.done and link.backward.done:
            self._drop(link, reset=False)
        else:
            self._rewatch(link)

    @staticmethod
    def _read(link: _Link, sock: socket.socket) -> None:
        for pipe in link.pipes:
            if pipe.source is sock and pipe.wants_read():
                data = sock.recv(CHUNK)
                if data:
                    pipe.buffer += data
                else:
                    pipe.eof = True

    @staticmethod
    def _write(link: _Link, sock: socket.socket) -> None:
        for pipe in link.pipes:
            if pipe.sink is sock and pipe.buffer:
                sent = sock.send(pipe.buffer)
                del pipe.buffer[:sent]

    def _rewatch(self, link: _Link) -> None:
        frozen = self._mode == "blackhole"
        for sock in (link.client, link.upstream):
            self._watch(sock, 0 if frozen else link.interest(sock), link)

    def _watch(self, sock: socket.socket, events: int, data: object) -> None:
        """Register, modify or unregister ``sock`` so that it waits for exactly ``events``."""
        try:
            current = self._selector.get_key(sock).events
        except KeyError:
            current = 0
        if events == current:
            return
        if events == 0:
            self._selector.unregister(sock)
        elif current == 0:
            self._selector.register(sock, events, data)
        else:
            self._selector.modify(sock, events, data)

    def _drop(self, link: _Link, *, reset: bool) -> None:
        self._links.discard(link)
        for sock in (link.client, link.upstream):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            if reset:
                _reset(sock)
            else:
                sock.close()

    def _close_everything(self) -> None:
        for link in list(self._links):
            self._drop(link, reset=False)
        for sock in (self._listener, self._wake_reader):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()
        self._selector.close()


@dataclass(eq=False)
class _Command(Generic[T]):
    """One control request for the loop thread, and its outcome."""

    action: Callable[[], T]
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None
