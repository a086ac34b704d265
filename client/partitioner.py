"""Choosing a partition for a record, as the Java client does (sans-IO).

Keyed records: Kafka's ``Utils.murmur2`` of the serialized key, then
``toPositive(hash) % numPartitions`` over *all* partitions (available or not), so a key lands on
the same partition as with the Java client, librdkafka's ``murmur2_random`` and kafka-python.

Records without a key: sticky partitioning (KIP-480).  The producer keeps one partition per
topic and sends every unkeyed record there until that partition's batch is full or has been
sent; then it moves to another partition, chosen at random among the available ones (those
with a leader), never the one it just left when there is a choice.  Batches fill faster than
with round-robin, so there are fewer, larger requests.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24
_MASK = 0xFFFFFFFF
_POSITIVE = 0x7FFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: the 32-bit MurmurHash2 of ``data`` (seed 0x9747b28c), signed.

    Words are read little-endian; the tail bytes and the final mix follow the Java code, so
    the result equals the Java ``int`` (``murmur2(b"21") == -973932308``).
    """
    length = len(data)
    h = (_SEED ^ length) & _MASK
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    index = words * 4
    if tail == 3:
        h ^= data[index + 2] << 16
    if tail >= 2:
        h ^= data[index + 1] << 8
    if tail >= 1:
        h ^= data[index]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """Kafka's ``Utils.toPositive``: the low 31 bits (not ``abs``: ``abs(MIN_VALUE)`` < 0)."""
    return number & _POSITIVE


def partition_for_key(key: bytes, partition_count: int) -> int:
    """The partition of a keyed record: ``toPositive(murmur2(key)) % partition_count``."""
    assert partition_count > 0
    return to_positive(murmur2(key)) % partition_count


class StickyPartitioner:
    """KIP-480's sticky choice for unkeyed records, per topic.

    :meth:`partition` returns the topic's current partition; the producer calls
    :meth:`next_partition` when that partition has no open batch with room (its batch was
    sent or is full), which moves the topic to another available partition.  ``rng`` makes the
    choice reproducible in tests.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._current: dict[str, int] = {}

    def partition(self, topic: str, partition_count: int, available: Sequence[int]) -> int:
        """The partition unkeyed records of ``topic`` go to now (chosen on first use)."""
        current = self._current.get(topic)
        if current is None or current >= partition_count:
            return self.next_partition(topic, partition_count, available)
        return current

    def next_partition(self, topic: str, partition_count: int, available: Sequence[int]) -> int:
        """Move ``topic`` to another partition: random among ``available`` (all if none are),
        excluding the current one when another exists."""
        assert partition_count > 0
        previous = self._current.get(topic)
        candidates = [p for p in available if p < partition_count] or range(partition_count)
        if len(candidates) > 1 and previous is not None:
            candidates = [p for p in candidates if p != previous]
        chosen = candidates[self._rng.randrange(len(candidates))]
        self._current[topic] = chosen
        return chosen
