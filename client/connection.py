"""One TCP connection to one broker: ApiVersions negotiation, pipelined requests, deadlines.

A :class:`Connection` owns a reader task that reads size-prefixed response frames and hands each
to the request that is waiting for it.  Kafka answers the requests of one connection in the
order they were sent, so the pending requests form a FIFO and a response whose correlation id
is not the oldest pending one is a protocol violation (the connection is closed).

Starting one (the reader needs a task group, as everything in anyio does):

* ``async with Connection.connect(host, port, ...) as connection:`` — the connection runs its
  reader in a task group of its own and is closed when the block ends;
* ``connection = await Connection.start(task_group, host, port, ...)`` — the reader runs in the
  caller's task group (this is how :class:`~client.cluster.Cluster` keeps one connection per
  broker alive for as long as the client lives); ``await connection.close()`` ends it.

Every request has a deadline (``request.timeout.ms`` unless the call gives one), covering the
wait for an in-flight slot, the write and the response.  As in Kafka's NetworkClient, a request
that times out after it was written closes the connection: a later response could never be
told apart, and everything queued behind it would wait as long.  When a connection breaks or is
closed, every pending request fails with :class:`~client.errors.KafkaConnectionError`
(retriable).
"""

from __future__ import annotations

import importlib.metadata
import select
import ssl
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from construct import Container

from client import sasl as sasl_exchange
from client.errors import (
    KafkaConnectionError,
    KafkaProtocolError,
    KafkaTimeoutError,
    UnsupportedVersionError,
    error_for,
)
from client.protocol import headers
from client.protocol.errors import ErrorCode, ProtocolError
from client.protocol.framing import FrameReader
from client.protocol.messages import APIS
from client.sasl import SaslCredentials

API_VERSIONS = 18
# KIP-511: v3 carries the client's software name and version; v0 is what every broker reads.
API_VERSIONS_PREFERRED = 3
SOFTWARE_NAME = "odradek"
try:
    SOFTWARE_VERSION = importlib.metadata.version("odradek")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    SOFTWARE_VERSION = "0.0.0"

# The largest response frame we accept.  Kafka's client has no limit; a bound keeps a bad peer
# from making us allocate what it claims.  Above the default fetch.max.bytes (50 MiB), since a
# fetch may return one batch more than asked for.
DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024
RECEIVE_CHUNK_BYTES = 64 * 1024
RECEIVE_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT_MS = 30000
DEFAULT_CONNECT_TIMEOUT_MS = 10000
DEFAULT_MAX_IN_FLIGHT = 5
_CORRELATION_ID_LIMIT = 2**31
_CORRELATION_ID = struct.Struct(">i")
_ERROR_CODE = struct.Struct(">h")

_SocketErrors = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


def api_name(api_key: int) -> str:
    """The API's name (``Metadata``), or ``api <key>`` for one we have no declaration of."""
    api = APIS.get(api_key)
    return api[0].name.removesuffix("Request") if api else f"api {api_key}"


class _Pending:
    """One request awaiting its response (or its failure)."""

    __slots__ = ("api_key", "correlation_id", "error", "event", "frame", "registered")

    def __init__(self, api_key: int) -> None:
        self.api_key = api_key
        self.correlation_id = -1
        self.registered = False
        self.event = anyio.Event()
        self.frame: bytes | None = None
        self.error: KafkaConnectionError | None = None


class Connection:
    """A connection to one broker, with its negotiated API versions.

    Do not construct directly: use :meth:`connect` or :meth:`start`.  Safe to use from many
    tasks at once: requests are pipelined, at most ``max_in_flight`` unanswered at a time.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        host: str,
        port: int,
        *,
        client_id: str,
        request_timeout_ms: int,
        max_in_flight: int,
        max_frame_bytes: int,
    ) -> None:
        assert max_in_flight >= 1 and request_timeout_ms >= 0
        self.host = host
        self.port = port
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self.max_in_flight = max_in_flight
        self._stream = stream
        self._frames = FrameReader(max_frame_bytes)
        # fast_acquire: taking a free slot or lock does not yield to the event loop (two
        # forced task switches per request otherwise)
        self._in_flight = anyio.Semaphore(max_in_flight, fast_acquire=True)
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._pending: deque[_Pending] = deque()
        self._next_correlation_id = 0
        self._error: KafkaConnectionError | None = None
        self._failure_reason = ""
        self._reader_scope: anyio.CancelScope | None = None
        self._reader_done = anyio.Event()
        self._api_versions: dict[int, tuple[int, int]] = {}
        self.api_versions_version = -1
        self.last_used = anyio.current_time()

    # -- starting and stopping ---------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        task_group: anyio.abc.TaskGroup,
        host: str,
        port: int,
        *,
        client_id: str = SOFTWARE_NAME,
        request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        sasl: SaslCredentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Connection:
        """Connect, start the reader in ``task_group``, negotiate API versions and, with
        ``sasl``, authenticate (SaslHandshake + SaslAuthenticate, :mod:`client.sasl`).

        Raises :class:`~client.errors.KafkaConnectionError` if the TCP connect fails or takes
        longer than ``connect_timeout_ms`` (``socket.connection.setup.timeout.ms``), and the
        errors of :meth:`send` if ApiVersions fails.  The caller must ``await close()``.
        """
        address = f"{host}:{port}"
        try:
            with anyio.fail_after(connect_timeout_ms / 1000):
                if ssl_context is None:
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
                else:
                    # TLS (SSL / SASL_SSL listeners); Kafka's brokers do not send close_notify.
                    stream = await anyio.connect_tcp(
                        host, port, ssl_context=ssl_context, tls_standard_compatible=False
                    )
        except TimeoutError:
            raise KafkaConnectionError(
                address, f"no connection within {connect_timeout_ms} ms"
            ) from None
        except (OSError, anyio.BrokenResourceError) as error:
            raise KafkaConnectionError(address, f"cannot connect: {_describe(error)}") from error
        connection = cls(
            stream,
            host,
            port,
            client_id=client_id,
            request_timeout_ms=request_timeout_ms,
            max_in_flight=max_in_flight,
            max_frame_bytes=max_frame_bytes,
        )
        await task_group.start(connection._run_reader)
        try:
            await connection._negotiate()
            if sasl is not None:
                await connection._authenticate(sasl)
        except BaseException:
            await connection.close()
            raise
        return connection

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        client_id: str = SOFTWARE_NAME,
        request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        sasl: SaslCredentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> ConnectionContext:
        """``async with Connection.connect(host, port) as connection:`` — see :meth:`start`.

        The reader runs in a task group owned by the block; the connection is closed on exit.
        """
        return ConnectionContext(
            lambda task_group: cls.start(
                task_group,
                host,
                port,
                client_id=client_id,
                request_timeout_ms=request_timeout_ms,
                max_in_flight=max_in_flight,
                connect_timeout_ms=connect_timeout_ms,
                max_frame_bytes=max_frame_bytes,
                sasl=sasl,
                ssl_context=ssl_context,
            )
        )

    async def close(self) -> None:
        """Close the socket; pending requests fail with KafkaConnectionError.  Idempotent.

        Returns once the reader task has finished.
        """
        self._fail("connection closed by the client")
        with anyio.CancelScope(shield=True):
            await self._reader_done.wait()

    async def wait_closed(self) -> None:
        """Return once the connection is closed (by either side) and its reader has finished."""
        await self._reader_done.wait()

    # -- state -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the broker."""
        return f"{self.host}:{self.port}"

    @property
    def closed(self) -> bool:
        """True once the connection broke or was closed; it never reopens."""
        return self._error is not None

    def peer_closed(self) -> bool:
        """Whether the broker has closed its end, as far as the socket already knows (the
        reader task may not have run yet): a zero-timeout poll for a hang-up, which reads
        nothing.  False where the platform cannot tell (no ``POLLRDHUP``)."""
        if self._error is not None:
            return True
        raw = self._stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        hang_up = getattr(select, "POLLRDHUP", 0)
        if raw is None or not hang_up:
            return False
        poller = select.poll()
        try:
            poller.register(raw.fileno(), hang_up)
            events = poller.poll(0)
        except (OSError, ValueError):
            return True
        return any(mask & (hang_up | select.POLLHUP | select.POLLERR) for _, mask in events)

    @property
    def in_flight(self) -> int:
        """Requests written and not yet answered."""
        return len(self._pending)

    @property
    def api_versions(self) -> Mapping[int, tuple[int, int]]:
        """API key → (min, max) version as the broker advertised them."""
        return self._api_versions

    def supports(self, api_key: int) -> bool:
        """Whether the broker advertised ``api_key`` at all."""
        return api_key in self._api_versions

    def versions_for(self, api_key: int) -> tuple[int, int]:
        """The broker's (min, max) versions of ``api_key``; UnsupportedVersionError if absent."""
        versions = self._api_versions.get(api_key)
        if versions is None:
            raise UnsupportedVersionError(
                f"broker {self.address} does not support {api_name(api_key)} (key {api_key})"
            )
        return versions

    def pick_version(
        self, api_key: int, ours_min: int | None = None, ours_max: int | None = None
    ) -> int:
        """The highest version both sides support.

        ``ours_min``/``ours_max`` default to the range our declaration of the API covers.
        Raises :class:`~client.errors.UnsupportedVersionError` naming both ranges if they do
        not overlap (as Kafka's clients fail locally rather than send an unsupported version).
        """
        broker_min, broker_max = self.versions_for(api_key)
        declared = APIS[api_key][0].valid_versions
        low = declared.low if ours_min is None else ours_min
        high = declared.high if ours_max is None else ours_max
        version = min(high, broker_max)
        if version < max(low, broker_min):
            raise UnsupportedVersionError(
                f"broker {self.address} supports {api_name(api_key)} v{broker_min}-{broker_max}, "
                f"the client needs v{low}-{high}"
            )
        return version

    # -- requests ----------------------------------------------------------------------------

    async def send(
        self,
        api_key: int,
        body: Mapping[str, Any],
        *,
        version: int | None = None,
        expect_response: bool = True,
        timeout_ms: int | None = None,
    ) -> Container:
        """Send one request and return its decoded response body.

        ``version`` defaults to :meth:`pick_version`.  ``expect_response=False`` is for
        requests the broker does not answer (Produce with acks=0): it returns an empty
        Container once the request is written.  ``timeout_ms`` defaults to
        ``request.timeout.ms``; a request that needs to wait at the broker (a Fetch's
        ``max_wait_ms``) must pass a larger one.  Top-level and per-item error codes in the
        response are left to the caller.

        Raises :class:`~client.errors.KafkaTimeoutError` when the deadline passes,
        :class:`~client.errors.KafkaConnectionError` when the connection is or becomes
        unusable, :class:`~client.errors.KafkaProtocolError` for an undecodable response.  The
        timeout and connection errors say ``request_sent``: whether the request had been
        written (so a Produce may have been appended; see :func:`client.errors.is_ambiguous`).
        """
        if version is None:
            version = self.pick_version(api_key)
        frame = await self._exchange(api_key, version, body, expect_response, timeout_ms)
        if frame is None:
            return Container()
        try:
            _, response = headers.decode_response(api_key, version, frame)
        except ProtocolError as error:
            raise KafkaProtocolError(f"{self.address}: {error}") from error
        return response

    async def _exchange(
        self,
        api_key: int,
        version: int,
        body: Mapping[str, Any],
        expect_response: bool,
        timeout_ms: int | None,
    ) -> bytes | None:
        """Write one request and wait for its response frame (None if none is expected)."""
        self._check_open()
        timeout = self.request_timeout_ms if timeout_ms is None else timeout_ms
        pending = _Pending(api_key)
        with anyio.move_on_after(timeout / 1000) as scope:
            await self._in_flight.acquire()
            await self._write(pending, version, body, expect_response)
            if not expect_response:
                return None
            await pending.event.wait()
        if scope.cancelled_caught:
            message = f"{api_name(api_key)} v{version}: no response within {timeout} ms"
            if pending.registered:
                # Kafka closes the connection: a late answer could not be matched.
                self._fail(f"{message}; connection closed")
            raise KafkaTimeoutError(f"{self.address}: {message}", request_sent=pending.registered)
        if pending.error is not None:
            raise pending.error
        assert pending.frame is not None
        return pending.frame

    async def _write(
        self, pending: _Pending, version: int, body: Mapping[str, Any], expect_response: bool
    ) -> None:
        """Assign a correlation id, register ``pending`` and write the frame, in wire order.

        Holds one in-flight slot on entry.  Once registered, the slot belongs to the pending
        request (released when it is answered or failed); until then it is released here.
        """
        try:
            async with self._send_lock:
                self._check_open()
                correlation_id = self._next_correlation_id
                self._next_correlation_id = (correlation_id + 1) % _CORRELATION_ID_LIMIT
                frame = headers.encode_request(
                    pending.api_key, version, correlation_id, self.client_id, dict(body)
                )
                if expect_response:
                    pending.correlation_id = correlation_id
                    pending.registered = True
                    self._pending.append(pending)
                await self._write_frame(frame)
        finally:
            if not pending.registered:
                self._in_flight.release()
        self.last_used = anyio.current_time()

    async def _write_frame(self, frame: bytes) -> None:
        # Shielded: a frame cut in half by a cancellation would desynchronise the stream.  The
        # write still has its own deadline (a peer that stops reading).
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(self.request_timeout_ms / 1000):
                    await self._stream.send(frame)
            except TimeoutError:
                reason = "write timed out; connection closed"
                self._fail(reason)
                raise KafkaConnectionError(self.address, reason, request_sent=True) from None
            except _SocketErrors as error:
                reason = f"write failed: {_describe(error)}"
                self._fail(reason)
                raise KafkaConnectionError(self.address, reason, request_sent=True) from error

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error

    # -- negotiation -------------------------------------------------------------------------

    async def _negotiate(self) -> None:
        """ApiVersions at v3 (KIP-511), falling back to v0 on UNSUPPORTED_VERSION.

        A broker that does not know v3 answers error 35 in the v0 layout (possibly with extra
        bytes, as librdkafka's mock does), so only the error code is read before retrying at
        v0, as librdkafka and kafka-python do.
        """
        body = {
            "client_software_name": SOFTWARE_NAME,
            "client_software_version": SOFTWARE_VERSION,
        }
        version = API_VERSIONS_PREFERRED
        frame = await self._exchange(API_VERSIONS, version, body, True, None)
        assert frame is not None
        if _peek_error_code(frame, self.address) == ErrorCode.UNSUPPORTED_VERSION:
            version = 0
            frame = await self._exchange(API_VERSIONS, version, {}, True, None)
            assert frame is not None
        try:
            _, response = headers.decode_response(API_VERSIONS, version, frame)
        except ProtocolError as error:
            raise KafkaProtocolError(f"{self.address}: ApiVersions: {error}") from error
        if response.error_code != ErrorCode.NONE:
            raise error_for(response.error_code, f"ApiVersions v{version} from {self.address}")
        self._api_versions = {
            entry.api_key: (entry.min_version, entry.max_version) for entry in response.api_keys
        }
        self.api_versions_version = version

    async def _authenticate(self, credentials: SaslCredentials) -> None:
        steps = sasl_exchange.authentication(
            credentials, self.pick_version(sasl_exchange.SASL_AUTHENTICATE, 0, 2)
        )
        api_key, version, body = next(steps)
        while True:
            response = await self.send(api_key, body, version=version)
            try:
                api_key, version, body = steps.send(response)
            except StopIteration:
                return

    # -- the reader --------------------------------------------------------------------------

    async def _run_reader(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._reader_scope = scope
                task_status.started()
                if self._error is not None:
                    return
                await self._read_responses()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            self._reader_done.set()

    async def _read_responses(self) -> None:
        try:
            while True:
                wanted = min(
                    RECEIVE_MAX_BYTES, max(RECEIVE_CHUNK_BYTES, self._frames.needed_bytes())
                )
                self._frames.feed(await self._stream.receive(wanted))
                while (frame := self._frames.next_frame()) is not None:
                    self._deliver(frame)
        except _SocketErrors as error:
            self._fail(f"connection lost: {_describe(error)}")
        except ProtocolError as error:
            self._fail(f"bad response: {error}")

    def _deliver(self, frame: bytes) -> None:
        if len(frame) < _CORRELATION_ID.size:
            raise ProtocolError("response shorter than its header")
        (correlation_id,) = _CORRELATION_ID.unpack_from(frame)
        if not self._pending or self._pending[0].correlation_id != correlation_id:
            expected = self._pending[0].correlation_id if self._pending else None
            raise ProtocolError(
                f"response for correlation id {correlation_id}, expected {expected}"
            )
        pending = self._pending.popleft()
        pending.frame = frame
        pending.event.set()
        self._in_flight.release()
        self.last_used = anyio.current_time()

    def _fail(self, reason: str) -> None:
        """Mark the connection dead (first reason wins), fail every pending request, stop reading.

        Pending requests were written, so their errors say ``request_sent``; requests refused
        afterwards (:meth:`_check_open`) were not.
        """
        if self._error is None:
            self._error = KafkaConnectionError(self.address, reason)
            self._failure_reason = reason
        while self._pending:
            pending = self._pending.popleft()
            pending.error = KafkaConnectionError(
                self.address, self._failure_reason, request_sent=True
            )
            pending.event.set()
            self._in_flight.release()
        if self._reader_scope is not None:
            self._reader_scope.cancel()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.in_flight} in flight"
        return f"<Connection {self.address} {self.client_id!r} {state}>"


class ConnectionContext:
    """What :meth:`Connection.connect` returns: an async context manager owning a task group."""

    def __init__(self, start: Callable[[anyio.abc.TaskGroup], Awaitable[Connection]]) -> None:
        self._start = start
        self._task_group: anyio.abc.TaskGroup | None = None
        self._connection: Connection | None = None

    async def __aenter__(self) -> Connection:
        """Connect and negotiate; the errors of :meth:`Connection.start`."""
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            self._connection = await self._start(task_group)
        except BaseException as error:
            await exit_task_group(task_group, type(error), error, error.__traceback__)
            raise
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Close the connection and wait for its reader."""
        assert self._connection is not None and self._task_group is not None
        await self._connection.close()
        return await exit_task_group(self._task_group, exc_type, exc, traceback)


async def exit_task_group(
    task_group: anyio.abc.TaskGroup,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    traceback: TracebackType | None,
) -> bool | None:
    """Exit a task group entered by hand, letting the host's own exception through unwrapped.

    anyio 4 wraps an exception raised in the host task in an ExceptionGroup; for a client
    object used as ``async with`` that would turn every error in the user's block (and our
    own connect errors) into a group.  When the group holds only that exception, it is left
    to propagate as it was; anything a child task raised still comes out as a group.
    """
    try:
        return await task_group.__aexit__(exc_type, exc, traceback)
    except BaseExceptionGroup as group:
        if exc is not None and len(group.exceptions) == 1 and group.exceptions[0] is exc:
            return False
        raise


def _peek_error_code(frame: bytes, address: str) -> int:
    """The error code of an ApiVersions response (header v0: it follows the correlation id)."""
    if len(frame) < _CORRELATION_ID.size + _ERROR_CODE.size:
        raise KafkaProtocolError(f"{address}: ApiVersions response too short")
    (code,) = _ERROR_CODE.unpack_from(frame, _CORRELATION_ID.size)
    return int(code)


def _describe(error: BaseException) -> str:
    if isinstance(error, anyio.EndOfStream):
        return "closed by the broker"
    return str(error) or type(error).__name__
