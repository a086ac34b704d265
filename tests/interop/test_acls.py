"""ACLs (StandardAuthorizer) enforced against unmodified clients.

Users log in with SASL PLAIN (admin is a super user); ACLs are created with confluent-kafka's
admin client and checked with confluent-kafka, kafka-python and the raw wire: producing,
consuming in a group, topic listing, topic creation, idempotent and transactional producers,
DENY over ALLOW, prefixed patterns, ``allow.everyone.if.no.acl.found``, ACLs surviving a
restart, and a 3-broker cluster where an ACL made through one broker holds on all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.interop.test_sasl import SASL_SETTINGS, confluent_sasl
from tests.support.confluent import consume_group, produce_all
from tests.support.waiting import wait_until

TIMEOUT_S = 20.0
STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ACL_SETTINGS = {**SASL_SETTINGS, "authorizer.class.name": STANDARD, "super.users": "User:admin"}
ADMIN = confluent_sasl("PLAIN", "admin", "admin-secret")
ALICE = confluent_sasl("PLAIN", "alice", "alice-secret")


def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, **ADMIN})


def _binding(
    kind: str, name: str, operation: str, *, permission: str = "ALLOW",
    principal: str = "User:alice", pattern: str = "LITERAL", host: str = "*",
) -> Any:  # fmt: skip
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBinding(
        ResourceType[kind],
        name,
        ResourcePatternType[pattern],
        principal,
        host,
        AclOperation[operation],
        AclPermissionType[permission],
    )


def grant(bootstrap: str, *bindings: Any) -> None:
    admin = _admin(bootstrap)  # kept: the futures fail once the client is gone
    for future in admin.create_acls(list(bindings)).values():
        assert future.result(timeout=TIMEOUT_S) is None


def create_topics(bootstrap: str, *names: str, partitions: int = 1) -> None:
    from confluent_kafka.admin import NewTopic

    topics = [NewTopic(name, partitions, 1) for name in names]
    admin = _admin(bootstrap)
    for future in admin.create_topics(topics).values():
        future.result(timeout=TIMEOUT_S)


def deliveries(settings: dict[str, Any], records: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Produce each (topic, value); the last delivery error per topic (None: delivered)."""
    from confluent_kafka import Producer

    producer = Producer({"message.timeout.ms": 10_000, **settings})
    results: dict[str, Any] = {}

    def on_delivery(error: Any, message: Any) -> None:
        results[message.topic()] = None if error is None else error.code()

    for topic, value in records:
        producer.produce(topic, value, on_delivery=on_delivery)
    assert producer.flush(TIMEOUT_S) == 0
    return results


def alice_connection(bootstrap: str) -> RawConnection:
    """A raw connection logged in as alice (SaslHandshake v1, SaslAuthenticate PLAIN)."""
    conn = RawConnection(bootstrap)
    assert conn.request(17, 1, {"mechanism": "PLAIN"}).error_code == ErrorCode.NONE
    answer = conn.request(36, 2, {"auth_bytes": b"\0alice\0alice-secret"})
    assert answer.error_code == ErrorCode.NONE
    return conn


@pytest.fixture
def acl_broker(kafka_broker_factory: Any) -> str:
    return str(kafka_broker_factory.start(ACL_SETTINGS).bootstrap)


@pytest.fixture
def names() -> Iterator[str]:
    yield f"acl-{uuid.uuid4().hex[:8]}"


def test_produce_needs_write_on_the_topic(acl_broker: str, names: str) -> None:
    from confluent_kafka import KafkaError

    allowed, other = f"{names}-in", f"{names}-out"
    create_topics(acl_broker, allowed, other)
    grant(acl_broker, _binding("TOPIC", allowed, "WRITE"))
    alice = {"bootstrap.servers": acl_broker, **ALICE, "enable.idempotence": False}
    results = deliveries(alice, [(allowed, b"a"), (other, b"b")])
    assert results == {allowed: None, other: KafkaError.TOPIC_AUTHORIZATION_FAILED}


def test_consuming_in_a_group_needs_read_on_topic_and_group(acl_broker: str, names: str) -> None:
    from confluent_kafka import Consumer, KafkaError

    create_topics(acl_broker, names)
    produce_all({"bootstrap.servers": acl_broker, **ADMIN}, names, [b"1", b"2", b"3"])
    grant(acl_broker, _binding("TOPIC", names, "READ"))
    alice = {"bootstrap.servers": acl_broker, **ALICE}

    # No READ on the group yet: the consumer is told GROUP_AUTHORIZATION_FAILED.
    consumer = Consumer({**alice, "group.id": f"g-{names}", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([names])
        errors: list[int] = []

        def refused() -> bool:
            message = consumer.poll(0.2)
            if message is not None and message.error() is not None:
                errors.append(message.error().code())
            return KafkaError.GROUP_AUTHORIZATION_FAILED in errors

        wait_until(refused, "GROUP_AUTHORIZATION_FAILED", TIMEOUT_S)
    finally:
        consumer.close()

    grant(acl_broker, _binding("GROUP", f"g-{names}", "READ"))
    assert sorted(consume_group(alice, names, 3)) == [b"1", b"2", b"3"]


def test_metadata_lists_only_described_topics(acl_broker: str, names: str) -> None:
    from confluent_kafka import Producer

    create_topics(acl_broker, f"{names}-a", f"{names}-b")
    grant(acl_broker, _binding("TOPIC", f"{names}-a", "DESCRIBE"))
    listed = Producer({"bootstrap.servers": acl_broker, **ALICE}).list_topics(timeout=TIMEOUT_S)
    assert set(listed.topics) == {f"{names}-a"}
    # Named, an undescribable topic is TOPIC_AUTHORIZATION_FAILED (whether or not it exists).
    with alice_connection(acl_broker) as conn:
        answer = conn.request(
            3, 12, {"topics": [{"name": f"{names}-b", "topic_id": uuid.UUID(int=0)},
                               {"name": f"{names}-nope", "topic_id": uuid.UUID(int=0)}],
                    "allow_auto_topic_creation": True},
        )  # fmt: skip
    assert [(t.name, t.error_code) for t in answer.topics] == [
        (f"{names}-b", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        (f"{names}-nope", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
    ]


def test_creating_topics_needs_create_on_the_cluster_or_the_topic(
    acl_broker: str, names: str
) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    alice = AdminClient({"bootstrap.servers": acl_broker, **ALICE})
    refused = alice.create_topics([NewTopic(f"{names}-x", 1, 1)])[f"{names}-x"]
    with pytest.raises(Exception, match="TOPIC_AUTHORIZATION_FAILED"):
        refused.result(timeout=TIMEOUT_S)
    grant(acl_broker, _binding("TOPIC", f"{names}-", "CREATE", pattern="PREFIXED"))
    alice.create_topics([NewTopic(f"{names}-y", 1, 1)])[f"{names}-y"].result(timeout=TIMEOUT_S)


def test_only_cluster_alter_may_change_acls(acl_broker: str, names: str) -> None:
    from confluent_kafka.admin import AclBindingFilter, AdminClient

    alice = AdminClient({"bootstrap.servers": acl_broker, **ALICE})
    future = alice.create_acls([_binding("TOPIC", names, "READ")])
    with pytest.raises(Exception, match="CLUSTER_AUTHORIZATION_FAILED"):
        next(iter(future.values())).result(timeout=TIMEOUT_S)
    # confluent-kafka calls the cluster resource BROKER (code 4).
    grant(acl_broker, _binding("BROKER", "kafka-cluster", "ALTER"))
    for done in alice.create_acls([_binding("TOPIC", names, "READ")]).values():
        assert done.result(timeout=TIMEOUT_S) is None
    # Listing needs DESCRIBE on the cluster, which ALTER implies.
    from confluent_kafka.admin import (
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip
    listed = alice.describe_acls(everything).result(timeout=TIMEOUT_S)
    assert {(b.name, b.operation) for b in listed} == {
        ("kafka-cluster", AclOperation.ALTER),
        (names, AclOperation.READ),
    }
    admin = _admin(acl_broker)
    (gone,) = admin.delete_acls([everything]).values()
    assert len(gone.result(timeout=TIMEOUT_S)) == 2
    assert admin.describe_acls(everything).result(timeout=TIMEOUT_S) == []


def test_deny_wins_over_a_wildcard_allow(acl_broker: str, names: str) -> None:
    from confluent_kafka import KafkaError

    open_topic, secret = f"{names}-open", f"{names}-secret"
    create_topics(acl_broker, open_topic, secret)
    grant(
        acl_broker,
        _binding("TOPIC", "*", "WRITE", principal="User:*"),
        _binding("TOPIC", secret, "ALL", permission="DENY"),
    )
    alice = {"bootstrap.servers": acl_broker, **ALICE, "enable.idempotence": False}
    results = deliveries(alice, [(open_topic, b"a"), (secret, b"b")])
    assert results == {open_topic: None, secret: KafkaError.TOPIC_AUTHORIZATION_FAILED}


def test_idempotent_and_transactional_producers(acl_broker: str, names: str) -> None:
    from confluent_kafka import KafkaException, Producer

    create_topics(acl_broker, names)
    grant(acl_broker, _binding("TOPIC", names, "WRITE"))
    # WRITE on some topic is enough for an idempotent producer id (KIP-679).
    idempotent = {"bootstrap.servers": acl_broker, **ALICE, "enable.idempotence": True}
    assert deliveries(idempotent, [(names, b"i")]) == {names: None}

    transactional = Producer(
        {**idempotent, "transactional.id": f"tx-{names}", "transaction.timeout.ms": 10_000}
    )
    with pytest.raises(KafkaException, match="TRANSACTIONAL_ID_AUTHORIZATION_FAILED"):
        transactional.init_transactions(TIMEOUT_S)

    grant(acl_broker, _binding("TRANSACTIONAL_ID", f"tx-{names}", "WRITE"))
    producer = Producer(
        {**idempotent, "transactional.id": f"tx-{names}", "transaction.timeout.ms": 10_000}
    )
    producer.init_transactions(TIMEOUT_S)
    producer.begin_transaction()
    producer.produce(names, b"t")
    producer.commit_transaction(TIMEOUT_S)


def test_kafka_python_is_refused_and_served(acl_broker: str, names: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import TopicAuthorizationFailedError

    from tests.interop.test_sasl import keyword_sasl

    create_topics(acl_broker, f"{names}-ok", f"{names}-no")
    grant(
        acl_broker,
        _binding("TOPIC", f"{names}-ok", "WRITE"),
        _binding("TOPIC", f"{names}-ok", "READ"),
    )
    login = keyword_sasl(acl_broker, "PLAIN", "alice", "alice-secret")
    producer = KafkaProducer(**login, max_block_ms=10_000)
    try:
        producer.send(f"{names}-ok", b"v").get(timeout=TIMEOUT_S)
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(f"{names}-no", b"v").get(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(**login)
    try:
        partition = TopicPartition(f"{names}-ok", 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        got: list[bytes] = []

        def read() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(record.value for record in records)
            return bool(got)

        wait_until(read, "kafka-python reads the allowed topic", TIMEOUT_S)
        assert got == [b"v"]
    finally:
        consumer.close()


def test_everyone_is_allowed_where_no_acl_names_the_resource(
    kafka_broker_factory: Any, names: str
) -> None:
    from confluent_kafka import KafkaError

    broker = kafka_broker_factory.start(
        {"authorizer.class.name": STANDARD, "allow.everyone.if.no.acl.found": "true"}
    )
    bootstrap = str(broker.bootstrap)
    anonymous = {"bootstrap.servers": bootstrap, "enable.idempotence": False}
    create_topics_as(anonymous, f"{names}-free", f"{names}-kept")
    # An ACL that names a topic closes it to everyone it does not allow.
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    acl = _binding("TOPIC", f"{names}-kept", "WRITE", principal="User:bob")
    for future in admin.create_acls([acl]).values():
        assert future.result(timeout=TIMEOUT_S) is None
    results = deliveries(anonymous, [(f"{names}-free", b"a"), (f"{names}-kept", b"b")])
    assert results == {
        f"{names}-free": None,
        f"{names}-kept": KafkaError.TOPIC_AUTHORIZATION_FAILED,
    }


def create_topics_as(settings: dict[str, Any], *names: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings["bootstrap.servers"]})
    for future in admin.create_topics([NewTopic(name, 1, 1) for name in names]).values():
        future.result(timeout=TIMEOUT_S)


def test_acls_survive_a_restart(kafka_broker_factory: Any, names: str) -> None:
    from confluent_kafka import KafkaError

    broker = kafka_broker_factory.start(ACL_SETTINGS)
    create_topics(str(broker.bootstrap), names, f"{names}-2")
    grant(str(broker.bootstrap), _binding("TOPIC", names, "WRITE"))
    data_dir = broker.data_dir
    broker.stop()
    again = str(kafka_broker_factory.start(ACL_SETTINGS, data_dir=data_dir).bootstrap)
    alice = {"bootstrap.servers": again, **ALICE, "enable.idempotence": False}
    results = deliveries(alice, [(names, b"a"), (f"{names}-2", b"b")])
    assert results == {names: None, f"{names}-2": KafkaError.TOPIC_AUTHORIZATION_FAILED}


def test_a_cluster_enforces_an_acl_made_through_any_broker(
    kafka_cluster_factory: Any, names: str
) -> None:
    """Brokers replicate as admin (a super user, inter-broker SASL); an ACL created through
    broker 2 (forwarded to the controller) holds on every broker."""
    from confluent_kafka.admin import NewTopic

    cluster = kafka_cluster_factory.start(brokers=3, overrides=ACL_SETTINGS)
    admin = _admin(cluster.bootstrap)
    for future in admin.create_topics([NewTopic(names, 3, 3)]).values():
        future.result(timeout=TIMEOUT_S)
    through = f"127.0.0.1:{cluster.nodes[2].port}"
    grant(
        through,
        _binding("TOPIC", names, "WRITE"),
        _binding("TOPIC", names, "READ"),
        _binding("GROUP", f"g-{names}", "READ"),
    )

    def everywhere() -> bool:
        for node in cluster.nodes.values():
            with alice_connection(f"127.0.0.1:{node.port}") as conn:
                topics = conn.request(3, 12, {"topics": None}).topics
            if [t.name for t in topics] != [names]:
                return False
        return True

    wait_until(everywhere, "the ACL on every broker", TIMEOUT_S)
    alice = {"bootstrap.servers": cluster.bootstrap, **ALICE, "acks": "all"}
    values = [b"%d" % i for i in range(30)]
    produce_all({**alice, "enable.idempotence": True}, names, values)
    assert sorted(consume_group(alice, names, 30)) == sorted(values)


def test_our_clients_raise_authorization_errors(acl_broker: str, names: str) -> None:
    from client.blocking import AdminClient, Consumer, NewTopic, Producer, TopicPartition
    from client.errors import (
        DefinitelyFailedError,
        GroupAuthorizationFailedError,
        TopicAuthorizationFailedError,
    )
    from tests.interop.test_sasl import keyword_sasl

    create_topics(acl_broker, f"{names}-ok", f"{names}-no")
    grant(
        acl_broker,
        _binding("TOPIC", f"{names}-ok", "WRITE"),
        _binding("TOPIC", f"{names}-ok", "READ"),
    )
    login = keyword_sasl(acl_broker, "PLAIN", "alice", "alice-secret", request_timeout_ms=10_000)
    with Producer(acks="all", **login) as producer:
        assert producer.send(f"{names}-ok", b"v", partition=0).get(timeout_ms=10_000).offset == 0
        # The topic's metadata is refused, so the send fails at once, naming the cause.
        with pytest.raises(DefinitelyFailedError, match="TOPIC_AUTHORIZATION_FAILED") as failed:
            producer.send(f"{names}-no", b"v", partition=0).get(timeout_ms=10_000)
        assert isinstance(failed.value.__cause__, TopicAuthorizationFailedError)
    with AdminClient(**login) as admin, pytest.raises(TopicAuthorizationFailedError):
        admin.create_topics([NewTopic(f"{names}-new", num_partitions=1, replication_factor=1)])
    with Consumer(auto_offset_reset="earliest", **login) as consumer:
        consumer.assign([TopicPartition(f"{names}-ok", 0)])
        got: list[bytes | None] = []

        def read() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(record.value for record in records)
            return bool(got)

        wait_until(read, "alice reads her topic", TIMEOUT_S)
        assert got == [b"v"]
    # A group she may not read: joining it is refused, not retried.
    with Consumer(group_id=f"g-{names}", **login) as member:
        member.subscribe([f"{names}-ok"])
        with pytest.raises(GroupAuthorizationFailedError):
            wait_until(lambda: member.poll(timeout_ms=200) and False, "refused", TIMEOUT_S)


def test_aiokafka_is_refused_and_served(acl_broker: str, names: str) -> None:
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import TopicAuthorizationFailedError

    from tests.interop.test_sasl import keyword_sasl

    create_topics(acl_broker, f"{names}-ok", f"{names}-no")
    grant(acl_broker, _binding("TOPIC", f"{names}-ok", "WRITE"))
    login = keyword_sasl(acl_broker, "PLAIN", "alice", "alice-secret")

    async def run() -> None:
        producer = AIOKafkaProducer(**login, request_timeout_ms=10_000)
        await producer.start()
        try:
            sent = await asyncio.wait_for(producer.send_and_wait(f"{names}-ok", b"v"), TIMEOUT_S)
            assert sent.offset == 0
            with pytest.raises(TopicAuthorizationFailedError):
                await asyncio.wait_for(producer.send_and_wait(f"{names}-no", b"v"), TIMEOUT_S)
        finally:
            await producer.stop()

    asyncio.run(run())
