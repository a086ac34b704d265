"""ClusterControl: registration, heartbeats, fencing, elections, AlterPartition, controlled
shutdown, preferred leaders, producer-id blocks.  Every effect is seen by replaying records."""

from __future__ import annotations

import random
import uuid
from typing import TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from broker.core.cluster_control import (
    ClusterControl,
    ClusterResult,
    ClusterSettings,
    Election,
    elect_leader,
)
from broker.core.controller import Controller, ControllerSettings, NewTopic
from broker.core.metadata import (
    BROKER_RESOURCE,
    NO_LEADER,
    RECOVERED,
    RECOVERING,
    TOPIC_RESOURCE,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FenceBrokerRecord,
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    PartitionRegistration,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    UnfenceBrokerRecord,
    UnregisterBrokerRecord,
    record_from_dict,
    record_to_dict,
)
from client.protocol.errors import ErrorCode

T = TypeVar("T")
TIMEOUT_MS = ClusterSettings().broker_session_timeout_ms


class Cluster:
    """A controller over one image; every command's records are logged and replayed."""

    def __init__(self, brokers: int = 3, settings: ClusterSettings | None = None) -> None:
        self.image = MetadataImage()
        self.now = 0
        self.cluster = ClusterControl(self.image, settings or ClusterSettings(), self.now)
        self.controller = Controller(
            self.image,
            ControllerSettings(),
            lambda configs: {k: v for k, v in configs.items() if v is not None},
            random.Random(1),
            live_brokers=self.cluster.live_brokers,
        )
        self.log: list[MetadataRecord] = []
        self.warnings: list[str] = []
        self.epochs: dict[int, int] = {}
        for broker in range(1, brokers + 1):
            self.start(broker)

    def commit(self, result: ClusterResult[T]) -> T:
        self.apply(result.records)
        self.warnings.extend(result.warnings)
        return result.result

    def apply(self, records: list[MetadataRecord]) -> None:
        for record in records:
            self.image.replay(record)
        self.log.extend(records)

    @property
    def offset(self) -> int:
        """The offset of the last record applied (what a caught-up broker reports)."""
        return self.image.records_replayed - 1

    def register(self, broker: int, incarnation: str | None = None) -> int:
        result = self.commit(
            self.cluster.register_broker(
                broker,
                incarnation or uuid.uuid4().hex,
                host="127.0.0.1",
                port=9000 + broker,
                rack=None,
                now_ms=self.now,
                metadata_offset=self.image.records_replayed,
            )
        )
        assert result.error_code == ErrorCode.NONE
        self.epochs[broker] = result.broker_epoch
        return result.broker_epoch

    def heartbeat(
        self,
        broker: int,
        *,
        fence: bool = False,
        shut_down: bool = False,
        offset: int | None = None,
    ) -> tuple[ErrorCode, bool, bool, bool]:
        result = self.commit(
            self.cluster.heartbeat(
                broker,
                self.epochs[broker],
                current_metadata_offset=self.offset if offset is None else offset,
                want_fence=fence,
                want_shut_down=shut_down,
                now_ms=self.now,
            )
        )
        return result.error_code, result.is_caught_up, result.is_fenced, result.should_shut_down

    def start(self, broker: int) -> None:
        self.register(broker)
        assert self.heartbeat(broker)[2] is False

    def create(self, name: str, partitions: int = 1, rf: int = 3) -> uuid.UUID:
        result = self.controller.create_topics([NewTopic(name, partitions, rf)], False)
        assert result.results[0].error_code == ErrorCode.NONE, result.results[0]
        self.apply(result.records)
        topic_id = result.results[0].topic_id
        assert topic_id is not None
        return topic_id

    def create_assigned(self, name: str, *replicas: tuple[int, ...]) -> uuid.UUID:
        topic = NewTopic(name, -1, -1, assignments=dict(enumerate(replicas)))
        result = self.controller.create_topics([topic], False)
        assert result.results[0].error_code == ErrorCode.NONE, result.results[0]
        self.apply(result.records)
        topic_id = result.results[0].topic_id
        assert topic_id is not None
        return topic_id

    def part(self, name: str, index: int = 0) -> PartitionRegistration:
        topic = self.image.topic(name)
        assert topic is not None
        return topic.partitions[index]

    def fence(self, broker: int) -> None:
        assert self.commit(self.cluster.broker_disconnected(broker, self.epochs[broker], self.now))

    def alter(
        self,
        broker: int,
        topic_id: uuid.UUID,
        isr: list[tuple[int, int]],
        *,
        leader_epoch: int | None = None,
        partition_epoch: int | None = None,
        broker_epoch: int | None = None,
    ) -> tuple[ErrorCode, PartitionRegistration | None]:
        current = self.image.topics_by_id[topic_id].partitions[0]
        result = self.commit(
            self.cluster.alter_partition(
                broker,
                self.epochs.get(broker, -1) if broker_epoch is None else broker_epoch,
                topic_id=topic_id,
                partition_index=0,
                leader_epoch=current.leader_epoch if leader_epoch is None else leader_epoch,
                partition_epoch=(
                    current.partition_epoch if partition_epoch is None else partition_epoch
                ),
                new_isr=isr,
            )
        )
        return result.error_code, result.registration


# -- registration and heartbeats -------------------------------------------------------------


def test_broker_epochs_are_registration_offsets_and_always_increase() -> None:
    cluster = Cluster(brokers=0)
    first = cluster.register(1)
    assert first == 0 and cluster.image.brokers[1].registration_offset == 0
    cluster.heartbeat(1)
    second = cluster.register(2)
    assert second == cluster.image.brokers[2].registration_offset > first
    again = cluster.register(1)  # a restart: new incarnation
    assert again > second and cluster.image.brokers[1].broker_epoch == again


def test_epoch_stays_above_epochs_from_old_style_records() -> None:
    cluster = Cluster(brokers=0)
    cluster.apply([RegisterBrokerRecord(1, "old", 40, "h", 1)])  # single-node path: prev + 1
    assert cluster.register(2) == 41


def test_same_incarnation_retry_returns_the_epoch_without_records() -> None:
    cluster = Cluster(brokers=0)
    epoch = cluster.register(1, "inc-a")
    retry = cluster.cluster.register_broker(
        1, "inc-a", host="h", port=1, rack=None, now_ms=5, metadata_offset=99
    )
    assert retry.records == [] and retry.result.broker_epoch == epoch


def test_a_registration_keeps_every_listener_and_old_records_fall_back() -> None:
    cluster = Cluster(brokers=0)
    listeners = (("INTERNAL", "10.0.0.1", 9092), ("EXTERNAL", "kafka.example", 9094))
    result = cluster.cluster.register_broker(
        1,
        "inc",
        host="10.0.0.1",
        port=9092,
        rack=None,
        now_ms=0,
        metadata_offset=0,
        listeners=listeners,
    )
    (record,) = [r for r in result.records if isinstance(r, RegisterBrokerRecord)]
    replayed = record_from_dict(record_to_dict(record))  # JSON arrays come back as tuples
    assert replayed == record and replayed.listeners == listeners
    cluster.apply(result.records)
    registration = cluster.image.brokers[1]
    assert registration.endpoint("EXTERNAL") == ("kafka.example", 9094)
    assert registration.endpoint("INTERNAL") == ("10.0.0.1", 9092)
    assert registration.endpoint(None) == ("10.0.0.1", 9092)  # inter-broker
    assert registration.endpoint("OTHER") == ("10.0.0.1", 9092)
    old = record_from_dict({k: v for k, v in record_to_dict(record).items() if k != "listeners"})
    assert old.listeners == ()


def test_negative_broker_id_is_an_invalid_request() -> None:
    result = Cluster(brokers=0).cluster.register_broker(
        -1, "x", host="h", port=1, rack=None, now_ms=0, metadata_offset=0
    )
    assert result.records == [] and result.result.error_code == ErrorCode.INVALID_REQUEST


def test_new_registration_stays_fenced_until_it_applied_its_own_record() -> None:
    cluster = Cluster(brokers=0)
    cluster.apply([ConfigRecord(4, "1", "x", "y")])  # the registration lands at offset 1
    epoch = cluster.register(1)
    assert cluster.image.brokers[1].fenced and epoch == 1
    assert cluster.heartbeat(1, offset=0) == (ErrorCode.NONE, False, True, False)
    assert cluster.image.brokers[1].fenced
    assert cluster.heartbeat(1, offset=1) == (ErrorCode.NONE, True, False, False)
    assert isinstance(cluster.log[-1], UnfenceBrokerRecord)
    assert not cluster.image.brokers[1].fenced and cluster.cluster.live_brokers() == [1]


def test_want_fence_keeps_or_makes_a_broker_fenced() -> None:
    cluster = Cluster(brokers=0)
    cluster.register(1)
    assert cluster.heartbeat(1, fence=True)[1:3] == (True, True)
    cluster.heartbeat(1)
    assert cluster.heartbeat(1, fence=True)[2] is True
    assert cluster.image.brokers[1].fenced


@pytest.mark.parametrize(("broker", "epoch"), [(1, 12345), (7, 0)])
def test_heartbeat_with_stale_epoch_or_unknown_id(broker: int, epoch: int) -> None:
    cluster = Cluster(brokers=1)
    result = cluster.cluster.heartbeat(
        broker,
        epoch,
        current_metadata_offset=100,
        want_fence=False,
        want_shut_down=False,
        now_ms=0,
    )
    assert result.records == []
    assert result.result.error_code == ErrorCode.STALE_BROKER_EPOCH and result.result.is_fenced


def test_session_timeout_fences_through_tick() -> None:
    cluster = Cluster(brokers=3)
    topic_id = cluster.create("t")
    leader = cluster.part("t").leader
    cluster.now = 1000
    for broker in (1, 2, 3):
        if broker != leader:
            cluster.heartbeat(broker)
    assert cluster.cluster.next_deadline_ms() == TIMEOUT_MS + 1  # the leader's, from t=0
    cluster.now = TIMEOUT_MS
    assert cluster.commit(cluster.cluster.tick(cluster.now)) == []
    cluster.now = TIMEOUT_MS + 1
    assert cluster.commit(cluster.cluster.tick(cluster.now)) == [leader]
    assert cluster.image.brokers[leader].fenced
    part = cluster.image.topics_by_id[topic_id].partitions[0]
    assert part.leader != leader and leader not in part.isr and part.leader_epoch == 1
    assert cluster.cluster.next_deadline_ms() == 1000 + TIMEOUT_MS + 1


def test_controller_restart_gives_every_broker_a_fresh_session() -> None:
    cluster = Cluster(brokers=2)
    restarted = ClusterControl(cluster.image, ClusterSettings(), now_ms=50_000)
    assert restarted.tick(50_000 + TIMEOUT_MS).records == []
    assert restarted.tick(50_000 + TIMEOUT_MS + 1).result == [1, 2]


def test_disconnect_fences_at_once_but_a_stale_epoch_is_ignored() -> None:
    cluster = Cluster(brokers=2)
    old = cluster.epochs[1]
    cluster.register(1)  # restarted: the old incarnation was fenced in that batch
    assert cluster.cluster.broker_disconnected(1, old, 0).records == []
    cluster.heartbeat(1)
    assert not cluster.image.brokers[1].fenced
    cluster.fence(1)
    assert cluster.image.brokers[1].fenced
    again = cluster.cluster.broker_disconnected(1, cluster.epochs[1], 0)
    assert again.records == [] and again.result is False


def test_reregistration_fences_the_old_incarnation_in_the_same_batch() -> None:
    cluster = Cluster(brokers=3)
    topic_id = cluster.create_assigned("t", (1, 2, 3))
    old_epoch = cluster.epochs[1]
    result = cluster.cluster.register_broker(
        1, "new", host="h", port=1, rack=None, now_ms=0, metadata_offset=len(cluster.log)
    )
    assert result.records[0] == FenceBrokerRecord(1, old_epoch)
    assert isinstance(result.records[-1], RegisterBrokerRecord)
    assert result.result.broker_epoch == len(cluster.log) + len(result.records) - 1
    cluster.commit(result)
    part = cluster.image.topics_by_id[topic_id].partitions[0]
    assert (part.leader, part.isr, part.leader_epoch) == (2, (2, 3), 1)
    assert cluster.image.brokers[1].fenced and cluster.image.brokers[1].incarnation_id == "new"


# -- elections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "isr", "live", "unclean", "expected"),
    [
        ((1, 2, 3), (1, 2, 3), {1, 2, 3}, False, Election(1, (1, 2, 3))),
        ((1, 2, 3), (3, 2), {1, 2, 3}, False, Election(2, (3, 2))),  # assignment order
        ((1, 2, 3), (1, 3), {3}, False, Election(3, (1, 3))),
        ((1, 2, 3), (1,), {2, 3}, False, Election(NO_LEADER, (1,))),
        ((1, 2, 3), (1,), {3, 2}, True, Election(2, (2,), unclean=True)),
        ((1, 2, 3), (1,), set(), True, Election(NO_LEADER, (1,))),
        ((1, 2, 3), (1, 2), {2}, True, Election(2, (1, 2))),  # clean first
    ],
)
def test_elect_leader(
    replicas: tuple[int, ...],
    isr: tuple[int, ...],
    live: set[int],
    unclean: bool,
    expected: Election,
) -> None:
    assert elect_leader(replicas, isr, live.__contains__, unclean) == expected


def test_fencing_a_follower_shrinks_the_isr_without_a_new_leader_epoch() -> None:
    cluster = Cluster(brokers=3)
    cluster.create_assigned("t", (1, 2, 3))
    cluster.fence(2)
    part = cluster.part("t")
    assert (part.leader, part.isr, part.leader_epoch, part.partition_epoch) == (1, (1, 3), 0, 1)


def test_last_replica_standing_then_it_returns_and_leads() -> None:
    cluster = Cluster(brokers=3)
    cluster.create_assigned("t", (1, 2, 3))
    cluster.fence(1)
    cluster.fence(2)
    assert (cluster.part("t").leader, cluster.part("t").isr) == (3, (3,))
    cluster.fence(3)
    part = cluster.part("t")
    assert (part.leader, part.isr, part.leader_epoch) == (NO_LEADER, (3,), 3)
    cluster.start(1)  # not in the ISR: a clean election does not pick it
    assert cluster.part("t").leader == NO_LEADER
    cluster.start(3)
    part = cluster.part("t")
    assert (part.leader, part.isr, part.leader_epoch) == (3, (3,), 4)
    assert part.leader_recovery_state == RECOVERED and cluster.warnings == []


@pytest.mark.parametrize(
    ("setting", "cluster_default", "topic_config", "unclean"),
    [
        (False, None, None, False),
        (True, None, None, True),
        (False, None, "true", True),
        (True, None, "false", False),
        # The cluster's dynamic default (KIP-226) beats the controller's own config, and the
        # topic's beats both.
        (False, "true", None, True),
        (True, "false", None, False),
        (False, "true", "false", False),
    ],
)
def test_unclean_election(
    setting: bool, cluster_default: str | None, topic_config: str | None, unclean: bool
) -> None:
    cluster = Cluster(brokers=2, settings=ClusterSettings(unclean_leader_election_enable=setting))
    topic_id = cluster.create_assigned("t", (1, 2))
    key = "unclean.leader.election.enable"
    if cluster_default is not None:
        cluster.apply([ConfigRecord(BROKER_RESOURCE, "", key, cluster_default)])
    if topic_config is not None:
        cluster.apply([ConfigRecord(TOPIC_RESOURCE, "t", key, topic_config)])
    cluster.fence(2)
    cluster.fence(1)
    assert (cluster.part("t").leader, cluster.part("t").isr) == (NO_LEADER, (1,))
    cluster.start(2)
    part = cluster.part("t")
    if not unclean:
        assert (part.leader, part.isr) == (NO_LEADER, (1,)) and cluster.warnings == []
        return
    assert (part.leader, part.isr, part.leader_recovery_state) == (2, (2,), RECOVERING)
    assert len(cluster.warnings) == 1 and "t-0" in cluster.warnings[0]
    cluster.start(1)
    error, state = cluster.alter(2, topic_id, [(2, -1), (1, cluster.epochs[1])])
    assert error == ErrorCode.NONE and state is not None
    assert (state.isr, state.leader_recovery_state) == ((2, 1), RECOVERED)


def test_unregister_broker() -> None:
    """kafka-cluster unregister: the broker leaves ISRs and leaderships as if fenced, its
    registration goes; a heartbeat of that epoch is stale; a new registration is taken."""
    cluster = Cluster(brokers=3)
    cluster.create_assigned("t", (1, 2, 3))
    assert cluster.part("t").leader == 1
    assert cluster.commit(cluster.cluster.unregister_broker(7)) == (
        ErrorCode.BROKER_ID_NOT_REGISTERED
    )
    assert cluster.commit(cluster.cluster.unregister_broker(1)) == ErrorCode.NONE
    assert isinstance(cluster.log[-1], UnregisterBrokerRecord)
    assert 1 not in cluster.image.brokers
    part = cluster.part("t")
    assert (part.leader, part.isr, part.replicas) == (2, (2, 3), (1, 2, 3))
    assert 1 not in cluster.cluster.live_brokers()
    assert cluster.heartbeat(1)[0] == ErrorCode.STALE_BROKER_EPOCH
    old_epoch = cluster.epochs[1]
    cluster.start(1)
    assert cluster.epochs[1] > old_epoch and not cluster.image.brokers[1].fenced
    assert cluster.commit(cluster.cluster.unregister_broker(1)) == ErrorCode.NONE
    # A fenced broker (the usual case: it is gone) leaves the last ISR it is in alone.
    cluster.fence(3)
    cluster.fence(2)
    assert cluster.part("t").isr == (2,)
    assert cluster.commit(cluster.cluster.unregister_broker(2)) == ErrorCode.NONE
    assert cluster.part("t").isr == (2,) and cluster.part("t").leader == NO_LEADER
    assert set(cluster.image.brokers) == {3}


# -- AlterPartition --------------------------------------------------------------------------


@pytest.fixture
def shrunk() -> tuple[Cluster, uuid.UUID]:
    """t-0 on (1, 2, 3), led by 1, ISR (1, 2) after 3 fell behind (partition epoch 1)."""
    cluster = Cluster(brokers=4)
    topic_id = cluster.create_assigned("t", (1, 2, 3))
    error, _ = cluster.alter(1, topic_id, [(1, -1), (2, -1)])
    assert error == ErrorCode.NONE
    return cluster, topic_id


def test_alter_partition_success_and_cas_on_the_partition_epoch(
    shrunk: tuple[Cluster, uuid.UUID],
) -> None:
    cluster, topic_id = shrunk
    assert (cluster.part("t").isr, cluster.part("t").partition_epoch) == ((1, 2), 1)
    error, state = cluster.alter(1, topic_id, [(1, -1), (2, -1), (3, cluster.epochs[3])])
    assert error == ErrorCode.NONE and state == cluster.part("t")
    assert (state.isr, state.leader_epoch, state.partition_epoch) == ((1, 2, 3), 0, 2)
    # A request built on the old state loses the CAS.
    stale = cluster.alter(1, topic_id, [(1, -1)], partition_epoch=1)
    assert stale == (ErrorCode.INVALID_UPDATE_VERSION, None)
    same = cluster.cluster.alter_partition(
        1,
        cluster.epochs[1],
        topic_id=topic_id,
        partition_index=0,
        leader_epoch=0,
        partition_epoch=2,
        new_isr=[(1, -1), (2, -1), (3, -1)],
    )
    assert same.records == [] and same.result.error_code == ErrorCode.NONE


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("stale_broker_epoch", ErrorCode.STALE_BROKER_EPOCH),
        ("unregistered_sender", ErrorCode.STALE_BROKER_EPOCH),
        ("unknown_topic", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        ("unknown_partition", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        ("newer_leader_epoch", ErrorCode.NOT_CONTROLLER),
        ("newer_partition_epoch", ErrorCode.NOT_CONTROLLER),
        ("older_leader_epoch", ErrorCode.FENCED_LEADER_EPOCH),
        ("not_the_leader", ErrorCode.INVALID_REQUEST),
        ("older_partition_epoch", ErrorCode.INVALID_UPDATE_VERSION),
        ("not_a_replica", ErrorCode.INVALID_REQUEST),
        ("without_leader", ErrorCode.INVALID_REQUEST),
        ("empty", ErrorCode.INVALID_REQUEST),
        ("duplicate", ErrorCode.INVALID_REQUEST),
        ("fenced_joiner", ErrorCode.INELIGIBLE_REPLICA),
        ("shutting_down_joiner", ErrorCode.INELIGIBLE_REPLICA),
        ("stale_joiner_epoch", ErrorCode.INELIGIBLE_REPLICA),
    ],
)
def test_alter_partition_errors(
    shrunk: tuple[Cluster, uuid.UUID], case: str, expected: ErrorCode
) -> None:
    cluster, topic_id = shrunk
    args: dict[str, int] = {}
    broker, isr, index = 1, [(1, -1), (2, -1), (3, -1)], 0
    if case == "stale_broker_epoch":
        args["broker_epoch"] = cluster.epochs[1] - 1
    elif case == "unregistered_sender":
        broker = 9
    elif case == "newer_leader_epoch":
        args["leader_epoch"] = 1
    elif case == "newer_partition_epoch":
        args["partition_epoch"] = 2
    elif case == "older_leader_epoch":
        cluster.fence(1)  # 2 leads at epoch 1; 1 is back and still thinks epoch 0
        cluster.start(1)
        args["leader_epoch"] = 0
    elif case == "not_the_leader":
        broker = 2
    elif case == "older_partition_epoch":
        args["partition_epoch"] = 0
    elif case == "not_a_replica":
        isr = [(1, -1), (4, -1)]
    elif case == "without_leader":
        isr = [(2, -1), (3, -1)]
    elif case == "empty":
        isr = []
    elif case == "duplicate":
        isr = [(1, -1), (2, -1), (2, -1)]
    elif case == "fenced_joiner":
        cluster.fence(3)
    elif case == "shutting_down_joiner":
        cluster.heartbeat(3, shut_down=True)
    elif case == "stale_joiner_epoch":
        isr = [(1, -1), (2, -1), (3, cluster.epochs[3] + 1)]
    if case.startswith("unknown"):
        current = cluster.part("t")
        target = uuid.uuid4() if case == "unknown_topic" else topic_id
        index = 0 if case == "unknown_topic" else 5
        result = cluster.cluster.alter_partition(
            broker,
            cluster.epochs[broker],
            topic_id=target,
            partition_index=index,
            leader_epoch=current.leader_epoch,
            partition_epoch=current.partition_epoch,
            new_isr=isr,
        )
        assert (result.records, result.result.error_code) == ([], expected)
        return
    before = len(cluster.log)
    assert cluster.alter(broker, topic_id, isr, **args) == (expected, None)
    assert len(cluster.log) == before


def test_alter_partition_may_drop_a_member_that_is_no_longer_eligible(
    shrunk: tuple[Cluster, uuid.UUID],
) -> None:
    cluster, topic_id = shrunk
    cluster.alter(1, topic_id, [(1, -1), (2, -1), (3, -1)])
    # Only joiners are checked: a shrink that keeps 2 goes through whatever 2's epoch says.
    error, state = cluster.alter(1, topic_id, [(1, -1), (2, 999)])
    assert error == ErrorCode.NONE and state is not None and state.isr == (1, 2)


# -- controlled shutdown ---------------------------------------------------------------------


def test_controlled_shutdown_moves_leadership_then_lets_the_broker_go() -> None:
    cluster = Cluster(brokers=3)
    cluster.create_assigned("t", (1, 2, 3), (2, 3, 1), (3, 1, 2))
    error, _, fenced, shut_down = cluster.heartbeat(1, shut_down=True)
    assert (error, fenced, shut_down) == (ErrorCode.NONE, False, False)
    assert isinstance(cluster.log[-4], BrokerRegistrationChangeRecord)
    assert cluster.image.brokers[1].in_controlled_shutdown
    assert cluster.cluster.live_brokers() == [2, 3]
    states = [cluster.part("t", index) for index in range(3)]
    assert [(s.leader, s.isr, s.leader_epoch) for s in states] == [
        (2, (2, 3), 1),
        (2, (2, 3), 0),
        (3, (3, 2), 0),
    ]
    # The other brokers have not applied the batch yet: not yet.
    assert cluster.heartbeat(1, shut_down=True)[3] is False
    cluster.heartbeat(2)
    assert cluster.heartbeat(1, shut_down=True)[3] is False
    cluster.heartbeat(3)
    assert cluster.heartbeat(1, shut_down=True)[2:] == (True, True)
    assert cluster.image.brokers[1].fenced


def test_single_node_controlled_shutdown_goes_at_once_and_leads_again_after_restart() -> None:
    cluster = Cluster(brokers=1)
    cluster.create("t", partitions=2, rf=1)
    assert cluster.heartbeat(1, shut_down=True)[2:] == (True, True)
    assert [cluster.part("t", i).leader for i in range(2)] == [NO_LEADER, NO_LEADER]
    assert cluster.part("t").isr == (1,)
    cluster.start(1)
    assert [(cluster.part("t", i).leader, cluster.part("t", i).leader_epoch) for i in range(2)] == [
        (1, 2),
        (1, 2),
    ]


def test_fenced_broker_may_shut_down_at_once() -> None:
    cluster = Cluster(brokers=2)
    cluster.fence(1)
    assert cluster.heartbeat(1, shut_down=True) == (ErrorCode.NONE, True, True, True)


# -- preferred leaders -----------------------------------------------------------------------


def test_preferred_leader_election_restores_leaders_and_balance() -> None:
    cluster = Cluster(brokers=3)
    topic_id = cluster.create_assigned("t", (1, 2, 3), (1, 3, 2))
    cluster.fence(1)
    assert cluster.cluster.leader_imbalance() == {}  # 1 is not live: nothing to fix
    cluster.start(1)
    assert cluster.commit(cluster.cluster.elect_preferred_leaders()) == []  # 1 not in the ISR
    assert cluster.cluster.leader_imbalance() == {1: 1.0}
    assert cluster.cluster.imbalance_exceeds_threshold()
    cluster.alter(2, topic_id, [(2, -1), (3, -1), (1, cluster.epochs[1])])
    assert cluster.commit(cluster.cluster.elect_preferred_leaders()) == [("t", 0)]
    part = cluster.part("t")
    assert (part.leader, part.leader_epoch) == (1, 2)
    assert cluster.cluster.leader_imbalance() == {1: 0.5}


def test_imbalance_threshold_is_the_percentage_per_broker() -> None:
    settings = ClusterSettings(leader_imbalance_per_broker_percentage=50)
    cluster = Cluster(brokers=2, settings=settings)
    topic_id = cluster.create_assigned("t", (1, 2), (1, 2))
    cluster.fence(1)
    cluster.start(1)
    cluster.alter(2, topic_id, [(2, -1), (1, cluster.epochs[1])])  # partition 0 only
    assert cluster.cluster.leader_imbalance() == {1: 1.0}
    assert cluster.cluster.imbalance_exceeds_threshold()
    assert cluster.commit(cluster.cluster.elect_preferred_leaders()) == [("t", 0)]
    assert cluster.cluster.leader_imbalance() == {1: 0.5}
    assert not cluster.cluster.imbalance_exceeds_threshold()  # 50% is not above 50%


# -- producer ids and restart ----------------------------------------------------------------


def test_producer_id_blocks_are_never_reused_across_a_controller_restart() -> None:
    cluster = Cluster(brokers=2)
    first = cluster.commit(cluster.cluster.allocate_producer_ids(1, cluster.epochs[1]))
    second = cluster.commit(cluster.cluster.allocate_producer_ids(2, cluster.epochs[2], 10))
    assert (first.producer_id_start, first.producer_id_len) == (0, 1000)
    assert (second.producer_id_start, second.producer_id_len) == (1000, 10)
    stale = cluster.cluster.allocate_producer_ids(1, cluster.epochs[1] + 1)
    assert stale.records == [] and stale.result.error_code == ErrorCode.STALE_BROKER_EPOCH
    restarted = MetadataImage()
    for record in cluster.log:
        restarted.replay(record)
    assert restarted.state() == cluster.image.state()
    control = ClusterControl(restarted, ClusterSettings(), now_ms=0)
    third = control.allocate_producer_ids(1, cluster.epochs[1])
    assert third.records == [ProducerIdsRecord(1, 2010)]
    assert third.result.producer_id_start == 1010


def test_replaying_the_log_restores_identical_state() -> None:
    cluster = Cluster(brokers=3)
    topic_id = cluster.create("t", partitions=3)
    cluster.fence(2)
    cluster.start(2)
    cluster.heartbeat(3, shut_down=True)
    cluster.alter(cluster.part("t").leader, topic_id, [(cluster.part("t").leader, -1)])
    replayed = MetadataImage()
    for record in cluster.log:
        replayed.replay(record)
    assert replayed.state() == cluster.image.state()
    assert any(isinstance(record, PartitionRecord) for record in cluster.log)


# -- random command sequences ----------------------------------------------------------------

BROKER_IDS = st.integers(min_value=1, max_value=4)


class ClusterMachine(RuleBasedStateMachine):
    """Random commands against the controller; after each, P6/P8/P12 and producer-id checks."""

    def __init__(self) -> None:
        super().__init__()
        self.cluster = Cluster(brokers=0)
        self.epochs_seen: dict[tuple[uuid.UUID, int], tuple[int, int]] = {}
        self.broker_epochs: dict[int, int] = {}
        self.producer_ids: list[tuple[int, int]] = []
        self.topics = 0

    @initialize(unclean=st.booleans(), brokers=st.integers(1, 4), rf=st.integers(1, 3))
    def configure(self, unclean: bool, brokers: int, rf: int) -> None:
        settings = ClusterSettings(unclean_leader_election_enable=unclean)
        self.cluster = Cluster(brokers=brokers, settings=settings)
        self.create_topic(partitions=3, rf=rf)

    @rule(broker=BROKER_IDS, heartbeat=st.booleans())
    def register(self, broker: int, heartbeat: bool) -> None:
        self.cluster.register(broker)
        if heartbeat:
            self.cluster.heartbeat(broker)

    @rule(
        broker=BROKER_IDS,
        fence=st.sampled_from([False, False, True]),
        shut_down=st.sampled_from([False, False, True]),
        lag=st.sampled_from([0, 0, 0, 5]),
    )
    def heartbeat(self, broker: int, fence: bool, shut_down: bool, lag: int) -> None:
        if broker in self.cluster.epochs:
            offset = self.cluster.offset - lag
            self.cluster.heartbeat(broker, fence=fence, shut_down=shut_down, offset=offset)

    @rule(broker=BROKER_IDS, stale=st.booleans())
    def disconnect(self, broker: int, stale: bool) -> None:
        if broker in self.cluster.epochs:
            epoch = self.cluster.epochs[broker] - (1 if stale else 0)
            self.cluster.commit(self.cluster.cluster.broker_disconnected(broker, epoch, 0))

    @rule(broker=BROKER_IDS)
    def unregister(self, broker: int) -> None:
        error = self.cluster.commit(self.cluster.cluster.unregister_broker(broker))
        registered = broker in self.cluster.image.brokers
        assert not registered and (error == ErrorCode.NONE) == (broker in self.cluster.epochs)
        self.cluster.epochs.pop(broker, None)

    @rule(elapsed=st.integers(0, 2 * TIMEOUT_MS))
    def tick(self, elapsed: int) -> None:
        self.cluster.now += elapsed
        self.cluster.commit(self.cluster.cluster.tick(self.cluster.now))

    @rule(partitions=st.integers(1, 3), rf=st.integers(1, 3))
    def create_topic(self, partitions: int, rf: int) -> None:
        if len(self.cluster.cluster.live_brokers()) >= rf:
            self.topics += 1
            self.cluster.create(f"t{self.topics}", partitions, rf)

    @rule(data=st.data())
    def alter_partition(self, data: st.DataObject) -> None:
        parts = [
            (topic.topic_id, index, part)
            for topic in self.cluster.image.topics_by_name.values()
            for index, part in topic.partitions.items()
        ]
        if not parts:
            return
        topic_id, index, part = data.draw(st.sampled_from(parts))
        sender = data.draw(st.sampled_from([part.leader, *part.replicas]))
        members = data.draw(st.lists(st.sampled_from(part.replicas), unique=True, max_size=3))
        isr = [
            (m, data.draw(st.sampled_from([-1, self.cluster.epochs.get(m, -1), 12345])))
            for m in members
        ]
        self.cluster.commit(
            self.cluster.cluster.alter_partition(
                sender,
                self.cluster.epochs.get(sender, -1),
                topic_id=topic_id,
                partition_index=index,
                leader_epoch=part.leader_epoch + data.draw(st.sampled_from([0, 0, -1, 1])),
                partition_epoch=part.partition_epoch + data.draw(st.sampled_from([0, 0, -1, 1])),
                new_isr=isr,
            )
        )

    @rule()
    def elect_preferred(self) -> None:
        self.cluster.commit(self.cluster.cluster.elect_preferred_leaders())

    @rule(broker=BROKER_IDS, size=st.integers(1, 50))
    def allocate_producer_ids(self, broker: int, size: int) -> None:
        epoch = self.cluster.epochs.get(broker, -1)
        result = self.cluster.commit(
            self.cluster.cluster.allocate_producer_ids(broker, epoch, size)
        )
        if result.error_code == ErrorCode.NONE:
            start, length = result.producer_id_start, result.producer_id_len
            assert all(start >= end for _, end in self.producer_ids)
            self.producer_ids.append((start, start + length))

    @invariant()
    def partitions_are_sound(self) -> None:
        image = self.cluster.image
        for topic in image.topics_by_name.values():
            for index, part in topic.partitions.items():
                assert part.isr and set(part.isr) <= set(part.replicas)
                assert len(set(part.isr)) == len(part.isr)
                assert part.leader == NO_LEADER or part.leader in part.isr
                assert part.leader == NO_LEADER or image.is_active(part.leader)
                if len(part.isr) > 1:
                    assert all(image.is_active(member) for member in part.isr), part
                key = (topic.topic_id, index)
                before = self.epochs_seen.get(key, (-1, -1))
                now = (part.leader_epoch, part.partition_epoch)
                assert now[0] >= before[0] and now[1] >= before[1]
                self.epochs_seen[key] = now

    @invariant()
    def broker_epochs_only_grow_and_are_unique(self) -> None:
        brokers = self.cluster.image.brokers
        for broker_id, registration in brokers.items():
            assert registration.broker_epoch >= self.broker_epochs.get(broker_id, -1)
            self.broker_epochs[broker_id] = registration.broker_epoch
        assert len({r.broker_epoch for r in brokers.values()}) == len(brokers)

    @invariant()
    def replay_gives_the_same_state(self) -> None:
        replayed = MetadataImage()
        for record in self.cluster.log:
            replayed.replay(record)
        assert replayed.state() == self.cluster.image.state()


ClusterMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
test_random_command_sequences = ClusterMachine.TestCase


# -- reassignment (KIP-455) --------------------------------------------------------------------


def _reassigned(
    cluster: Cluster, *requests: tuple[str, int, tuple[int, ...] | None]
) -> list[tuple[ErrorCode, str | None]]:
    answers = cluster.commit(cluster.cluster.alter_partition_reassignments(list(requests)))
    return [(error, message) for _, _, error, message in answers]


def test_reassignment_adds_then_completes_when_the_target_is_in_sync() -> None:
    cluster = Cluster(brokers=4)
    topic_id = cluster.create_assigned("t", (1, 2, 3))
    before = cluster.part("t")
    assert _reassigned(cluster, ("t", 0, (2, 3, 4))) == [(ErrorCode.NONE, None)]
    ongoing = cluster.part("t")
    assert (ongoing.replicas, ongoing.adding_replicas, ongoing.removing_replicas) == (
        (2, 3, 4, 1),
        (4,),
        (1,),
    )
    assert (ongoing.isr, ongoing.leader, ongoing.leader_epoch) == (
        (1, 2, 3),
        1,
        before.leader_epoch,
    )
    assert ongoing.partition_epoch == before.partition_epoch + 1
    listed = cluster.cluster.list_partition_reassignments(None)
    assert [(name, index) for name, index, _ in listed] == [("t", 0)]
    assert cluster.cluster.list_partition_reassignments([("t", [1]), ("nope", [0])]) == []

    # The leader brings 4 into the ISR: the same record completes the move, and leader 1,
    # being removed, hands over to the first target replica in the ISR.
    error, state = cluster.alter(1, topic_id, [(1, -1), (2, -1), (3, -1), (4, cluster.epochs[4])])
    assert error == ErrorCode.NONE and state == cluster.part("t")
    assert (state.replicas, state.isr, state.leader) == ((2, 3, 4), (2, 3, 4), 2)
    assert (state.adding_replicas, state.removing_replicas) == ((), ())
    assert state.leader_epoch == before.leader_epoch + 1
    assert cluster.cluster.list_partition_reassignments(None) == []
    replayed = MetadataImage()
    for record in cluster.log:
        replayed.replay(record_from_dict(record_to_dict(record)))
    topic = replayed.topic("t")
    assert topic is not None and topic.partitions[0] == state


def test_reassignment_cancel_replace_and_errors() -> None:
    cluster = Cluster(brokers=4)
    topic_id = cluster.create_assigned("t", (1, 2, 3))
    assert _reassigned(cluster, ("t", 0, None)) == [(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None)]
    errors = _reassigned(
        cluster, ("t", 0, ()), ("t", 0, (1, 1)), ("t", 0, (1, 9)), ("t", 5, (1,)), ("u", 0, (1,))
    )
    assert [error for error, _ in errors] == [ErrorCode.INVALID_REPLICA_ASSIGNMENT] * 3 + [
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    ] * 2
    assert errors[2][1] == "unknown brokers [9]"
    assert not cluster.part("t").reassigning

    # 4 is added and catches up into the ISR, but 1 (the leader) is still needed by the
    # target (1, 2, 4)... until the target is replaced by (2, 4): then it completes at once.
    assert _reassigned(cluster, ("t", 0, (1, 2, 4))) == [(ErrorCode.NONE, None)]
    cluster.alter(1, topic_id, [(1, -1), (2, -1), (3, -1), (4, cluster.epochs[4])])
    done = cluster.part("t")
    assert (done.replicas, done.isr, done.reassigning) == ((1, 2, 4), (1, 2, 4), False)

    # A cancel goes back to the original replicas (in the order the reassignment listed them,
    # as Kafka: the target's first); the added one leaves the ISR.
    assert _reassigned(cluster, ("t", 0, (3, 2))) == [(ErrorCode.NONE, None)]
    assert cluster.part("t").adding_replicas == (3,)
    assert _reassigned(cluster, ("t", 0, None)) == [(ErrorCode.NONE, None)]
    back = cluster.part("t")
    assert (back.replicas, back.isr, back.leader, back.reassigning) == (
        (2, 1, 4),
        (1, 2, 4),
        1,
        False,
    )


def test_a_pure_removal_completes_at_once() -> None:
    cluster = Cluster(brokers=3)
    cluster.create_assigned("t", (1, 2, 3))
    assert _reassigned(cluster, ("t", 0, (3, 2))) == [(ErrorCode.NONE, None)]
    state = cluster.part("t")
    assert (state.replicas, state.isr, state.leader, state.reassigning) == (
        (3, 2),
        (2, 3),
        3,
        False,
    )
