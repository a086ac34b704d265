"""The blocking facade (``client.blocking``) against a real broker: the ``kafka_broker``
fixture, or any Kafka-protocol broker named by ``ODRADEK_TEST_BOOTSTRAP``.

Round trips through our blocking producer and consumer (keys, headers, timestamps, every codec,
acks 0/1/all), kafka-python reading what we wrote, the admin calls, offsets, and a
gevent-monkey-patched subprocess with greenlets producing and consuming at once (how Locust
runs the client).  Every wait is bounded by a client timeout; nothing sleeps.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.blocking import (
    AdminClient,
    Consumer,
    ConsumerRecord,
    FutureRecordMetadata,
    NewTopic,
    OffsetSpec,
    Producer,
    TopicPartition,
)
from client.errors import (
    DefinitelyFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from client.fetcher import NoOffsetForPartitionError

TIMEOUT_MS = 10_000
BASE_TIMESTAMP_MS = 1_700_000_000_000
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
REPO = Path(__file__).resolve().parents[2]
Sample = tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int]


def samples(count: int) -> list[Sample]:
    """Keyed records (one unkeyed, one null value) with varied headers, sizes and timestamps."""
    out: list[Sample] = []
    for index in range(count):
        key = None if index == 3 else f"key-{index}".encode()
        value = None if index == 5 else (f"value-{index}-".encode() * (index * 7 % 50))
        headers = [("index", str(index).encode())] if index % 2 else []
        if index % 3 == 0:
            headers += [("dup", b"first"), ("dup", b"second"), ("empty", b"")]
        out.append((key, value, headers, BASE_TIMESTAMP_MS + index * 10))
    return out


def as_sample(record: ConsumerRecord) -> Sample:
    headers = [(key, value or b"") for key, value in record.headers]
    return record.key, record.value, headers, record.timestamp


@pytest.fixture
def admin(bootstrap: str) -> Iterator[AdminClient]:
    with AdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS) as client:
        yield client


@pytest.fixture
def topic(admin: AdminClient, topic_name: str) -> str:
    """A fresh topic with 2 partitions."""
    admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)])
    return topic_name


def produce(bootstrap: str, topic: str, sent: list[Sample], **settings: object) -> list[int]:
    """Send ``sent`` to partition 0 with our blocking producer; the offsets."""
    with Producer(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS, **settings) as p:
        futures = [
            p.send(topic, value, key=key, headers=headers, partition=0, timestamp_ms=timestamp)
            for key, value, headers, timestamp in sent
        ]
        p.flush(timeout_ms=TIMEOUT_MS)
        return [future.get(timeout_ms=0).offset for future in futures]


def consume(bootstrap: str, tp: TopicPartition, count: int, **settings: object) -> list[Sample]:
    """Read ``count`` records of ``tp`` from the beginning with our blocking consumer."""
    with Consumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        request_timeout_ms=TIMEOUT_MS,
        **settings,
    ) as consumer:
        consumer.assign([tp])
        return [as_sample(record) for record in read(consumer, count)]


def read(consumer: Consumer, count: int, rounds: int = 50) -> list[ConsumerRecord]:
    """Poll until ``count`` records came (at most ``rounds`` polls of 200 ms)."""
    out: list[ConsumerRecord] = []
    for _ in range(rounds):
        for records in consumer.poll(timeout_ms=200).values():
            out.extend(records)
        if len(out) >= count:
            break
    return out


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_keeps_keys_headers_timestamps(bootstrap: str, topic: str, codec: str) -> None:
    sent = samples(40)
    offsets = produce(bootstrap, topic, sent, compression_type=codec, linger_ms=20)
    assert offsets == list(range(len(sent)))
    assert consume(bootstrap, TopicPartition(topic, 0), len(sent)) == sent


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_every_acks_setting_delivers(bootstrap: str, topic: str, acks: str) -> None:
    sent = samples(25)
    offsets = produce(bootstrap, topic, sent, acks=acks)
    # acks=0 gets no answer, so no offsets (-1), but the records are written.
    assert offsets == ([-1] * len(sent) if acks == "0" else list(range(len(sent))))
    assert consume(bootstrap, TopicPartition(topic, 0), len(sent)) == sent


def test_kafka_python_reads_what_we_wrote(bootstrap: str, topic: str) -> None:
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KafkaTopicPartition

    sent: list[Sample] = []
    for codec in CODECS:  # one run of batches per codec, in one partition
        batch = samples(12)
        produce(bootstrap, topic, batch, compression_type=codec, linger_ms=10)
        sent += batch
    reader = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=TIMEOUT_MS
    )
    try:
        reader.assign([KafkaTopicPartition(topic, 0)])
        got: list[Sample] = []
        for message in reader:
            headers = [(key, value or b"") for key, value in message.headers]
            got.append((message.key, message.value, headers, message.timestamp))
            if len(got) == len(sent):
                break
    finally:
        reader.close()
    assert got == sent


def test_keyed_records_land_where_java_puts_them(bootstrap: str, topic: str) -> None:
    from client.partitioner import partition_for_key

    with Producer(bootstrap_servers=bootstrap) as producer:
        futures = {key: producer.send(topic, b"v", key=key) for key in (b"a", b"b", b"user-7")}
        producer.flush(timeout_ms=TIMEOUT_MS)
    for key, future in futures.items():
        assert future.get(timeout_ms=0).partition == partition_for_key(key, 2)


def test_unkeyed_records_stick_to_a_partition_per_batch(bootstrap: str, topic: str) -> None:
    with Producer(bootstrap_servers=bootstrap, linger_ms=50) as producer:
        futures = [producer.send(topic, b"x" * 10) for _ in range(20)]
        producer.flush(timeout_ms=TIMEOUT_MS)
    partitions = {future.get(timeout_ms=0).partition for future in futures}
    assert len(partitions) == 1  # KIP-480: one batch, one partition


# -- the producer's calls --------------------------------------------------------------------


def test_future_callbacks_and_poll_drive_delivery(bootstrap: str, topic: str) -> None:
    done: list[FutureRecordMetadata] = []
    with Producer(bootstrap_servers=bootstrap, linger_ms=5) as producer:
        futures = [producer.send(topic, b"v%d" % index, partition=1) for index in range(10)]
        for future in futures:
            future.add_done_callback(done.append)
        finished = 0
        for _ in range(100):
            finished += producer.poll(timeout_ms=100)
            if len(done) == len(futures):
                break
        assert finished >= 1
        assert done == futures
        assert all(future.done() and future.exception() is None for future in futures)
        late: list[FutureRecordMetadata] = []
        futures[0].add_done_callback(late.append)  # already done: runs at once
        assert late == [futures[0]]
    assert [future.get().offset for future in futures] == list(range(10))


def test_send_and_wait_and_close_deliver_lingering_records(bootstrap: str, topic: str) -> None:
    with Producer(bootstrap_servers=bootstrap, linger_ms=0) as eager:
        assert eager.send_and_wait(topic, b"first", partition=0).offset == 0
    producer = Producer(bootstrap_servers=bootstrap, linger_ms=60_000, batch_size=1 << 20)
    lingering = producer.send(topic, b"second", partition=0)
    assert producer.poll(timeout_ms=10) == 0 and not lingering.done()
    producer.close()  # sends the lingering batch and waits for it
    assert lingering.get(timeout_ms=0).offset == 1
    with pytest.raises(DefinitelyFailedError, match="closed"):
        producer.send(topic, b"after")


def test_get_times_out_without_dropping_the_record(bootstrap: str, topic: str) -> None:
    with Producer(bootstrap_servers=bootstrap, linger_ms=60_000, batch_size=1 << 20) as producer:
        future = producer.send(topic, b"v", partition=0)
        with pytest.raises(KafkaTimeoutError):
            future.get(timeout_ms=50)
        producer.flush(timeout_ms=TIMEOUT_MS)
        assert future.get(timeout_ms=0).offset == 0


def test_unknown_topic_and_oversized_records_fail_definitely(bootstrap: str, topic: str) -> None:
    with Producer(bootstrap_servers=bootstrap, max_block_ms=300, max_request_size=2000) as p:
        with pytest.raises(DefinitelyFailedError) as unknown:
            p.send(f"{topic}-missing", b"v")
        assert not unknown.value.ambiguous
        with pytest.raises(DefinitelyFailedError, match=r"max\.request\.size"):
            p.send(topic, b"x" * 5000)
        with pytest.raises(DefinitelyFailedError, match="partition 7"):
            p.send(topic, b"v", partition=7)
        assert p.partitions_for(topic) == [0, 1]


def test_bootstrap_failure_names_the_address() -> None:
    with pytest.raises(KafkaConnectionError, match=r"127\.0\.0\.1:1"):
        Producer(bootstrap_servers="127.0.0.1:1", socket_connection_setup_timeout_ms=500)


# -- the consumer's calls --------------------------------------------------------------------


def test_seek_position_and_offsets(bootstrap: str, topic: str) -> None:
    tp = TopicPartition(topic, 0)
    sent = samples(30)
    produce(bootstrap, topic, sent)
    with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="latest") as consumer:
        consumer.assign([tp, TopicPartition(topic, 1)])
        assert consumer.position(tp) == 30  # latest
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        assert consumer.end_offsets([tp]) == {tp: 30}
        found = consumer.offsets_for_times({tp: BASE_TIMESTAMP_MS + 95})[tp]
        assert found is not None and found.offset == 10
        assert consumer.offsets_for_times({tp: BASE_TIMESTAMP_MS + 10**6}) == {tp: None}
        consumer.seek(tp, 25)
        assert [as_sample(r) for r in read(consumer, 5)] == sent[25:]
        consumer.seek_to_beginning(tp)
        first = consumer.poll(timeout_ms=TIMEOUT_MS, max_records=4)
        assert [record.offset for record in first[tp]] == [0, 1, 2, 3]
        assert consumer.position(tp) == 4
        assert consumer.highwater(tp) == 30
        consumer.seek_to_end()
        assert consumer.position(tp) == 30
        assert consumer.poll(timeout_ms=100) == {}


def test_no_offset_reset_raises_from_poll(bootstrap: str, topic: str) -> None:
    with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="none") as consumer:
        consumer.assign([TopicPartition(topic, 0)])
        with pytest.raises(NoOffsetForPartitionError):
            for _ in range(10):
                consumer.poll(timeout_ms=100)


def test_iteration_and_deserializers(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [(b"k", b"41", [], BASE_TIMESTAMP_MS), (b"k", b"42", [], 0)])
    with Consumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        value_deserializer=lambda raw: int(raw or b"0"),
    ) as consumer:
        consumer.assign([TopicPartition(topic, 0)])
        iterator = iter(consumer)
        assert [next(iterator).value, next(iterator).value] == [41, 42]


# -- admin -----------------------------------------------------------------------------------


def test_admin_topics_lifecycle(admin: AdminClient, topic_name: str) -> None:
    admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)])
    assert topic_name in admin.list_topics()
    described = admin.describe_topics([topic_name])[topic_name]
    assert [p.partition for p in described.partitions] == [0, 1, 2]
    assert all(p.leader >= 0 and p.isr == p.replicas for p in described.partitions)
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic_name, num_partitions=1)])
    outcome = admin.create_topics([NewTopic(topic_name, num_partitions=1)], raise_errors=False)
    assert isinstance(outcome[topic_name], TopicAlreadyExistsError)
    assert admin.create_partitions({topic_name: 4}) == {topic_name: None}
    tps = [TopicPartition(topic_name, index) for index in range(4)]
    listed = admin.list_offsets(dict.fromkeys(tps, OffsetSpec.LATEST))
    assert {tp: answer.offset for tp, answer in listed.items()} == dict.fromkeys(tps, 0)
    assert admin.delete_topics([topic_name]) == {topic_name: None}
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.describe_topics([topic_name])


# -- no event loop ---------------------------------------------------------------------------


def test_blocking_modules_use_no_event_loop() -> None:
    """The facade must run under gevent: no anyio/asyncio in its own modules."""
    modules = sorted((REPO / "client").glob("blocking*.py"))
    assert len(modules) >= 6
    for path in modules:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("anyio", "asyncio", "trio"), (path, name)
            assert not isinstance(node, ast.AsyncFunctionDef | ast.Await), path


GEVENT_SCRIPT = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import sys, time
    import gevent
    from client.blocking import Consumer, Producer, TopicPartition

    bootstrap, topic = sys.argv[1], sys.argv[2]
    WORKERS, RECORDS = 4, 200
    shared = Producer(bootstrap_servers=bootstrap, linger_ms=2, request_timeout_ms=10000)
    ticks = []

    def produce(worker):
        own = Producer(bootstrap_servers=bootstrap, linger_ms=2, request_timeout_ms=10000)
        futures = []
        for index in range(RECORDS):
            producer = shared if index % 2 else own
            futures.append(producer.send(topic, b"%d-%d" % (worker, index), partition=worker % 2))
            if index % 20 == 0:
                futures[-1].get(timeout_ms=10000)
        for future in futures:
            future.get(timeout_ms=10000)
        own.close()

    def consume(partition, expected, out):
        with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      fetch_max_wait_ms=100) as consumer:
            consumer.assign([TopicPartition(topic, partition)])
            deadline = time.monotonic() + 20
            while len(out) < expected and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=200).values():
                    out.extend(record.value for record in records)

    def heartbeat():  # starves if any client call blocks the whole process
        for _ in range(200):
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    got = {0: [], 1: []}
    expected = WORKERS * RECORDS // 2
    greenlets = [gevent.spawn(produce, worker) for worker in range(WORKERS)]
    greenlets += [gevent.spawn(consume, p, expected, got[p]) for p in (0, 1)]
    greenlets.append(gevent.spawn(heartbeat))
    gevent.joinall(greenlets, timeout=40, raise_error=True)
    shared.close()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print("consumed", len(got[0]), len(got[1]), "max-gap", round(max(gaps), 3))
    assert all(g.successful() for g in greenlets), [g.exception for g in greenlets]
    assert len(got[0]) == len(got[1]) == expected, (len(got[0]), len(got[1]))
    assert len(set(got[0]) | set(got[1])) == 2 * expected
    assert max(gaps) < 2.0, max(gaps)
    print("OK")
    """
)


def test_greenlets_produce_and_consume_under_gevent(bootstrap: str, topic: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT, bootstrap, topic],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip().endswith("OK"), completed.stdout
