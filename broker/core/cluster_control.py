"""The controller's broker lifecycle and partition-state commands (KRaft, without ELR).

Kafka's ``ClusterControlManager`` + ``BrokerHeartbeatManager`` + ``ReplicationControlManager``
+ ``PartitionChangeBuilder`` in one sans-IO class.  Like :class:`~broker.core.controller.
Controller`, a command validates against the :class:`MetadataImage` and returns records and a
result; it never changes the image.  The caller persists the records and replays them **before
the next command** (two commands over one unreplayed image would, for instance, hand out one
producer-id block twice).

Rules (``../shared/reference/replication.md``, KIP-631, KIP-841, KIP-903, KIP-704):

- a broker epoch is the metadata offset of its ``RegisterBrokerRecord`` (unique, increasing);
  a new registration is fenced until a heartbeat shows the broker applied that record;
- a broker whose heartbeats stop for ``broker.session.timeout.ms``, or whose registering
  connection closes, is fenced: it leaves every ISR it is not the last member of, and the
  partitions it led elect the first live ISR replica in assignment order (leader -1 if none;
  with ``unclean.leader.election.enable`` any live replica, ISR [it], RECOVERING);
- controlled shutdown moves its leaderships and ISR memberships away first, and the broker is
  told to shut down once it leads nothing and every active broker has the records;
- every partition change raises the partition epoch, every leader change the leader epoch.

Soft state (heartbeat times, reported metadata offsets) is not persisted: a restarted
controller gives every registered broker a fresh session (:meth:`ClusterControl.reset_sessions`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from broker.core.metadata import (
    NO_LEADER,
    RECOVERED,
    RECOVERING,
    BrokerRegistration,
    BrokerRegistrationChangeRecord,
    FenceBrokerRecord,
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    PartitionRegistration,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    TopicImage,
    UnfenceBrokerRecord,
    UnregisterBrokerRecord,
)
from client.protocol.errors import ErrorCode

UNCLEAN_LEADER_ELECTION_ENABLE = "unclean.leader.election.enable"
UNKNOWN_BROKER_EPOCH = -1
PRODUCER_ID_BLOCK_SIZE = 1000  # Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE
MAX_PRODUCER_ID = 2**63 - 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Kafka's controller keys and defaults (attribute = key with ``.`` → ``_``)."""

    broker_session_timeout_ms: int = 9000
    unclean_leader_election_enable: bool = False
    leader_imbalance_per_broker_percentage: int = 10


@dataclass(frozen=True, slots=True)
class ClusterResult(Generic[T]):
    """Records to persist and replay, a typed answer, and warnings the shell logs at ERROR
    (unclean elections)."""

    records: list[MetadataRecord]
    result: T
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    error_code: ErrorCode
    broker_epoch: int = UNKNOWN_BROKER_EPOCH


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    """BrokerHeartbeatResponse's fields; the state after the result's records."""

    error_code: ErrorCode
    is_caught_up: bool = False
    is_fenced: bool = True
    should_shut_down: bool = False


@dataclass(frozen=True, slots=True)
class AlterPartitionResult:
    """On success the committed state the leader adopts; None on error."""

    error_code: ErrorCode
    registration: PartitionRegistration | None = None


@dataclass(frozen=True, slots=True)
class ProducerIdsResult:
    error_code: ErrorCode
    producer_id_start: int = -1
    producer_id_len: int = 0


PREFERRED_ELECTION = 0
UNCLEAN_ELECTION = 1
"""ElectLeaders election types (Kafka's ``ElectionType``: PREFERRED, UNCLEAN)."""


@dataclass(frozen=True, slots=True)
class ElectionResult:
    """One partition's answer to ElectLeaders."""

    partition: int
    error_code: ErrorCode
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Election:
    leader: int
    isr: tuple[int, ...]
    unclean: bool = False


def elect_leader(
    replicas: Sequence[int],
    isr: tuple[int, ...],
    is_live: Callable[[int], bool],
    unclean_allowed: bool,
) -> Election:
    """Kafka's ``PartitionChangeBuilder.electLeader`` without ELR.

    The first replica in assignment order that is in the ISR and live.  Otherwise, if unclean
    election is allowed, the first live replica with ISR [it]; otherwise no leader and the ISR
    unchanged (its last member stays: "last replica standing").
    """
    for broker in replicas:
        if broker in isr and is_live(broker):
            return Election(broker, isr)
    if unclean_allowed:
        for broker in replicas:
            if is_live(broker):
                return Election(broker, (broker,), unclean=True)
    return Election(NO_LEADER, isr)


@dataclass(slots=True)
class BrokerSession:
    """Soft state of one registration (Kafka's ``BrokerHeartbeatState``)."""

    broker_epoch: int
    last_heartbeat_ms: int
    metadata_offset: int = -1
    controlled_shutdown_offset: int = -1


# (replicas, adding replicas, removing replicas) of a partition (KIP-455).
Reassignment = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _settle(
    replicas: tuple[int, ...],
    isr: tuple[int, ...],
    leader: int,
    adding: tuple[int, ...],
    removing: tuple[int, ...],
    *,
    is_live: Callable[[int], bool],
) -> tuple[tuple[int, ...], tuple[int, ...], int, tuple[int, ...], tuple[int, ...]]:
    """Complete a reassignment once every target replica is in the ISR (Kafka's
    ``isReassignmentComplete``): the replicas become the target, the removed ones leave the
    ISR, and a leader being removed hands over to the first live target replica in the ISR.
    Anything else is returned as it came."""
    if not (adding or removing):
        return replicas, isr, leader, adding, removing
    target = tuple(r for r in replicas if r not in removing)
    if not set(target) <= set(isr):
        return replicas, isr, leader, adding, removing
    new_isr = tuple(r for r in isr if r in target)
    new_leader = leader
    if leader not in target:
        new_leader = next((r for r in target if r in new_isr and is_live(r)), NO_LEADER)
        if new_leader == NO_LEADER:
            return replicas, isr, leader, adding, removing
    return target, new_isr, new_leader, (), ()


class _Draft:
    """One command's records and the partition and liveness state they lead to."""

    def __init__(self, image: MetadataImage, unclean: Callable[[TopicImage], bool]) -> None:
        self.image = image
        self.unclean = unclean
        self.records: list[MetadataRecord] = []
        self.warnings: list[str] = []
        self._partitions: dict[tuple[uuid.UUID, int], PartitionRegistration] = {}
        self._live: dict[int, bool] = {}

    def result(self, value: T) -> ClusterResult[T]:
        return ClusterResult(self.records, value, self.warnings)

    def set_live(self, broker_id: int, live: bool) -> None:
        self._live[broker_id] = live

    def is_live(self, broker_id: int) -> bool:
        live = self._live.get(broker_id)
        return self.image.is_active(broker_id) if live is None else live

    def partition(self, topic: TopicImage, index: int) -> PartitionRegistration:
        return self._partitions.get((topic.topic_id, index), topic.partitions[index])

    def partitions(self) -> Iterator[tuple[TopicImage, int, PartitionRegistration]]:
        for topic in self.image.topics_by_name.values():
            for index in sorted(topic.partitions):
                yield topic, index, self.partition(topic, index)

    def write(
        self,
        topic: TopicImage,
        index: int,
        isr: tuple[int, ...],
        leader: int,
        recovery: int,
        *,
        reassignment: Reassignment | None = None,
    ) -> PartitionRegistration:
        """The partition's next state; a change raises the partition epoch, a new leader the
        leader epoch (P6).  No record when nothing changes.  ``reassignment`` (replicas,
        adding, removing) replaces the replica set; an ongoing reassignment whose target
        replicas are all in the new ISR completes in the same record (:func:`_settle`)."""
        old = self.partition(topic, index)
        replicas, adding, removing = reassignment or (
            old.replicas,
            old.adding_replicas,
            old.removing_replicas,
        )
        replicas, isr, leader, adding, removing = _settle(
            replicas, isr, leader, adding, removing, is_live=self.is_live
        )
        if (isr, leader, recovery, replicas, adding, removing) == (
            old.isr,
            old.leader,
            old.leader_recovery_state,
            old.replicas,
            old.adding_replicas,
            old.removing_replicas,
        ):
            return old
        leader_epoch = old.leader_epoch + (1 if leader != old.leader else 0)
        new = PartitionRegistration(
            replicas,
            isr,
            leader,
            leader_epoch,
            old.partition_epoch + 1,
            recovery,
            adding,
            removing,
        )
        self._partitions[(topic.topic_id, index)] = new
        self.records.append(
            PartitionRecord(
                str(topic.topic_id),
                index,
                new.replicas,
                new.isr,
                new.leader,
                new.leader_epoch,
                new.partition_epoch,
                new.leader_recovery_state,
                new.adding_replicas,
                new.removing_replicas,
            )
        )
        return new

    def reelect(self, topic: TopicImage, index: int, target_isr: tuple[int, ...]) -> None:
        """Move to ``target_isr`` (the current ISR if that would be empty) and keep the leader
        if it is still a live member, else elect one."""
        old = self.partition(topic, index)
        isr = target_isr or old.isr
        if old.leader in isr and self.is_live(old.leader):
            self.write(topic, index, isr, old.leader, old.leader_recovery_state)
            return
        election = elect_leader(old.replicas, isr, self.is_live, self.unclean(topic))
        recovery = old.leader_recovery_state
        if election.unclean:
            recovery = RECOVERING
            self.warnings.append(
                f"UNCLEAN leader election for {topic.name}-{index}: broker {election.leader} "
                f"leads with ISR [{election.leader}] although it was not in the ISR "
                f"{list(old.isr)}; acknowledged records may be lost"
            )
        self.write(topic, index, election.isr, election.leader, recovery)

    def remove_broker(self, broker_id: int) -> None:
        """Take a broker out of every ISR it is not the last member of; re-elect what it led."""
        self.set_live(broker_id, False)
        for topic, index, part in list(self.partitions()):
            if broker_id in part.isr or part.leader == broker_id:
                self.reelect(topic, index, tuple(r for r in part.isr if r != broker_id))

    def fence(self, registration: BrokerRegistration) -> None:
        self.records.append(FenceBrokerRecord(registration.broker_id, registration.broker_epoch))
        self.remove_broker(registration.broker_id)

    def unfence(self, registration: BrokerRegistration) -> None:
        """Unfence, then elect leaderless partitions the broker can now lead."""
        broker_id = registration.broker_id
        self.records.append(UnfenceBrokerRecord(broker_id, registration.broker_epoch))
        self.set_live(broker_id, True)
        for topic, index, part in list(self.partitions()):
            if part.leader == NO_LEADER and broker_id in part.replicas:
                self.reelect(topic, index, part.isr)

    def leads_any(self, broker_id: int) -> bool:
        return any(part.leader == broker_id for _, _, part in self.partitions())


class ClusterControl:
    """Broker registrations, heartbeats and fencing; elections and ISR changes."""

    def __init__(self, image: MetadataImage, settings: ClusterSettings, now_ms: int) -> None:
        self.image = image
        self.settings = settings
        self._sessions: dict[int, BrokerSession] = {}
        self.reset_sessions(now_ms)

    # -- soft state -----------------------------------------------------------------------

    def reset_sessions(self, now_ms: int) -> None:
        """A fresh session for every registered broker (at start or on becoming active)."""
        self._sessions = {
            broker_id: BrokerSession(registration.broker_epoch, now_ms)
            for broker_id, registration in self.image.brokers.items()
        }

    def _session(self, registration: BrokerRegistration, now_ms: int) -> BrokerSession:
        session = self._sessions.get(registration.broker_id)
        if session is None or session.broker_epoch != registration.broker_epoch:
            session = BrokerSession(registration.broker_epoch, now_ms)
            self._sessions[registration.broker_id] = session
        return session

    def next_deadline_ms(self) -> int | None:
        """When :meth:`tick` next has a broker to fence, if no heartbeat comes first."""
        deadlines = [
            session.last_heartbeat_ms + self.settings.broker_session_timeout_ms + 1
            for broker_id, session in self._sessions.items()
            if (registration := self.image.brokers.get(broker_id)) is not None
            and not registration.fenced
            and registration.broker_epoch == session.broker_epoch
        ]
        return min(deadlines, default=None)

    # -- queries --------------------------------------------------------------------------

    def live_brokers(self) -> list[int]:
        """Unfenced brokers not in controlled shutdown, sorted: where replicas may go."""
        return self.image.active_brokers()

    def unclean_leader_election(self, topic: TopicImage) -> bool:
        """The topic's ``unclean.leader.election.enable`` if set, else the cluster's: its
        dynamic default (KIP-226: a ``ConfigRecord`` of the BROKER resource ''), then the
        controller's own config."""
        value = topic.configs.get(UNCLEAN_LEADER_ELECTION_ENABLE)
        if value is None:
            value = self.image.broker_configs.get("", {}).get(UNCLEAN_LEADER_ELECTION_ENABLE)
        if value is None:
            return self.settings.unclean_leader_election_enable
        return value.strip().lower() == "true"

    def leader_imbalance(self) -> dict[int, float]:
        """Per live broker: the share of partitions it is preferred for that it does not lead
        (Kafka's leader imbalance ratio)."""
        preferred: Counter[int] = Counter()
        not_leading: Counter[int] = Counter()
        for topic in self.image.topics_by_name.values():
            for part in topic.partitions.values():
                first = part.replicas[0]
                if self.image.is_active(first):
                    preferred[first] += 1
                    not_leading[first] += part.leader != first
        return {broker: not_leading[broker] / count for broker, count in preferred.items()}

    def imbalance_exceeds_threshold(self) -> bool:
        """Whether a broker's imbalance exceeds ``leader.imbalance.per.broker.percentage``."""
        limit = self.settings.leader_imbalance_per_broker_percentage / 100
        return any(ratio > limit for ratio in self.leader_imbalance().values())

    def _draft(self) -> _Draft:
        return _Draft(self.image, self.unclean_leader_election)

    def _registration(self, broker_id: int, broker_epoch: int) -> BrokerRegistration | None:
        """Kafka's ``checkBrokerEpoch``: the registration if the epoch is current."""
        registration = self.image.brokers.get(broker_id)
        if registration is None or registration.broker_epoch != broker_epoch:
            return None
        return registration

    # -- broker lifecycle -----------------------------------------------------------------

    def register_broker(
        self,
        broker_id: int,
        incarnation_id: str,
        *,
        host: str,
        port: int,
        rack: str | None,
        now_ms: int,
        metadata_offset: int,
        listeners: tuple[tuple[str, str, int], ...] = (),
    ) -> ClusterResult[RegistrationResult]:
        """BrokerRegistration.  ``metadata_offset``: the offset the batch's first record gets
        (the image's ``records_replayed``).  A retry of the same incarnation gets its epoch
        back; a new incarnation replaces the old one, fencing it in the same batch."""
        if broker_id < 0:
            return ClusterResult([], RegistrationResult(ErrorCode.INVALID_REQUEST))
        current = self.image.brokers.get(broker_id)
        if current is not None and current.incarnation_id == incarnation_id:
            self._session(current, now_ms).last_heartbeat_ms = now_ms
            return ClusterResult([], RegistrationResult(ErrorCode.NONE, current.broker_epoch))
        draft = self._draft()
        if current is not None and not current.fenced:
            draft.fence(current)
        highest = max((b.broker_epoch for b in self.image.brokers.values()), default=-1)
        epoch = max(metadata_offset + len(draft.records), highest + 1)
        draft.records.append(
            RegisterBrokerRecord(
                broker_id, incarnation_id, epoch, host, port, rack, fenced=True, listeners=listeners
            )
        )
        self._sessions[broker_id] = BrokerSession(epoch, now_ms)
        return draft.result(RegistrationResult(ErrorCode.NONE, epoch))

    def heartbeat(
        self,
        broker_id: int,
        broker_epoch: int,
        *,
        current_metadata_offset: int,
        want_fence: bool,
        want_shut_down: bool,
        now_ms: int,
    ) -> ClusterResult[HeartbeatResult]:
        """BrokerHeartbeat (Kafka's ``BrokerHeartbeatManager.calculateNextBrokerState``).

        ``current_metadata_offset`` is the offset of the last record the broker applied."""
        registration = self._registration(broker_id, broker_epoch)
        if registration is None:
            return ClusterResult([], HeartbeatResult(ErrorCode.STALE_BROKER_EPOCH))
        session = self._session(registration, now_ms)
        session.last_heartbeat_ms = now_ms
        session.metadata_offset = current_metadata_offset
        caught_up = current_metadata_offset >= registration.registration_offset
        draft = self._draft()
        fenced, shut_down = self._next_state(
            draft,
            registration,
            session,
            caught_up=caught_up,
            want_fence=want_fence,
            want_shut_down=want_shut_down,
        )
        return draft.result(HeartbeatResult(ErrorCode.NONE, caught_up, fenced, shut_down))

    def _next_state(
        self,
        draft: _Draft,
        registration: BrokerRegistration,
        session: BrokerSession,
        *,
        caught_up: bool,
        want_fence: bool,
        want_shut_down: bool,
    ) -> tuple[bool, bool]:
        """(fenced, should shut down) once the draft's records are applied."""
        if registration.fenced:
            wants_in = not (want_fence or want_shut_down or registration.in_controlled_shutdown)
            if caught_up and wants_in:
                draft.unfence(registration)
                return False, False
            return True, want_shut_down
        if want_fence:
            draft.fence(registration)
            return True, want_shut_down
        if not (want_shut_down or registration.in_controlled_shutdown):
            return False, False
        if not registration.in_controlled_shutdown:
            draft.records.append(
                BrokerRegistrationChangeRecord(
                    registration.broker_id, registration.broker_epoch, True
                )
            )
            draft.remove_broker(registration.broker_id)
            session.controlled_shutdown_offset = (
                self.image.records_replayed + len(draft.records) - 1
            )
        if not self._may_shut_down(draft, registration, session):
            return False, False
        draft.fence(registration)
        return True, True

    def _may_shut_down(
        self, draft: _Draft, registration: BrokerRegistration, session: BrokerSession
    ) -> bool:
        """It leads nothing, and every other active broker has applied its shutdown batch (so
        the new leaders know), as Kafka's ``lowestActiveOffset`` check."""
        if draft.leads_any(registration.broker_id):
            return False
        for broker_id in self.image.active_brokers():
            other = self._sessions.get(broker_id)
            if broker_id != registration.broker_id and (
                other is None or other.metadata_offset < session.controlled_shutdown_offset
            ):
                return False
        return True

    def broker_disconnected(
        self, broker_id: int, broker_epoch: int, now_ms: int
    ) -> ClusterResult[bool]:
        """The registering connection closed: fence at once if that registration is still
        current and unfenced (kill -9 is seen before the session times out).  True if fenced.

        ``now_ms`` only keeps the command signatures alike: the fence does not wait."""
        del now_ms
        registration = self._registration(broker_id, broker_epoch)
        if registration is None or registration.fenced:
            return ClusterResult([], False)
        draft = self._draft()
        draft.fence(registration)
        return draft.result(True)

    def unregister_broker(self, broker_id: int) -> ClusterResult[ErrorCode]:
        """UnregisterBroker (``kafka-cluster unregister``, Kafka's
        ``ClusterControlManager.unregisterBroker``): the registration goes, and with it the
        broker's ISR memberships and leaderships, as a fence would take them.  Its replicas
        stay in the replica sets (offline) until reassigned.  A broker still running sees
        STALE_BROKER_EPOCH at its next heartbeat and registers again."""
        registration = self.image.brokers.get(broker_id)
        if registration is None:
            return ClusterResult([], ErrorCode.BROKER_ID_NOT_REGISTERED)
        draft = self._draft()
        draft.remove_broker(broker_id)
        draft.records.append(UnregisterBrokerRecord(broker_id, registration.broker_epoch))
        self._sessions.pop(broker_id, None)
        return draft.result(ErrorCode.NONE)

    def tick(self, now_ms: int) -> ClusterResult[list[int]]:
        """Fence every unfenced broker without a heartbeat for the session timeout."""
        draft = self._draft()
        fenced: list[int] = []
        for broker_id in sorted(self.image.brokers):
            registration = self.image.brokers[broker_id]
            if registration.fenced:
                continue
            session = self._session(registration, now_ms)
            if now_ms - session.last_heartbeat_ms > self.settings.broker_session_timeout_ms:
                draft.fence(registration)
                fenced.append(broker_id)
        return draft.result(fenced)

    # -- partitions -----------------------------------------------------------------------

    def alter_partition(
        self,
        broker_id: int,
        broker_epoch: int,
        *,
        topic_id: uuid.UUID,
        partition_index: int,
        leader_epoch: int,
        partition_epoch: int,
        new_isr: Sequence[tuple[int, int]],
    ) -> ClusterResult[AlterPartitionResult]:
        """AlterPartition for one partition: a CAS on the partition epoch (KIP-497, KIP-841,
        KIP-903).  ``new_isr``: (broker id, broker epoch or -1 if unknown) pairs."""
        error = self._alter_partition_error(
            broker_id,
            broker_epoch,
            topic_id=topic_id,
            partition_index=partition_index,
            leader_epoch=leader_epoch,
            partition_epoch=partition_epoch,
        )
        if error is not None:
            return ClusterResult([], AlterPartitionResult(error))
        topic = self.image.topics_by_id[topic_id]
        current = topic.partitions[partition_index]
        isr = tuple(member for member, _ in new_isr)
        error = self._new_isr_error(current, new_isr)
        if error is not None:
            return ClusterResult([], AlterPartitionResult(error))
        recovery = current.leader_recovery_state
        if recovery == RECOVERING and len(isr) > 1:
            recovery = RECOVERED
        draft = self._draft()
        state = draft.write(topic, partition_index, isr, current.leader, recovery)
        return draft.result(AlterPartitionResult(ErrorCode.NONE, state))

    def _alter_partition_error(
        self,
        broker_id: int,
        broker_epoch: int,
        *,
        topic_id: uuid.UUID,
        partition_index: int,
        leader_epoch: int,
        partition_epoch: int,
    ) -> ErrorCode | None:
        """Kafka's ``validateAlterPartitionData`` order, up to the ISR checks."""
        if self._registration(broker_id, broker_epoch) is None:
            return ErrorCode.STALE_BROKER_EPOCH
        topic = self.image.topics_by_id.get(topic_id)
        if topic is None or partition_index not in topic.partitions:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        current = topic.partitions[partition_index]
        if leader_epoch > current.leader_epoch or partition_epoch > current.partition_epoch:
            return ErrorCode.NOT_CONTROLLER  # we are likely no longer the active controller
        if leader_epoch < current.leader_epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        if broker_id != current.leader:
            return ErrorCode.INVALID_REQUEST
        if partition_epoch < current.partition_epoch:
            return ErrorCode.INVALID_UPDATE_VERSION
        return None

    def _new_isr_error(
        self, current: PartitionRegistration, new_isr: Sequence[tuple[int, int]]
    ) -> ErrorCode | None:
        """INVALID_REQUEST for a malformed ISR; INELIGIBLE_REPLICA for a joiner that is not
        registered, fenced, shutting down or of another broker epoch (KIP-841, KIP-903)."""
        members = [member for member, _ in new_isr]
        if (
            not members
            or len(set(members)) != len(members)
            or not set(members) <= set(current.replicas)
            or current.leader not in members
        ):
            return ErrorCode.INVALID_REQUEST
        for member, epoch in new_isr:
            if member in current.isr:
                continue
            registration = self.image.brokers.get(member)
            if (
                registration is None
                or not registration.active
                or epoch not in (UNKNOWN_BROKER_EPOCH, registration.broker_epoch)
            ):
                return ErrorCode.INELIGIBLE_REPLICA
        return None

    def alter_partition_reassignments(
        self, requests: Sequence[tuple[str, int, Sequence[int] | None]]
    ) -> ClusterResult[list[tuple[str, int, ErrorCode, str | None]]]:
        """AlterPartitionReassignments (KIP-455): ``(topic, partition, target replicas or None
        to cancel)`` each, answered ``(topic, partition, error, message)``.

        A target (non-empty, distinct, registered brokers) makes the replicas the target
        followed by the original replicas it drops (``removing``), the new ones ``adding``;
        the leader brings the adding replicas into the ISR as they catch up and the
        reassignment completes, in the same PartitionRecord, once every target replica is in
        the ISR (``_settle``).  A new target replaces an ongoing one (from the original
        replicas); None cancels one (NO_REASSIGNMENT_IN_PROGRESS if none): back to the
        original replicas, the added ones leaving the ISR."""
        draft = self._draft()
        answers: list[tuple[str, int, ErrorCode, str | None]] = []
        for name, index, target in requests:
            error, message = self._reassign(draft, name, index, target)
            answers.append((name, index, error, message))
        return draft.result(answers)

    def _reassign(
        self, draft: _Draft, name: str, index: int, target: Sequence[int] | None
    ) -> tuple[ErrorCode, str | None]:
        topic = self.image.topic(name)
        if topic is None or index not in topic.partitions:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {name}-{index}"
        part = draft.partition(topic, index)
        original = tuple(r for r in part.replicas if r not in part.adding_replicas)
        if target is None:
            if not part.reassigning:
                return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None
            wanted = original
        else:
            wanted = tuple(target)
            if not wanted or len(set(wanted)) != len(wanted):
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"invalid replicas {list(wanted)}"
            unknown = [r for r in wanted if r not in self.image.brokers]
            if unknown:
                return ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"unknown brokers {unknown}"
        replicas = wanted + tuple(r for r in original if r not in wanted)
        adding = tuple(r for r in wanted if r not in original)
        removing = tuple(r for r in original if r not in wanted)
        isr = tuple(r for r in part.isr if r in replicas)
        leader = part.leader
        if leader not in isr:
            leader = next((r for r in replicas if r in isr and draft.is_live(r)), NO_LEADER)
        if not isr or leader == NO_LEADER:
            return ErrorCode.INVALID_REPLICA_ASSIGNMENT, (
                f"{name}-{index}: no live in-sync replica would be left to lead"
            )
        draft.write(
            topic,
            index,
            isr,
            leader,
            part.leader_recovery_state,
            reassignment=(replicas, adding, removing),
        )
        return ErrorCode.NONE, None

    def list_partition_reassignments(
        self, partitions: Sequence[tuple[str, Sequence[int]]] | None
    ) -> list[tuple[str, int, PartitionRegistration]]:
        """ListPartitionReassignments: the ongoing ones among ``partitions`` (None: all)."""
        found: list[tuple[str, int, PartitionRegistration]] = []
        wanted = (
            [(topic.name, sorted(topic.partitions)) for topic in self.image.topics_by_name.values()]
            if partitions is None
            else partitions
        )
        for name, indexes in wanted:
            topic = self.image.topic(name)
            if topic is None:
                continue
            for index in indexes:
                part = topic.partitions.get(index)
                if part is not None and part.reassigning:
                    found.append((name, index, part))
        return found

    def elect_preferred_leaders(self) -> ClusterResult[list[tuple[str, int]]]:
        """Give each partition to its preferred (first) replica where that one is live, in the
        ISR and not already leading.  The result lists the partitions moved."""
        draft = self._draft()
        moved: list[tuple[str, int]] = []
        for topic, index, part in list(draft.partitions()):
            preferred = part.replicas[0]
            if part.leader != preferred and preferred in part.isr and draft.is_live(preferred):
                draft.write(topic, index, part.isr, preferred, part.leader_recovery_state)
                moved.append((topic.name, index))
        return draft.result(moved)

    def elect_leaders(
        self, election_type: int, partitions: Sequence[tuple[str, Sequence[int]]] | None
    ) -> ClusterResult[list[tuple[str, list[ElectionResult]]]]:
        """ElectLeaders (KIP-183, KIP-460), Kafka's ``ReplicationControlManager.electLeaders``.

        PREFERRED: the first replica of the assignment leads if it is live and in the ISR
        (ELECTION_NOT_NEEDED if it leads already); when it cannot, a partition whose leader is
        gone still gets a live ISR member, else PREFERRED_LEADER_NOT_AVAILABLE.  UNCLEAN: only
        for a partition without a leader (else ELECTION_NOT_NEEDED): a live ISR member, else
        any live replica (ISR [it], RECOVERING: acknowledged records may be lost), else
        ELIGIBLE_LEADERS_NOT_AVAILABLE.  ``partitions`` None means every partition, and then
        the partitions that need no election are left out of the answer, as Kafka does.
        Changes are PartitionRecords with the leader epoch raised, like any election.
        """
        assert election_type in (PREFERRED_ELECTION, UNCLEAN_ELECTION), election_type
        draft = self._draft()
        answers: list[tuple[str, list[ElectionResult]]] = []
        if partitions is None:
            for topic in self.image.topics_by_name.values():
                results = [
                    self._elect(draft, election_type, topic.name, i)
                    for i in sorted(topic.partitions)
                ]
                wanted = [r for r in results if r.error_code is not ErrorCode.ELECTION_NOT_NEEDED]
                answers.append((topic.name, wanted))
            return draft.result(answers)
        for name, indexes in partitions:
            answers.append((name, [self._elect(draft, election_type, name, i) for i in indexes]))
        return draft.result(answers)

    def _elect(self, draft: _Draft, election_type: int, name: str, index: int) -> ElectionResult:
        topic = self.image.topic(name)
        if topic is None:
            return ElectionResult(
                index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {name}"
            )
        if index not in topic.partitions:
            return ElectionResult(
                index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {name}-{index}"
            )
        part = draft.partition(topic, index)
        if election_type == PREFERRED_ELECTION:
            return self._elect_preferred(draft, topic, index, part)
        if part.leader != NO_LEADER:
            return ElectionResult(index, ErrorCode.ELECTION_NOT_NEEDED)
        election = elect_leader(part.replicas, part.isr, draft.is_live, unclean_allowed=True)
        if election.leader == NO_LEADER:
            return ElectionResult(index, ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE)
        recovery = part.leader_recovery_state
        if election.unclean:
            recovery = RECOVERING
            draft.warnings.append(
                f"UNCLEAN leader election (ElectLeaders) for {name}-{index}: broker "
                f"{election.leader} leads with ISR [{election.leader}] although it was not in "
                f"the ISR {list(part.isr)}; acknowledged records may be lost"
            )
        draft.write(topic, index, election.isr, election.leader, recovery)
        return ElectionResult(index, ErrorCode.NONE)

    def _elect_preferred(
        self, draft: _Draft, topic: TopicImage, index: int, part: PartitionRegistration
    ) -> ElectionResult:
        preferred = part.replicas[0]
        if part.leader == preferred:
            return ElectionResult(index, ErrorCode.ELECTION_NOT_NEEDED)
        if preferred in part.isr and draft.is_live(preferred):
            draft.write(topic, index, part.isr, preferred, part.leader_recovery_state)
            return ElectionResult(index, ErrorCode.NONE)
        if part.leader not in part.isr or not draft.is_live(part.leader):
            # Kafka's electPreferredLeader goes on to any live ISR member for a leaderless
            # partition (here the controller has usually elected one already).
            election = elect_leader(part.replicas, part.isr, draft.is_live, unclean_allowed=False)
            if election.leader not in (NO_LEADER, part.leader):
                draft.write(topic, index, part.isr, election.leader, part.leader_recovery_state)
                return ElectionResult(index, ErrorCode.NONE)
        return ElectionResult(
            index,
            ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
            f"Failed to elect leader for partition {topic.name}-{index} under strategy "
            "PREFERRED: the preferred replica is not live or not in the ISR",
        )

    def allocate_producer_ids(
        self, broker_id: int, broker_epoch: int, block_size: int = PRODUCER_ID_BLOCK_SIZE
    ) -> ClusterResult[ProducerIdsResult]:
        """AllocateProducerIds: the next block; the image's ``next_producer_id`` moves past it,
        so a replayed log never hands a block out twice."""
        if self._registration(broker_id, broker_epoch) is None:
            return ClusterResult([], ProducerIdsResult(ErrorCode.STALE_BROKER_EPOCH))
        start = self.image.next_producer_id
        if block_size <= 0 or start > MAX_PRODUCER_ID - block_size:
            return ClusterResult([], ProducerIdsResult(ErrorCode.UNKNOWN_SERVER_ERROR))
        record = ProducerIdsRecord(broker_id, start + block_size)
        return ClusterResult([record], ProducerIdsResult(ErrorCode.NONE, start, block_size))
