"""The partition glue shared by the broker process and the simulation (ReplicaManager), on a
real log manager in a temporary directory and a fake owner (clock, log lines, transport)."""

from __future__ import annotations

import uuid
from pathlib import Path

from broker.core.metadata import (
    TOPIC_RESOURCE,
    ConfigRecord,
    MetadataImage,
    MetadataRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.core.partition import ACKS_ALL, IsrProposal, Partition
from broker.core.replica_fetcher import AppendRecords, FetcherSettings, ReplicaFetchState, Truncate
from broker.log.config import LogConfig
from broker.log.log_manager import LogManager
from broker.server.replica_manager import ReplicaManager
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch

TOPIC_ID = str(uuid.UUID(int=7))


class FakeFetchers:
    def __init__(self) -> None:
        self.following: dict[tuple[str, int], int] = {}

    def follow(self, partition: Partition) -> None:
        self.following[(partition.topic, partition.index)] = partition.leader

    def unfollow(self, key: tuple[str, int]) -> None:
        self.following.pop(key, None)


class Owner(ReplicaManager):
    replica_fetchers: FakeFetchers

    def __init__(self, node_id: int, directory: Path) -> None:
        logs = LogManager.open([directory], LogConfig())
        self._init_replicas(node_id, MetadataImage(), logs)
        self.replica_fetchers = FakeFetchers()
        self.clock = 1_000
        self.lines: list[str] = []
        self.sent: list[IsrProposal] = []
        self.leadership: list[tuple[str, bool]] = []

    def now_ms(self) -> int:
        return self.clock

    def wall_now_ms(self) -> int:
        return 1_700_000_000_000 + self.clock

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append("WARNING " + message)

    def log_config(self, overrides: dict[str, str]) -> LogConfig:
        return LogConfig()

    def default_min_insync_replicas(self) -> int:
        return 1

    def send_alter_partition(self, proposal: IsrProposal) -> None:
        self.sent.append(proposal)

    def on_leadership_change(self, partition: Partition) -> None:
        self.leadership.append((partition.topic, partition.is_leader))

    def replay(self, *records: MetadataRecord) -> None:
        for record in records:
            self.image.replay(record)
        self.on_metadata_records(records)


def _brokers() -> list[MetadataRecord]:
    records: list[MetadataRecord] = []
    for broker_id in (1, 2, 3):
        records.append(RegisterBrokerRecord(broker_id, f"i{broker_id}", broker_id, "h", 9000))
        records.append(UnfenceBrokerRecord(broker_id, broker_id))
    return records


def _partition(leader: int, isr: tuple[int, ...], epoch: int, version: int) -> PartitionRecord:
    return PartitionRecord(TOPIC_ID, 0, (1, 2, 3), isr, leader, epoch, version)


def test_states_are_adopted_only_once_the_image_caught_up(tmp_path: Path) -> None:
    owner = Owner(1, tmp_path)
    owner.replay(*_brokers(), TopicRecord("t", TOPIC_ID), _partition(2, (2, 1, 3), 0, 0))
    assert owner.partitions == {}  # replaying old states: not acted on
    owner.on_metadata_caught_up()
    partition = owner.partitions[("t", 0)]
    assert (partition.leader, partition.is_follower) == (2, True)
    assert owner.replica_fetchers.following == {("t", 0): 2}
    owner.replay(_partition(1, (1, 3), 1, 1))
    assert partition.is_leader and partition.leader_epoch == 1
    assert owner.replica_fetchers.following == {}
    assert owner.leadership == [("t", False), ("t", True)]
    assert any("leader at epoch 1" in line for line in owner.lines)


def _leader(tmp_path: Path) -> tuple[Owner, Partition]:
    owner = Owner(1, tmp_path)
    owner.replay(*_brokers(), TopicRecord("t", TOPIC_ID), _partition(1, (1, 2), 0, 0))
    owner.on_metadata_caught_up()
    return owner, owner.partitions[("t", 0)]


def test_a_caught_up_follower_is_proposed_and_a_refusal_reverts(tmp_path: Path) -> None:
    owner, partition = _leader(tmp_path)
    owner.on_follower_fetch(partition, 2, 0, 2)
    owner.on_follower_fetch(partition, 3, 0, 3)
    assert [p.new_isr for p in owner.sent] == [(1, 2, 3)]
    proposal = owner.sent[0]
    before = partition.maximal_isr
    assert not owner.alter_partition_superseded(proposal)
    owner.on_isr_change_answer(proposal, ErrorCode.INELIGIBLE_REPLICA)
    assert (before, partition.maximal_isr, partition.pending_isr) == ((1, 2, 3), (1, 2), None)
    assert owner.alter_partition_superseded(proposal)


def test_after_a_success_the_joiner_stays_pending_until_the_state_arrives(tmp_path: Path) -> None:
    owner, partition = _leader(tmp_path)
    owner.on_follower_fetch(partition, 2, 0, 2)
    owner.on_follower_fetch(partition, 3, 0, 3)
    proposal = owner.sent[0]
    owner.on_isr_change_answer(proposal, ErrorCode.NONE)  # the metadata is late
    assert partition.pending_isr == (1, 2, 3)
    assert not owner.partition_epoch_at_least(("t", 0), 1)
    owner.replay(_partition(1, (1, 2, 3), 0, 1))
    assert partition.isr == (1, 2, 3) and partition.pending_isr is None
    assert owner.partition_epoch_at_least(("t", 0), 1)
    assert owner.alter_partition_superseded(proposal)


def test_the_isr_round_drops_a_lagging_follower(tmp_path: Path) -> None:
    owner, partition = _leader(tmp_path)
    owner.on_follower_fetch(partition, 2, 0, 2)
    log_ = owner.partition_log("t", 0)
    assert log_.log_end_offset == 0
    partition.on_local_append(5, 100, owner.clock)  # follower 2 is now behind
    owner.clock += 40_000
    owner.expire_isr_round(30_000)
    assert [p.new_isr for p in owner.sent] == [(1,)]
    assert any("proposing ISR [1] (was [1, 2])" in line for line in owner.lines)


def test_topic_configs_and_removal_reach_the_partitions(tmp_path: Path) -> None:
    owner, partition = _leader(tmp_path)
    owner.replay(ConfigRecord(TOPIC_RESOURCE, "t", "min.insync.replicas", "2"))
    assert partition.min_insync_replicas == 2
    owner.replay(RemoveTopicRecord(TOPIC_ID))
    assert owner.partitions == {} and owner.logs.get("t", 0) is None


def test_logs_the_caught_up_image_does_not_know_are_deleted(tmp_path: Path) -> None:
    owner = Owner(1, tmp_path)
    owner.logs.create("gone", 0, LogConfig(), wall_ms=0)
    owner.replay(*_brokers())
    owner.on_metadata_caught_up()
    assert owner.logs.get("gone", 0) is None
    assert any("gone-0: not a replica here" in line for line in owner.lines)


# -- the leader's side of a produce (append_as_leader) -------------------------------------


def test_produce_is_refused_where_this_broker_does_not_lead(tmp_path: Path) -> None:
    owner = Owner(1, tmp_path)
    owner.replay(*_brokers(), TopicRecord("t", TOPIC_ID), _partition(2, (2, 1, 3), 4, 0))
    owner.on_metadata_caught_up()
    batch = build_batch([b"v"])
    follower = owner.append_as_leader("t", 0, batch, ACKS_ALL)
    assert (follower.error, follower.current_leader) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, (2, 4))
    missing = owner.append_as_leader("t", 9, batch, ACKS_ALL)
    assert (missing.error, missing.current_leader) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    assert owner.partition_log("t", 0).log_end_offset == 0


def test_produce_appends_with_the_epoch_and_acks_all_waits_for_the_batch(tmp_path: Path) -> None:
    owner, partition = _leader(tmp_path)
    appended = owner.append_as_leader("t", 0, build_batch([b"a", b"b"]), ACKS_ALL)
    assert (appended.error, appended.base_offset, appended.required) == (
        ErrorCode.NONE,
        0,
        (2, partition.leader_epoch),
    )
    leader_only = owner.append_as_leader("t", 0, build_batch([b"c"]), 1)
    assert (leader_only.base_offset, leader_only.required) == (2, None)
    assert owner.partition_log("t", 0).log_end_offset == 3
    empty = owner.append_as_leader("t", 0, b"", ACKS_ALL)
    assert empty.error is ErrorCode.CORRUPT_MESSAGE
    garbage = owner.append_as_leader("t", 0, b"\x00" * 70, ACKS_ALL)
    assert garbage.error is not ErrorCode.NONE
    assert owner.partition_log("t", 0).log_end_offset == 3


def test_a_retried_idempotent_batch_gets_its_offsets_and_waits_like_the_original(
    tmp_path: Path,
) -> None:
    owner, _ = _leader(tmp_path)
    batch = build_batch([b"x"], producer_id=5, producer_epoch=0, base_sequence=0)
    first = owner.append_as_leader("t", 0, batch, ACKS_ALL)
    again = owner.append_as_leader("t", 0, batch, ACKS_ALL)
    assert (again.error, again.duplicate, again.base_offset) == (ErrorCode.NONE, True, 0)
    assert again.required == first.required  # the original may not be committed yet
    assert owner.partition_log("t", 0).log_end_offset == 1
    gap = build_batch([b"y"], producer_id=5, producer_epoch=0, base_sequence=7)
    assert (
        owner.append_as_leader("t", 0, gap, ACKS_ALL).error
        is ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    )


# -- the follower's side of a fetch (apply_fetched) ----------------------------------------


def _follower(tmp_path: Path) -> tuple[Owner, ReplicaFetchState]:
    owner = Owner(1, tmp_path)
    owner.replay(*_brokers(), TopicRecord("t", TOPIC_ID), _partition(2, (2, 1, 3), 0, 0))
    owner.on_metadata_caught_up()
    state = ReplicaFetchState(2, FetcherSettings(1, 500, 1, 1 << 20, 1 << 20, 1000))
    partition = owner.partitions[("t", 0)]
    state.add_partition(
        ("t", 0), uuid.UUID(TOPIC_ID), partition.leader_epoch, owner.partition_log("t", 0)
    )
    return owner, state


def test_fetched_batches_append_with_the_leaders_offsets_and_a_truncation_checkpoints(
    tmp_path: Path,
) -> None:
    owner, state = _follower(tmp_path)
    key = ("t", 0)
    chunk = b"".join(build_batch([v], base_offset=i) for i, v in enumerate([b"a", b"b", b"c"]))
    owner.apply_fetched(2, state, AppendRecords(key, chunk, 2, 0))
    log_ = owner.partition_log("t", 0)
    assert (log_.log_end_offset, owner.partitions[key].high_watermark) == (3, 2)
    owner.apply_fetched(2, state, Truncate(key, 1, True))
    assert log_.log_end_offset == 1
    assert any("truncating to offset 1 by leader epoch (log end was 3)" in x for x in owner.lines)
    # Checkpointed at once (as Kafka, the recovery points move with a truncation): the HW
    # the truncation lowered is on disk.
    checkpoint = (tmp_path / "replication-offset-checkpoint").read_text().split()
    assert checkpoint[-3:] == ["t", "0", "1"]
    # A chunk for an offset no longer held (a truncation raced it): refetched, not appended.
    owner.apply_fetched(2, state, AppendRecords(key, build_batch([b"z"], base_offset=3), 3, 0))
    assert log_.log_end_offset == 1
    assert any("fetching from the log end" in line for line in owner.lines)
    owner.apply_fetched(2, state, AppendRecords(key, b"\x00" * 80, 3, 0))
    assert any(line.startswith("WARNING corrupt batch") for line in owner.lines)
    assert log_.log_end_offset == 1


def test_an_effect_for_a_partition_led_elsewhere_drops_it_from_the_fetcher(
    tmp_path: Path,
) -> None:
    owner, state = _follower(tmp_path)
    owner.apply_fetched(3, state, AppendRecords(("t", 0), build_batch([b"a"]), 1, 0))
    assert owner.partition_log("t", 0).log_end_offset == 0
    assert ("t", 0) not in state.partitions
