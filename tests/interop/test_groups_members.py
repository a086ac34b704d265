"""Consumer groups of unmodified clients whose members are child processes.

Each member is a real client (kafka-python, aiokafka, confluent-kafka or kafkajs) in its
own process, so a test can SIGKILL one (no LeaveGroup, no last commit) and start another.
This file is both the pytest module and, run as a script, the Python member
(``python test_groups_members.py '<json config>'``); the kafkajs member is
``kafkajs/member.js``.  Every member speaks the same line protocol on stdout, one JSON
object a line:

- ``ready``: subscribed; ``assigned`` (partitions): its current assignment changed;
- ``assign`` / ``revoke`` (partitions): its rebalance listener was called;
- ``consumed`` (records): a polled batch, ``[partition, offset, value]`` each;
- ``committed`` (records): a synchronous commit of exactly these records succeeded (the
  commit names the next offset after each partition's last record);
- ``commit_failed`` (error); ``limit``: it has committed ``limit`` records and commits no
  more (it keeps polling, so it stays a live member); ``closed``: a clean close returned.

A member closes cleanly (LeaveGroup for dynamic members) on the line ``close`` on stdin.
The tests wait on these events with deadlines, never with sleeps.

Covered: two members split a topic, a third joins, one is killed and its partitions move
after the session timeout, a restarted group resumes exactly from the committed offsets
(for each of the four clients); mixed kafka-python + confluent-kafka groups; static
membership (a restarted instance gets its partitions back, the other member is not
rebalanced).  The harness (``members``, ``kafkajs_modules``, ``produce``...) is shared by
test_groups_kafkajs.py, test_groups_admin.py and test_groups_bench.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
KAFKAJS_DIR = Path(__file__).resolve().parent / "kafkajs"
KAFKAJS_VERSION = "2.2.4"
# Outside the package and stable across runs, so kafkajs is installed once, then reused.
KAFKAJS_CACHE = Path(tempfile.gettempdir()) / f"odradek-test-kafkajs-{KAFKAJS_VERSION}"
NPM_TIMEOUT_S = 300

PARTITIONS = 6
SESSION_MS = 3000
HEARTBEAT_MS = 500
BROKER_SETTINGS = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
    "num.partitions": str(PARTITIONS),
}
STEP_S = 15.0  # bound on one waited-for step (a join, a rebalance, a consumption)
PYTHON_CLIENTS = ["kafka-python", "aiokafka", "confluent-kafka"]

Record = tuple[int, int, str]  # partition, offset, value


# --------------------------------------------------------------------------- the harness


class Member:
    """One member process and what it has reported so far."""

    def __init__(self, pool: MemberPool, name: str, command: list[str], log: Path) -> None:
        self.pool = pool
        self.name = name
        self.log = log
        self.events: list[dict[str, Any]] = []
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO),
                "NODE_PATH": str(KAFKAJS_CACHE / "node_modules"),
            },
        )
        self.started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"e": "garbage", "line": line.decode(errors="replace")}
            event["at"] = time.monotonic()
            with self.pool.cond:
                self.events.append(event)
                self.pool.cond.notify_all()
        with self.pool.cond:
            self.events.append({"e": "exit", "at": time.monotonic()})
            self.pool.cond.notify_all()

    # Views (call with pool.cond held, or accept a racy snapshot).
    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in list(self.events) if event["e"] == kind]

    @property
    def assignment(self) -> frozenset[int]:
        assigned = self.of("assigned")
        return frozenset(assigned[-1]["partitions"]) if assigned else frozenset()

    @property
    def consumed(self) -> list[Record]:
        return [tuple(r) for event in self.of("consumed") for r in event["records"]]  # type: ignore[misc]

    @property
    def committed(self) -> list[Record]:
        return [tuple(r) for event in self.of("committed") for r in event["records"]]  # type: ignore[misc]

    def saw(self, kind: str) -> bool:
        return any(event["e"] == kind for event in list(self.events))

    def kill(self) -> None:
        """SIGKILL: no LeaveGroup, no final commit."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def close(self) -> None:
        """A clean close (LeaveGroup for a dynamic member), bounded."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.write(b"close\n")
                self.process.stdin.flush()
            try:
                self.process.wait(timeout=STEP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._stderr.close()

    def describe(self) -> str:
        events = [
            {k: v for k, v in event.items() if k != "records"}
            | ({"n": len(event["records"])} if "records" in event else {})
            for event in self.events[-12:]
        ]
        tail = self.log.read_bytes()[-2500:].decode(errors="replace") if self.log.exists() else ""
        return (
            f"--- member {self.name} (pid {self.process.pid}, rc {self.process.poll()}), "
            f"assignment {sorted(self.assignment)}, last events {events}\n"
            f"stderr tail ({self.log}):\n{tail}"
        )


class MemberPool:
    """Starts members for one test, waits on their reports, kills them all at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.cond = threading.Condition()
        self.members: list[Member] = []

    def start(
        self,
        client: str,
        bootstrap: str,
        topic: str,
        group: str,
        *,
        session_ms: int = SESSION_MS,
        heartbeat_ms: int = HEARTBEAT_MS,
        instance_id: str | None = None,
        limit: int | None = None,
        assignors: list[str] | None = None,
        exit_at_limit: bool = False,
    ) -> Member:
        name = f"{client}-{len(self.members) + 1}"
        config = {
            "client": client,
            "bootstrap": bootstrap,
            "topic": topic,
            "group": group,
            "name": name,
            "session_ms": session_ms,
            "heartbeat_ms": heartbeat_ms,
            "instance_id": instance_id,
            "limit": limit,
            "assignors": assignors,
            "exit_at_limit": exit_at_limit,
        }
        if client == "kafkajs":
            command = ["node", str(KAFKAJS_DIR / "member.js"), json.dumps(config)]
        else:
            command = [sys.executable, str(Path(__file__).resolve()), json.dumps(config)]
        member = Member(self, name, command, self.log_dir / f"{name}.log")
        self.members.append(member)
        return member

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = STEP_S) -> float:
        """Block until ``predicate()`` holds (re-checked on every report); seconds waited."""
        began = time.monotonic()
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError(f"{what}: not reached in {timeout:.0f} s\n" + self.describe())
        return time.monotonic() - began

    def quiet(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Watch for ``seconds``: True if ``predicate()`` never became true (an observation
        window, for asserting that something does *not* happen)."""
        with self.cond:
            return not self.cond.wait_for(predicate, seconds)

    def describe(self) -> str:
        return "\n".join(member.describe() for member in self.members)

    def stop_all(self) -> None:
        for member in self.members:
            member.kill()
            member._stderr.close()


@pytest.fixture
def members(tmp_path: Path) -> Iterator[MemberPool]:
    pool = MemberPool(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def _kafkajs_installed() -> bool:
    manifest = KAFKAJS_CACHE / "node_modules" / "kafkajs" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"] == KAFKAJS_VERSION
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="session")
def kafkajs_modules() -> Path:
    """kafkajs 2.2.4 from the npm registry, installed once into a cache outside the package
    (``npm ci`` on ``kafkajs/package.json`` + lock); later runs reuse it.  Fails, never
    skips, when Node or the registry is not there: kafkajs interop is part of the suite."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found on PATH: the kafkajs interop tests need Node 20 + npm")
    with (KAFKAJS_CACHE.parent / f"{KAFKAJS_CACHE.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs install it once
        if not _kafkajs_installed():
            staging = Path(tempfile.mkdtemp(prefix=f"{KAFKAJS_CACHE.name}-"))
            for name in ("package.json", "package-lock.json"):
                shutil.copy(KAFKAJS_DIR / name, staging / name)
            command = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
            try:
                done = subprocess.run(
                    command, cwd=staging, capture_output=True, timeout=NPM_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"`{' '.join(command)}` did not finish in {NPM_TIMEOUT_S} s")
            if done.returncode != 0:
                pytest.fail(
                    f"could not install kafkajs {KAFKAJS_VERSION} from the npm registry "
                    f"(`{' '.join(command)}` in {staging}, exit {done.returncode}):\n"
                    + done.stderr.decode(errors="replace")[-3000:]
                )
            shutil.rmtree(KAFKAJS_CACHE, ignore_errors=True)
            staging.rename(KAFKAJS_CACHE)
        assert _kafkajs_installed(), f"no kafkajs {KAFKAJS_VERSION} in {KAFKAJS_CACHE}"
    return KAFKAJS_CACHE / "node_modules"


def split(group: Iterable[Member], partitions: int = PARTITIONS) -> bool:
    """Every member owns some partitions, no two the same one, and together all of them."""
    owned = [member.assignment for member in group]
    union = frozenset().union(*owned)
    return (
        all(owned)
        and sum(len(a) for a in owned) == len(union)
        and union == frozenset(range(partitions))
    )


def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=STEP_S)
    futures[topic].result(timeout=STEP_S)


def produce(
    bootstrap: str, topic: str, tag: str, per_partition: int = 5, partitions: int = PARTITIONS
) -> dict[tuple[int, int], str]:
    """``per_partition`` records on each partition; returns ``{(partition, offset): value}``."""
    from confluent_kafka import Producer

    written: dict[tuple[int, int], str] = {}
    failures: list[str] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            failures.append(str(error))
        else:
            written[(message.partition(), message.offset())] = message.value().decode()

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for index in range(per_partition):
        for partition in range(partitions):
            value = f"{tag}-{partition}-{index}"
            producer.produce(topic, value.encode(), partition=partition, on_delivery=delivered)
    assert producer.flush(STEP_S) == 0, "produce did not finish"
    assert not failures, failures
    return written


def keys(records: Iterable[Record]) -> list[tuple[int, int]]:
    return [(partition, offset) for partition, offset, _ in records]


def committed_keys(group: Iterable[Member]) -> set[tuple[int, int]]:
    return {key for member in group for key in keys(member.committed)}


def assert_exactly_once_commits(group: list[Member], produced: dict[tuple[int, int], str]) -> None:
    """Across all members: every produced record committed once, none twice, right values."""
    records = [record for member in group for record in member.committed]
    counts = Counter(keys(records))
    twice = sorted(key for key, n in counts.items() if n > 1)
    assert not twice, f"records committed by more than one member: {twice[:10]}"
    missing = sorted(set(produced) - set(counts))
    assert not missing, f"produced but never committed: {missing[:10]}"
    unknown = sorted(set(counts) - set(produced))
    assert not unknown, f"committed but never produced: {unknown[:10]}"
    wrong = [(p, o, v) for p, o, v in records if produced[(p, o)] != v]
    assert not wrong, f"values differ from what was produced: {wrong[:5]}"


def next_offsets(records: Iterable[Record]) -> dict[int, int]:
    """The offset to resume from per partition after committing these records."""
    result: dict[int, int] = {}
    for partition, offset, _ in records:
        result[partition] = max(result.get(partition, 0), offset + 1)
    return result


def first_offsets(records: Iterable[Record]) -> dict[int, int]:
    result: dict[int, int] = {}
    for partition, offset, _ in records:
        result.setdefault(partition, offset)
    return result


# --------------------------------------------------------------------------- the tests


# CI runs the lifecycle with two clients; the third (10 s) is in the slow tier.
@pytest.mark.parametrize(
    "client",
    [pytest.param(c, marks=pytest.mark.slow) if c == "aiokafka" else c for c in PYTHON_CLIENTS],
)
def test_group_lifecycle(
    client: str, kafka_broker_factory: Any, members: MemberPool, topic: str
) -> None:
    """Two members split 6 partitions, a third joins, one is SIGKILLed and its partitions
    move after the session timeout, then the whole group crashes and a restarted group
    resumes exactly from the committed offsets (twice: fully and partly committed)."""
    check_lifecycle(client, kafka_broker_factory, members, topic)


def test_kafkajs_group_lifecycle(
    kafkajs_modules: Path, kafka_broker_factory: Any, members: MemberPool, topic: str
) -> None:
    """The same with kafkajs 2.2.4 members (Node)."""
    check_lifecycle("kafkajs", kafka_broker_factory, members, topic)


def check_lifecycle(
    client: str, kafka_broker_factory: Any, members: MemberPool, topic: str
) -> None:
    broker = kafka_broker_factory.start(BROKER_SETTINGS)
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"

    def start(**kwargs: Any) -> Member:
        return members.start(client, broker.bootstrap, topic, group, **kwargs)

    # Two members: no overlap, together all six partitions.
    m1, m2 = start(), start()
    members.wait(lambda: split([m1, m2]), "two members split the partitions")
    produced = produce(broker.bootstrap, topic, "a")
    members.wait(lambda: committed_keys([m1, m2]) >= produced.keys(), "round a committed")

    # A third joins: a rebalance moves partitions to it.
    m3 = start()
    members.wait(lambda: split([m1, m2, m3]), "three members split the partitions")
    round_b = produce(broker.bootstrap, topic, "b")
    produced |= round_b
    members.wait(lambda: committed_keys([m1, m2, m3]) >= produced.keys(), "round b committed")
    assert set(keys(m3.committed)) & round_b.keys(), "the third member consumed nothing"

    # SIGKILL the third (no LeaveGroup): its partitions move once its session times out.
    killed_at = time.monotonic()
    m3.kill()
    members.wait(lambda: split([m1, m2]), "survivors took over the killed member's partitions")
    moved_after = time.monotonic() - killed_at
    print(f"\n[{client}] partitions of a SIGKILLed member moved after {moved_after:.2f} s")
    assert moved_after >= SESSION_MS / 2000, (
        f"partitions moved {moved_after:.2f} s after the kill, well before the "
        f"{SESSION_MS} ms session timeout: a dead member must stay until it expires"
    )
    produced |= produce(broker.bootstrap, topic, "c")
    members.wait(lambda: committed_keys([m1, m2, m3]) >= produced.keys(), "round c committed")
    assert_exactly_once_commits([m1, m2, m3], produced)

    # The whole group crashes with everything committed; a new member resumes after it.
    m1.kill()
    m2.kill()
    round_d = produce(broker.bootstrap, topic, "d")
    produced |= round_d
    m4 = start(limit=12)
    members.wait(lambda: m4.saw("limit"), "the restarted member committed 12 records")
    assert set(keys(m4.consumed)) <= round_d.keys(), "re-delivered records committed before"
    starts = {p: min(o for q, o in round_d if q == p) for p in range(PARTITIONS)}
    for partition, offset in first_offsets(m4.consumed).items():
        assert offset == starts[partition], (partition, offset, starts[partition])

    # It crashes having committed only part of round d: the next resumes exactly there.
    m4.kill()
    resume_from = starts | next_offsets(m4.committed)
    m5 = start()
    members.wait(lambda: committed_keys([m4, m5]) >= round_d.keys(), "round d committed")
    expected = sorted(key for key in round_d if key[1] >= resume_from[key[0]])
    assert sorted(keys(m5.consumed)) == expected, (
        "after a crash the group must resume exactly from the committed offsets",
        resume_from,
        first_offsets(m5.consumed),
    )
    assert_exactly_once_commits([m1, m2, m3, m4, m5], produced)
    m5.close()
    assert m5.saw("closed"), members.describe()


@pytest.mark.parametrize("assignors", [None, ["roundrobin"]], ids=["defaults", "roundrobin"])
def test_mixed_kafka_python_and_confluent_group(
    assignors: list[str] | None,
    kafka_broker_factory: Any,
    members: MemberPool,
    topic: str,
) -> None:
    """A kafka-python and a confluent-kafka member in one group split the partitions.

    Defaults: kafka-python offers (range, roundrobin), librdkafka "range,roundrobin", so the
    group must settle on "range"; the second case offers roundrobin only on both sides."""
    from kafka import KafkaAdminClient

    broker = kafka_broker_factory.start(BROKER_SETTINGS)
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"
    one = members.start("kafka-python", broker.bootstrap, topic, group, assignors=assignors)
    two = members.start("confluent-kafka", broker.bootstrap, topic, group, assignors=assignors)
    members.wait(lambda: split([one, two]), "kafka-python + confluent split the partitions")
    produced = produce(broker.bootstrap, topic, "m")
    members.wait(lambda: committed_keys([one, two]) >= produced.keys(), "all committed")
    assert_exactly_once_commits([one, two], produced)
    assert set(keys(one.committed)) == {k for k in produced if k[0] in one.assignment}
    assert set(keys(two.committed)) == {k for k in produced if k[0] in two.assignment}

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    assert described["protocol_type"] == "consumer"
    assert described["protocol_data"] == ("range" if assignors is None else "roundrobin")
    assert described["group_state"] == "Stable"
    assert len(described["members"]) == 2
    one.close()
    two.close()


# It waits out a session timeout twice (16 s): CI runs it with librdkafka, the slow tier with
# the two Python clients too.
@pytest.mark.parametrize(
    "client",
    [
        pytest.param("kafka-python", marks=pytest.mark.slow),
        "confluent-kafka",
        pytest.param("aiokafka", marks=pytest.mark.slow),
    ],
)
def test_static_member_restart_keeps_assignment_without_rebalance(
    client: str, kafka_broker_factory: Any, members: MemberPool, topic: str
) -> None:
    """Static members (group.instance.id): each in turn is SIGKILLed and restarted with the
    same instance id within the session timeout; it gets its partitions back, resumes from
    its commits, and the other member sees no rebalance (no revoke, no new assignment), not
    even when the dead instance's session would have expired."""
    session_ms = 6000
    broker = kafka_broker_factory.start(BROKER_SETTINGS)
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"

    def start(instance: str) -> Member:
        return members.start(
            client, broker.bootstrap, topic, group, instance_id=instance, session_ms=session_ms
        )

    current = {"a": start("static-a"), "b": start("static-b")}
    members.wait(lambda: split(current.values()), "two static members split the partitions")
    produced = produce(broker.bootstrap, topic, "s0")
    members.wait(lambda: committed_keys(members.members) >= produced.keys(), "s0 committed")

    for turn, (restarted, other) in enumerate([("a", "b"), ("b", "a")]):
        survivor = current[other]
        before = current[restarted].assignment
        seen = len(survivor.of("assign")) + len(survivor.of("revoke"))

        def rebalanced(survivor: Member = survivor, seen: int = seen) -> bool:
            return len(survivor.of("assign")) + len(survivor.of("revoke")) > seen

        killed_at = time.monotonic()
        current[restarted].kill()
        again = current[restarted] = start(f"static-{restarted}")
        members.wait(lambda again=again: bool(again.assignment), f"{restarted} restarted")
        back_after = time.monotonic() - killed_at
        print(f"\n[{client}] static member {restarted} back after {back_after:.2f} s")
        assert again.assignment == before, (before, again.assignment, members.describe())
        round_n = produce(broker.bootstrap, topic, f"s{turn + 1}")
        produced |= round_n
        want = set(produced)
        members.wait(lambda want=want: committed_keys(members.members) >= want, "committed")
        # Past the point where the dead instance's session would have expired.
        window = killed_at + (session_ms + 3 * HEARTBEAT_MS) / 1000 - time.monotonic()
        assert members.quiet(rebalanced, max(window, 0.0)), (
            f"the other member was rebalanced when static member {restarted} restarted\n"
            + members.describe()
        )
        assert again.assignment == before
        assert survivor.assignment | again.assignment == frozenset(range(PARTITIONS))
        # Resumed from the killed instance's commits: nothing it had committed came back.
        assert not set(keys(again.consumed)) & committed_keys(members.members[:-1])
    assert_exactly_once_commits(members.members, produced)


# --------------------------------------------------------------------------- the member


def _member_main(config: dict[str, Any]) -> None:
    """Run one Python member (see the module docstring for its line protocol)."""
    import logging

    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    lock = threading.Lock()

    def emit(kind: str, **fields: Any) -> None:
        with lock:
            sys.stdout.write(json.dumps({"e": kind, **fields}) + "\n")
            sys.stdout.flush()

    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "close":
                break
        stop.set()  # "close", or the test went away

    if not config["exit_at_limit"]:  # a run-to-the-limit member may have no stdin
        threading.Thread(target=read_stdin, daemon=True).start()
    tracker = _Tracker(config, emit, stop)
    {"kafka-python": _kafka_python, "aiokafka": _aiokafka, "confluent-kafka": _confluent}[
        config["client"]
    ](config, tracker, stop)
    emit("closed")


class _Tracker:
    """What a member reports after each poll; commits and respects the commit limit."""

    def __init__(
        self, config: dict[str, Any], emit: Callable[..., None], stop: threading.Event
    ) -> None:
        self.limit: int | None = config["limit"]
        self.exit_at_limit = config["exit_at_limit"]
        self.emit = emit
        self.stop = stop
        self.count = 0
        self.assignment: list[int] | None = None

    def assigned(self, partitions: Iterable[int]) -> None:
        current = sorted(partitions)
        if current != self.assignment:
            self.assignment = current
            self.emit("assigned", partitions=current)

    def take(self, records: list[Record]) -> list[Record]:
        """Report a polled batch; the records to commit now (the limit may cut it short)."""
        if not records:
            return []
        self.emit("consumed", records=records)
        if self.limit is None:
            return records
        return records[: max(self.limit - self.count, 0)]

    def committed(self, records: list[Record], error: BaseException | None) -> None:
        if error is not None:
            self.emit("commit_failed", error=repr(error))
            return
        self.count += len(records)
        self.emit("committed", records=records)
        if self.limit is not None and self.count >= self.limit:
            self.emit("limit")
            if self.exit_at_limit:
                self.stop.set()

    def batch(self, records: list[Record], commit: Callable[[dict[int, int]], None]) -> None:
        take = self.take(records)
        if take:
            try:
                commit(next_offsets(take))
            except Exception as error:
                self.committed(take, error)
            else:
                self.committed(take, None)


def _kafka_python(config: dict[str, Any], tracker: _Tracker, stop: threading.Event) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.structs import OffsetAndMetadata

    topic = config["topic"]
    extra: dict[str, Any] = {}
    if config["assignors"]:
        known = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
        extra["partition_assignment_strategy"] = [known[name] for name in config["assignors"]]
    if config["instance_id"]:
        extra["group_instance_id"] = config["instance_id"]
    consumer = KafkaConsumer(
        bootstrap_servers=config["bootstrap"],
        group_id=config["group"],
        client_id=config["name"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=config["session_ms"],
        heartbeat_interval_ms=config["heartbeat_ms"],
        **extra,
    )

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            tracker.emit("revoke", partitions=sorted(tp.partition for tp in revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            tracker.emit("assign", partitions=sorted(tp.partition for tp in assigned))

    def commit(offsets: dict[int, int]) -> None:
        consumer.commit(
            {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        )

    consumer.subscribe([topic], listener=Listener())
    # kafka-python's leader compares the metadata it assigned with against later metadata
    # and rejoins when they differ.  A fresh consumer may join before any metadata for its
    # subscription arrived: it assigns from an empty snapshot, then rejoins once metadata
    # comes, rebalancing everyone (a restarted static leader hits it every time).  Worse,
    # in kafka-python 3.0.12 that quick second join sometimes never completes client-side:
    # the SyncGroup answer (error 0, with the assignment) is logged as received, then no
    # assignment is installed and no heartbeat is sent, so the broker rightly expires the
    # member (about 1 run in 20 of a lone consumer).  A metadata round trip after
    # subscribe() fills the snapshot before the join and avoids both.
    consumer.topics()
    tracker.emit("ready")
    while not stop.is_set():
        batches = consumer.poll(timeout_ms=200)
        tracker.assigned(tp.partition for tp in consumer.assignment())
        records = [
            (tp.partition, r.offset, r.value.decode()) for tp, rs in batches.items() for r in rs
        ]
        tracker.batch(records, commit)
    consumer.close()


def _aiokafka(config: dict[str, Any], tracker: _Tracker, stop: threading.Event) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.abc import ConsumerRebalanceListener
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    topic = config["topic"]
    extra: dict[str, Any] = {}
    if config["assignors"]:
        known = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
        extra["partition_assignment_strategy"] = [known[name] for name in config["assignors"]]
    if config["instance_id"]:
        extra["group_instance_id"] = config["instance_id"]

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            tracker.emit("revoke", partitions=sorted(tp.partition for tp in revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            tracker.emit("assign", partitions=sorted(tp.partition for tp in assigned))

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=config["bootstrap"],
            group_id=config["group"],
            client_id=config["name"],
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=config["session_ms"],
            heartbeat_interval_ms=config["heartbeat_ms"],
            **extra,
        )
        consumer.subscribe([topic], listener=Listener())
        await consumer.start()
        tracker.emit("ready")
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                tracker.assigned(tp.partition for tp in consumer.assignment())
                records = [
                    (tp.partition, r.offset, r.value.decode())
                    for tp, rs in batches.items()
                    for r in rs
                ]
                take = tracker.take(records)
                if take:
                    offsets = {TopicPartition(topic, p): o for p, o in next_offsets(take).items()}
                    try:
                        await consumer.commit(offsets)
                    except Exception as error:
                        tracker.committed(take, error)
                    else:
                        tracker.committed(take, None)
        finally:
            await consumer.stop()

    asyncio.run(run())


def _confluent(config: dict[str, Any], tracker: _Tracker, stop: threading.Event) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    topic = config["topic"]
    settings: dict[str, Any] = {
        "bootstrap.servers": config["bootstrap"],
        "group.id": config["group"],
        "client.id": config["name"],
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": config["session_ms"],
        "heartbeat.interval.ms": config["heartbeat_ms"],
        "debug": "cgrp",
    }
    if config["assignors"]:
        settings["partition.assignment.strategy"] = ",".join(config["assignors"])
    if config["instance_id"]:
        settings["group.instance.id"] = config["instance_id"]
    consumer = Consumer(settings)

    def on_assign(_: Any, partitions: Any) -> None:
        tracker.emit("assign", partitions=sorted(tp.partition for tp in partitions))

    def on_revoke(_: Any, partitions: Any) -> None:
        tracker.emit("revoke", partitions=sorted(tp.partition for tp in partitions))

    def commit(offsets: dict[int, int]) -> None:
        result = consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
        errors = [tp.error for tp in result or [] if tp.error is not None]
        if errors:
            raise KafkaException(errors[0])

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    tracker.emit("ready")
    while not stop.is_set():
        messages = consumer.consume(num_messages=500, timeout=0.2)
        tracker.assigned(tp.partition for tp in consumer.assignment())
        records = []
        for message in messages:
            if message.error() is not None:
                tracker.emit("error", error=str(message.error()))
            else:
                records.append((message.partition(), message.offset(), message.value().decode()))
        tracker.batch(records, commit)
    consumer.close()


if __name__ == "__main__":
    _member_main(json.loads(sys.argv[1]))
