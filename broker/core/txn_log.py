"""Records of ``__transaction_state`` (Kafka's ``TransactionLogKey`` / ``TransactionLogValue``).

The transaction coordinator's state lives as one compacted record per transactional id in
the partition of ``__transaction_state`` that ``partition_for(transactional_id)`` names.
Key: ``version int16 (0), transactional_id string``.  Value, version 0 (which every Kafka
reads): ``producer_id int64, producer_epoch int16, transaction_timeout_ms int32,
transaction_status int8, transaction_partitions nullable [topic string, partition_ids
[int32]], transaction_last_update_timestamp_ms int64, transaction_start_timestamp_ms
int64``; a tombstone (no value) forgets the id.  Strings are int16-length-prefixed UTF-8,
arrays int32-count-prefixed, big-endian, as in Kafka's non-flexible messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from broker.core.group_records import partition_for as _group_partition_for

KEY_VERSION = 0
VALUE_VERSION = 0

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_VALUE_HEAD = struct.Struct(">hqhib")
_VALUE_TAIL = struct.Struct(">qq")


class TxnState(IntEnum):
    """Kafka's ``TransactionState`` ids, as the log stores them."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def display_name(self) -> str:
        """Kafka's name (DescribeTransactions, ListTransactions): ``PrepareCommit``."""
        return "".join(part.capitalize() for part in self.name.split("_"))


TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TxnLogValue:
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartition]
    last_update_ms: int
    start_ms: int


class TxnLogError(ValueError):
    """A record of ``__transaction_state`` this broker cannot read."""


def partition_for(transactional_id: str, partitions: int) -> int:
    """``Utils.abs(transactionalId.hashCode) % transaction.state.log.num.partitions``."""
    return _group_partition_for(transactional_id, partitions)


def _string(value: str) -> bytes:
    raw = value.encode()
    return _INT16.pack(len(raw)) + raw


def encode_key(transactional_id: str) -> bytes:
    return _INT16.pack(KEY_VERSION) + _string(transactional_id)


def encode_value(value: TxnLogValue) -> bytes:
    out = bytearray(
        _VALUE_HEAD.pack(
            VALUE_VERSION,
            value.producer_id,
            value.producer_epoch,
            value.transaction_timeout_ms,
            value.state,
        )
    )
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(value.partitions):
        by_topic.setdefault(topic, []).append(partition)
    out += _INT32.pack(len(by_topic))
    for topic, indexes in by_topic.items():
        out += _string(topic)
        out += _INT32.pack(len(indexes))
        out += b"".join(_INT32.pack(index) for index in indexes)
    out += _VALUE_TAIL.pack(value.last_update_ms, value.start_ms)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, fmt: struct.Struct) -> tuple[int, ...]:
        if self.position + fmt.size > len(self.data):
            raise TxnLogError("record truncated")
        values = fmt.unpack_from(self.data, self.position)
        self.position += fmt.size
        return values

    def string(self) -> str:
        (length,) = self.take(_INT16)
        if length < 0 or self.position + length > len(self.data):
            raise TxnLogError("bad string length")
        raw = self.data[self.position : self.position + length]
        self.position += length
        try:
            return raw.decode()
        except UnicodeDecodeError as error:
            raise TxnLogError("string is not UTF-8") from error

    def count(self) -> int:
        (count,) = self.take(_INT32)
        if count > len(self.data):
            raise TxnLogError("bad array length")
        return count


def decode_key(data: bytes) -> str:
    reader = _Reader(data)
    (version,) = reader.take(_INT16)
    if version != KEY_VERSION:
        raise TxnLogError(f"unknown key version {version}")
    return reader.string()


def decode_value(data: bytes) -> TxnLogValue:
    reader = _Reader(data)
    version, producer_id, epoch, timeout_ms, status = reader.take(_VALUE_HEAD)
    if version != VALUE_VERSION:
        raise TxnLogError(f"unknown value version {version}")
    try:
        state = TxnState(status)
    except ValueError as error:
        raise TxnLogError(f"unknown transaction state {status}") from error
    partitions: set[TopicPartition] = set()
    topics = reader.count()
    for _ in range(max(topics, 0)):  # -1: null
        topic = reader.string()
        for _ in range(reader.count()):
            (index,) = reader.take(_INT32)
            partitions.add((topic, index))
    last_update_ms, start_ms = reader.take(_VALUE_TAIL)
    return TxnLogValue(
        producer_id, epoch, timeout_ms, state, frozenset(partitions), last_update_ms, start_ms
    )
