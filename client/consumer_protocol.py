"""The consumer protocol's payloads inside JoinGroup and SyncGroup (protocol type ``consumer``).

A member's JoinGroup carries, per assignor it supports, a ``ConsumerProtocolSubscription``
(the topics it wants, optional user data, and from v1 the partitions it owns — KIP-429's
cooperative rebalancing needs them — from v2 the generation they were owned in, KIP-792, and
from v3 its rack, KIP-881).  The leader answers each member, in its SyncGroup, with a
``ConsumerProtocolAssignment`` (the partitions, optional user data).  Both are Kafka's
"data" messages: an int16 version, then the fields in the classic (non-flexible) encoding.

Declared once here, in Kafka's vocabulary, and encoded by the same codec as every request.  As
Kafka's ``ConsumerProtocol`` does, a payload of a version newer than ours is read with our
newest declaration (every version only appends fields) and its tail is ignored, so a newer
client's subscription still decodes.  Anything else undecodable is a
:class:`~client.protocol.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from client.metadata import TopicPartition
from client.protocol import codec
from client.protocol import primitives as p
from client.protocol.errors import ProtocolError
from client.protocol.schema import BYTES, INT32, STRING, Array, Field, Message, Struct

PROTOCOL_TYPE = "consumer"
SUBSCRIPTION_VERSION = 3  # the newest version we write and read
ASSIGNMENT_VERSION = 3
NO_GENERATION = -1
_VERSION = struct.Struct(">h")

_TOPIC_PARTITION = Struct(
    [Field("topic", STRING), Field("partitions", Array(INT32))], name="TopicPartition"
)

SUBSCRIPTION = Message(
    "ConsumerProtocolSubscription",
    api_key=-1,
    kind="data",
    valid="0-3",
    flexible="none",
    fields=[
        Field("topics", Array(STRING)),
        Field("user_data", BYTES, nullable="0+"),
        Field("owned_partitions", Array(_TOPIC_PARTITION), "1+"),
        Field("generation_id", INT32, "2+", default=NO_GENERATION),
        Field("rack_id", STRING, "3+", nullable="3+"),
    ],
)

ASSIGNMENT = Message(
    "ConsumerProtocolAssignment",
    api_key=-1,
    kind="data",
    valid="0-3",
    flexible="none",
    fields=[
        Field("assigned_partitions", Array(_TOPIC_PARTITION)),
        Field("user_data", BYTES, nullable="0+"),
    ],
)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One member's ``ConsumerProtocolSubscription``; ``version`` is the one it was read at."""

    topics: tuple[str, ...]
    user_data: bytes | None = None
    owned_partitions: tuple[TopicPartition, ...] = ()
    generation_id: int = NO_GENERATION
    rack_id: str | None = None
    version: int = SUBSCRIPTION_VERSION


@dataclass(frozen=True, slots=True)
class Assignment:
    """A ``ConsumerProtocolAssignment``: the partitions a member is to consume."""

    partitions: tuple[TopicPartition, ...] = field(default=())
    user_data: bytes | None = None


def _by_topic(partitions: Iterable[TopicPartition]) -> list[dict[str, object]]:
    grouped: dict[str, list[int]] = {}
    for tp in sorted(set(partitions)):
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return [{"topic": topic, "partitions": ids} for topic, ids in grouped.items()]


def _flatten(entries: Iterable[object]) -> tuple[TopicPartition, ...]:
    out: list[TopicPartition] = []
    for entry in entries:
        topic = getattr(entry, "topic")  # noqa: B009 - construct Containers
        if topic is None:
            raise ProtocolError("a topic name in a consumer protocol payload is null")
        out.extend(TopicPartition(topic, index) for index in getattr(entry, "partitions"))  # noqa: B009
    return tuple(out)


def _read_version(data: bytes, newest: int, name: str) -> tuple[int, p.Reader]:
    if len(data) < _VERSION.size:
        raise ProtocolError(f"{name}: {len(data)} bytes, too short for a version")
    (version,) = _VERSION.unpack_from(data)
    if version < 0:
        raise ProtocolError(f"{name}: negative version {version}")
    reader = p.Reader(memoryview(data)[_VERSION.size :])
    return min(version, newest), reader


def encode_subscription(subscription: Subscription, version: int = SUBSCRIPTION_VERSION) -> bytes:
    """``subscription`` as JoinGroup protocol metadata, at ``version`` (0-3)."""
    body = {
        "topics": list(subscription.topics),
        "user_data": subscription.user_data,
        "owned_partitions": _by_topic(subscription.owned_partitions),
        "generation_id": subscription.generation_id,
        "rack_id": subscription.rack_id,
    }
    return _VERSION.pack(version) + codec.encode(SUBSCRIPTION, version, body)


def decode_subscription(data: bytes) -> Subscription:
    """A member's JoinGroup protocol metadata (any version; ProtocolError if undecodable)."""
    version, reader = _read_version(data, SUBSCRIPTION_VERSION, SUBSCRIPTION.name)
    value = codec.decode_from(SUBSCRIPTION, version, reader)
    topics = tuple(value.topics)
    if any(topic is None for topic in topics):
        raise ProtocolError("ConsumerProtocolSubscription: a null topic")
    user_data = value.user_data
    return Subscription(
        topics=topics,
        user_data=None if user_data is None else bytes(user_data),
        owned_partitions=_flatten(value.get("owned_partitions", ())),
        generation_id=value.get("generation_id", NO_GENERATION),
        rack_id=value.get("rack_id"),
        version=version,
    )


def encode_assignment(assignment: Assignment, version: int = ASSIGNMENT_VERSION) -> bytes:
    """``assignment`` as a SyncGroup assignment, at ``version`` (0-3: the same fields)."""
    body = {
        "assigned_partitions": _by_topic(assignment.partitions),
        "user_data": assignment.user_data,
    }
    return _VERSION.pack(version) + codec.encode(ASSIGNMENT, version, body)


def decode_assignment(data: bytes) -> Assignment:
    """A SyncGroup assignment (any version).  Empty bytes are the empty assignment: the
    coordinator sends them to a member the leader gave nothing (or after an error)."""
    if not data:
        return Assignment()
    version, reader = _read_version(data, ASSIGNMENT_VERSION, ASSIGNMENT.name)
    value = codec.decode_from(ASSIGNMENT, version, reader)
    user_data = value.user_data
    return Assignment(
        partitions=_flatten(value.assigned_partitions),
        user_data=None if user_data is None else bytes(user_data),
    )
