"""MetadataImage.leaders_in_doubt: which Metadata answers would name a leader the answering
broker has just lost its connection to (BrokerServer.leaders_settled waits on it)."""

from __future__ import annotations

import uuid

from broker.core.metadata import (
    FenceBrokerRecord,
    MetadataImage,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)


def _image() -> MetadataImage:
    """Brokers 1-3 live; topic a led by 2 (partition 0) and 3 (partition 1); topic b by 1."""
    image = MetadataImage()
    for broker in (1, 2, 3):
        image.replay(RegisterBrokerRecord(broker, f"incarnation-{broker}", broker, "h", 9000))
        image.replay(UnfenceBrokerRecord(broker, broker))
    for name, leaders in (("a", (2, 3)), ("b", (1,))):
        topic_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        image.replay(TopicRecord(name, topic_id))
        for index, leader in enumerate(leaders):
            replicas = (leader, *(b for b in (1, 2, 3) if b != leader))
            image.replay(PartitionRecord(topic_id, index, replicas, replicas, leader, 0, 0))
    return image


def test_no_suspects_no_doubt() -> None:
    assert not _image().leaders_in_doubt(set(), None)


def test_a_suspect_leading_a_named_topic_is_in_doubt() -> None:
    image = _image()
    assert image.leaders_in_doubt({2}, ["a"])
    assert image.leaders_in_doubt({3}, ["a", "b"])
    assert image.leaders_in_doubt({2}, None)  # every topic
    assert not image.leaders_in_doubt({2}, ["b"])  # b is led by 1
    assert not image.leaders_in_doubt({2}, ["unknown"])


def test_no_doubt_once_the_suspect_is_fenced() -> None:
    image = _image()
    image.replay(FenceBrokerRecord(2, 2))
    assert not image.leaders_in_doubt({2}, ["a"])  # the controller's verdict is in
    assert image.leaders_in_doubt({2, 3}, ["a"])  # 3 still leads a-1 and is live


def test_no_doubt_about_a_broker_the_image_does_not_know() -> None:
    assert not _image().leaders_in_doubt({7}, None)
