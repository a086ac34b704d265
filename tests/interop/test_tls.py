"""TLS listeners (SSL, SASL_SSL) with unmodified clients.

A throwaway CA (tests/support/tls.py, made with ``openssl``) signs the broker's certificate
for 127.0.0.1; clients trust the CA.  confluent-kafka, kafka-python and our clients produce
and consume over SSL; SASL PLAIN runs inside TLS; mutual TLS names the client by its
certificate (checked through an ACL); a plaintext client on the TLS port does no harm; and a
3-broker cluster replicates over TLS, checking each other's host names.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.test_sasl import JAAS
from tests.support.confluent import consume_group, produce_all
from tests.support.tls import CLIENT_PRINCIPAL, TlsFiles, make_certificates
from tests.support.waiting import wait_until

TIMEOUT_S = 20.0


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def names() -> Iterator[str]:
    yield f"tls-{uuid.uuid4().hex[:8]}"


def confluent_tls(certificates: TlsFiles, **extra: str) -> dict[str, str]:
    return {"security.protocol": "SSL", "ssl.ca.location": str(certificates.ca), **extra}


def test_confluent_kafka_over_ssl(
    kafka_broker_factory: Any, certificates: TlsFiles, names: str
) -> None:
    broker = kafka_broker_factory.start(certificates.broker_settings())
    settings = {"bootstrap.servers": broker.bootstrap, **confluent_tls(certificates)}
    values = [b"secret-%d" % i for i in range(20)]
    produce_all({**settings, "acks": "all"}, names, values)
    assert sorted(consume_group(settings, names, 20)) == sorted(values)


def test_kafka_python_and_our_clients_over_ssl(
    kafka_broker_factory: Any, certificates: TlsFiles, names: str
) -> None:
    import anyio
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from client.blocking import Consumer, Producer
    from client.blocking import TopicPartition as OurPartition
    from client.consumer import Consumer as AsyncConsumer

    broker = kafka_broker_factory.start(certificates.broker_settings())
    bootstrap = str(broker.bootstrap)
    tls = {"security_protocol": "SSL", "ssl_cafile": str(certificates.ca)}
    producer = KafkaProducer(bootstrap_servers=bootstrap, **tls)
    try:
        producer.send(names, b"from kafka-python", partition=0).get(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=5)
    with Producer(bootstrap_servers=bootstrap, acks="all", **tls) as ours:
        ours.send(names, b"from ours", partition=0).get(timeout_ms=10_000)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **tls)
    try:
        partition = TopicPartition(names, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        seen: list[bytes] = []

        def read() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                seen.extend(record.value for record in records)
            return len(seen) >= 2

        wait_until(read, "kafka-python reads both", TIMEOUT_S)
        assert seen == [b"from kafka-python", b"from ours"]
    finally:
        consumer.close()
    with Consumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", **tls) as reader:
        reader.assign([OurPartition(names, 0)])
        got: list[bytes | None] = []
        for _ in range(100):
            for records in reader.poll(timeout_ms=200).values():
                got.extend(record.value for record in records)
            if len(got) >= 2:
                break
        assert got == [b"from kafka-python", b"from ours"]

    async def read_async() -> list[bytes | None]:
        async with AsyncConsumer(
            bootstrap_servers=bootstrap, auto_offset_reset="earliest", **tls
        ) as consumer:
            consumer.assign([OurPartition(names, 0)])
            out: list[bytes | None] = []
            with anyio.fail_after(TIMEOUT_S):
                while len(out) < 2:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        out.extend(record.value for record in records)
            return out

    assert anyio.run(read_async) == [b"from kafka-python", b"from ours"]


def test_sasl_inside_tls(kafka_broker_factory: Any, certificates: TlsFiles, names: str) -> None:
    from confluent_kafka import KafkaError, Producer

    settings = {
        **certificates.broker_settings(protocol="SASL_SSL"),
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.plaintext.plain.sasl.jaas.config": JAAS,
    }
    broker = kafka_broker_factory.start(settings)
    login = {
        "bootstrap.servers": broker.bootstrap,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(certificates.ca),
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
    }
    produce_all({**login, "sasl.password": "alice-secret"}, names, [b"over sasl_ssl"])
    assert consume_group({**login, "sasl.password": "alice-secret"}, names, 1) == [b"over sasl_ssl"]
    errors: list[Any] = []
    refused = Producer(
        {**login, "sasl.password": "wrong", "error_cb": errors.append, "message.timeout.ms": 3000}
    )
    refused.produce(names, b"never")
    wait_until(
        lambda: (
            refused.poll(0.2) is not None
            and any(e.code() == KafkaError._AUTHENTICATION for e in errors)
        ),
        "the refused login reported",
        TIMEOUT_S,
    )


def test_mutual_tls_names_the_client_by_its_certificate(
    kafka_broker_factory: Any, certificates: TlsFiles, names: str
) -> None:
    """ssl.client.auth=required: a client without a certificate is turned away; with one its
    principal is the certificate's name, which ACLs match."""
    from confluent_kafka import KafkaError, Producer
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        NewTopic,
        ResourcePatternType,
        ResourceType,
    )

    settings = {
        **certificates.broker_settings(),
        "ssl.client.auth": "required",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "true",
    }
    broker = kafka_broker_factory.start(settings)
    alice = {
        "bootstrap.servers": broker.bootstrap,
        **confluent_tls(
            certificates,
            **{
                "ssl.certificate.location": str(certificates.client_cert),
                "ssl.key.location": str(certificates.client_key),
            },
        ),
    }
    admin = AdminClient(alice)
    for future in admin.create_topics(
        [NewTopic(names, 1, 1), NewTopic(f"{names}-x", 1, 1)]
    ).values():
        future.result(timeout=TIMEOUT_S)
    # Only alice (by her certificate's name) may write to the topic.
    acl = AclBinding(ResourceType.TOPIC, names, ResourcePatternType.LITERAL, CLIENT_PRINCIPAL,
                     "*", AclOperation.WRITE, AclPermissionType.ALLOW)  # fmt: skip
    for future in admin.create_acls([acl]).values():
        assert future.result(timeout=TIMEOUT_S) is None
    produce_all({**alice, "enable.idempotence": False}, names, [b"from alice"])

    errors: list[Any] = []
    anonymous = Producer(
        {"bootstrap.servers": broker.bootstrap, **confluent_tls(certificates),
         "error_cb": errors.append, "message.timeout.ms": 3000}
    )  # fmt: skip
    anonymous.produce(names, b"never")
    wait_until(lambda: anonymous.poll(0.2) is not None and bool(errors), "refused", TIMEOUT_S)
    assert errors and all(
        e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
        for e in errors
    ), errors


def test_a_plaintext_client_on_the_tls_port_does_no_harm(
    kafka_broker_factory: Any, certificates: TlsFiles, names: str
) -> None:
    broker = kafka_broker_factory.start(certificates.broker_settings())
    host, port = str(broker.bootstrap).rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00\xff\xff")
        raw.shutdown(socket.SHUT_WR)
        try:
            while raw.recv(4096):
                pass
        except ConnectionError:
            pass
    settings = {"bootstrap.servers": broker.bootstrap, **confluent_tls(certificates)}
    produce_all(settings, names, [b"still serving"])


def test_a_cluster_replicates_over_tls(
    kafka_cluster_factory: Any, certificates: TlsFiles, names: str
) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = kafka_cluster_factory.start(brokers=3, overrides=certificates.broker_settings())
    settings = {"bootstrap.servers": cluster.bootstrap, **confluent_tls(certificates)}
    admin = AdminClient(settings)
    topic = NewTopic(names, 3, 3, config={"min.insync.replicas": "3"})
    for future in admin.create_topics([topic]).values():
        future.result(timeout=TIMEOUT_S)
    values = [b"replicated-%d" % i for i in range(30)]
    # min.insync.replicas=3 with acks=all: every follower fetched over TLS.
    produce_all({**settings, "acks": "all", "enable.idempotence": True}, names, values)
    assert sorted(consume_group(settings, names, 30)) == sorted(values)


def test_a_broker_keystore_that_does_not_load_stops_the_start(
    tmp_path: Path, certificates: TlsFiles
) -> None:
    from broker.config import ConfigError, build_config

    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cannot load its certificate and key"):
        build_config([
            ("listeners", "SSL://127.0.0.1:0"),
            ("ssl.keystore.location", str(broken)),
        ])  # fmt: skip
    with pytest.raises(ConfigError, match=r"needs ssl\.truststore\.location"):
        build_config([
            ("listeners", "SSL://127.0.0.1:0"),
            ("ssl.keystore.location", str(certificates.broker_pem)),
            ("ssl.client.auth", "required"),
        ])  # fmt: skip


def test_the_cli_over_tls_with_kafkas_client_properties(
    kafka_broker_factory: Any,
    certificates: TlsFiles,
    names: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--command-config`` with the Java client's TLS keys (a PEM truststore)."""
    from broker import cli

    broker = kafka_broker_factory.start(certificates.broker_settings())
    properties = tmp_path / "client.properties"
    properties.write_text(
        "security.protocol=SSL\nssl.truststore.type=PEM\n"
        f"ssl.truststore.location={certificates.ca}\n"
    )
    common = ["--bootstrap-server", str(broker.bootstrap), "--command-config", str(properties)]
    assert cli.main(["topic", "create", names, "--partitions", "1", *common]) == 0
    capsys.readouterr()
    assert cli.main(["topic", "list", *common]) == 0
    assert names in capsys.readouterr().out
    jks = tmp_path / "jks.properties"
    jks.write_text("security.protocol=SSL\nssl.truststore.type=JKS\n")
    assert cli.main(["topic", "list", "--command-config", str(jks)]) == 2
    assert "only PEM stores are read" in capsys.readouterr().err


def test_large_fetches_over_tls(
    kafka_broker_factory: Any, certificates: TlsFiles, names: str
) -> None:
    """Megabytes per fetch response: TLS writes that fill the socket and are retried."""
    broker = kafka_broker_factory.start(certificates.broker_settings())
    settings = {"bootstrap.servers": broker.bootstrap, **confluent_tls(certificates)}
    values = [bytes([i]) * 200_000 for i in range(40)]
    produce_all({**settings, "acks": "all", "message.max.bytes": 1_000_000}, names, values)
    got = consume_group({**settings, "fetch.max.bytes": 8_000_000}, names, len(values))
    assert sorted(got) == sorted(values)
