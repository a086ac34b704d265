"""Controller commands return records; the image changes only by replaying them, and replay
refuses records that would lower an epoch or break the ISR rules (P6, P8)."""

from __future__ import annotations

import dataclasses
import random
import uuid

import pytest

from broker.core.controller import (
    ConfigValidationError,
    Controller,
    ControllerSettings,
    NewTopic,
    rack_alternated,
    rack_aware_placement,
    round_robin_placement,
    topic_name_error,
)
from broker.core.metadata import (
    BROKER_RESOURCE,
    RECOVERING,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FenceBrokerRecord,
    MetadataImage,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UnfenceBrokerRecord,
    record_from_dict,
    record_to_dict,
)
from client.protocol.errors import ErrorCode


def _validate(configs: dict[str, str | None]) -> dict[str, str]:
    if "bogus" in configs:
        raise ConfigValidationError("unknown config key 'bogus'")
    return {key: value for key, value in configs.items() if value is not None}


def _controller(brokers: int = 1) -> Controller:
    image = MetadataImage()
    for broker in range(1, brokers + 1):
        image.replay(RegisterBrokerRecord(broker, "x", 1, "127.0.0.1", 9000 + broker))
    return Controller(image, ControllerSettings(num_partitions=2), _validate, random.Random(7))


def test_create_topic_returns_records_and_replay_applies_them() -> None:
    controller = _controller()
    result = controller.create_topics(
        [NewTopic("orders", 3, 1, configs={"retention.ms": "5"})], validate_only=False
    )
    assert [r.error_code for r in result.results] == [ErrorCode.NONE]
    assert controller.image.topic("orders") is None  # nothing changes before replay
    controller.replay(result.records)
    topic = controller.image.topic("orders")
    assert topic is not None
    assert sorted(topic.partitions) == [0, 1, 2]
    assert topic.configs == {"retention.ms": "5"}
    assert all(p.leader == 1 and p.isr == (1,) for p in topic.partitions.values())


def test_records_survive_serialisation() -> None:
    controller = _controller()
    result = controller.create_topics([NewTopic("t", -1, -1)], validate_only=False)
    again = [record_from_dict(record_to_dict(record)) for record in result.records]
    assert again == result.records
    replayed = MetadataImage()
    for record in [RegisterBrokerRecord(1, "x", 1, "h", 1), *again]:
        replayed.replay(record)
    topic = replayed.topic("t")
    assert topic is not None and len(topic.partitions) == 2  # num.partitions default


@pytest.mark.parametrize(
    ("topic", "error"),
    [
        (NewTopic("bad name", 1, 1), ErrorCode.INVALID_TOPIC_EXCEPTION),
        (NewTopic("", 1, 1), ErrorCode.INVALID_TOPIC_EXCEPTION),
        (NewTopic("x" * 250, 1, 1), ErrorCode.INVALID_TOPIC_EXCEPTION),
        (NewTopic("t", 0, 1), ErrorCode.INVALID_PARTITIONS),
        (NewTopic("t", -5, 1), ErrorCode.INVALID_PARTITIONS),
        (NewTopic("t", 1, 2), ErrorCode.INVALID_REPLICATION_FACTOR),
        (NewTopic("t", 1, 0), ErrorCode.INVALID_REPLICATION_FACTOR),
        (NewTopic("t", 1, 1, configs={"bogus": "1"}), ErrorCode.INVALID_CONFIG),
        (NewTopic("t", 1, 1, assignments={0: (9,)}), ErrorCode.INVALID_REQUEST),
        (NewTopic("t", -1, -1, assignments={0: (9,)}), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (NewTopic("t", -1, -1, assignments={1: (1,)}), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ],
)
def test_invalid_topics_are_refused_without_records(topic: NewTopic, error: ErrorCode) -> None:
    result = _controller().create_topics([topic], validate_only=False)
    assert result.results[0].error_code == error
    assert result.results[0].error_message
    assert result.records == []


def test_existing_colliding_and_duplicate_names() -> None:
    controller = _controller()
    controller.replay(controller.create_topics([NewTopic("a.b", 1, 1)], False).records)
    codes = [
        r.error_code
        for r in controller.create_topics(
            [
                NewTopic("a.b", 1, 1),
                NewTopic("a_b", 1, 1),
                NewTopic("c", 1, 1),
                NewTopic("c", 1, 1),
            ],
            False,
        ).results
    ]
    assert codes == [
        ErrorCode.TOPIC_ALREADY_EXISTS,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.NONE,
        ErrorCode.INVALID_REQUEST,
    ]


def test_validate_only_returns_no_records() -> None:
    result = _controller().create_topics([NewTopic("t", 1, 1)], validate_only=True)
    assert result.results[0].error_code == ErrorCode.NONE and result.records == []


def test_delete_and_create_partitions() -> None:
    controller = _controller()
    controller.replay(controller.create_topics([NewTopic("t", 1, 1)], False).records)
    grow = controller.create_partitions("t", 4, validate_only=False)
    controller.replay(grow.records)
    topic = controller.image.topic("t")
    assert topic is not None and sorted(topic.partitions) == [0, 1, 2, 3]
    shrink = controller.create_partitions("t", 2, validate_only=False)
    assert shrink.results[0].error_code == ErrorCode.INVALID_PARTITIONS
    assert controller.create_partitions("nope", 2, False).results[0].error_code == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    )
    deleted = controller.delete_topics(["t", "missing"])
    assert [r.error_code for r in deleted.results] == [
        ErrorCode.NONE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ]
    controller.replay(deleted.records)
    assert controller.image.topic("t") is None


def test_round_robin_placement_is_balanced() -> None:
    placement = round_robin_placement([1, 2, 3], 6, 3, 0)
    leaders = [replicas[0] for replicas in placement]
    assert sorted(leaders) == [1, 1, 2, 2, 3, 3]
    assert all(len(set(replicas)) == 3 for replicas in placement)


def test_rack_alternated_takes_the_racks_in_turn() -> None:
    racks = {1: "b", 2: "a", 3: "a", 4: "c", 5: "b", 6: None}
    # Racks by name (no rack first), brokers by id within a rack.
    assert rack_alternated(racks) == [6, 2, 1, 4, 3, 5]


@pytest.mark.parametrize(
    ("racks", "factor"),
    [
        ({1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 3),
        ({1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 2),
        ({1: "a", 2: "b", 3: "c"}, 3),
        ({1: "a", 2: "b", 3: "a", 4: "b"}, 3),
        ({1: "a", 2: "a", 3: "a", 4: "b"}, 2),
        ({1: "x", 2: None, 3: "x", 4: None}, 2),
    ],
)
def test_rack_aware_placement_spans_racks(racks: dict[int, str | None], factor: int) -> None:
    distinct = len(set(racks.values()))
    for start in range(len(racks)):
        placement = rack_aware_placement(racks, 12, factor, start)
        for replicas in placement:
            assert len(set(replicas)) == factor, replicas
            assert len({racks[b] for b in replicas}) == min(factor, distinct), replicas
        leaders = [replicas[0] for replicas in placement]
        # Leaders go round the rack-alternated list: every broker leads 12 / brokers times.
        assert sorted(leaders) == sorted(list(racks) * (12 // len(racks))), leaders


def test_controller_places_across_racks_once_brokers_have_them() -> None:
    image = MetadataImage()
    for broker, rack in [(1, "a"), (2, "a"), (3, "b"), (4, "b")]:
        image.replay(RegisterBrokerRecord(broker, "x", 1, "127.0.0.1", 9000 + broker, rack))
    controller = Controller(image, ControllerSettings(), _validate, random.Random(3))
    controller.replay(controller.create_topics([NewTopic("t", 8, 2)], False).records)
    topic = controller.image.topic("t")
    assert topic is not None
    for partition in topic.partitions.values():
        assert {image.brokers[b].rack for b in partition.replicas} == {"a", "b"}
    more = controller.create_partitions("t", 12, validate_only=False)
    controller.replay(more.records)
    topic = controller.image.topic("t")
    assert topic is not None and len(topic.partitions) == 12
    for partition in topic.partitions.values():
        assert {image.brokers[b].rack for b in partition.replicas} == {"a", "b"}
    # Without racks (or with one rack) placement stays the plain round-robin.
    plain = _controller(brokers=4)
    plain.replay(plain.create_topics([NewTopic("p", 4, 2)], False).records)
    placed = plain.image.topic("p")
    assert placed is not None
    first = placed.partitions[0].replicas[0]
    expected = round_robin_placement([1, 2, 3, 4], 4, 2, first - 1)
    assert [placed.partitions[i].replicas for i in range(4)] == expected


def test_topic_name_rules() -> None:
    assert topic_name_error("ok.name_1-x") is None
    assert topic_name_error(".") and topic_name_error("..") and topic_name_error("a/b")


def test_placement_uses_active_brokers_and_the_isr_starts_with_the_live_replicas() -> None:
    controller = _controller(brokers=3)
    image = controller.image
    image.replay(UnfenceBrokerRecord(1, 1))
    image.replay(UnfenceBrokerRecord(2, 1))
    assert controller.live_brokers() == [1, 2]  # 3 is still fenced
    result = controller.create_topics([NewTopic("t", 4, 2)], False)
    controller.replay(result.records)
    topic = controller.image.topic("t")
    assert topic is not None
    assert all(set(p.replicas) == {1, 2} and p.isr == p.replicas for p in topic.partitions.values())
    manual = NewTopic("m", -1, -1, assignments={0: (3, 1), 1: (3,)})
    refused = controller.create_topics([manual], False).results[0]
    assert refused.error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert "fenced" in (refused.error_message or "")
    manual = NewTopic("m", -1, -1, assignments={0: (3, 1)})
    controller.replay(controller.create_topics([manual], False).records)
    partition = controller.image.topics_by_name["m"].partitions[0]
    assert (partition.replicas, partition.isr, partition.leader) == ((3, 1), (1,), 1)


def test_an_injected_live_broker_list_is_used_as_is() -> None:
    image = MetadataImage()
    image.replay(RegisterBrokerRecord(1, "x", 1, "h", 1))
    controller = Controller(
        image, ControllerSettings(), _validate, random.Random(1), live_brokers=list
    )
    result = controller.create_topics([NewTopic("t", 1, 1)], False)
    assert result.results[0].error_code == ErrorCode.INVALID_REPLICATION_FACTOR


def _image_with_partition() -> tuple[MetadataImage, str]:
    image = MetadataImage()
    topic_id = str(uuid.UUID(int=1))
    image.replay(TopicRecord("t", topic_id))
    image.replay(PartitionRecord(topic_id, 0, (1, 2), (1, 2), 1, 3, 5))
    return image, topic_id


@pytest.mark.parametrize(
    "record",
    [
        PartitionRecord("", 0, (1, 2), (1,), 1, 3, 5),  # partition epoch not raised
        PartitionRecord("", 0, (1, 2), (1,), 1, 3, 4),  # partition epoch lowered
        PartitionRecord("", 0, (1, 2), (1, 2), 1, 2, 6),  # leader epoch lowered
        PartitionRecord("", 0, (1, 2), (2,), 2, 3, 6),  # new leader, same leader epoch
        PartitionRecord("", 0, (1, 2), (), -1, 4, 6),  # empty ISR
        PartitionRecord("", 0, (1, 2), (1, 3), 1, 3, 6),  # ISR not within replicas
        PartitionRecord("", 0, (1, 2), (2,), 1, 3, 6),  # leader outside the ISR
        PartitionRecord("", 0, (1, 2), (1, 1), 1, 3, 6),  # duplicate member
        PartitionRecord("", 0, (1, 2), (1,), 1, 3, 6, 7),  # unknown recovery state
    ],
)
def test_replay_refuses_partition_states_that_break_p6_or_p8(record: PartitionRecord) -> None:
    image, topic_id = _image_with_partition()
    before = image.state()
    with pytest.raises(ValueError):
        image.replay(dataclasses.replace(record, topic_id=topic_id))
    assert image.state()[:-1] == before[:-1]  # nothing but the offset moved
    assert image.records_replayed == before[-1] + 1


def test_replay_accepts_a_change_with_higher_epochs() -> None:
    image, topic_id = _image_with_partition()
    image.replay(PartitionRecord(topic_id, 0, (1, 2), (2,), 2, 4, 6, RECOVERING))
    partition = image.topics_by_name["t"].partitions[0]
    assert (partition.leader, partition.leader_epoch, partition.leader_recovery_state) == (
        2,
        4,
        RECOVERING,
    )
    image.replay(PartitionRecord(topic_id, 0, (1, 2), (2, 1), 2, 4, 7))  # ISR change only
    assert image.topics_by_name["t"].partitions[0].partition_epoch == 7


def test_broker_records_fence_by_epoch_and_epochs_only_grow() -> None:
    image = MetadataImage()
    image.replay(ConfigRecord(BROKER_RESOURCE, "1", "k", "v"))
    image.replay(RegisterBrokerRecord(1, "a", 5, "h", 1))
    broker = image.brokers[1]
    assert broker.fenced and broker.registration_offset == 1 and not broker.in_controlled_shutdown
    image.replay(UnfenceBrokerRecord(1, 4))  # stale: ignored
    assert image.brokers[1].fenced
    image.replay(UnfenceBrokerRecord(1, 5))
    assert image.active_brokers() == [1]
    image.replay(BrokerRegistrationChangeRecord(1, 5, True))
    assert image.active_brokers() == [] and not image.brokers[1].fenced
    image.replay(FenceBrokerRecord(1, 99))  # stale: ignored
    assert not image.brokers[1].fenced
    image.replay(FenceBrokerRecord(1, 5))
    assert image.brokers[1].fenced
    with pytest.raises(ValueError):
        image.replay(RegisterBrokerRecord(1, "b", 5, "h", 1))
    image.replay(RegisterBrokerRecord(1, "b", 6, "h", 1, fenced=False))
    assert image.is_active(1) and image.brokers[1].registration_offset == 8


def test_new_records_serialise_and_old_ones_still_load() -> None:
    records = [
        RegisterBrokerRecord(1, "x", 3, "h", 1, "r1", fenced=False),
        FenceBrokerRecord(1, 3),
        UnfenceBrokerRecord(1, 3),
        BrokerRegistrationChangeRecord(1, 3, True),
        PartitionRecord(str(uuid.UUID(int=1)), 0, (1,), (1,), 1, 0, 0, RECOVERING),
    ]
    assert [record_from_dict(record_to_dict(record)) for record in records] == records
    old = {
        "type": "RegisterBrokerRecord",
        "broker_id": 1,
        "incarnation_id": "x",
        "broker_epoch": 1,
        "host": "h",
        "port": 1,
        "rack": None,
    }
    assert record_from_dict(old) == RegisterBrokerRecord(1, "x", 1, "h", 1, fenced=True)
    old_partition = record_to_dict(records[-1])
    del old_partition["leader_recovery_state"]
    loaded = record_from_dict(old_partition)
    assert isinstance(loaded, PartitionRecord) and loaded.leader_recovery_state == 0


def test_producer_id_blocks_never_go_back_on_replay() -> None:
    image = MetadataImage()
    image.replay(ProducerIdsRecord(1, 1000))
    with pytest.raises(ValueError):
        image.replay(ProducerIdsRecord(1, 999))
    assert image.next_producer_id == 1000


def test_rack_aware_placement_balances_replicas_from_any_start() -> None:
    racks: dict[int, str | None] = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    for start in range(12):
        placement = rack_aware_placement(racks, 12, 3, start)
        replicas = [broker for replicas in placement for broker in replicas]
        assert all(replicas.count(broker) == 6 for broker in racks), (start, placement)
