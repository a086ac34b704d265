"""KIP-932 share groups with confluent-kafka's ``ShareConsumer`` (librdkafka 2.16): one
member reads a multi-partition topic exactly once, two members share one partition without
reading a record twice, explicit RELEASE / REJECT / ACCEPT acknowledgements, archiving at
the delivery count limit, transactional records under both ``share.isolation.level``
values, records going back to the group when their holder closes or lets its locks expire,
and ``share.auto.offset.reset`` at its default (``latest``).

The broker heartbeats share members every 500 ms so joins are quick.  Records stay locked
for Kafka's default 30 s unless a test sets the group's ``share.record.lock.duration.ms``
(the broker allows it down to 1 s), so a redelivery before then is caused by a release, not
by a lock running out.  Every wait is bounded and polls a condition.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import (
    AcknowledgeType,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    ShareConsumer,
)
from confluent_kafka.admin import AdminClient

# Where the typed stubs define them (confluent_kafka.admin re-exports them implicitly).
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewTopic

from broker.testing import BrokerFactory
from tests.support.waiting import wait_until

DEADLINE_S = 20.0
POLL_S = 0.1
# How long a member that should get nothing more is watched before the test moves on.
QUIET_S = 1.5
LOCK_MS = 2000
DELIVERY_LIMIT = 3
SETTINGS = {
    "offsets.topic.num.partitions": "1",
    "group.share.heartbeat.interval.ms": "500",
    "group.share.min.heartbeat.interval.ms": "500",
    # Lets a group lower share.record.lock.duration.ms (the broker default stays 30 s).
    "group.share.min.record.lock.duration.ms": "1000",
    # A record is archived once its third delivery is released (Kafka's default: 5).
    "group.share.delivery.count.limit": str(DELIVERY_LIMIT),
}


@pytest.fixture
def bootstrap(kafka_broker_factory: BrokerFactory) -> str:
    return str(kafka_broker_factory.start(SETTINGS).bootstrap)


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"share-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(DEADLINE_S)
    return name


def _group() -> str:
    return f"sg-{uuid.uuid4().hex[:8]}"


def _set_group_configs(bootstrap: str, group: str, **configs: str) -> None:
    """Set dynamic group configs (``share_auto_offset_reset="earliest"`` for
    ``share.auto.offset.reset``) with IncrementalAlterConfigs on the GROUP resource."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entries = [
        ConfigEntry(name.replace("_", "."), value, incremental_operation=AlterConfigOpType.SET)
        for name, value in configs.items()
    ]
    resource = ConfigResource("group", group, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(DEADLINE_S)


def _produce(
    bootstrap: str,
    topic: str,
    prefix: str,
    count: int,
    partitions: int = 1,
    *,
    batch: int = 0,
    config: dict[str, str] | None = None,
) -> list[bytes]:
    """``count`` records spread round-robin over the partitions; with ``batch`` > 0 the
    producer is flushed every ``batch`` records, so the log holds batches that small."""
    settings = {"bootstrap.servers": bootstrap, "linger.ms": 0 if batch else 5, **(config or {})}
    producer = Producer(settings)
    values = []
    for index in range(count):
        value = f"{prefix}-{index}".encode()
        producer.produce(topic, value, key=value, partition=index % partitions)
        values.append(value)
        if batch and (index + 1) % batch == 0:
            assert producer.flush(DEADLINE_S) == 0
    assert producer.flush(DEADLINE_S) == 0
    return values


@dataclass(frozen=True)
class Delivery:
    partition: int
    offset: int
    value: bytes
    delivery_count: int | None


class Member:
    """A subscribed share consumer polled by the test; remembers every delivery.

    ``on_message(consumer, message)`` runs for each record (explicit mode acknowledges
    there); errors delivered as messages are kept in ``errors``, and what the
    acknowledgement-commit callback reports in ``commits``: ``(offsets by partition,
    exception or None)``.  librdkafka does not report every commit there (implicit
    acknowledgements and commit_sync's often not), so only its errors count, except where
    a test commits with commit_async."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topic: str,
        *,
        explicit: bool = False,
        on_message: Callable[[ShareConsumer, Message[Any, Any]], None] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.consumer = ShareConsumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "share.acknowledgement.mode": "explicit" if explicit else "implicit",
                **(config or {}),
            }
        )
        self.commits: list[tuple[dict[Any, set[int]], Any]] = []
        self.consumer.set_acknowledgement_commit_callback(
            lambda offsets, error: self.commits.append((offsets, error))
        )
        self.consumer.subscribe([topic])
        self.on_message = on_message
        self.deliveries: list[Delivery] = []
        self.errors: list[Any] = []
        self.closed = False

    def poll(self, timeout: float = POLL_S) -> list[Delivery]:
        new = []
        for message in self.consumer.poll(timeout):
            if message.error() is not None:
                self.errors.append(message.error())
                continue
            partition, offset, value = message.partition(), message.offset(), message.value()
            assert partition is not None and offset is not None and value is not None
            delivery = Delivery(partition, offset, value, message.delivery_count())
            new.append(delivery)
            if self.on_message is not None:
                self.on_message(self.consumer, message)
        self.deliveries += new
        return new

    def refused(self) -> list[Any]:
        """The acknowledgement commits the broker refused."""
        return [(offsets, error) for offsets, error in self.commits if error is not None]

    def acknowledged(self) -> set[tuple[int, int]]:
        """(partition, offset) of every acknowledgement the broker took."""
        return {
            (tp.partition, offset)
            for offsets, error in self.commits
            if error is None
            for tp, acked in offsets.items()
            for offset in acked
        }

    def values(self) -> list[bytes]:
        return [d.value for d in self.deliveries]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    made: list[Member] = []
    yield made
    for member in made:
        member.close()


def _poll_until(members: list[Member], check: Callable[[], Any], what: str) -> None:
    def polled() -> bool:
        for member in members:
            member.poll()
        return bool(check())

    wait_until(polled, what=what, timeout_s=DEADLINE_S)


def _poll_for(members: list[Member], seconds: float) -> list[Delivery]:
    """Poll every member for about ``seconds``; what they received meanwhile."""
    got: list[Delivery] = []
    rounds = max(1, round(seconds / POLL_S / len(members)))
    for _ in range(rounds):
        for member in members:
            got += member.poll()
    return got


def _commit(member: Member) -> None:
    """commit_sync, asserting that every partition's acknowledgements succeeded."""
    results = member.consumer.commit_sync(DEADLINE_S)
    failed = {f"{tp.topic}[{tp.partition}]": error for tp, error in results.items() if error}
    assert not failed, f"acknowledgements refused: {failed}"


def test_one_member_reads_every_partition_exactly_once(
    bootstrap: str, members: list[Member]
) -> None:
    partitions = 3
    topic = _topic(bootstrap, partitions)
    group = _group()
    _set_group_configs(bootstrap, group, share_auto_offset_reset="earliest")
    produced = _produce(bootstrap, topic, "old", 45, partitions)

    a = Member(bootstrap, group, topic)
    members.append(a)
    _poll_until([a], lambda: set(a.values()) >= set(produced), "the member reads everything")
    _poll_for([a], 0.5)  # implicit mode: this poll accepts the last batch
    _commit(a)
    assert sorted(a.values()) == sorted(produced), "a record was delivered twice"
    assert {d.partition for d in a.deliveries} == set(range(partitions))
    assert {d.delivery_count for d in a.deliveries} == {1}
    for partition in range(partitions):
        offsets = [d.offset for d in a.deliveries if d.partition == partition]
        assert offsets == list(range(15)), f"partition {partition} offsets {offsets}"
    assert not a.errors and not a.refused()
    a.close()

    # Everything old was accepted: a later member of the group only sees what is new.
    b = Member(bootstrap, group, topic)
    members.append(b)
    fresh = _produce(bootstrap, topic, "new", 9, partitions)
    _poll_until([b], lambda: set(b.values()) >= set(fresh), "the second member reads new records")
    _poll_for([b], 0.3)
    assert sorted(b.values()) == sorted(fresh), "old records were delivered again"
    assert {d.delivery_count for d in b.deliveries} == {1}
    assert not b.errors and not b.refused()


def test_two_members_share_one_partition(bootstrap: str, members: list[Member]) -> None:
    topic = _topic(bootstrap, 1)
    group = _group()
    _set_group_configs(bootstrap, group, share_auto_offset_reset="earliest")
    # Small (compressed) batches and small polls: neither member takes everything at once.
    a = Member(bootstrap, group, topic, config={"max.poll.records": 5})
    b = Member(bootstrap, group, topic, config={"max.poll.records": 5})
    members += [a, b]

    # Keep records coming until both members have been handed some: the partition is
    # assigned to both.
    produced: list[bytes] = []

    def both_read() -> bool:
        produced.extend(_produce(bootstrap, topic, f"warm{len(produced)}", 5, batch=1))
        for member in (a, b):
            member.poll()
        return bool(a.deliveries and b.deliveries)

    wait_until(both_read, what="both members receive records", timeout_s=DEADLINE_S)
    produced += _produce(bootstrap, topic, "main", 100, batch=5, config={"compression.type": "lz4"})
    everything = set(produced)
    _poll_until([a, b], lambda: set(a.values()) | set(b.values()) >= everything, "all records")
    _poll_for([a, b], QUIET_S)  # would show redeliveries
    _commit(a)
    _commit(b)

    received = a.values() + b.values()
    assert sorted(received) == sorted(produced), "a record was delivered twice"
    assert not set(a.values()) & set(b.values())
    assert {d.delivery_count for d in a.deliveries + b.deliveries} == {1}
    assert not a.errors and not b.errors
    assert not a.refused() and not b.refused()


def test_explicit_release_reject_and_accept(bootstrap: str, members: list[Member]) -> None:
    topic = _topic(bootstrap, 1)
    group = _group()
    _set_group_configs(bootstrap, group, share_auto_offset_reset="earliest")
    produced = _produce(bootstrap, topic, "r", 30)
    kinds = {0: AcknowledgeType.RELEASE, 1: AcknowledgeType.REJECT}
    released = {v for i, v in enumerate(produced) if i % 3 == 0}
    rejected = {v for i, v in enumerate(produced) if i % 3 == 1}
    seen: set[bytes] = set()

    def acknowledge(consumer: ShareConsumer, message: Message[Any, Any]) -> None:
        # First delivery: release / reject / accept by position; a redelivery is accepted.
        value = message.value()
        assert value is not None
        first = value not in seen
        seen.add(value)
        kind = AcknowledgeType.ACCEPT
        if first and value in produced:
            kind = kinds.get(produced.index(value) % 3, kind)
        consumer.acknowledge(message, kind)

    a = Member(bootstrap, group, topic, explicit=True, on_message=acknowledge)
    members.append(a)
    _poll_until([a], lambda: seen >= set(produced), "the first delivery of every record")
    _poll_until(
        [a],
        lambda: sum(1 for d in a.deliveries if d.value in released) == 2 * len(released),
        "the released records come back",
    )
    _commit(a)
    marker = _produce(bootstrap, topic, "marker", 1)
    _poll_until([a], lambda: marker[0] in a.values(), "a record produced afterwards")
    _poll_for([a], 0.3)
    _commit(a)

    counts = {
        value: [d.delivery_count for d in a.deliveries if d.value == value] for value in produced
    }
    assert {v for v, n in counts.items() if n == [1, 2]} == released
    assert all(n == [1] for v, n in counts.items() if v not in released), counts
    assert all(counts[v] == [1] for v in rejected)
    assert not a.errors and not a.refused()


def test_released_records_are_archived_at_the_delivery_limit(
    bootstrap: str, members: list[Member]
) -> None:
    topic = _topic(bootstrap, 2)
    group = _group()
    _set_group_configs(bootstrap, group, share_auto_offset_reset="earliest")
    produced = _produce(bootstrap, topic, "again", 8, 2)

    def release(consumer: ShareConsumer, message: Message[Any, Any]) -> None:
        if message.value() in produced:
            consumer.acknowledge(message, AcknowledgeType.RELEASE)
        else:
            consumer.acknowledge(message, AcknowledgeType.ACCEPT)
        consumer.commit_async()

    a = Member(bootstrap, group, topic, explicit=True, on_message=release)
    members.append(a)
    _poll_until(
        [a],
        lambda: len(a.deliveries) >= DELIVERY_LIMIT * len(produced),
        "every record delivered up to the limit",
    )
    marker = _produce(bootstrap, topic, "marker", 2, 2)
    _poll_until([a], lambda: set(marker) <= set(a.values()), "records produced afterwards")
    _poll_for([a], 0.3)
    _commit(a)

    for value in produced:
        counts = [d.delivery_count for d in a.deliveries if d.value == value]
        assert counts == list(range(1, DELIVERY_LIMIT + 1)), (value, counts)
    assert sorted(d.value for d in a.deliveries if d.value not in produced) == sorted(marker)
    assert a.acknowledged() >= {(d.partition, d.offset) for d in a.deliveries}
    assert not a.errors and not a.refused()


@pytest.mark.parametrize("isolation", ["read_committed", "read_uncommitted"])
def test_transactional_records_by_isolation_level(
    bootstrap: str, members: list[Member], isolation: str
) -> None:
    """One transactional producer commits, aborts, commits, ... in one partition: a
    read_committed group gets the committed records only, a read_uncommitted one every
    record; neither gets the commit/abort markers (acquired, then acknowledged as gaps)."""
    topic = _topic(bootstrap, 1)
    group = _group()
    _set_group_configs(
        bootstrap, group, share_auto_offset_reset="earliest", share_isolation_level=isolation
    )
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"tx-{group}", "linger.ms": 5}
    )
    producer.init_transactions(DEADLINE_S)
    written: list[bytes] = []
    committed: list[bytes] = []
    for round_ in range(3):
        for outcome in ("commit", "abort"):
            producer.begin_transaction()
            values = [f"{outcome}-{round_}-{index}".encode() for index in range(4)]
            for value in values:
                producer.produce(topic, value, partition=0)
            # Flushed first: librdkafka would purge unsent records of an aborted transaction.
            assert producer.flush(DEADLINE_S) == 0
            if outcome == "commit":
                producer.commit_transaction(DEADLINE_S)
                committed += values
            else:
                producer.abort_transaction(DEADLINE_S)
            written += values
    marker = _produce(bootstrap, topic, "marker", 1)

    a = Member(bootstrap, group, topic)
    members.append(a)
    _poll_until([a], lambda: marker[0] in a.values(), "the record after the transactions")
    _poll_for([a], 0.3)
    _commit(a)
    expected = committed if isolation == "read_committed" else written
    assert a.values() == expected + marker
    assert {d.delivery_count for d in a.deliveries} == {1}
    assert not a.errors and not a.refused()


def test_records_of_a_closed_member_go_to_another(bootstrap: str, members: list[Member]) -> None:
    topic = _topic(bootstrap, 1)
    group = _group()
    _set_group_configs(bootstrap, group, share_auto_offset_reset="earliest")
    produced = _produce(bootstrap, topic, "held", 20)

    # Explicit mode, nothing acknowledged: the records are held until a is closed.
    a = Member(bootstrap, group, topic, explicit=True)
    members.append(a)
    _poll_until([a], lambda: a.deliveries, "the first member acquires records")
    held = set(a.values())
    b = Member(bootstrap, group, topic)
    members.append(b)
    rest = set(produced) - held
    if rest:
        # b reads what a never acquired, but not a's records while a holds them.
        _poll_until([b], lambda: set(b.values()) >= rest, "the second member reads the rest")
    _poll_for([b], QUIET_S)
    assert not set(b.values()) & held, "records were delivered while another member held them"

    a.close()
    _poll_until([b], lambda: set(b.values()) >= held, "the closed member's records come back")
    _poll_for([b], 0.3)
    _commit(b)
    assert sorted(b.values()) == sorted(set(produced))
    assert {d.delivery_count for d in b.deliveries if d.value in held} == {2}
    assert not a.errors and not b.errors
    assert not a.refused() and not b.refused()


def test_expired_locks_release_records_to_another_member(
    bootstrap: str, members: list[Member]
) -> None:
    topic = _topic(bootstrap, 1)
    group = _group()
    _set_group_configs(
        bootstrap,
        group,
        share_auto_offset_reset="earliest",
        share_record_lock_duration_ms=str(LOCK_MS),
    )
    produced = _produce(bootstrap, topic, "lock", 10)

    a = Member(bootstrap, group, topic, explicit=True)
    members.append(a)
    _poll_until([a], lambda: set(a.values()) >= set(produced), "the first member acquires all")
    acquired_at = time.monotonic()
    # a stays in the group but stops polling: its locks run out after LOCK_MS.
    b = Member(bootstrap, group, topic)
    members.append(b)
    _poll_until([b], lambda: set(b.values()) >= set(produced), "the records come back to b")
    waited_s = time.monotonic() - acquired_at
    assert waited_s >= LOCK_MS / 1000 - 0.5, f"released after {waited_s:.2f} s, before the lock"
    assert sorted(b.values()) == sorted(produced)
    assert {d.delivery_count for d in b.deliveries} == {2}

    # a's locks are gone: its late acknowledgements are refused, b's are not.
    for delivery in a.deliveries:
        a.consumer.acknowledge_offset(topic, delivery.partition, delivery.offset)
    late = a.consumer.commit_sync(DEADLINE_S)
    assert late, "a's acknowledgements were not sent"
    for error in late.values():
        assert isinstance(error, KafkaException), late
        assert error.args[0].code() == KafkaError.INVALID_RECORD_STATE, late
    _poll_for([b], 0.3)
    _commit(b)
    assert not b.errors and not b.refused()


def test_latest_reset_skips_records_before_the_first_fetch(
    bootstrap: str, members: list[Member]
) -> None:
    topic = _topic(bootstrap, 1)
    group = _group()  # no group config: share.auto.offset.reset is latest
    old = set(_produce(bootstrap, topic, "old", 20))

    a = Member(bootstrap, group, topic)
    members.append(a)
    # Until the group has fetched, what is produced is skipped too: keep producing until
    # one record arrives, then everything produced afterwards must arrive.
    warm: list[bytes] = []

    def reading() -> bool:
        warm.extend(_produce(bootstrap, topic, f"warm{len(warm)}", 1))
        return bool(a.poll(0.2))

    wait_until(reading, what="the member receives a new record", timeout_s=DEADLINE_S)
    fresh = _produce(bootstrap, topic, "fresh", 15)
    _poll_until([a], lambda: set(a.values()) >= set(fresh), "records produced after the fetch")
    _poll_for([a], 0.3)
    _commit(a)
    assert not set(a.values()) & old, "records from before the first fetch were delivered"
    assert set(a.values()) <= set(warm) | set(fresh)
    assert sorted(set(a.values())) == sorted(a.values())
    assert not a.errors and not a.refused()
