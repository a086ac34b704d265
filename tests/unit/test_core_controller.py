"""Controller commands return records; the image changes only by replaying them."""

from __future__ import annotations

import random

import pytest

from broker.core.controller import (
    ConfigValidationError,
    Controller,
    ControllerSettings,
    NewTopic,
    round_robin_placement,
    topic_name_error,
)
from broker.core.metadata import (
    MetadataImage,
    RegisterBrokerRecord,
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


def test_topic_name_rules() -> None:
    assert topic_name_error("ok.name_1-x") is None
    assert topic_name_error(".") and topic_name_error("..") and topic_name_error("a/b")
