"""Broker and topic configuration: Kafka's keys, parsed, validated, defaulted and described.

Pure: no sockets, no event loop; `load_config` reads one file and everything else works on
strings. Key names, types, defaults and validation follow Kafka (`ServerLogConfigs`,
`KRaftConfigs`, `SocketServerConfigs`, `ReplicationConfigs`, `TopicConfig`, `LogConfig`);
where odradek differs, a comment says why. Three kinds of key exist:

- supported: parsed into `BrokerConfig` (attribute = key with '.' -> '_');
- known to Kafka but not acted on (`_IGNORED_BROKER_KEYS`): accepted with a warning, so an
  existing Kafka server.properties starts;
- anything else: a `ConfigError` at start, naming the key and the closest known key.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, cast

from broker import jaas
from client import sasl
from client.sasl import SaslCredentials

LONG_MAX = 2**63 - 1
"""Kafka's Long.MAX_VALUE: "never" for flush intervals and timestamp bounds."""

MAX_CONFIG_FILE_BYTES = 1024 * 1024
"""A server.properties larger than this is refused rather than read."""

PLAINTEXT = "PLAINTEXT"
SASL_PLAINTEXT = "SASL_PLAINTEXT"
SSL = "SSL"
SASL_SSL = "SASL_SSL"
# Kafka's SecurityProtocol ids (BrokerRegistration listeners).
SECURITY_PROTOCOL_IDS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}
_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_ROLES = ("broker", "controller")
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# KIP-392: the leader names a follower in the consumer's rack as its preferred read replica.
RACK_AWARE_REPLICA_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


class ConfigError(ValueError):
    """A key or value the broker refuses; request handlers answer INVALID_CONFIG (40)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DynamicConfigError(ConfigError):
    """A broker key that cannot change at run time; Kafka answers INVALID_REQUEST (42)."""


class ConfigType(enum.IntEnum):
    """DescribeConfigs `ConfigType` numbers (KIP-569)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(enum.IntEnum):
    """DescribeConfigs `ConfigSource` numbers (KIP-226)."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class Listener:
    """One `NAME://host:port` of `listeners` or `advertised.listeners`.

    An empty host binds every interface; in an advertised listener it stands for this
    machine's host name, which the server fills in (Kafka uses the canonical host name).
    Port 0 binds an ephemeral port, which the server must advertise once bound.
    """

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name}://{_bracket(self.host)}:{self.port}"


@dataclass(frozen=True, slots=True)
class QuorumVoter:
    """One `id@host:port` of `controller.quorum.voters`."""

    node_id: int
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.node_id}@{_bracket(self.host)}:{self.port}"


class BrokerSynonym(NamedTuple):
    """A broker key standing in for a topic key; `factor` turns its unit into the topic's."""

    name: str
    factor: int = 1


class ConfigSynonym(NamedTuple):
    """One DescribeConfigs synonym: (name, value, source), highest precedence first."""

    name: str
    value: str | None
    source: ConfigSource


class _InvalidValueError(Exception):
    """Raised by value parsers; the text says what was expected."""


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One key: Kafka's name, type and default (as written in a properties file), plus checks.

    `default` None means unset (Kafka's null default). For topic keys `synonyms` lists the
    broker keys that supply the value when a topic has no override, in Kafka's precedence
    order, and `acted_on` is False for keys accepted and reported but not yet enforced.
    """

    name: str
    config_type: ConfigType
    default: str | None
    documentation: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[str, ...] = ()
    parser: Callable[[str], object] | None = None
    synonyms: tuple[BrokerSynonym, ...] = ()
    acted_on: bool = True


# ---------------------------------------------------------------------------------------------
# Value parsers
# ---------------------------------------------------------------------------------------------

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INTEGER_RANGES = {
    ConfigType.SHORT: (-(2**15), 2**15 - 1),
    ConfigType.INT: (-(2**31), 2**31 - 1),
    ConfigType.LONG: (-(2**63), 2**63 - 1),
}
_NAME = r"[A-Za-z][A-Za-z0-9_-]*"
_HOST = r"(?:\[(?P<ipv6>[0-9A-Fa-f:.%]+)\]|(?P<host>[A-Za-z0-9._-]*))"
_LISTENER = re.compile(rf"(?P<name>{_NAME})://{_HOST}:(?P<port>[0-9]{{1,5}})")
_VOTER = re.compile(rf"(?P<id>[0-9]{{1,10}})@{_HOST}:(?P<port>[0-9]{{1,5}})")
_PROTOCOL_MAPPING = re.compile(rf"(?P<name>{_NAME}):(?P<protocol>[A-Za-z_]+)")
_MAX_PORT = 65535


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_integer(key: ConfigKey, text: str) -> int:
    lowest, highest = _INTEGER_RANGES[key.config_type]
    lower = lowest if key.minimum is None else int(key.minimum)
    upper = highest if key.maximum is None else int(key.maximum)
    number = int(text) if _INTEGER.fullmatch(text) else None
    if number is not None and lower <= number <= upper:
        return number
    if key.maximum is None and (number is None or number <= upper):
        raise _InvalidValueError("an integer" if key.minimum is None else f"an integer >= {lower}")
    raise _InvalidValueError(f"an integer between {lower} and {upper}")


def _parse_double(key: ConfigKey, text: str) -> float:
    lower = -math.inf if key.minimum is None else key.minimum
    upper = math.inf if key.maximum is None else key.maximum
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not lower <= number <= upper:  # also refuses nan
        raise _InvalidValueError(f"a number between {lower} and {upper}")
    return number


def _parse_boolean(key: ConfigKey, text: str) -> bool:
    # Kafka compares case-insensitively (ConfigDef.parseType).
    if text.lower() not in ("true", "false"):
        raise _InvalidValueError("true or false")
    return text.lower() == "true"


def _check_choice(key: ConfigKey, item: str) -> str:
    if key.choices and item not in key.choices:
        listed = [choice or "empty" for choice in key.choices]
        raise _InvalidValueError("one of " + ", ".join(listed))
    return item


def _parse_string(key: ConfigKey, text: str) -> str:
    return _check_choice(key, text)


def _parse_list(key: ConfigKey, text: str) -> tuple[str, ...]:
    items = tuple(_check_choice(key, item) for item in _split_list(text))
    if key.choices and not items:
        raise _InvalidValueError("a comma-separated list of " + ", ".join(key.choices))
    return items


_TYPE_PARSERS: dict[ConfigType, Callable[[ConfigKey, str], object]] = {
    ConfigType.BOOLEAN: _parse_boolean,
    ConfigType.STRING: _parse_string,
    ConfigType.PASSWORD: _parse_string,
    ConfigType.INT: _parse_integer,
    ConfigType.SHORT: _parse_integer,
    ConfigType.LONG: _parse_integer,
    ConfigType.DOUBLE: _parse_double,
    ConfigType.LIST: _parse_list,
}


def _host_and_port(match: re.Match[str], expected: str) -> tuple[str, int]:
    port = int(match["port"])
    if port > _MAX_PORT:
        raise _InvalidValueError(f"{expected} with ports from 0 to {_MAX_PORT}")
    return match["ipv6"] or match["host"] or "", port


def _check_unique(names: list[str], what: str) -> None:
    for name in names:
        if names.count(name) > 1:
            raise _InvalidValueError(f"each {what} once ({name} appears twice)")


def _parse_listeners(text: str) -> tuple[Listener, ...]:
    expected = "a comma-separated list of NAME://host:port"
    listeners = []
    for item in _split_list(text):
        match = _LISTENER.fullmatch(item)
        if match is None:
            raise _InvalidValueError(expected)
        host, port = _host_and_port(match, expected)
        # Kafka normalises listener names to upper case (ListenerName.normalised).
        listeners.append(Listener(match["name"].upper(), host, port))
    if not listeners:
        raise _InvalidValueError(expected)
    _check_unique([listener.name for listener in listeners], "listener name")
    _check_unique([str(listener.port) for listener in listeners if listener.port], "port")
    return tuple(listeners)


def _parse_voters(text: str) -> tuple[QuorumVoter, ...]:
    expected = "a comma-separated list of id@host:port"
    voters = []
    for item in _split_list(text):
        match = _VOTER.fullmatch(item)
        if match is None:
            raise _InvalidValueError(expected)
        host, port = _host_and_port(match, expected)
        if not host:
            raise _InvalidValueError(expected + " with a host for each voter")
        voters.append(QuorumVoter(int(match["id"]), host, port))
    # Kafka accepts an empty list with controller.quorum.bootstrap.servers, which we lack.
    if not voters:
        raise _InvalidValueError(expected)
    _check_unique([str(voter.node_id) for voter in voters], "voter id")
    return tuple(voters)


def _parse_protocol_map(text: str) -> tuple[tuple[str, str], ...]:
    expected = "a comma-separated list of LISTENER_NAME:PROTOCOL with PROTOCOL one of " + (
        ", ".join(_SECURITY_PROTOCOLS)
    )
    mapping = []
    for item in _split_list(text):
        match = _PROTOCOL_MAPPING.fullmatch(item)
        if match is None or match["protocol"].upper() not in _SECURITY_PROTOCOLS:
            raise _InvalidValueError(expected)
        mapping.append((match["name"].upper(), match["protocol"].upper()))
    _check_unique([name for name, _ in mapping], "listener name")
    return tuple(mapping)


def _parse_listener_names(text: str) -> tuple[str, ...]:
    names = _split_list(text)
    if not names or not all(re.fullmatch(_NAME, name) for name in names):
        raise _InvalidValueError("a comma-separated list of listener names")
    return tuple(name.upper() for name in names)


def _parse_listener_name(text: str) -> str:
    if not re.fullmatch(_NAME, text):
        raise _InvalidValueError("a listener name")
    return text.upper()


def _parse_directories(text: str) -> tuple[str, ...]:
    directories = tuple(_split_list(text))
    if not directories:
        raise _InvalidValueError("a comma-separated list of directories")
    return directories


def _parse_gzip_level(text: str) -> int:
    # Kafka: 1 (fastest) to 9 (smallest), or -1 for zlib's default.
    if text not in ("-1", *(str(level) for level in range(1, 10))):
        raise _InvalidValueError("an integer between 1 and 9, or -1")
    return int(text)


def _parse_throttled(text: str) -> tuple[str, ...]:
    items = tuple(_split_list(text))
    if items == ("*",) or all(re.fullmatch(r"[0-9]+:[0-9]+", item) for item in items):
        return items
    raise _InvalidValueError("'*' or a comma-separated list of partition:broker")


def _parse_value(key: ConfigKey, text: str) -> object:
    """Parse `text` as `key` says, or raise the ConfigError that names key and expectation."""
    text = text.strip()
    try:
        if key.parser is not None:
            return key.parser(text)
        return _TYPE_PARSERS[key.config_type](key, text)
    except _InvalidValueError as error:
        message = f"invalid value {text!r} for {key.name!r}: expected {error}"
        raise ConfigError(message, key.name) from None


def _render(value: object) -> str:
    """The properties-file text of a parsed value; parsing it gives the value back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(":".join(item) if isinstance(item, tuple) else str(item) for item in value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Broker keys
# ---------------------------------------------------------------------------------------------

_K = ConfigKey
_BOOL, _STR, _INT, _SHORT, _LONG, _DOUBLE, _LIST = (
    ConfigType.BOOLEAN,
    ConfigType.STRING,
    ConfigType.INT,
    ConfigType.SHORT,
    ConfigType.LONG,
    ConfigType.DOUBLE,
    ConfigType.LIST,
)
_CODECS = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
_LEVEL_DOC = "The level batches are recompressed with when compression.type names this codec."
_TS_DOC = "How far (ms) a CreateTime record's timestamp may be from the broker's clock."
_TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
_CLEANUP_POLICIES = ("compact", "delete")
_PROTOCOL_MAP_DEFAULT = ",".join(f"{protocol}:{protocol}" for protocol in _SECURITY_PROTOCOLS)
_BROKER_KEYS = (
    _K("node.id", _INT, "1", "Id of this node; broker.id is a synonym.", minimum=0),
    _K("process.roles", _LIST, "broker,controller", "broker, controller or both.", choices=_ROLES),
    # Kafka's default binds every interface (PLAINTEXT://:9092); ours binds loopback so a
    # development broker is not reachable from the network by accident.
    _K(
        "listeners",
        _STR,
        "PLAINTEXT://127.0.0.1:9092",
        "NAME://host:port, ...",
        parser=_parse_listeners,
    ),
    _K(
        "advertised.listeners",
        _STR,
        None,
        "For clients; unset: listeners.",
        parser=_parse_listeners,
    ),
    _K(
        "listener.security.protocol.map",
        _STR,
        _PROTOCOL_MAP_DEFAULT,
        "NAME:PROTOCOL, ...",
        parser=_parse_protocol_map,
    ),
    _K(
        "controller.listener.names",
        _STR,
        "CONTROLLER",
        "Controller listeners.",
        parser=_parse_listener_names,
    ),
    _K(
        "controller.quorum.voters",
        _LIST,
        "1@127.0.0.1:9093",
        "id@host:port, ...",
        parser=_parse_voters,
    ),
    _K(
        "inter.broker.listener.name",
        _STR,
        None,
        "Listener between brokers.",
        parser=_parse_listener_name,
    ),
    _K(
        "authorizer.class.name",
        _STR,
        "",
        "ACL enforcement: org.apache.kafka.metadata.authorizer.StandardAuthorizer (ACLs in "
        "the cluster metadata) or empty for none.",
        choices=("", STANDARD_AUTHORIZER),
    ),
    _K(
        "broker.rack",
        _STR,
        None,
        "Rack of this broker: replicas of a partition go to distinct racks first, and a "
        "consumer's client.rack picks a follower there (replica.selector.class).",
    ),
    _K(
        "replica.selector.class",
        _STR,
        None,
        "Which replica serves a consumer's fetches (KIP-392): empty for the leader, or "
        "org.apache.kafka.common.replica.RackAwareReplicaSelector for a replica in the "
        "consumer's client.rack.",
        choices=("", RACK_AWARE_REPLICA_SELECTOR),
    ),
    _K(
        "super.users",
        _STR,
        "",
        "Principals allowed everything, separated by ';' (User:admin;User:ANONYMOUS).",
    ),
    _K(
        "allow.everyone.if.no.acl.found",
        _BOOL,
        "false",
        "Allow a request on a resource no ACL names (with an authorizer).",
    ),
    _K(
        "sasl.enabled.mechanisms",
        _LIST,
        "GSSAPI",
        "SASL mechanisms of SASL_PLAINTEXT listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 "
        "(GSSAPI, Kafka's default, is not supported).",
    ),
    _K(
        "sasl.mechanism.inter.broker.protocol",
        _STR,
        "GSSAPI",
        "SASL mechanism brokers use between them when the inter-broker listener is SASL.",
    ),
    _K(
        "sasl.jaas.config",
        ConfigType.PASSWORD,
        None,
        "JAAS login module and options for SASL listeners without a listener.name.* one.",
    ),
    _K(
        "ssl.keystore.type",
        _STR,
        "PEM",
        "Keystore format of SSL listeners: PEM (JKS and PKCS12 are not read).",
    ),
    _K("ssl.keystore.location", _STR, None, "PEM file with the certificate chain and private key."),
    _K("ssl.keystore.password", ConfigType.PASSWORD, None, "Unused with PEM keystores."),
    _K("ssl.key.password", ConfigType.PASSWORD, None, "Password of the keystore's private key."),
    _K(
        "ssl.keystore.certificate.chain",
        ConfigType.PASSWORD,
        None,
        "PEM certificate chain, inline.",
    ),
    _K("ssl.keystore.key", ConfigType.PASSWORD, None, "PEM private key, inline."),
    _K("ssl.truststore.type", _STR, "PEM", "Truststore format: PEM."),
    _K(
        "ssl.truststore.location",
        _STR,
        None,
        "PEM CA certificates for client certificates and other brokers.",
    ),
    _K("ssl.truststore.password", ConfigType.PASSWORD, None, "Unused with PEM truststores."),
    _K("ssl.truststore.certificates", ConfigType.PASSWORD, None, "PEM CA certificates, inline."),
    _K(
        "ssl.client.auth",
        _STR,
        "none",
        "Client certificates: required, requested or none.",
        choices=("required", "requested", "none"),
    ),
    _K(
        "ssl.endpoint.identification.algorithm",
        _STR,
        "https",
        "https: brokers check each other's host names; empty: not.",
    ),
    _K("cluster.id", _STR, None, "Cluster id; unset: generated when the log is formatted."),
    _K(
        "log.dirs",
        _STR,
        "./odradek-data",
        "Data directories; log.dir is a synonym.",
        parser=_parse_directories,
    ),
    _K("num.partitions", _INT, "1", "Partitions of an auto-created topic.", minimum=1),
    _K("default.replication.factor", _INT, "1", "Replicas of an auto-created topic.", minimum=1),
    _K("log.segment.bytes", _INT, "1073741824", "Largest segment file.", minimum=14),
    _K("log.roll.ms", _LONG, None, "Roll segments this old; wins over hours.", minimum=1),
    _K("log.roll.hours", _INT, "168", "Roll segments this old, in hours.", minimum=1),
    _K("log.roll.jitter.ms", _LONG, None, "Roll up to this much early (ms).", minimum=0),
    _K("log.roll.jitter.hours", _INT, "0", "As log.roll.jitter.ms, in hours.", minimum=0),
    # Kafka maps any negative retention to -1; we accept only -1 so that a typo shows.
    _K("log.retention.ms", _LONG, None, "Delete segments this old; -1: never.", minimum=-1),
    _K("log.retention.minutes", _INT, None, "As log.retention.ms, in minutes.", minimum=-1),
    _K("log.retention.hours", _INT, "168", "As log.retention.ms, in hours.", minimum=-1),
    _K("log.retention.bytes", _LONG, "-1", "Partition size that triggers deletion; -1: none."),
    _K("log.retention.check.interval.ms", _LONG, "300000", "Retention check period.", minimum=1),
    _K("log.cleanup.policy", _LIST, "delete", "Cleanup policies.", choices=_CLEANUP_POLICIES),
    _K("log.cleaner.enable", _BOOL, "true", "Compact logs whose cleanup.policy has compact."),
    _K("log.cleaner.backoff.ms", _LONG, "15000", "Pause between compaction passes.", minimum=0),
    _K(
        "log.cleaner.delete.retention.ms",
        _LONG,
        "86400000",
        "How long compacted logs keep tombstones.",
        minimum=0,
    ),
    _K(
        "log.cleaner.min.cleanable.ratio",
        _DOUBLE,
        "0.5",
        "Dirty share of a log that starts a compaction.",
        minimum=0,
        maximum=1,
    ),
    _K(
        "log.cleaner.min.compaction.lag.ms",
        _LONG,
        "0",
        "Records younger than this stay uncompacted.",
        minimum=0,
    ),
    _K(
        "log.cleaner.max.compaction.lag.ms",
        _LONG,
        str(LONG_MAX),
        "Records older than this are compacted whatever the dirty ratio.",
        minimum=1,
    ),
    _K("log.flush.interval.messages", _LONG, str(LONG_MAX), "Fsync after N messages.", minimum=1),
    _K("log.flush.interval.ms", _LONG, None, "Fsync data this old.", minimum=0),
    _K("log.flush.scheduler.interval.ms", _LONG, str(LONG_MAX), "Flusher period.", minimum=0),
    _K("log.index.interval.bytes", _INT, "4096", "Bytes between index entries.", minimum=0),
    _K("log.index.size.max.bytes", _INT, "10485760", "Largest offset index.", minimum=4),
    _K(
        "log.message.timestamp.type",
        _STR,
        "CreateTime",
        "Timestamp type.",
        choices=_TIMESTAMP_TYPES,
    ),
    # KIP-937: how far a CreateTime record's timestamp may lie behind / ahead of the
    # broker's clock (INVALID_TIMESTAMP beyond); difference.max.ms is the older bound of both.
    _K("log.message.timestamp.before.max.ms", _LONG, str(LONG_MAX), _TS_DOC, minimum=0),
    _K("log.message.timestamp.after.max.ms", _LONG, str(LONG_MAX), _TS_DOC, minimum=0),
    _K("log.message.timestamp.difference.max.ms", _LONG, str(LONG_MAX), _TS_DOC, minimum=0),
    _K("compression.type", _STR, "producer", "Codec of stored batches.", choices=_CODECS),
    _K("compression.gzip.level", _INT, "-1", _LEVEL_DOC, parser=_parse_gzip_level),
    _K("compression.lz4.level", _INT, "9", _LEVEL_DOC, minimum=1, maximum=17),
    _K("compression.zstd.level", _INT, "3", _LEVEL_DOC, minimum=-131072, maximum=22),
    _K("unclean.leader.election.enable", _BOOL, "false", "Elect outside the ISR, losing data."),
    _K("auto.create.topics.enable", _BOOL, "true", "Create unknown topics on metadata requests."),
    _K("delete.topic.enable", _BOOL, "true", "Allow deleting topics."),
    _K("message.max.bytes", _INT, "1048588", "Largest record batch.", minimum=0),
    _K("socket.request.max.bytes", _INT, "104857600", "Largest request.", minimum=1),
    _K(
        "max.request.partition.size.limit",
        _INT,
        "2000",
        "Most partitions a DescribeTopicPartitions answer holds.",
        minimum=1,
    ),
    _K("min.insync.replicas", _INT, "1", "Replicas an acks=all write needs.", minimum=1),
    _K("connections.max.idle.ms", _LONG, "600000", "Close idle connections.", minimum=-1),
    _K(
        "connection.failed.authentication.delay.ms",
        _INT,
        "100",
        "Wait before closing a connection whose SASL authentication failed.",
        minimum=0,
    ),
    _K("replica.lag.time.max.ms", _LONG, "30000", "Lag that drops a follower.", minimum=1),
    _K("broker.session.timeout.ms", _INT, "9000", "Fence a silent broker.", minimum=1),
    _K("broker.heartbeat.interval.ms", _INT, "2000", "Broker heartbeat period.", minimum=1),
    _K("replica.fetch.wait.max.ms", _INT, "500", "Follower fetch long-poll time.", minimum=0),
    _K(
        "replica.fetch.max.bytes", _INT, "1048576", "Follower fetch bytes per partition.", minimum=0
    ),
    _K(
        "replica.fetch.response.max.bytes",
        _INT,
        "10485760",
        "Follower fetch bytes per response.",
        minimum=0,
    ),
    _K("replica.fetch.backoff.ms", _INT, "1000", "Follower pause after an error.", minimum=0),
    _K(
        "replica.high.watermark.checkpoint.interval.ms",
        _LONG,
        "5000",
        "HW checkpoint period.",
        minimum=1,
    ),
    _K("auto.leader.rebalance.enable", _BOOL, "true", "Restore preferred leaders."),
    _K(
        "leader.imbalance.check.interval.seconds",
        _LONG,
        "300",
        "Preferred-leader check period.",
        minimum=1,
    ),
    _K(
        "leader.imbalance.per.broker.percentage",
        _INT,
        "10",
        "Imbalance that triggers it.",
        minimum=0,
    ),
    _K("offsets.topic.num.partitions", _INT, "50", "Partitions of __consumer_offsets.", minimum=1),
    _K("offsets.topic.replication.factor", _SHORT, "3", "Its replication factor.", minimum=1),
    _K("offsets.topic.segment.bytes", _INT, "104857600", "Its segment size.", minimum=1),
    _K("group.initial.rebalance.delay.ms", _INT, "3000", "Delay a first rebalance.", minimum=0),
    _K("group.min.session.timeout.ms", _INT, "6000", "Smallest session timeout.", minimum=1),
    _K("group.max.session.timeout.ms", _INT, "1800000", "Largest session timeout.", minimum=1),
    _K(
        "group.consumer.session.timeout.ms",
        _INT,
        "45000",
        "KIP-848 consumer groups: fence a member silent this long.",
        minimum=1,
    ),
    _K(
        "group.consumer.heartbeat.interval.ms",
        _INT,
        "5000",
        "KIP-848 consumer groups: how often members heartbeat.",
        minimum=1,
    ),
    _K(
        "group.consumer.min.session.timeout.ms",
        _INT,
        "45000",
        "KIP-848: the lowest consumer.session.timeout.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.consumer.max.session.timeout.ms",
        _INT,
        "60000",
        "KIP-848: the highest consumer.session.timeout.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.consumer.min.heartbeat.interval.ms",
        _INT,
        "5000",
        "KIP-848: the lowest consumer.heartbeat.interval.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.consumer.max.heartbeat.interval.ms",
        _INT,
        "15000",
        "KIP-848: the highest consumer.heartbeat.interval.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.consumer.assignors",
        _LIST,
        "uniform,range",
        "KIP-848 server-side assignors (the first is the default): uniform, range.",
        choices=("uniform", "range"),
    ),
    _K(
        "group.share.session.timeout.ms",
        _INT,
        "45000",
        "KIP-932 share groups: fence a member silent this long.",
        minimum=1,
    ),
    _K(
        "group.share.min.session.timeout.ms",
        _INT,
        "45000",
        "KIP-932: the lowest share.session.timeout.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.share.max.session.timeout.ms",
        _INT,
        "60000",
        "KIP-932: the highest share.session.timeout.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.share.heartbeat.interval.ms",
        _INT,
        "5000",
        "KIP-932 share groups: how often members heartbeat.",
        minimum=1,
    ),
    _K(
        "group.share.min.heartbeat.interval.ms",
        _INT,
        "5000",
        "KIP-932: the lowest share.heartbeat.interval.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.share.max.heartbeat.interval.ms",
        _INT,
        "15000",
        "KIP-932: the highest share.heartbeat.interval.ms a group config may set.",
        minimum=1,
    ),
    _K(
        "group.share.max.size",
        _INT,
        "200",
        "KIP-932: the most members a share group may have.",
        minimum=1,
        maximum=1000,
    ),
    _K(
        "group.share.record.lock.duration.ms",
        _INT,
        "30000",
        "KIP-932: how long a share consumer holds a record it was given before it is"
        " delivered again.",
        minimum=1000,
        maximum=3600000,
    ),
    _K(
        "group.share.min.record.lock.duration.ms",
        _INT,
        "15000",
        "KIP-932: the lowest share.record.lock.duration.ms a group config may set.",
        minimum=1000,
        maximum=30000,
    ),
    _K(
        "group.share.max.record.lock.duration.ms",
        _INT,
        "60000",
        "KIP-932: the highest share.record.lock.duration.ms a group config may set.",
        minimum=30000,
        maximum=3600000,
    ),
    _K(
        "group.share.delivery.count.limit",
        _INT,
        "5",
        "KIP-932: a record delivered this many times is archived instead of delivered again.",
        minimum=2,
        maximum=10,
    ),
    _K(
        "group.share.partition.max.record.locks",
        _INT,
        "2000",
        "KIP-932: the most records of one partition a share group may hold acquired at once.",
        minimum=100,
        maximum=10000,
    ),
    _K(
        "group.share.max.share.sessions",
        _INT,
        "2000",
        "KIP-932: the most share sessions (one per member and broker) this broker keeps.",
        minimum=1,
    ),
    _K("offsets.retention.minutes", _INT, "10080", "Keep offsets of empty groups.", minimum=1),
    _K(
        "offsets.commit.timeout.ms",
        _INT,
        "5000",
        "Wait this long for a commit to replicate.",
        minimum=1,
    ),
    _K("transactional.id.expiration.ms", _INT, "604800000", "Expire idle ids.", minimum=1),
    _K(
        "transaction.state.log.num.partitions",
        _INT,
        "50",
        "Partitions of __transaction_state.",
        minimum=1,
    ),
    _K(
        "transaction.state.log.segment.bytes",
        _INT,
        "104857600",
        "Its segment size.",
        minimum=1,
    ),
    _K(
        "transaction.state.log.replication.factor",
        _SHORT,
        "3",
        "Its replication factor.",
        minimum=1,
    ),
    _K("transaction.state.log.min.isr", _INT, "2", "Its min.insync.replicas.", minimum=1),
    _K("transaction.max.timeout.ms", _INT, "900000", "Largest transaction timeout.", minimum=1),
    _K(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        _INT,
        "10000",
        "How often timed-out transactions are aborted.",
        minimum=1,
    ),
    _K(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        _INT,
        "3600000",
        "How often expired transactional ids are removed.",
        minimum=1,
    ),
    _K("producer.id.expiration.ms", _INT, "86400000", "Expire idle producer ids.", minimum=1),
    _K(
        "quota.window.num", _INT, "11", "Samples a client quota's rate is measured over.", minimum=1
    ),
    _K(
        "quota.window.size.seconds",
        _INT,
        "1",
        "Length of each client quota sample.",
        minimum=1,
    ),
)
BROKER_CONFIGS: Mapping[str, ConfigKey] = {key.name: key for key in _BROKER_KEYS}
"""Supported broker keys, in `BrokerConfig` field order."""

_BROKER_KEY_SYNONYMS = {"broker.id": "node.id", "log.dir": "log.dirs"}
"""Old names Kafka still accepts; the second wins when both are set (log.dirs over log.dir)."""

# Broker keys of Kafka 3.x/4.0 that odradek accepts with a warning and does not act on.
# An entry ending in '*' is a prefix (per-listener overrides are open-ended). A word list
# reads and diffs better than three hundred quoted strings, hence the split.
_IGNORED_BROKER_KEYS: tuple[str, ...] = tuple(
    """
    alter.config.policy.class.name alter.log.dirs.replication.quota.window.num
    alter.log.dirs.replication.quota.window.size.seconds
    auto.include.jmx.reporter
    background.threads
    broker.id.generation.enable
    client.quota.callback.class
    compression.gzip.level compression.lz4.level compression.zstd.level
    config.providers
    connections.max.reauth.ms
    control.plane.listener.name
    controlled.shutdown.enable controlled.shutdown.max.retries
    controlled.shutdown.retry.backoff.ms
    controller.quorum.append.linger.ms controller.quorum.bootstrap.servers
    controller.quorum.election.backoff.max.ms controller.quorum.election.timeout.ms
    controller.quorum.fetch.timeout.ms controller.quorum.request.timeout.ms
    controller.quorum.retry.backoff.ms controller.quota.window.num
    controller.quota.window.size.seconds controller.socket.timeout.ms
    create.topic.policy.class.name
    delegation.token.expiry.check.interval.ms delegation.token.expiry.time.ms
    delegation.token.max.lifetime.ms delegation.token.secret.key
    delete.records.purgatory.purge.interval.requests
    early.start.listeners
    eligible.leader.replicas.enable
    fetch.max.bytes fetch.purgatory.purge.interval.requests
    follower.replication.throttled.rate
    group.consumer.assignors group.consumer.heartbeat.interval.ms
    group.consumer.max.size group.consumer.migration.policy
    group.consumer.session.timeout.ms group.coordinator.append.linger.ms
    group.coordinator.new.enable group.coordinator.rebalance.protocols group.coordinator.threads
    group.max.size group.share.enable group.share.max.groups
    initial.broker.registration.timeout.ms
    inter.broker.protocol.version
    kafka.metrics.polling.interval.secs kafka.metrics.reporters
    leader.replication.throttled.rate
    listener.name.*
    log.cleaner.dedupe.buffer.size
    log.cleaner.io.buffer.load.factor log.cleaner.io.buffer.size
    log.cleaner.io.max.bytes.per.second
    log.cleaner.threads
    log.dir.failure.timeout.ms log.flush.offset.checkpoint.interval.ms
    log.flush.start.offset.checkpoint.interval.ms log.initial.task.delay.ms
    log.local.retention.bytes log.local.retention.ms log.message.downconversion.enable
    log.message.format.version log.message.timestamp.after.max.ms
    log.message.timestamp.before.max.ms log.message.timestamp.difference.max.ms log.preallocate
    log.roll.jitter.hours log.roll.jitter.ms log.segment.delete.delay.ms
    max.connection.creation.rate max.connections max.connections.per.ip
    max.connections.per.ip.overrides max.incremental.fetch.session.cache.slots
    metadata.log.dir metadata.log.max.record.bytes.between.snapshots
    metadata.log.max.snapshot.interval.ms metadata.log.segment.bytes metadata.log.segment.min.bytes
    metadata.log.segment.ms metadata.max.idle.interval.ms metadata.max.retention.bytes
    metadata.max.retention.ms
    metric.reporters metrics.num.samples metrics.recording.level metrics.sample.window.ms
    num.io.threads num.network.threads num.recovery.threads.per.data.dir
    num.replica.alter.log.dirs.threads num.replica.fetchers
    offset.metadata.max.bytes
    offsets.load.buffer.size offsets.retention.check.interval.ms
    offsets.topic.compression.codec
    password.encoder.cipher.algorithm password.encoder.iterations password.encoder.key.length
    password.encoder.keyfactory.algorithm password.encoder.old.secret password.encoder.secret
    principal.builder.class
    producer.id.expiration.check.interval.ms producer.purgatory.purge.interval.requests
    queued.max.request.bytes queued.max.requests
    remote.fetch.max.wait.ms remote.list.offsets.request.timeout.ms
    remote.log.index.file.cache.total.size.bytes remote.log.manager.copier.thread.pool.size
    remote.log.manager.copy.max.bytes.per.second remote.log.manager.copy.quota.window.num
    remote.log.manager.copy.quota.window.size.seconds
    remote.log.manager.expiration.thread.pool.size remote.log.manager.fetch.max.bytes.per.second
    remote.log.manager.fetch.quota.window.num remote.log.manager.fetch.quota.window.size.seconds
    remote.log.manager.task.interval.ms remote.log.manager.task.retry.backoff.max.ms
    remote.log.manager.task.retry.backoff.ms remote.log.manager.task.retry.jitter
    remote.log.manager.thread.pool.size remote.log.metadata.consume.wait.ms
    remote.log.metadata.custom.metadata.max.bytes
    remote.log.metadata.initialization.retry.interval.ms
    remote.log.metadata.initialization.retry.max.timeout.ms remote.log.metadata.manager.class.name
    remote.log.metadata.manager.class.path remote.log.metadata.manager.impl.prefix
    remote.log.metadata.manager.listener.name remote.log.metadata.topic.num.partitions
    remote.log.metadata.topic.replication.factor remote.log.metadata.topic.retention.ms
    remote.log.reader.max.pending.tasks remote.log.reader.threads
    remote.log.storage.manager.class.name remote.log.storage.manager.class.path
    remote.log.storage.manager.impl.prefix remote.log.storage.system.enable
    replica.alter.log.dirs.io.max.bytes.per.second replica.fetch.min.bytes
    replica.socket.receive.buffer.bytes replica.socket.timeout.ms
    replication.quota.window.num replication.quota.window.size.seconds
    request.timeout.ms
    reserved.broker.max.id
    sasl.client.callback.handler.class
    sasl.kerberos.kinit.cmd sasl.kerberos.min.time.before.relogin
    sasl.kerberos.principal.to.local.rules sasl.kerberos.service.name
    sasl.kerberos.ticket.renew.jitter sasl.kerberos.ticket.renew.window.factor
    sasl.login.callback.handler.class sasl.login.class sasl.login.connect.timeout.ms
    sasl.login.read.timeout.ms sasl.login.refresh.buffer.seconds
    sasl.login.refresh.min.period.seconds sasl.login.refresh.window.factor
    sasl.login.refresh.window.jitter sasl.login.retry.backoff.max.ms sasl.login.retry.backoff.ms
    sasl.mechanism.controller.protocol
    sasl.oauthbearer.clock.skew.seconds sasl.oauthbearer.expected.audience
    sasl.oauthbearer.expected.issuer sasl.oauthbearer.jwks.endpoint.refresh.ms
    sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms
    sasl.oauthbearer.jwks.endpoint.retry.backoff.ms sasl.oauthbearer.jwks.endpoint.url
    sasl.oauthbearer.scope.claim.name sasl.oauthbearer.sub.claim.name
    sasl.oauthbearer.token.endpoint.url sasl.server.callback.handler.class
    sasl.server.max.receive.size
    security.inter.broker.protocol
    server.max.startup.time.ms
    share.coordinator.append.linger.ms share.coordinator.load.buffer.size
    share.coordinator.snapshot.update.records.per.snapshot
    share.coordinator.state.topic.compression.codec share.coordinator.state.topic.min.isr
    share.coordinator.state.topic.num.partitions share.coordinator.state.topic.replication.factor
    share.coordinator.state.topic.segment.bytes share.coordinator.threads
    share.coordinator.write.timeout.ms share.fetch.max.fetch.records
    share.fetch.purgatory.purge.interval.requests
    socket.connection.setup.timeout.max.ms socket.connection.setup.timeout.ms
    socket.listen.backlog.size socket.receive.buffer.bytes socket.send.buffer.bytes
    ssl.allow.dn.changes ssl.allow.san.changes ssl.cipher.suites
    ssl.enabled.protocols ssl.engine.factory.class
    ssl.keymanager.algorithm ssl.principal.mapping.rules
    ssl.protocol ssl.provider ssl.secure.random.implementation ssl.trustmanager.algorithm
    telemetry.max.bytes
    transaction.partition.verification.enable
    transaction.state.log.load.buffer.size
    unclean.leader.election.interval.ms
    unstable.api.versions.enable unstable.feature.versions.enable
    zookeeper.client.secure zookeeper.connect zookeeper.connection.timeout.ms
    zookeeper.max.in.flight.requests zookeeper.metadata.migration.enable
    zookeeper.metadata.migration.min.batch.size zookeeper.session.timeout.ms zookeeper.set.acl
    zookeeper.ssl.cipher.suites zookeeper.ssl.ciphersuites zookeeper.ssl.client.enable
    zookeeper.ssl.crl zookeeper.ssl.crl.enable zookeeper.ssl.enabled.protocols
    zookeeper.ssl.endpoint.identification.algorithm zookeeper.ssl.keystore.location
    zookeeper.ssl.keystore.password zookeeper.ssl.keystore.type zookeeper.ssl.ocsp
    zookeeper.ssl.ocsp.enable zookeeper.ssl.protocol zookeeper.ssl.truststore.location
    zookeeper.ssl.truststore.password zookeeper.ssl.truststore.type
    """.split()  # noqa: SIM905
)
_IGNORED_EXACT = frozenset(key for key in _IGNORED_BROKER_KEYS if not key.endswith("*"))
_IGNORED_PREFIXES = tuple(key[:-1] for key in _IGNORED_BROKER_KEYS if key.endswith("*"))
_KNOWN_BROKER_KEYS = sorted({*BROKER_CONFIGS, *_BROKER_KEY_SYNONYMS, *_IGNORED_EXACT})


def _attribute(key: str) -> str:
    return key.replace(".", "_")


@dataclass(frozen=True)
class BrokerConfig:
    """Effective broker configuration; one attribute per `BROKER_CONFIGS` key ('.' -> '_').

    Optional keys left unset are None, except `advertised_listeners`, which then equals
    `listeners`. `explicit_keys` names the keys set in the file or by `--set` (canonical
    names: broker.id counts as node.id); it does not take part in equality.
    """

    node_id: int
    process_roles: tuple[str, ...]
    listeners: tuple[Listener, ...]
    advertised_listeners: tuple[Listener, ...]
    listener_security_protocol_map: tuple[tuple[str, str], ...]
    controller_listener_names: tuple[str, ...]
    controller_quorum_voters: tuple[QuorumVoter, ...]
    inter_broker_listener_name: str | None
    authorizer_class_name: str
    broker_rack: str | None
    replica_selector_class: str | None
    super_users: str
    allow_everyone_if_no_acl_found: bool
    sasl_enabled_mechanisms: tuple[str, ...]
    sasl_mechanism_inter_broker_protocol: str
    sasl_jaas_config: str | None
    ssl_keystore_type: str
    ssl_keystore_location: str | None
    ssl_keystore_password: str | None
    ssl_key_password: str | None
    ssl_keystore_certificate_chain: str | None
    ssl_keystore_key: str | None
    ssl_truststore_type: str
    ssl_truststore_location: str | None
    ssl_truststore_password: str | None
    ssl_truststore_certificates: str | None
    ssl_client_auth: str
    ssl_endpoint_identification_algorithm: str
    cluster_id: str | None
    log_dirs: tuple[str, ...]
    num_partitions: int
    default_replication_factor: int
    log_segment_bytes: int
    log_roll_ms: int | None
    log_roll_hours: int
    log_roll_jitter_ms: int | None
    log_roll_jitter_hours: int
    log_retention_ms: int | None
    log_retention_minutes: int | None
    log_retention_hours: int
    log_retention_bytes: int
    log_retention_check_interval_ms: int
    log_cleanup_policy: tuple[str, ...]
    log_cleaner_enable: bool
    log_cleaner_backoff_ms: int
    log_cleaner_delete_retention_ms: int
    log_cleaner_min_cleanable_ratio: float
    log_cleaner_min_compaction_lag_ms: int
    log_cleaner_max_compaction_lag_ms: int
    log_flush_interval_messages: int
    log_flush_interval_ms: int | None
    log_flush_scheduler_interval_ms: int
    log_index_interval_bytes: int
    log_index_size_max_bytes: int
    log_message_timestamp_type: str
    log_message_timestamp_before_max_ms: int
    log_message_timestamp_after_max_ms: int
    log_message_timestamp_difference_max_ms: int
    compression_type: str
    compression_gzip_level: int
    compression_lz4_level: int
    compression_zstd_level: int
    unclean_leader_election_enable: bool
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    message_max_bytes: int
    socket_request_max_bytes: int
    max_request_partition_size_limit: int
    min_insync_replicas: int
    connections_max_idle_ms: int
    connection_failed_authentication_delay_ms: int
    replica_lag_time_max_ms: int
    broker_session_timeout_ms: int
    broker_heartbeat_interval_ms: int
    replica_fetch_wait_max_ms: int
    replica_fetch_max_bytes: int
    replica_fetch_response_max_bytes: int
    replica_fetch_backoff_ms: int
    replica_high_watermark_checkpoint_interval_ms: int
    auto_leader_rebalance_enable: bool
    leader_imbalance_check_interval_seconds: int
    leader_imbalance_per_broker_percentage: int
    offsets_topic_num_partitions: int
    offsets_topic_replication_factor: int
    offsets_topic_segment_bytes: int
    group_initial_rebalance_delay_ms: int
    group_min_session_timeout_ms: int
    group_max_session_timeout_ms: int
    group_consumer_session_timeout_ms: int
    group_consumer_heartbeat_interval_ms: int
    group_consumer_min_session_timeout_ms: int
    group_consumer_max_session_timeout_ms: int
    group_consumer_min_heartbeat_interval_ms: int
    group_consumer_max_heartbeat_interval_ms: int
    group_consumer_assignors: tuple[str, ...]
    group_share_session_timeout_ms: int
    group_share_min_session_timeout_ms: int
    group_share_max_session_timeout_ms: int
    group_share_heartbeat_interval_ms: int
    group_share_min_heartbeat_interval_ms: int
    group_share_max_heartbeat_interval_ms: int
    group_share_max_size: int
    group_share_record_lock_duration_ms: int
    group_share_min_record_lock_duration_ms: int
    group_share_max_record_lock_duration_ms: int
    group_share_delivery_count_limit: int
    group_share_partition_max_record_locks: int
    group_share_max_share_sessions: int
    offsets_retention_minutes: int
    offsets_commit_timeout_ms: int
    transactional_id_expiration_ms: int
    transaction_state_log_num_partitions: int
    transaction_state_log_segment_bytes: int
    transaction_state_log_replication_factor: int
    transaction_state_log_min_isr: int
    transaction_max_timeout_ms: int
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int
    transaction_remove_expired_transaction_cleanup_interval_ms: int
    producer_id_expiration_ms: int
    quota_window_num: int
    quota_window_size_seconds: int
    # Listener-scoped SASL keys (``listener.name.<listener>.<mechanism>.sasl.jaas.config``,
    # ``listener.name.<listener>.sasl.enabled.mechanisms``), listener and mechanism in lower
    # case as Kafka writes them.
    listener_settings: tuple[tuple[str, str], ...] = ()
    explicit_keys: frozenset[str] = field(default=frozenset(), compare=False)
    # Dynamic broker configs (KIP-226, ``ConfigRecord``\ s of BROKER resources) in effect,
    # as stored: this broker's own, and the cluster default's (resource name '').  Their
    # values are already in the attributes above (see :func:`with_dynamic`).
    dynamic_broker: Mapping[str, str] = field(default_factory=dict, compare=False)
    dynamic_default: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The static values (file, --set, default) of the keys a dynamic layer overrides.
    static_values: Mapping[str, object] = field(default_factory=dict, compare=False)

    def value_of(self, key: str) -> object:
        """The parsed value of a supported broker key, by its Kafka name."""
        assert key in BROKER_CONFIGS, key
        return getattr(self, _attribute(key))

    def config_source(self, key: str) -> ConfigSource:
        """Where the value comes from, highest precedence first: this broker's dynamic
        config, the cluster's dynamic default, the file or --set, Kafka's default."""
        assert key in BROKER_CONFIGS, key
        if key in self.dynamic_broker:
            return ConfigSource.DYNAMIC_BROKER_CONFIG
        if key in self.dynamic_default:
            return ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
        if key in self.explicit_keys:
            return ConfigSource.STATIC_BROKER_CONFIG
        return ConfigSource.DEFAULT_CONFIG

    def to_properties(self) -> dict[str, str]:
        """Effective values as properties text; unset optional keys are left out."""
        properties = {}
        for key in BROKER_CONFIGS:
            value = self.value_of(key)
            if value is not None:
                properties[key] = _render(value)
        return properties


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and the warnings to show before starting."""

    config: BrokerConfig
    warnings: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# server.properties parsing
# ---------------------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PROPERTY_WHITESPACE = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _ends_in_escape(text: str) -> bool:
    """True when `text` ends in an odd number of backslashes, escaping what follows."""
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _logical_lines(text: str) -> Iterable[str]:
    """java.util.Properties lines: comments and blanks dropped, continuations joined."""
    lines = iter(_LINE_BREAK.split(text))
    for line in lines:
        logical = line.lstrip(_PROPERTY_WHITESPACE)
        if not logical or logical[0] in "#!":
            continue
        while _ends_in_escape(logical):
            logical = logical[:-1] + next(lines, "").lstrip(_PROPERTY_WHITESPACE)
        yield logical


def _unescape(text: str) -> str:
    characters = []
    index = 0
    while index < len(text):
        character = text[index]
        index += 1
        if character != "\\" or index == len(text):
            characters.append(character)
            continue
        escaped = text[index]
        index += 1
        if escaped == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[index : index + 4]):
            characters.append(chr(int(text[index : index + 4], 16)))
            index += 4
        else:
            characters.append(_ESCAPES.get(escaped, escaped))
    return "".join(characters)


def _split_key_value(line: str) -> tuple[str, str]:
    """The key ends at the first unescaped '=', ':' or whitespace, as in Java."""
    index = 0
    while index < len(line) and line[index] not in "=:" + _PROPERTY_WHITESPACE:
        index += 2 if line[index] == "\\" else 1
    key, rest = line[:index], line[index:].lstrip(_PROPERTY_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_PROPERTY_WHITESPACE)
    # Java keeps trailing whitespace; Kafka then trims most values anyway, so we trim all,
    # keeping one escaped trailing blank.
    value = rest.rstrip(_PROPERTY_WHITESPACE)
    if len(value) < len(rest) and _ends_in_escape(value):
        value += rest[len(value)]
    return _unescape(key), _unescape(value)


def parse_properties(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs of a properties text in file order, duplicates included."""
    return [_split_key_value(line) for line in _logical_lines(text)]


# ---------------------------------------------------------------------------------------------
# Building and validating a BrokerConfig
# ---------------------------------------------------------------------------------------------


def _unknown_key_message(
    key: str, known: Iterable[str], kind: str, counterpart: str | None = None
) -> str:
    """Name the unknown key and the known one it most likely meant.

    `counterpart` is the same setting under its other name (topic versus broker key), which
    beats any spelling match.
    """
    matches = [counterpart] if counterpart else difflib.get_close_matches(key, list(known), n=1)
    suggestion = f" (did you mean {matches[0]!r}?)" if matches else ""
    return f"unknown {kind} {key!r}{suggestion}"


def _is_ignored(key: str) -> bool:
    return key in _IGNORED_EXACT or key.startswith(_IGNORED_PREFIXES)


def _resolve(key: ConfigKey, text: str | None) -> object:
    if text is None:
        text = key.default
    # An empty value for a key without default means unset, as Kafka's null default.
    if text is None or (key.default is None and not text.strip()):
        return None
    return _parse_value(key, text)


def _apply_synonyms(given: dict[str, str]) -> None:
    if "broker.id" in given:
        broker_id = _parse_value(BROKER_CONFIGS["node.id"], given.pop("broker.id"))
        if "node.id" in given and _parse_value(BROKER_CONFIGS["node.id"], given["node.id"]) != (
            broker_id
        ):
            raise ConfigError("broker.id and node.id are both set and differ", "node.id")
        given["node.id"] = str(broker_id)
    if "log.dir" in given:
        given.setdefault("log.dirs", given["log.dir"])
        del given["log.dir"]


def build_config(entries: Iterable[tuple[str, str]]) -> LoadedConfig:
    """Validate (key, value) pairs, later ones winning, over the embedded default config."""
    given: dict[str, str] = {}
    ignored: set[str] = set()
    listener_settings: dict[str, str] = {}
    for key, value in entries:
        if key in BROKER_CONFIGS or key in _BROKER_KEY_SYNONYMS:
            given[key] = value
        elif _LISTENER_SASL_KEY.fullmatch(key):
            listener_settings[key.lower()] = value
        elif _is_ignored(key):
            ignored.add(key)
        else:
            counterpart = _BROKER_KEY_BY_TOPIC_KEY.get(key)
            message = _unknown_key_message(key, _KNOWN_BROKER_KEYS, "config key", counterpart)
            raise ConfigError(message, key)
    _apply_synonyms(given)
    values = {
        _attribute(name): _resolve(key, given.get(name)) for name, key in BROKER_CONFIGS.items()
    }
    if values["advertised_listeners"] is None:
        values["advertised_listeners"] = values["listeners"]
    config = BrokerConfig(
        **cast(dict[str, Any], values),
        listener_settings=tuple(sorted(listener_settings.items())),
        explicit_keys=frozenset(given),
    )
    _check_roles(config)
    _check_listeners(config)
    _check_sasl(config)
    _check_authorizer(config)
    _check_group_session_timeouts(config)
    warnings = []
    if ignored:
        names = ", ".join(sorted(ignored))
        warnings.append(f"ignoring Kafka config keys that odradek does not support yet: {names}")
    return LoadedConfig(config, tuple(warnings))


def _check_roles(config: BrokerConfig) -> None:
    roles = config.process_roles
    if len(set(roles)) != len(roles):
        raise ConfigError("process.roles lists a role twice", "process.roles")
    voter_ids = [voter.node_id for voter in config.controller_quorum_voters]
    if "controller" in roles and config.node_id not in voter_ids:
        message = (
            f"node.id {config.node_id} must be one of the controller.quorum.voters "
            f"({', '.join(map(str, voter_ids))}) when process.roles includes controller"
        )
        raise ConfigError(message, "controller.quorum.voters")
    client_listeners = [
        listener
        for listener in config.listeners
        if listener.name not in config.controller_listener_names
    ]
    if "broker" in roles and not client_listeners:
        message = "process.roles includes broker, so listeners needs a listener that is not in "
        raise ConfigError(message + "controller.listener.names", "listeners")


def _security_protocol(config: BrokerConfig, listener: Listener) -> str:
    protocols = dict(config.listener_security_protocol_map)
    if listener.name in protocols:
        return protocols[listener.name]
    # Kafka lets a controller listener missing from the map default to PLAINTEXT.
    if listener.name in config.controller_listener_names:
        return PLAINTEXT
    message = f"listener {listener.name!r} has no entry in listener.security.protocol.map"
    raise ConfigError(message, "listener.security.protocol.map")


def _check_listeners(config: BrokerConfig) -> None:
    for listener in config.listeners:
        protocol = _security_protocol(config, listener)
        controller = listener.name in config.controller_listener_names
        if controller and protocol != PLAINTEXT:
            message = (
                f"listener {listener.name!r} uses security protocol {protocol}, but odradek "
                "supports only PLAINTEXT on controller listeners"
            )
            raise ConfigError(message, "listeners")
        if protocol in (SSL, SASL_SSL):
            listener_ssl(config, listener.name)  # the keystore must load
    names = [listener.name for listener in config.listeners]
    for listener in config.advertised_listeners:
        if listener.name not in names:
            message = f"advertised listener {listener.name!r} is not one of the listeners"
            raise ConfigError(message, "advertised.listeners")
        if listener.host in ("0.0.0.0", "::"):
            message = (
                f"advertised.listeners cannot use the non-routable address {listener.host} "
                f"(listener {listener.name!r}); set advertised.listeners to a routable host"
            )
            raise ConfigError(message, "advertised.listeners")
    inter_broker = config.inter_broker_listener_name
    advertised = [listener.name for listener in config.advertised_listeners]
    if inter_broker is not None and (
        inter_broker not in advertised or inter_broker in config.controller_listener_names
    ):
        message = (
            f"inter.broker.listener.name {inter_broker!r} must be one of the advertised "
            "listeners and not a controller listener"
        )
        raise ConfigError(message, "inter.broker.listener.name")


SSL_KEYS = (
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
    "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.truststore.type",
    "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.certificates",
    "ssl.client.auth", "ssl.endpoint.identification.algorithm",
)  # fmt: skip
_LISTENER_SASL_KEY = re.compile(
    rf"listener\.name\.{_NAME}\.(?:[A-Za-z0-9-]+\.sasl\.jaas\.config|sasl\.enabled\.mechanisms"
    rf"|{'|'.join(re.escape(key) for key in SSL_KEYS)})",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ListenerSasl:
    """The SASL settings of one SASL_PLAINTEXT listener: its enabled mechanisms, the PLAIN
    users of its JAAS config and the JAAS entry of each mechanism that has one."""

    listener: str
    mechanisms: tuple[str, ...]
    plain_users: Mapping[str, str] = field(repr=False)
    jaas: Mapping[str, jaas.JaasEntry] = field(repr=False)


def _jaas_key(listener: str, mechanism: str) -> str:
    return f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"


def listener_sasl(config: BrokerConfig, name: str) -> ListenerSasl | None:
    """The SASL settings of listener ``name``; None when it is not SASL_PLAINTEXT.  Raises
    :class:`ConfigError` for a mechanism odradek lacks or a missing / malformed JAAS
    config (PLAIN needs one: its ``user_<name>`` options are the users)."""
    listener = next((item for item in config.listeners if item.name == name), None)
    if listener is None or _security_protocol(config, listener) not in (SASL_PLAINTEXT, SASL_SSL):
        return None
    settings = dict(config.listener_settings)
    scoped = f"listener.name.{name.lower()}.sasl.enabled.mechanisms"
    if scoped in settings:
        mechanisms = tuple(m.upper() for m in _split_list(settings[scoped]))
        key = scoped
    else:
        mechanisms = tuple(m.upper() for m in config.sasl_enabled_mechanisms)
        key = "sasl.enabled.mechanisms"
    unsupported = [m for m in mechanisms if m not in sasl.MECHANISMS]
    if unsupported or not mechanisms:
        message = (
            f"listener {name!r} is SASL_PLAINTEXT with {key}={','.join(mechanisms)}: odradek "
            f"supports {', '.join(sasl.MECHANISMS)} (not {', '.join(unsupported) or 'none'})"
        )
        raise ConfigError(message, key)
    entries: dict[str, jaas.JaasEntry] = {}
    for mechanism in mechanisms:
        jaas_key = _jaas_key(name, mechanism)
        text = settings.get(jaas_key, config.sasl_jaas_config)
        if text is None:
            if mechanism == sasl.PLAIN:
                message = (
                    f"listener {name!r} enables PLAIN but {jaas_key} is not set (its "
                    f'user_<name>="<password>" options are the users PLAIN accepts)'
                )
                raise ConfigError(message, jaas_key)
            continue
        try:
            entry = jaas.parse(text)
        except ValueError as error:
            raise ConfigError(f"{jaas_key}: {error}", jaas_key) from None
        module = jaas.LOGIN_MODULES[mechanism]
        if entry.login_module != module:
            message = f"{jaas_key}: {mechanism} needs {module}, not {entry.login_module}"
            raise ConfigError(message, jaas_key)
        entries[mechanism] = entry
    plain = entries.get(sasl.PLAIN)
    users = plain.plain_users() if plain is not None else {}
    return ListenerSasl(name, mechanisms, users, entries)


def inter_broker_sasl(config: BrokerConfig, listener: str) -> SaslCredentials | None:
    """What this broker authenticates with on another broker's ``listener`` (replica
    fetchers, transaction markers): ``sasl.mechanism.inter.broker.protocol`` with the
    ``username`` / ``password`` options of that mechanism's JAAS config; None when the
    listener is PLAINTEXT."""
    settings = listener_sasl(config, listener)
    if settings is None:
        return None
    mechanism = config.sasl_mechanism_inter_broker_protocol.upper()
    key = "sasl.mechanism.inter.broker.protocol"
    if mechanism not in settings.mechanisms:
        message = (
            f"{key}={mechanism} must be one of the mechanisms enabled on the inter-broker "
            f"listener {listener!r} ({', '.join(settings.mechanisms)})"
        )
        raise ConfigError(message, key)
    entry = settings.jaas.get(mechanism)
    jaas_key = _jaas_key(listener, mechanism)
    if entry is None or "username" not in entry.options or "password" not in entry.options:
        message = (
            f"{jaas_key} needs username and password options: this broker logs in with them "
            "to the other brokers"
        )
        raise ConfigError(message, jaas_key)
    return SaslCredentials(mechanism, entry.options["username"], entry.options["password"])


def _ssl_setting(config: BrokerConfig, listener: str, key: str) -> str | None:
    """``listener.name.<listener>.<key>``, else the broker-wide ``key``."""
    scoped = dict(config.listener_settings).get(f"listener.name.{listener.lower()}.{key}")
    if scoped is not None:
        return scoped
    value = getattr(config, _attribute(key))
    return None if value is None else str(value)


def _pem_type(config: BrokerConfig, listener: str, key: str) -> None:
    kind = (_ssl_setting(config, listener, key) or "PEM").upper()
    if kind != "PEM":
        message = (
            f"{key}={kind} on listener {listener!r}: odradek reads PEM key and trust stores; "
            f"set {key}=PEM (convert a JKS / PKCS12 store with keytool and openssl)"
        )
        raise ConfigError(message, key)


def _load_pem(context: ssl.SSLContext, config: BrokerConfig, listener: str) -> None:
    """The listener's certificate chain and key (``ssl.keystore.location``, or the inline
    ``ssl.keystore.certificate.chain`` / ``ssl.keystore.key``)."""
    _pem_type(config, listener, "ssl.keystore.type")
    location = _ssl_setting(config, listener, "ssl.keystore.location")
    chain = _ssl_setting(config, listener, "ssl.keystore.certificate.chain")
    key = _ssl_setting(config, listener, "ssl.keystore.key")
    password = _ssl_setting(config, listener, "ssl.key.password")
    try:
        if location:
            context.load_cert_chain(location, None, password)
            return
        if not chain or not key:
            message = (
                f"SSL listener {listener!r} needs ssl.keystore.location (a PEM file with the "
                "certificate chain and private key) or ssl.keystore.certificate.chain and "
                "ssl.keystore.key"
            )
            raise ConfigError(message, "ssl.keystore.location")
        with tempfile.TemporaryDirectory() as scratch:
            pem = Path(scratch) / "keystore.pem"
            pem.write_text(chain.strip() + "\n" + key.strip() + "\n")
            context.load_cert_chain(str(pem), None, password)
    except (OSError, ssl.SSLError) as error:
        message = f"SSL listener {listener!r}: cannot load its certificate and key: {error}"
        raise ConfigError(message, "ssl.keystore.location") from None


def _load_trust(context: ssl.SSLContext, config: BrokerConfig, listener: str) -> bool:
    """The CA certificates to check peers against; whether there were any."""
    location = _ssl_setting(config, listener, "ssl.truststore.location")
    inline = _ssl_setting(config, listener, "ssl.truststore.certificates")
    if not location and not inline:
        return False
    _pem_type(config, listener, "ssl.truststore.type")
    try:
        context.load_verify_locations(cafile=location or None, cadata=inline or None)
    except (OSError, ssl.SSLError) as error:
        message = f"SSL listener {listener!r}: cannot load its truststore: {error}"
        raise ConfigError(message, "ssl.truststore.location") from None
    return True


def listener_ssl(config: BrokerConfig, name: str) -> ssl.SSLContext | None:
    """The server TLS context of listener ``name`` (SSL or SASL_SSL), None for the others.
    ``ssl.client.auth`` required / requested asks clients for a certificate checked against
    the truststore.  Raises ConfigError for a keystore that does not load."""
    listener = next((item for item in config.listeners if item.name == name), None)
    if listener is None or _security_protocol(config, listener) not in (SSL, SASL_SSL):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pem(context, config, name)
    auth = (_ssl_setting(config, name, "ssl.client.auth") or "none").lower()
    if auth not in ("required", "requested", "none"):
        raise ConfigError(f"ssl.client.auth={auth}: required, requested or none", "ssl.client.auth")
    trusted = _load_trust(context, config, name)
    if auth != "none":
        if not trusted:
            message = f"ssl.client.auth={auth} on listener {name!r} needs ssl.truststore.location"
            raise ConfigError(message, "ssl.truststore.location")
        context.verify_mode = ssl.CERT_REQUIRED if auth == "required" else ssl.CERT_OPTIONAL
    return context


def inter_broker_ssl(config: BrokerConfig, listener: str) -> ssl.SSLContext | None:
    """The client TLS context this broker reaches other brokers' ``listener`` with (replica
    fetchers, transaction markers), None when that listener has no TLS: it trusts the
    listener's truststore, presents its keystore, and checks host names unless
    ``ssl.endpoint.identification.algorithm`` is empty."""
    found = next((item for item in config.listeners if item.name == listener), None)
    if found is None or _security_protocol(config, found) not in (SSL, SASL_SSL):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not _load_trust(context, config, listener):
        context.load_default_certs()
    _load_pem(context, config, listener)
    algorithm = _ssl_setting(config, listener, "ssl.endpoint.identification.algorithm")
    context.check_hostname = bool(algorithm)
    return context


def client_listener_name(config: BrokerConfig) -> str:
    """The listener a broker serves clients and other brokers on: the first one that is not
    a controller listener."""
    for listener in config.listeners:
        if listener.name not in config.controller_listener_names:
            return listener.name
    raise ConfigError("no client listener", "listeners")


def inter_broker_listener(config: BrokerConfig) -> str:
    """The listener other brokers reach this one on: ``inter.broker.listener.name``, else the
    first client listener (Kafka derives it from ``security.inter.broker.protocol``)."""
    return config.inter_broker_listener_name or client_listener_name(config)


def _check_authorizer(config: BrokerConfig) -> None:
    for principal in super_users(config):
        kind, colon, name = principal.partition(":")
        if not colon or not kind or not name:
            message = f"super.users: {principal!r} is not a principal of the form Type:Name"
            raise ConfigError(message, "super.users")


def super_users(config: BrokerConfig) -> tuple[str, ...]:
    """``super.users`` as principals (Kafka splits on ';' and trims each)."""
    return tuple(item.strip() for item in config.super_users.split(";") if item.strip())


def _check_sasl(config: BrokerConfig) -> None:
    for listener in config.listeners:
        listener_sasl(config, listener.name)
    if "broker" in config.process_roles:
        inter_broker_sasl(config, inter_broker_listener(config))


def _check_group_session_timeouts(config: BrokerConfig) -> None:
    if config.group_min_session_timeout_ms > config.group_max_session_timeout_ms:
        message = "group.min.session.timeout.ms must not exceed group.max.session.timeout.ms"
        raise ConfigError(message, "group.min.session.timeout.ms")
    # The KIP-848 and KIP-932 bounds, checked as Kafka's GroupCoordinatorConfig and
    # ShareGroupConfig do at start-up.
    bounded = [
        (protocol, kind)
        for protocol in ("consumer", "share")
        for kind in ("session.timeout.ms", "heartbeat.interval.ms")
    ]
    for protocol, kind in [*bounded, ("share", "record.lock.duration.ms")]:
        value_key = f"group.{protocol}.{kind}"
        low_key, high_key = f"group.{protocol}.min.{kind}", f"group.{protocol}.max.{kind}"
        value, low, high = (
            cast(int, config.value_of(key)) for key in (value_key, low_key, high_key)
        )
        if high < low:
            raise ConfigError(f"{high_key} must be greater than or equal to {low_key}", high_key)
        if not low <= value <= high:
            message = (
                f"{value_key} ({value}) must lie within {low_key} ({low}) and {high_key} ({high})"
            )
            raise ConfigError(message, value_key)
    for protocol in ("consumer", "share"):
        heartbeat_key = f"group.{protocol}.heartbeat.interval.ms"
        session_key = f"group.{protocol}.session.timeout.ms"
        if cast(int, config.value_of(heartbeat_key)) >= cast(int, config.value_of(session_key)):
            raise ConfigError(f"{heartbeat_key} must be less than {session_key}", heartbeat_key)
    if config.group_share_max_share_sessions < config.group_share_max_size:
        message = "group.share.max.share.sessions must be at least group.share.max.size"
        raise ConfigError(message, "group.share.max.share.sessions")


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_FILE_BYTES + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"cannot read config file {path!r}: {reason}") from None
    if len(data) > MAX_CONFIG_FILE_BYTES:
        message = f"config file {path!r} is larger than {MAX_CONFIG_FILE_BYTES} bytes"
        raise ConfigError(message)
    try:
        # Java reads ISO-8859-1; UTF-8 agrees on ASCII, all that Kafka keys and values need.
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path!r}: not UTF-8 text") from None


def _parse_override(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"invalid --set {text!r}: expected key=value")
    return key.strip(), value.strip()


def load_config(path: str | None, overrides: Iterable[str] = ()) -> LoadedConfig:
    """Load server.properties at `path` (None: the embedded default), then `--set` overrides.

    Raises ConfigError on an unreadable file, an unknown key or an invalid value.
    """
    entries: list[tuple[str, str]] = []
    warnings: list[str] = []
    if path is not None:
        entries = parse_properties(_read_text(path))
        keys = [key for key, _ in entries]
        for key in sorted({key for key in keys if keys.count(key) > 1}):
            warnings.append(f"{key!r} is set more than once in {path}; the last value wins")
    entries.extend(_parse_override(override) for override in overrides)
    loaded = build_config(entries)
    return LoadedConfig(loaded.config, (*warnings, *loaded.warnings))


# ---------------------------------------------------------------------------------------------
# Topic keys
# ---------------------------------------------------------------------------------------------

_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000
_S = BrokerSynonym


def _topic_key(name: str, *synonyms: BrokerSynonym, default: str | None = None) -> ConfigKey:
    """A topic key with the type and checks of its first broker synonym."""
    broker_key = BROKER_CONFIGS[synonyms[0].name]
    topic_default = default if default is not None else broker_key.default
    return replace(broker_key, name=name, default=topic_default, synonyms=synonyms)


def _inert_key(name: str, config_type: ConfigType, default: str, **checks: Any) -> ConfigKey:
    """A topic key accepted and reported so that tools setting it work, not acted on yet."""
    documentation = "Accepted and reported; not acted on by odradek yet."
    return ConfigKey(name, config_type, default, documentation, acted_on=False, **checks)


_TOPIC_KEYS = (
    # Kafka's topic defaults, used only when no broker synonym has a value.
    _topic_key("cleanup.policy", _S("log.cleanup.policy")),
    _topic_key("compression.type", _S("compression.type")),
    _topic_key("delete.retention.ms", _S("log.cleaner.delete.retention.ms")),
    _topic_key("max.compaction.lag.ms", _S("log.cleaner.max.compaction.lag.ms")),
    _topic_key("min.cleanable.dirty.ratio", _S("log.cleaner.min.cleanable.ratio")),
    _topic_key("min.compaction.lag.ms", _S("log.cleaner.min.compaction.lag.ms")),
    _topic_key("flush.messages", _S("log.flush.interval.messages")),
    _topic_key(
        "flush.ms",
        _S("log.flush.interval.ms"),
        _S("log.flush.scheduler.interval.ms"),
        default=str(LONG_MAX),
    ),
    _topic_key("index.interval.bytes", _S("log.index.interval.bytes")),
    _topic_key("max.message.bytes", _S("message.max.bytes")),
    _topic_key("message.timestamp.type", _S("log.message.timestamp.type")),
    _topic_key("message.timestamp.after.max.ms", _S("log.message.timestamp.after.max.ms")),
    _topic_key("message.timestamp.before.max.ms", _S("log.message.timestamp.before.max.ms")),
    _topic_key(
        "message.timestamp.difference.max.ms", _S("log.message.timestamp.difference.max.ms")
    ),
    _topic_key("min.insync.replicas", _S("min.insync.replicas")),
    _topic_key("retention.bytes", _S("log.retention.bytes")),
    _topic_key(
        "retention.ms",
        _S("log.retention.ms"),
        _S("log.retention.minutes", _MINUTE_MS),
        _S("log.retention.hours", _HOUR_MS),
        default="604800000",
    ),
    _topic_key("segment.bytes", _S("log.segment.bytes")),
    _topic_key("segment.index.bytes", _S("log.index.size.max.bytes")),
    _topic_key(
        "segment.ms", _S("log.roll.ms"), _S("log.roll.hours", _HOUR_MS), default="604800000"
    ),
    _topic_key(
        "segment.jitter.ms",
        _S("log.roll.jitter.ms"),
        _S("log.roll.jitter.hours", _HOUR_MS),
        default="0",
    ),
    _topic_key("unclean.leader.election.enable", _S("unclean.leader.election.enable")),
    # KIP-390: the levels the leader recompresses with (compression.type gzip, lz4, zstd).
    _topic_key("compression.gzip.level", _S("compression.gzip.level")),
    _topic_key("compression.lz4.level", _S("compression.lz4.level")),
    _topic_key("compression.zstd.level", _S("compression.zstd.level")),
    _inert_key("file.delete.delay.ms", _LONG, "60000", minimum=0),
    _inert_key("follower.replication.throttled.replicas", _LIST, "", parser=_parse_throttled),
    _inert_key("leader.replication.throttled.replicas", _LIST, "", parser=_parse_throttled),
    _inert_key("local.retention.bytes", _LONG, "-2", minimum=-2),
    _inert_key("local.retention.ms", _LONG, "-2", minimum=-2),
    _inert_key("message.downconversion.enable", _BOOL, "true"),
    _inert_key("message.format.version", _STR, "3.0-IV1"),
    _inert_key("preallocate", _BOOL, "false"),
    _inert_key("remote.log.copy.disable", _BOOL, "false"),
    _inert_key("remote.log.delete.on.disable", _BOOL, "false"),
    _inert_key("remote.storage.enable", _BOOL, "false"),
)
TOPIC_CONFIGS: Mapping[str, ConfigKey] = {key.name: key for key in _TOPIC_KEYS}
"""Topic keys accepted by CreateTopics and AlterConfigs, with their broker synonyms."""
_BROKER_KEY_BY_TOPIC_KEY = {key.name: key.synonyms[0].name for key in _TOPIC_KEYS if key.synonyms}
_TOPIC_KEY_BY_BROKER_SYNONYM = {
    synonym.name: key.name for key in _TOPIC_KEYS for synonym in key.synonyms
}


def validate_topic_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check topic overrides; return them trimmed, dropping None (= use the default).

    Raises ConfigError (INVALID_CONFIG) on an unknown key or an invalid value.
    """
    validated = {}
    for name, text in configs.items():
        key = TOPIC_CONFIGS.get(name)
        if key is None:
            counterpart = _TOPIC_KEY_BY_BROKER_SYNONYM.get(name)
            message = _unknown_key_message(name, TOPIC_CONFIGS, "topic config key", counterpart)
            raise ConfigError(message, name)
        if text is not None:
            _parse_value(key, text)
            validated[name] = text.strip()
    return validated


# Broker keys that AlterConfigs may change at run time, for one broker or as the cluster
# default (Kafka's ``DynamicLogConfig``: the broker synonyms of topic keys).  The broker reads
# them where it uses them, so a change applies to every partition without a restart.
DYNAMIC_BROKER_KEYS: frozenset[str] = frozenset(
    name for name in _TOPIC_KEY_BY_BROKER_SYNONYM if name != "log.flush.scheduler.interval.ms"
)


def validate_dynamic_broker_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check dynamic broker configs; return them trimmed, dropping None (= not set).

    Raises ConfigError for a key that is not a broker key (INVALID_CONFIG), one that cannot
    change at run time (``DynamicConfigError``, INVALID_REQUEST), or an invalid value.
    """
    static = sorted(
        name for name in configs if name in BROKER_CONFIGS and name not in DYNAMIC_BROKER_KEYS
    )
    if static:
        raise DynamicConfigError(
            f"Cannot update these configs dynamically: {', '.join(static)}. Set them in the "
            "broker's properties file and restart it.",
            static[0],
        )
    validated = {}
    for name, text in configs.items():
        key = BROKER_CONFIGS.get(name)
        if key is None:
            counterpart = _BROKER_KEY_BY_TOPIC_KEY.get(name)
            message = _unknown_key_message(
                name, DYNAMIC_BROKER_KEYS, "broker config key", counterpart
            )
            raise ConfigError(message, name)
        if text is not None:
            _parse_value(key, text)
            validated[name] = text.strip()
    return validated


def with_dynamic(
    static: BrokerConfig, default: Mapping[str, str], own: Mapping[str, str]
) -> tuple[BrokerConfig, list[str]]:
    """``static`` with the dynamic configs on top (this broker's over the cluster default's),
    and a warning for each stored value that no longer parses (it is left out)."""
    warnings: list[str] = []
    layers: list[dict[str, str]] = []
    values: dict[str, object] = {}
    for source in (default, own):
        kept: dict[str, str] = {}
        for name, text in source.items():
            key = BROKER_CONFIGS.get(name)
            if key is None or name not in DYNAMIC_BROKER_KEYS:
                warnings.append(f"ignoring dynamic broker config {name!r}: not a dynamic key")
                continue
            try:
                values[_attribute(name)] = _parse_value(key, text)
            except ConfigError as error:
                warnings.append(f"ignoring dynamic broker config {name!r}: {error}")
                continue
            kept[name] = text
        layers.append(kept)
    hidden = {name: static.value_of(name) for layer in layers for name in layer}
    merged = replace(
        static,
        **values,  # type: ignore[arg-type]
        dynamic_default=layers[0],
        dynamic_broker=layers[1],
        static_values=hidden,
    )
    return merged, warnings


def _from_broker(broker: BrokerConfig, key: ConfigKey) -> tuple[object, str | None]:
    """The value a broker synonym gives `key`, and that synonym's name (None: no synonym set)."""
    for synonym in key.synonyms:
        value = broker.value_of(synonym.name)
        if value is None:
            continue
        if synonym.factor == 1:
            return value, synonym.name
        assert isinstance(value, int)
        # Kafka turns any negative retention into -1 (infinite).
        return (value * synonym.factor if value >= 0 else -1), synonym.name
    return _parse_value(key, key.default or ""), None


def _topic_value(
    broker: BrokerConfig, overrides: Mapping[str, str], key: ConfigKey
) -> tuple[object, ConfigSource]:
    if key.name in overrides:
        return _parse_value(key, overrides[key.name]), ConfigSource.DYNAMIC_TOPIC_CONFIG
    value, synonym = _from_broker(broker, key)
    if synonym is None:
        return value, ConfigSource.DEFAULT_CONFIG
    return value, broker.config_source(synonym)


_LOG_CONFIG_FIELDS = {
    "segment_bytes": "segment.bytes",
    "segment_ms": "segment.ms",
    "retention_ms": "retention.ms",
    "retention_bytes": "retention.bytes",
    "flush_interval_messages": "flush.messages",
    "flush_interval_ms": "flush.ms",
    "index_interval_bytes": "index.interval.bytes",
    "max_index_bytes": "segment.index.bytes",
    "max_message_bytes": "max.message.bytes",
    "message_timestamp_type": "message.timestamp.type",
    "cleanup_policy": "cleanup.policy",
    "delete_retention_ms": "delete.retention.ms",
    "min_compaction_lag_ms": "min.compaction.lag.ms",
    "max_compaction_lag_ms": "max.compaction.lag.ms",
    "min_cleanable_dirty_ratio": "min.cleanable.dirty.ratio",
    "compression_type": "compression.type",
    "segment_jitter_ms": "segment.jitter.ms",
    "compression_gzip_level": "compression.gzip.level",
    "compression_lz4_level": "compression.lz4.level",
    "compression_zstd_level": "compression.zstd.level",
    "message_timestamp_before_max_ms": "message.timestamp.before.max.ms",
    "message_timestamp_after_max_ms": "message.timestamp.after.max.ms",
    "message_timestamp_difference_max_ms": "message.timestamp.difference.max.ms",
}


def log_config_values(
    broker: BrokerConfig, overrides: Mapping[str, str]
) -> dict[str, int | str | float | tuple[str, ...]]:
    """Keyword arguments for broker.log.config.LogConfig of one topic."""
    values: dict[str, int | str | float | tuple[str, ...]] = {}
    for field_name, topic_key in _LOG_CONFIG_FIELDS.items():
        value, _ = _topic_value(broker, overrides, TOPIC_CONFIGS[topic_key])
        assert isinstance(value, int | str | float | tuple), (topic_key, value)
        assert not isinstance(value, bool), (topic_key, value)
        values[field_name] = value
    return values


def effective_min_insync_replicas(
    broker: BrokerConfig, overrides: Mapping[str, str], replication_factor: int
) -> int:
    """min(min.insync.replicas, replication factor), as Kafka since KIP-966."""
    assert replication_factor >= 1, replication_factor
    value, _ = _topic_value(broker, overrides, TOPIC_CONFIGS["min.insync.replicas"])
    assert isinstance(value, int) and value >= 1, value
    return min(value, replication_factor)


# ---------------------------------------------------------------------------------------------
# DescribeConfigs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One DescribeConfigs result entry; `synonyms` are highest precedence first."""

    name: str
    value: str | None
    read_only: bool
    is_default: bool
    source: ConfigSource
    sensitive: bool
    synonyms: tuple[ConfigSynonym, ...]
    config_type: ConfigType
    documentation: str | None


def _topic_synonyms(
    broker: BrokerConfig, overrides: Mapping[str, str], key: ConfigKey
) -> tuple[ConfigSynonym, ...]:
    synonyms = []
    if key.name in overrides:
        synonyms.append(
            ConfigSynonym(key.name, overrides[key.name], ConfigSource.DYNAMIC_TOPIC_CONFIG)
        )
    for synonym in key.synonyms:
        synonyms.extend(_broker_synonyms(broker, synonym.name))
    return tuple(synonyms)


def _broker_synonyms(broker: BrokerConfig, name: str) -> list[ConfigSynonym]:
    """Every value ``name`` has on this broker, highest precedence first (Kafka's
    ``ConfigHelper.configSynonyms``): dynamic (this broker, cluster default), static, default."""
    synonyms = []
    if name in broker.dynamic_broker:
        value = broker.dynamic_broker[name]
        synonyms.append(ConfigSynonym(name, value, ConfigSource.DYNAMIC_BROKER_CONFIG))
    if name in broker.dynamic_default:
        value = broker.dynamic_default[name]
        synonyms.append(ConfigSynonym(name, value, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG))
    if name in broker.explicit_keys:
        # The static value: what the file said (a dynamic layer may hide it in the attribute).
        value = _render(broker.static_values.get(name, broker.value_of(name)))
        synonyms.append(ConfigSynonym(name, value, ConfigSource.STATIC_BROKER_CONFIG))
    default = BROKER_CONFIGS[name].default
    if default is not None:
        synonyms.append(ConfigSynonym(name, default, ConfigSource.DEFAULT_CONFIG))
    return synonyms


def describe_topic_config(broker: BrokerConfig, overrides: Mapping[str, str]) -> list[ConfigEntry]:
    """Every topic key with its effective value and source, sorted by name."""
    entries = []
    for name in sorted(TOPIC_CONFIGS):
        key = TOPIC_CONFIGS[name]
        value, source = _topic_value(broker, overrides, key)
        text = overrides[name] if name in overrides else _render(value)
        entry = ConfigEntry(
            name=name,
            value=text,
            read_only=False,
            is_default=source == ConfigSource.DEFAULT_CONFIG,
            source=source,
            sensitive=False,
            synonyms=_topic_synonyms(broker, overrides, key),
            config_type=key.config_type,
            documentation=key.documentation,
        )
        entries.append(entry)
    return entries


def describe_broker_config(
    broker: BrokerConfig, *, default_only: bool = False
) -> list[ConfigEntry]:
    """Every supported broker key; only :data:`DYNAMIC_BROKER_KEYS` are not read-only.

    ``default_only`` describes the cluster-default resource (name ''): as Kafka, only the
    keys the cluster's dynamic default sets."""
    properties = broker.to_properties()
    entries = []
    for name in sorted(BROKER_CONFIGS):
        key = BROKER_CONFIGS[name]
        if default_only:
            if name not in broker.dynamic_default:
                continue
            source = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
            value: str | None = broker.dynamic_default[name]
        else:
            source = broker.config_source(name)
            value = properties.get(name)
        sensitive = key.config_type == ConfigType.PASSWORD
        if sensitive:
            value = None  # as Kafka: a password is never sent back
        if value is None:
            synonyms: tuple[ConfigSynonym, ...] = ()
        elif not default_only and (name in broker.dynamic_broker or name in broker.dynamic_default):
            synonyms = tuple(_broker_synonyms(broker, name))
        else:
            synonyms = (ConfigSynonym(name, value, source),)
        entry = ConfigEntry(
            name=name,
            value=value,
            read_only=name not in DYNAMIC_BROKER_KEYS,
            is_default=source == ConfigSource.DEFAULT_CONFIG,
            source=source,
            sensitive=sensitive,
            synonyms=synonyms,
            config_type=key.config_type,
            documentation=key.documentation,
        )
        entries.append(entry)
    return entries


# -- group configs (KIP-848, KIP-932: ``kafka-configs --entity-type groups``) ----------------

# Integer group config key -> (the broker key that is its default, the broker keys bounding it).
GROUP_CONFIG_KEYS: Mapping[str, tuple[str, str, str]] = {
    "consumer.session.timeout.ms": (
        "group.consumer.session.timeout.ms",
        "group.consumer.min.session.timeout.ms",
        "group.consumer.max.session.timeout.ms",
    ),
    "consumer.heartbeat.interval.ms": (
        "group.consumer.heartbeat.interval.ms",
        "group.consumer.min.heartbeat.interval.ms",
        "group.consumer.max.heartbeat.interval.ms",
    ),
    "share.session.timeout.ms": (
        "group.share.session.timeout.ms",
        "group.share.min.session.timeout.ms",
        "group.share.max.session.timeout.ms",
    ),
    "share.heartbeat.interval.ms": (
        "group.share.heartbeat.interval.ms",
        "group.share.min.heartbeat.interval.ms",
        "group.share.max.heartbeat.interval.ms",
    ),
    "share.record.lock.duration.ms": (
        "group.share.record.lock.duration.ms",
        "group.share.min.record.lock.duration.ms",
        "group.share.max.record.lock.duration.ms",
    ),
}
SHARE_AUTO_OFFSET_RESET = "share.auto.offset.reset"
SHARE_ISOLATION_LEVEL = "share.isolation.level"
# String group configs (no broker key behind them): Kafka's GroupConfig defaults.
GROUP_STRING_CONFIGS: Mapping[str, ConfigKey] = {
    key.name: key
    for key in (
        _K(
            SHARE_AUTO_OFFSET_RESET,
            _STR,
            "latest",
            "Where a share group starts reading a partition it has no state for: latest,"
            " earliest, or by_duration:<ISO 8601 duration> (that long before now).",
        ),
        _K(
            SHARE_ISOLATION_LEVEL,
            _STR,
            "read_uncommitted",
            "read_committed: a share group reads only committed transactional records.",
            choices=("read_uncommitted", "read_committed"),
        ),
    )
}
# (protocol, its heartbeat interval key, its session timeout key)
_GROUP_TIMEOUT_PAIRS = (
    ("consumer.heartbeat.interval.ms", "consumer.session.timeout.ms"),
    ("share.heartbeat.interval.ms", "share.session.timeout.ms"),
)
_ISO_DURATION = re.compile(
    r"P(?:(?P<days>[0-9]+)D)?"
    r"(?:T(?:(?P<hours>[0-9]+)H)?(?:(?P<minutes>[0-9]+)M)?(?:(?P<seconds>[0-9]+(?:\.[0-9]+)?)S)?)?",
    re.IGNORECASE,
)


def iso_duration_ms(text: str) -> int | None:
    """``PnDTnHnMn.nS`` (Java's ``Duration.parse`` without signs) in ms; None if malformed."""
    match = _ISO_DURATION.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()) or text.strip().upper().endswith("T"):
        return None
    days, hours, minutes = (int(match[name] or 0) for name in ("days", "hours", "minutes"))
    seconds = float(match["seconds"] or 0)
    return ((days * 24 + hours) * 60 + minutes) * 60_000 + round(seconds * 1000)


def share_auto_offset_reset(text: str) -> str | int | None:
    """``latest`` / ``earliest``, or the duration in ms of ``by_duration:<ISO 8601>``; None
    for anything else."""
    value = text.strip().lower()
    if value in ("latest", "earliest"):
        return value
    prefix = "by_duration:"
    if value.startswith(prefix):
        return iso_duration_ms(text.strip()[len(prefix) :])
    return None


def group_value(broker: BrokerConfig, overrides: Mapping[str, str], name: str) -> int:
    """A group's effective integer setting: its own config, else the broker's."""
    if name in overrides:
        return int(overrides[name])
    value = broker.value_of(GROUP_CONFIG_KEYS[name][0])
    assert isinstance(value, int)
    return value


def group_string(overrides: Mapping[str, str], name: str) -> str:
    """A group's effective string setting: its own config, else Kafka's default."""
    default = GROUP_STRING_CONFIGS[name].default
    assert default is not None
    return overrides.get(name, default)


def _validate_group_string(name: str, text: str) -> str:
    key = GROUP_STRING_CONFIGS[name]
    value = text.strip()
    if key.choices and value.lower() not in key.choices:
        raise ConfigError(f"{name} must be one of {', '.join(key.choices)}, not {text!r}", name)
    if name == SHARE_AUTO_OFFSET_RESET and share_auto_offset_reset(value) is None:
        message = (
            f"{name} must be latest, earliest or by_duration:<ISO 8601 duration>"
            f" (e.g. by_duration:PT1H), not {text!r}"
        )
        raise ConfigError(message, name)
    return value.lower() if key.choices else value


def validate_group_configs(
    broker: BrokerConfig, configs: Mapping[str, str | None]
) -> dict[str, str]:
    """Check a group's configs (None: not set) as Kafka's GroupConfig does: known keys,
    integers within the broker's bounds, each heartbeat interval below its session timeout,
    strings among their choices.  Raises ConfigError (INVALID_CONFIG)."""
    validated: dict[str, str] = {}
    known = {**GROUP_CONFIG_KEYS, **GROUP_STRING_CONFIGS}
    for name, text in configs.items():
        if name not in known:
            raise ConfigError(_unknown_key_message(name, known, "group config"), name)
        if text is None:
            continue
        if name in GROUP_STRING_CONFIGS:
            validated[name] = _validate_group_string(name, text)
            continue
        try:
            value = int(text.strip())
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not an integer", name) from None
        _, low_key, high_key = GROUP_CONFIG_KEYS[name]
        low, high = broker.value_of(low_key), broker.value_of(high_key)
        assert isinstance(low, int) and isinstance(high, int)
        if not low <= value <= high:
            raise ConfigError(
                f"{name} must be between {low_key} ({low}) and {high_key} ({high}), not {value}",
                name,
            )
        validated[name] = str(value)
    for heartbeat_key, session_key in _GROUP_TIMEOUT_PAIRS:
        session = group_value(broker, validated, session_key)
        heartbeat = group_value(broker, validated, heartbeat_key)
        if heartbeat >= session:
            raise ConfigError(
                f"{heartbeat_key} ({heartbeat}) must be less than {session_key} ({session})",
                heartbeat_key,
            )
    return validated


def describe_group_config(broker: BrokerConfig, overrides: Mapping[str, str]) -> list[ConfigEntry]:
    """Every group config key: the group's own value (GROUP_CONFIG), else the broker's
    (DEFAULT_CONFIG, its broker key as the synonym) or Kafka's default."""
    entries = []
    for name in sorted({*GROUP_CONFIG_KEYS, *GROUP_STRING_CONFIGS}):
        if name in GROUP_CONFIG_KEYS:
            broker_key = GROUP_CONFIG_KEYS[name][0]
            fallback = str(broker.value_of(broker_key))
            synonyms = [ConfigSynonym(broker_key, fallback, broker.config_source(broker_key))]
            key = BROKER_CONFIGS[broker_key]
        else:
            key = GROUP_STRING_CONFIGS[name]
            fallback = key.default or ""
            synonyms = []
        if name in overrides:
            source = ConfigSource.GROUP_CONFIG
            synonyms.insert(0, ConfigSynonym(name, overrides[name], source))
        else:
            source = ConfigSource.DEFAULT_CONFIG
        entries.append(
            ConfigEntry(
                name=name,
                value=overrides.get(name, fallback),
                read_only=False,
                is_default=name not in overrides,
                source=source,
                sensitive=False,
                synonyms=tuple(synonyms),
                config_type=key.config_type,
                documentation=key.documentation,
            )
        )
    return entries
