"""The load generators of the end-to-end matrix (``python -m bench.e2e``): one produce (and
optionally read-back) run of one client library against a running topology.

Every generator follows the same protocol, so that the clients are compared alike:

1. connect and warm up: one record to each partition, each waited for (metadata, connections
   to every leader and, for librdkafka, its start-up timers are not counted);
2. produce unpaced, as fast as the client takes records, until ``seconds`` have passed or
   ``max_records`` were sent, whichever comes first, with at most ``window`` records sent and
   not yet acknowledged (a bound common to all three clients -- kafka-python 3 has no
   ``buffer.memory`` -- so that the latency of a saturated producer means the same for each);
3. drain: wait for the last acknowledgement, bounded by ``deadline_s`` from the start;
4. optionally read the topic back from offset 0 with the same library (assigned partitions,
   no group): every record, or ``seconds`` from the first one read, or ``deadline_s``; timed
   from the assignment.

Throughput is records acknowledged over the time from the first counted send to the last
acknowledgement.  Latency is per record, from the send call to the moment the client reports
its acknowledgement:

- confluent-kafka: ``Message.latency()`` in librdkafka's delivery callback (as the peer
  harness reads it);
- kafka-python: ``perf_counter`` before ``send`` and in the future's callback (its sender
  thread);
- ours: the async :class:`client.Producer` (faster than ``client.blocking.Producer``, and it
  needs no per-record callback, which costs the blocking one about 40% of its rate).  Its
  futures are kept in send order and reaped from the head as they are done, after every send
  (the sender task runs when the send loop yields), so a record is timed when it and every
  record sent before it are done: at most the skew between partitions late.

With ``acks=0`` the acknowledgement is the client's own (the request was written).  Nothing
here sleeps: waits are a client's own bounded calls (poll/flush/consume with a timeout), an
event with a timeout, or an await under a deadline.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Settings common to every client: batching as Kafka's producer benchmark sets it up.
LINGER_MS = 5
BATCH_BYTES = 256 * 1024
WARM_UP_TIMEOUT_S = 30.0
# How often (in records) an unpaced loop looks at the clock and serves callbacks.
CHECK_EVERY = 1024


@dataclass(frozen=True)
class Load:
    """What one cell asks of a load generator."""

    bootstrap: str
    topic: str
    partitions: int
    acks: str  # "0", "1" or "all"
    size: int
    seconds: float
    max_records: int
    window: int  # records sent and not yet acknowledged, at most
    deadline_s: float  # hard limit from the first counted send to the end of the drain
    consume: bool = False

    @property
    def value(self) -> bytes:
        return b"x" * self.size


@dataclass
class Outcome:
    """What a load generator measured (times in seconds)."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    produce_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    consumed: int = 0
    consume_s: float = 0.0
    last_error: str | None = None


class _Window:
    """The in-flight bound for a client that acknowledges on another thread (kafka-python):
    the sending thread waits, bounded, until acknowledgements bring it back below half."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.low = size // 2
        self.sent = 0
        self.done = 0
        self.waiting = False
        self._room = threading.Event()

    def record_done(self) -> None:
        self.done += 1
        if self.waiting and self.sent - self.done <= self.low:
            self.waiting = False
            self._room.set()

    def wait_for_room(self, until: float) -> bool:
        """False if ``until`` (perf_counter) passed first."""
        while self.sent - self.done >= self.size:
            left = until - time.perf_counter()
            if left <= 0:
                return False
            self._room.clear()
            self.waiting = True
            if self.sent - self.done < self.size:
                break
            self._room.wait(min(left, 0.1))
        self.waiting = False
        return True


class _Reading:
    """The bounds of a read-back: every record, or ``seconds`` from the first one read, or the
    hard deadline; timed from assignment (so the consumer's start-up counts, as for Kafka's
    consumer benchmark)."""

    def __init__(self, want: int, load: Load) -> None:
        self.want = want
        self.seconds = load.seconds
        self.start = time.perf_counter()
        self.hard = self.start + load.deadline_s
        self.stop_at = self.hard
        self.first = True

    def more(self, seen: int) -> bool:
        now = time.perf_counter()
        if seen and self.first:
            self.first = False
            self.stop_at = min(self.hard, now + self.seconds)
        return seen < self.want and now < self.stop_at

    def wait_s(self) -> float:
        return max(0.001, min(0.5, self.stop_at - time.perf_counter()))

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start


def _read_back(poll: Callable[[float], int], want: int, load: Load) -> tuple[int, float]:
    """Records read (``poll(wait_s)`` returns how many it got) and the seconds it took."""
    seen = 0
    reading = _Reading(want, load)
    while reading.more(seen):
        seen += poll(reading.wait_s())
    return seen, reading.elapsed_s()


# -- confluent-kafka (librdkafka) ------------------------------------------------------------


def confluent(load: Load) -> Outcome:
    from confluent_kafka import Consumer, Producer, TopicPartition

    outcome = Outcome()
    latencies = outcome.latencies_s

    def on_delivery(error: Any, message: Any) -> None:
        if error is None:
            latencies.append(message.latency())
        else:
            outcome.errors += 1
            outcome.last_error = str(error)

    producer = Producer(
        {
            "bootstrap.servers": load.bootstrap,
            "acks": load.acks,
            "linger.ms": LINGER_MS,
            "batch.size": BATCH_BYTES,
            "batch.num.messages": 100_000,
            "enable.idempotence": False,
            "queue.buffering.max.messages": load.window,
            "queue.buffering.max.kbytes": max(1024, 2 * load.window * load.size // 1024),
            "message.timeout.ms": int(load.deadline_s * 1000),
            "on_delivery": on_delivery,
        }
    )
    value = load.value
    for partition in range(load.partitions):
        producer.produce(load.topic, value, partition=partition)
    if producer.flush(WARM_UP_TIMEOUT_S) or outcome.errors:
        raise RuntimeError(f"confluent warm-up failed: {outcome.last_error}")
    latencies.clear()

    clock = time.perf_counter
    start = clock()
    stop_at = start + load.seconds
    hard = start + load.deadline_s
    sent = 0
    produce = producer.produce
    topic = load.topic
    while sent < load.max_records:
        try:
            produce(topic, value)
        except BufferError:  # the window is full: serve delivery reports
            producer.poll(0.001)
            if clock() >= stop_at:
                break
            continue
        sent += 1
        if sent % CHECK_EVERY == 0:
            producer.poll(0)
            if clock() >= stop_at:
                break
    producer.flush(max(0.0, hard - clock()))
    outcome.produce_s = clock() - start
    outcome.sent = sent
    outcome.acked = len(latencies)

    if load.consume:
        consumer = Consumer(
            {
                "bootstrap.servers": load.bootstrap,
                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 100,
                # the peer harness's throughput settings (the defaults pace a fetcher)
                "queued.min.messages": 1_000_000,
                "fetch.max.bytes": 100_000_000,
                "max.partition.fetch.bytes": 10_000_000,
            }
        )
        want = load.partitions + outcome.acked
        consumer.assign([TopicPartition(topic, p, 0) for p in range(load.partitions)])
        outcome.consumed, outcome.consume_s = _read_back(
            lambda wait_s: sum(1 for m in consumer.consume(10_000, wait_s) if m.error() is None),
            want,
            load,
        )
        consumer.close()
    return outcome


# -- kafka-python ----------------------------------------------------------------------------


def kafka_python(load: Load) -> Outcome:
    import kafka

    outcome = Outcome()
    latencies = outcome.latencies_s
    clock = time.perf_counter
    window = _Window(load.window)

    def on_success(sent_at: float, _metadata: Any) -> None:
        latencies.append(clock() - sent_at)
        window.record_done()

    def on_error(error: BaseException) -> None:
        outcome.errors += 1
        outcome.last_error = repr(error)
        window.record_done()

    producer = kafka.KafkaProducer(
        bootstrap_servers=load.bootstrap.split(","),
        acks="all" if load.acks == "all" else int(load.acks),
        linger_ms=LINGER_MS,
        batch_size=BATCH_BYTES,
        enable_idempotence=False,
        max_block_ms=int(WARM_UP_TIMEOUT_S * 1000),
        delivery_timeout_ms=int(load.deadline_s * 1000) + 30_000,
    )
    try:
        value = load.value
        warm = [producer.send(load.topic, value, partition=p) for p in range(load.partitions)]
        for future in warm:
            future.get(timeout=WARM_UP_TIMEOUT_S)

        start = clock()
        stop_at = start + load.seconds
        hard = start + load.deadline_s
        send = producer.send
        topic = load.topic
        while window.sent < load.max_records:
            if window.sent - window.done >= window.size and not window.wait_for_room(stop_at):
                break
            sent_at = clock()
            future = send(topic, value)
            window.sent += 1
            future.add_callback(on_success, sent_at)
            future.add_errback(on_error)
            if window.sent % CHECK_EVERY == 0 and clock() >= stop_at:
                break
        producer.flush(timeout=max(0.0, hard - clock()))
        outcome.produce_s = clock() - start
        outcome.sent = window.sent
        outcome.acked = len(latencies)
    finally:
        producer.close(timeout=5)

    if load.consume:
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=load.bootstrap.split(","), enable_auto_commit=False
        )
        partitions = [kafka.TopicPartition(load.topic, p) for p in range(load.partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        want = load.partitions + outcome.acked
        outcome.consumed, outcome.consume_s = _read_back(
            lambda wait_s: sum(map(len, consumer.poll(timeout_ms=int(wait_s * 1000)).values())),
            want,
            load,
        )
        consumer.close()
    return outcome


# -- ours: client.Producer (async) ----------------------------------------------------------


def odradek(load: Load) -> Outcome:
    """Our async producer and consumer (uvloop where installed); see the module docstring
    for how its latency is timed."""
    import anyio

    from client import Consumer, Producer, RecordFuture, TopicPartition
    from client.errors import KafkaError

    outcome = Outcome()
    latencies = outcome.latencies_s
    clock = time.perf_counter

    async def run() -> None:
        pending: deque[tuple[float, RecordFuture]] = deque()

        def reap() -> None:
            now = clock()
            while pending and pending[0][1].done():
                sent_at, future = pending.popleft()
                try:
                    future.result()
                except KafkaError as error:
                    outcome.errors += 1
                    outcome.last_error = repr(error)
                else:
                    latencies.append(now - sent_at)

        async def wait_head(until: float) -> None:
            with anyio.move_on_after(max(0.0, until - clock())), contextlib.suppress(KafkaError):
                await pending[0][1].wait()
            reap()

        async with Producer(
            bootstrap_servers=load.bootstrap,
            acks=load.acks,
            linger_ms=LINGER_MS,
            batch_size=BATCH_BYTES,
            enable_idempotence=False,
            max_block_ms=int(WARM_UP_TIMEOUT_S * 1000),
            delivery_timeout_ms=int(load.deadline_s * 1000) + 30_000,
        ) as producer:
            value = load.value
            topic = load.topic
            with anyio.fail_after(WARM_UP_TIMEOUT_S):
                warm = [
                    await producer.send(topic, value, partition=p) for p in range(load.partitions)
                ]
                for future in warm:
                    await future

            start = clock()
            stop_at = start + load.seconds
            hard = start + load.deadline_s
            send = producer.send
            window = load.window
            sent = 0
            while sent < load.max_records:
                if len(pending) >= window:
                    await wait_head(stop_at)
                    if len(pending) >= window:
                        break
                sent_at = clock()
                pending.append((sent_at, await send(topic, value)))
                sent += 1
                if pending[0][1].done():
                    reap()
                if sent % CHECK_EVERY == 0 and clock() >= stop_at:
                    break
            await producer.flush(timeout_ms=int(max(0.0, hard - clock()) * 1000) + 1)
            reap()
            while pending and clock() < hard:
                await wait_head(hard)
            outcome.produce_s = clock() - start
            outcome.sent = sent
            outcome.acked = len(latencies)

        if load.consume:
            async with Consumer(
                bootstrap_servers=load.bootstrap, enable_auto_commit=False
            ) as consumer:
                partitions = [TopicPartition(topic, p) for p in range(load.partitions)]
                consumer.assign(partitions)
                for partition in partitions:
                    consumer.seek(partition, 0)
                want = load.partitions + outcome.acked
                seen = 0
                reading = _Reading(want, load)
                while reading.more(seen):
                    batch = await consumer.getmany(timeout_ms=max(1, int(reading.wait_s() * 1000)))
                    seen += sum(map(len, batch.values()))
                outcome.consumed, outcome.consume_s = seen, reading.elapsed_s()

    anyio.run(run, backend_options=_backend_options())
    return outcome


def _backend_options() -> dict[str, Any]:
    """uvloop where installed, as the broker runs (ODRADEK_EVENT_LOOP=asyncio: plain)."""
    if (
        os.environ.get("ODRADEK_EVENT_LOOP") == "asyncio"
        or importlib.util.find_spec("uvloop") is None
    ):
        return {}
    return {"use_uvloop": True}


GENERATORS: dict[str, Callable[[Load], Outcome]] = {
    "confluent": confluent,
    "kafka-python": kafka_python,
    "odradek": odradek,
}
