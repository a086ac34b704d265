"""The consumer's fast path over fetched record batches (sans-IO, no per-record objects but one).

A Fetch response hands the consumer, per partition, a run of v2 record batches (possibly
ending with a partial batch: the broker cuts at a byte limit, not at a batch boundary).
:func:`scan_batches` reads only the 61-byte headers, with one precompiled ``struct``, so the
fetcher can learn the next fetch offset without touching a record; :func:`decode_batch` walks
one batch's records in a single tight loop and is called only when the user polls that batch
(lazy decoding: a batch that is skipped by a seek is never decoded).

Why a loop of its own rather than :func:`client.protocol.records.decode_records`: per-record
Python work is the consumer's whole cost.  Varints are decoded inline with a one- and two-byte
fast path (a 100-byte record's fields are all one or two bytes), records are tuples built with
``tuple.__new__`` and no intermediate ``Record`` is made.  Malformed bytes surface as
:class:`~client.errors.CorruptMessageError`, never as ``IndexError``.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import crc32c

from client.errors import CorruptMessageError
from client.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_BYTES,
    LOG_OVERHEAD_BYTES,
    MAGIC,
    MIN_BATCH_LENGTH,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    InvalidRecordError,
    decompress,
)

# The whole v2 header in one unpack (layout in client.protocol.records).
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _BATCH_HEADER.size == BATCH_HEADER_BYTES
_LENGTH_PREFIX = struct.Struct(">qi")
_MAGIC_POSITION = 16

_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20

_MAX_VARLONG_BYTES = 10
_UNSIGNED_64 = (1 << 64) - 1


class ConsumerRecord(NamedTuple):
    """One record as the consumer returns it.

    ``timestamp_type`` is 0 for CreateTime, 1 for LogAppendTime (then ``timestamp`` is the
    broker's append time); ``leader_epoch`` is the batch's partition leader epoch (-1 if the
    producer's broker did not set one, KIP-320).  ``key`` and ``value`` are the raw bytes, or
    what ``key.deserializer`` / ``value.deserializer`` made of them.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: Any
    value: Any
    headers: list[tuple[str, bytes | None]]
    leader_epoch: int


# A record from a plain tuple, skipping NamedTuple's Python-level __new__ (about 80 ns each).
_new_record = cast(Callable[[type[ConsumerRecord], tuple[Any, ...]], ConsumerRecord], tuple.__new__)


class BatchInfo(NamedTuple):
    """What a batch header says, and where the batch lies in its partition's records bytes."""

    position: int
    size_bytes: int
    base_offset: int
    partition_leader_epoch: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    record_count: int

    @property
    def next_offset(self) -> int:
        """The offset after this batch (also right after a compacted or control batch)."""
        return self.base_offset + self.last_offset_delta + 1

    @property
    def is_control(self) -> bool:
        """A transaction marker: never returned to the user (KIP-98)."""
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def is_transactional(self) -> bool:
        """Written by a transactional producer."""
        return bool(self.attributes & _TRANSACTIONAL_BIT)


class ScannedBatches(NamedTuple):
    """The whole batches of a partition's records, and whether a partial one followed them."""

    batches: list[BatchInfo]
    partial_tail: bool


def scan_batches(records: bytes) -> ScannedBatches:
    """Headers of every whole batch in ``records``, without decoding a record.

    A trailing batch cut short by the broker's byte limit is reported as ``partial_tail``
    (Kafka's clients ignore it and fetch it again).  A length below the header size or a magic
    other than 2 is corrupt.
    """
    batches: list[BatchInfo] = []
    position = 0
    end = len(records)
    unpack_header = _BATCH_HEADER.unpack_from
    while end - position >= LOG_OVERHEAD_BYTES:
        _, batch_length = _LENGTH_PREFIX.unpack_from(records, position)
        size = LOG_OVERHEAD_BYTES + batch_length
        if position + size > end:
            break
        if batch_length < MIN_BATCH_LENGTH:
            raise CorruptMessageError(f"batch at byte {position}: length {batch_length}")
        (base_offset, _, epoch, magic, crc, attributes, last_delta, base_timestamp, max_timestamp,
         producer_id, _, _, count) = unpack_header(records, position)  # fmt: skip
        if magic != MAGIC:
            raise CorruptMessageError(f"batch at offset {base_offset}: magic {magic}")
        info = (position, size, base_offset, epoch, crc, attributes, last_delta, base_timestamp,
                max_timestamp, producer_id, count)  # fmt: skip
        batches.append(BatchInfo(*info))
        position += size
    return ScannedBatches(batches, position < end)


def _varint_tail(data: bytes, position: int, value: int) -> tuple[int, int]:
    """Finish an unsigned varint whose first two bytes gave ``value`` (both continued)."""
    shift = 14
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _UNSIGNED_64, position
        shift += 7
        if shift >= 7 * _MAX_VARLONG_BYTES:
            raise CorruptMessageError("varint longer than 10 bytes")


def _headers(data: bytes, position: int, count: int) -> tuple[list[tuple[str, bytes | None]], int]:
    """``count`` record headers at ``position``; returns them and the position after."""
    out: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        length, position = _zigzag_at(data, position)
        if length < 0:
            raise CorruptMessageError("null header key")
        key = data[position : position + length].decode("utf-8", "replace")
        position += length
        length, position = _zigzag_at(data, position)
        value = None if length < 0 else data[position : position + length]
        position += max(length, 0)
        out.append((key, value))
    return out, position


def _zigzag_at(data: bytes, position: int) -> tuple[int, int]:
    """A signed (zigzag) varint at ``position``: (value, position after)."""
    value = data[position]
    position += 1
    if value > 0x7F:
        byte = data[position]
        position += 1
        value = (value & 0x7F) | ((byte & 0x7F) << 7)
        if byte > 0x7F:
            value, position = _varint_tail(data, position, value)
    return (value >> 1) ^ -(value & 1), position


def batch_payload(records: bytes, batch: BatchInfo, *, check_crc: bool) -> bytes:
    """The batch's record bytes, CRC-checked (``check.crcs``) and decompressed."""
    start = batch.position
    end = start + batch.size_bytes
    if check_crc and crc32c.crc32c(records[start + ATTRIBUTES_OFFSET : end]) != batch.crc:
        raise CorruptMessageError(f"batch at offset {batch.base_offset}: CRC mismatch")
    payload = records[start + BATCH_HEADER_BYTES : end]
    codec = batch.attributes & _COMPRESSION_MASK
    if codec == 0:
        return payload
    try:
        return decompress(codec, payload)
    except InvalidRecordError as error:
        raise CorruptMessageError(f"batch at offset {batch.base_offset}: {error}") from error


def decode_batch(
    payload: bytes, batch: BatchInfo, topic: str, partition: int, first_offset: int
) -> list[ConsumerRecord]:
    """Every record of ``batch`` (its decompressed ``payload``) at or above ``first_offset``.

    The caller skips control batches.  Records below ``first_offset`` exist only in the first
    batch after a seek into its middle (a fetch returns whole batches).
    """
    # The loop allocates two tracked objects per record (tuple, headers list) and no cycles:
    # the cyclic collector would run every few hundred records for nothing (15-20 % of the
    # loop), so it is paused for the batch and resumed as it was.
    collecting = gc.isenabled()
    gc.disable()
    try:
        records = _decode_loop(payload, batch, topic, partition)
    except IndexError:
        raise CorruptMessageError(
            f"batch at offset {batch.base_offset}: truncated record"
        ) from None
    except UnicodeDecodeError as error:
        raise CorruptMessageError(f"batch at offset {batch.base_offset}: {error}") from None
    finally:
        if collecting:
            gc.enable()
    if len(records) != batch.record_count:
        raise CorruptMessageError(
            f"batch at offset {batch.base_offset}: {len(records)} records, header says "
            f"{batch.record_count}"
        )
    if batch.base_offset < first_offset:
        return [record for record in records if record[2] >= first_offset]
    return records


def _decode_loop(data: bytes, batch: BatchInfo, topic: str, partition: int) -> list[ConsumerRecord]:
    """The hot loop: one record per iteration, varints inlined (see the module docstring)."""
    out: list[ConsumerRecord] = []
    append = out.append
    new = _new_record
    cls = ConsumerRecord
    base_offset = batch.base_offset
    base_timestamp = batch.base_timestamp
    epoch = batch.partition_leader_epoch
    log_append = batch.attributes & _TIMESTAMP_TYPE_BIT
    timestamp_type = TIMESTAMP_LOG_APPEND_TIME if log_append else TIMESTAMP_CREATE_TIME
    end = len(data)
    position = 0
    # Each varint: the first byte inline, the second inline, longer ones in _varint_tail; the
    # zigzag step comes after, so a null (-1, raw 1) is tested on the raw value.
    while position < end:
        raw = data[position]
        position += 1
        if raw > 0x7F:
            byte = data[position]
            position += 1
            raw = (raw & 0x7F) | ((byte & 0x7F) << 7)
            if byte > 0x7F:
                raw, position = _varint_tail(data, position, raw)
        record_end = position + ((raw >> 1) ^ -(raw & 1))
        position += 1  # record attributes: unused in v2
        raw = data[position]
        position += 1
        if raw > 0x7F:
            byte = data[position]
            position += 1
            raw = (raw & 0x7F) | ((byte & 0x7F) << 7)
            if byte > 0x7F:
                raw, position = _varint_tail(data, position, raw)
        timestamp = base_timestamp + ((raw >> 1) ^ -(raw & 1))
        raw = data[position]
        position += 1
        if raw > 0x7F:
            byte = data[position]
            position += 1
            raw = (raw & 0x7F) | ((byte & 0x7F) << 7)
            if byte > 0x7F:
                raw, position = _varint_tail(data, position, raw)
        offset = base_offset + ((raw >> 1) ^ -(raw & 1))
        raw = data[position]
        position += 1
        if raw > 0x7F:
            byte = data[position]
            position += 1
            raw = (raw & 0x7F) | ((byte & 0x7F) << 7)
            if byte > 0x7F:
                raw, position = _varint_tail(data, position, raw)
        if raw == 1:  # zigzag -1: a null key
            key = None
        else:
            raw = (raw >> 1) ^ -(raw & 1)
            key = data[position : position + raw]
            position += raw
        raw = data[position]
        position += 1
        if raw > 0x7F:
            byte = data[position]
            position += 1
            raw = (raw & 0x7F) | ((byte & 0x7F) << 7)
            if byte > 0x7F:
                raw, position = _varint_tail(data, position, raw)
        if raw == 1:  # a null value (a tombstone)
            value = None
        else:
            raw = (raw >> 1) ^ -(raw & 1)
            value = data[position : position + raw]
            position += raw
        count = data[position]
        position += 1
        if count == 0:
            headers: list[tuple[str, bytes | None]] = []
        else:
            count, position = _zigzag_at(data, position - 1)
            headers, position = _headers(data, position, count)
        if position != record_end:
            raise CorruptMessageError(f"record at offset {offset}: length mismatch")
        append(new(cls, (topic, partition, offset, timestamp, timestamp_type, key, value,
                         headers, epoch)))  # fmt: skip
    if log_append:
        stamp = batch.max_timestamp
        return [record._replace(timestamp=stamp) for record in out]
    return out
