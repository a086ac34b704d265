"""broker.config: server.properties parsing, validation, defaults, topic configs, describe."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from broker.config import (
    BROKER_CONFIGS,
    DYNAMIC_BROKER_KEYS,
    LONG_MAX,
    MAX_CONFIG_FILE_BYTES,
    TOPIC_CONFIGS,
    BrokerConfig,
    ConfigEntry,
    ConfigError,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
    DynamicConfigError,
    Listener,
    QuorumVoter,
    build_config,
    describe_broker_config,
    describe_topic_config,
    effective_min_insync_replicas,
    load_config,
    log_config_values,
    parse_properties,
    validate_dynamic_broker_configs,
    validate_topic_configs,
    with_dynamic,
)

SHIPPED_PROPERTIES = Path(__file__).resolve().parents[2] / "configs" / "server.properties"


def configured(*overrides: str) -> BrokerConfig:
    return load_config(None, list(overrides)).config


def config_error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(None, list(overrides))
    return str(raised.value)


# --- defaults -------------------------------------------------------------------------------


def test_embedded_default() -> None:
    loaded = load_config(None, [])
    config = loaded.config
    assert loaded.warnings == ()
    assert config.node_id == 1
    assert config.process_roles == ("broker", "controller")
    assert config.listeners == (Listener("PLAINTEXT", "127.0.0.1", 9092),)
    assert config.advertised_listeners == config.listeners
    assert config.controller_listener_names == ("CONTROLLER",)
    assert config.controller_quorum_voters == (QuorumVoter(1, "127.0.0.1", 9093),)
    assert config.log_dirs == ("./odradek-data",)
    assert config.explicit_keys == frozenset()


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("num_partitions", 1),
        ("default_replication_factor", 1),
        ("log_segment_bytes", 1073741824),
        ("log_roll_ms", None),
        ("log_roll_hours", 168),
        ("log_retention_ms", None),
        ("log_retention_minutes", None),
        ("log_retention_hours", 168),
        ("log_retention_bytes", -1),
        ("log_retention_check_interval_ms", 300000),
        ("log_flush_interval_messages", 9223372036854775807),
        ("log_flush_interval_ms", None),
        ("log_index_interval_bytes", 4096),
        ("log_index_size_max_bytes", 10485760),
        ("log_message_timestamp_type", "CreateTime"),
        ("auto_create_topics_enable", True),
        ("delete_topic_enable", True),
        ("message_max_bytes", 1048588),
        ("socket_request_max_bytes", 104857600),
        ("min_insync_replicas", 1),
        ("connections_max_idle_ms", 600000),
        ("replica_lag_time_max_ms", 30000),
        ("broker_session_timeout_ms", 9000),
        ("broker_heartbeat_interval_ms", 2000),
        ("offsets_topic_num_partitions", 50),
        ("offsets_topic_replication_factor", 3),
        ("group_initial_rebalance_delay_ms", 3000),
        ("group_min_session_timeout_ms", 6000),
        ("group_max_session_timeout_ms", 1800000),
        ("offsets_retention_minutes", 10080),
        ("transactional_id_expiration_ms", 604800000),
        ("producer_id_expiration_ms", 86400000),
        ("unclean_leader_election_enable", False),
        ("inter_broker_listener_name", None),
        ("cluster_id", None),
    ],
)
def test_kafka_defaults(attribute: str, expected: object) -> None:
    assert getattr(configured(), attribute) == expected


def test_every_supported_key_is_a_field_of_matching_type() -> None:
    config = configured()
    names = [field.name for field in dataclasses.fields(BrokerConfig)]
    assert names == [key.replace(".", "_") for key in BROKER_CONFIGS] + [
        "listener_settings",
        "explicit_keys",
        "dynamic_broker",
        "dynamic_default",
        "static_values",
    ]
    python_types: dict[ConfigType, type | tuple[type, ...]] = {
        ConfigType.BOOLEAN: bool,
        ConfigType.INT: int,
        ConfigType.SHORT: int,
        ConfigType.LONG: int,
        ConfigType.STRING: (str, tuple),
        ConfigType.PASSWORD: str,
        ConfigType.LIST: tuple,
        ConfigType.DOUBLE: float,
    }
    for name, key in BROKER_CONFIGS.items():
        value = config.value_of(name)
        assert value is None or isinstance(value, python_types[key.config_type]), name


def test_shipped_properties_file_is_the_embedded_default() -> None:
    loaded = load_config(str(SHIPPED_PROPERTIES), [])
    assert loaded.warnings == ()
    assert loaded.config == configured()
    assert loaded.config.to_properties() == configured().to_properties()


def test_shipped_properties_file_documents_every_supported_key() -> None:
    text = SHIPPED_PROPERTIES.read_text()
    for key in BROKER_CONFIGS:
        assert re.search(rf"^#?{re.escape(key)}=", text, re.MULTILINE), key


# --- properties format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", [("a", "b")]),
        ("a:b", [("a", "b")]),
        ("a b", [("a", "b")]),
        ("  a  =  b c  ", [("a", "b c")]),
        ("a = b = c", [("a", "b = c")]),
        ("# comment\n! also a comment\n\n   \na=1", [("a", "1")]),
        ("a=1\r\nb=2\rc=3", [("a", "1"), ("b", "2"), ("c", "3")]),
        ("a=one, \\\n    two", [("a", "one, two")]),
        ("a=x\\\n", [("a", "x")]),
        ("a=x\\\\\nb=y", [("a", "x\\"), ("b", "y")]),
        ("# comment \\\na=1", [("a", "1")]),
        ("key\\=with\\:seps = v", [("key=with:seps", "v")]),
        ("a=\\u0041\\t\\z", [("a", "A\tz")]),
        ("a=trailing\\ ", [("a", "trailing ")]),
        ("lonely", [("lonely", "")]),
        ("a=1\na=2", [("a", "1"), ("a", "2")]),
    ],
)
def test_parse_properties(text: str, expected: list[tuple[str, str]]) -> None:
    assert parse_properties(text) == expected


def test_file_with_comments_and_continuation(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text(
        "# a broker\n"
        "node.id : 1\n"
        "listeners = PLAINTEXT://127.0.0.1:9092,\\\n"
        "            OTHER://127.0.0.1:9094\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT\n"
        "! log settings\n"
        "num.partitions 3\n"
    )
    config = load_config(str(path), []).config
    assert config.listeners == (
        Listener("PLAINTEXT", "127.0.0.1", 9092),
        Listener("OTHER", "127.0.0.1", 9094),
    )
    assert config.num_partitions == 3
    assert config.explicit_keys == {
        "node.id",
        "listeners",
        "listener.security.protocol.map",
        "num.partitions",
    }


def test_duplicate_key_in_file_warns_and_last_wins(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=2\nnum.partitions=4\n")
    loaded = load_config(str(path), [])
    assert loaded.config.num_partitions == 4
    assert any("'num.partitions' is set more than once" in warning for warning in loaded.warnings)


def test_set_overrides_file_and_later_set_wins(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=2\nlog.segment.bytes=1000\n")
    overrides = ["num.partitions=5", "min.insync.replicas=2", "min.insync.replicas = 3 "]
    config = load_config(str(path), overrides).config
    assert config.num_partitions == 5
    assert config.log_segment_bytes == 1000
    assert config.min_insync_replicas == 3


@pytest.mark.parametrize("override", ["num.partitions", "=3", "  =3"])
def test_malformed_set(override: str) -> None:
    assert config_error(override) == f"invalid --set {override!r}: expected key=value"


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "No such file or directory"),
        (b"num.partitions=\xff\xfe", "not UTF-8 text"),
        (b"#" * (MAX_CONFIG_FILE_BYTES + 1), f"larger than {MAX_CONFIG_FILE_BYTES} bytes"),
    ],
)
def test_unreadable_file(tmp_path: Path, contents: bytes | None, message: str) -> None:
    path = tmp_path / "server.properties"
    if contents is not None:
        path.write_bytes(contents)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(str(path), [])


def test_directory_as_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path), [])


# --- unknown, ignored and invalid keys ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "log.retention.msx",
            "unknown config key 'log.retention.msx' (did you mean 'log.retention.ms'?)",
        ),
        ("num.partition", "unknown config key 'num.partition' (did you mean 'num.partitions'?)"),
        ("retention.ms", "unknown config key 'retention.ms' (did you mean 'log.retention.ms'?)"),
        ("segment.ms", "unknown config key 'segment.ms' (did you mean 'log.roll.ms'?)"),
        (
            "max.message.bytes",
            "unknown config key 'max.message.bytes' (did you mean 'message.max.bytes'?)",
        ),
        ("zzzz", "unknown config key 'zzzz'"),
    ],
)
def test_unknown_key(key: str, message: str) -> None:
    assert config_error(f"{key}=1") == message


def test_unknown_key_error_names_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, ["log.retention.msx=1"])
    assert raised.value.key == "log.retention.msx"


def test_known_kafka_keys_are_ignored_with_one_warning() -> None:
    overrides = [
        "num.io.threads=8",
        "ssl.cipher.suites=TLS_AES_128_GCM_SHA256",
        "zookeeper.connect=localhost:2181",
        "listener.name.internal.ssl.cipher.suites=x",
        "num.io.threads=9",
    ]
    loaded = load_config(None, overrides)
    assert loaded.config == configured()
    assert loaded.warnings == (
        "ignoring Kafka config keys that odradek does not support yet: "
        "listener.name.internal.ssl.cipher.suites, num.io.threads, ssl.cipher.suites, "
        "zookeeper.connect",
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "num.partitions=abc",
            "invalid value 'abc' for 'num.partitions': expected an integer >= 1",
        ),
        ("num.partitions=0", "invalid value '0' for 'num.partitions': expected an integer >= 1"),
        (
            "num.partitions=1.5",
            "invalid value '1.5' for 'num.partitions': expected an integer >= 1",
        ),
        (
            "num.partitions=1_000",
            "invalid value '1_000' for 'num.partitions': expected an integer >= 1",
        ),
        (
            "num.partitions=2147483648",
            "invalid value '2147483648' for 'num.partitions': "
            "expected an integer between 1 and 2147483647",
        ),
        ("num.partitions=", "invalid value '' for 'num.partitions': expected an integer >= 1"),
        (
            "offsets.topic.replication.factor=40000",
            "invalid value '40000' for 'offsets.topic.replication.factor': "
            "expected an integer between 1 and 32767",
        ),
        (
            "log.retention.bytes=9223372036854775808",
            "invalid value '9223372036854775808' for 'log.retention.bytes': "
            "expected an integer between -9223372036854775808 and 9223372036854775807",
        ),
        (
            "log.retention.ms=-2",
            "invalid value '-2' for 'log.retention.ms': expected an integer >= -1",
        ),
        (
            "delete.topic.enable=yes",
            "invalid value 'yes' for 'delete.topic.enable': expected true or false",
        ),
        (
            "log.message.timestamp.type=createtime",
            "invalid value 'createtime' for 'log.message.timestamp.type': "
            "expected one of CreateTime, LogAppendTime",
        ),
        (
            "process.roles=broker,worker",
            "invalid value 'broker,worker' for 'process.roles': expected one of broker, controller",
        ),
        (
            "process.roles=",
            "invalid value '' for 'process.roles': "
            "expected a comma-separated list of broker, controller",
        ),
        (
            "log.cleanup.policy=delete,shred",
            "invalid value 'delete,shred' for 'log.cleanup.policy': "
            "expected one of compact, delete",
        ),
        (
            "compression.type=brotli",
            "invalid value 'brotli' for 'compression.type': "
            "expected one of uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        (
            "log.dirs= , ",
            "invalid value ',' for 'log.dirs': expected a comma-separated list of directories",
        ),
        (
            "controller.quorum.voters=1@:9093",
            "invalid value '1@:9093' for 'controller.quorum.voters': "
            "expected a comma-separated list of id@host:port with a host for each voter",
        ),
        (
            "controller.quorum.voters=1@a:1,1@b:2",
            "invalid value '1@a:1,1@b:2' for 'controller.quorum.voters': "
            "expected each voter id once (1 appears twice)",
        ),
    ],
)
def test_invalid_values(override: str, message: str) -> None:
    assert config_error(override) == message


def test_booleans_are_case_insensitive() -> None:
    config = configured("delete.topic.enable=FALSE", "auto.create.topics.enable=True")
    assert config.delete_topic_enable is False
    assert config.auto_create_topics_enable is True


def test_empty_value_unsets_an_optional_key() -> None:
    config = configured("log.retention.ms=", "cluster.id=")
    assert config.log_retention_ms is None
    assert config.cluster_id is None


# --- synonyms and precedence ------------------------------------------------------------------


def test_broker_id_is_a_synonym_of_node_id() -> None:
    config = configured("broker.id=7", "controller.quorum.voters=7@localhost:9093")
    assert config.node_id == 7
    assert "node.id" in config.explicit_keys
    assert configured("broker.id=1", "node.id=1").node_id == 1
    assert config_error("broker.id=2", "node.id=1") == (
        "broker.id and node.id are both set and differ"
    )


def test_log_dir_is_a_synonym_and_log_dirs_wins() -> None:
    assert configured("log.dir=/data/a").log_dirs == ("/data/a",)
    assert configured("log.dir=/data/a", "log.dirs=/data/b, /data/c").log_dirs == (
        "/data/b",
        "/data/c",
    )


@pytest.mark.parametrize(
    ("overrides", "retention_ms"),
    [
        ((), 604800000),
        (("log.retention.hours=1",), 3600000),
        (("log.retention.hours=1", "log.retention.minutes=5"), 300000),
        (("log.retention.minutes=5", "log.retention.ms=100"), 100),
        (("log.retention.hours=-1",), -1),
        (("log.retention.minutes=-1",), -1),
        (("log.retention.ms=-1", "log.retention.hours=1"), -1),
    ],
)
def test_retention_ms_over_minutes_over_hours(
    overrides: tuple[str, ...], retention_ms: int
) -> None:
    assert log_config_values(configured(*overrides), {})["retention_ms"] == retention_ms


@pytest.mark.parametrize(
    ("overrides", "segment_ms"),
    [
        ((), 604800000),
        (("log.roll.hours=2",), 7200000),
        (("log.roll.hours=2", "log.roll.ms=5000"), 5000),
    ],
)
def test_roll_ms_over_hours(overrides: tuple[str, ...], segment_ms: int) -> None:
    assert log_config_values(configured(*overrides), {})["segment_ms"] == segment_ms


@pytest.mark.parametrize(
    ("overrides", "flush_ms"),
    [
        ((), LONG_MAX),
        (("log.flush.scheduler.interval.ms=500",), 500),
        (("log.flush.scheduler.interval.ms=500", "log.flush.interval.ms=1000"), 1000),
    ],
)
def test_flush_interval_over_scheduler_interval(overrides: tuple[str, ...], flush_ms: int) -> None:
    assert log_config_values(configured(*overrides), {})["flush_interval_ms"] == flush_ms


# --- listeners, roles, security -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "listeners"),
    [
        ("PLAINTEXT://:9092", (Listener("PLAINTEXT", "", 9092),)),
        ("plaintext://localhost:0", (Listener("PLAINTEXT", "localhost", 0),)),
        ("PLAINTEXT://[::1]:9092", (Listener("PLAINTEXT", "::1", 9092),)),
        (
            "PLAINTEXT://a.example:9092 , CONTROLLER://:9093",
            (Listener("PLAINTEXT", "a.example", 9092), Listener("CONTROLLER", "", 9093)),
        ),
    ],
)
def test_listeners(value: str, listeners: tuple[Listener, ...]) -> None:
    config = configured(f"listeners={value}")
    assert config.listeners == listeners
    assert config.advertised_listeners == listeners


def test_listener_text_round_trips() -> None:
    for listener in (
        Listener("PLAINTEXT", "", 1),
        Listener("PLAINTEXT", "::1", 2),
        Listener("PLAINTEXT", "h", 3),
    ):
        assert configured(f"listeners={listener}").listeners == (listener,)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PLAINTEXT:9092", "a comma-separated list of NAME://host:port"),
        ("PLAINTEXT://host", "a comma-separated list of NAME://host:port"),
        ("PLAINTEXT://host:99999", "with ports from 0 to 65535"),
        ("PLAINTEXT://a:1,PLAINTEXT://b:2", "each listener name once (PLAINTEXT appears twice)"),
        ("PLAINTEXT://a:1,CONTROLLER://b:1", "each port once (1 appears twice)"),
        ("", "a comma-separated list of NAME://host:port"),
    ],
)
def test_bad_listeners(value: str, expected: str) -> None:
    assert expected in config_error(f"listeners={value}")


def test_advertised_listeners() -> None:
    config = configured(
        "listeners=PLAINTEXT://0.0.0.0:9092", "advertised.listeners=PLAINTEXT://broker1:19092"
    )
    assert config.listeners == (Listener("PLAINTEXT", "0.0.0.0", 9092),)
    assert config.advertised_listeners == (Listener("PLAINTEXT", "broker1", 19092),)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("listeners=PLAINTEXT://0.0.0.0:9092",),
            "advertised.listeners cannot use the non-routable address 0.0.0.0",
        ),
        (
            ("advertised.listeners=OTHER://h:1",),
            "advertised listener 'OTHER' is not one of the listeners",
        ),
    ],
)
def test_bad_advertised_listeners(overrides: tuple[str, ...], message: str) -> None:
    assert message in config_error(*overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        ("listeners=SSL://:9093",),
        ("listeners=SASL_SSL://:9093",),
        ("listener.security.protocol.map=PLAINTEXT:SASL_SSL",),
        ("listeners=CLIENT://:9093", "listener.security.protocol.map=CLIENT:SSL"),
    ],
)
def test_an_ssl_listener_needs_a_keystore(overrides: tuple[str, ...]) -> None:
    message = config_error(*overrides)
    assert "needs ssl.keystore.location" in message


def test_ssl_stores_must_be_pem_and_load(tmp_path: Path) -> None:
    assert "set ssl.keystore.type=PEM" in config_error(
        "listeners=SSL://:9093", "ssl.keystore.type=JKS", "ssl.keystore.location=/x.jks"
    )
    assert "cannot load its certificate and key" in config_error(
        "listeners=SSL://:9093", f"ssl.keystore.location={tmp_path / 'missing.pem'}"
    )
    # Inline PEM, per listener, is loaded too (and this one is garbage).
    assert "cannot load its certificate and key" in config_error(
        "listeners=SSL://:9093",
        "listener.name.ssl.ssl.keystore.certificate.chain=x",
        "listener.name.ssl.ssl.keystore.key=y",
    )


def test_listener_needs_a_protocol() -> None:
    assert config_error("listeners=CLIENT://:9093") == (
        "listener 'CLIENT' has no entry in listener.security.protocol.map"
    )
    assert "expected a comma-separated list of LISTENER_NAME:PROTOCOL" in config_error(
        "listener.security.protocol.map=PLAINTEXT:TLS"
    )


def test_controller_listener_defaults_to_plaintext() -> None:
    config = configured("listeners=PLAINTEXT://:9092,CONTROLLER://:9093")
    assert [listener.name for listener in config.listeners] == ["PLAINTEXT", "CONTROLLER"]


def test_custom_listener_names() -> None:
    config = configured(
        "listeners=CLIENT://:9092,INTERNAL://:9094",
        "listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT",
        "inter.broker.listener.name=internal",
    )
    assert config.inter_broker_listener_name == "INTERNAL"
    assert config.listener_security_protocol_map == (
        ("CLIENT", "PLAINTEXT"),
        ("INTERNAL", "PLAINTEXT"),
    )


@pytest.mark.parametrize("name", ["OTHER", "CONTROLLER"])
def test_inter_broker_listener_must_be_an_advertised_broker_listener(name: str) -> None:
    message = config_error(
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", f"inter.broker.listener.name={name}"
    )
    assert message.startswith(f"inter.broker.listener.name {name!r} must be one of")


def test_controller_role_needs_node_in_voters() -> None:
    assert config_error("node.id=2") == (
        "node.id 2 must be one of the controller.quorum.voters (1) "
        "when process.roles includes controller"
    )
    assert configured("node.id=2", "process.roles=broker").node_id == 2


def test_broker_role_needs_a_client_listener() -> None:
    message = config_error("listeners=CONTROLLER://:9093")
    assert message.startswith("process.roles includes broker, so listeners needs a listener")
    assert configured("listeners=CONTROLLER://:9093", "process.roles=controller").listeners


def test_roles_are_listed_once() -> None:
    assert config_error("process.roles=broker,broker") == "process.roles lists a role twice"


def test_group_session_timeouts_are_ordered() -> None:
    message = config_error("group.min.session.timeout.ms=10", "group.max.session.timeout.ms=5")
    assert message == "group.min.session.timeout.ms must not exceed group.max.session.timeout.ms"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["group.consumer.heartbeat.interval.ms=250"],
            "group.consumer.heartbeat.interval.ms (250) must lie within "
            "group.consumer.min.heartbeat.interval.ms (5000) and "
            "group.consumer.max.heartbeat.interval.ms (15000)",
        ),
        (
            ["group.consumer.session.timeout.ms=90000"],
            "group.consumer.session.timeout.ms (90000) must lie within "
            "group.consumer.min.session.timeout.ms (45000) and "
            "group.consumer.max.session.timeout.ms (60000)",
        ),
        (
            ["group.consumer.max.session.timeout.ms=1000"],
            "group.consumer.max.session.timeout.ms must be greater than or equal to "
            "group.consumer.min.session.timeout.ms",
        ),
        (
            [
                "group.consumer.min.session.timeout.ms=1000",
                "group.consumer.session.timeout.ms=5000",
            ],
            "group.consumer.heartbeat.interval.ms must be less than "
            "group.consumer.session.timeout.ms",
        ),
    ],
)
def test_consumer_group_bounds_are_checked_at_start(overrides: list[str], message: str) -> None:
    assert config_error(*overrides) == message


def test_consumer_group_values_below_the_defaults_need_lower_bounds() -> None:
    config = configured(
        "group.consumer.heartbeat.interval.ms=250",
        "group.consumer.min.heartbeat.interval.ms=250",
        "group.consumer.session.timeout.ms=10000",
        "group.consumer.min.session.timeout.ms=10000",
    )
    assert config.group_consumer_heartbeat_interval_ms == 250
    assert config.group_consumer_session_timeout_ms == 10000


# --- properties view and sources -----------------------------------------------------------------


def test_to_properties_round_trips() -> None:
    config = configured(
        "listeners=PLAINTEXT://[::1]:0,CONTROLLER://:9093",
        "advertised.listeners=PLAINTEXT://h:9092",
        "log.dirs=/a,/b",
        "log.retention.minutes=5",
        "delete.topic.enable=false",
        "cluster.id=abc",
    )
    properties = config.to_properties()
    assert properties["listeners"] == "PLAINTEXT://[::1]:0,CONTROLLER://:9093"
    assert properties["log.dirs"] == "/a,/b"
    assert properties["delete.topic.enable"] == "false"
    assert "log.retention.ms" not in properties
    assert build_config(properties.items()).config == config


def test_config_source() -> None:
    config = configured("num.partitions=3")
    assert config.config_source("num.partitions") == ConfigSource.STATIC_BROKER_CONFIG
    assert config.config_source("log.segment.bytes") == ConfigSource.DEFAULT_CONFIG


def test_kafka_protocol_numbers() -> None:
    sources = {source.name: int(source) for source in ConfigSource}
    assert sources["DYNAMIC_TOPIC_CONFIG"] == 1
    assert sources["STATIC_BROKER_CONFIG"] == 4
    assert sources["DEFAULT_CONFIG"] == 5
    types = {config_type.name: int(config_type) for config_type in ConfigType}
    assert [types[name] for name in ("BOOLEAN", "STRING", "INT", "SHORT", "LONG")] == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert [types[name] for name in ("DOUBLE", "LIST", "CLASS", "PASSWORD")] == [6, 7, 8, 9]


# --- topic configs -------------------------------------------------------------------------------


def test_validate_topic_configs() -> None:
    configs: dict[str, str | None] = {
        "retention.ms": " 1000 ",
        "cleanup.policy": "compact,delete",
        "compression.type": "zstd",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "TRUE",
        "segment.bytes": None,
        "preallocate": "true",
        "compression.gzip.level": "-1",
        "leader.replication.throttled.replicas": "0:1,1:2",
        "min.cleanable.dirty.ratio": "0.25",
    }
    assert validate_topic_configs(configs) == {
        "retention.ms": "1000",
        "cleanup.policy": "compact,delete",
        "compression.type": "zstd",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "TRUE",
        "preallocate": "true",
        "compression.gzip.level": "-1",
        "leader.replication.throttled.replicas": "0:1,1:2",
        "min.cleanable.dirty.ratio": "0.25",
    }


@pytest.mark.parametrize(
    ("configs", "message"),
    [
        (
            {"retention.msx": "1"},
            "unknown topic config key 'retention.msx' (did you mean 'retention.ms'?)",
        ),
        (
            {"log.retention.ms": "1"},
            "unknown topic config key 'log.retention.ms' (did you mean 'retention.ms'?)",
        ),
        (
            {"retention.ms": "soon"},
            "invalid value 'soon' for 'retention.ms': expected an integer >= -1",
        ),
        (
            {"segment.bytes": "13"},
            "invalid value '13' for 'segment.bytes': expected an integer >= 14",
        ),
        (
            {"cleanup.policy": "forever"},
            "invalid value 'forever' for 'cleanup.policy': expected one of compact, delete",
        ),
        (
            {"compression.type": "brotli"},
            "expected one of uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        ({"min.insync.replicas": "0"}, "expected an integer >= 1"),
        ({"message.timestamp.type": "Now"}, "expected one of CreateTime, LogAppendTime"),
        ({"compression.gzip.level": "0"}, "expected an integer between 1 and 9, or -1"),
        ({"compression.zstd.level": "23"}, "expected an integer between -131072 and 22"),
        ({"min.cleanable.dirty.ratio": "1.5"}, "expected a number between 0 and 1"),
        ({"min.cleanable.dirty.ratio": "nan"}, "expected a number between 0 and 1"),
        ({"follower.replication.throttled.replicas": "*,0:1"}, "expected '*' or a comma-separated"),
        ({"unclean.leader.election.enable": "1"}, "expected true or false"),
    ],
)
def test_invalid_topic_configs(configs: dict[str, str | None], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_topic_configs(configs)
    assert message in str(raised.value)
    assert raised.value.key == next(iter(configs))


def test_topic_keys_mirror_their_broker_synonyms() -> None:
    for name, key in TOPIC_CONFIGS.items():
        assert key.synonyms or not key.acted_on, name
        for synonym in key.synonyms:
            assert synonym.name in BROKER_CONFIGS, (name, synonym)
        assert validate_topic_configs({name: key.default}) == {name: (key.default or "").strip()}


def entry(entries: list[ConfigEntry], name: str) -> ConfigEntry:
    return next(item for item in entries if item.name == name)


def test_describe_topic_config_defaults() -> None:
    entries = describe_topic_config(configured(), {})
    assert [item.name for item in entries] == sorted(TOPIC_CONFIGS)
    retention = entry(entries, "retention.ms")
    assert retention == ConfigEntry(
        name="retention.ms",
        value="604800000",
        read_only=False,
        is_default=True,
        source=ConfigSource.DEFAULT_CONFIG,
        sensitive=False,
        synonyms=(ConfigSynonym("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),),
        config_type=ConfigType.LONG,
        documentation=retention.documentation,
    )
    assert retention.documentation
    assert entry(entries, "cleanup.policy").value == "delete"
    assert entry(entries, "cleanup.policy").config_type == ConfigType.LIST
    assert entry(entries, "unclean.leader.election.enable").value == "false"
    assert entry(entries, "flush.ms").value == str(LONG_MAX)
    assert entry(entries, "min.cleanable.dirty.ratio").config_type == ConfigType.DOUBLE
    assert entry(entries, "preallocate").synonyms == ()


def test_describe_topic_config_static_broker_and_override() -> None:
    broker = configured("log.retention.minutes=30", "min.insync.replicas=2")
    entries = describe_topic_config(broker, {"min.insync.replicas": "3"})
    retention = entry(entries, "retention.ms")
    assert (retention.value, retention.source, retention.is_default) == (
        "1800000",
        ConfigSource.STATIC_BROKER_CONFIG,
        False,
    )
    assert retention.synonyms == (
        ConfigSynonym("log.retention.minutes", "30", ConfigSource.STATIC_BROKER_CONFIG),
        ConfigSynonym("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
    )
    min_isr = entry(entries, "min.insync.replicas")
    assert (min_isr.value, min_isr.source) == ("3", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert min_isr.synonyms == (
        ConfigSynonym("min.insync.replicas", "3", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ConfigSynonym("min.insync.replicas", "2", ConfigSource.STATIC_BROKER_CONFIG),
        ConfigSynonym("min.insync.replicas", "1", ConfigSource.DEFAULT_CONFIG),
    )


def test_describe_topic_config_keeps_override_text_as_sent() -> None:
    entries = describe_topic_config(
        configured(), {"compression.type": "gzip", "preallocate": "TRUE"}
    )
    assert entry(entries, "compression.type").value == "gzip"
    assert entry(entries, "preallocate").value == "TRUE"


def test_describe_broker_config() -> None:
    entries = describe_broker_config(configured("num.partitions=3"))
    assert [item.name for item in entries] == sorted(BROKER_CONFIGS)
    partitions = entry(entries, "num.partitions")
    assert partitions == ConfigEntry(
        name="num.partitions",
        value="3",
        read_only=True,
        is_default=False,
        source=ConfigSource.STATIC_BROKER_CONFIG,
        sensitive=False,
        synonyms=(ConfigSynonym("num.partitions", "3", ConfigSource.STATIC_BROKER_CONFIG),),
        config_type=ConfigType.INT,
        documentation=partitions.documentation,
    )
    roll = entry(entries, "log.roll.ms")
    assert (roll.value, roll.is_default, roll.synonyms) == (None, True, ())
    segment = entry(entries, "log.segment.bytes")
    assert (segment.value, segment.source) == ("1073741824", ConfigSource.DEFAULT_CONFIG)
    assert entry(entries, "process.roles").config_type == ConfigType.LIST
    assert entry(entries, "offsets.topic.replication.factor").config_type == ConfigType.SHORT


# --- LogConfig values and min ISR ----------------------------------------------------------------


def test_log_config_values_defaults() -> None:
    assert log_config_values(configured(), {}) == {
        "segment_bytes": 1073741824,
        "segment_ms": 604800000,
        "retention_ms": 604800000,
        "retention_bytes": -1,
        "flush_interval_messages": LONG_MAX,
        "flush_interval_ms": LONG_MAX,
        "index_interval_bytes": 4096,
        "max_index_bytes": 10485760,
        "max_message_bytes": 1048588,
        "message_timestamp_type": "CreateTime",
        "cleanup_policy": ("delete",),
        "delete_retention_ms": 86400000,
        "min_compaction_lag_ms": 0,
        "max_compaction_lag_ms": LONG_MAX,
        "min_cleanable_dirty_ratio": 0.5,
        "compression_type": "producer",
        "segment_jitter_ms": 0,
        "message_timestamp_before_max_ms": LONG_MAX,
        "message_timestamp_after_max_ms": LONG_MAX,
        "message_timestamp_difference_max_ms": LONG_MAX,
        "compression_gzip_level": -1,
        "compression_lz4_level": 9,
        "compression_zstd_level": 3,
    }


def test_log_config_values_broker_then_topic() -> None:
    broker = configured(
        "log.segment.bytes=1000", "message.max.bytes=500", "log.flush.interval.messages=1"
    )
    overrides = validate_topic_configs(
        {
            "segment.bytes": "2000",
            "retention.bytes": "4096",
            "message.timestamp.type": "LogAppendTime",
            "segment.index.bytes": "8192",
            "flush.ms": "10",
        }
    )
    values = log_config_values(broker, overrides)
    assert values["segment_bytes"] == 2000
    assert values["retention_bytes"] == 4096
    assert values["message_timestamp_type"] == "LogAppendTime"
    assert values["max_index_bytes"] == 8192
    assert values["flush_interval_ms"] == 10
    assert values["max_message_bytes"] == 500
    assert values["flush_interval_messages"] == 1


@pytest.mark.parametrize(
    ("broker_min_isr", "overrides", "replication_factor", "expected"),
    [
        ("1", {}, 3, 1),
        ("2", {}, 3, 2),
        ("2", {}, 1, 1),
        ("2", {"min.insync.replicas": "3"}, 5, 3),
        ("2", {"min.insync.replicas": "3"}, 2, 2),
    ],
)
def test_effective_min_insync_replicas(
    broker_min_isr: str, overrides: dict[str, str], replication_factor: int, expected: int
) -> None:
    broker = configured(f"min.insync.replicas={broker_min_isr}")
    assert effective_min_insync_replicas(broker, overrides, replication_factor) == expected


# --- dynamic broker configs (KIP-226) ----------------------------------------------------------


def test_dynamic_broker_keys_are_the_broker_synonyms_of_topic_keys() -> None:
    synonyms = {synonym.name for key in TOPIC_CONFIGS.values() for synonym in key.synonyms}
    assert synonyms - {"log.flush.scheduler.interval.ms"} == DYNAMIC_BROKER_KEYS
    assert {"log.retention.ms", "message.max.bytes", "min.insync.replicas"} <= DYNAMIC_BROKER_KEYS
    assert not DYNAMIC_BROKER_KEYS & {"node.id", "listeners", "log.dirs", "process.roles"}


def test_validate_dynamic_broker_configs() -> None:
    assert validate_dynamic_broker_configs(
        {"log.retention.ms": " 5 ", "compression.type": None}
    ) == {"log.retention.ms": "5"}
    with pytest.raises(DynamicConfigError, match=re.escape("dynamically: listeners, node.id")):
        validate_dynamic_broker_configs({"node.id": "2", "listeners": "PLAINTEXT://:1"})
    with pytest.raises(ConfigError, match=re.escape("did you mean 'log.segment.bytes'")):
        validate_dynamic_broker_configs({"segment.bytes": "1"})
    with pytest.raises(ConfigError, match=re.escape("'message.max.bytes'")):
        validate_dynamic_broker_configs({"message.max.bytes": "big"})


def test_with_dynamic_layers_over_the_static_config() -> None:
    static = configured("log.retention.minutes=30", "message.max.bytes=5000")
    merged, warnings = with_dynamic(
        static,
        {"log.retention.ms": "60000", "message.max.bytes": "2000", "node.id": "9"},
        {"message.max.bytes": "8000", "min.insync.replicas": "zero"},
    )
    assert len(warnings) == 2 and "node.id" in warnings[0] and "min.insync.replicas" in warnings[1]
    assert (merged.log_retention_ms, merged.message_max_bytes, merged.node_id) == (60000, 8000, 1)
    assert merged.min_insync_replicas == static.min_insync_replicas
    assert merged.config_source("message.max.bytes") == ConfigSource.DYNAMIC_BROKER_CONFIG
    assert merged.config_source("log.retention.ms") == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
    assert merged.config_source("log.retention.minutes") == ConfigSource.STATIC_BROKER_CONFIG
    assert merged == dataclasses.replace(static, log_retention_ms=60000, message_max_bytes=8000)
    # The topic sees the dynamic values, with every synonym, highest precedence first.
    entries = describe_topic_config(merged, {})
    size = entry(entries, "max.message.bytes")
    assert (size.value, size.source) == ("8000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert size.synonyms == (
        ConfigSynonym("message.max.bytes", "8000", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ConfigSynonym("message.max.bytes", "2000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ConfigSynonym("message.max.bytes", "5000", ConfigSource.STATIC_BROKER_CONFIG),
        ConfigSynonym("message.max.bytes", "1048588", ConfigSource.DEFAULT_CONFIG),
    )
    retention = entry(entries, "retention.ms")
    assert (retention.value, retention.source) == (
        "60000",
        ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
    )
    assert log_config_values(merged, {})["max_message_bytes"] == 8000
    assert log_config_values(merged, {"max.message.bytes": "100"})["max_message_bytes"] == 100
    # Back to the static config once the dynamic layers are gone.
    bare, _ = with_dynamic(static, {}, {})
    assert bare == static and bare.config_source("message.max.bytes") == (
        ConfigSource.STATIC_BROKER_CONFIG
    )


def test_describe_broker_config_with_dynamic_layers() -> None:
    merged, _ = with_dynamic(
        configured(), {"log.retention.ms": "60000"}, {"log.segment.bytes": "2048"}
    )
    entries = describe_broker_config(merged)
    segment = entry(entries, "log.segment.bytes")
    assert (segment.value, segment.source, segment.read_only) == (
        "2048",
        ConfigSource.DYNAMIC_BROKER_CONFIG,
        False,
    )
    assert segment.synonyms[0] == ConfigSynonym(
        "log.segment.bytes", "2048", ConfigSource.DYNAMIC_BROKER_CONFIG
    )
    assert entry(entries, "node.id").read_only
    assert not entry(entries, "min.insync.replicas").read_only
    default_only = describe_broker_config(merged, default_only=True)
    assert [(e.name, e.value, e.source) for e in default_only] == [
        ("log.retention.ms", "60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    ]
