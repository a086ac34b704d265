"""Kafka's primitive wire types as construct constructs.

Every type is a small ``Construct`` subclass written here.  Reading from a :class:`Reader` (the
decoder's stream) they take bytes straight from its buffer: the fixed-width ones with a
precompiled ``struct.Struct``, varints and lengths without a call per byte (on small requests
the generic stream helpers cost more than the parsing did).  The variable-length types
(varints, (compact) (nullable) strings and bytes, UUID) follow Kafka's length rules (``-1`` /
``0`` meaning null, ``N + 1`` in compact forms).  Every length read from the wire is checked
against the bytes that remain, so a hostile frame can never make the decoder allocate more
than the frame itself.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import construct
from construct import Construct

__all__ = [
    "UUID_TYPE",
    "Bool",
    "Bytes",
    "Float64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "KafkaString",
    "Reader",
    "Stream",
    "UInt16",
    "UInt32",
    "UVarint",
    "Varint",
    "Varlong",
    "decode_uvarint",
    "encode_uvarint",
    "read",
    "remaining",
    "write",
]

# What the codec reads from or writes to: a file-like ``IO[bytes]``, a :class:`Reader`, or the
# codec's ``Parts`` writer.  construct's own signatures are untyped, so this stays loose.
Stream = Any

_MAX_VARINT_BYTES = 5
_MAX_VARLONG_BYTES = 10


class Reader:
    """A read-only stream over a buffer whose ``read`` returns zero-copy memoryview slices.

    Decoding a 1 MiB Produce request through it leaves the ``records`` field a view of the
    frame instead of a fresh copy.
    """

    __slots__ = ("_end", "_position", "_view")

    def __init__(self, data: bytes | bytearray | memoryview, position: int = 0) -> None:
        self._view = memoryview(data)
        self._end = len(self._view)
        self._position = position

    def read(self, length: int = -1) -> memoryview:
        start = self._position
        end = self._end if length < 0 else min(start + length, self._end)
        self._position = end
        return self._view[start:end]

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._position, self._end)[whence]
        self._position = min(max(base + offset, 0), self._end)
        return self._position

    def remaining(self) -> int:
        return self._end - self._position


def remaining(stream: Stream) -> int:
    """Bytes left in a seekable stream (used to bound every length read from the wire)."""
    if isinstance(stream, Reader):
        return stream.remaining()
    position: int = stream.tell()
    end: int = stream.seek(0, 2)
    stream.seek(position)
    return end - position


def read(stream: Stream, length: int, path: str = "") -> bytes:  # or a memoryview
    """Read exactly ``length`` bytes or raise ``StreamError`` (construct's ``stream_read``)."""
    data: bytes = stream.read(length)
    if len(data) != length:
        raise construct.StreamError(f"wanted {length} bytes, got {len(data)}", path=path)
    return data


def write(stream: Stream, data: bytes | bytearray | memoryview, path: str = "") -> None:
    """Write all of ``data`` (construct's ``stream_write`` without its length check)."""
    stream.write(data)


class _Fixed(Construct):  # type: ignore[misc]
    """A big-endian fixed-width number (INT8..INT64, UINT16/32, FLOAT64)."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self._struct = struct.Struct(fmt)
        self._size = self._struct.size

    def _parse(self, stream: Stream, context: Any, path: str) -> Any:
        size = self._size
        if type(stream) is Reader:
            start = stream._position
            if stream._end - start < size:
                raise construct.StreamError(f"wanted {size} bytes", path=path)
            stream._position = start + size
            return self._struct.unpack_from(stream._view, start)[0]
        return self._struct.unpack(read(stream, size, path))[0]

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        try:
            stream.write(self._struct.pack(obj))
        except struct.error as error:
            raise construct.FormatFieldError(f"cannot encode {obj!r}: {error}", path=path) from None
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return self._size


class _Bool(_Fixed):
    """BOOLEAN: one byte, anything but 0 reads as true; written as 0 or 1."""

    def __init__(self) -> None:
        super().__init__(">B")

    def _parse(self, stream: Stream, context: Any, path: str) -> bool:
        return bool(super()._parse(stream, context, path))

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        stream.write(b"\x01" if obj else b"\x00")
        return obj


Int8 = _Fixed(">b")
Int16 = _Fixed(">h")
Int32 = _Fixed(">i")
Int64 = _Fixed(">q")
UInt16 = _Fixed(">H")
UInt32 = _Fixed(">I")
Float64 = _Fixed(">d")
Bool = _Bool()


def encode_uvarint(value: int) -> bytes:
    """Unsigned LEB128, as Kafka's UNSIGNED_VARINT."""
    if value < 0:
        raise construct.IntegerError(f"unsigned varint cannot encode {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(data: bytes | memoryview, offset: int, max_bytes: int = 5) -> tuple[int, int]:
    """Decode an unsigned varint at ``offset``; returns (value, next offset)."""
    result = 0
    shift = 0
    for index in range(max_bytes):
        if offset + index >= len(data):
            raise construct.StreamError("truncated varint")
        byte = data[offset + index]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset + index + 1
        shift += 7
    raise construct.IntegerError("varint too long")


def _read_uvarint(stream: Stream, path: str, max_bytes: int) -> int:
    if type(stream) is Reader:
        # The common case, straight from the buffer (one-byte varints above all).
        view, start, end = stream._view, stream._position, stream._end
        if start < end and view[start] < 0x80:
            stream._position = start + 1
            return int(view[start])
        value, after = decode_uvarint(view[:end], start, max_bytes)
        stream._position = after
        return value
    result = 0
    shift = 0
    for _ in range(max_bytes):
        byte = read(stream, 1, path)[0]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result
        shift += 7
    raise construct.IntegerError(f"varint longer than {max_bytes} bytes", path=path)


class _UVarint(Construct):  # type: ignore[misc]
    """UNSIGNED_VARINT (at most 5 bytes: a uint32)."""

    def _parse(self, stream: Stream, context: Any, path: str) -> int:
        return _read_uvarint(stream, path, _MAX_VARINT_BYTES)

    def _build(self, obj: int, stream: Stream, context: Any, path: str) -> int:
        if not 0 <= obj <= 0xFFFFFFFF:
            raise construct.IntegerError(f"uvarint out of range: {obj}", path=path)
        write(stream, encode_uvarint(obj), path)
        return obj


class _ZigZag(Construct):  # type: ignore[misc]
    """VARINT / VARLONG: zig-zag signed varints of at most 32 or 64 bits."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits
        self.max_bytes = _MAX_VARINT_BYTES if bits == 32 else _MAX_VARLONG_BYTES

    def _parse(self, stream: Stream, context: Any, path: str) -> int:
        raw = _read_uvarint(stream, path, self.max_bytes)
        return (raw >> 1) ^ -(raw & 1)

    def _build(self, obj: int, stream: Stream, context: Any, path: str) -> int:
        limit = 1 << (self.bits - 1)
        if not -limit <= obj < limit:
            raise construct.IntegerError(f"varint out of range: {obj}", path=path)
        write(stream, encode_uvarint((obj << 1) ^ (obj >> (self.bits - 1))), path)
        return obj


UVarint = _UVarint()
Varint = _ZigZag(32)
Varlong = _ZigZag(64)


class _Sized(Construct):  # type: ignore[misc]
    """A length-prefixed string or byte string in one of Kafka's four encodings.

    ``compact``: the length is an unsigned varint holding N + 1 (0 = null); otherwise an int16
    (strings) or int32 (bytes) holding N (-1 = null).  ``nullable`` says whether null is legal.
    """

    def __init__(self, *, text: bool, compact: bool, nullable: bool) -> None:
        super().__init__()
        self.text = text
        self.compact = compact
        self.nullable = nullable
        self.length_field = Int16 if text else Int32

    def _read_length(self, stream: Stream, path: str) -> int:
        if self.compact:
            return int(_read_uvarint(stream, path, _MAX_VARINT_BYTES)) - 1
        return int(self.length_field._parse(stream, None, path))

    def _parse(self, stream: Stream, context: Any, path: str) -> str | bytes | memoryview | None:
        length = self._read_length(stream, path)
        if length < 0:
            if length == -1 and self.nullable:
                return None
            raise construct.ValidationError(f"invalid length {length}", path=path)
        if type(stream) is Reader:
            start = stream._position
            if length > stream._end - start:
                raise construct.StreamError(f"length {length} exceeds the frame", path=path)
            stream._position = start + length
            data: bytes | memoryview = stream._view[start : start + length]
        else:
            if length > remaining(stream):
                raise construct.StreamError(f"length {length} exceeds the frame", path=path)
            data = read(stream, length, path)
        if self.text:
            try:
                return str(data, "utf-8")
            except UnicodeDecodeError as error:
                raise construct.StringError(f"invalid UTF-8: {error}", path=path) from error
        return data

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        if obj is None:
            if not self.nullable:
                raise construct.ValidationError("null in a non-nullable field", path=path)
            write(stream, b"\x00" if self.compact else self._null_length(), path)
            return obj
        # Byte strings and views are passed through uncopied (records go out as they are).
        data = obj.encode("utf-8") if self.text else obj
        if self.compact:
            write(stream, encode_uvarint(len(data) + 1), path)
        else:
            self.length_field._build(len(data), stream, context, path)
        write(stream, data, path)
        return obj

    def _null_length(self) -> bytes:
        return b"\xff\xff" if self.text else b"\xff\xff\xff\xff"


def KafkaString(*, compact: bool, nullable: bool) -> Construct:
    """STRING / NULLABLE_STRING / COMPACT_STRING / COMPACT_NULLABLE_STRING."""
    return _Sized(text=True, compact=compact, nullable=nullable)


def Bytes(*, compact: bool, nullable: bool) -> Construct:
    """BYTES / NULLABLE_BYTES / COMPACT_BYTES / COMPACT_NULLABLE_BYTES (and RECORDS)."""
    return _Sized(text=False, compact=compact, nullable=nullable)


class _Uuid(Construct):  # type: ignore[misc]
    """UUID: 16 raw bytes, decoded to :class:`uuid.UUID`."""

    def _parse(self, stream: Stream, context: Any, path: str) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(read(stream, 16, path)))

    def _build(self, obj: uuid.UUID, stream: Stream, context: Any, path: str) -> uuid.UUID:
        write(stream, obj.bytes, path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return 16


UUID_TYPE = _Uuid()
