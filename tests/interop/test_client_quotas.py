"""Client quotas seen by unmodified clients: librdkafka reports the broker's throttle through
its throttle callback (by client id, and by SASL user); our admin clients and the
``odradek quota`` commands set and show quotas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from client.blocking import AdminClient, ClientQuotaAlteration, QuotaFilterComponent
from client.errors import InvalidRequestError
from tests.interop.test_sasl import SASL_SETTINGS, confluent_sasl, keyword_sasl

RECORDS = 300
VALUE = b"q" * 1000
# 300 kB in a few seconds against 25 kB/s measured over at least 10 s: ~30 kB/s, a throttle
# of (30 - 25) / 25 x 10 s ~ 2 s.
RATE = 25_000.0


def _throttles(settings: dict[str, Any], topic: str) -> list[float]:
    """Produce RECORDS values (all must be delivered) and return the throttle times (s)
    librdkafka reported."""
    from confluent_kafka import Producer

    seen: list[float] = []
    producer = Producer({**settings, "throttle_cb": lambda event: seen.append(event.throttle_time)})
    for _ in range(RECORDS):
        producer.produce(topic, VALUE)
    assert producer.flush(30.0) == 0
    producer.poll(0)
    return seen


def test_librdkafka_is_throttled_by_client_id(kafka_broker: Any, topic: str) -> None:
    with AdminClient(bootstrap_servers=kafka_broker.bootstrap) as admin:
        alteration = ClientQuotaAlteration({"client-id": "throttled"}, {"producer_byte_rate": RATE})
        assert admin.alter_client_quotas([alteration]) == {(("client-id", "throttled"),): None}
        assert admin.describe_client_quotas() == {
            (("client-id", "throttled"),): {"producer_byte_rate": RATE}
        }
    base = {"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5}
    throttled = _throttles({**base, "client.id": "throttled"}, topic)
    assert max(throttled, default=0) > 0
    assert max(_throttles({**base, "client.id": "free"}, topic), default=0) == 0


@pytest.fixture
def sasl_bootstrap(kafka_broker_factory: Any) -> str:
    return str(kafka_broker_factory.start(SASL_SETTINGS).bootstrap)


def test_a_user_quota_follows_the_sasl_login(sasl_bootstrap: str, topic: str) -> None:
    login = keyword_sasl(sasl_bootstrap, "PLAIN", "admin", "admin-secret")
    with AdminClient(**login) as admin:
        alteration = ClientQuotaAlteration({"user": "alice"}, {"producer_byte_rate": RATE})
        assert admin.alter_client_quotas([alteration]) == {(("user", "alice"),): None}
        admin.create_topics([topic_spec(topic)])
    base = {"bootstrap.servers": sasl_bootstrap, "linger.ms": 5}
    alice = _throttles({**base, **confluent_sasl("PLAIN", "alice", "alice-secret")}, topic)
    assert max(alice, default=0) > 0
    admin_login = _throttles({**base, **confluent_sasl("PLAIN", "admin", "admin-secret")}, topic)
    assert max(admin_login, default=0) == 0


def topic_spec(name: str) -> Any:
    from client.blocking import NewTopic

    return NewTopic(name, num_partitions=1, replication_factor=1)


def test_our_admin_clients_validate_and_filter(kafka_broker: Any) -> None:
    with AdminClient(bootstrap_servers=kafka_broker.bootstrap) as admin:
        done = admin.alter_client_quotas(
            [
                ClientQuotaAlteration({"user": "u", "client-id": None}, {"request_percentage": 50}),
                ClientQuotaAlteration({"client-id": "c"}, {"producer_byte_rate": 0.5}),
                ClientQuotaAlteration({"ip": None}, {"connection_creation_rate": 10}),
            ]
        )
        assert done[(("client-id", None), ("user", "u"))] is None
        assert isinstance(done[(("client-id", "c"),)], InvalidRequestError)
        assert done[(("ip", None),)] is None
        users = admin.describe_client_quotas([QuotaFilterComponent.of_entity("user", "u")])
        assert users == {(("client-id", None), ("user", "u")): {"request_percentage": 50.0}}
        ips = admin.describe_client_quotas([QuotaFilterComponent.of_default_entity("ip")])
        assert ips == {(("ip", None),): {"connection_creation_rate": 10.0}}
        with pytest.raises(InvalidRequestError):
            admin.describe_client_quotas(
                [
                    QuotaFilterComponent.of_entity_type("ip"),
                    QuotaFilterComponent.of_entity_type("user"),
                ]
            )
        checked = admin.alter_client_quotas(
            [ClientQuotaAlteration({"client-id": "v"}, {"consumer_byte_rate": 100})],
            validate_only=True,
        )
        assert checked == {(("client-id", "v"),): None}
        assert (("client-id", "v"),) not in admin.describe_client_quotas()


def test_the_quota_cli(kafka_broker: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from broker import cli

    common = ["--bootstrap-server", kafka_broker.bootstrap]
    setting = ["quota", "set", "--client-id", "billing", "producer_byte_rate=1048576"]
    assert cli.main([*setting, "consumer_byte_rate=2097152", *common]) == 0
    assert capsys.readouterr().out == (
        "Set producer_byte_rate, consumer_byte_rate of client-id=billing.\n"
    )
    default = ["quota", "set", "--user", "alice", "--client-default", "request_percentage=25"]
    assert cli.main([*default, *common]) == 0
    capsys.readouterr()
    assert (
        cli.main(["quota", "describe", "--client-id", "billing", "--output", "json", *common]) == 0
    )
    assert json.loads(capsys.readouterr().out) == [
        {"entity": "client-id=billing", "key": "consumer_byte_rate", "value": 2097152.0},
        {"entity": "client-id=billing", "key": "producer_byte_rate", "value": 1048576.0},
    ]
    assert cli.main(["quota", "describe", *common]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ENTITY", "QUOTA", "VALUE"]
    assert "client-id=<default>, user=alice" in table[1]
    assert table[1].split()[-2:] == ["request_percentage", "25"]
    assert len(table) == 4
    removing = ["quota", "delete", "--client-id", "billing", "producer_byte_rate"]
    assert cli.main([*removing, *common]) == 0
    assert capsys.readouterr().out == "Removed producer_byte_rate of client-id=billing.\n"
    # usage and refusals: a clear message, exit 2 (usage) or 1 (refused)
    assert cli.main(["quota", "set", "producer_byte_rate=1", *common]) == 1
    assert "name an entity" in capsys.readouterr().err
    assert cli.main(["quota", "set", "--client-id", "x", "producer_byte_rate", *common]) == 1
    assert "expected KEY=NUMBER" in capsys.readouterr().err
    assert cli.main(["quota", "set", "--client-id", "x", "nonsense=1", *common]) == 1
    assert "Invalid configuration key nonsense" in capsys.readouterr().err
    assert cli.main(["quota", "set", "--client-id", "x", "--client-default", "a=1", *common]) == 2
    assert "not allowed with argument --client-id" in capsys.readouterr().err
