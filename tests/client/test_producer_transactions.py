"""Our transactional producer (KIP-98) against a real broker: committed records reach a
``read_committed`` consumer (ours and confluent-kafka's), aborted ones never do; a second
producer with the same ``transactional.id`` fences the first; offsets sent to a transaction
commit with it; calls out of order raise TransactionStateError.

Every wait is bounded; nothing sleeps to synchronise.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import anyio.to_thread
import confluent_kafka
import pytest

from client.admin import AdminClient, NewTopic
from client.consumer import Consumer
from client.errors import DefinitelyFailedError, IllegalConfigError, KafkaError
from client.metadata import TopicPartition
from client.producer import Producer
from client.protocol.errors import ErrorCode
from client.records_view import ConsumerRecord
from client.transactions import TransactionStateError

pytestmark = pytest.mark.anyio

DEADLINE_S = 30.0


def producer_settings(bootstrap: str, transactional_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "transactional_id": transactional_id,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 20,
        "max_block_ms": 20_000,
        "linger_ms": 5,
    }
    config.update(overrides)
    return config


def consumer_for(bootstrap: str, isolation_level: str = "read_committed") -> Consumer:
    return Consumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        isolation_level=isolation_level,
        default_api_timeout_ms=20_000,
    )


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    async with AdminClient(bootstrap_servers=bootstrap) as admin:
        await admin.create_topics([NewTopic(topic, partitions, -1)])


async def read_values(
    bootstrap: str, topic: str, partitions: int, expected: int, isolation_level: str
) -> list[bytes]:
    """Exactly ``expected`` record values of ``topic``, then a bounded look for more."""
    received: list[ConsumerRecord] = []
    async with consumer_for(bootstrap, isolation_level) as consumer:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        with anyio.fail_after(DEADLINE_S):
            while len(received) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    received.extend(batch)
        extra = await consumer.getmany(timeout_ms=300)
    assert not extra, f"records beyond the {expected} expected: {extra}"
    return [record.value for record in sorted(received, key=lambda r: (r.partition, r.offset))]


async def end_offsets(bootstrap: str, topic: str, partitions: int, committed: bool) -> list[int]:
    async with consumer_for(bootstrap, "read_committed" if committed else "read_uncommitted") as c:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await c.end_offsets(tps)
    return [ends[tp] for tp in tps]


async def test_committed_records_are_read_and_aborted_ones_are_not(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name, 3)
    tid = f"txn-{uuid.uuid4().hex[:10]}"
    async with Producer(producer_settings(bootstrap, tid)) as producer:
        await producer.init_transactions()
        producer.begin_transaction()
        for i in range(30):
            await producer.send(topic_name, f"c1-{i}".encode(), partition=i % 3)
        await producer.commit_transaction()
        producer.begin_transaction()
        futures = [
            await producer.send(topic_name, f"a-{i}".encode(), partition=i % 3) for i in range(9)
        ]
        await producer.abort_transaction()
        for future in futures:  # an aborted transaction's records were still written
            assert (await future).offset >= 0
        producer.begin_transaction()
        await producer.send(topic_name, b"c2-0", partition=0)
        await producer.commit_transaction()
        # An empty transaction needs no EndTxn and ends at once.
        producer.begin_transaction()
        await producer.commit_transaction()
    committed = await read_values(bootstrap, topic_name, 3, 31, "read_committed")
    assert sorted(committed) == sorted([f"c1-{i}".encode() for i in range(30)] + [b"c2-0"])
    everything = await read_values(bootstrap, topic_name, 3, 40, "read_uncommitted")
    assert sum(value.startswith(b"a-") for value in everything) == 9
    # confluent-kafka's read_committed consumer agrees.
    seen = await anyio.to_thread.run_sync(read_confluent, bootstrap, topic_name, 3, 31)
    assert sorted(seen) == sorted(committed)
    # Every partition ends with a marker, so the stable end equals the log end.
    assert await end_offsets(bootstrap, topic_name, 3, True) == await end_offsets(
        bootstrap, topic_name, 3, False
    )


def read_confluent(bootstrap: str, topic: str, partitions: int, expected: int) -> list[bytes]:
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign(
            [
                confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                for p in range(partitions)
            ]
        )
        values: list[bytes] = []
        for _ in range(200):
            if len(values) >= expected:
                break
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value())
        assert len(values) == expected
        return values
    finally:
        consumer.close()


async def test_an_open_transaction_holds_the_last_stable_offset(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name, 1)
    tid = f"txn-{uuid.uuid4().hex[:10]}"
    async with Producer(producer_settings(bootstrap, tid)) as producer:
        await producer.init_transactions()
        producer.begin_transaction()
        future = await producer.send(topic_name, b"open")
        await producer.flush()
        assert (await future).offset == 0
        assert await end_offsets(bootstrap, topic_name, 1, True) == [0]
        assert await end_offsets(bootstrap, topic_name, 1, False) == [1]
        await producer.commit_transaction()
    assert await end_offsets(bootstrap, topic_name, 1, True) == [2]  # the record and its marker


async def test_a_new_producer_of_the_id_fences_the_old_one(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name, 1)
    tid = f"txn-{uuid.uuid4().hex[:10]}"
    async with Producer(producer_settings(bootstrap, tid)) as old:
        await old.init_transactions()
        old.begin_transaction()
        await (await old.send(topic_name, b"old-open"))
        async with Producer(producer_settings(bootstrap, tid)) as new:
            await new.init_transactions()  # aborts the old producer's open transaction
            with pytest.raises(KafkaError) as fenced:
                await old.commit_transaction()
            assert fenced.value.error_code in (
                ErrorCode.PRODUCER_FENCED,
                ErrorCode.INVALID_PRODUCER_EPOCH,
            )
            # Fatal: the fenced producer refuses further transactions.
            with pytest.raises(KafkaError):
                old.begin_transaction()
            new.begin_transaction()
            await new.send(topic_name, b"new")
            await new.commit_transaction()
        with pytest.raises(DefinitelyFailedError):
            await old.send(topic_name, b"after-fence")
    assert await read_values(bootstrap, topic_name, 1, 1, "read_committed") == [b"new"]


async def test_offsets_sent_to_a_transaction_commit_with_it(
    bootstrap: str, topic_name: str
) -> None:
    await create_topic(bootstrap, topic_name, 1)
    group = f"group-{uuid.uuid4().hex[:10]}"
    tp = TopicPartition(topic_name, 0)
    async with Producer(producer_settings(bootstrap, f"txn-{uuid.uuid4().hex[:10]}")) as producer:
        await producer.init_transactions()
        producer.begin_transaction()
        await producer.send(topic_name, b"x")
        await producer.send_offsets_to_transaction({tp: 7}, group)
        await producer.abort_transaction()
        assert await committed_offset(bootstrap, group, tp) is None
        producer.begin_transaction()
        await producer.send(topic_name, b"y")
        await producer.send_offsets_to_transaction({tp: 11}, group)
        await producer.commit_transaction()
    assert await committed_offset(bootstrap, group, tp) == 11


async def committed_offset(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    async with AdminClient(bootstrap_servers=bootstrap) as admin:
        offsets = await admin.list_group_offsets(group)
    found = offsets.get(tp)
    return None if found is None else found.offset


async def test_calls_out_of_order_raise(bootstrap: str, topic_name: str) -> None:
    await create_topic(bootstrap, topic_name, 1)
    async with Producer(producer_settings(bootstrap, f"txn-{uuid.uuid4().hex[:10]}")) as producer:
        with pytest.raises(TransactionStateError):
            producer.begin_transaction()  # before init_transactions
        await producer.init_transactions()
        with pytest.raises(DefinitelyFailedError):
            await producer.send(topic_name, b"outside")  # no transaction begun
        with pytest.raises(TransactionStateError):
            await producer.commit_transaction()
        producer.begin_transaction()
        with pytest.raises(TransactionStateError):
            producer.begin_transaction()
        await producer.abort_transaction()
    async with Producer(bootstrap_servers=bootstrap) as plain:
        with pytest.raises(KafkaError):
            await plain.init_transactions()  # no transactional.id


def test_transactional_id_requires_idempotence() -> None:
    with pytest.raises(IllegalConfigError):
        Producer(transactional_id="t", enable_idempotence=False)
    with pytest.raises(IllegalConfigError):
        Producer(transactional_id="t", acks=1)


# -- the blocking producer --------------------------------------------------------------------


def test_blocking_producer_commits_and_aborts(bootstrap: str, topic_name: str) -> None:
    from client import blocking

    with blocking.AdminClient(bootstrap_servers=bootstrap) as admin:
        admin.create_topics([NewTopic(topic_name, 2, -1)])
    settings = producer_settings(bootstrap, f"txn-{uuid.uuid4().hex[:10]}")
    group = f"group-{uuid.uuid4().hex[:10]}"
    with blocking.Producer(settings) as producer:
        with pytest.raises(TransactionStateError):
            producer.begin_transaction()
        producer.init_transactions()
        producer.begin_transaction()
        futures = [producer.send(topic_name, b"c-%d" % i, partition=i % 2) for i in range(10)]
        producer.send_offsets_to_transaction({TopicPartition(topic_name, 0): 3}, group)
        producer.commit_transaction()
        assert all(f.get().offset >= 0 for f in futures)
        producer.begin_transaction()
        producer.send(topic_name, b"aborted", partition=1)
        producer.abort_transaction()
        with pytest.raises(DefinitelyFailedError):
            producer.send(topic_name, b"outside")
    values = anyio.run(read_values, bootstrap, topic_name, 2, 10, "read_committed")
    assert sorted(values) == sorted(b"c-%d" % i for i in range(10))
    assert anyio.run(committed_offset, bootstrap, group, TopicPartition(topic_name, 0)) == 3
