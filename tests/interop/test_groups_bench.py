"""Measurements for issue 8's closing note, printed (run with ``-s``), not asserted beyond
sanity: how long a 4-member group takes to finish a rebalance after a 5th member joins,
and how many synchronous commits per second one consumer gets.  The broker runs in its
own process (as in production, and so the clients do not share its GIL)."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from tests.interop.test_groups_members import (
    BROKER_SETTINGS,
    HEARTBEAT_MS,
    SESSION_MS,
    STEP_S,
    Member,
    MemberPool,
    create_topic,
    members,
    split,
)

__all__ = ["members"]  # the fixture, re-exported for pytest
# Measurements, not checks: the slow tier (``make test-slow -- -s`` prints them).
pytestmark = pytest.mark.slow

PARTITIONS = 10
JOINS = 3
COMMIT_WINDOW_S = 2.0


def _assigned_since(member: Member, since: float) -> float | None:
    """When the member's rebalance listener last handed it partitions after ``since``."""
    times = [e["at"] for e in member.of("assign") if e["at"] >= since and e["partitions"]]
    return max(times, default=None)


def _join_and_leave(
    members: MemberPool, four: list[Member], client: str, *, bootstrap: str, topic: str, group: str
) -> tuple[float, float]:
    """A 5th member joins (seconds until all five hold their new partitions), then leaves
    cleanly (seconds until the four hold theirs again)."""
    fifth = members.start(client, bootstrap, topic, group)
    members.wait(lambda: fifth.saw("ready"), "the fifth member subscribed")
    joined_at = fifth.of("ready")[0]["at"]
    five = [*four, fifth]
    members.wait(
        lambda: split(five, PARTITIONS) and all(_assigned_since(m, joined_at) for m in five),
        "five members split the partitions",
    )
    joined = max(_assigned_since(m, joined_at) or 0.0 for m in five) - joined_at
    left_at = time.monotonic()
    fifth.close()
    members.wait(
        lambda: split(four, PARTITIONS) and all(_assigned_since(m, left_at) for m in four),
        "four members after the fifth left",
    )
    left = max(_assigned_since(m, left_at) or 0.0 for m in four) - left_at
    return joined, left


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_rebalance_time_after_fifth_member_joins(
    client: str, kafka_broker_factory: Any, members: MemberPool, topic: str
) -> None:
    broker = kafka_broker_factory.start(
        BROKER_SETTINGS | {"num.partitions": str(PARTITIONS)}, subprocess=True
    )
    create_topic(broker.bootstrap, topic, PARTITIONS)
    group = f"g-{topic}"
    four = [members.start(client, broker.bootstrap, topic, group) for _ in range(4)]
    members.wait(lambda: split(four, PARTITIONS), "four members split the partitions")
    joins: list[float] = []
    leaves: list[float] = []
    for _ in range(JOINS):
        joined, left = _join_and_leave(
            members, four, client, bootstrap=broker.bootstrap, topic=topic, group=group
        )
        joins.append(joined)
        leaves.append(left)
    print(
        f"\n[{client}] 4-member group, 5th joins: rebalance done in "
        f"min {min(joins) * 1000:.0f} / median {statistics.median(joins) * 1000:.0f} / "
        f"max {max(joins) * 1000:.0f} ms over {JOINS} joins "
        f"(heartbeat.interval {HEARTBEAT_MS} ms, session {SESSION_MS} ms, initial delay 0); "
        f"after a clean leave: median {statistics.median(leaves) * 1000:.0f} ms"
    )
    assert max(joins) < STEP_S


def _confluent_commits(bootstrap: str, topic: str, group: str) -> tuple[int, float]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_MS,
            "heartbeat.interval.ms": HEARTBEAT_MS,
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + STEP_S
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.1)
        assert consumer.assignment(), "no assignment"
        count, began = 0, time.monotonic()
        while time.monotonic() - began < COMMIT_WINDOW_S:
            count += 1
            result = consumer.commit(offsets=[TopicPartition(topic, 0, count)], asynchronous=False)
            assert result and result[0].error is None, result
        return count, time.monotonic() - began
    finally:
        consumer.close()


def _kafka_python_commits(bootstrap: str, topic: str, group: str) -> tuple[int, float]:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
    )
    try:
        consumer.topics()  # metadata before the join: see _kafka_python in test_groups_members
        deadline = time.monotonic() + STEP_S
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)
        assert consumer.assignment(), "no assignment"
        tp = TopicPartition(topic, 0)
        count, began = 0, time.monotonic()
        while time.monotonic() - began < COMMIT_WINDOW_S:
            count += 1
            consumer.commit({tp: OffsetAndMetadata(count, "", -1)})
        return count, time.monotonic() - began
    finally:
        consumer.close()


def _aiokafka_commits(bootstrap: str, topic: str, group: str) -> tuple[int, float]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> tuple[int, float]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + STEP_S
            while not consumer.assignment() and time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=100)
            assert consumer.assignment(), "no assignment"
            tp = TopicPartition(topic, 0)
            count, began = 0, time.monotonic()
            while time.monotonic() - began < COMMIT_WINDOW_S:
                count += 1
                await consumer.commit({tp: count})
            return count, time.monotonic() - began
        finally:
            await consumer.stop()

    return asyncio.run(run())


COMMITTERS = {
    "confluent-kafka": _confluent_commits,
    "kafka-python": _kafka_python_commits,
    "aiokafka": _aiokafka_commits,
}


@pytest.mark.parametrize("client", list(COMMITTERS))
def test_synchronous_commit_throughput(client: str, kafka_broker_factory: Any, topic: str) -> None:
    broker = kafka_broker_factory.start(BROKER_SETTINGS, subprocess=True)
    create_topic(broker.bootstrap, topic, 1)
    count, elapsed = COMMITTERS[client](broker.bootstrap, topic, f"g-{topic}")
    print(
        f"\n[{client}] synchronous commits from one group member: {count} in "
        f"{elapsed:.2f} s = {count / elapsed:.0f} commits/s ({elapsed / count * 1000:.2f} ms each)"
    )
    assert count > 0
