"""One blocking TCP connection to one broker: ApiVersions negotiation, pipelining, deadlines.

The blocking twin of :class:`client.connection.Connection`, with the same rules and errors but
no event loop and no reader task: plain ``socket`` calls with timeouts, so under gevent's
monkey-patching (Locust) every wait yields to the other greenlets.  Nothing here starts a
thread.

Requests are pipelined: :meth:`BlockingConnection.request` writes a request and returns a
:class:`PendingRequest` at once (at most ``max_in_flight`` unanswered; a caller over the limit
reads answers until a slot frees).  Answers are read when someone asks -- :meth:`wait` for one
request, or :meth:`read_available` after a selector said the socket is readable -- and each
completes its request in order (Kafka answers one connection's requests in the order they were
sent; a correlation id out of order closes the connection) and runs the request's callback.

Deadlines follow the async connection: each request has one (``request.timeout.ms`` unless the
call gives one) covering the wait for a slot, the write and the answer.  A request whose
deadline passes after it was written fails with :class:`~client.errors.KafkaTimeoutError` and
closes the connection, as Kafka's NetworkClient does: a late answer could not be matched.  A
broken or closed connection fails every pending request with
:class:`~client.errors.KafkaConnectionError` (``request_sent=True``).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from construct import Container

from client import sasl as sasl_exchange
from client.connection import (
    API_VERSIONS,
    API_VERSIONS_PREFERRED,
    DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REQUEST_TIMEOUT_MS,
    RECEIVE_CHUNK_BYTES,
    RECEIVE_MAX_BYTES,
    SOFTWARE_NAME,
    SOFTWARE_VERSION,
    _peek_error_code,
    api_name,
)
from client.errors import (
    KafkaConnectionError,
    KafkaError,
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

_CORRELATION_ID_LIMIT = 2**31
_CORRELATION_ID_BYTES = 4

Callback = Callable[["PendingRequest"], None]


class PendingRequest:
    """One request: written, then answered (``response``) or failed (``error``).

    ``callback`` runs once, when the request completes either way (from whichever call read
    the answer or noticed the failure).
    """

    __slots__ = ("api_key", "callback", "correlation_id", "deadline_s", "done", "error", "raw",
                 "response", "timeout_ms", "version")  # fmt: skip

    def __init__(
        self,
        api_key: int,
        version: int,
        timeout_ms: int,
        callback: Callback | None,
        *,
        raw: bool = False,
    ) -> None:
        self.api_key = api_key
        self.raw = raw  # keep the frame undecoded (``response.frame``)
        self.version = version
        self.timeout_ms = timeout_ms
        self.deadline_s = time.monotonic() + timeout_ms / 1000
        self.callback = callback
        self.correlation_id = -1
        self.done = False
        self.response: Container | None = None
        self.error: KafkaError | None = None

    def result(self) -> Container:
        """The decoded response body; the request's error if it failed."""
        assert self.done, "the request is not answered yet"
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response

    def _complete(self, response: Container | None, error: KafkaError | None) -> None:
        assert not self.done
        self.done = True
        self.response = response
        self.error = error
        if self.callback is not None:
            self.callback(self)


class BlockingConnection:
    """A blocking connection to one broker.  Open one with :meth:`open`; not thread-safe (the
    clients that own one serialize their calls)."""

    def __init__(
        self,
        sock: socket.socket,
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
        self.socket = sock
        self._frames = FrameReader(max_frame_bytes)
        self._pending: deque[PendingRequest] = deque()
        self._next_correlation_id = 0
        self._error: KafkaConnectionError | None = None
        self._api_versions: dict[int, tuple[int, int]] = {}
        self.api_versions_version = -1
        self.last_used = time.monotonic()

    @classmethod
    def open(
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
    ) -> BlockingConnection:
        """Connect (within ``connect_timeout_ms``), negotiate API versions and, with ``sasl``,
        authenticate (:mod:`client.sasl`).

        Raises :class:`~client.errors.KafkaConnectionError` if the connect fails or times out,
        and the errors of :meth:`send` if ApiVersions fails.  The caller must :meth:`close`.
        """
        address = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout_ms / 1000)
        except TimeoutError:
            raise KafkaConnectionError(
                address, f"no connection within {connect_timeout_ms} ms"
            ) from None
        except OSError as error:
            raise KafkaConnectionError(address, f"cannot connect: {_describe(error)}") from error
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
            except OSError as error:  # ssl.SSLError (a refused certificate) included
                sock.close()
                raise KafkaConnectionError(address, f"TLS handshake: {error}") from error
        connection = cls(
            sock,
            host,
            port,
            client_id=client_id,
            request_timeout_ms=request_timeout_ms,
            max_in_flight=max_in_flight,
            max_frame_bytes=max_frame_bytes,
        )
        try:
            connection._negotiate()
            if sasl is not None:
                connection._authenticate(sasl)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self, reason: str = "connection closed by the client") -> None:
        """Close the socket; pending requests fail with KafkaConnectionError.  Idempotent."""
        self._fail(reason)

    # -- state -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the broker."""
        return f"{self.host}:{self.port}"

    @property
    def closed(self) -> bool:
        """True once the connection broke or was closed; it never reopens."""
        return self._error is not None

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

    def pick_version(
        self, api_key: int, ours_min: int | None = None, ours_max: int | None = None
    ) -> int:
        """The highest version both sides support (as :meth:`Connection.pick_version
        <client.connection.Connection.pick_version>`); UnsupportedVersionError if none."""
        versions = self._api_versions.get(api_key)
        if versions is None:
            raise UnsupportedVersionError(
                f"broker {self.address} does not support {api_name(api_key)} (key {api_key})"
            )
        declared = APIS[api_key][0].valid_versions
        low = declared.low if ours_min is None else ours_min
        high = declared.high if ours_max is None else ours_max
        version = min(high, versions[1])
        if version < max(low, versions[0]):
            raise UnsupportedVersionError(
                f"broker {self.address} supports {api_name(api_key)} v{versions[0]}-"
                f"{versions[1]}, the client needs v{low}-{high}"
            )
        return version

    def next_deadline_s(self) -> float | None:
        """The earliest deadline (``time.monotonic()``) of a pending request, or None."""
        return min((pending.deadline_s for pending in self._pending), default=None)

    # -- requests ----------------------------------------------------------------------------

    def send(
        self,
        api_key: int,
        body: Mapping[str, Any],
        *,
        version: int | None = None,
        expect_response: bool = True,
        timeout_ms: int | None = None,
    ) -> Container:
        """Send one request and wait for its decoded response body (the errors of the async
        :meth:`Connection.send <client.connection.Connection.send>`, same ``request_sent``)."""
        pending = self.request(
            api_key, body, version=version, expect_response=expect_response, timeout_ms=timeout_ms
        )
        self.wait(pending)
        return pending.result()

    def request(
        self,
        api_key: int,
        body: Mapping[str, Any],
        *,
        version: int | None = None,
        expect_response: bool = True,
        timeout_ms: int | None = None,
        callback: Callback | None = None,
        raw: bool = False,
    ) -> PendingRequest:
        """Write one request and return it pending (done at once without a response).

        Either this raises (the callback never runs) or the callback runs exactly once, when
        the request completes (perhaps before this returns).  Waits (reading answers) while
        ``max_in_flight`` requests are unanswered.  Raises the errors of :meth:`send` for
        anything that happens before the request is written.
        ``raw``: the answer is not decoded; ``response.frame`` holds its bytes.
        """
        self._check_open()
        if version is None:
            version = self.pick_version(api_key)
        timeout = self.request_timeout_ms if timeout_ms is None else timeout_ms
        pending = PendingRequest(api_key, version, timeout, callback, raw=raw)
        while len(self._pending) >= self.max_in_flight:
            self._wait_for_slot(pending)
        correlation_id = self._next_correlation_id
        self._next_correlation_id = (correlation_id + 1) % _CORRELATION_ID_LIMIT
        frame = headers.encode_request(api_key, version, correlation_id, self.client_id, dict(body))
        pending.correlation_id = correlation_id
        if expect_response:
            self._pending.append(pending)
        self._write(frame, pending)
        if not expect_response:
            pending._complete(Container(), None)
        return pending

    def wait(self, pending: PendingRequest) -> None:
        """Read answers until ``pending`` is done (answered, failed or timed out)."""
        while not pending.done:
            left_s = pending.deadline_s - time.monotonic()
            if left_s <= 0:
                self.expire()
                continue
            self._receive(left_s)

    def read_available(self) -> None:
        """Read what the socket has (call when a selector reports it readable)."""
        self._receive(0.0)

    def expire(self) -> None:
        """Fail a request whose deadline passed with KafkaTimeoutError; close the connection."""
        now = time.monotonic()
        late = [pending for pending in self._pending if pending.deadline_s <= now]
        if not late:
            return
        first = late[0]
        message = (
            f"{api_name(first.api_key)} v{first.version}: no response within {first.timeout_ms} ms"
        )
        self._pending.remove(first)
        self._fail(f"{message}; connection closed")
        first._complete(None, KafkaTimeoutError(f"{self.address}: {message}", request_sent=True))

    def _wait_for_slot(self, pending: PendingRequest) -> None:
        left_s = pending.deadline_s - time.monotonic()
        if left_s <= 0:
            message = (
                f"{api_name(pending.api_key)}: no in-flight slot within {pending.timeout_ms} ms"
            )
            raise KafkaTimeoutError(f"{self.address}: {message}", request_sent=False)
        self._receive(min(left_s, self._pending[0].deadline_s - time.monotonic()))
        if self._pending and self._pending[0].deadline_s <= time.monotonic():
            self.expire()
        self._check_open()

    def _write(self, frame: bytes, pending: PendingRequest) -> None:
        """Write a whole frame.  On failure ``pending`` is unregistered first, so it is
        reported by the raised error alone (its callback never runs)."""
        try:
            self.socket.settimeout(max(pending.deadline_s - time.monotonic(), 0.001))
            self.socket.sendall(frame)
        except OSError as error:
            # A frame cut in half would desynchronise the stream: close the connection.
            if pending in self._pending:
                self._pending.remove(pending)
            timed_out = isinstance(error, TimeoutError)
            reason = "write timed out" if timed_out else f"write failed: {_describe(error)}"
            self._fail(f"{reason}; connection closed")
            raise KafkaConnectionError(
                self.address, f"{reason}; connection closed", request_sent=True
            ) from error
        self.last_used = time.monotonic()

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error

    # -- reading -----------------------------------------------------------------------------

    def _receive(self, timeout_s: float) -> None:
        """One ``recv`` (waiting up to ``timeout_s``); whole frames complete their requests."""
        self._check_open()
        frames = self._frames
        wanted = min(RECEIVE_MAX_BYTES, max(RECEIVE_CHUNK_BYTES, frames.needed_bytes()))
        try:
            self.socket.settimeout(timeout_s if timeout_s > 0 else 0.0)
            data = self.socket.recv(wanted)
            if isinstance(self.socket, ssl.SSLSocket):
                # Decrypted bytes wait inside TLS where no selector sees them: take them now.
                while self.socket.pending():
                    data += self.socket.recv(self.socket.pending())
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            return
        except OSError as error:
            self._fail(f"connection lost: {_describe(error)}")
            return
        if not data:
            self._fail("connection lost: closed by the broker")
            return
        frames.feed(data)
        try:
            while (frame := frames.next_frame()) is not None:
                self._deliver(frame)
        except ProtocolError as error:
            self._fail(f"bad response: {error}")

    def _deliver(self, frame: bytes) -> None:
        if len(frame) < _CORRELATION_ID_BYTES:
            raise ProtocolError("response shorter than its header")
        correlation_id = int.from_bytes(frame[:_CORRELATION_ID_BYTES], "big", signed=True)
        if not self._pending or self._pending[0].correlation_id != correlation_id:
            expected = self._pending[0].correlation_id if self._pending else None
            raise ProtocolError(
                f"response for correlation id {correlation_id}, expected {expected}"
            )
        pending = self._pending.popleft()
        self.last_used = time.monotonic()
        if pending.raw:
            pending._complete(Container(frame=frame), None)
            return
        try:
            _, response = headers.decode_response(pending.api_key, pending.version, frame)
        except ProtocolError as error:
            pending._complete(None, KafkaProtocolError(f"{self.address}: {error}"))
            return
        pending._complete(response, None)

    def _fail(self, reason: str) -> None:
        """Mark the connection dead (first reason wins), fail every pending request."""
        if self._error is None:
            self._error = KafkaConnectionError(self.address, reason)
            self.socket.close()
        failed = list(self._pending)
        self._pending.clear()
        for pending in failed:
            pending._complete(
                None, KafkaConnectionError(self.address, self._error.message, request_sent=True)
            )

    # -- negotiation -------------------------------------------------------------------------

    def _authenticate(self, credentials: SaslCredentials) -> None:
        steps = sasl_exchange.authentication(
            credentials, self.pick_version(sasl_exchange.SASL_AUTHENTICATE, 0, 2)
        )
        api_key, version, body = next(steps)
        while True:
            response = self.send(api_key, body, version=version)
            try:
                api_key, version, body = steps.send(response)
            except StopIteration:
                return

    def _negotiate(self) -> None:
        """ApiVersions v3 (KIP-511), falling back to v0 on UNSUPPORTED_VERSION, exactly as the
        async connection does (only the error code of the v3 answer is read)."""
        body = {
            "client_software_name": SOFTWARE_NAME,
            "client_software_version": SOFTWARE_VERSION,
        }
        version = API_VERSIONS_PREFERRED
        frame = self._raw_exchange(version, body)
        if _peek_error_code(frame, self.address) == ErrorCode.UNSUPPORTED_VERSION:
            version = 0
            frame = self._raw_exchange(version, {})
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

    def _raw_exchange(self, version: int, body: dict[str, Any]) -> bytes:
        """One ApiVersions round trip returning the undecoded frame (its layout may not match
        the version asked for: see :meth:`_negotiate`)."""
        pending = self.request(API_VERSIONS, body, version=version, raw=True)
        self.wait(pending)
        frame = pending.result().frame
        assert isinstance(frame, bytes)
        return frame

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.in_flight} in flight"
        return f"<BlockingConnection {self.address} {self.client_id!r} {state}>"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
