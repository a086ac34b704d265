"""`odradek perf produce|consume`: throughput and latency, like Kafka's
``kafka-producer-perf-test`` and ``kafka-consumer-perf-test``.

Both drive the cluster only through the client's Producer, Consumer and AdminClient, so they
measure any Kafka-protocol broker.  The topic is created (``--partitions``,
``--replication-factor``) if it does not exist.

``perf produce`` sends ``--num-records`` records of ``--record-size`` random uppercase letters
(a new payload per record, as Kafka's tool does), at most ``--throughput`` per second, and
measures each record from before ``send`` to its delivery.  Records go to the partitions in
turn, one batch's worth at a time (what Kafka's sticky partitioner does for null keys), so each
partition's deliveries can be awaited in order by a task of its own and a slow partition does
not inflate the latency measured on the others.

``perf consume`` reads from the beginning (or, ``--from-latest``, only new records) until
``--num-records`` (default: every record in the topic when it starts; control records of
transactions are counted there but never returned, so give ``--num-records`` for
transactional topics).  Its latency is per poll (``fetch``: how long the consumer waited for
records, what prefetching did not hide) or per record (``end-to-end``: receipt time minus the
record's timestamp, meaningful while a producer writes with CreateTime).

A progress line goes to stderr, redrawn in place on a terminal and as plain lines otherwise;
the summary goes to stdout (``--output json``: one object).  ``--timeout-ms`` bounds every
wait: connecting, each delivery, and the gap between two consumed records.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import random
import sys
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import IO, Any

import anyio

from broker.cli_data import (
    ACKS,
    COMPRESSION_TYPES,
    DEFAULT_LINGER_MS,
    MAX_REPORTED_ERRORS,
    connection_options,
    consumer_settings,
    handler,
    producer_settings,
    until_signalled,
    with_admin,
)
from broker.cli_topic import (
    DEFAULT_TIMEOUT_MS,
    MAX_INT32,
    MAX_REPLICATION_FACTOR,
    CommandError,
    ConfigAction,
    Session,
    bounded_int,
    topic_error,
)
from client.admin import AdminClient, NewTopic, TopicDescription
from client.config import ConsumerConfig, ProducerConfig
from client.consumer import Consumer
from client.errors import (
    DeliveryError,
    IllegalConfigError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from client.metadata import TopicPartition
from client.producer import Producer, RecordFuture

MAX_INT64 = 2**63 - 1
BYTES_PER_MB = 1024 * 1024  # Kafka's tools count MB as MiB
# Latencies kept for the percentiles; beyond that every n-th record is sampled.
MAX_LATENCY_SAMPLES = 1_000_000
# The throttle sleeps only when this far ahead of schedule (Kafka's ThroughputThrottler: 2 ms).
MIN_THROTTLE_SLEEP_S = 0.002
TTY_REPORT_INTERVAL_MS = 500
REPORT_INTERVAL_MS = 5000  # Kafka's tools report every 5 s
PAYLOAD_SEED = 0
# Random bytes → uppercase letters A-Z, as Kafka's tool fills payloads.
LETTERS = bytes(ord("A") + value % 26 for value in range(256))
LATENCY_KINDS = ("fetch", "end-to-end")
OUTPUTS = ("text", "json")


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """The result of a run, as ``--output json`` prints it (latencies in milliseconds)."""

    records: int
    bytes: int
    errors: int
    elapsed_s: float
    records_per_s: float
    mb_per_s: float
    latency: str
    latency_avg_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    latency_max_ms: float

    def text(self, verb: str) -> str:
        """One line in the spirit of Kafka's ``kafka-producer-perf-test`` summary."""
        return (
            f"{self.records} records {verb}, {self.records_per_s:.1f} records/s "
            f"({self.mb_per_s:.2f} MB/s), {self.latency} latency: "
            f"{self.latency_avg_ms:.2f} ms avg, {self.latency_p50_ms:.2f} ms p50, "
            f"{self.latency_p95_ms:.2f} ms p95, {self.latency_p99_ms:.2f} ms p99, "
            f"{self.latency_max_ms:.2f} ms max, {self.errors} errors."
        )


@dataclass(slots=True)
class Window:
    """Counts since the last progress report."""

    started_s: float
    records: int = 0
    size_bytes: int = 0
    latency_count: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0


def percentile(ordered: array[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted samples (0 when there are none)."""
    assert 0 < fraction <= 1
    if not ordered:
        return 0.0
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


class Meter:
    """Records, bytes, errors and latencies of a run, in total and per report window."""

    def __init__(self, expected_records: int, latency: str, now_s: float) -> None:
        self.expected_records = expected_records
        self.latency = latency
        self.started_s = self.ended_s = now_s
        self.records = self.size_bytes = self.errors = 0
        self._stride = max(1, math.ceil(expected_records / MAX_LATENCY_SAMPLES))
        self._samples: array[float] = array("d")
        self._latency_count = 0
        self._latency_sum_ms = 0.0
        self._latency_max_ms = 0.0
        self.window = Window(now_s)

    def add(self, records: int, size_bytes: int, now_s: float) -> None:
        """``records`` more delivered or received, ``size_bytes`` in all."""
        self.records += records
        self.size_bytes += size_bytes
        self.ended_s = now_s
        self.window.records += records
        self.window.size_bytes += size_bytes

    def observe(self, latency_ms: float) -> None:
        """One latency measurement (every ``stride``-th is kept for the percentiles)."""
        if self._latency_count % self._stride == 0 and len(self._samples) < MAX_LATENCY_SAMPLES:
            self._samples.append(latency_ms)
        self._latency_count += 1
        self._latency_sum_ms += latency_ms
        self._latency_max_ms = max(self._latency_max_ms, latency_ms)
        window = self.window
        window.latency_count += 1
        window.latency_sum_ms += latency_ms
        window.latency_max_ms = max(window.latency_max_ms, latency_ms)

    def take_window(self, now_s: float) -> Window:
        """The window that ends now; a new one begins."""
        window, self.window = self.window, Window(now_s)
        return window

    def summary(self) -> Summary:
        """Totals; rates over the time from the start to the last record."""
        elapsed_s = max(self.ended_s - self.started_s, 1e-9)
        ordered = array("d", sorted(self._samples))
        count = self._latency_count
        return Summary(
            records=self.records,
            bytes=self.size_bytes,
            errors=self.errors,
            elapsed_s=round(elapsed_s, 6),
            records_per_s=self.records / elapsed_s,
            mb_per_s=self.size_bytes / BYTES_PER_MB / elapsed_s,
            latency=self.latency,
            latency_avg_ms=self._latency_sum_ms / count if count else 0.0,
            latency_p50_ms=percentile(ordered, 0.50),
            latency_p95_ms=percentile(ordered, 0.95),
            latency_p99_ms=percentile(ordered, 0.99),
            latency_max_ms=self._latency_max_ms,
        )


class Progress:
    """The live progress line on stderr: redrawn with ``\\r`` on a terminal, else one line per
    report."""

    def __init__(self, meter: Meter, verb: str, stream: IO[str], interval_ms: int | None) -> None:
        self.meter = meter
        self.verb = verb
        self.stream = stream
        self.tty = stream.isatty()
        default_ms = TTY_REPORT_INTERVAL_MS if self.tty else REPORT_INTERVAL_MS
        self.interval_s = (interval_ms or default_ms) / 1000
        self._width = 0

    async def run(self) -> None:
        """Report every interval until cancelled."""
        while True:
            await anyio.sleep(self.interval_s)
            self.report(time.perf_counter())

    def line(self, window: Window, now_s: float) -> str:
        """The text of one report: totals, and the window's rate and latency."""
        meter = self.meter
        seconds = max(now_s - window.started_s, 1e-9)
        average = window.latency_sum_ms / window.latency_count if window.latency_count else 0.0
        return (
            f"{meter.records}/{meter.expected_records} records {self.verb}, "
            f"{window.records / seconds:.1f} records/s "
            f"({window.size_bytes / BYTES_PER_MB / seconds:.2f} MB/s), "
            f"{average:.1f} ms avg latency, {window.latency_max_ms:.1f} ms max latency"
        )

    def report(self, now_s: float) -> None:
        """Show the window that ends at ``now_s``."""
        text = self.line(self.meter.take_window(now_s), now_s)
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End a redrawn line, so what follows starts on a line of its own."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _print_summary(meter: Meter, verb: str, output: str) -> None:
    summary = meter.summary()
    print(json.dumps(asdict(summary)) if output == "json" else summary.text(verb))


def _report_failure(meter: Meter, error: DeliveryError) -> None:
    meter.errors += 1
    if meter.errors <= MAX_REPORTED_ERRORS:
        print(f"odradek: error: {error}", file=sys.stderr)


# -- topics and settings ---------------------------------------------------------------------


async def ensure_topic(
    admin: AdminClient, name: str, partitions: int | None, replication_factor: int | None
) -> TopicDescription:
    """The topic, created first if it does not exist (then waited for until it is described)."""
    try:
        return (await admin.describe_topics([name]))[name]
    except UnknownTopicOrPartitionError:
        pass
    topic = NewTopic(name, partitions or -1, replication_factor or -1)
    error = (await admin.create_topics([topic], raise_errors=False))[name]
    if error is not None and not isinstance(error, TopicAlreadyExistsError):
        raise CommandError([topic_error(name, error)])
    described = await admin.cluster.retrying(
        lambda: admin.describe_topics([name]), timeout_ms=admin.config.request_timeout_ms
    )
    print(
        f"Created topic {name!r} with {len(described[name].partitions)} partitions.",
        file=sys.stderr,
    )
    return described[name]


def _with_configs(settings: dict[str, Any], configs: Mapping[str, str]) -> dict[str, Any]:
    """``settings`` with the user's ``--config`` keys (Kafka spelling) laid over them."""
    merged = dict(settings)
    merged.update(
        {key.replace("_", ".").replace("-", "."): value for key, value in configs.items()}
    )
    return merged


def _perf_producer_settings(session: Session, arguments: argparse.Namespace) -> dict[str, Any]:
    settings = _with_configs(
        producer_settings(session, arguments.acks, arguments.compression), arguments.configs
    )
    if "delivery.timeout.ms" not in arguments.configs:
        # Kafka requires delivery.timeout.ms >= linger.ms + request.timeout.ms.
        linger_ms = int(settings.get("linger.ms", DEFAULT_LINGER_MS))
        settings["delivery.timeout.ms"] = int(settings["request.timeout.ms"]) + linger_ms
    ProducerConfig.from_settings(settings)  # a bad --config is a usage error, before connecting
    return settings


def _checked(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return build()
    except (IllegalConfigError, ValueError) as error:
        raise CommandError([f"argument --config: {error}"], exit_code=2) from None


# -- perf produce ----------------------------------------------------------------------------


class _PartitionQueue:
    """One partition's sent records awaiting delivery, in send order."""

    __slots__ = ("closed", "entries", "ready")

    def __init__(self) -> None:
        self.entries: collections.deque[tuple[RecordFuture, float]] = collections.deque()
        self.ready = anyio.Event()
        self.closed = False

    def push(self, future: RecordFuture, sent_s: float) -> None:
        self.entries.append((future, sent_s))
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


class _ProduceRun:
    """Sends the records (throttled) and collects their deliveries, one task per partition."""

    def __init__(
        self, producer: Producer, topic: TopicDescription, arguments: argparse.Namespace
    ) -> None:
        self.producer = producer
        self.topic = topic.name
        self.partitions = [partition.partition for partition in topic.partitions]
        self.arguments = arguments
        self.queues = {partition: _PartitionQueue() for partition in self.partitions}
        self.per_partition_run = max(1, producer.config.batch_size // arguments.record_size)
        self.meter = Meter(arguments.num_records, "send-to-delivery", time.perf_counter())

    async def send_all(self) -> None:
        """Send ``--num-records`` records at most ``--throughput`` per second."""
        arguments = self.arguments
        producer, topic, meter = self.producer, self.topic, self.meter
        size, throughput = arguments.record_size, arguments.throughput
        randbytes = random.Random(PAYLOAD_SEED).randbytes
        partitions, run = self.partitions, self.per_partition_run
        start_s = meter.started_s = time.perf_counter()
        for index in range(arguments.num_records):
            if throughput > 0:
                ahead_s = index / throughput - (time.perf_counter() - start_s)
                if ahead_s >= MIN_THROTTLE_SLEEP_S:
                    await anyio.sleep(ahead_s)
            partition = partitions[(index // run) % len(partitions)]
            payload = randbytes(size).translate(LETTERS)
            sent_s = time.perf_counter()
            try:
                future = await producer.send(topic, payload, partition=partition)
            except DeliveryError as error:
                _report_failure(meter, error)
                continue
            self.queues[partition].push(future, sent_s)

    async def collect(self, queue: _PartitionQueue) -> None:
        """Wait for the partition's deliveries in order until its queue is closed and empty."""
        entries, meter, size = queue.entries, self.meter, self.arguments.record_size
        while entries or not queue.closed:
            if not entries:
                queue.ready = anyio.Event()
                await queue.ready.wait()
                continue
            head = entries[0][0]
            if not head.done():
                # A failure is counted below, with the other records of its batch.
                with contextlib.suppress(DeliveryError):
                    await head.wait()
            now_s = time.perf_counter()
            while entries and entries[0][0].done():
                future, sent_s = entries.popleft()
                try:
                    future.result()
                except DeliveryError as error:
                    _report_failure(meter, error)
                else:
                    meter.add(1, size, now_s)
                    meter.observe((now_s - sent_s) * 1000)

    async def run(self, progress: Progress) -> None:
        """Send and collect; a signal stops the sending, what was sent is still collected."""
        async with anyio.create_task_group() as reporting:
            reporting.start_soon(progress.run)
            async with anyio.create_task_group() as collecting:
                for queue in self.queues.values():
                    collecting.start_soon(self.collect, queue)
                try:
                    await until_signalled(self.send_all)
                finally:
                    for queue in self.queues.values():
                        queue.close()
            reporting.cancel_scope.cancel()
        progress.finish()


async def _perf_produce(session: Session, arguments: argparse.Namespace) -> int:
    settings = _checked(lambda: _perf_producer_settings(session, arguments))
    topic = await with_admin(
        session,
        lambda admin: ensure_topic(
            admin, arguments.topic, arguments.partitions, arguments.replication_factor
        ),
    )
    async with Producer(settings) as producer:
        produce_run = _ProduceRun(producer, topic, arguments)
        meter = produce_run.meter
        progress = Progress(meter, "sent", sys.stderr, arguments.reporting_interval_ms)
        await produce_run.run(progress)
    _print_summary(meter, "sent", arguments.output)
    return 1 if meter.errors else 0


# -- perf consume ----------------------------------------------------------------------------


def _perf_consumer_settings(session: Session, arguments: argparse.Namespace) -> dict[str, Any]:
    reset = "latest" if arguments.from_latest else "earliest"
    settings = _with_configs(consumer_settings(session, reset), arguments.configs)
    ConsumerConfig.from_settings(settings)
    return settings


async def _records_to_read(
    consumer: Consumer, partitions: list[TopicPartition], arguments: argparse.Namespace
) -> int:
    """``--num-records``, or every record the partitions hold now."""
    if arguments.num_records is not None:
        return int(arguments.num_records)
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.beginning_offsets(partitions)
    total = sum(ends[tp] - starts[tp] for tp in partitions)
    if total <= 0:
        raise CommandError(
            [
                f"topic {arguments.topic!r} is empty: give --num-records and --from-latest to wait "
                "for new records"
            ]
        )
    return total


async def _consume_all(consumer: Consumer, meter: Meter, timeout_ms: int) -> None:
    """Poll until ``meter.expected_records`` arrived or ``timeout_ms`` passed without one."""
    end_to_end = meter.latency == "end-to-end"
    max_poll = consumer.config.max_poll_records
    meter.started_s = last_record_s = time.perf_counter()
    while meter.records < meter.expected_records:
        asked_s = time.perf_counter()
        wait_ms = max(0, int((last_record_s + timeout_ms / 1000 - asked_s) * 1000))
        left = meter.expected_records - meter.records
        polled = await consumer.getmany(wait_ms, max_records=min(left, max_poll))
        now_s = time.perf_counter()
        if not polled:
            if now_s - last_record_s >= timeout_ms / 1000:
                return
            continue
        last_record_s = now_s
        if not end_to_end:
            meter.observe((now_s - asked_s) * 1000)
        wall_ms = time.time() * 1000
        count = size_bytes = 0
        for records in polled.values():
            for record in records:
                count += 1
                size_bytes += (0 if record.value is None else len(record.value)) + (
                    0 if record.key is None else len(record.key)
                )
                if end_to_end:
                    meter.observe(max(0.0, wall_ms - record.timestamp))
        meter.add(count, size_bytes, now_s)


async def _perf_consume(session: Session, arguments: argparse.Namespace) -> int:
    settings = _checked(lambda: _perf_consumer_settings(session, arguments))
    topic = await with_admin(
        session,
        lambda admin: ensure_topic(
            admin, arguments.topic, arguments.partitions, arguments.replication_factor
        ),
    )
    partitions = [TopicPartition(topic.name, partition.partition) for partition in topic.partitions]
    async with Consumer(settings) as consumer:
        consumer.assign(partitions)
        if not arguments.from_latest:
            consumer.seek_to_beginning()
        expected = await _records_to_read(consumer, partitions, arguments)
        meter = Meter(expected, arguments.latency, time.perf_counter())
        progress = Progress(meter, "received", sys.stderr, arguments.reporting_interval_ms)
        async with anyio.create_task_group() as reporting:
            reporting.start_soon(progress.run)
            await until_signalled(lambda: _consume_all(consumer, meter, session.timeout_ms))
            reporting.cancel_scope.cancel()
        progress.finish()
    _print_summary(meter, "received", arguments.output)
    if meter.records < expected:
        raise CommandError(
            [
                f"got {meter.records} of {expected} records: none for {session.timeout_ms} ms "
                "(--timeout-ms)"
            ]
        )
    return 0


# -- the parsers -----------------------------------------------------------------------------

PERF_EXAMPLES = """\
examples:
  odradek perf produce --topic perf --num-records 1000000 --record-size 100
  odradek perf consume --topic perf
"""
PRODUCE_EXAMPLES = """\
examples:
  odradek perf produce --topic perf --num-records 1000000 --record-size 100
  odradek perf produce --topic perf --num-records 100000 --throughput 5000 --acks 1
  odradek perf produce --topic perf6 --partitions 6 --num-records 500000 --compression lz4 \\
      --config linger.ms=20 --config batch.size=65536 --output json
"""
CONSUME_EXAMPLES = """\
examples:
  odradek perf consume --topic perf
  odradek perf consume --topic perf --num-records 100000 --config fetch.max.bytes=1048576
  odradek perf consume --topic perf --from-latest --num-records 100000 --latency end-to-end
"""


def _throughput(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != -1 and not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be > 0 or -1 (unlimited), got {text}")
    return value


def _common_options(timeout_help: str) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(
        add_help=False, parents=[connection_options(timeout_help, DEFAULT_TIMEOUT_MS)]
    )
    options.add_argument("--topic", required=True, help="the topic (created if missing)")
    options.add_argument(
        "--partitions",
        metavar="N",
        type=bounded_int(1, MAX_INT32),
        help="partitions of a created topic (default: the broker's num.partitions)",
    )
    options.add_argument(
        "--replication-factor",
        metavar="R",
        type=bounded_int(1, MAX_REPLICATION_FACTOR),
        help="replicas of a created topic (default: the broker's default.replication.factor)",
    )
    options.add_argument(
        "--config",
        metavar="KEY=VALUE",
        action=ConfigAction,
        dest="configs",
        default={},
        help="a client setting such as linger.ms=10 (Kafka's key); repeatable",
    )
    options.add_argument(
        "--reporting-interval-ms",
        metavar="MS",
        type=bounded_int(1, MAX_INT32),
        help=f"progress period (default: {TTY_REPORT_INTERVAL_MS} on a terminal, else "
        f"{REPORT_INTERVAL_MS})",
    )
    options.add_argument("--output", choices=OUTPUTS, default="text", help="summary format")
    return options


def add_perf_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``perf produce`` and ``perf consume`` to the ``odradek`` subcommands."""
    perf = commands.add_parser(
        "perf",
        help="measure produce and consume throughput and latency",
        description="Throughput and latency tests against any Kafka-protocol cluster.",
        epilog=PERF_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    perf_commands = perf.add_subparsers(dest="perf_command", metavar="COMMAND", required=True)
    produce = perf_commands.add_parser(
        "produce",
        help="send records and measure send-to-delivery latency",
        description="Send records; report records/s, MB/s and latency percentiles.",
        epilog=PRODUCE_EXAMPLES,
        parents=[
            _common_options("limit of connecting and of each delivery (default: %(default)s)")
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    produce.add_argument(
        "--num-records",
        metavar="N",
        type=bounded_int(1, MAX_INT64),
        required=True,
        help="records to send",
    )
    produce.add_argument(
        "--record-size",
        metavar="BYTES",
        type=bounded_int(1, MAX_INT32),
        default=100,
        help="value size (default: %(default)s)",
    )
    produce.add_argument(
        "--throughput",
        metavar="N",
        type=_throughput,
        default=-1,
        help="records/s at most, -1 for unlimited (default: %(default)s)",
    )
    produce.add_argument("--acks", choices=ACKS, default="all", help="(default: %(default)s)")
    produce.add_argument(
        "--compression", choices=COMPRESSION_TYPES, default="none", help="(default: %(default)s)"
    )
    produce.set_defaults(handler=handler(_perf_produce, produce))
    _add_perf_consume(perf_commands)


def _add_perf_consume(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consume = commands.add_parser(
        "consume",
        help="read records and measure fetch or end-to-end latency",
        description="Read records; report records/s, MB/s and latency percentiles.",
        epilog=CONSUME_EXAMPLES,
        parents=[
            _common_options(
                "limit of connecting and of the wait between two records (default: %(default)s)"
            )
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    consume.add_argument(
        "--num-records",
        metavar="N",
        type=bounded_int(1, MAX_INT64),
        help="records to read (default: all the topic holds at the start)",
    )
    consume.add_argument(
        "--from-latest", action="store_true", help="read only records written after the start"
    )
    consume.add_argument(
        "--latency",
        choices=LATENCY_KINDS,
        default="fetch",
        help="per poll: the wait for records; or per record: receipt minus its timestamp "
        "(default: %(default)s)",
    )
    consume.set_defaults(handler=handler(_perf_consume, consume, _check_consume))


def _check_consume(arguments: argparse.Namespace) -> str | None:
    if arguments.from_latest and arguments.num_records is None:
        return "argument --from-latest: needs --num-records (how many new records to wait for)"
    return None
