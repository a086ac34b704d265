"""Size-prefixed frames (int32 big-endian length, then that many bytes), with a maximum.

:class:`FrameReader` is sans-IO: feed it bytes as they arrive, take whole frames out.  A size
prefix that is negative or above ``max_frame_bytes`` raises :class:`FrameTooLarge` before any
of the frame is buffered, so a hostile peer cannot make us allocate what it claims.
"""

from __future__ import annotations

import struct

from client.protocol.errors import ProtocolError

_SIZE = struct.Struct(">i")
SIZE_BYTES = _SIZE.size


class FrameTooLarge(ProtocolError):
    """A size prefix over the limit (``socket.request.max.bytes`` on the broker)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class FrameReader:
    """Accumulates bytes and yields complete frame bodies (without the size prefix)."""

    def __init__(self, max_frame_bytes: int) -> None:
        assert max_frame_bytes > 0
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._start = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer) - self._start

    def next_frame(self) -> bytes | None:
        """The next whole frame body, or ``None`` until more bytes arrive."""
        available = len(self._buffer) - self._start
        if available < SIZE_BYTES:
            self._compact()
            return None
        (size,) = _SIZE.unpack_from(self._buffer, self._start)
        if size < 0 or size > self.max_frame_bytes:
            raise FrameTooLarge(size, self.max_frame_bytes)
        if available < SIZE_BYTES + size:
            self._compact()
            return None
        begin = self._start + SIZE_BYTES
        frame = bytes(self._buffer[begin : begin + size])
        self._start = begin + size
        return frame

    def needed_bytes(self) -> int:
        """How many more bytes complete the frame in progress (at least 1)."""
        available = len(self._buffer) - self._start
        if available < SIZE_BYTES:
            return SIZE_BYTES - available
        (size,) = _SIZE.unpack_from(self._buffer, self._start)
        return max(1, SIZE_BYTES + int(size) - available)

    def _compact(self) -> None:
        if self._start:
            del self._buffer[: self._start]
            self._start = 0


def frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its size."""
    return _SIZE.pack(len(payload)) + payload
