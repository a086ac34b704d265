"""Record batch v2 (magic 2): the header view, validation, offset assignment, and a client
builder/reader.

Layout (Kafka protocol guide, "Record Batch"; KIP-98):

    offset  size  field
    0       8     base_offset
    8       4     batch_length            bytes after this field
    12      4     partition_leader_epoch
    16      1     magic                   2
    17      4     crc                     CRC-32C of bytes 21..end
    21      2     attributes              codec bits 0-2, timestamp type 3, transactional 4,
                                          control 5
    23      4     last_offset_delta
    27      8     base_timestamp
    35      8     max_timestamp
    43      8     producer_id
    51      2     producer_epoch
    53      4     base_sequence
    57      4     record_count
    61      ...   records (compressed as a whole when the codec is not 0)

The broker side (``verify_batch``, ``validate_batches``, ``assign_offsets``,
``iterate_batches``) reads only headers and never touches a record. Only clients and tests
call ``decode_records`` and ``build_batch``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import construct
import cramjam
import crc32c

from client.protocol.errors import ErrorCode
from client.protocol.primitives import decode_uvarint, encode_uvarint

BATCH_HEADER_BYTES = 61
LOG_OVERHEAD_BYTES = 12
"""base_offset + batch_length: the part of a batch that batch_length does not count."""
MIN_BATCH_LENGTH = BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES
MAGIC = 2

MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
PARTITION_LEADER_EPOCH_OFFSET = 12
MAX_TIMESTAMP_OFFSET = 35

NO_TIMESTAMP = -1
NO_PRODUCER_ID = -1

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4
MAX_COMPRESSION_CODEC = COMPRESSION_ZSTD
# A topic's ``compression.type``: the codec its batches are stored with (None: as sent).
CODEC_BY_NAME: dict[str, int | None] = {
    "producer": None,
    "uncompressed": COMPRESSION_NONE,
    "gzip": COMPRESSION_GZIP,
    "snappy": COMPRESSION_SNAPPY,
    "lz4": COMPRESSION_LZ4,
    "zstd": COMPRESSION_ZSTD,
}

TIMESTAMP_CREATE_TIME = 0
TIMESTAMP_LOG_APPEND_TIME = 1

_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20

_HEADER = struct.Struct(">qiibIhiqqqhii")
_LENGTH_PREFIX = struct.Struct(">qi")
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_INT16 = struct.Struct(">h")
_XERIAL_HEADER = b"\x82SNAPPY\x00"
_XERIAL_PREAMBLE = struct.Struct(">8sii")
_XERIAL_BLOCK_BYTES = 32 * 1024
_MAX_VARINT_BYTES = 5
_MAX_VARLONG_BYTES = 10

assert _HEADER.size == BATCH_HEADER_BYTES


class InvalidRecordError(Exception):
    """A batch that the broker must reject; ``error_code`` is the Kafka error to answer."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(f"{error_code.name}: {message}")
        self.error_code = error_code


class BatchHeader(NamedTuple):
    """The 61-byte v2 batch header, field for field."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def compression(self) -> int:
        return self.attributes & _COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        """0 CreateTime, 1 LogAppendTime."""
        return (self.attributes & _TIMESTAMP_TYPE_BIT) >> 3

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size_bytes(self) -> int:
        return LOG_OVERHEAD_BYTES + self.batch_length


def parse_header(buf: bytes | bytearray | memoryview, position: int = 0) -> BatchHeader:
    """The header at ``position``; the caller guarantees 61 bytes are there."""
    return BatchHeader(*_HEADER.unpack_from(buf, position))


def read_length_prefix(buf: bytes | bytearray | memoryview, position: int = 0) -> tuple[int, int]:
    """(base_offset, batch_length) at ``position`` (12 bytes)."""
    base_offset, batch_length = _LENGTH_PREFIX.unpack_from(buf, position)
    return int(base_offset), int(batch_length)


def verify_batch(
    buf: bytes | bytearray | memoryview, position: int, *, max_batch_bytes: int
) -> BatchHeader:
    """Check the framing, magic, size limit and CRC of the batch at ``position``.

    Raises InvalidRecordError: CORRUPT_MESSAGE for truncation, a bad length or a CRC
    mismatch (Kafka's CorruptRecordException), INVALID_RECORD for another magic (Kafka's
    ProduceRequest v3+ rule), MESSAGE_TOO_LARGE above ``max_batch_bytes`` (RecordTooLarge).
    """
    view = memoryview(buf)
    available = len(view) - position
    if available < LOG_OVERHEAD_BYTES + 5:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, f"truncated batch at {position}")
    magic = view[position + MAGIC_OFFSET]
    if magic != MAGIC:
        raise InvalidRecordError(ErrorCode.INVALID_RECORD, f"magic {magic}, only 2 is supported")
    _, batch_length = _LENGTH_PREFIX.unpack_from(view, position)
    if batch_length < MIN_BATCH_LENGTH:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, f"batch length {batch_length}")
    size = LOG_OVERHEAD_BYTES + batch_length
    if size > max_batch_bytes:
        raise InvalidRecordError(
            ErrorCode.MESSAGE_TOO_LARGE, f"batch of {size} bytes exceeds {max_batch_bytes}"
        )
    if size > available:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, f"truncated batch at {position}")
    header = BatchHeader(*_HEADER.unpack_from(view, position))
    if crc32c.crc32c(view[position + ATTRIBUTES_OFFSET : position + size]) != header.crc:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, f"CRC mismatch at {position}")
    return header


class ValidatedBatches(NamedTuple):
    """What ``validate_batches`` learned from the headers (Kafka's LogAppendInfo, shallow).

    ``shallow_offset_delta_of_max_timestamp`` counts from the first record of the buffer (the
    last offset of the batch holding the max timestamp); add the assigned base offset.
    """

    batches: list[tuple[int, BatchHeader]]
    record_count: int
    size_bytes: int
    first_timestamp: int
    max_timestamp: int
    shallow_offset_delta_of_max_timestamp: int


def _check_client_rules(header: BatchHeader, position: int) -> None:
    """LogValidator.validateBatch's rules for batches that come from a client."""
    if header.is_control:
        raise InvalidRecordError(ErrorCode.INVALID_RECORD, "clients may not write control batches")
    if header.producer_id >= 0 and header.base_sequence < 0:
        raise InvalidRecordError(
            ErrorCode.INVALID_RECORD, f"producer id set but base sequence {header.base_sequence}"
        )


def _check_counts(header: BatchHeader, position: int, from_client: bool) -> None:
    if not from_client:
        # A compacted batch (from a leader's cleaned log) keeps its last offset delta with
        # fewer records, down to none (Kafka's cleaner writes such batches).
        if header.record_count < 0 or header.last_offset_delta < header.record_count - 1:
            raise InvalidRecordError(
                ErrorCode.CORRUPT_MESSAGE,
                f"batch at {position}: record count {header.record_count} with last offset "
                f"delta {header.last_offset_delta}",
            )
    elif header.record_count < 1 or header.last_offset_delta != header.record_count - 1:
        raise InvalidRecordError(
            ErrorCode.INVALID_RECORD,
            f"batch at {position}: record count {header.record_count} with last offset delta "
            f"{header.last_offset_delta}",
        )
    if header.compression > MAX_COMPRESSION_CODEC:
        raise InvalidRecordError(
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"compression codec {header.compression}"
        )


def validate_batches(
    data: bytes | bytearray | memoryview,
    *,
    max_batch_bytes: int,
    from_client: bool = True,
    single_batch: bool = False,
) -> ValidatedBatches:
    """Check that ``data`` is a non-empty run of whole, valid v2 batches; no per-record work.

    An empty buffer is INVALID_RECORD (Kafka: "Record batch has no batches at all"). A
    truncated tail is CORRUPT_MESSAGE; Kafka silently trims it, we refuse it. With
    ``from_client`` the client-only rules apply (no control batches, a sequence with a
    producer id). ``single_batch`` is Kafka's one-batch-per-partition rule for Produce v3+.
    """
    view = memoryview(data)
    if len(view) == 0:
        raise InvalidRecordError(ErrorCode.INVALID_RECORD, "no record batches")
    batches: list[tuple[int, BatchHeader]] = []
    position = 0
    record_count = 0
    max_timestamp = NO_TIMESTAMP
    offset_delta_of_max = -1
    while position < len(view):
        header = verify_batch(view, position, max_batch_bytes=max_batch_bytes)
        _check_counts(header, position, from_client)
        if from_client:
            _check_client_rules(header, position)
        if header.max_timestamp > max_timestamp:
            max_timestamp = header.max_timestamp
            offset_delta_of_max = record_count + header.last_offset_delta
        record_count += header.record_count
        batches.append((position, header))
        position += header.size_bytes
    if single_batch and len(batches) > 1:
        raise InvalidRecordError(ErrorCode.INVALID_RECORD, "more than one batch per partition")
    assert position == len(view)
    return ValidatedBatches(
        batches=batches,
        record_count=record_count,
        size_bytes=position,
        first_timestamp=batches[0][1].base_timestamp,
        max_timestamp=max_timestamp,
        shallow_offset_delta_of_max_timestamp=max(offset_delta_of_max, record_count - 1),
    )


def assign_offsets(
    buf: bytearray | memoryview,
    batches: Sequence[tuple[int, BatchHeader]],
    base_offset: int,
    partition_leader_epoch: int,
    *,
    log_append_time_ms: int | None = None,
) -> int:
    """Write base offsets and the leader epoch in place; returns the next offset.

    Both fields lie outside the CRC, so the CRC stays valid. With ``log_append_time_ms``
    (topic timestamp type LogAppendTime) every batch gets that max timestamp and the
    LogAppendTime attribute bit, which the CRC covers, so only then is it recomputed.
    """
    assert base_offset >= 0
    view = memoryview(buf)
    next_offset = base_offset
    for position, header in batches:
        _INT64.pack_into(view, position, next_offset)
        _INT32.pack_into(view, position + PARTITION_LEADER_EPOCH_OFFSET, partition_leader_epoch)
        if log_append_time_ms is not None:
            _INT16.pack_into(
                view, position + ATTRIBUTES_OFFSET, header.attributes | _TIMESTAMP_TYPE_BIT
            )
            _INT64.pack_into(view, position + MAX_TIMESTAMP_OFFSET, log_append_time_ms)
            end = position + header.size_bytes
            crc = crc32c.crc32c(view[position + ATTRIBUTES_OFFSET : end])
            struct.pack_into(">I", view, position + CRC_OFFSET, crc)
        next_offset += header.record_count
    return next_offset


def iterate_batches(buf: bytes | bytearray | memoryview) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each whole batch; stops at a partial trailing batch, as a
    fetch response may end with one. A length below the header size is CORRUPT_MESSAGE."""
    view = memoryview(buf)
    position = 0
    while len(view) - position >= BATCH_HEADER_BYTES:
        _, batch_length = _LENGTH_PREFIX.unpack_from(view, position)
        if batch_length < MIN_BATCH_LENGTH:
            raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, f"batch length {batch_length}")
        if position + LOG_OVERHEAD_BYTES + batch_length > len(view):
            return
        header = BatchHeader(*_HEADER.unpack_from(view, position))
        yield position, header
        position += header.size_bytes


# ---- client side: records ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One record. ``build_batch`` ignores ``offset`` (records take consecutive offsets)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _put_varint(out: bytearray, value: int) -> None:
    out += encode_uvarint(_zigzag(value) & 0xFFFFFFFFFFFFFFFF)


def _put_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        _put_varint(out, -1)
        return
    _put_varint(out, len(data))
    out += data


def _encode_record(record: Record, offset_delta: int, base_timestamp: int) -> bytes:
    body = bytearray(b"\x00")  # record attributes: unused
    _put_varint(body, record.timestamp - base_timestamp)
    _put_varint(body, offset_delta)
    _put_bytes(body, record.key)
    _put_bytes(body, record.value)
    _put_varint(body, len(record.headers))
    for header_key, header_value in record.headers:
        _put_bytes(body, header_key.encode())
        _put_bytes(body, header_value)
    out = bytearray()
    _put_varint(out, len(body))
    return bytes(out + body)


def _xerial_compress(data: bytes) -> bytes:
    """Snappy in xerial's stream framing, what the Java producer sends."""
    out = bytearray(_XERIAL_PREAMBLE.pack(_XERIAL_HEADER, 1, 1))
    for start in range(0, len(data), _XERIAL_BLOCK_BYTES):
        block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK_BYTES]))
        out += _INT32.pack(len(block)) + block
    return bytes(out)


def _xerial_decompress(data: bytes) -> bytes:
    out = bytearray()
    position = _XERIAL_PREAMBLE.size
    while position < len(data):
        if position + 4 > len(data):
            raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "truncated xerial snappy block")
        (length,) = _INT32.unpack_from(data, position)
        position += 4
        if length < 0 or position + length > len(data):
            raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "bad xerial snappy block")
        out += bytes(cramjam.snappy.decompress_raw(data[position : position + length]))
        position += length
    return bytes(out)


# Kafka's default levels (KIP-390): zlib's 6 for gzip, 9 for lz4, 3 for zstd.
_DEFAULT_LEVELS = {COMPRESSION_GZIP: 6, COMPRESSION_LZ4: 9, COMPRESSION_ZSTD: 3}


def compress(codec: int, data: bytes, level: int | None = None) -> bytes:
    """Compress a batch's record bytes at ``level`` (None: Kafka's default for the codec;
    snappy has none); lz4 as an LZ4 frame with independent blocks (Kafka's LZ4 reader
    rejects linked blocks)."""
    if codec == COMPRESSION_NONE:
        return data
    if codec == COMPRESSION_SNAPPY:
        return _xerial_compress(data)
    if level is None:
        level = _DEFAULT_LEVELS.get(codec)
    if codec == COMPRESSION_GZIP:
        return bytes(cramjam.gzip.compress(data, level=level))
    if codec == COMPRESSION_LZ4:
        compressor = cramjam.lz4.Compressor(level=level, content_checksum=False, block_linked=False)
        compressor.compress(data)
        return bytes(compressor.finish())
    if codec == COMPRESSION_ZSTD:
        return bytes(cramjam.zstd.compress(data, level=level))
    raise ValueError(f"unknown compression codec {codec}")


def decompress(codec: int, data: bytes) -> bytes:
    """Inverse of ``compress``; snappy may be a raw block or xerial-framed."""
    try:
        if codec == COMPRESSION_NONE:
            return data
        if codec == COMPRESSION_GZIP:
            return bytes(cramjam.gzip.decompress(data))
        if codec == COMPRESSION_SNAPPY:
            if data.startswith(_XERIAL_HEADER):
                return _xerial_decompress(data)
            return bytes(cramjam.snappy.decompress_raw(data))
        if codec == COMPRESSION_LZ4:
            return bytes(cramjam.lz4.decompress(data))
        if codec == COMPRESSION_ZSTD:
            return bytes(cramjam.zstd.decompress(data))
    except cramjam.DecompressionError as error:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, f"codec {codec}: {error}") from error
    raise InvalidRecordError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"codec {codec}")


def build_batch(
    records: Sequence[Record | bytes | None],
    *,
    base_offset: int = 0,
    compression: int = COMPRESSION_NONE,
    timestamp_ms: int = 0,
    timestamp_type: int = TIMESTAMP_CREATE_TIME,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    transactional: bool = False,
    control: bool = False,
) -> bytes:
    """A valid v2 batch. A plain ``bytes``/None item is a value with no key or headers at
    ``timestamp_ms``; a ``Record`` brings its own timestamp, key and headers."""
    assert records, "a batch holds at least one record"
    items = [
        item if isinstance(item, Record) else Record(0, timestamp_ms, None, item)
        for item in records
    ]
    base_timestamp = items[0].timestamp
    max_timestamp = max(item.timestamp for item in items)
    payload = b"".join(
        _encode_record(item, delta, base_timestamp) for delta, item in enumerate(items)
    )
    payload = compress(compression, payload)
    attributes = compression
    attributes |= _TIMESTAMP_TYPE_BIT if timestamp_type == TIMESTAMP_LOG_APPEND_TIME else 0
    attributes |= _TRANSACTIONAL_BIT if transactional else 0
    attributes |= _CONTROL_BIT if control else 0
    batch_length = BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + len(payload)
    fields = [base_offset, batch_length, partition_leader_epoch, MAGIC, 0, attributes,
              len(items) - 1, base_timestamp, max_timestamp, producer_id, producer_epoch,
              base_sequence, len(items)]  # fmt: skip
    out = bytearray(_HEADER.pack(*fields))
    out += payload
    struct.pack_into(">I", out, CRC_OFFSET, crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


class _Reader:
    """A cursor over decompressed record bytes; every failure is CORRUPT_MESSAGE."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def varint(self, max_bytes: int = _MAX_VARINT_BYTES) -> int:
        try:
            value, self.position = decode_uvarint(self.data, self.position, max_bytes)
        except construct.ConstructError as error:
            raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, str(error)) from error
        return _unzigzag(value)

    def take(self, length: int) -> bytes:
        end = self.position + length
        if length < 0 or end > len(self.data):
            raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "record field past its end")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def nullable_bytes(self) -> bytes | None:
        length = self.varint()
        return None if length == -1 else self.take(length)


def _decode_record(reader: _Reader, header: BatchHeader) -> Record:
    length = reader.varint()
    end = reader.position + length
    reader.take(1)  # record attributes: unused
    timestamp_delta = reader.varint(_MAX_VARLONG_BYTES)
    offset_delta = reader.varint()
    key = reader.nullable_bytes()
    value = reader.nullable_bytes()
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(reader.varint()):
        header_key = reader.nullable_bytes() or b""
        headers.append((header_key.decode(errors="replace"), reader.nullable_bytes()))
    if reader.position != end:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "record length mismatch")
    if header.timestamp_type == TIMESTAMP_LOG_APPEND_TIME:
        timestamp = header.max_timestamp
    else:
        timestamp = header.base_timestamp + timestamp_delta
    return Record(header.base_offset + offset_delta, timestamp, key, value, headers)


def decode_records(batch: bytes | bytearray | memoryview) -> list[Record]:
    """Every record of one whole batch (client side: decompresses and walks records)."""
    view = memoryview(batch)
    if len(view) < BATCH_HEADER_BYTES:
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "shorter than a batch header")
    header = parse_header(view)
    if header.magic != MAGIC or header.size_bytes > len(view):
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "not a whole v2 batch")
    payload = decompress(header.compression, bytes(view[BATCH_HEADER_BYTES : header.size_bytes]))
    reader = _Reader(payload)
    records = [_decode_record(reader, header) for _ in range(header.record_count)]
    if reader.position != len(payload):
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "bytes after the last record")
    return records


# ---- compaction: records kept or dropped as spans of bytes ---------------------------------


class RecordSpan(NamedTuple):
    """Where one record lies in a batch's decompressed record bytes, and what compaction
    needs of it: its offset, key, and whether it is a tombstone (a null value)."""

    offset: int
    key: bytes | None
    tombstone: bool
    start: int
    end: int
    timestamp: int = NO_TIMESTAMP


def batch_payload(batch: bytes | bytearray | memoryview, header: BatchHeader) -> bytes:
    """The decompressed record bytes of one whole batch."""
    view = memoryview(batch)
    return decompress(header.compression, bytes(view[BATCH_HEADER_BYTES : header.size_bytes]))


def record_spans(payload: bytes, header: BatchHeader) -> list[RecordSpan]:
    """Each record of ``payload`` (:func:`batch_payload`) without decoding its headers."""
    reader = _Reader(payload)
    spans = []
    for _ in range(header.record_count):
        start = reader.position
        length = reader.varint()
        end = reader.position + length
        if length < 0 or end > len(payload):
            raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "record past the batch")
        reader.take(1)  # attributes
        timestamp = header.base_timestamp + reader.varint(_MAX_VARLONG_BYTES)
        offset_delta = reader.varint()
        key = reader.nullable_bytes()
        tombstone = reader.varint() == -1
        reader.position = end
        offset = header.base_offset + offset_delta
        spans.append(RecordSpan(offset, key, tombstone, start, end, timestamp))
    if reader.position != len(payload):
        raise InvalidRecordError(ErrorCode.CORRUPT_MESSAGE, "bytes after the last record")
    return spans


def rebuild_batch(
    header: BatchHeader,
    records: bytes,
    record_count: int,
    *,
    codec: int | None = None,
    level: int | None = None,
) -> bytes:
    """The batch ``header`` heads, holding only ``records`` (whole encoded records of it, in
    order): base offset, last offset delta, timestamps, producer fields and epoch stay, so
    every kept record keeps its offset and the batch still ends where it ended (Kafka's
    cleaner keeps a batch's last offset for the producer's sequence).  ``codec`` (None: the
    batch's own) compresses the records anew (a topic's ``compression.type``, at ``level``:
    :func:`compress`).  An empty
    batch is written uncompressed, as Kafka writes one."""
    codec = header.compression if codec is None else codec
    attributes = (header.attributes & ~_COMPRESSION_MASK) | codec
    if record_count == 0:
        attributes &= ~_COMPRESSION_MASK
        payload = b""
    else:
        payload = compress(codec, records, level)
    batch_length = BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + len(payload)
    out = bytearray(
        _HEADER.pack(
            header.base_offset, batch_length, header.partition_leader_epoch, MAGIC, 0,
            attributes, header.last_offset_delta, header.base_timestamp, header.max_timestamp,
            header.producer_id, header.producer_epoch, header.base_sequence, record_count,
        )
    )  # fmt: skip
    out += payload
    struct.pack_into(">I", out, CRC_OFFSET, crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)
