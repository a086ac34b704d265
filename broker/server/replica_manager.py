"""How a broker's partitions follow the metadata image (Kafka's ``ReplicaManager``).

One class, shared by the broker process (:class:`broker.server.broker.BrokerServer`) and the
deterministic simulation's broker (:class:`broker.sim.broker_node.SimBroker`), so that the
simulation runs this very glue rather than a copy of it: creating a partition and its log for
every local replica, adopting committed partition states (leader, follower, offline), the
leader's side of a follower fetch, the purgatory keys woken when a HW or a state moves, ISR
changes and their answers, the isr-expiration round, topic configs, and the logs that must go.

No IO framework and no transport here: the owner supplies the clock, the log lines, the
replica fetchers (``follow`` / ``unfollow``), the AlterPartition transport and a hook for the
group coordinator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from broker.core.metadata import (
    TOPIC_RESOURCE,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FenceBrokerRecord,
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    PartitionRegistration,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicImage,
)
from broker.core.partition import ACKS_ALL, NO_LEADER, IsrProposal, Partition, PartitionState
from broker.core.producer_state import BatchInfo, Duplicate, Reject
from broker.core.purgatory import Purgatory
from broker.core.replica_fetcher import (
    AppendRecords,
    Effect,
    PartitionFailed,
    ReplicaFetchState,
    ResetLog,
    Truncate,
)
from broker.core.replication import apply_follower_effect, check_follower_fetch
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.log.partition_log import NonContiguousAppendError, PartitionLog
from broker.log.segment import records_end
from client.protocol.errors import ErrorCode
from client.protocol.records import (
    NO_TIMESTAMP,
    BatchHeader,
    InvalidRecordError,
    ValidatedBatches,
    batch_payload,
    rebuild_batch,
    record_spans,
    validate_batches,
)

TopicPartition = tuple[str, int]
ALTER_PARTITION_RETRY_MS = 100  # after a transport failure (no answer is no refusal)
WHOLE_LOG = (1 << 63) - 1
MAX_BATCH = (1 << 31) - 1


def acks_key(key: TopicPartition) -> tuple[str, str, int]:
    """The purgatory key acks=all waiters watch: woken only when the HW (or the leadership)
    of the partition changes, not on every append."""
    return ("acks", key[0], key[1])


def delete_records_key(key: TopicPartition) -> tuple[str, str, int]:
    """The purgatory key a waiting DeleteRecords watches: woken when a follower reports a new
    log start offset, or the partition's state changes."""
    return ("delete-records", key[0], key[1])


# A partition contributes at most this much to one response (more only when its first batch is
# larger).  Measured with librdkafka: a consumer's broker thread parses one response while its
# application thread drains the previous one, so moderate responses keep both busy, whereas one
# huge response serialises them (6 partitions x 3 MB: 0.70x the mock's rate uncapped, 1.14x at
# 256 KiB; kafka-python and aiokafka unchanged).  Kafka likewise never returns more than one
# segment's worth per partition; clients only ever get "up to" their limits.
PARTITION_READ_SOFT_CAP_BYTES = 256 * 1024


class ReadBudget:
    """A fetch response's byte budget (``max_bytes``), shared by all its partitions."""

    __slots__ = ("remaining", "total")

    def __init__(self, max_bytes: int) -> None:
        self.remaining = max(max_bytes, 0)
        self.total = 0

    def take(self, size: int) -> None:
        self.total += size
        self.remaining = max(self.remaining - size, 0)


class LeaderAppend(NamedTuple):
    """The leader's verdict on one partition of a Produce request."""

    error: ErrorCode
    message: str | None = None
    base_offset: int = -1
    log_start_offset: int = -1
    # acks=all: (the offset after the batch, the leader epoch it was appended in) for the HW
    # to pass before the answer; also for a retried duplicate, whose original may be pending.
    required: tuple[int, int] | None = None
    # KIP-951: (leader id, leader epoch) with NOT_LEADER_OR_FOLLOWER.
    current_leader: tuple[int, int] | None = None
    duplicate: bool = False


class ReplicaFetchers(Protocol):
    """The follower side: one fetcher per source broker (``replica_fetchers.py``)."""

    def follow(self, partition: Partition) -> None: ...

    def unfollow(self, key: TopicPartition) -> None: ...


class ReplicaManager(ABC):
    """The partitions of one broker and the glue between the image, them, their logs and
    the purgatory.  The owner sets the attributes below (``_init_replicas``) and implements
    the abstract hooks."""

    node_id: int
    image: MetadataImage
    logs: LogManager
    replica_fetchers: ReplicaFetchers
    partitions: dict[TopicPartition, Partition]
    purgatory: Purgatory
    # Partitions adopt the image's states only once it has caught up with the metadata log
    # (Kafka's metadata loader): a restarted broker-only node replays old states first, and
    # following a deposed leader at an old epoch is unsafe.
    metadata_ready: bool

    def _init_replicas(self, node_id: int, image: MetadataImage, logs: LogManager) -> None:
        self.node_id = node_id
        self.image = image
        self.logs = logs
        self.partitions = {}
        self.purgatory = Purgatory()
        self.metadata_ready = False
        self._caught_up = False
        self._checkpointed_high_watermarks = logs.high_watermarks()

    # -- what the owner provides ------------------------------------------------------------

    @abstractmethod
    def now_ms(self) -> int:
        """The monotonic clock, in ms."""

    @abstractmethod
    def wall_now_ms(self) -> int:
        """The wall clock, in ms (log timestamps)."""

    @abstractmethod
    def info(self, message: str) -> None:
        """An INFO log line."""

    @abstractmethod
    def warning(self, message: str) -> None:
        """A WARNING log line."""

    @abstractmethod
    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        """The effective log config of a topic with these config overrides."""

    @abstractmethod
    def default_min_insync_replicas(self) -> int:
        """The broker's ``min.insync.replicas``."""

    @abstractmethod
    def send_alter_partition(self, proposal: IsrProposal) -> None:
        """Ask the controller for an ISR change; the answer comes back through
        :meth:`on_isr_change_answer` (after a success, once the committed state arrived or
        the wait for it ended)."""

    @abstractmethod
    def on_leadership_change(self, partition: Partition) -> None:
        """A partition's role was set up anew (the group coordinator follows leadership)."""

    # -- metadata ---------------------------------------------------------------------------

    def on_metadata_records(self, records: Sequence[MetadataRecord]) -> None:
        """Records just replayed into the image: act on what they changed here."""
        ineligible: dict[int, None] = {}
        for record in records:
            if isinstance(record, RemoveTopicRecord):
                self.drop_topic(record.topic_id)
            elif isinstance(record, FenceBrokerRecord | RegisterBrokerRecord) or (
                isinstance(record, BrokerRegistrationChangeRecord) and record.in_controlled_shutdown
            ):
                ineligible[record.broker_id] = None
        if self.metadata_ready and any(isinstance(r, PartitionRecord) for r in records):
            self.sync_partitions()
        configured = {
            r.resource_name
            for r in records
            if isinstance(r, ConfigRecord) and r.resource_type == TOPIC_RESOURCE
        }
        if configured:
            self.apply_topic_configs(configured)
        for broker_id in ineligible:
            # KIP-841: a fenced or stopping broker no longer holds back the HW as a joiner.
            for key, partition in self.partitions.items():
                if partition.on_broker_ineligible(broker_id):
                    self.complete_delayed(key)
                else:
                    self.complete_waiters(delete_records_key(key))  # nor the low watermark

    def on_metadata_caught_up(self) -> None:
        """The image has every record the controller had (first time): partitions adopt their
        states, logs loaded at start take their topics' configs (a broker-only node's image
        was empty then), and logs of topics deleted while we were down go.  Never earlier:
        an empty image knows no topic."""
        if self._caught_up:
            return
        self._caught_up = True
        self.metadata_ready = True
        self.sync_partitions()
        self.apply_topic_configs()
        self.drop_orphan_logs()

    def drop_topic(self, topic_id: str) -> None:
        doomed = [key for key, part in self.partitions.items() if str(part.topic_id) == topic_id]
        for key in doomed:
            self.replica_fetchers.unfollow(key)
            del self.partitions[key]
            self.complete_delayed(key)
        if doomed:
            self.logs.delete_topic(doomed[0][0])

    def drop_orphan_logs(self) -> None:
        """Logs of topics deleted while we were down (the image is the source of truth), of
        an earlier topic of the same name, and of partitions this broker is no replica of."""
        doomed: list[TopicPartition] = []
        for log_ in self.logs.logs():
            topic = self.image.topic(log_.topic)
            registration = topic.partitions.get(log_.partition) if topic is not None else None
            stale = topic is not None and log_.topic_id not in (None, topic.topic_id)
            if registration is None or stale or self.node_id not in registration.replicas:
                self.warning(f"{log_.topic}-{log_.partition}: not a replica here: deleting its log")
                doomed.append((log_.topic, log_.partition))
        self.logs.delete_partitions(doomed)

    def apply_topic_configs(self, topics: set[str] | None = None) -> None:
        """Topic configs changed (AlterConfigs): the hosted partitions of ``topics`` (None:
        all) take the new effective values, as at creation: the log's config
        (``log_config``) and ``min.insync.replicas`` (acks=all checks, HW gating)."""
        for key, partition in self.partitions.items():
            if topics is not None and partition.topic not in topics:
                continue
            topic = self.image.topic(partition.topic)
            log_ = self.logs.get(*key)
            if topic is None or log_ is None:
                continue
            log_.config = self.log_config(topic.configs)
            partition.min_insync_replicas = self.min_insync_replicas(topic)
            if partition.is_leader:
                partition.maybe_advance_high_watermark()
            self.complete_delayed(key)

    def min_insync_replicas(self, topic: TopicImage) -> int:
        value = topic.configs.get("min.insync.replicas")
        return int(value) if value is not None else self.default_min_insync_replicas()

    # -- partitions -------------------------------------------------------------------------

    def sync_partitions(self) -> None:
        """Create a Partition (and its log) for every local replica, then adopt each
        partition's committed state: become leader, follower, or offline."""
        now = self.now_ms()
        for topic in self.image.topics_by_name.values():
            for index, registration in topic.partitions.items():
                if self.node_id not in registration.replicas:
                    if (topic.name, index) in self.partitions:
                        self._drop_replica(topic.name, index)
                    continue
                key = (topic.name, index)
                partition = self.partitions.get(key)
                if partition is None:
                    partition = self._open_partition(topic, index)
                    self.partitions[key] = partition
                self._adopt(partition, registration, now)

    def _drop_replica(self, topic: str, index: int) -> None:
        """A reassignment moved this partition off this broker: stop following it, answer
        what waits on it (NOT_LEADER_OR_FOLLOWER), delete its log."""
        key = (topic, index)
        self.info(f"{topic}-{index}: no longer a replica here (reassigned): deleting its log")
        self.replica_fetchers.unfollow(key)
        partition = self.partitions.pop(key)
        was_leader = partition.is_leader
        partition.leader = NO_LEADER
        if was_leader:
            self.on_leadership_change(partition)  # a group coordinator unloads it
        self.complete_delayed(key)
        self._checkpointed_high_watermarks.pop(key, None)
        self.logs.delete_partition(topic, index)

    def _open_partition(self, topic: TopicImage, index: int) -> Partition:
        log_ = self.logs.get(topic.name, index)
        if log_ is not None and log_.topic_id not in (None, topic.topic_id):
            # The topic was deleted and created again under its name while we were down: the
            # log on disk is the old topic's and must never be served or elected as the new.
            self.warning(
                f"{topic.name}-{index}: the log on disk belongs to an earlier topic of that"
                f" name (id {log_.topic_id}, now {topic.topic_id}): deleting it"
            )
            self.logs.delete_partition(topic.name, index)
            self._checkpointed_high_watermarks.pop((topic.name, index), None)
            log_ = None
        if log_ is None:
            log_ = self.logs.create(
                topic.name,
                index,
                self.log_config(topic.configs),
                wall_ms=self.wall_now_ms(),
                topic_id=topic.topic_id,
            )
        else:
            log_.set_topic_id(topic.topic_id)  # a log from before partition.metadata
        partition = Partition(
            topic=topic.name,
            index=index,
            topic_id=topic.topic_id,
            local_broker_id=self.node_id,
            replicas=(),
            isr=(),
            leader=NO_LEADER,
            leader_epoch=-1,
            min_insync_replicas=self.min_insync_replicas(topic),
            partition_epoch=-1,
        )
        partition.log_end_offset = log_.log_end_offset
        checkpointed = self._checkpointed_high_watermarks.get((topic.name, index), 0)
        partition.high_watermark = min(checkpointed, log_.log_end_offset)
        return partition

    def _adopt(self, partition: Partition, registration: PartitionRegistration, now: int) -> None:
        """Apply a committed partition state if it is newer than what we have."""
        if registration.partition_epoch <= partition.partition_epoch:
            return
        state = PartitionState(
            registration.replicas,
            registration.isr,
            registration.leader,
            registration.leader_epoch,
            registration.partition_epoch,
            registration.leader_recovery_state,
        )
        key = (partition.topic, partition.index)
        changed = partition.apply_state(state, now)
        topic = self.image.topics_by_id.get(partition.topic_id)
        if topic is not None:
            partition.min_insync_replicas = self.min_insync_replicas(topic)
        if changed:
            log_ = self.partition_log(*key)
            if partition.is_leader:
                self.replica_fetchers.unfollow(key)
                log_.assign_epoch_start(partition.leader_epoch)
                self.info(
                    f"{key[0]}-{key[1]}: leader at epoch {partition.leader_epoch} (log end"
                    f" {partition.log_end_offset}, HW {partition.high_watermark},"
                    f" ISR {list(partition.isr)})"
                )
            elif partition.is_follower:
                self.replica_fetchers.follow(partition)
            else:
                self.replica_fetchers.unfollow(key)
            self.on_leadership_change(partition)
        if partition.is_leader:
            partition.maybe_advance_high_watermark()
        self.complete_delayed(key)

    def partition_log(self, topic: str, index: int) -> PartitionLog:
        log_ = self.logs.get(topic, index)
        assert log_ is not None, (topic, index)
        return log_

    def partition_logs_view(self) -> Mapping[TopicPartition, PartitionLog]:
        """The local logs by partition, for the replica fetchers (a view, built once)."""
        return self.logs.by_key()

    def high_watermarks(self) -> dict[TopicPartition, int]:
        return {key: partition.high_watermark for key, partition in self.partitions.items()}

    # -- the leader's side of appends and follower fetches ---------------------------------

    def append_as_leader(
        self, topic: str, index: int, records: bytes | None, acks: int
    ) -> LeaderAppend:
        """One partition of a Produce request: refused unless this broker leads it with
        enough of an ISR for ``acks``, the batch validated by its v2 header (never record by
        record), idempotence checked (a retried batch gets its original offsets, a bad
        sequence its error), then appended with the leader epoch and the HW moved."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            registration = self.image.topic(topic)
            known = registration.partitions.get(index) if registration is not None else None
            if known is None:
                return LeaderAppend(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            return LeaderAppend(
                ErrorCode.NOT_LEADER_OR_FOLLOWER,
                current_leader=(known.leader, known.leader_epoch),
            )
        error = partition.check_produce(acks)
        if error is not ErrorCode.NONE:
            if error is ErrorCode.NOT_LEADER_OR_FOLLOWER:
                # KIP-951: tell the client the leader we know, so it need not ask for metadata.
                return LeaderAppend(
                    error, current_leader=(partition.leader, partition.leader_epoch)
                )
            return LeaderAppend(error)
        log_ = self.partition_log(topic, index)
        if not records:
            return LeaderAppend(ErrorCode.CORRUPT_MESSAGE, "empty record set")
        try:
            batches = validate_batches(
                records, max_batch_bytes=log_.config.max_message_bytes, single_batch=True
            )
        except InvalidRecordError as problem:
            return LeaderAppend(problem.error_code, str(problem))
        header = batches.batches[0][1]
        if log_.compacted and not header.is_control:
            keyless = _keyless(records, header)
            if keyless is not None:
                return LeaderAppend(
                    ErrorCode.INVALID_RECORD,
                    f"Compacted topic cannot accept message without key in topic partition "
                    f"{topic}-{index}.",
                )
        window = log_.config.timestamp_window
        if window is not None and not header.is_control:
            now = self.wall_now_ms()
            before, after = window
            out_of_range = _timestamp_out_of_range(records, header, now - before, now + after)
            if out_of_range is not None:
                return LeaderAppend(ErrorCode.INVALID_TIMESTAMP, out_of_range)
        if header.producer_id >= 0:
            verdict = log_.producer_state.check(
                BatchInfo.of(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    header.record_count,
                    header.is_transactional,
                )
            )
            if isinstance(verdict, Duplicate):
                # The original may not be committed yet: an acks=all retry waits for it like
                # the original append would (else a lost leader could have acked an
                # uncommitted batch).
                end = (verdict.last_offset + 1, partition.leader_epoch)
                return LeaderAppend(
                    ErrorCode.NONE,
                    base_offset=verdict.first_offset,
                    log_start_offset=log_.log_start_offset,
                    required=end if acks == ACKS_ALL else None,
                    duplicate=True,
                )
            if isinstance(verdict, Reject):
                return LeaderAppend(
                    verdict.error_code, verdict.message, log_start_offset=log_.log_start_offset
                )
        codec = log_.config.stored_codec
        if codec is not None and codec != header.compression and not header.is_control:
            try:
                records, batches = _recompressed(records, header, codec, log_.config)
            except InvalidRecordError as problem:
                return LeaderAppend(problem.error_code, str(problem))
        buffer = bytearray(records)
        result = log_.append(
            buffer, batches.batches, leader_epoch=partition.leader_epoch, wall_ms=self.wall_now_ms()
        )
        self.on_appended(partition, len(buffer))
        return LeaderAppend(
            ErrorCode.NONE,
            base_offset=result.base_offset,
            log_start_offset=log_.log_start_offset,
            required=(result.last_offset + 1, partition.leader_epoch) if acks == ACKS_ALL else None,
        )

    def on_appended(self, partition: Partition, size_bytes: int) -> None:
        """After a local append: advance the HW and wake the fetches parked on the partition."""
        log_ = self.partition_log(partition.topic, partition.index)
        key = (partition.topic, partition.index)
        if partition.on_local_append(log_.log_end_offset, size_bytes):
            self.complete_delayed(key)  # the HW moved: acks=all waiters and consumers
        else:
            self.complete_waiters(key)  # followers' fetches (consumers need the HW)

    def on_follower_fetch(
        self,
        partition: Partition,
        replica_id: int,
        fetch_offset: int,
        replica_epoch: int,
        log_start_offset: int = -1,
    ) -> None:
        """The leader side of a follower's fetch: its state, the HW, maybe an ISR change, and
        its log start offset (a DeleteRecords may be waiting for it)."""
        registration = self.image.brokers.get(replica_id)
        eligible = (
            registration is not None
            and registration.active
            and (replica_epoch < 0 or replica_epoch == registration.broker_epoch)
        )
        outcome = partition.on_follower_fetch(
            replica_id,
            fetch_offset,
            replica_epoch,
            self.now_ms(),
            eligible,
            log_start_offset=log_start_offset,
        )
        if outcome.high_watermark_advanced:
            self.complete_delayed((partition.topic, partition.index))
        elif outcome.log_start_offset_changed:
            self.complete_waiters(delete_records_key((partition.topic, partition.index)))
        if outcome.proposal is not None:
            self.propose_isr_change(outcome.proposal)

    def read_for_follower(
        self,
        topic: str,
        part: Mapping[str, Any],
        budget: ReadBudget,
        replica_id: int,
        replica_epoch: int,
    ) -> tuple[ErrorCode, dict[str, Any]]:
        """One partition of a follower's fetch, on the leader: fenced by leader epoch, checked
        for divergence, read to the LEO.  ``part`` is the request's partition entry
        (``partition``, ``fetch_offset``, ``partition_max_bytes`` and, where the version has
        them, ``last_fetched_epoch``, ``current_leader_epoch``, ``log_start_offset``).

        The fetch offset is the follower's log end offset, so a clean fetch also moves its
        state here (caught-up time, ISR expansion, the HW).  Returns the error code and the
        response entry's other values (offsets, ``records``, ``diverging_epoch``)."""
        index = part["partition"]
        partition = self.partitions.get((topic, index))
        if partition is None:
            return self.not_hosted_error(topic, index), {}
        log_ = self.partition_log(topic, index)
        fetch_offset = part["fetch_offset"]
        check = check_follower_fetch(
            partition,
            log_,
            fetch_offset,
            part.get("last_fetched_epoch", -1),
            part.get("current_leader_epoch", -1),
        )
        if check.error is not ErrorCode.NONE or check.diverging is not None:
            values: dict[str, Any] = {}
            if check.error in (ErrorCode.NONE, ErrorCode.OFFSET_OUT_OF_RANGE):
                values = {
                    "high_watermark": partition.high_watermark,
                    "last_stable_offset": partition.high_watermark,
                    "log_start_offset": log_.log_start_offset,
                }
            if check.diverging is not None:
                epoch, end_offset = check.diverging
                values["diverging_epoch"] = {"epoch": epoch, "end_offset": end_offset}
            return check.error, values
        self.on_follower_fetch(
            partition, replica_id, fetch_offset, replica_epoch, part.get("log_start_offset", -1)
        )
        limit = min(max(part["partition_max_bytes"], 0), budget.remaining)
        data = log_.read(fetch_offset, limit, log_.log_end_offset, min_one_batch=budget.total == 0)
        budget.take(len(data))
        return ErrorCode.NONE, {
            "high_watermark": partition.high_watermark,
            "last_stable_offset": partition.high_watermark,
            "log_start_offset": log_.log_start_offset,
            "records": data,
        }

    # -- the follower's side: applying what a replica fetch brought -------------------------

    def apply_fetched(self, source_broker: int, state: ReplicaFetchState, effect: Effect) -> None:
        """One effect of a fetch response from ``source_broker``'s fetcher (``state``): append
        with the leader's offsets, truncate by leader epoch, start over at the leader's log
        start, or note a partition error.  A partition no longer followed there is dropped
        from the fetcher.  After a truncation the recovery points move (as Kafka's), so they
        are checkpointed at once."""
        partition = self.partitions.get(effect.key)
        if partition is None or partition.leader != source_broker:
            state.remove_partition(effect.key)
            return
        log_ = self.partition_log(*effect.key)
        name = f"{effect.key[0]}-{effect.key[1]}"
        if isinstance(effect, Truncate):
            self.info(
                f"{name}: truncating to offset {effect.offset} by leader epoch "
                f"(log end was {log_.log_end_offset})"
            )
        elif isinstance(effect, ResetLog):
            self.info(f"{name}: starting over at the leader's log start {effect.offset}")
        elif isinstance(effect, PartitionFailed):
            self.info(
                f"{name}: {effect.error.name} from leader {source_broker}, waiting for metadata"
            )

        def append(fetched: AppendRecords) -> int:
            return self._append_fetched(source_broker, state, fetched)

        high_watermark = partition.high_watermark
        if apply_follower_effect(effect, partition, log_, append):
            state.on_log_changed(effect.key, log_)
        if partition.high_watermark != high_watermark:
            # Consumers may read from a follower (KIP-392): its HW moved, wake their fetches.
            self.complete_waiters(effect.key)
        if isinstance(effect, Truncate | ResetLog):
            self.logs.checkpoint(self.high_watermarks())

    def _append_fetched(
        self, source_broker: int, state: ReplicaFetchState, effect: AppendRecords
    ) -> int:
        """Append the whole batches of a fetched chunk as they are; bytes written."""
        data = memoryview(effect.records)
        try:
            end = records_end(data, WHOLE_LOG)
            if end == 0:
                return 0
            chunk = data[:end]
            # The leader accepted these batches: message.max.bytes was its check.
            batches = validate_batches(chunk, max_batch_bytes=MAX_BATCH, from_client=False)
        except InvalidRecordError as problem:
            self.warning(f"corrupt batch from leader {source_broker} for {effect.key}: {problem}")
            return 0
        log_ = self.partition_log(*effect.key)
        try:
            log_.append_as_follower(
                chunk,
                batches.batches,
                wall_ms=self.wall_now_ms(),
                fetch_offset=effect.fetch_offset if effect.fetch_offset >= 0 else None,
            )
        except NonContiguousAppendError as problem:
            # A response for an offset we no longer hold (a truncation raced it): refetch.
            self.info(f"{effect.key[0]}-{effect.key[1]}: {problem}; fetching from the log end")
            state.on_log_changed(effect.key, log_)
            return 0
        return end

    def not_hosted_error(self, topic: str, index: int) -> ErrorCode:
        """For a partition with no replica here: NOT_LEADER_OR_FOLLOWER if the cluster has it
        (the client refreshes its metadata, finds the leader), else UNKNOWN_TOPIC_OR_PARTITION."""
        image = self.image.topic(topic)
        if image is not None and index in image.partitions:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    # -- the purgatory ----------------------------------------------------------------------

    def complete_delayed(self, key: TopicPartition) -> None:
        """The partition's HW or state changed: retry everything waiting on it."""
        self.complete_waiters(key)
        self.complete_waiters(acks_key(key))
        self.complete_waiters(delete_records_key(key))

    def complete_waiters(self, key: Hashable) -> None:
        for operation in self.purgatory.check_and_complete(key):
            operation.on_complete()

    # -- ISR changes (AlterPartition) -------------------------------------------------------

    def propose_isr_change(self, proposal: IsrProposal) -> None:
        current = self.partitions[(proposal.topic, proposal.index)].isr
        self.info(
            f"{proposal.topic}-{proposal.index}: proposing ISR {list(proposal.new_isr)}"
            f" (was {list(current)})"
        )
        self.send_alter_partition(proposal)

    def alter_partition_superseded(self, proposal: IsrProposal) -> bool:
        """No answer to ``proposal`` matters any more: a new state arrived with the metadata
        (or the partition is gone)."""
        partition = self.partitions.get((proposal.topic, proposal.index))
        return (
            partition is None
            or partition.pending_isr != proposal.new_isr
            or partition.partition_epoch != proposal.partition_epoch
        )

    def partition_epoch_at_least(self, key: TopicPartition, epoch: int) -> bool:
        partition = self.partitions.get(key)
        return partition is None or partition.partition_epoch >= epoch

    def on_isr_change_answer(self, proposal: IsrProposal, error: ErrorCode) -> None:
        """The controller's answer to a proposal (after a success: the committed state
        arrived, or the wait for it ended)."""
        key = (proposal.topic, proposal.index)
        partition = self.partitions.get(key)
        if partition is None:
            return
        if error is not ErrorCode.NONE:
            self.info(
                f"{proposal.topic}-{proposal.index}: ISR change to {list(proposal.new_isr)}"
                f" refused: {error.name}"
            )
            # Only a refusal reverts: after a success the joiner stays in the maximal ISR
            # until the committed state arrives (a larger set only delays the HW).
            partition.on_isr_change_failed(proposal)
        if partition.is_leader:
            partition.maybe_advance_high_watermark()
        self.complete_delayed(key)

    def expire_isr_round(self, replica_lag_time_max_ms: int) -> None:
        """Kafka's isr-expiration task (run every replica.lag.time.max.ms / 2): propose
        dropping followers that fell behind; a HW a lagging joiner held may move."""
        now = self.now_ms()
        for key, partition in list(self.partitions.items()):
            high_watermark = partition.high_watermark
            log_ = self.logs.get(*key)
            if log_ is not None:
                # Forgets ended transactions below the HW (a follower never asks otherwise).
                log_.last_stable_offset(high_watermark)
            proposal = partition.maybe_shrink(now, replica_lag_time_max_ms)
            if partition.high_watermark != high_watermark:
                self.complete_delayed(key)
            if proposal is not None:
                self.propose_isr_change(proposal)


def _recompressed(
    records: bytes, header: BatchHeader, codec: int, config: LogConfig
) -> tuple[bytes, ValidatedBatches]:
    """Kafka's LogValidator for a topic whose ``compression.type`` names another codec than
    the batch's: its records compressed anew (``uncompressed``: not at all), producer fields,
    timestamps and offsets deltas kept.  The new batch must still fit ``max.message.bytes``."""
    payload = batch_payload(records, header)
    level = config.compression_level
    rebuilt = rebuild_batch(header, payload, header.record_count, codec=codec, level=level)
    checked = validate_batches(rebuilt, max_batch_bytes=config.max_message_bytes, single_batch=True)
    return rebuilt, checked


def _timestamp_out_of_range(
    records: bytes, header: BatchHeader, earliest: int, latest: int
) -> str | None:
    """Kafka's LogValidator.validateTimestamp for each record of a CreateTime batch: the
    message for the first one outside [earliest, latest] (a record without a timestamp,
    -1, passes)."""
    single = header.record_count == 1 and header.base_timestamp == header.max_timestamp
    if single and earliest <= header.base_timestamp <= latest:
        return None  # its one timestamp is the base and the max
    try:
        spans = record_spans(batch_payload(records, header), header)
    except InvalidRecordError as error:
        return str(error)
    for span in spans:
        if span.timestamp != NO_TIMESTAMP and not earliest <= span.timestamp <= latest:
            return (
                f"Timestamp {span.timestamp} of message with offset "
                f"{span.offset - header.base_offset} is out of range. The timestamp should be "
                f"within [{earliest}, {latest}]"
            )
    return None


def _keyless(records: bytes | bytearray | memoryview, header: BatchHeader) -> int | None:
    """The offset delta of the first record without a key, if any: a compacted topic refuses
    such a batch (Kafka's LogValidator); the one place a produce reads records one by one."""
    try:
        payload = batch_payload(records, header)
        for span in record_spans(payload, header):
            if span.key is None:
                return span.offset - header.base_offset
    except InvalidRecordError:
        return 0
    return None
