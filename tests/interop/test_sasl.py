"""SASL_PLAINTEXT with unmodified clients: PLAIN users from the listener's JAAS config, SCRAM
users created with AlterUserScramCredentials, refused logins, requests before authentication,
and a 3-broker cluster whose brokers replicate over SASL."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from broker.jaas import PLAIN_LOGIN_MODULE
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.support.confluent import consume_group, produce_all
from tests.support.waiting import wait_until

TIMEOUT_S = 20.0
JAAS = (
    f'{PLAIN_LOGIN_MODULE} required username="admin" password="admin-secret" '
    'user_admin="admin-secret" user_alice="alice-secret";'
)
# The fixtures name the client listener PLAINTEXT: mapping it to SASL_PLAINTEXT keeps that.
SASL_SETTINGS = {
    "listener.security.protocol.map": "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "sasl.mechanism.inter.broker.protocol": "PLAIN",
    "listener.name.plaintext.plain.sasl.jaas.config": JAAS,
}
SCRAM_USERS = {"SCRAM-SHA-256": ("bob", "bob-secret"), "SCRAM-SHA-512": ("carol", "carol-secret")}
LOGINS = [("PLAIN", "alice", "alice-secret")] + [
    (mechanism, user, password) for mechanism, (user, password) in SCRAM_USERS.items()
]


def confluent_sasl(mechanism: str, user: str, password: str) -> dict[str, str]:
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def keyword_sasl(
    bootstrap: str, mechanism: str, user: str, password: str, **extra: Any
) -> dict[str, Any]:
    """The login as kafka-python, aiokafka and our clients take it (keywords)."""
    return {
        "bootstrap_servers": bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        **extra,
    }


def add_scram_users(bootstrap: str) -> None:
    """Create the SCRAM users with confluent-kafka's admin client, logged in with PLAIN."""
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient(
        {"bootstrap.servers": bootstrap, **confluent_sasl("PLAIN", "admin", "admin-secret")}
    )
    mechanisms = {
        "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
        "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
    }
    upsertions = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(mechanisms[name], 4096), password.encode()
        )
        for name, (user, password) in SCRAM_USERS.items()
    ]
    for future in admin.alter_user_scram_credentials(upsertions).values():
        future.result(timeout=TIMEOUT_S)
    described = admin.describe_user_scram_credentials(["bob", "carol"])
    for user, future in described.items():
        infos = future.result(timeout=TIMEOUT_S).scram_credential_infos
        assert [(info.mechanism, info.iterations) for info in infos] == [
            (mechanisms["SCRAM-SHA-256" if user == "bob" else "SCRAM-SHA-512"], 4096)
        ]


@pytest.fixture
def sasl_broker(kafka_broker_factory: Any) -> str:
    broker = kafka_broker_factory.start(SASL_SETTINGS)
    add_scram_users(broker.bootstrap)
    return str(broker.bootstrap)


# -- confluent-kafka ---------------------------------------------------------------------------


def test_confluent_kafka_logs_in_with_plain_and_scram(sasl_broker: str, topic: str) -> None:
    from confluent_kafka import Producer

    sent = []
    for mechanism, user, password in LOGINS:
        producer = Producer(
            {
                "bootstrap.servers": sasl_broker,
                "acks": "all",
                **confluent_sasl(mechanism, user, password),
            }
        )
        for index in range(5):
            value = f"{mechanism}-{index}".encode()
            producer.produce(topic, value)
            sent.append(value)
        assert producer.flush(TIMEOUT_S) == 0
    carol = {
        "bootstrap.servers": sasl_broker,
        **confluent_sasl("SCRAM-SHA-512", "carol", "carol-secret"),
    }
    assert consume_group(carol, topic, len(sent)) == sent


@pytest.mark.parametrize(
    ("login", "message"),
    [
        (("PLAIN", "alice", "wrong"), "Invalid username or password"),
        (("PLAIN", "mallory", "alice-secret"), "Invalid username or password"),
        (
            ("SCRAM-SHA-256", "bob", "wrong"),
            "invalid credentials with SASL mechanism SCRAM-SHA-256",
        ),
        (("SCRAM-SHA-512", "bob", "bob-secret"), "invalid credentials"),  # bob has no 512
    ],
)
def test_confluent_kafka_is_refused_with_a_clear_error(
    sasl_broker: str, topic: str, login: tuple[str, str, str], message: str
) -> None:
    mechanism, user, password = login
    from confluent_kafka import KafkaError, Producer

    errors: list[KafkaError] = []
    producer = Producer(
        {
            "bootstrap.servers": sasl_broker,
            "error_cb": errors.append,
            "message.timeout.ms": 1000,
            **confluent_sasl(mechanism, user, password),
        }
    )
    producer.produce(topic, b"never")

    def refused() -> bool:
        producer.poll(0.1)  # runs error_cb
        return any(e.code() == KafkaError._AUTHENTICATION for e in errors)

    wait_until(refused, "an authentication error", TIMEOUT_S)
    assert message in str(next(e for e in errors if e.code() == KafkaError._AUTHENTICATION))
    assert producer.flush(5) == 0  # the record fails (message.timeout.ms), it is not written


# -- kafka-python and aiokafka -----------------------------------------------------------------


@pytest.mark.parametrize(("mechanism", "user", "password"), LOGINS)
def test_kafka_python_logs_in(
    sasl_broker: str, topic: str, mechanism: str, user: str, password: str
) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    settings = keyword_sasl(sasl_broker, mechanism, user, password, request_timeout_ms=10_000)
    producer = KafkaProducer(acks="all", **settings)
    try:
        for index in range(3):
            producer.send(topic, f"kp-{index}".encode()).get(timeout=TIMEOUT_S)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", consumer_timeout_ms=10_000, **settings
    )
    try:
        got = [message.value for _, message in zip(range(3), consumer, strict=False)]
    finally:
        consumer.close()
    assert got == [b"kp-0", b"kp-1", b"kp-2"]


def test_kafka_python_is_refused(sasl_broker: str) -> None:
    from kafka import KafkaProducer, errors

    with pytest.raises(errors.KafkaError) as raised:
        KafkaProducer(
            # bootstrap_timeout_ms: kafka-python retries a refused login until then
            **keyword_sasl(sasl_broker, "SCRAM-SHA-256", "bob", "wrong", bootstrap_timeout_ms=3_000)
        )
    print(f"kafka-python raised {raised.value!r}")


@pytest.mark.parametrize(("mechanism", "user", "password"), LOGINS)
def test_aiokafka_logs_in(
    sasl_broker: str, topic: str, mechanism: str, user: str, password: str
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    settings = keyword_sasl(sasl_broker, mechanism, user, password)

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(acks="all", **settings)
        await producer.start()
        try:
            for index in range(3):
                await producer.send_and_wait(topic, f"aio-{index}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **settings)
        await consumer.start()
        try:
            got = []
            async with asyncio.timeout(TIMEOUT_S):
                async for message in consumer:
                    got.append(message.value)
                    if len(got) == 3:
                        return got
        finally:
            await consumer.stop()
        return got

    assert asyncio.run(run()) == [b"aio-0", b"aio-1", b"aio-2"]


# -- our clients -------------------------------------------------------------------------------


@pytest.mark.parametrize(("mechanism", "user", "password"), LOGINS)
def test_our_blocking_and_async_clients_log_in(
    sasl_broker: str, topic: str, mechanism: str, user: str, password: str
) -> None:
    import anyio

    from client.blocking import AdminClient, Consumer, NewTopic, Producer, TopicPartition
    from client.consumer import Consumer as AsyncConsumer

    settings = keyword_sasl(sasl_broker, mechanism, user, password, request_timeout_ms=10_000)
    with AdminClient(**settings) as admin:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    with Producer(acks="all", **settings) as producer:
        futures = [producer.send(topic, f"ours-{i}".encode(), partition=0) for i in range(3)]
        producer.flush(timeout_ms=10_000)
        assert [future.get(timeout_ms=0).offset for future in futures] == [0, 1, 2]
    with Consumer(auto_offset_reset="earliest", **settings) as consumer:
        consumer.assign([TopicPartition(topic, 0)])
        got: list[bytes | None] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < 3 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(record.value for record in records)
    assert got == [b"ours-0", b"ours-1", b"ours-2"]

    async def read_async() -> list[bytes | None]:
        async with AsyncConsumer(auto_offset_reset="earliest", **settings) as consumer:
            consumer.assign([TopicPartition(topic, 0)])
            out: list[bytes | None] = []
            with anyio.fail_after(TIMEOUT_S):
                while len(out) < 3:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        out.extend(record.value for record in records)
            return out

    assert anyio.run(read_async) == got


def test_our_clients_raise_the_brokers_refusal(sasl_broker: str) -> None:
    from client.blocking import AdminClient
    from client.errors import IllegalConfigError, SaslAuthenticationFailedError

    settings = keyword_sasl(sasl_broker, "PLAIN", "alice", "nope", request_timeout_ms=5_000)
    refusal = "Invalid username or password"
    with pytest.raises(SaslAuthenticationFailedError, match=refusal), AdminClient(**settings) as a:
        a.list_topics()
    with pytest.raises(IllegalConfigError, match=r"sasl\.plain\.username"):
        AdminClient(bootstrap_servers=sasl_broker, security_protocol="SASL_PLAINTEXT")


def test_our_admin_clients_manage_scram_users(sasl_broker: str) -> None:
    import anyio

    from client import AdminClient as AsyncAdmin
    from client.blocking import AdminClient, ScramCredentialInfo, ScramUpsertion
    from client.errors import (
        ResourceNotFoundError,
        SaslAuthenticationFailedError,
        UnacceptableCredentialError,
    )

    def login(mechanism: str, user: str, password: str) -> dict[str, Any]:
        return keyword_sasl(sasl_broker, mechanism, user, password, request_timeout_ms=5_000)

    dora = login("SCRAM-SHA-512", "dora", "dora-secret")
    with AdminClient(**login("PLAIN", "admin", "admin-secret")) as admin:
        done = admin.alter_user_scram_credentials(
            [ScramUpsertion("dora", "SCRAM-SHA-512", "dora-secret", iterations=8192)]
        )
        assert done == {"dora": None}
        assert admin.describe_user_scram_credentials(["dora"]) == {
            "dora": (ScramCredentialInfo("SCRAM-SHA-512", 8192),)
        }
        assert set(admin.describe_user_scram_credentials()) == {"bob", "carol", "dora"}

        async def as_dora() -> list[str]:
            async with AsyncAdmin(**dora) as client:
                return await client.list_topics()

        assert isinstance(anyio.run(as_dora), list)
        refused = admin.alter_user_scram_credentials(
            [ScramUpsertion("eve", "SCRAM-SHA-256", "x", iterations=100)],
            [("nobody", "SCRAM-SHA-256")],
        )
        assert isinstance(refused["eve"], UnacceptableCredentialError)
        assert isinstance(refused["nobody"], ResourceNotFoundError)
        assert admin.alter_user_scram_credentials(deletions=[("dora", "SCRAM-SHA-512")]) == {
            "dora": None
        }
        with pytest.raises(ResourceNotFoundError, match="dora"):
            admin.describe_user_scram_credentials(["dora"])
    with pytest.raises(SaslAuthenticationFailedError), AdminClient(**dora) as gone:
        gone.list_topics()


def test_the_cli_logs_in_with_a_command_config(
    sasl_broker: str,
    topic: str,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
) -> None:
    """``--command-config`` takes Kafka's client properties file, sasl.jaas.config included."""
    import io

    from broker import cli

    properties = tmp_path / "client.properties"
    properties.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="bob" password="bob-secret";\n'
    )
    common = ["--bootstrap-server", sasl_broker, "--command-config", str(properties)]
    assert cli.main(["topic", "create", topic, "--partitions", "1", *common]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n"))
    assert cli.main(["produce", topic, *common]) == 0
    capsys.readouterr()
    code = cli.main(
        [
            "consume",
            topic,
            "--from-beginning",
            "--max-messages",
            "2",
            "--timeout-ms",
            "10000",
            *common,
        ]
    )
    assert (code, capsys.readouterr().out) == (0, "one\ntwo\n")
    wrong = tmp_path / "wrong.properties"
    wrong.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.plain.username=bob\nsasl.plain.password=no\n"
    )
    code = cli.main(
        ["topic", "list", "--bootstrap-server", sasl_broker, "--command-config", str(wrong)]
    )
    assert code != 0
    assert "Invalid username or password" in capsys.readouterr().err
    garbage = tmp_path / "garbage.properties"
    garbage.write_text("acks=all\n")
    assert cli.main(["topic", "list", "--command-config", str(garbage)]) == 2
    assert "not connection keys every client takes: acks" in capsys.readouterr().err


def test_the_user_cli_manages_scram_users(
    sasl_broker: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from broker import cli

    admin = tmp_path / "admin.properties"
    admin.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        "sasl.plain.username=admin\nsasl.plain.password=admin-secret\n"
    )
    common = ["--bootstrap-server", sasl_broker, "--command-config", str(admin)]
    secret = tmp_path / "erin.txt"
    secret.write_text("erin-secret\n")
    set_erin = ["user", "set-scram", "erin", "--mechanism", "SCRAM-SHA-512"]
    set_erin += ["--password-file", str(secret), "--iterations", "5000", *common]
    assert cli.main(set_erin) == 0
    assert capsys.readouterr().out == "Set the SCRAM-SHA-512 credential of user 'erin'.\n"
    assert cli.main(["user", "describe", "erin", "--output", "json", *common]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"user": "erin", "mechanism": "SCRAM-SHA-512", "iterations": 5000}
    ]
    assert cli.main(["user", "list", *common]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["USER", "MECHANISM", "ITERATIONS"]
    assert [line.split()[0] for line in listed[1:]] == ["bob", "carol", "erin"]
    erin = tmp_path / "erin.properties"
    erin.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.plain.username=erin\nsasl.plain.password=erin-secret\n"
    )
    erin_login = ["--bootstrap-server", sasl_broker, "--command-config", str(erin)]
    assert cli.main(["topic", "list", *erin_login]) == 0
    capsys.readouterr()
    assert cli.main(["user", "delete-scram", "erin", "--mechanism", "SCRAM-SHA-512", *common]) == 0
    assert cli.main(["user", "delete-scram", "erin", "--mechanism", "SCRAM-SHA-512", *common]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["user", "describe", "erin", *common]) == 1
    assert "Attempt to describe a user credential that does not exist" in capsys.readouterr().err
    assert cli.main(["topic", "list", *erin_login]) == 1
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in capsys.readouterr().err


# -- the wire ----------------------------------------------------------------------------------


def test_only_api_versions_and_the_handshake_precede_authentication(sasl_broker: str) -> None:
    with RawConnection(sasl_broker) as raw:
        versions = {entry.api_key for entry in raw.request(18, 3, {}).api_keys}
        assert {17, 36, 50, 51} <= versions
        raw.send_bytes(_metadata_frame())
        assert raw.is_closed_by_peer()
    with RawConnection(sasl_broker) as raw:
        answer = raw.request(17, 1, {"mechanism": "GSSAPI"})
        assert answer.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
        assert answer.mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert raw.is_closed_by_peer()
    with RawConnection(sasl_broker) as raw:
        assert raw.request(17, 1, {"mechanism": "PLAIN"}).error_code == ErrorCode.NONE
        answer = raw.request(36, 2, {"auth_bytes": b"\0alice\0wrong"})
        assert answer.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert answer.error_message == "Authentication failed: Invalid username or password"
        assert raw.is_closed_by_peer()
    with RawConnection(sasl_broker) as raw:  # a well-behaved session, then no second login
        assert raw.request(17, 1, {"mechanism": "PLAIN"}).error_code == ErrorCode.NONE
        answer = raw.request(36, 1, {"auth_bytes": b"\0alice\0alice-secret"})
        assert (answer.error_code, answer.session_lifetime_ms) == (ErrorCode.NONE, 0)
        assert raw.request(3, 12, {"topics": []}).brokers
        assert raw.request(17, 1, {"mechanism": "PLAIN"}).error_code == ErrorCode.ILLEGAL_SASL_STATE


def test_the_legacy_v0_handshake_takes_bare_tokens(sasl_broker: str) -> None:
    import struct

    with RawConnection(sasl_broker) as raw:
        assert raw.request(17, 0, {"mechanism": "PLAIN"}).error_code == ErrorCode.NONE
        token = b"\0alice\0alice-secret"
        raw.send_bytes(struct.pack(">i", len(token)) + token)
        assert raw.read_frame() == b""  # PLAIN's empty challenge: authenticated
        assert raw.request(3, 12, {"topics": []}).brokers


def test_a_plaintext_broker_answers_sasl_with_illegal_state(kafka_broker: Any) -> None:
    with RawConnection(kafka_broker.bootstrap) as raw:
        answer = raw.request(17, 1, {"mechanism": "PLAIN"})
        assert (answer.error_code, answer.mechanisms) == (ErrorCode.ILLEGAL_SASL_STATE, [])
        answer = raw.request(36, 2, {"auth_bytes": b"\0alice\0x"})
        assert answer.error_code == ErrorCode.ILLEGAL_SASL_STATE
        assert raw.request(3, 12, {"topics": []}).brokers  # the connection goes on


def test_acl_requests_say_security_is_disabled(kafka_broker: Any) -> None:
    """No authorizer is configured, so ACL admin calls fail as they do on such a Kafka."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )
    from kafka import KafkaAdminClient
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
    )
    from kafka.admin import ResourceType as KafkaResourceType
    from kafka.errors import SecurityDisabledError

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    binding = AclBinding(
        ResourceType.TOPIC,
        "t",
        ResourcePatternType.LITERAL,
        "User:alice",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    match = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    # librdkafka drops DescribeAcls' error code (rd_kafka_DescribeAclsResponse_parse returns
    # no error whatever the code): an empty listing is all it shows, on Kafka too.
    assert admin.describe_acls(match).result(timeout=TIMEOUT_S) == []
    for call in (
        lambda: admin.create_acls([binding])[binding].result(timeout=TIMEOUT_S),
        lambda: admin.delete_acls([match])[match].result(timeout=TIMEOUT_S),
    ):
        with pytest.raises(KafkaException, match="No Authorizer is configured"):
            call()
    legacy = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap, request_timeout_ms=10_000)
    try:
        pattern = ResourcePatternFilter(KafkaResourceType.ANY, None, ACLResourcePatternType.ANY)
        with pytest.raises(SecurityDisabledError):
            legacy.describe_acls(
                ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, pattern)
            )
    finally:
        legacy.close()


def _metadata_frame() -> bytes:
    from client.protocol import headers

    return headers.encode_request(3, 12, 99, "wire-test", {"topics": []})


# -- a cluster ---------------------------------------------------------------------------------


def test_a_cluster_replicates_over_sasl(kafka_cluster_factory: Any, topic: str) -> None:
    """3 brokers whose only client listener is SASL: followers fetch with the brokers' PLAIN
    login, a SCRAM user created through a broker-only node (forwarded to the controller) can
    log in at once, and acks=all writes to RF=3 land on every replica."""
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = kafka_cluster_factory.start(brokers=3, overrides=SASL_SETTINGS)
    admin = AdminClient(
        {"bootstrap.servers": cluster.bootstrap, **confluent_sasl("PLAIN", "admin", "admin-secret")}
    )
    created = admin.create_topics(
        [NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})], operation_timeout=10
    )
    created[topic].result(timeout=TIMEOUT_S)
    add_scram_users(cluster.bootstrap)
    bob = {"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True}
    sent = [f"replicated-{index}".encode() for index in range(50)]
    produce_all({**bob, **confluent_sasl("SCRAM-SHA-256", "bob", "bob-secret")}, topic, sent)

    def isr_full() -> bool:
        metadata = admin.list_topics(topic, timeout=5)
        partition = metadata.topics[topic].partitions[0]
        return sorted(partition.isrs) == sorted(partition.replicas) and len(partition.isrs) == 3

    wait_until(isr_full, "every replica in the ISR", TIMEOUT_S)
    alice = {
        "bootstrap.servers": cluster.bootstrap,
        **confluent_sasl("PLAIN", "alice", "alice-secret"),
    }
    assert consume_group(alice, topic, len(sent)) == sent
