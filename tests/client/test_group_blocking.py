"""The blocking consumer in groups: membership driven from ``poll`` (several members in one
thread), partitions shared without overlap, rebalance on join and close, commits resumed
exactly, auto-commit, and the listener.  Every wait polls until a condition holds, bounded by a
deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from broker.testing import BrokerFactory
from client.blocking import AdminClient, NewTopic, Producer
from client.blocking_consumer import BlockingRebalanceListener, Consumer
from client.group import OffsetAndMetadata
from client.metadata import TopicPartition

GROUP_BROKER = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}
DEADLINE_S = 30.0
MEMBER = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 200,
    "auto_offset_reset": "earliest",
    "retry_backoff_ms": 50,
}


@pytest.fixture
def bootstrap(kafka_broker_factory: BrokerFactory) -> str:
    return str(kafka_broker_factory.start(GROUP_BROKER).bootstrap)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    with AdminClient(bootstrap_servers=bootstrap) as admin:
        assert admin.create_topics([NewTopic(topic, partitions, 1)]) == {topic: None}


def produce(bootstrap: str, topic: str, partitions: int, per_partition: int, tag: str) -> None:
    with Producer(bootstrap_servers=bootstrap, linger_ms=0) as producer:
        futures = [
            producer.send(topic, f"{tag}-{p}-{i}".encode(), partition=p)
            for p in range(partitions)
            for i in range(per_partition)
        ]
        for future in futures:
            future.get(timeout_ms=10_000)


@contextmanager
def member(bootstrap: str, group: str, **settings: Any) -> Iterator[Consumer]:
    with Consumer(bootstrap_servers=bootstrap, group_id=group, **{**MEMBER, **settings}) as c:
        yield c


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S} s: {what}"


def everything(topic: str, count: int) -> set[TopicPartition]:
    return {TopicPartition(topic, p) for p in range(count)}


def split_evenly(consumers: list[Consumer], wanted: set[TopicPartition]) -> bool:
    for consumer in consumers:
        consumer.poll(timeout_ms=20)
    assigned = [c.assignment() for c in consumers]
    union: set[TopicPartition] = set().union(*assigned)
    sizes = [len(a) for a in assigned]
    return union == wanted and sum(sizes) == len(union) and max(sizes) - min(sizes) <= 1


def test_members_in_one_thread_share_and_rebalance(bootstrap: str) -> None:
    topic, group = unique("topic"), unique("group")
    create_topic(bootstrap, topic, 6)
    wanted = everything(topic, 6)
    with ExitStack() as stack:
        first = stack.enter_context(member(bootstrap, group))
        second = stack.enter_context(member(bootstrap, group))
        first.subscribe([topic])
        second.subscribe([topic])
        wait_until(lambda: split_evenly([first, second], wanted), "two members split")
        third = stack.enter_context(member(bootstrap, group))
        third.subscribe(topic)
        trio = [first, second, third]
        wait_until(
            lambda: split_evenly(trio, wanted) and all(len(c.assignment()) == 2 for c in trio),
            "a third member gets its share",
        )
        second.close()
        assert second.assignment() == frozenset()
        wait_until(lambda: split_evenly([first, third], wanted), "the closed member's share moves")


def consume(consumer: Consumer, want: int) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(values) < want:
        assert time.monotonic() < deadline, f"only {len(values)} of {want} records"
        for records in consumer.poll(timeout_ms=200, max_records=want - len(values)).values():
            values += [r.value or b"" for r in records]
    return values


def test_commit_then_restart_resumes_exactly(bootstrap: str) -> None:
    topic, group = unique("topic"), unique("group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, 2, 10, "a")
    with member(bootstrap, group, enable_auto_commit=False) as c:
        c.subscribe([topic])
        first = consume(c, 13)
        c.commit()
        found = c.committed(sorted(everything(topic, 2)))
        assert sum(o.offset for o in found.values() if o is not None) == 13
    with member(bootstrap, group, enable_auto_commit=False) as c:
        c.subscribe([topic])
        rest = consume(c, 7)
        assert c.poll(timeout_ms=300) == {}
    assert sorted(first + rest) == sorted(
        f"a-{p}-{i}".encode() for p in range(2) for i in range(10)
    )


def test_auto_commit_commit_async_and_listener(bootstrap: str) -> None:
    topic, group = unique("topic"), unique("group")
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, 1, 6, "x")
    tp = TopicPartition(topic, 0)
    events: list[tuple[str, frozenset[TopicPartition]]] = []

    class Recorder(BlockingRebalanceListener):
        def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
            events.append(("revoked", revoked))

        def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
            events.append(("assigned", assigned))

    with member(bootstrap, group, auto_commit_interval_ms=100) as c:
        c.subscribe([topic], listener=Recorder())
        consume(c, 6)

        def committed_six() -> bool:
            c.poll(timeout_ms=50)
            found = c.committed([tp])[tp]
            return found is not None and found.offset == 6

        wait_until(committed_six, "auto-commit reached offset 6")
        outcomes: list[object] = []
        c.commit_async({tp: 4}, lambda offsets, error: outcomes.append((offsets, error)))

        def answered() -> bool:
            c.poll(timeout_ms=20)
            return bool(outcomes)

        wait_until(answered, "commit_async answered")
        assert outcomes == [({tp: OffsetAndMetadata(4)}, None)]
    assert events == [("assigned", frozenset({tp})), ("revoked", frozenset({tp}))]
    with member(bootstrap, group, enable_auto_commit=False) as c:
        # The close committed the position (6) after commit_async's 4.
        assert c.committed([tp])[tp] == OffsetAndMetadata(6, 0, "")


def test_member_that_stops_polling_is_expired_and_loses_its_partitions(bootstrap: str) -> None:
    """No LeaveGroup: the silent member's partitions move after session.timeout.ms, and when
    it polls again it finds its generation gone (partitions lost, not revoked) and rejoins."""
    topic, group = unique("topic"), unique("group")
    create_topic(bootstrap, topic, 4)
    wanted = everything(topic, 4)
    lost: list[frozenset[TopicPartition]] = []

    class Recorder(BlockingRebalanceListener):
        def on_partitions_lost(self, partitions: frozenset[TopicPartition]) -> None:
            lost.append(partitions)

    short = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 100}
    with member(bootstrap, group, **short) as alive, member(bootstrap, group, **short) as silent:
        alive.subscribe([topic])
        silent.subscribe([topic], listener=Recorder())
        wait_until(lambda: split_evenly([alive, silent], wanted), "two members split")
        held = silent.assignment()

        def alive_has_all() -> bool:
            alive.poll(timeout_ms=50)
            return alive.assignment() == wanted

        wait_until(alive_has_all, "the silent member's partitions move after its session")
        wait_until(lambda: split_evenly([alive, silent], wanted), "the silent member rejoins")
    assert lost == [held]
