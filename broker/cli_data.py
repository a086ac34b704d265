"""`odradek produce` and `odradek consume`: lines in, records out, over the client's Producer
and Consumer (so they work against any Kafka-protocol broker, not only ours).

Both commands first look the topic up with an :class:`~client.admin.AdminClient` (an unknown
topic or partition is reported at once instead of after ``max.block.ms``), bootstrapping with
the retries of ``odradek topic`` until ``--timeout-ms``.  SIGINT and SIGTERM stop them cleanly:
``produce`` stops reading and waits for what it already sent, ``consume`` stops fetching; both
still print their summary.  A second signal interrupts at once (exit 130).

The helpers here (:func:`handler`, :func:`with_admin`, :func:`until_signalled`,
:func:`client_settings`, ...) are shared with ``broker.cli_perf``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import IO, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from broker.cli_topic import (
    CLIENT_ID,
    DEFAULT_BOOTSTRAP_SERVER,
    DEFAULT_TIMEOUT_MS,
    MAX_INT32,
    CommandError,
    Session,
    add_command_config,
    bootstrap_servers_arg,
    bounded_int,
    open_admin,
)
from client.admin import AdminClient, TopicDescription
from client.consumer import Consumer
from client.errors import (
    DeliveryError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)
from client.metadata import TopicPartition
from client.producer import Producer, RecordFuture
from client.records_view import ConsumerRecord

USAGE_ERROR_EXIT_CODE = 2  # argparse's, as in broker.cli
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, the shell's convention
MAX_INT64 = 2**63 - 1
ACKS = ("0", "1", "all")
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")
FORMATS = ("value", "key-value", "json")
DEFAULT_LINGER_MS = 5  # the producer's linger.ms default, which delivery.timeout.ms must cover
# Input is read in chunks of this size (a pipe or terminal returns what it has, up to this),
# at most this many chunks ahead of the producer.
READ_CHUNK_BYTES = 64 * 1024
READ_AHEAD_CHUNKS = 4
# A line longer than this is refused rather than buffered without end.
MAX_LINE_BYTES = 16 * 1024 * 1024
# Futures of sent records kept before the oldest must be answered (bounds memory on endless
# input; buffer.memory bounds the records themselves).
MAX_PENDING_RECORDS = 10_000
# Errors printed one by one; the summary counts the rest.
MAX_REPORTED_ERRORS = 10
# Records a consume poll asks for, and how long a poll waits when there is no idle timeout.
MAX_POLL_RECORDS = 500
POLL_WAIT_MS = 1000
NULL_TEXT = "null"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

T = TypeVar("T")
Command = Callable[[Session, argparse.Namespace], Awaitable[int]]
Validator = Callable[[argparse.Namespace], str | None]


# -- shared by the data and perf commands ----------------------------------------------------


def connection_options(timeout_help: str, timeout_default: int | None) -> argparse.ArgumentParser:
    """``--bootstrap-server`` and ``--timeout-ms`` (whose meaning each command states)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--bootstrap-server",
        dest="bootstrap_servers",
        metavar="HOST:PORT",
        type=bootstrap_servers_arg,
        default=DEFAULT_BOOTSTRAP_SERVER,
        help="broker(s) to bootstrap from, a comma-separated list (default: %(default)s)",
    )
    add_command_config(options)
    options.add_argument(
        "--timeout-ms",
        metavar="MS",
        type=bounded_int(1, MAX_INT32),
        default=timeout_default,
        help=timeout_help,
    )
    return options


def handler(
    command: Command, parser: argparse.ArgumentParser, validate: Validator | None = None
) -> Callable[[argparse.Namespace], int]:
    """The argparse handler: checks across arguments (usage errors, exit 2), then ``command``
    under one event loop, its client errors turned into :class:`CommandError`."""

    def handle(arguments: argparse.Namespace) -> int:
        message = None if validate is None else validate(arguments)
        if message is not None:
            parser.print_usage(sys.stderr)
            print(f"{parser.prog}: error: {message}", file=sys.stderr)
            return USAGE_ERROR_EXIT_CODE
        timeout_ms = arguments.timeout_ms or DEFAULT_TIMEOUT_MS
        session = Session(arguments.bootstrap_servers, timeout_ms, arguments.command_config)
        try:
            exit_code = _run(command, session, arguments)
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return INTERRUPTED_EXIT_CODE
        except (TimeoutError, KafkaTimeoutError) as error:
            if isinstance(error, KafkaTimeoutError):
                session.last_error = error
            raise CommandError([session.timeout_message()]) from error
        except KafkaConnectionError as error:
            raise CommandError([f"lost the connection to the cluster: {error}"]) from error
        except KafkaError as error:
            raise CommandError([str(error)]) from error
        return exit_code

    return handle


def _run(command: Command, session: Session, arguments: argparse.Namespace) -> int:
    """``anyio.run``, with an error that task groups wrapped raised as itself."""
    try:
        exit_code: int = anyio.run(command, session, arguments)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise
    return exit_code


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


async def with_admin(session: Session, work: Callable[[AdminClient], Awaitable[T]]) -> T:
    """``work`` on an AdminClient, bootstrapping (with retries) and working within the
    session's ``--timeout-ms``; the admin client is closed afterwards."""
    with anyio.fail_after(session.timeout_ms / 1000):
        async with contextlib.AsyncExitStack() as stack:
            admin = await open_admin(stack, session)
            session.connected = True
            return await work(admin)


async def describe_topic(admin: AdminClient, name: str) -> TopicDescription:
    """The topic's partitions; an unknown topic is a :class:`CommandError` naming it."""
    try:
        described = await admin.describe_topics([name])
    except UnknownTopicOrPartitionError:
        raise CommandError(
            [f"unknown topic {name!r} (create it with: odradek topic create {name})"]
        ) from None
    return described[name]


def chosen_partitions(topic: TopicDescription, partition: int | None) -> list[TopicPartition]:
    """Every partition of ``topic``, or the one asked for if it exists."""
    indexes = [described.partition for described in topic.partitions]
    if partition is None:
        return [TopicPartition(topic.name, index) for index in indexes]
    if partition not in indexes:
        raise CommandError(
            [f"topic {topic.name!r} has no partition {partition} (it has {len(indexes)})"]
        )
    return [TopicPartition(topic.name, partition)]


def client_settings(session: Session) -> dict[str, Any]:
    """Settings every client of a command takes: where, who, and ``--timeout-ms`` per wait."""
    return {
        **dict(session.client_properties),
        "bootstrap.servers": list(session.servers),
        "client.id": CLIENT_ID,
        "request.timeout.ms": session.timeout_ms,
        "socket.connection.setup.timeout.ms": session.timeout_ms,
        "socket.connection.setup.timeout.max.ms": session.timeout_ms,
    }


def producer_settings(session: Session, acks: str, compression: str) -> dict[str, Any]:
    """Producer settings: metadata, back-pressure and each delivery bounded by --timeout-ms."""
    return {
        **client_settings(session),
        "acks": acks,
        "compression.type": compression,
        "max.block.ms": session.timeout_ms,
        # Kafka requires delivery.timeout.ms >= linger.ms + request.timeout.ms.
        "delivery.timeout.ms": session.timeout_ms + DEFAULT_LINGER_MS,
    }


def consumer_settings(session: Session, auto_offset_reset: str) -> dict[str, Any]:
    """Consumer settings (assign only: no group, no commits)."""
    return {
        **client_settings(session),
        "default.api.timeout.ms": session.timeout_ms,
        "auto.offset.reset": auto_offset_reset,
        "enable.auto.commit": False,
    }


async def until_signalled(work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` until it returns or SIGINT/SIGTERM arrives (which cancels it).

    Signal handlers can only be installed from the main thread; elsewhere (a program embedding
    ``main``) ``work`` simply runs to its end.
    """
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
                async for _ in signals:
                    group.cancel_scope.cancel()
                    return

        if threading.current_thread() is threading.main_thread():
            group.start_soon(watch)
        await work()
        group.cancel_scope.cancel()


# -- argument types --------------------------------------------------------------------------


def _separator(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("the separator must not be empty")
    return text


def _header(text: str) -> tuple[str, bytes]:
    """``KEY=VALUE`` → a record header (the value may be empty, the key may not)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value.encode()


# -- the parsers -----------------------------------------------------------------------------

PRODUCE_EXAMPLES = """\
examples:
  echo hello | odradek produce events
  odradek produce events --file lines.txt --acks 1 --compression zstd
  printf 'user-1:clicked\\nuser-2:left\\n' | odradek produce events --key-separator :
  odradek produce events --partition 2 --header source=cli --header trace=abc
"""
CONSUME_EXAMPLES = """\
examples:
  odradek consume events --from-beginning
  odradek consume events --partition 0 --offset 42 --max-messages 10
  odradek consume events --from-beginning --format json --timeout-ms 5000
  odradek consume events --group audit --from-beginning --max-messages 100
  odradek consume events --format key-value --key-separator ' => '
"""


def add_data_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``produce`` and ``consume`` to the ``odradek`` subcommands."""
    produce = commands.add_parser(
        "produce",
        help="send lines from stdin or a file as records",
        description="Send each input line as one record; prints a summary to stderr.",
        epilog=PRODUCE_EXAMPLES,
        parents=[
            connection_options(
                "limit of connecting and of each wait for metadata, buffer space or a "
                "delivery (default: %(default)s)",
                DEFAULT_TIMEOUT_MS,
            )
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    produce.add_argument("topic", metavar="TOPIC", help="the topic to write to")
    produce.add_argument("--file", metavar="PATH", help="read lines from PATH (default: stdin)")
    produce.add_argument(
        "--key-separator",
        metavar="SEP",
        type=_separator,
        help="split each line at the first SEP into key and value (default: null keys)",
    )
    produce.add_argument("--acks", choices=ACKS, default="all", help="(default: %(default)s)")
    produce.add_argument(
        "--compression", choices=COMPRESSION_TYPES, default="none", help="(default: %(default)s)"
    )
    produce.add_argument(
        "--partition",
        metavar="N",
        type=bounded_int(0, MAX_INT32),
        help="write every record to partition N (default: by key, or sticky for null keys)",
    )
    produce.add_argument(
        "--header",
        metavar="KEY=VALUE",
        type=_header,
        action="append",
        default=[],
        dest="headers",
        help="a header on every record; repeatable",
    )
    produce.set_defaults(handler=handler(_produce, produce))
    _add_consume(commands)


def _add_consume(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consume = commands.add_parser(
        "consume",
        help="print records of a topic",
        description="Print records, one per line; prints how many to stderr at the end.",
        epilog=CONSUME_EXAMPLES,
        parents=[
            connection_options(
                "stop after MS without a record; also the limit of connecting (default: run "
                f"until Ctrl-C or --max-messages, connecting within {DEFAULT_TIMEOUT_MS} ms)",
                None,
            )
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    consume.add_argument("topic", metavar="TOPIC", help="the topic to read")
    start = consume.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the log start offset (default: at the end, only new records)",
    )
    start.add_argument(
        "--offset",
        metavar="N",
        type=bounded_int(0, MAX_INT64),
        help="start at offset N of the --partition",
    )
    consume.add_argument(
        "--partition",
        metavar="N",
        type=bounded_int(0, MAX_INT32),
        help="read only partition N (default: all)",
    )
    consume.add_argument(
        "--group",
        metavar="GROUP",
        help="consume as a member of consumer group GROUP: the group assigns the partitions, "
        "reading resumes from its committed offsets (--from-beginning applies only where it "
        "has none), and offsets are committed as records are printed and on exit",
    )
    consume.add_argument(
        "--max-messages", metavar="N", type=bounded_int(1, MAX_INT64), help="stop after N"
    )
    consume.add_argument(
        "--format",
        choices=FORMATS,
        default="value",
        help="value, key<SEP>value, or JSON with topic, partition, offset, timestamp, key, "
        "value and headers (default: %(default)s)",
    )
    consume.add_argument(
        "--key-separator",
        metavar="SEP",
        type=_separator,
        default="\t",
        help="between key and value with --format key-value (default: a tab)",
    )
    consume.add_argument(
        "--binary",
        action="store_true",
        help="print keys, values and header values as base64 (default: UTF-8, bad bytes as U+FFFD)",
    )
    consume.set_defaults(handler=handler(_consume, consume, _check_consume))


def _check_consume(arguments: argparse.Namespace) -> str | None:
    if arguments.group is not None and (
        arguments.offset is not None or arguments.partition is not None
    ):
        return "argument --group: not with --partition or --offset (the group assigns partitions)"
    if arguments.offset is not None and arguments.partition is None:
        return "argument --offset: needs --partition (an offset is per partition)"
    return None


# -- produce ---------------------------------------------------------------------------------


def _chunk_reader(stream: IO[Any]) -> Callable[[], bytes]:
    """A function returning the stream's next bytes (``b""`` at the end), as soon as some came.

    A real file descriptor is read with ``os.read``: it holds no lock of the stream's buffer,
    which a daemon thread still blocked in it at exit would otherwise hold during shutdown.
    """
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # in-memory streams (io.UnsupportedOperation)
        binary = getattr(stream, "buffer", stream)
        if hasattr(binary, "read1"):
            return lambda: bytes(binary.read1(READ_CHUNK_BYTES))
        return lambda: str(stream.read(READ_CHUNK_BYTES)).encode()
    return lambda: os.read(descriptor, READ_CHUNK_BYTES)


class _LineReader:
    """Lines (without ``\\n`` or ``\\r\\n``) of a binary or text stream.

    A daemon thread reads the stream (a thread blocked on a terminal must not hold the exit
    after Ctrl-C) and hands chunks over a bounded memory stream.  A read returns what a pipe
    or terminal has, so a typed line is sent at once.
    """

    def __init__(self, stream: IO[Any]) -> None:
        self._read = _chunk_reader(stream)
        self._chunks_in, self._chunks_out = anyio.create_memory_object_stream[bytes](
            READ_AHEAD_CHUNKS
        )
        self._error: OSError | ValueError | None = None
        self._tail = b""
        self._started = False
        self.line_number = 0  # of the last line returned

    def _pump(self, token: anyio.lowlevel.EventLoopToken) -> None:
        """The reader thread: chunks into the memory stream until the input ends."""
        try:
            while chunk := self._read():
                anyio.from_thread.run(self._chunks_in.send, chunk, token=token)
        except (anyio.RunFinishedError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the command ended first: nobody wants the rest
        except (OSError, ValueError) as error:  # ValueError: undecodable text input
            self._error = error
        with contextlib.suppress(anyio.RunFinishedError):
            anyio.from_thread.run_sync(self._chunks_in.close, token=token)

    async def read_lines(self) -> list[bytes]:
        """The next complete lines; ``[]`` once the input ended."""
        if not self._started:
            self._started = True
            token = anyio.lowlevel.current_token()
            threading.Thread(target=self._pump, args=(token,), daemon=True).start()
        async for chunk in self._chunks_out:
            lines = (self._tail + chunk).split(b"\n")
            self._tail = lines.pop()
            if len(self._tail) > MAX_LINE_BYTES:
                raise CommandError([f"line {self.line_number + 1} exceeds {MAX_LINE_BYTES} bytes"])
            if lines:
                return self._numbered(lines)
        if self._error is not None:
            raise CommandError([f"cannot read the input: {self._error}"])
        last, self._tail = self._tail, b""
        return self._numbered([last] if last else [])

    def close(self) -> None:
        """Stop taking chunks (the thread ends at its next one, or with the process)."""
        self._chunks_out.close()

    def _numbered(self, lines: list[bytes]) -> list[bytes]:
        self.line_number += len(lines)
        return [line.removesuffix(b"\r") for line in lines]


class _Deliveries:
    """Sent records awaiting their answer, and the tally of the summary."""

    def __init__(self) -> None:
        self.pending: collections.deque[tuple[int, RecordFuture]] = collections.deque()
        self.delivered = 0
        self.errors = 0

    def failed(self, line_number: int, error: KafkaError | str) -> None:
        """Count a failed line; the first few are printed."""
        self.errors += 1
        if self.errors <= MAX_REPORTED_ERRORS:
            print(f"odradek: error: line {line_number}: {error}", file=sys.stderr)

    def settle_done(self) -> None:
        """Take the answered records off the front, in send order."""
        pending = self.pending
        while pending and pending[0][1].done():
            line_number, future = pending.popleft()
            try:
                future.result()
            except DeliveryError as error:
                self.failed(line_number, error)
            else:
                self.delivered += 1

    async def settle_oldest(self) -> None:
        """Wait for the oldest pending record (left pending if the wait is cancelled)."""
        with contextlib.suppress(DeliveryError):
            await self.pending[0][1].wait()
        self.settle_done()


def _open(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as error:
        raise CommandError([f"cannot read {path}: {error.strerror}"]) from None


async def _produce(session: Session, arguments: argparse.Namespace) -> int:
    topic = await with_admin(session, lambda admin: describe_topic(admin, arguments.topic))
    if arguments.partition is not None:
        chosen_partitions(topic, arguments.partition)
    deliveries = _Deliveries()
    settings = producer_settings(session, arguments.acks, arguments.compression)
    with contextlib.ExitStack() as files:
        stream = sys.stdin if arguments.file is None else files.enter_context(_open(arguments.file))
        reader = _LineReader(stream)
        files.callback(reader.close)
        async with Producer(settings) as producer:
            await until_signalled(lambda: _send_lines(producer, reader, arguments, deliveries))
            while deliveries.pending:
                await deliveries.settle_oldest()
    print(
        f"Sent {deliveries.delivered} records to {topic.name!r} ({deliveries.errors} errors).",
        file=sys.stderr,
    )
    return 1 if deliveries.errors else 0


async def _send_lines(
    producer: Producer,
    reader: _LineReader,
    arguments: argparse.Namespace,
    deliveries: _Deliveries,
) -> None:
    separator = None if arguments.key_separator is None else arguments.key_separator.encode()
    headers = arguments.headers or None
    while lines := await reader.read_lines():
        first_number = reader.line_number - len(lines) + 1
        for line_number, line in enumerate(lines, first_number):
            key: bytes | None = None
            if separator is not None:
                key, found, line = line.partition(separator)
                if not found:
                    deliveries.failed(line_number, f"no key separator {arguments.key_separator!r}")
                    continue
            try:
                future = await producer.send(
                    arguments.topic, line, key=key, headers=headers, partition=arguments.partition
                )
            except DeliveryError as error:
                deliveries.failed(line_number, error)
                continue
            deliveries.pending.append((line_number, future))
            deliveries.settle_done()
            if len(deliveries.pending) >= MAX_PENDING_RECORDS:
                await deliveries.settle_oldest()


# -- consume ---------------------------------------------------------------------------------


def _text(data: bytes | None, binary: bool) -> str | None:
    """Bytes as printable text: base64 (``--binary``) or UTF-8 with U+FFFD for bad bytes."""
    if data is None:
        return None
    if binary:
        return base64.b64encode(data).decode("ascii")
    return bytes(data).decode("utf-8", errors="replace")


def _formatter(arguments: argparse.Namespace) -> Callable[[ConsumerRecord], str]:
    """One record → one output line (without the newline), per ``--format``."""
    binary: bool = arguments.binary
    separator: str = arguments.key_separator

    def value(record: ConsumerRecord) -> str:
        text = _text(record.value, binary)
        return NULL_TEXT if text is None else text

    def key_value(record: ConsumerRecord) -> str:
        key = _text(record.key, binary)
        return f"{NULL_TEXT if key is None else key}{separator}{value(record)}"

    def as_json(record: ConsumerRecord) -> str:
        return json.dumps(
            {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "timestamp": record.timestamp,
                "key": _text(record.key, binary),
                "value": _text(record.value, binary),
                "headers": [
                    {"key": name, "value": _text(data, binary)} for name, data in record.headers
                ],
            },
            ensure_ascii=False,
        )

    return {"value": value, "key-value": key_value, "json": as_json}[arguments.format]


async def _consume(session: Session, arguments: argparse.Namespace) -> int:
    topic = await with_admin(session, lambda admin: describe_topic(admin, arguments.topic))
    partitions = chosen_partitions(topic, arguments.partition)
    reset = "earliest" if arguments.from_beginning else "latest"
    if arguments.offset is not None:
        reset = "none"  # an offset outside the log is an error, not a silent jump
    settings = consumer_settings(session, reset)
    if arguments.group is not None:
        settings.update({"group.id": arguments.group, "enable.auto.commit": True})
    printed = 0
    try:
        async with Consumer(settings) as consumer:
            if arguments.group is not None:
                consumer.subscribe([arguments.topic])
            else:
                consumer.assign(partitions)
            if arguments.offset is not None:
                consumer.seek(partitions[0], arguments.offset)
            elif arguments.from_beginning and arguments.group is None:
                consumer.seek_to_beginning()

            def emit(lines: list[str]) -> bool:
                nonlocal printed
                if not _write(lines):
                    return False
                printed += len(lines)
                return True

            await until_signalled(lambda: _consume_loop(consumer, arguments, emit))
    finally:
        print(f"Processed a total of {printed} messages.", file=sys.stderr)
    return 0


def _write(lines: list[str]) -> bool:
    """Print lines; False if the reader of stdout went away (``odradek consume t | head``)."""
    try:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's advice: point stdout at /dev/null so the flush at exit does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


async def _consume_loop(
    consumer: Consumer, arguments: argparse.Namespace, emit: Callable[[list[str]], bool]
) -> None:
    """Formatted records to ``emit``, per poll, until ``--max-messages``, until ``--timeout-ms``
    passed without a record, or until ``emit`` says the output is closed."""
    render = _formatter(arguments)
    left: int = arguments.max_messages or MAX_INT64
    idle_ms: int | None = arguments.timeout_ms
    last_record_s = anyio.current_time()
    while left > 0:
        wait_ms = POLL_WAIT_MS
        if idle_ms is not None:
            wait_ms = max(0, int((last_record_s + idle_ms / 1000 - anyio.current_time()) * 1000))
        polled = await consumer.getmany(wait_ms, max_records=min(left, MAX_POLL_RECORDS))
        if polled:
            last_record_s = anyio.current_time()
            lines = [render(record) for records in polled.values() for record in records]
            left -= len(lines)
            if not emit(lines):
                return
        elif idle_ms is not None and anyio.current_time() - last_record_s >= idle_ms / 1000:
            return
