"""The ``__consumer_offsets`` record formats, and which partition holds a group, sans-IO.

Written from Kafka's message definitions (``OffsetCommitKey``, ``GroupMetadataKey``,
``OffsetCommitValue``, ``GroupMetadataValue``); every format here is non-flexible, so strings
are an int16 length (-1 for null) and UTF-8 bytes, byte arrays an int32 length and the bytes,
arrays an int32 count, all big-endian.  Each key and value starts with its int16 version.

Keys (the version tells the record type, as in Kafka's ``GroupMetadataManager.readMessageKey``):

- version 0 or 1: an offset commit, ``group string, topic string, partition int32``.  We write 1.
- version 2: group metadata, ``group string``.
- higher versions (KIP-848 consumer-group records, transactions) are not ours: :func:`decode_key`
  returns None for them and replay skips them.

Values (a tombstone, a record with a null value, deletes the key):

- ``OffsetCommitValue`` v1 ``offset int64, metadata string, commit_timestamp int64,
  expire_timestamp int64`` (only when the commit asked for a retention time, OffsetCommit v2-v4);
  v3 ``offset int64, leader_epoch int32, metadata string, commit_timestamp int64`` otherwise.
  v0 and v2 (v1 without the expire timestamp) are read too.
- ``GroupMetadataValue`` v3 ``protocol_type string, generation int32, protocol nullable string,
  leader nullable string, current_state_timestamp int64, members [member_id string,
  group_instance_id nullable string, client_id string, client_host string, rebalance_timeout
  int32, session_timeout int32, subscription bytes, assignment bytes]``; v0-v2 are read too
  (v0 lacks rebalance_timeout, v0-v1 current_state_timestamp, v0-v2 group_instance_id).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3
NO_TIMESTAMP = -1
NO_LEADER_EPOCH = -1
# Bounds on what a decoder accepts: a record names at most this many members (Kafka has no
# such bound; the coordinator's group.max.size cap is far below it).
MAX_MEMBERS_PER_RECORD = 1_000_000

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_MIN_INT32 = -(2**31)


class CorruptRecordError(ValueError):
    """A ``__consumer_offsets`` key or value that does not decode."""


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode``: ``s[0]*31^(n-1) + ... + s[n-1]`` over UTF-16 units, as int32."""
    encoded = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for index in range(0, len(encoded), 2):
        value = (value * 31 + ((encoded[index] << 8) | encoded[index + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def partition_for(group_id: str, num_partitions: int) -> int:
    """The ``__consumer_offsets`` partition of a group: ``Utils.abs(groupId.hashCode) % n``.

    Kafka's ``Utils.abs`` maps ``Integer.MIN_VALUE`` to 0 (``Math.abs`` would keep it negative).
    """
    assert num_partitions >= 1
    hash_code = java_string_hash(group_id)
    return (0 if hash_code == _MIN_INT32 else abs(hash_code)) % num_partitions


@dataclass(frozen=True, slots=True)
class OffsetCommitKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    group: str


@dataclass(frozen=True, slots=True)
class OffsetCommitValue:
    """One committed offset; ``expire_timestamp`` is -1 unless the commit set a retention."""

    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int
    expire_timestamp: int = NO_TIMESTAMP


@dataclass(frozen=True, slots=True)
class MemberMetadataValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int
    members: tuple[MemberMetadataValue, ...]


class _Writer:
    def __init__(self, version: int) -> None:
        self.parts: list[bytes] = [_INT16.pack(version)]

    def int32(self, value: int) -> None:
        self.parts.append(_INT32.pack(value))

    def int64(self, value: int) -> None:
        self.parts.append(_INT64.pack(value))

    def string(self, value: str | None) -> None:
        if value is None:
            self.parts.append(_INT16.pack(-1))
            return
        encoded = value.encode()
        assert len(encoded) <= 0x7FFF, "string longer than an int16 length"
        self.parts.append(_INT16.pack(len(encoded)) + encoded)

    def bytes_(self, value: bytes) -> None:
        self.parts.append(_INT32.pack(len(value)) + value)

    def done(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.position = 0

    def _unpack(self, layout: struct.Struct) -> int:
        try:
            (value,) = layout.unpack_from(self.data, self.position)
        except struct.error as error:
            raise CorruptRecordError(f"truncated at byte {self.position}") from error
        self.position += layout.size
        return int(value)

    def int16(self) -> int:
        return self._unpack(_INT16)

    def int32(self) -> int:
        return self._unpack(_INT32)

    def int64(self) -> int:
        return self._unpack(_INT64)

    def _take(self, length: int) -> bytes:
        end = self.position + length
        if length < 0 or end > len(self.data):
            raise CorruptRecordError(f"length {length} at byte {self.position} overruns the record")
        chunk = bytes(self.data[self.position : end])
        self.position = end
        return chunk

    def nullable_string(self) -> str | None:
        length = self.int16()
        if length == -1:
            return None
        try:
            return self._take(length).decode()
        except UnicodeDecodeError as error:
            raise CorruptRecordError("string is not UTF-8") from error

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise CorruptRecordError("null where a string is required")
        return value

    def bytes_(self) -> bytes:
        return self._take(self.int32())

    def count(self) -> int:
        value = self.int32()
        if not 0 <= value <= MAX_MEMBERS_PER_RECORD:
            raise CorruptRecordError(f"array of {value} elements")
        return value

    def finish(self) -> None:
        if self.position != len(self.data):
            raise CorruptRecordError(f"{len(self.data) - self.position} bytes after the record")


def encode_offset_commit_key(key: OffsetCommitKey) -> bytes:
    writer = _Writer(OFFSET_COMMIT_KEY_VERSION)
    writer.string(key.group)
    writer.string(key.topic)
    writer.int32(key.partition)
    return writer.done()


def encode_group_metadata_key(key: GroupMetadataKey) -> bytes:
    writer = _Writer(GROUP_METADATA_KEY_VERSION)
    writer.string(key.group)
    return writer.done()


def decode_key(data: bytes) -> OffsetCommitKey | GroupMetadataKey | None:
    """The key of a ``__consumer_offsets`` record; None for record types we do not use."""
    reader = _Reader(data)
    version = reader.int16()
    key: OffsetCommitKey | GroupMetadataKey
    if version in (0, 1):
        key = OffsetCommitKey(reader.string(), reader.string(), reader.int32())
    elif version == GROUP_METADATA_KEY_VERSION:
        key = GroupMetadataKey(reader.string())
    elif version > GROUP_METADATA_KEY_VERSION:
        return None
    else:
        raise CorruptRecordError(f"negative key version {version}")
    reader.finish()
    return key


def encode_offset_commit_value(value: OffsetCommitValue) -> bytes:
    """v1 when the commit carries an expire timestamp (explicit retention), else v3."""
    if value.expire_timestamp != NO_TIMESTAMP:
        writer = _Writer(OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY)
        writer.int64(value.offset)
        writer.string(value.metadata)
        writer.int64(value.commit_timestamp)
        writer.int64(value.expire_timestamp)
        return writer.done()
    writer = _Writer(OFFSET_COMMIT_VALUE_VERSION)
    writer.int64(value.offset)
    writer.int32(value.leader_epoch)
    writer.string(value.metadata)
    writer.int64(value.commit_timestamp)
    return writer.done()


def decode_offset_commit_value(data: bytes) -> OffsetCommitValue:
    reader = _Reader(data)
    version = reader.int16()
    if not 0 <= version <= OFFSET_COMMIT_VALUE_VERSION:
        raise CorruptRecordError(f"unsupported OffsetCommitValue version {version}")
    offset = reader.int64()
    leader_epoch = reader.int32() if version >= 3 else NO_LEADER_EPOCH
    metadata = reader.string()
    commit_timestamp = reader.int64()
    expire_timestamp = reader.int64() if version == 1 else NO_TIMESTAMP
    reader.finish()
    return OffsetCommitValue(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)


def encode_group_metadata_value(value: GroupMetadataValue) -> bytes:
    writer = _Writer(GROUP_METADATA_VALUE_VERSION)
    writer.string(value.protocol_type)
    writer.int32(value.generation)
    writer.string(value.protocol)
    writer.string(value.leader)
    writer.int64(value.current_state_timestamp)
    writer.int32(len(value.members))
    for member in value.members:
        writer.string(member.member_id)
        writer.string(member.group_instance_id)
        writer.string(member.client_id)
        writer.string(member.client_host)
        writer.int32(member.rebalance_timeout)
        writer.int32(member.session_timeout)
        writer.bytes_(member.subscription)
        writer.bytes_(member.assignment)
    return writer.done()


def decode_group_metadata_value(data: bytes) -> GroupMetadataValue:
    reader = _Reader(data)
    version = reader.int16()
    if not 0 <= version <= GROUP_METADATA_VALUE_VERSION:
        raise CorruptRecordError(f"unsupported GroupMetadataValue version {version}")
    protocol_type = reader.string()
    generation = reader.int32()
    protocol = reader.nullable_string()
    leader = reader.nullable_string()
    current_state_timestamp = reader.int64() if version >= 2 else NO_TIMESTAMP
    members = tuple(_decode_member(reader, version) for _ in range(reader.count()))
    reader.finish()
    return GroupMetadataValue(
        protocol_type, generation, protocol, leader, current_state_timestamp, members
    )


def _decode_member(reader: _Reader, version: int) -> MemberMetadataValue:
    member_id = reader.string()
    group_instance_id = reader.nullable_string() if version >= 3 else None
    client_id = reader.string()
    client_host = reader.string()
    session_timeout_first = version == 0
    rebalance_timeout = -1 if session_timeout_first else reader.int32()
    session_timeout = reader.int32()
    if session_timeout_first:
        rebalance_timeout = session_timeout  # v0 groups used the session timeout for both
    return MemberMetadataValue(
        member_id,
        group_instance_id,
        client_id,
        client_host,
        rebalance_timeout,
        session_timeout,
        reader.bytes_(),
        reader.bytes_(),
    )
