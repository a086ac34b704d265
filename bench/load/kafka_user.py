"""A Locust ``User`` on odradek's blocking client, reporting Kafka requests like HTTP ones.

Every produce and every fetch goes to Locust's ``request`` event (request type = the API,
``produce`` / ``fetch``, name = the topic, response time in ms, response length in bytes, and
the exception named by its Kafka error), so the web UI, ``--csv`` files and distributed runs
show broker latency percentiles and failures as they do for HTTP.  Consumers in ``mixed.py``
also report ``e2e``: the time from a record's timestamp (set by the producer) to its arrival.

Consumers are *assigned* one partition each (``--consumer-mode assigned``, round-robin per
process) or *group* members (``--consumer-mode group``: ``subscribe`` with ``--group-id``, the
group coordinator spreads the partitions over every consumer of every worker).

A missing topic is created with ``--replication-factor`` replicas (default: 3, or fewer if the
cluster has fewer brokers) and ``min.insync.replicas`` = replicas - 1 (at least 1), so
``--acks all`` keeps working with one broker of three down.

The bootstrap server is Locust's own ``--host`` (``--host 127.0.0.1:9092``; a ``kafka://``
prefix is accepted).  The settings below are Locust custom arguments, each with an environment
variable (``locust ... --acks 1`` or ``ODRADEK_ACKS=1 locust ...``) and shown in the web UI.

The blocking client has no thread and no event loop, so under Locust's gevent monkey-patching
every socket wait yields to the other users; each user owns its clients.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from locust import User, events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment

from client.blocking import (
    AdminClient,
    Consumer,
    ConsumerRecord,
    NewTopic,
    Producer,
    RecordMetadata,
    TopicPartition,
)
from client.blocking_consumer import BlockingRebalanceListener
from client.errors import DeliveryError, KafkaError, TopicAlreadyExistsError

DEFAULT_HOST = "127.0.0.1:9092"
# How long one produce or fetch may take before it counts as failed.
REQUEST_TIMEOUT_MS = 30_000
# Replicas of a created topic when --replication-factor is 0 (fewer if the cluster is smaller).
DEFAULT_REPLICATION_FACTOR = 3
# Group members: a dead worker's consumers leave the group within the session timeout, and a
# rebalance reaches every member within a heartbeat (Kafka's 45 s / 3 s suit long-lived
# services; a load test starts and stops consumers every few seconds).
GROUP_SETTINGS: dict[str, Any] = {"session_timeout_ms": 10_000, "heartbeat_interval_ms": 500}
T = TypeVar("T")


def _add_arguments(parser: LocustArgumentParser) -> None:
    group = parser.add_argument_group("odradek", "Kafka load settings (bench/load/README.md)")
    group.add_argument("--topic", env_var="ODRADEK_TOPIC", default="locust", help="topic to use")
    group.add_argument(
        "--partitions", env_var="ODRADEK_PARTITIONS", type=int, default=6,
        help="partitions of the topic if it has to be created",
    )  # fmt: skip
    group.add_argument(
        "--acks", env_var="ODRADEK_ACKS", default="1", choices=["0", "1", "all"],
        help="producer acks",
    )  # fmt: skip
    group.add_argument(
        "--record-size", env_var="ODRADEK_RECORD_SIZE", type=int, default=100,
        help="value bytes per record",
    )  # fmt: skip
    group.add_argument(
        "--keyed", env_var="ODRADEK_KEYED", default="false", choices=["true", "false"],
        help="send keyed records (murmur2 partitioning) instead of sticky unkeyed ones",
    )  # fmt: skip
    group.add_argument(
        "--linger-ms", env_var="ODRADEK_LINGER_MS", type=int, default=0,
        help="producer linger.ms (each task waits for its record's answer)",
    )  # fmt: skip
    group.add_argument(
        "--compression", env_var="ODRADEK_COMPRESSION", default="none",
        choices=["none", "gzip", "snappy", "lz4", "zstd"], help="producer compression.type",
    )  # fmt: skip
    group.add_argument(
        "--replication-factor", env_var="ODRADEK_REPLICATION_FACTOR", type=int, default=0,
        help="replicas when creating the topic (0: min(3, brokers in the cluster))",
    )  # fmt: skip
    group.add_argument(
        "--min-insync-replicas", env_var="ODRADEK_MIN_INSYNC_REPLICAS", type=int, default=0,
        help="min.insync.replicas when creating the topic (0: replicas - 1, at least 1)",
    )  # fmt: skip
    group.add_argument(
        "--consumer-mode", env_var="ODRADEK_CONSUMER_MODE", default="assigned",
        choices=["assigned", "group"],
        help="consumers assigned one partition each (round-robin per process), or group members",
    )  # fmt: skip
    group.add_argument(
        "--group-id", env_var="ODRADEK_GROUP_ID", default="",
        help="consumer group of --consumer-mode group (default: locust-<topic>)",
    )  # fmt: skip
    group.add_argument(
        "--seed-records", env_var="ODRADEK_SEED_RECORDS", type=int, default=10_000,
        help="records consume.py writes first if the topic holds fewer",
    )  # fmt: skip


events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]


def bootstrap_of(environment: Environment, host: str | None) -> str:
    """The bootstrap servers from ``--host`` (or ``ODRADEK_BOOTSTRAP``), scheme stripped."""
    address = host or os.environ.get("ODRADEK_BOOTSTRAP") or DEFAULT_HOST
    return address.removeprefix("kafka://").rstrip("/")


def option(environment: Environment, name: str, default: Any) -> Any:
    """A custom argument's value (defaults apply when Locust runs without its parser)."""
    options = environment.parsed_options
    return getattr(options, name, default) if options is not None else default


class KafkaRequestError(Exception):
    """A failed Kafka request as Locust reports it: its ``repr`` (Locust's failure key) is the
    Kafka error's name, e.g. ``NOT_LEADER_OR_FOLLOWER`` or ``KafkaTimeoutError``."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error
        self.kafka_name = kafka_error_name(error)
        super().__init__(f"{self.kafka_name}: {error}")

    def __repr__(self) -> str:
        return self.kafka_name


def kafka_error_name(error: KafkaError) -> str:
    """The protocol's name of the error code, else the client exception's class name; a
    delivery failure is named by its cause (and whether it may have been written)."""
    if isinstance(error, DeliveryError):
        verdict = "maybe written" if error.ambiguous else "not written"
        return f"{kafka_error_name(error.cause)} ({verdict})"
    return error.error_code.name if error.error_code is not None else type(error).__name__


_topic_partitions: dict[tuple[str, str], int] = {}
_topics_lock = threading.Lock()  # a gevent lock under monkey-patching
_consumer_numbers = itertools.count()


def topic_replication(
    brokers: int, replication_factor: int, min_insync_replicas: int
) -> tuple[int, int]:
    """(replicas, min.insync.replicas) for a new topic: 0 picks the default -- replicas =
    min(3, brokers), min.insync.replicas = replicas - 1 (at least 1)."""
    replicas = replication_factor or max(min(DEFAULT_REPLICATION_FACTOR, brokers), 1)
    return replicas, min_insync_replicas or max(replicas - 1, 1)


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    replication_factor: int = 0,
    min_insync_replicas: int = 0,
) -> int:
    """Create the topic once per process (an existing one is used as it is; replication as
    :func:`topic_replication` decides from the brokers in the cluster's metadata); its
    partition count."""
    with _topics_lock:
        known = _topic_partitions.get((bootstrap, topic))
        if known is not None:
            return known
        with AdminClient(bootstrap_servers=bootstrap) as admin:
            brokers = len(admin.cluster.metadata.brokers)
            replicas, min_insync = topic_replication(
                brokers, replication_factor, min_insync_replicas
            )
            configs = {"min.insync.replicas": str(min_insync)}
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, partitions, replicas, configs)])
            # The broker asked may not have the topic's metadata yet (another broker forwarded
            # the creation): UNKNOWN_TOPIC_OR_PARTITION is retried, as Kafka's clients do.
            described = admin.cluster.retrying(
                lambda: admin.describe_topics([topic]), timeout_ms=REQUEST_TIMEOUT_MS
            )
            count = len(described[topic].partitions)
        _topic_partitions[bootstrap, topic] = count
        return count


class _SeekToEndOnAssignment(BlockingRebalanceListener):
    """Moves every partition the group hands over to its end (only fresh records count)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        if assigned:
            self.consumer.seek_to_end(*assigned)


class KafkaUser(User):
    """Base of the Kafka users: clients made on first use, closed on stop, and the reporting
    calls :meth:`produce` and :meth:`fetch`."""

    abstract = True
    host = DEFAULT_HOST
    # Extra client settings a subclass may give (Kafka keys or keywords).
    producer_settings: ClassVar[dict[str, Any]] = {}
    consumer_settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.bootstrap = bootstrap_of(environment, self.host)
        self.topic: str = option(environment, "topic", "locust")
        self.partitions: int = option(environment, "partitions", 6)
        self.record_size: int = option(environment, "record_size", 100)
        self.keyed = option(environment, "keyed", "false") == "true"
        self.consumer_mode: str = option(environment, "consumer_mode", "assigned")
        self.group_id: str = option(environment, "group_id", "") or f"locust-{self.topic}"
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._sequence = 0

    def on_start(self) -> None:
        """Make sure the topic exists (and learn its partition count)."""
        environment = self.environment
        self.partitions = ensure_topic(
            self.bootstrap,
            self.topic,
            self.partitions,
            option(environment, "replication_factor", 0),
            option(environment, "min_insync_replicas", 0),
        )

    def on_stop(self) -> None:
        """Deliver what is buffered and close the clients (a group member leaves its group)."""
        if self._producer is not None:
            self._producer.close(timeout_ms=REQUEST_TIMEOUT_MS)
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    @property
    def producer(self) -> Producer:
        """This user's producer (acks, linger and compression from the custom arguments)."""
        if self._producer is None:
            environment = self.environment
            settings: dict[str, Any] = {
                "acks": option(environment, "acks", "1"),
                "linger_ms": option(environment, "linger_ms", 0),
                "compression_type": option(environment, "compression", "none"),
                "request_timeout_ms": REQUEST_TIMEOUT_MS,
            }
            settings.update(self.producer_settings)
            self._producer = Producer(bootstrap_servers=self.bootstrap, **settings)
        return self._producer

    @property
    def consumer(self) -> Consumer:
        """This user's consumer, opened by :meth:`start_consumer`."""
        if self._consumer is None:
            raise RuntimeError("start_consumer() first")
        return self._consumer

    def start_consumer(self, *, from_end: bool = False) -> Consumer:
        """Open this user's consumer: with ``--consumer-mode assigned``, assigned the next
        partition (round-robin per process); with ``group``, subscribed to the topic as a
        member of ``--group-id`` (partitions arrive from the first polls).  It starts at the
        beginning (a group: at its committed offsets), or at the end with ``from_end`` (a
        group: of every partition handed over, at each rebalance)."""
        settings: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "auto_offset_reset": "latest" if from_end else "earliest",
            "request_timeout_ms": REQUEST_TIMEOUT_MS,
        }
        if self.consumer_mode == "group":
            settings |= {"group_id": self.group_id, **GROUP_SETTINGS}
        consumer = Consumer(**(settings | self.consumer_settings))
        self._consumer = consumer
        if self.consumer_mode == "group":
            consumer.subscribe([self.topic], _SeekToEndOnAssignment(consumer) if from_end else None)
        else:
            consumer.assign([self.next_partition()])
            if from_end:
                consumer.seek_to_end()
        return consumer

    def next_record(self) -> tuple[bytes | None, bytes]:
        """A (key, value) of ``--record-size`` bytes; keyed with ``--keyed true``."""
        self._sequence += 1
        key = f"key-{self._sequence % 1000}".encode() if self.keyed else None
        return key, b"x" * self.record_size

    # -- reported requests -------------------------------------------------------------------

    def produce(self, value: bytes, key: bytes | None = None) -> RecordMetadata | None:
        """Send one record and wait for its answer; reported as ``produce``."""
        return self._timed(
            "produce",
            len(value) + (len(key) if key else 0),
            lambda: self.producer.send(self.topic, value, key=key).get(REQUEST_TIMEOUT_MS),
        )

    def fetch(self, timeout_ms: int = 1000) -> dict[TopicPartition, list[ConsumerRecord]]:
        """One poll of this user's consumer; reported as ``fetch`` when it returned records
        (an empty poll only means the consumer caught up -- or, in a group, waits for a
        rebalance -- and its wait is not broker latency)."""
        started = time.perf_counter()
        try:
            polled = self.consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as error:
            self._report("fetch", started, 0, error)
            return {}
        if polled:
            size = sum(
                len(record.value or b"") + len(record.key or b"")
                for records in polled.values()
                for record in records
            )
            self._report("fetch", started, size, None)
        return polled

    def report_end_to_end(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """``e2e``: now minus each record's (producer) timestamp, in ms."""
        now_ms = time.time() * 1000
        fire = self.environment.events.request.fire
        for record in itertools.chain.from_iterable(polled.values()):
            fire(
                request_type="e2e",
                name=self.topic,
                response_time=max(now_ms - record.timestamp, 0.0),
                response_length=len(record.value or b""),
                exception=None,
                context={},
            )

    def _timed(self, request_type: str, size: int, call: Callable[[], T]) -> T | None:
        started = time.perf_counter()
        try:
            result = call()
        except KafkaError as error:
            self._report(request_type, started, size, error)
            return None
        self._report(request_type, started, size, None)
        return result

    def _report(
        self, request_type: str, started: float, size: int, error: KafkaError | None
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=self.topic,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=size,
            exception=None if error is None else KafkaRequestError(error),
            context={},
        )

    def next_partition(self) -> TopicPartition:
        """A partition for a new consumer user: round-robin over the topic, per process (so
        as many consumer users as partitions cover the topic)."""
        return TopicPartition(self.topic, next(_consumer_numbers) % self.partitions)
