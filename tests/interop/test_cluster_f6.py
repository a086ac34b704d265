"""F6 on real processes: the leader cut off from the controller (``../shared/reference/
replication.md`` §3 F6, P2, P5, P10), through the fault-injecting TCP proxy of
``tests/support/fault_proxy.py``.

A controller and 3 brokers, RF=3, min.insync.replicas=2.  Broker 1 reaches the controller
only through the proxy (its ``controller.quorum.voters`` names the proxy), and it leads the
test partition (replica assignment ``[1, 2, 3]``).  100 acks=all records are acked; then the
proxy is cut, so broker 1 still serves clients and still believes it leads, but it can
neither heartbeat, nor learn new metadata, nor get an ISR change committed.  Expected:

- the controller fences broker 1 and elects a new leader from the ISR at a higher leader
  epoch (seen in the Metadata of the two other brokers);
- acks=all writes sent to broker 1 are never acknowledged, nor is an idempotent retry of one
  (a duplicate, not appended twice): its followers left it, and it cannot shrink the ISR
  (its AlterPartition never reaches the controller), so its HW stays where it was, even
  after it proposed the shrink; a write parked in its purgatory across the heal is answered
  NOT_LEADER_OR_FOLLOWER as soon as it learns the new epoch;
- acks=1 writes to broker 1 may be acked by it; consumers reading from it see nothing above
  its stalled HW;
- acks=all through the new leader goes on;
- after the heal broker 1 learns the new epoch, truncates its stale tail by leader epoch,
  follows and rejoins the ISR; nothing it appended while cut off survives on any replica, every
  acks=all-acked value is stored once at dense offsets, and the three logs are byte-identical
  below the HW.

Two ways to cut: ``reset`` (the broker's controller connections are reset and new ones refused:
the controller fences it at once, on connection loss) and ``blackhole`` (the connections go
silent: the controller fences it when ``broker.session.timeout.ms`` passes without heartbeat,
and the requests held in the blackhole arrive late, after the heal).  Nothing waits on the
clock: every wait is a bounded observation of cluster state (``wait_until``).

``test_f6_idempotent_writer_through_the_cut`` adds an idempotent confluent producer writing
through the cut and the heal, and checks its history the same way.  (In every run so far
librdkafka stayed on the cut-off leader, which still answers its Metadata with the old
image, until the heal; the test holds either way.)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from broker.cluster_launcher import (
    CONTROLLER_NODE_ID,
    LOCAL_SETTINGS,
    LocalCluster,
    NodeProcess,
    broker_settings,
)
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection
from tests.interop.test_cluster_faults import (
    ACK_TIMEOUT_S,
    CLUSTER,
    POLL_S,
    PartitionState,
    address,
    assert_replicas_identical,
    check_history,
    describe_on,
    fetch_from,
    list_offset,
    log_end,
    produce_raw,
    produce_values,
    segment_bytes,
    wait_for_full_isr,
    wait_for_state,
    wait_until,
)
from tests.support.fault_proxy import CutMode, FaultProxy
from tests.support.history import (
    ConfluentWriter,
    History,
    TailingReader,
    metadata,
    read_all,
    records_of,
)

PROXIED = 1  # the broker whose controller link runs through the proxy; it leads partition 0
BEFORE = 100  # acks=all records acked before the cut (offsets 0-99)
DURING = 100  # acks=all records acked through the new leader while broker 1 is cut off
AFTER = 50  # acks=all records acked after the heal
STALE_TIMEOUT_MS = 1500  # the Produce timeout of the acks=all writes sent to the cut-off leader
# Answers an acks=all write to the cut-off leader may get; success is never one of them.
NOT_ACKED = frozenset(
    {
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.FENCED_LEADER_EPOCH,
    }
)
# The Produce timeout of an acks=all write parked at the cut-off leader across the heal: it
# must be answered (NOT_LEADER_OR_FOLLOWER) as soon as the broker learns it no longer leads.
PARKED_TIMEOUT_MS = 8000
# How long the writer test holds the cut at most, when neither the writer fails over nor the
# cut-off leader tries to shrink its ISR (5 s of replica.lag.time.max.ms, checked every 2.5 s).
WRITER_CUT_S = 10.0
# The controller's log line for each way of fencing.
FENCED_BY = {
    "reset": b"broker %d (epoch %d) disconnected: fenced",
    "blackhole": b"fenced brokers [%d]: no heartbeat within the session timeout",
}


# ---- a cluster with one broker behind the proxy -------------------------------------------


@dataclass
class ProxiedCluster(LocalCluster):
    """A :class:`LocalCluster` whose broker ``proxied`` reaches the controller only through a
    :class:`FaultProxy` (created once the controller listens, before that broker starts; the
    controller keeps its port across restarts, so the proxy target stays right)."""

    proxied: int = PROXIED
    proxy: FaultProxy | None = None

    def start_broker(self, node_id: int) -> NodeProcess:
        if node_id == self.proxied and node_id not in self.nodes:
            assert self.controller is not None
            self.proxy = FaultProxy(("127.0.0.1", self.controller.port), name="f6-proxy")
            data_dir = self.base_dir / f"broker-{node_id}"
            data_dir.mkdir(parents=True, exist_ok=True)
            port = self._port(node_id - 1)
            settings = broker_settings(node_id, data_dir, port, self.controller.port)
            settings |= LOCAL_SETTINGS | self.settings
            settings["controller.quorum.voters"] = f"{CONTROLLER_NODE_ID}@{self.proxy.address}"
            self.nodes[node_id] = NodeProcess("broker", node_id, data_dir, settings, self.on_line)
        return super().start_broker(node_id)

    def close(self) -> None:
        """Heal first, so the proxied broker's controlled shutdown reaches the controller;
        then stop the nodes (by PID) and the proxy."""
        try:
            if self.proxy is not None:
                self.proxy.heal()
        finally:
            try:
                self.stop()
            finally:
                if self.proxy is not None:
                    self.proxy.close()


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedCluster]:
    cluster = ProxiedCluster(Path(tmp_path_factory.mktemp("odradek-f6")), 3, 0, dict(CLUSTER))
    try:
        yield cluster.start()
    finally:
        cluster.close()


def create_led_by_proxied(cluster: ProxiedCluster, topic: str) -> dict[int, PartitionState]:
    """One partition on brokers [1, 2, 3] (so broker 1 leads it), known to every broker.

    CreateTopics returns once the controller committed the topic; each broker learns it from
    its metadata fetch a little later (broker 1's through the proxy), and until then answers
    UNKNOWN_TOPIC_OR_PARTITION, which ``describe_on`` takes for a failure: wait for every
    broker to know the topic before watching its ISR."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 3})
    new = NewTopic(topic, num_partitions=1, replica_assignment=[[PROXIED, 2, 3]])
    for future in admin.create_topics([new], operation_timeout=10).values():
        future.result(timeout=15)

    def known_everywhere() -> bool:
        return all(
            metadata(address(node), topic).topics[0].error_code == ErrorCode.NONE
            for node in cluster.nodes.values()
        )

    wait_until(known_everywhere, f"every broker knowing {topic}")
    state = wait_for_full_isr(cluster, topic)
    assert state[0].leader == PROXIED, state
    return state


# ---- writes to the cut-off leader ---------------------------------------------------------


def produce_frame(topic: str, records: bytes, acks: int, timeout_ms: int) -> bytes:
    body = {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": timeout_ms,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": records}]}],
    }
    return headers.encode_request(0, 9, 1, "f6-stale-writer", body)


def plain_batch(value: bytes) -> bytes:
    return build_batch([value], timestamp_ms=int(time.time() * 1000))


def init_producer_id(node: NodeProcess) -> tuple[int, int]:
    """A producer id and epoch for raw idempotent batches (from a live broker)."""
    with RawConnection(address(node)) as conn:
        body = {"transactional_id": None, "transaction_timeout_ms": 60_000}
        response = conn.request(22, 1, body)
    assert response.error_code == ErrorCode.NONE, ErrorCode(response.error_code).name
    return int(response.producer_id), int(response.producer_epoch)


def send_stale_acks_all(
    node: NodeProcess,
    topic: str,
    writes: list[tuple[bytes, bytes]],
    history: History,
    timeout_ms: int,
    *,
    retry: bool = False,
) -> list[tuple[bytes, RawConnection]]:
    """Send an acks=all Produce of each (value, batch) to ``node``, each on its own
    connection, without waiting for the answers (so the waits overlap); see
    :func:`collect_stale_acks_all`.  ``retry``: the values were attempted before."""
    sent: list[tuple[bytes, RawConnection]] = []
    try:
        for value, records in writes:
            if not retry:
                history.attempted(0, value)
            connection = RawConnection(address(node))
            sent.append((value, connection))
            connection.send_bytes(produce_frame(topic, records, -1, timeout_ms))
    except BaseException:
        for _, connection in sent:
            connection.close()
        raise
    return sent


def collect_stale_acks_all(
    sent: list[tuple[bytes, RawConnection]], history: History
) -> list[ErrorCode | None]:
    """The answers to :func:`send_stale_acks_all` (None: the connection broke).  None may be
    a success (P10, F6).  Only NOT_ENOUGH_REPLICAS says "not appended"; after any other
    answer the write may be in the cut-off leader's log (it must be truncated later)."""
    answers: list[ErrorCode | None] = []
    try:
        for value, connection in sent:
            try:
                _, response = headers.decode_response(0, 9, connection.read_frame())
            except (OSError, ConnectionError) as error:
                history.failed(0, value, type(error).__name__, indeterminate=True)
                answers.append(None)
                continue
            answer = response.responses[0].partition_responses[0]
            error_code = ErrorCode(answer.error_code)
            answers.append(error_code)
            if error_code is ErrorCode.NONE:
                history.acked(0, value, answer.base_offset)
            else:
                definite = error_code is ErrorCode.NOT_ENOUGH_REPLICAS
                history.failed(0, value, error_code.name, indeterminate=not definite)
            assert error_code in NOT_ACKED, (
                f"the cut-off leader answered {error_code.name} to an acks=all write of "
                f"{value!r} (offset {answer.base_offset})"
            )
    finally:
        for _, connection in sent:
            connection.close()
    return answers


def stale_acks_all(
    node: NodeProcess,
    topic: str,
    writes: list[tuple[bytes, bytes]],
    history: History,
    *,
    retry: bool = False,
) -> list[ErrorCode | None]:
    """acks=all writes to the cut-off leader, answered while it is still cut off."""
    sent = send_stale_acks_all(node, topic, writes, history, STALE_TIMEOUT_MS, retry=retry)
    return collect_stale_acks_all(sent, history)


def plain(values: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(value, plain_batch(value)) for value in values]


def stale_acks_1(node: NodeProcess, topic: str, values: list[bytes], history: History) -> list[int]:
    """acks=1 writes to the cut-off leader: it may ack them (they are not committed); in the
    history they are indeterminate, and they must be gone once it has rejoined."""
    offsets = []
    for value in values:
        history.attempted(0, value)
        answer = produce_raw(node, topic, 0, value, acks=1)
        error = ErrorCode(answer.error_code)
        outcome = f"acks=1 {error.name} at offset {answer.base_offset} from the cut-off leader"
        history.failed(0, value, outcome, indeterminate=True)
        if error is ErrorCode.NONE:
            offsets.append(answer.base_offset)
    return offsets


def read_stale_leader(node: NodeProcess, topic: str, history: History, high_watermark: int) -> None:
    """Consumer Fetches from the cut-off leader: everything it serves lies below its HW (P2),
    which has not moved since the cut (P5: it cannot commit what only it holds)."""
    below = fetch_from(node, topic, 0, 0)
    assert below.error_code == ErrorCode.NONE, ErrorCode(below.error_code).name
    for offset, value in records_of(below.records):
        history.read(0, offset, value, below.high_watermark, "cut-off leader")
    at_hw = fetch_from(node, topic, 0, high_watermark)
    assert at_hw.error_code == ErrorCode.NONE, ErrorCode(at_hw.error_code).name
    assert records_of(at_hw.records) == [], "the cut-off leader served records at its HW"
    beyond = fetch_from(node, topic, 0, high_watermark + 2)  # below its LEO, above its HW
    assert beyond.error_code in (ErrorCode.NONE, ErrorCode.OFFSET_OUT_OF_RANGE), beyond
    assert records_of(beyond.records) == [], "the cut-off leader served records above its HW"
    assert below.high_watermark == at_hw.high_watermark == high_watermark
    assert list_offset(node, topic, 0).offset == high_watermark


def stored_values(node: NodeProcess, topic: str) -> list[bytes]:
    """Every value in ``node``'s log of partition 0, read from its segments on disk."""
    return [value for _, value in records_of(segment_bytes(node, topic, 0))]


def logged(node: NodeProcess, pattern: bytes) -> bytes | None:
    """The first line of ``node``'s log containing ``pattern`` (stripped), if any yet."""
    return next((line.strip() for line in list(node.output) if pattern in line), None)


def wait_for_line(node: NodeProcess, pattern: bytes, what: str) -> bytes:
    """Wait (bounded) for a line of ``node``'s log: lines reach us through a pipe drained by a
    thread, so one the node wrote a moment ago may not be in ``output`` yet."""
    return wait_until(lambda: logged(node, pattern), what)


def observe_until(check: Callable[[], bool], timeout_s: float) -> bool:
    """Observe ``check()`` every ``POLL_S`` until it holds (True) or ``timeout_s`` passed
    (False): a bounded observation that is not a failure when it times out."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        pause.wait(POLL_S)
    return True


PROPOSAL = re.compile(rb"(\S+): proposing ISR \[([\d, ]*)\] \(was \[([\d, ]*)\]\)")


def shrink_proposed(node: NodeProcess, topic: str, since: int) -> bytes | None:
    """The first ISR shrink ``node`` proposed for partition 0 of ``topic`` in its log lines
    from index ``since`` on (a shrink may drop one follower first, then the other)."""
    for line in list(node.output)[since:]:
        match = PROPOSAL.search(line)
        if match is None or match.group(1) != b"%s-0" % topic.encode():
            continue
        new, old = (set(re.findall(rb"\d+", group)) for group in match.group(2, 3))
        if new < old:
            return line.strip()
    return None


def broker_ids_on(node: NodeProcess, topic: str) -> set[int]:
    """The live (unfenced) brokers in ``node``'s Metadata."""
    return {broker.node_id for broker in metadata(address(node), topic).brokers}


# ---- the scenario -------------------------------------------------------------------------


def run_f6(cluster: ProxiedCluster, topic: str, mode: CutMode) -> None:
    proxy = cluster.proxy
    assert proxy is not None
    stale = cluster.nodes[PROXIED]
    others = [node for node in cluster.nodes.values() if node.node_id != PROXIED]
    others_bootstrap = ",".join(address(node) for node in others)
    history = History()

    before = create_led_by_proxied(cluster, topic)
    first = [b"before-%03d" % i for i in range(BEFORE)]
    assert produce_values(cluster.bootstrap, topic, first, history) == list(range(BEFORE))
    wait_until(
        lambda: all(log_end(n, topic, 0) == BEFORE for n in cluster.nodes.values()),
        f"{BEFORE} records on every broker",
    )
    assert list_offset(stale, topic, 0).offset == BEFORE
    tail = TailingReader(lambda: [address(n) for n in others], topic, 0, history)
    tail.start()
    try:
        # ---- the cut: the controller fences broker 1 and elects another leader
        cut_line = len(stale.output)
        proxy.cut(mode)
        cut_at = time.monotonic()
        after = wait_for_state(
            cluster,
            topic,
            lambda s: s[0].leader not in (-1, PROXIED) and PROXIED not in s[0].isr,
            "a new leader without broker 1, on brokers 2 and 3",
            exclude=frozenset({PROXIED}),
        )
        failover_s = time.monotonic() - cut_at
        assert after[0].leader_epoch > before[0].leader_epoch, (before, after)
        assert after[0].leader in before[0].isr
        assert after[0].isr == before[0].isr - {PROXIED}
        for node in others:
            wait_until(lambda n=node: PROXIED not in broker_ids_on(n, topic), "broker 1 fenced")
        assert cluster.controller is not None
        registered = logged(stale, b"registered with the controller: broker epoch ")
        assert registered is not None
        broker_epoch = int(registered.rsplit(b" ", 1)[1])
        fenced = FENCED_BY[mode] % ((PROXIED, broker_epoch) if mode == "reset" else PROXIED)
        wait_for_line(cluster.controller, fenced, f"the controller's fencing of broker 1 ({mode})")
        # Broker 1 learns nothing: it still believes it leads at the old epoch.
        assert describe_on(stale, topic)[0] == before[0]

        # ---- writes and reads at the cut-off leader
        stale_all = [b"stale-all-%d" % i for i in range(5)]
        stale_acks_all(stale, topic, plain(stale_all), history)
        # An idempotent write, then its retry (the same batch): the duplicate is not
        # appended again, and it is not acknowledged either (it waits for the same HW).
        producer_id, producer_epoch = init_producer_id(others[0])
        idempotent = build_batch(
            [b"stale-idempotent"],
            timestamp_ms=int(time.time() * 1000),
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=0,
        )
        stale_acks_all(stale, topic, [(b"stale-idempotent", idempotent)], history)
        appended = log_end(stale, topic, 0)
        assert appended == BEFORE + len(stale_all) + 1, appended
        stale_acks_all(stale, topic, [(b"stale-idempotent", idempotent)], history, retry=True)
        assert log_end(stale, topic, 0) == appended, "a duplicate was appended again"
        stale_one = [b"stale-one-%d" % i for i in range(5)]
        acked_by_stale = stale_acks_1(stale, topic, stale_one, history)
        assert acked_by_stale == list(range(appended, appended + len(stale_one)))
        read_stale_leader(stale, topic, history, BEFORE)

        # ---- acks=all through the new leader goes on, at the offsets after the committed ones
        during = [b"during-%03d" % i for i in range(DURING)]
        offsets = produce_values(others_bootstrap, topic, during, history)
        assert offsets == list(range(BEFORE, BEFORE + DURING))

        # ---- broker 1 tries to shrink the ISR (to itself): the change never commits
        wait_until(
            lambda: shrink_proposed(stale, topic, since=cut_line),
            "the cut-off leader proposing to shrink its ISR",
        )
        stale_all_late = [b"stale-all-late-%d" % i for i in range(3)]
        stale_acks_all(stale, topic, plain(stale_all_late), history)
        read_stale_leader(stale, topic, history, BEFORE)
        assert describe_on(stale, topic)[0] == before[0]
        for node in others:
            assert describe_on(node, topic) == after
        stale_end = log_end(stale, topic, 0)
        assert stale_end == acked_by_stale[-1] + 1 + len(stale_all_late), stale_end
        stale_values = [*stale_all, b"stale-idempotent", *stale_one, *stale_all_late]
        assert set(stale_values) <= set(stored_values(stale, topic))  # appended, uncommitted
        stale_values.append(b"stale-parked")

        if mode == "reset":
            assert proxy.refused > 0, "broker 1 never tried to reach the controller again"
        else:
            assert proxy.active_connections > 0, "the frozen connections were closed"

        # ---- the heal: broker 1 truncates by epoch, follows and rejoins; a write parked in
        # its purgatory across the heal is answered as soon as it learns it no longer leads
        parked = send_stale_acks_all(
            stale, topic, plain([b"stale-parked"]), history, PARKED_TIMEOUT_MS
        )
        parked_end = stale_end + 1
        wait_until(lambda: log_end(stale, topic, 0) == parked_end, "the parked write appended")
        proxy.heal()
        healed_at = time.monotonic()
        (parked_answer,) = collect_stale_acks_all(parked, history)
        parked_s = time.monotonic() - healed_at
        assert parked_answer is ErrorCode.NOT_LEADER_OR_FOLLOWER, parked_answer
        state = wait_for_full_isr(cluster, topic, timeout_s=20.0)
        rejoin_s = time.monotonic() - healed_at
        assert (state[0].leader, state[0].leader_epoch) == (after[0].leader, after[0].leader_epoch)
        truncated = b"%s-0: truncating to offset %d by leader epoch (log end was %d)" % (
            topic.encode(),
            BEFORE,
            parked_end,
        )
        wait_for_line(stale, truncated, f"broker 1 truncating to {BEFORE} by leader epoch")
        last = [b"after-%03d" % i for i in range(AFTER)]
        offsets = produce_values(cluster.bootstrap, topic, last, history)
        assert offsets == list(range(BEFORE + DURING, BEFORE + DURING + AFTER))
        total = BEFORE + DURING + AFTER
        wait_until(lambda: tail.next_offset >= total, "the tailing reader at the log end")
    finally:
        tail.stop()

    # ---- the checks
    read_all(cluster.bootstrap, topic, [0], history)
    report = history.check()
    print(
        f"F6 ({mode}): failover {failover_s:.3f} s; after the heal: parked write answered "
        f"in {parked_s:.3f} s, ISR full in {rejoin_s:.3f} s; "
        f"{report}; tail reader errors {dict(tail.errors)}"
    )
    for line in list(stale.output):
        if topic.encode() in line and b"retrying" not in line:
            print("  broker 1:", line.decode(errors="replace").rstrip())
    print(f"  stale writes: {history.failures | history.indeterminates}")
    assert report.ok, str(report)
    assert report.acked == total and report.stored == total, str(report)
    assert report.indeterminate_stored == 0, "a write from the cut-off window survived"
    expected = first + during + last
    for node in cluster.nodes.values():
        values = stored_values(node, topic)
        assert not set(stale_values) & set(values), f"broker {node.node_id} kept a stale write"
        assert values == expected, f"broker {node.node_id}: log differs from the acked values"
    assert_replicas_identical(cluster, topic, [0])


def test_f6_leader_cut_off_from_the_controller_reset(cluster: ProxiedCluster, topic: str) -> None:
    """The proxy resets broker 1's controller connections and refuses new ones: the controller
    fences it at once (connection loss), and it truncates and rejoins after the heal."""
    run_f6(cluster, topic, "reset")


def test_f6_leader_cut_off_from_the_controller_blackhole(
    cluster: ProxiedCluster, topic: str
) -> None:
    """The proxy freezes broker 1's controller connections: the controller fences it when the
    session times out; its heartbeat, metadata fetch and AlterPartition held in the blackhole
    arrive after the heal, late and stale, and change nothing."""
    run_f6(cluster, topic, "blackhole")


# The blackhole variant waits out the session timeout: the slow tier runs it (CI's budget).
@pytest.mark.parametrize("mode", ["reset", pytest.param("blackhole", marks=pytest.mark.slow)])
def test_f6_idempotent_writer_through_the_cut(
    cluster: ProxiedCluster, topic: str, mode: CutMode
) -> None:
    """An idempotent acks=all confluent producer writes to partition 0 through the cut and the
    heal.  While the cut lasts it may keep sending to broker 1, which is alive and answers its
    Metadata requests with the stale image (leader 1, the old epoch, an equal epoch the client
    accepts): it then times out and retries the same batches there, and those duplicates must
    not be acked either.  Or it may ask brokers 2 or 3 and fail over; which one happens
    depends on the client.  After the heal broker 1 answers NOT_LEADER_OR_FOLLOWER, so the
    writer moves to the new leader anyway.  The checker then finds every acked value once, at
    the offset its ack named, and nothing of the cut-off window in any log."""
    assert cluster.proxy is not None
    stale = cluster.nodes[PROXIED]
    history = History()
    before = create_led_by_proxied(cluster, topic)
    writer = ConfluentWriter(
        ",".join(address(node) for node in cluster.nodes.values() if node.node_id != PROXIED),
        topic,
        [0],
        history,
        **{"socket.timeout.ms": 2500, "request.timeout.ms": 2500},
    )
    writer.start()
    try:
        assert writer.wait_for_acks(300, ACK_TIMEOUT_S), "no steady stream before the cut"
        cut_line = len(stale.output)
        cluster.proxy.cut(mode)
        cut_at = time.monotonic()
        after = wait_for_state(
            cluster,
            topic,
            lambda s: s[0].leader not in (-1, PROXIED) and PROXIED not in s[0].isr,
            "a new leader without broker 1",
            exclude=frozenset({PROXIED}),
        )
        # From here on brokers 2 and 3 follow the new leader: an ack for a record produced
        # later comes from the new leader (broker 1's HW cannot move any more).
        elected_at = time.monotonic()
        assert after[0].leader_epoch > before[0].leader_epoch
        # Keep the cut a while: until the writer failed over by itself, or until broker 1,
        # holding records its followers never fetched, tried to shrink the ISR to itself; at
        # most WRITER_CUT_S (the client may as well sit waiting on broker 1 all along).
        held = observe_until(
            lambda: (
                writer.acked(0, elected_at) >= 100
                or shrink_proposed(stale, topic, since=cut_line) is not None
            ),
            WRITER_CUT_S,
        )
        cut_state = (
            f"new leader seen {elected_at - cut_at:.3f} s after the cut, held {held}, "
            f"sent {writer.sent}, acked {writer.acked()}, "
            f"broker 1 LEO {log_end(stale, topic, 0)} HW {list_offset(stale, topic, 0).offset}"
        )
        acked_during_cut = writer.acked(0, elected_at)
        cluster.proxy.heal()
        healed_at = time.monotonic()
        assert writer.wait_for_acks(100, ACK_TIMEOUT_S, partition=0, after=healed_at)
        wait_for_full_isr(cluster, topic, timeout_s=20.0)
    finally:
        writer.stop()
    read_all(cluster.bootstrap, topic, [0], history)
    truncations = [line for line in list(stale.output) if b"by leader epoch" in line]
    print(
        f"F6 writer ({mode}): {acked_during_cut} acks through the new leader during the cut "
        f"({cut_state}); "
        f"broker 1's truncations {truncations}"
    )
    check_history(history, writer)
    assert_replicas_identical(cluster, topic, [0])
