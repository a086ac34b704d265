"""The Java-compatible partitioner: murmur2 vectors, key → partition, KIP-480 stickiness."""

from __future__ import annotations

import os
import random

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from client.partitioner import StickyPartitioner, murmur2, partition_for_key, to_positive

# Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils), plus the
# values Akka's Murmur2Spec took from Kafka's implementation.
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_VECTORS.items())
def test_murmur2_matches_kafka(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_murmur2_of_empty_and_every_tail_length() -> None:
    rng = random.Random(7)
    for length in range(64):
        data = bytes(rng.randrange(256) for _ in range(length))
        # kafka-python returns the hash already masked to 31 bits... of the same value.
        assert to_positive(murmur2(data)) == to_positive(kafka_python_murmur2(data))


def test_to_positive_is_a_mask_not_abs() -> None:
    assert to_positive(-(2**31)) == 0
    assert to_positive(-1) == 2**31 - 1
    assert to_positive(5) == 5


def test_partition_for_key_is_murmur2_modulo() -> None:
    # toPositive(-973932308) % 10 == 1173551340 % 10.
    assert partition_for_key(b"21", 10) == 0
    assert partition_for_key(b"abc", 7) == 479470107 % 7
    for _ in range(100):
        key = os.urandom(12)
        assert partition_for_key(key, 6) == (murmur2(key) & 0x7FFFFFFF) % 6


def test_sticky_stays_until_told_to_move() -> None:
    sticky = StickyPartitioner(random.Random(1))
    first = sticky.partition("t", 6, range(6))
    assert all(sticky.partition("t", 6, range(6)) == first for _ in range(50))
    moved = sticky.next_partition("t", 6, range(6))
    assert moved != first
    assert sticky.partition("t", 6, range(6)) == moved


def test_sticky_never_picks_the_same_partition_twice_in_a_row() -> None:
    sticky = StickyPartitioner(random.Random(2))
    previous = sticky.partition("t", 3, [0, 1, 2])
    seen = set()
    for _ in range(200):
        current = sticky.next_partition("t", 3, [0, 1, 2])
        assert current != previous
        seen.add(current)
        previous = current
    assert seen == {0, 1, 2}


def test_sticky_prefers_available_partitions_and_is_per_topic() -> None:
    sticky = StickyPartitioner(random.Random(3))
    for _ in range(50):
        assert sticky.next_partition("a", 4, [2]) == 2
    assert sticky.partition("b", 1, []) == 0  # nothing available: any partition
    assert sticky.next_partition("b", 1, []) == 0  # a single partition stays


def test_sticky_rechooses_when_partitions_shrink() -> None:
    sticky = StickyPartitioner(random.Random(4))
    sticky.next_partition("t", 8, range(8))
    assert sticky.partition("t", 1, [0]) == 0
