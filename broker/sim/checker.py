"""Invariants after every step, and the history checks at the end (replication.md §2).

The checker reads the real state of every process (``Partition`` objects, the bytes of each
``PartitionLog``, the controller's image) after each step; nodes tell it only what state cannot
show (a produce answered, a record consumed).  Each replica's log is mirrored incrementally in a
:class:`Shadow` (batch bytes and a hash chain per offset, read back from the log itself).

*Committed* records: when a leader's high watermark passes an offset, its batch there becomes
the committed one (with the time and the ISR at commit); every replica's records below its own
HW, and every later leader's log, must hold exactly that batch.  Losing one is *excused* only:

- F10: the new leader lost it itself in a power-loss crash after it was committed (its
  unsynced tail; "last replica standing" included);
- F11: the new leader was elected uncleanly (the controller's image says RECOVERING).

Excused losses are listed, never silent.  Every other loss, change or reuse is a violation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.core.metadata import NO_LEADER, RECOVERING, MetadataImage
from broker.core.partition import ACKS_ALL
from broker.log.partition_log import PartitionLog
from broker.sim.messages import CONTROLLER, ProduceRequest, ProduceResponse, TopicPartition
from broker.sim.shadow import (
    Commit,
    Excuse,
    Replica,
    Shadow,
    batches_of,
    digest,
    fingerprint,
    value_of,
)
from client.protocol.errors import ErrorCode
from client.protocol.records import parse_header

if TYPE_CHECKING:
    from broker.sim.broker_node import SimBroker
    from broker.sim.cluster import Cluster


class Checker:
    """Collects violations (safety), notes (excused losses, liveness facts) as it goes."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.violations: list[str] = []
        self.notes: list[str] = []
        self.shadows: dict[tuple[int, TopicPartition], Shadow] = {}
        self.committed: dict[TopicPartition, dict[int, Commit]] = {}
        self.excuses: dict[TopicPartition, list[Excuse]] = {}
        self.seen: dict[tuple[TopicPartition, int, int], tuple[bytes, bytes]] = {}
        self.writers: dict[tuple[TopicPartition, int], int] = {}
        self.power_losses: dict[tuple[int, TopicPartition], list[tuple[int, int]]] = {}
        self.power_loss_crashes: dict[int, int] = {}  # broker -> time of its last power loss
        self.unclean_epochs: dict[TopicPartition, set[int]] = {}
        self.controller_epochs: dict[TopicPartition, tuple[int, int]] = {}
        self.controller_isr: dict[TopicPartition, tuple[int, ...]] = {}
        # a produced batch (as sent) -> the highest leader epoch stamped on it when acked
        self.acked_epochs: dict[bytes, int] = {}
        # every success a broker answered: (time, broker, partition, acks, its leader epoch,
        # offset), and where each leader's log ended when it began to serve
        self.acks: list[tuple[int, int, TopicPartition, int, int, int]] = []
        self.term_starts: dict[tuple[TopicPartition, int], int] = {}

    def fail(self, text: str) -> None:
        message = f"[{self.cluster.world.now_ms} ms] {text}"
        self.violations.append(message)
        self.cluster.world.log("CHECKER", "VIOLATION " + text)

    def note(self, text: str) -> None:
        self.notes.append(f"[{self.cluster.world.now_ms} ms] {text}")
        self.cluster.world.log("checker", text)

    # -- per step -------------------------------------------------------------------------

    def check_step(self, host_name: str | None) -> None:
        """After one event of ``host_name`` (None: a world event, check everything)."""
        if host_name is None:
            for broker_id, broker in self.cluster.live_brokers():
                self._check_broker(broker_id, broker)
        elif host_name in self.cluster.broker_of_host:
            broker_id = self.cluster.broker_of_host[host_name]
            process = self.cluster.broker_process(broker_id)
            if process is not None:
                self._check_broker(broker_id, process)
            return
        elif host_name != CONTROLLER:
            return  # a client or the network: no replica state changed
        controller = self.cluster.controller_process()
        if controller is not None:
            self._check_image(controller.image)

    def _check_broker(self, broker_id: int, broker: SimBroker) -> None:
        incarnation = broker.host.incarnation
        for key, partition in broker.partitions.items():
            log = broker.logs.get(*key)
            assert log is not None
            shadow = self.shadows.get((broker_id, key))
            if shadow is None or shadow.incarnation != incarnation:
                shadow = self._reopened(broker_id, key, shadow, incarnation, log)
                self.shadows[(broker_id, key)] = shadow
                replica = Replica(broker_id, key, shadow, log, partition)
            else:
                replica = Replica(broker_id, key, shadow, log, partition)
                self._follow_log(replica)
            self._check_partition(replica, broker.listening)

    def _reopened(
        self,
        broker_id: int,
        key: TopicPartition,
        old: Shadow | None,
        incarnation: int,
        log: PartitionLog,
    ) -> Shadow:
        """A new incarnation: read the whole log; compare with what the last one held."""
        shadow = Shadow(incarnation)
        self._reread(Replica(broker_id, key, shadow, log, None))
        if old is None:
            return shadow
        common = min(old.end, shadow.end)
        for offset in range(max(old.start, shadow.start), common):
            if old.at(offset) != shadow.at(offset):
                self.fail(
                    f"{key}: broker {broker_id} came back with a different record at "
                    f"{offset} (crash recovery changed data)"
                )
                break
        if shadow.end < old.end:
            crashed_at = self.power_loss_crashes.get(broker_id)
            if crashed_at is None:
                self.fail(
                    f"{key}: broker {broker_id} lost offsets {shadow.end}..{old.end - 1} "
                    "in a process crash (written bytes must survive kill -9)"
                )
            else:
                losses = self.power_losses.setdefault((broker_id, key), [])
                losses.append((crashed_at, shadow.end))
                self.note(
                    f"{key}: broker {broker_id} lost its unsynced tail "
                    f"{shadow.end}..{old.end - 1} to power loss"
                )
        return shadow

    def _follow_log(self, replica: Replica) -> None:
        shadow, log, key = replica.shadow, replica.log, replica.key
        current = fingerprint(log)
        if id(log) == shadow.log_id and current == shadow.fingerprint:
            return
        end = log.log_end_offset
        if id(log) != shadow.log_id or log.log_start_offset != shadow.start:
            self._reread(replica)
        elif end < shadow.end:
            del shadow.batches[end - shadow.start :]
            del shadow.chains[end - shadow.start :]
            if end < shadow.high_watermark and not self._excused(key, end):
                self.fail(
                    f"{key}: broker {replica.broker_id} truncated to {end}, below its high "
                    f"watermark {shadow.high_watermark} (committed records cut)"
                )
        elif end > shadow.end:
            self._read(replica, shadow.end)
        else:
            self._reread(replica)
        shadow.log_id = id(log)
        shadow.fingerprint = current

    def _reread(self, replica: Replica) -> None:
        shadow, log = replica.shadow, replica.log
        shadow.start = log.log_start_offset
        shadow.batches.clear()
        shadow.chains.clear()
        self._read(replica, shadow.start)
        shadow.log_id = id(log)
        shadow.fingerprint = fingerprint(log)

    def _read(self, replica: Replica, offset: int) -> None:
        shadow = replica.shadow
        for batch in batches_of(replica.log, offset):
            header = parse_header(batch)
            expected = shadow.end
            if header.base_offset != expected or header.record_count != 1:
                self.fail(
                    f"{replica.key}: broker {replica.broker_id} holds a batch at "
                    f"{header.base_offset} ({header.record_count} records) where {expected} "
                    "was next (P3)"
                )
            previous = shadow.chains[-1] if shadow.chains else b""
            chain = digest(previous, batch)
            shadow.batches.append(batch)
            shadow.chains.append(chain)
            self._check_unique(
                replica, header.base_offset, header.partition_leader_epoch, batch, chain
            )

    def _check_unique(
        self, replica: Replica, offset: int, epoch: int, batch: bytes, chain: bytes
    ) -> None:
        """P5: one batch per (offset, leader epoch), one writer per epoch; P4: equal batches
        at equal (offset, epoch) have equal logs up to there."""
        key, broker_id, partition = replica.key, replica.broker_id, replica.partition
        batch_digest = digest(batch)
        seen = self.seen.get((key, offset, epoch))
        if seen is None:
            self.seen[(key, offset, epoch)] = (batch_digest, chain)
            if partition is not None and partition.is_leader and partition.leader_epoch == epoch:
                writer = self.writers.setdefault((key, epoch), broker_id)
                if writer != broker_id:
                    self.fail(
                        f"{key}: brokers {writer} and {broker_id} both appended as "
                        f"leader in epoch {epoch} (P5)"
                    )
            return
        if seen[0] != batch_digest:
            self.fail(
                f"{key}: broker {broker_id} holds another batch at offset {offset} "
                f"epoch {epoch} than seen before (P5: single writer per epoch)"
            )
        elif seen[1] != chain:
            self.fail(
                f"{key}: broker {broker_id} holds the batch at offset {offset} epoch "
                f"{epoch} but a different log before it (P4: log matching)"
            )

    def _check_partition(self, replica: Replica, listening: bool) -> None:
        broker_id, key, shadow, log = replica.broker_id, replica.key, replica.shadow, replica.log
        partition = replica.partition
        assert partition is not None
        hw, leo = partition.high_watermark, partition.log_end_offset
        if leo != log.log_end_offset:
            self.fail(f"{key}: broker {broker_id} partition LEO {leo} != log {log.log_end_offset}")
        if hw > leo:
            self.fail(f"{key}: broker {broker_id} HW {hw} above its LEO {leo} (P7)")
        if partition.leader_epoch < shadow.leader_epoch:
            self.fail(
                f"{key}: broker {broker_id} leader epoch went back "
                f"{shadow.leader_epoch} -> {partition.leader_epoch} (P6)"
            )
        if partition.partition_epoch < shadow.partition_epoch:
            self.fail(f"{key}: broker {broker_id} partition epoch went back (P6)")
        entries = log.leader_epoch_cache.entries
        if entries != shadow.epochs:
            covered = min(shadow.epochs_end, log.log_end_offset)
            gone = [e for e in shadow.epochs if e.start_offset < covered and e not in entries]
            if gone:
                self.fail(
                    f"{key}: broker {broker_id} epoch cache lost {gone} for offsets it "
                    f"still holds: {shadow.epochs} -> {entries} (P6)"
                )
            shadow.epochs = entries
        shadow.epochs_end = log.log_end_offset
        shadow.leader_epoch = partition.leader_epoch
        shadow.partition_epoch = partition.partition_epoch
        # A restarting broker replays old metadata (old leaderships among it) before it listens:
        # it leads, for clients and followers, once it serves.
        serving = partition.is_leader and listening
        term = (shadow.incarnation, partition.leader_epoch) if serving else None
        if term is not None and term != shadow.leader_term:
            self.term_starts[(key, partition.leader_epoch)] = shadow.end
            self._check_leader_log(broker_id, key, shadow, partition.leader_epoch)
        elif term is not None and hw < shadow.high_watermark:
            self.fail(f"{key}: leader {broker_id} HW went back {shadow.high_watermark} -> {hw}")
        shadow.leader_term = term
        if hw > shadow.high_watermark:
            self._passed(replica, shadow.high_watermark, hw)
        shadow.high_watermark = hw

    def _passed(self, replica: Replica, low: int, high: int) -> None:
        """The HW moved over [low, high): a leader commits there, a follower must agree."""
        broker_id, key, shadow, partition = (
            replica.broker_id,
            replica.key,
            replica.shadow,
            replica.partition,
        )
        assert partition is not None
        committed = self.committed.setdefault(key, {})
        now = self.cluster.world.now_ms
        for offset in range(low, high):
            batch = shadow.at(offset)
            commit = committed.get(offset)
            if batch is None:
                self.fail(f"{key}: broker {broker_id} HW {high} over offset {offset} it lacks")
                return
            if commit is None:
                epoch = parse_header(batch).partition_leader_epoch
                if partition.is_leader and self.excused_record(key, offset, epoch) is None:
                    committed[offset] = Commit(batch, now, partition.leader_epoch, partition.isr)
            elif commit.batch != batch:
                role = "leader" if partition.is_leader else "follower"
                epoch = parse_header(batch).partition_leader_epoch
                if self.excused_record(key, offset, epoch) is not None:
                    self.note(
                        f"{key}: {role} {broker_id} of epoch {partition.leader_epoch} "
                        f"passed its own record at {offset}, superseded by an excused "
                        "election"
                    )
                    return
                self.fail(
                    f"{key}: {role} {broker_id} has another record than the committed "
                    f"one at {offset} below its HW {high} (P1/P3)"
                )
                return

    def _check_leader_log(
        self, broker_id: int, key: TopicPartition, shadow: Shadow, epoch: int
    ) -> None:
        """The leader of ``epoch`` must hold every record committed in earlier epochs (P1),
        unless excused (F10, F11).  (One a later leader committed it need not: a broker may
        learn of its election after its successor's.)"""
        committed = self.committed.get(key, {})
        missing = next(
            (
                o
                for o in sorted(committed)
                if committed[o].epoch < epoch and shadow.at(o) != committed[o].batch
            ),
            None,
        )
        unclean = epoch in self.unclean_epochs.get(key, set())
        if missing is None and unclean:
            missing = shadow.end  # what older epochs write beyond its log end is doomed too
        earlier = [e for e in self.excuses.get(key, []) if e.epoch == epoch]
        if missing is None or any(e.offset <= missing for e in earlier):
            return
        reason = None
        if earlier:
            # The same election, judged again on a log that turned out shorter (the elected
            # broker's restart showed a power loss its old shadow did not): it loses more.
            reason = earlier[0].reason
        elif unclean:
            reason = f"F11 unclean election of broker {broker_id} at epoch {epoch}"
        else:
            since = committed[missing].time_ms if missing in committed else 0
            for time_ms, end in self.power_losses.get((broker_id, key), []):
                if time_ms > since and end <= missing:
                    reason = f"F10 power loss of broker {broker_id}'s unsynced tail"
        if reason is None:
            self.fail(
                f"{key}: broker {broker_id} leads at epoch {epoch} without the committed "
                f"record at {missing} (its log ends at {shadow.end}) (P1)"
            )
            return
        doomed = [o for o in sorted(committed) if o >= missing and committed[o].epoch < epoch]
        lost = tuple(value_of(committed[o].batch) for o in doomed)
        excuse = Excuse(missing, epoch, reason, self.cluster.world.now_ms, lost)
        self.excuses.setdefault(key, []).append(excuse)
        for offset in doomed:
            del committed[offset]
        self.note(
            f"{key}: EXCUSED LOSS of committed offsets {missing}.. ({len(lost)} records): {reason}"
        )

    def _excused(self, key: TopicPartition, offset: int) -> bool:
        """Some committed records at or below ``offset`` were lost (excusably) already."""
        return any(excuse.offset <= offset for excuse in self.excuses.get(key, []))

    def excused_record(self, key: TopicPartition, offset: int, epoch: int) -> Excuse | None:
        """The excuse for losing a record written at ``offset`` in leader epoch ``epoch``:
        a later leader (F10/F11) started without the committed records from there."""
        for excuse in self.excuses.get(key, []):
            if excuse.offset <= offset and epoch < excuse.epoch:
                return excuse
        return None

    # -- the controller -------------------------------------------------------------------

    def _check_image(self, image: MetadataImage) -> None:
        for topic in image.topics_by_name.values():
            for index, part in topic.partitions.items():
                key = (topic.name, index)
                if part.leader != NO_LEADER and part.leader not in part.isr:
                    self.fail(f"{key}: controller leader {part.leader} not in ISR {part.isr} (P8)")
                if not part.isr or not set(part.isr) <= set(part.replicas):
                    self.fail(f"{key}: controller ISR {part.isr} invalid (P8)")
                epochs = (part.leader_epoch, part.partition_epoch)
                old = self.controller_epochs.get(key, (-1, -1))
                if epochs[0] < old[0] or epochs[1] < old[1]:
                    self.fail(f"{key}: controller epochs went back {old} -> {epochs} (P6/P12)")
                if epochs[0] > old[0]:
                    if part.leader_recovery_state == RECOVERING:
                        self.unclean_epochs.setdefault(key, set()).add(part.leader_epoch)
                    self._check_election(key, part.leader, part.leader_epoch)
                self.controller_epochs[key] = epochs
                previous = self.controller_isr.get(key, part.isr)
                for joined in [b for b in part.isr if b not in previous]:
                    self._check_joiner(key, joined, part.leader)
                self.controller_isr[key] = part.isr

    def _check_election(self, key: TopicPartition, leader: int, epoch: int) -> None:
        """F3/P9: the controller elects only a replica that holds every committed record."""
        shadow = self.shadows.get((leader, key))
        if leader != NO_LEADER and self.cluster.broker_process(leader) is not None and shadow:
            self._check_leader_log(leader, key, shadow, epoch)

    def _check_joiner(self, key: TopicPartition, joiner: int, leader_id: int) -> None:
        """P9: a broker joins the ISR only holding the committed records below the leader's
        high watermark."""
        if leader_id == NO_LEADER:
            return
        leader = self.cluster.broker_process(leader_id)
        member = self.cluster.broker_process(joiner)
        if leader is None or member is None or key not in leader.partitions:
            return
        high_watermark = leader.partitions[key].high_watermark
        shadow = self.shadows.get((joiner, key))
        committed = self.committed.get(key, {})
        for offset in range(high_watermark):
            commit = committed.get(offset)
            if commit is not None and (shadow is None or shadow.at(offset) != commit.batch):
                self.fail(
                    f"{key}: broker {joiner} joined the ISR without the committed record "
                    f"at {offset} (leader HW {high_watermark}) (P9)"
                )
                return

    # -- hooks from the nodes -------------------------------------------------------------

    def produce_answered(
        self,
        broker: SimBroker,
        key: TopicPartition,
        request: ProduceRequest,
        response: ProduceResponse,
    ) -> None:
        """P10: an acks=all success means min(min.insync.replicas, RF) replicas hold it."""
        if response.error_code is not ErrorCode.NONE:
            return
        offset = response.base_offset
        partition = broker.partitions[key]
        self.acks.append(
            (
                self.cluster.world.now_ms,
                broker.node_id,
                key,
                request.acks,
                partition.leader_epoch,
                offset,
            )
        )
        if request.acks != ACKS_ALL:
            return
        log = broker.logs.get(*key)
        assert log is not None
        own = next(batches_of(log, offset, 1), None) if offset < log.log_end_offset else None
        holders = [broker.node_id] if own is not None else []
        for other_id in self.cluster.broker_ids:  # a crashed one's disk counts (kill -9)
            shadow = self.shadows.get((other_id, key))
            here = shadow is not None and own is not None and shadow.at(offset) == own
            if other_id != broker.node_id and here:
                holders.append(other_id)
        if own is not None:
            epoch = parse_header(own).partition_leader_epoch
            self.acked_epochs[request.records] = max(
                epoch, self.acked_epochs.get(request.records, -1)
            )
        needed = partition.effective_min_isr()
        if len(holders) < needed and not self.power_loss_crashes:
            self.fail(
                f"{key}: acks=all success for offset {offset} held only by {holders}, "
                f"fewer than {needed} replicas (P10)"
            )

    def consumed(
        self, partition: int, offset: int, value: bytes, batch: bytes, *, leader: int, hw: int
    ) -> None:
        """P2: a consumer sees only committed records."""
        key = (self.cluster.topic, partition)
        if offset >= hw:
            self.fail(f"{key}: consumer got offset {offset} at or above the HW {hw} (P2)")
        commit = self.committed.get(key, {}).get(offset)
        if commit is None or commit.batch != batch:
            epoch = parse_header(batch).partition_leader_epoch
            if self.excused_record(key, offset, epoch) is not None:
                self.note(f"{key}: consumer read {value!r} at {offset}, since lost (excused)")
                return
            what = "an uncommitted" if commit is None else "another"
            self.fail(
                f"{key}: consumer read {what} record {value!r} at {offset} from broker "
                f"{leader} (P2)"
            )

    def consumer_error(
        self, consumer: Any, partition: int, offset: int, leader: int, response: Any
    ) -> None:
        """P9: never "no data" for offsets that exist in the cluster."""
        key = (self.cluster.topic, partition)
        if response.error_code is ErrorCode.OFFSET_OUT_OF_RANGE:
            if not self._excused(key, offset):
                self.fail(
                    f"{key}: broker {leader} answered OFFSET_OUT_OF_RANGE for offset "
                    f"{offset}, which exists in the cluster (P9)"
                )
            consumer.positions[partition] = 0

    def on_power_loss(self, broker_id: int) -> None:
        self.power_loss_crashes[broker_id] = self.cluster.world.now_ms
