"""A ProduceConsumeValidate / Jepsen-style history of one fault test, and its checker.

Writers record every send as *attempted*, then as *acked* (with the offset the broker
returned), *failed* (definitely not written) or *indeterminate* (may or may not be in the
log: a timeout, a lost connection).  Readers record every record they saw together with the
high watermark of the response that carried it.  :meth:`History.check` then rebuilds each
partition's offset -> value order from all reads and counts what must never happen
(``../shared/reference/replication.md`` P1-P3, P11):

- *lost*: an acked value that no read returned although a read reached past its offset;
- *unseen*: an acked value above everything read (the readers did not go far enough);
- *duplicates*: a value stored at more than one offset (an idempotent producer writes once);
- *inconsistent offsets*: one offset read with two different values, or a value stored at
  another offset than its ack said;
- *gaps*: a missing offset below the highest one read (offsets are dense: no transactions or
  compaction here);
- *reads above HW*: a record served at or above the high watermark of its own response;
- *unexpected*: a value nobody attempted; *failed but stored*: a definitely failed value in the log.

The module also holds the clients that feed a history: :class:`ConfluentWriter` (an
idempotent acks=all confluent-kafka producer writing unique values, with a bounded window of
records in flight, so it waits on delivery callbacks rather than on the clock),
:func:`read_all` (an assign-mode confluent consumer reading every partition from offset 0 up
to its high watermark) and :class:`TailingReader` (raw Fetch requests that follow the leader
through failovers and record each response's high watermark).
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from client.protocol.errors import ErrorCode
from client.protocol.records import decode_records, iterate_batches
from tests.integration.wire import RawConnection

ZERO_UUID = uuid.UUID(int=0)
# librdkafka delivery errors that mean "not written" (anything else may have been written).
DEFINITE_CONFLUENT_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
    }
)


@dataclass(frozen=True, slots=True)
class Read:
    partition: int
    offset: int
    value: bytes
    high_watermark: int
    reader: str


@dataclass
class Report:
    attempted: int = 0
    acked: int = 0
    failed: int = 0
    indeterminate: int = 0
    reads: int = 0
    stored: int = 0
    lost: list[bytes] = field(default_factory=list)
    unseen: list[bytes] = field(default_factory=list)
    duplicates: list[bytes] = field(default_factory=list)
    inconsistent_offsets: list[tuple[int, int]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    reads_above_hw: list[Read] = field(default_factory=list)
    unexpected: list[bytes] = field(default_factory=list)
    failed_but_stored: list[bytes] = field(default_factory=list)
    indeterminate_stored: int = 0

    @property
    def violations(self) -> dict[str, int]:
        return {
            "lost": len(self.lost),
            "unseen": len(self.unseen),
            "duplicates": len(self.duplicates),
            "inconsistent offsets": len(self.inconsistent_offsets),
            "gaps": len(self.gaps),
            "reads above HW": len(self.reads_above_hw),
            "unexpected": len(self.unexpected),
            "failed but stored": len(self.failed_but_stored),
        }

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def __str__(self) -> str:
        counts = ", ".join(f"{name}={count}" for name, count in self.violations.items())
        summary = (
            f"attempted={self.attempted} acked={self.acked} failed={self.failed} "
            f"indeterminate={self.indeterminate} (stored {self.indeterminate_stored}) "
            f"reads={self.reads} stored={self.stored}; {counts}"
        )
        examples = []
        for name in ("lost", "unseen", "duplicates", "inconsistent_offsets", "gaps"):
            items = getattr(self, name)
            if items:
                examples.append(f"{name}: {items[:5]!r}")
        if self.reads_above_hw:
            examples.append(f"reads_above_hw: {self.reads_above_hw[:3]!r}")
        return summary + ("\n  " + "\n  ".join(examples) if examples else "")


class History:
    """Thread-safe log of sends and reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: dict[bytes, int] = {}
        self.acks: dict[bytes, tuple[int, int]] = {}
        self.failures: dict[bytes, str] = {}
        self.indeterminates: dict[bytes, str] = {}
        self.reads: list[Read] = []

    def attempted(self, partition: int, value: bytes) -> None:
        with self._lock:
            assert value not in self.attempts, f"values must be unique: {value!r}"
            self.attempts[value] = partition

    def acked(self, partition: int, value: bytes, offset: int) -> None:
        with self._lock:
            self.acks[value] = (partition, offset)

    def failed(self, partition: int, value: bytes, error: str, *, indeterminate: bool) -> None:
        with self._lock:
            (self.indeterminates if indeterminate else self.failures)[value] = error

    def read(
        self, partition: int, offset: int, value: bytes, high_watermark: int, reader: str
    ) -> None:
        with self._lock:
            self.reads.append(Read(partition, offset, value, high_watermark, reader))

    def read_values(self, partition: int) -> dict[int, bytes]:
        """offset -> value of one partition, from every read so far."""
        with self._lock:
            return {r.offset: r.value for r in self.reads if r.partition == partition}

    def check(self) -> Report:
        with self._lock:
            reads = list(self.reads)
            attempts = dict(self.attempts)
            acks = dict(self.acks)
            failures = dict(self.failures)
            indeterminates = dict(self.indeterminates)
        report = Report(
            attempted=len(attempts),
            acked=len(acks),
            failed=len(failures),
            indeterminate=len(indeterminates),
            reads=len(reads),
        )
        by_offset: dict[tuple[int, int], set[bytes]] = defaultdict(set)
        for read in reads:
            by_offset[(read.partition, read.offset)].add(read.value)
            if read.offset >= read.high_watermark:
                report.reads_above_hw.append(read)
        report.inconsistent_offsets = sorted(
            key for key, values in by_offset.items() if len(values) > 1
        )
        stored_at: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
        highest: dict[int, int] = {}
        for (partition, offset), values in by_offset.items():
            for value in values:
                stored_at[value].append((partition, offset))
            highest[partition] = max(highest.get(partition, -1), offset)
        report.stored = len(stored_at)
        for partition, top in sorted(highest.items()):
            report.gaps += [
                (partition, o) for o in range(top + 1) if (partition, o) not in by_offset
            ]
        report.duplicates = sorted(v for v, places in stored_at.items() if len(places) > 1)
        for value, (partition, offset) in sorted(acks.items()):
            places = stored_at.get(value)
            if places is None:
                if offset < highest.get(partition, -1):
                    report.lost.append(value)
                else:
                    report.unseen.append(value)
            elif (partition, offset) not in places:
                report.inconsistent_offsets.append((partition, offset))
        report.unexpected = sorted(v for v in stored_at if v not in attempts)
        report.failed_but_stored = sorted(v for v in failures if v in stored_at)
        report.indeterminate_stored = sum(1 for v in indeterminates if v in stored_at)
        return report


def percentiles(samples: Iterable[float]) -> dict[str, float]:
    """p50 / p95 / max of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]

    return {"p50": statistics.median(ordered), "p95": rank(0.95), "max": ordered[-1]}


# ---- writers ------------------------------------------------------------------------------


def confluent_producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Idempotent acks=all with fast local retries and reconnects."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "retry.backoff.ms": 20,
        "retry.backoff.max.ms": 200,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        "message.timeout.ms": 30_000,
        "socket.connection.setup.timeout.ms": 2_000,
        "log_level": 3,
    }
    config.update(overrides)
    return config


@dataclass(frozen=True, slots=True)
class Delivery:
    partition: int
    value: bytes
    produced_at: float
    completed_at: float
    offset: int
    error: str | None


class ConfluentWriter(threading.Thread):
    """Writes unique values round-robin over ``partitions`` with at most ``window`` records in
    flight per partition; every outcome goes to ``history``.  ``total=None`` writes until
    :meth:`stop`."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: list[int],
        history: History,
        *,
        total: int | None = None,
        window: int = 50,
        tag: str = "c",
        flush_timeout_s: float = 30.0,
        **config: Any,
    ) -> None:
        super().__init__(daemon=True, name=f"writer-{tag}")
        self.config = confluent_producer_config(bootstrap, **config)
        self.topic = topic
        self.partitions = partitions
        self.history = history
        self.total = total
        self.window = window
        self.tag = tag
        self.flush_timeout_s = flush_timeout_s
        self.deliveries: list[Delivery] = []
        self.sent = 0
        self.unflushed = -1
        self.error: BaseException | None = None
        self._produced_at: dict[bytes, float] = {}
        self._in_flight: Counter[int] = Counter()
        self._changed = threading.Condition()
        self._stopping = threading.Event()

    # ---- control, from the test thread
    def stop(self, timeout_s: float = 40.0) -> None:
        self._stopping.set()
        self.join(timeout_s)
        assert not self.is_alive(), "the writer did not finish its flush"
        assert self.error is None, f"writer thread failed: {self.error!r}"

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``predicate()`` holds; it is re-checked on each delivery callback."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout_s)

    def acked(self, partition: int | None = None, after: float = 0.0) -> int:
        """Successful deliveries (of one partition, of records produced after ``after``)."""
        return sum(
            1
            for d in list(self.deliveries)
            if d.error is None
            and (partition is None or d.partition == partition)
            and d.produced_at >= after
        )

    def wait_for_acks(
        self, count: int, timeout_s: float, partition: int | None = None, after: float = 0.0
    ) -> bool:
        return self.wait_for(lambda: self.acked(partition, after) >= count, timeout_s)

    @property
    def errors(self) -> list[Delivery]:
        return [d for d in list(self.deliveries) if d.error is not None]

    def failover_s(self, partition: int, fault_at: float) -> float | None:
        """Fault -> the first successful delivery of a record produced after the fault on
        ``partition``: a record the old leader can never have acknowledged."""
        acks = [
            d.completed_at
            for d in list(self.deliveries)
            if d.error is None and d.partition == partition and d.produced_at >= fault_at
        ]
        return min(acks) - fault_at if acks else None

    # ---- the producing thread
    def _on_delivery(self, error: Any, message: Any) -> None:
        value = message.value()
        now = time.monotonic()
        partition = message.partition()
        if error is None:
            self.history.acked(partition, value, message.offset())
        else:
            indeterminate = error.code() not in DEFINITE_CONFLUENT_ERRORS
            self.history.failed(partition, value, error.name(), indeterminate=indeterminate)
        delivery = Delivery(
            partition,
            value,
            self._produced_at[value],
            now,
            message.offset(),
            None if error is None else error.name(),
        )
        with self._changed:
            self.deliveries.append(delivery)
            self._in_flight[partition] -= 1
            self._changed.notify_all()

    def run(self) -> None:
        try:
            producer = Producer(self.config)
            sequence = 0
            turn = 0
            while not self._stopping.is_set() and (self.total is None or sequence < self.total):
                # Round-robin over the partitions with room in their window: a partition
                # whose acks stall does not hold the others back.
                with self._changed:
                    ready = [p for p in self.partitions if self._in_flight[p] < self.window]
                if not ready:
                    producer.poll(0.05)  # returns as soon as a delivery callback ran
                    continue
                partition = ready[turn % len(ready)]
                turn += 1
                value = b"%s-%d-%07d" % (self.tag.encode(), partition, sequence)
                self.history.attempted(partition, value)
                self._produced_at[value] = time.monotonic()
                with self._changed:
                    self._in_flight[partition] += 1
                producer.produce(
                    self.topic, value, partition=partition, on_delivery=self._on_delivery
                )
                sequence += 1
                self.sent = sequence
                producer.poll(0)
            self.unflushed = producer.flush(self.flush_timeout_s)
        except BaseException as error:
            self.error = error
            raise
        finally:
            with self._changed:
                self._changed.notify_all()


# ---- readers ------------------------------------------------------------------------------


def read_all(
    bootstrap: str,
    topic: str,
    partitions: Iterable[int],
    history: History,
    *,
    reader: str = "final",
    timeout_s: float = 20.0,
) -> dict[int, list[tuple[int, bytes]]]:
    """An assign-mode confluent consumer reads each partition from offset 0 to its high
    watermark; every record goes to ``history`` with the (cached) high watermark it was read
    under.  Returns partition -> [(offset, value)]."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
            "log_level": 3,
        }
    )
    result: dict[int, list[tuple[int, bytes]]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        for partition in partitions:
            tp = TopicPartition(topic, partition, 0)
            _low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
            consumer.assign([tp])
            records: list[tuple[int, bytes]] = []
            while (records[-1][0] + 1 if records else 0) < high:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{topic}-{partition}: read {len(records)} of {high}"
                for message in consumer.consume(500, min(remaining, 1.0)):
                    assert message.error() is None, message.error()
                    _low, cached_high = consumer.get_watermark_offsets(tp, cached=True)
                    history.read(partition, message.offset(), message.value(), cached_high, reader)
                    records.append((message.offset(), message.value()))
            result[partition] = records
    finally:
        consumer.close()
    return result


def metadata(bootstrap: str, topic: str) -> Any:
    """Metadata v12 for one topic from the broker at ``bootstrap`` (its own image)."""
    with RawConnection(bootstrap) as conn:
        return conn.request(
            3,
            12,
            {
                "topics": [{"topic_id": ZERO_UUID, "name": topic}],
                "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False,
            },
        )


def list_offsets_request(topic: str, partition: int, timestamp: int = -1) -> dict[str, Any]:
    """A ListOffsets v7 body for one partition (-1 latest = the HW, -2 earliest)."""
    return {
        "replica_id": -1,
        "isolation_level": 0,
        "topics": [
            {
                "name": topic,
                "partitions": [
                    {
                        "partition_index": partition,
                        "current_leader_epoch": -1,
                        "timestamp": timestamp,
                    }
                ],
            }
        ],
    }


def fetch_request(
    topic: str, partition: int, offset: int, leader_epoch: int = -1
) -> dict[str, Any]:
    """A consumer Fetch v12 body for one partition."""
    return {
        "replica_id": -1,
        "max_wait_ms": 200,
        "min_bytes": 1,
        "max_bytes": 1 << 20,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic": topic,
                "partitions": [
                    {
                        "partition": partition,
                        "current_leader_epoch": leader_epoch,
                        "fetch_offset": offset,
                        "last_fetched_epoch": -1,
                        "log_start_offset": -1,
                        "partition_max_bytes": 1 << 20,
                    }
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }


def records_of(data: bytes | None) -> list[tuple[int, bytes]]:
    """(offset, value) of every record in a Fetch response's records."""
    out: list[tuple[int, bytes]] = []
    if not data:
        return out
    for position, header in iterate_batches(data):
        batch = bytes(data[position : position + header.size_bytes])
        out += [(r.offset, r.value or b"") for r in decode_records(batch)]
    return out


class TailingReader(threading.Thread):
    """Follows one partition's leader with raw consumer Fetches (with the leader epoch) and
    records each record with the high watermark of the response that carried it (P2)."""

    def __init__(
        self, bootstraps: Callable[[], list[str]], topic: str, partition: int, history: History
    ) -> None:
        super().__init__(daemon=True, name=f"tail-{topic}-{partition}")
        self.bootstraps = bootstraps
        self.topic = topic
        self.partition = partition
        self.history = history
        self.next_offset = 0
        self.errors: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self.join(timeout_s)
        assert not self.is_alive(), "tailing reader did not stop"
        assert self.error is None, f"tailing reader failed: {self.error!r}"

    def _leader(self) -> tuple[str, int] | None:
        for bootstrap in self.bootstraps():
            with contextlib.suppress(OSError, ConnectionError):
                response = metadata(bootstrap, self.topic)
                brokers = {b.node_id: f"{b.host}:{b.port}" for b in response.brokers}
                for part in response.topics[0].partitions:
                    if part.partition_index == self.partition and part.leader_id in brokers:
                        return brokers[part.leader_id], part.leader_epoch
        return None

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                leader = self._leader()
                if leader is None:
                    self.errors["no leader"] += 1
                else:
                    self._follow(*leader)  # returns on an error or a leader change
                self._stopping.wait(0.05)  # retry backoff before asking for metadata again
        except BaseException as error:
            self.error = error
            raise

    def _follow(self, address: str, leader_epoch: int) -> None:
        try:
            with RawConnection(address) as conn:
                while not self._stopping.is_set():
                    body = fetch_request(self.topic, self.partition, self.next_offset, leader_epoch)
                    response = conn.request(1, 12, body)
                    part = response.responses[0].partitions[0]
                    if part.error_code != ErrorCode.NONE:
                        # NOT_LEADER / FENCED_LEADER_EPOCH: new metadata; OFFSET_OUT_OF_RANGE:
                        # a new leader not yet at our position.
                        self.errors[ErrorCode(part.error_code).name] += 1
                        return
                    for offset, value in records_of(part.records):
                        if offset < self.next_offset:
                            continue  # a batch starting before the fetch offset
                        self.history.read(
                            self.partition, offset, value, part.high_watermark, "tail"
                        )
                        self.next_offset = offset + 1
        except (OSError, ConnectionError) as error:
            self.errors[type(error).__name__] += 1
