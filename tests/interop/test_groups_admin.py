"""Admin views of consumer groups with unmodified admin clients: confluent-kafka's
AdminClient (list/describe/list offsets/delete) and kafka-python 3's
KafkaAdminClient (``list_groups``, ``describe_groups``, ``list_group_offsets``,
``delete_group_offsets``, ``delete_groups``; the 2.x
``*_consumer_group*`` names are gone in 3.x) against a live group, an empty one and one
that does not exist."""

from __future__ import annotations

from typing import Any

import kafka.errors
import pytest
from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
)
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as LegacyTopicPartition

from tests.interop.test_groups_members import (
    BROKER_SETTINGS,
    PARTITIONS,
    STEP_S,
    MemberPool,
    committed_keys,
    create_topic,
    members,
    produce,
    split,
)

__all__ = ["members"]  # the fixture, re-exported for pytest

PER_PARTITION = 5


def test_admin_views_and_delete(kafka_broker_factory: Any, members: MemberPool, topic: str) -> None:
    broker = kafka_broker_factory.start(BROKER_SETTINGS)
    create_topic(broker.bootstrap, topic)
    produced = produce(broker.bootstrap, topic, "adm", PER_PARTITION)
    active, idle, missing = f"active-{topic}", f"idle-{topic}", f"missing-{topic}"

    # "active": a kafka-python and a confluent member, everything committed.
    one = members.start("kafka-python", broker.bootstrap, topic, active)
    two = members.start("confluent-kafka", broker.bootstrap, topic, active)
    members.wait(lambda: split([one, two]), "the active group split the partitions")
    members.wait(lambda: committed_keys([one, two]) >= produced.keys(), "active committed")
    # "idle": consumed and committed 7 records, then left: Empty, with offsets.
    three = members.start("kafka-python", broker.bootstrap, topic, idle, limit=7)
    members.wait(lambda: three.saw("limit"), "the idle group committed")
    three.close()
    idle_offsets: dict[int, int] = {}
    for partition, offset, _ in three.committed:
        idle_offsets[partition] = max(idle_offsets.get(partition, 0), offset + 1)
    everything = {p: PER_PARTITION for p in range(PARTITIONS)}
    assignments = {one.name: one.assignment, two.name: two.assignment}

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    legacy = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:

        def state_of(group: str) -> str:
            return str(legacy.describe_groups([group])[group]["group_state"])

        # close() returns once the member process exited, i.e. after its LeaveGroup was
        # answered: the coordinator has already moved the group to Empty.
        assert state_of(idle) == "Empty", "the idle group is Empty after a leave"
        # confluent-kafka: list (all, and filtered by state), describe, offsets.
        listed = admin.list_consumer_groups(request_timeout=STEP_S).result(timeout=STEP_S)
        assert not listed.errors, listed.errors
        states = {g.group_id: g.state for g in listed.valid}
        assert states == {active: ConsumerGroupState.STABLE, idle: ConsumerGroupState.EMPTY}
        assert not any(g.is_simple_consumer_group for g in listed.valid)
        stable = admin.list_consumer_groups(
            request_timeout=STEP_S, states={ConsumerGroupState.STABLE}
        ).result(timeout=STEP_S)
        assert [g.group_id for g in stable.valid] == [active]

        described = {
            group: future.result(timeout=STEP_S)
            for group, future in admin.describe_consumer_groups(
                [active, idle, missing], request_timeout=STEP_S
            ).items()
        }
        live = described[active]
        assert live.state == ConsumerGroupState.STABLE
        assert live.partition_assignor == "range"
        assert not live.is_simple_consumer_group
        assert {
            m.client_id: frozenset(tp.partition for tp in m.assignment.topic_partitions)
            for m in live.members
        } == assignments
        assert all(m.host.endswith("127.0.0.1") and m.member_id for m in live.members)
        assert {tp.topic for m in live.members for tp in m.assignment.topic_partitions} == {topic}
        assert live.coordinator.port == broker.port
        assert described[idle].state == ConsumerGroupState.EMPTY
        assert described[idle].members == []
        assert described[missing].state == ConsumerGroupState.DEAD

        def confluent_offsets(group: str) -> dict[int, int]:
            request = [ConsumerGroupTopicPartitions(group)]
            futures = admin.list_consumer_group_offsets(request, request_timeout=STEP_S)
            result = futures[group].result(timeout=STEP_S)
            return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0}

        assert confluent_offsets(active) == everything
        assert confluent_offsets(idle) == idle_offsets

        # kafka-python: the same views.
        groups = {g["group_id"]: g for g in legacy.list_groups()}
        assert set(groups) == {active, idle}
        assert {g["protocol_type"] for g in groups.values()} == {"consumer"}
        assert groups[active]["group_state"] == "Stable"
        assert groups[idle]["group_state"] == "Empty"
        view = legacy.describe_groups([active])[active]
        assert view["error"] is None
        assert (view["group_state"], view["protocol_type"], view["protocol_data"]) == (
            "Stable",
            "consumer",
            "range",
        )
        assert {
            m["client_id"]: frozenset(
                p for a in m["member_assignment"]["assigned_partitions"] for p in a["partitions"]
            )
            for m in view["members"]
        } == assignments
        assert all(m["member_metadata"]["topics"] == [topic] for m in view["members"])

        def legacy_offsets(group: str) -> dict[int, int]:
            fetched = legacy.list_group_offsets(group)[group]
            return {tp.partition: meta.offset for tp, meta in fetched.items() if meta.offset >= 0}

        assert legacy_offsets(active) == everything
        assert legacy_offsets(idle) == idle_offsets

        # Deleting a live group fails (NON_EMPTY_GROUP), for both clients.
        with pytest.raises(KafkaException) as refused:
            admin.delete_consumer_groups([active], request_timeout=STEP_S)[active].result(
                timeout=STEP_S
            )
        assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
        assert legacy.delete_groups([active]) == {active: "NonEmptyGroupError"}
        assert legacy_offsets(active) == everything  # untouched

        # OffsetDelete (KIP-496, kafka-python; confluent-kafka's Python API has no call for
        # it): the live group's members subscribe to the topic, so its offsets stay
        # (GROUP_SUBSCRIBED_TO_TOPIC); the empty group's go, partition by partition.
        def legacy_delete_offsets(group: str, *partitions: int) -> list[str]:
            asked = [LegacyTopicPartition(topic, partition) for partition in partitions]
            answered = legacy.delete_group_offsets(group, asked)
            assert sorted(answered) == asked
            return [answered[tp].__name__ for tp in asked]

        assert legacy_delete_offsets(active, 0, 1) == ["GroupSubscribedToTopicError"] * 2
        assert legacy_offsets(active) == everything
        first, second = sorted(idle_offsets)[:2]
        assert legacy_delete_offsets(idle, first) == ["NoError"]
        assert legacy_delete_offsets(idle, second) == ["NoError"]
        idle_offsets = {p: o for p, o in idle_offsets.items() if p not in (first, second)}
        assert legacy_offsets(idle) == confluent_offsets(idle) == idle_offsets
        with pytest.raises(kafka.errors.GroupIdNotFoundError):
            legacy.delete_group_offsets(missing, [LegacyTopicPartition(topic, 0)])

        # An empty one goes, with its offsets; a missing one is GROUP_ID_NOT_FOUND.
        admin.delete_consumer_groups([idle], request_timeout=STEP_S)[idle].result(timeout=STEP_S)
        with pytest.raises(KafkaException) as unknown:
            admin.delete_consumer_groups([missing], request_timeout=STEP_S)[missing].result(
                timeout=STEP_S
            )
        assert unknown.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND
        assert {g["group_id"] for g in legacy.list_groups()} == {active}
        assert legacy_offsets(idle) == {}
        assert legacy.describe_groups([idle])[idle]["group_state"] == "Dead"

        # Once its members leave, the active group is Empty and kafka-python deletes it.
        one.close()
        two.close()
        assert state_of(active) == "Empty", "Empty once both members left"
        assert legacy.delete_groups([active, missing]) == {
            active: "OK",
            missing: "GroupIdNotFoundError",
        }
        assert legacy.list_groups() == []
        assert confluent_offsets(active) == {}
    finally:
        legacy.close()
