"""Client configuration: Kafka's client keys, Kafka's defaults, parsed and validated once.

Each role has a frozen dataclass: :class:`CommonConfig` (every client), :class:`ProducerConfig`,
:class:`ConsumerConfig` and :class:`AdminConfig`.  Attribute = Kafka key with ``.`` → ``_``
(``bootstrap.servers`` → ``bootstrap_servers``).  Build one with ``from_settings``::

    ProducerConfig.from_settings({"bootstrap.servers": "k1:9092,k2:9092", "acks": "1"})
    ProducerConfig.from_settings(bootstrap_servers=["k1:9092"], linger_ms=10)

Keys are accepted in either spelling (``linger.ms`` or ``linger_ms``, as kafka-python takes
keywords) in the mapping and in keywords.  Values may be Python values or the strings a
properties file holds (``"true"``, ``"100"``).  An unknown key raises
:class:`~client.errors.IllegalConfigError` naming it and the closest known key (or the role it
belongs to); a bad value raises it naming the key, the value and what is expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from client.errors import IllegalConfigError
from client.sasl import MECHANISMS, SaslCredentials
from client.tls import client_context

INT32_MAX = 2**31 - 1
DEFAULT_PORT = 9092
ACKS_ALL = -1

Parser = Callable[[str, Any], Any]
Serializer = Callable[[Any], bytes | None]
Deserializer = Callable[[bytes | None], Any]
# (key bytes or None, all partition ids, available partition ids) -> partition id.
Partitioner = Callable[[bytes | None, Sequence[int], Sequence[int]], int]


# -- value parsers ---------------------------------------------------------------------------


def _bad(key: str, value: Any, expected: str) -> IllegalConfigError:
    return IllegalConfigError(f"invalid value {value!r} for {key}: expected {expected}", key)


def _int(low: int = 0, high: int = INT32_MAX) -> Parser:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(key, value, f"an integer in [{low}, {high}]")
        if not low <= value <= high:
            raise _bad(key, value, f"an integer in [{low}, {high}]")
        return value

    return parse


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _bad(key, value, "true or false")


def _choice(*choices: str) -> Parser:
    def parse(key: str, value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise _bad(key, value, "one of " + ", ".join(choices))

    return parse


def _mechanism(key: str, value: Any) -> str:
    if isinstance(value, str) and value.strip().upper() in MECHANISMS:
        return value.strip().upper()
    raise _bad(key, value, "one of " + ", ".join(MECHANISMS))


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(key, value, "a string")
    return value


def _optional_string(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _string(key, value)


def _callable(key: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise _bad(key, value, "a callable or None")
    return value


def _string_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise _bad(key, value, "a comma-separated string or a list of strings")
    return tuple(item for item in items if item)


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` → ``(host, port)``; ``[v6]:port`` brackets; the port defaults to 9092."""
    text = address.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {address!r}")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ValueError(f"bad address {address!r}: put an IPv6 host in brackets, [::1]:9092")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"bad address {address!r}: no host")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad address {address!r}: port must be 1-65535")
    return host, int(port_text)


def _servers(key: str, value: Any) -> tuple[str, ...]:
    servers = _string_list(key, value)
    if not servers:
        raise _bad(key, value, "at least one host:port")
    for server in servers:
        try:
            parse_address(server)
        except ValueError as error:
            raise IllegalConfigError(f"invalid value for {key}: {error}", key) from None
    return servers


def _acks(key: str, value: Any) -> int:
    text = str(value).strip().lower() if not isinstance(value, bool) else ""
    if text in ("all", "-1"):
        return ACKS_ALL
    if text in ("0", "1"):
        return int(text)
    raise _bad(key, value, "all, -1, 0 or 1")


def _meta(parse: Parser, doc: str) -> dict[str, Any]:
    return {"parse": parse, "doc": doc}


def _option(default: Any, parse: Parser, doc: str) -> Any:
    """A config field: its Kafka default, its parser and a one-line description."""
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata=_meta(parse, doc))


def key_of(attribute: str) -> str:
    """The Kafka key of an attribute name: ``linger_ms`` → ``linger.ms``."""
    return attribute.replace("_", ".")


# -- the configs -----------------------------------------------------------------------------

_client_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class CommonConfig:
    """Keys every client takes (connection, metadata, retries).  Kafka's defaults."""

    role: ClassVar[str] = "common"

    bootstrap_servers: tuple[str, ...] = _option(
        (), _servers, "host:port list to fetch the cluster's metadata from (required)"
    )
    client_id: str = _option(
        "", _string, "sent in every request header; empty = generated (odradek-<role>-N)"
    )
    request_timeout_ms: int = _option(30000, _int(), "how long to wait for a response")
    reconnect_backoff_ms: int = _option(50, _int(), "first wait before reconnecting to a broker")
    reconnect_backoff_max_ms: int = _option(1000, _int(), "cap of the exponential reconnect wait")
    retry_backoff_ms: int = _option(100, _int(), "wait before retrying a failed request")
    retry_backoff_max_ms: int = _option(1000, _int(), "cap of the retry wait (KIP-580)")
    max_in_flight_requests_per_connection: int = _option(
        5, _int(1), "unanswered requests allowed on one connection"
    )
    metadata_max_age_ms: int = _option(300000, _int(), "refresh metadata at least this often")
    connections_max_idle_ms: int = _option(540000, _int(), "close connections idle this long")
    socket_connection_setup_timeout_ms: int = _option(
        10000, _int(), "how long to wait for a TCP connect"
    )
    socket_connection_setup_timeout_max_ms: int = _option(
        30000, _int(), "cap of the connect timeout after repeated failures"
    )
    security_protocol: str = _option(
        "plaintext",
        _choice("plaintext", "sasl_plaintext", "ssl", "sasl_ssl"),
        "PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL",
    )
    ssl_cafile: str = _option(
        "", _string, "PEM CA certificates the broker's certificate is checked against (TLS)"
    )
    ssl_certfile: str = _option(
        "", _string, "PEM client certificate, for brokers that ask for one (TLS)"
    )
    ssl_keyfile: str = _option("", _string, "PEM private key of ssl.certfile (TLS)")
    ssl_password: str = _option("", _string, "password of ssl.keyfile (TLS)")
    ssl_check_hostname: bool = _option(
        True, _bool, "check the broker's host name against its certificate (TLS)"
    )
    sasl_mechanism: str = _option(
        "PLAIN",
        _mechanism,
        "SASL mechanism with SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    )
    sasl_plain_username: str = _option("", _string, "SASL user name (PLAIN and SCRAM)")
    sasl_plain_password: str = _option("", _string, "SASL password (PLAIN and SCRAM)")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> Self:
        """Parse ``settings`` (Kafka keys or attribute names) and keywords into a config.

        Raises :class:`~client.errors.IllegalConfigError` for an unknown key (naming the
        closest match), a bad value, a missing ``bootstrap.servers`` or inconsistent values.
        """
        raw = _merge(settings or {}, kwargs)
        known = {item.name: item for item in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in known:
                raise _unknown(name, cls)
            values[name] = known[name].metadata["parse"](key_of(name), value)
        if not values.get("bootstrap_servers"):
            raise IllegalConfigError("bootstrap.servers is required", "bootstrap.servers")
        if not values.get("client_id"):
            values["client_id"] = f"odradek-{cls.role}-{next(_client_ids)}"
        return cls(**cls._adjust(values, explicit=frozenset(raw)))

    @classmethod
    def _adjust(cls, values: dict[str, Any], explicit: frozenset[str]) -> dict[str, Any]:
        """Cross-key checks and derived defaults; subclasses extend it."""
        protocol = values.get("security_protocol")
        if protocol in ("sasl_plaintext", "sasl_ssl") and not values.get("sasl_plain_username"):
            raise IllegalConfigError(
                f"security.protocol={protocol.upper()} needs sasl.plain.username (and "
                "sasl.plain.password)",
                "sasl.plain.username",
            )
        low, high = values.get("reconnect_backoff_ms", 50), values.get("reconnect_backoff_max_ms")
        if high is not None and high < low:
            raise IllegalConfigError(
                "reconnect.backoff.max.ms must be >= reconnect.backoff.ms",
                "reconnect.backoff.max.ms",
            )
        return values

    @property
    def sasl(self) -> SaslCredentials | None:
        """The credentials connections authenticate with (None with PLAINTEXT)."""
        if self.security_protocol not in ("sasl_plaintext", "sasl_ssl"):
            return None
        return SaslCredentials(
            self.sasl_mechanism, self.sasl_plain_username, self.sasl_plain_password
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context connections use (None without SSL / SASL_SSL)."""
        if self.security_protocol not in ("ssl", "sasl_ssl"):
            return None
        return client_context(
            self.ssl_cafile or None,
            self.ssl_certfile or None,
            self.ssl_keyfile or None,
            self.ssl_password or None,
            check_hostname=self.ssl_check_hostname,
        )

    def addresses(self) -> list[tuple[str, int]]:
        """``bootstrap.servers`` as (host, port) pairs."""
        return [parse_address(server) for server in self.bootstrap_servers]

    @classmethod
    def keys(cls) -> list[str]:
        """Every Kafka key this config accepts."""
        return [key_of(item.name) for item in dataclasses.fields(cls)]

    @classmethod
    def keys_set(cls) -> frozenset[str]:
        """:meth:`keys` as a set."""
        return frozenset(cls.keys())

    @classmethod
    def describe(cls) -> dict[str, tuple[Any, str]]:
        """Key → (default, description), for help texts."""
        return {
            key_of(item.name): (item.default, item.metadata["doc"])
            for item in dataclasses.fields(cls)
        }


@dataclass(frozen=True, slots=True)
class ProducerConfig(CommonConfig):
    """Producer keys (Kafka 4.0 defaults: ``acks=all``, idempotence on, ``linger.ms=5``)."""

    role: ClassVar[str] = "producer"

    acks: int = _option(ACKS_ALL, _acks, "replicas that must have a record: all (-1), 1 or 0")
    linger_ms: int = _option(5, _int(), "wait this long for more records before a send (KIP-1030)")
    batch_size: int = _option(16384, _int(), "bytes per partition batch before it is sent")
    buffer_memory: int = _option(33554432, _int(1, 2**63 - 1), "bytes of records awaiting send")
    retries: int = _option(
        INT32_MAX, _int(), "resends of a failed batch (within delivery.timeout.ms)"
    )
    delivery_timeout_ms: int = _option(
        120000, _int(), "limit from send() to success or failure; >= linger.ms + request.timeout.ms"
    )
    compression_type: str = _option(
        "none", _choice("none", "gzip", "snappy", "lz4", "zstd"), "batch codec"
    )
    enable_idempotence: bool = _option(True, _bool, "exactly-once per partition (KIP-98)")
    transactional_id: str | None = _option(
        None, _optional_string, "enables transactions (init_transactions, begin/commit/abort)"
    )
    transaction_timeout_ms: int = _option(
        60000, _int(1), "the coordinator aborts a transaction open longer than this"
    )
    max_request_size: int = _option(1048576, _int(1), "largest Produce request in bytes")
    max_block_ms: int = _option(60000, _int(), "how long send() may wait for metadata or buffer")
    metadata_max_idle_ms: int = _option(300000, _int(5000), "forget topics unused this long")
    partitioner: Partitioner | None = field(
        default=None,
        metadata=_meta(
            _callable, "callable(key, all, available) -> partition; None = Java-compatible"
        ),
    )
    partitioner_ignore_keys: bool = _option(False, _bool, "spread keyed records as if unkeyed")
    key_serializer: Serializer | None = field(
        default=None, metadata=_meta(_callable, "callable(key) -> bytes")
    )
    value_serializer: Serializer | None = field(
        default=None, metadata=_meta(_callable, "callable(value) -> bytes")
    )

    @classmethod
    def _adjust(cls, values: dict[str, Any], explicit: frozenset[str]) -> dict[str, Any]:
        values = super(ProducerConfig, cls)._adjust(values, explicit)
        linger = values.get("linger_ms", 5)
        request = values.get("request_timeout_ms", 30000)
        if "delivery_timeout_ms" in explicit:
            if values["delivery_timeout_ms"] < linger + request:
                raise IllegalConfigError(
                    "delivery.timeout.ms should be equal to or larger than "
                    "linger.ms + request.timeout.ms",
                    "delivery.timeout.ms",
                )
        else:
            # Kafka's rule: an unset delivery timeout grows to cover linger + request time.
            values["delivery_timeout_ms"] = max(120000, linger + request)
        return _adjust_idempotence(values, explicit)


def _adjust_idempotence(values: dict[str, Any], explicit: frozenset[str]) -> dict[str, Any]:
    """Idempotence needs acks=all, retries > 0, at most 5 in flight (KIP-679).

    As in Kafka: if idempotence was asked for explicitly a conflict is an error; if it was only
    the default, the conflicting keys win and idempotence is switched off.
    """
    conflicts = []
    transactional = values.get("transactional_id") is not None
    if transactional and not values.get("enable_idempotence", True):
        raise IllegalConfigError(
            "transactional.id requires enable.idempotence=true", "enable.idempotence"
        )
    if values.get("acks", ACKS_ALL) != ACKS_ALL:
        conflicts.append("acks must be all")
    if values.get("retries", INT32_MAX) == 0:
        conflicts.append("retries must be > 0")
    if values.get("max_in_flight_requests_per_connection", 5) > 5:
        conflicts.append("max.in.flight.requests.per.connection must be <= 5")
    if not conflicts or not values.get("enable_idempotence", True):
        return values
    if "enable_idempotence" in explicit or transactional:
        raise IllegalConfigError(
            "enable.idempotence=true conflicts: " + "; ".join(conflicts), "enable.idempotence"
        )
    values["enable_idempotence"] = False
    return values


@dataclass(frozen=True, slots=True)
class ConsumerConfig(CommonConfig):
    """Consumer keys (Kafka's defaults; ``session.timeout.ms=45000`` since KIP-735)."""

    role: ClassVar[str] = "consumer"

    group_id: str | None = _option(None, _optional_string, "consumer group; None = assign only")
    group_instance_id: str | None = _option(
        None, _optional_string, "static membership id (KIP-345)"
    )
    fetch_min_bytes: int = _option(1, _int(), "bytes a fetch waits for")
    fetch_max_wait_ms: int = _option(500, _int(), "longest a fetch waits for fetch.min.bytes")
    max_partition_fetch_bytes: int = _option(1048576, _int(), "bytes per partition per fetch")
    fetch_max_bytes: int = _option(52428800, _int(), "bytes per fetch response")
    max_poll_records: int = _option(500, _int(1), "records one poll returns at most")
    max_poll_interval_ms: int = _option(300000, _int(1), "longest gap between polls in a group")
    isolation_level: str = _option(
        "read_uncommitted",
        _choice("read_uncommitted", "read_committed"),
        "read_committed hides aborted transactions",
    )
    auto_offset_reset: str = _option(
        "latest", _choice("latest", "earliest", "none"), "where to start with no valid offset"
    )
    enable_auto_commit: bool = _option(True, _bool, "commit positions in the background")
    auto_commit_interval_ms: int = _option(5000, _int(), "how often auto-commit runs")
    session_timeout_ms: int = _option(45000, _int(), "group member liveness timeout")
    heartbeat_interval_ms: int = _option(3000, _int(), "group heartbeat period")
    partition_assignment_strategy: tuple[str, ...] = _option(
        ["range", "cooperative-sticky"], _string_list, "assignors, by preference"
    )
    check_crcs: bool = _option(True, _bool, "verify each batch's CRC-32C")
    exclude_internal_topics: bool = _option(True, _bool, "subscriptions skip internal topics")
    allow_auto_create_topics: bool = _option(True, _bool, "let metadata requests create topics")
    default_api_timeout_ms: int = _option(60000, _int(), "timeout of blocking consumer calls")
    client_rack: str = _option("", _string, "rack id for follower fetching (KIP-392)")
    key_deserializer: Deserializer | None = field(
        default=None, metadata=_meta(_callable, "callable(bytes) -> key")
    )
    value_deserializer: Deserializer | None = field(
        default=None, metadata=_meta(_callable, "callable(bytes) -> value")
    )

    @classmethod
    def _adjust(cls, values: dict[str, Any], explicit: frozenset[str]) -> dict[str, Any]:
        values = super(ConsumerConfig, cls)._adjust(values, explicit)
        heartbeat = values.get("heartbeat_interval_ms", 3000)
        if heartbeat >= values.get("session_timeout_ms", 45000):
            raise IllegalConfigError(
                "heartbeat.interval.ms must be lower than session.timeout.ms",
                "heartbeat.interval.ms",
            )
        return values

    @property
    def read_committed(self) -> bool:
        """``isolation.level == read_committed`` (the protocol's isolation level 1)."""
        return self.isolation_level == "read_committed"


@dataclass(frozen=True, slots=True)
class AdminConfig(CommonConfig):
    """Admin client keys."""

    role: ClassVar[str] = "admin"

    connections_max_idle_ms: int = _option(300000, _int(), "close connections idle this long")
    default_api_timeout_ms: int = _option(
        60000, _int(), "limit of one admin call, retries included"
    )
    retries: int = _option(INT32_MAX, _int(), "retries of a failed admin request")


def _merge(settings: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Both spellings folded to attribute names; one key given twice with two values is an error."""
    merged: dict[str, Any] = {}
    for source in (settings, kwargs):
        for key, value in source.items():
            if not isinstance(key, str):
                raise IllegalConfigError(f"config keys must be strings, got {key!r}")
            name = key.strip().replace(".", "_").replace("-", "_")
            if name in merged and merged[name] != value:
                raise IllegalConfigError(
                    f"{key_of(name)} given twice ({merged[name]!r} and {value!r})", key_of(name)
                )
            merged[name] = value
    return merged


_ROLES: tuple[type[CommonConfig], ...] = (ProducerConfig, ConsumerConfig, AdminConfig)


def _unknown(name: str, cls: type[CommonConfig]) -> IllegalConfigError:
    key = key_of(name)
    owners = [other.role for other in _ROLES if other is not cls and key in other.keys_set()]
    if owners:
        return IllegalConfigError(
            f"{key} is a {' / '.join(owners)} setting, not a {cls.role} setting", key
        )
    close = difflib.get_close_matches(key, cls.keys(), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return IllegalConfigError(f"unknown {cls.role} config key {key!r}{hint}", key)
