"""Client quotas (KIP-13, KIP-55, KIP-124, KIP-546, KIP-612), as Kafka's
ClientQuotaControlManager, ClientQuotasImage and ClientQuotaManager: pure functions of the
metadata image and of explicit time.

- :func:`alter_quotas` turns an AlterClientQuotas request into ``ClientQuotaRecord`` s with
  Kafka's validation (entity types and combinations, known keys, positive values, integral
  values for the integer keys); :func:`describe_quotas` answers DescribeClientQuotas.
- :class:`QuotaLimits` resolves the quota of a (user, client-id) pair for one quota key by
  Kafka's precedence (``/users/u/clients/c`` first, ``/clients/<default>`` last) and names
  the sensor the pair shares with others: a default-entity quota is each user's (or
  client's) own, an explicit one is shared by everyone it matches.
- :class:`Rate` is Kafka's sampled rate (``quota.window.num`` windows of
  ``quota.window.size.seconds``) and :class:`QuotaManager` its ``ClientQuotaManager``:
  record a value, get the throttle time ``(rate - bound) / bound * window``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.core.metadata import ClientQuotaRecord, MetadataImage, MetadataRecord
from client.protocol.errors import ErrorCode

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"

# Kafka's QuotaConfig: the keys of user / client-id entities and of ip entities, with
# whether the value must be integral (LONG / INT keys) and its upper bound.
_LONG_MAX = float(2**63 - 1)
USER_CLIENT_KEYS: dict[str, tuple[bool, float]] = {
    PRODUCER_BYTE_RATE: (True, _LONG_MAX),
    CONSUMER_BYTE_RATE: (True, _LONG_MAX),
    REQUEST_PERCENTAGE: (False, math.inf),
    CONTROLLER_MUTATION_RATE: (False, math.inf),
}
IP_KEYS: dict[str, tuple[bool, float]] = {CONNECTION_CREATION_RATE: (True, float(2**31 - 1))}

# DescribeClientQuotas match types.
MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_SPECIFIED = 2

# The principal name of an unauthenticated connection (Kafka's KafkaPrincipal.ANONYMOUS).
ANONYMOUS = "ANONYMOUS"

K = TypeVar("K")
Entity = tuple[tuple[str, str | None], ...]
Error = tuple[ErrorCode, str]


def entity_key(pairs: Iterable[tuple[str, str | None]]) -> Entity:
    return tuple(sorted(pairs))


def _entity_text(entity: Entity) -> str:
    return "{" + ", ".join(f"{kind}={name}" for kind, name in entity) + "}"


def _valid_ip(name: str | None) -> bool:
    if name is None:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _entity_error(pairs: list[tuple[str, str | None]]) -> tuple[Error | None, Mapping[str, Any]]:
    """Validate an entity's types and their combination; on success the keys it may set."""
    if not pairs:
        return (ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity"), {}
    seen: dict[str, str | None] = {}
    for kind, name in pairs:
        if kind in seen:
            return (
                ErrorCode.INVALID_REQUEST,
                f"Invalid client quota entity, duplicate entity entry {kind}",
            ), {}
        if kind not in ENTITY_TYPES:
            return (ErrorCode.INVALID_REQUEST, f"Unhandled client quota entity type: {kind}"), {}
        if name is not None and not name:
            return (ErrorCode.INVALID_REQUEST, f"Empty {kind} not supported"), {}
        seen[kind] = name
    if IP in seen:
        if len(seen) > 1:
            return (
                ErrorCode.INVALID_REQUEST,
                "Invalid quota entity combination, IP entity should not be combined with"
                " User or ClientId",
            ), {}
        if not _valid_ip(seen[IP]):
            return (ErrorCode.INVALID_REQUEST, f"{seen[IP]} is not a valid IP address."), {}
        return None, IP_KEYS
    return None, USER_CLIENT_KEYS


def _value_error(keys: Mapping[str, tuple[bool, float]], key: str, value: float) -> Error | None:
    spec = keys.get(key)
    if spec is None:
        return ErrorCode.INVALID_REQUEST, f"Invalid configuration key {key}"
    integral, bound = spec
    if not value > 0.0:  # also refuses NaN
        return ErrorCode.INVALID_REQUEST, f"Quota {key} must be greater than 0"
    if value > bound:
        return ErrorCode.INVALID_REQUEST, f"Proposed value for {key} is too large."
    if integral and abs(math.fmod(value, 1.0)) > 1e-6:
        return ErrorCode.INVALID_REQUEST, f"{key} cannot be a fractional value."
    return None


@dataclass(frozen=True, slots=True)
class QuotaOp:
    key: str
    value: float
    remove: bool


@dataclass(frozen=True, slots=True)
class QuotaAlteration:
    entity: list[tuple[str, str | None]]
    ops: list[QuotaOp]


def alter_quotas(
    image: MetadataImage, alterations: Iterable[QuotaAlteration]
) -> tuple[list[MetadataRecord], list[tuple[Error | None, list[tuple[str, str | None]]]]]:
    """Records and per-entry results of one AlterClientQuotas request (Kafka's rules).

    An entity named twice, or a key twice within an entry, is INVALID_REQUEST; any invalid
    key or value refuses the entry's every change.  Only changed values become records."""
    records: list[MetadataRecord] = []
    results: list[tuple[Error | None, list[tuple[str, str | None]]]] = []
    seen: set[Entity] = set()
    for alteration in alterations:
        entity = entity_key(alteration.entity)
        error, keys = _entity_error(list(alteration.entity))
        if error is None and entity in seen:
            error = ErrorCode.INVALID_REQUEST, f"Ignoring duplicate entity {_entity_text(entity)}"
        seen.add(entity)
        changes: dict[str, float | None] = {}
        for op in alteration.ops:
            if error is not None:
                break
            if op.key in changes:
                error = (
                    ErrorCode.INVALID_REQUEST,
                    f"Duplicate quota key {op.key} not updating quota for this entity"
                    f" {_entity_text(entity)}",
                )
            elif op.remove:
                changes[op.key] = None
            else:
                error = _value_error(keys, op.key, op.value)
                changes[op.key] = op.value
        results.append((error, alteration.entity))
        if error is not None:
            continue
        current = image.client_quotas.get(entity, {})
        for key, value in changes.items():
            if value is None:
                if key in current:
                    records.append(ClientQuotaRecord(entity, key, remove=True))
            elif current.get(key) != value:
                records.append(ClientQuotaRecord(entity, key, float(value)))
    return records, results


def describe_quotas(
    image: MetadataImage, components: Iterable[tuple[str, int, str | None]], strict: bool
) -> tuple[Error | None, list[tuple[Entity, dict[str, float]]]]:
    """The entities matching a DescribeClientQuotas filter, with their quota values."""
    exact: dict[str, str | None] = {}
    specified: set[str] = set()
    for kind, match_type, match in components:
        if not kind:
            return (ErrorCode.INVALID_REQUEST, "Invalid empty entity type."), []
        if kind in exact or kind in specified:
            return (
                ErrorCode.INVALID_REQUEST,
                f"Entity type {kind} cannot appear more than once in the filter.",
            ), []
        if kind not in ENTITY_TYPES:
            return (ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {kind}"), []
        if match_type == MATCH_EXACT:
            if match is None:
                return (
                    ErrorCode.INVALID_REQUEST,
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                ), []
            exact[kind] = match
        elif match_type in (MATCH_DEFAULT, MATCH_SPECIFIED):
            if match is not None:
                name = (
                    "MATCH_TYPE_DEFAULT" if match_type == MATCH_DEFAULT else "MATCH_TYPE_SPECIFIED"
                )
                return (
                    ErrorCode.INVALID_REQUEST,
                    f"Request specified {name}, but also specified a match string.",
                ), []
            if match_type == MATCH_DEFAULT:
                exact[kind] = None
            else:
                specified.add(kind)
        else:
            return (ErrorCode.INVALID_REQUEST, f"Unknown match type {match_type}"), []
    named = set(exact) | specified
    if IP in named and named & {USER, CLIENT_ID}:
        return (
            ErrorCode.INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be"
            " used with user or clientId filter component.",
        ), []
    found: list[tuple[Entity, dict[str, float]]] = []
    for entity, values in image.client_quotas.items():
        names = dict(entity)
        if strict and len(names) != len(named):
            continue
        if all(kind in names and names[kind] == match for kind, match in exact.items()) and all(
            kind in names for kind in specified
        ):
            found.append((entity, dict(values)))
    return None, found


class QuotaLimits:
    """The quotas of one key (``producer_byte_rate``, ...) by entity, and Kafka's lookup.

    ``resolve(user, client_id)`` gives ``(sensor key, bound)`` or None when no quota applies:
    the sensor key is the (user, client-id) pair whose traffic is counted together, as the
    metric tags of Kafka's DefaultQuotaCallback.
    """

    __slots__ = ("by_entity",)

    def __init__(self, by_entity: dict[tuple[str | None, str | None, bool, bool], float]):
        # (user, client id, has user, has client id) -> bound; None names a default entity.
        self.by_entity = by_entity

    @classmethod
    def from_image(cls, quotas: Mapping[Entity, Mapping[str, float]], key: str) -> QuotaLimits:
        by_entity: dict[tuple[str | None, str | None, bool, bool], float] = {}
        for entity, values in quotas.items():
            if key not in values:
                continue
            names = dict(entity)
            if IP in names:
                continue
            by_entity[names.get(USER), names.get(CLIENT_ID), USER in names, CLIENT_ID in names] = (
                values[key]
            )
        return cls(by_entity)

    def __bool__(self) -> bool:
        return bool(self.by_entity)

    def _get(
        self, user: str | None, client: str | None, has_user: bool, has_client: bool
    ) -> float | None:
        return self.by_entity.get((user, client, has_user, has_client))

    def resolve(self, user: str, client_id: str) -> tuple[tuple[str, str], float] | None:
        tags = self._tags(user, client_id)
        bound = self._bound(*tags)
        return None if bound is None else (tags, bound)

    def _tags(self, user: str, client_id: str) -> tuple[str, str]:
        """Kafka's DefaultQuotaCallback.quotaMetricTags (the general case)."""
        has = self.by_entity.__contains__
        if has((user, client_id, True, True)) or has((user, None, True, True)):
            return user, client_id
        if has((user, None, True, False)):
            return user, ""
        if has((None, client_id, True, True)) or has((None, None, True, True)):
            return user, client_id
        if has((None, None, True, False)):
            return user, ""
        return "", client_id

    def _bound(self, user: str, client_id: str) -> float | None:
        """Kafka's DefaultQuotaCallback.quotaLimit for the sensor's tags."""
        get = self._get
        if user and client_id:
            for candidate in (
                get(user, client_id, True, True),
                get(user, None, True, True),
                get(None, client_id, True, True),
                get(None, None, True, True),
            ):
                if candidate is not None:
                    return candidate
            return None
        if user:
            found = get(user, None, True, False)
            return found if found is not None else get(None, None, True, False)
        if client_id:
            found = get(None, client_id, False, True)
            return found if found is not None else get(None, None, False, True)
        return None


class Rate:
    """Kafka's ``Rate`` over a ``SampledTotal``: ``samples`` windows of ``window_ms``, a
    window starting at its first event; the rate divides by the elapsed time, counted as at
    least ``samples - 1`` full windows (so a first burst is not measured over a few ms)."""

    __slots__ = ("current", "samples", "starts", "totals", "window_ms")

    def __init__(self, samples: int, window_ms: int, now_ms: int) -> None:
        self.samples = samples
        self.window_ms = window_ms
        self.starts = [now_ms]
        self.totals = [0.0]
        self.current = 0

    def record(self, value: float, now_ms: int) -> None:
        if now_ms >= self.starts[self.current] + self.window_ms:
            self.current = (self.current + 1) % self.samples
            if self.current >= len(self.starts):
                self.starts.append(now_ms)
                self.totals.append(0.0)
            else:
                self.starts[self.current] = now_ms
                self.totals[self.current] = 0.0
        self.totals[self.current] += value

    def _purge(self, now_ms: int) -> None:
        expire = self.samples * self.window_ms
        for index, start in enumerate(self.starts):
            if now_ms - start >= expire:
                self.starts[index] = now_ms
                self.totals[index] = 0.0

    def window_size_ms(self, now_ms: int) -> int:
        self._purge(now_ms)
        elapsed = now_ms - min(self.starts)
        full = elapsed // self.window_ms
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return elapsed

    def measure(self, now_ms: int) -> float:
        """Per second."""
        window = self.window_size_ms(now_ms)  # purges first
        return sum(self.totals) / (window / 1000.0)


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """``quota.window.num`` and ``quota.window.size.seconds``."""

    samples: int = 11
    window_ms: int = 1000


class QuotaManager:
    """One quota type's sensors (Kafka's ClientQuotaManager): ``record`` adds a value for a
    (user, client-id) and answers the throttle time in ms (0: within the quota).

    ``max_throttle_ms`` caps the answer (Kafka caps request-time throttles at one window)."""

    __slots__ = ("limits", "max_throttle_ms", "sensors", "window")

    def __init__(
        self, limits: QuotaLimits, window: QuotaWindow, max_throttle_ms: int | None = None
    ) -> None:
        self.limits = limits
        self.window = window
        self.sensors: dict[tuple[str, str], Rate] = {}
        self.max_throttle_ms = max_throttle_ms

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    def set_limits(self, limits: QuotaLimits) -> None:
        """A quota changed: sensors keep their history (Kafka updates the metric config)."""
        self.limits = limits
        if not limits:
            self.sensors.clear()

    def _sensor(self, tags: tuple[str, str], now_ms: int) -> Rate:
        sensor = self.sensors.get(tags)
        if sensor is None:
            sensor = self.sensors[tags] = Rate(self.window.samples, self.window.window_ms, now_ms)
        return sensor

    def record(self, user: str, client_id: str, value: float, now_ms: int) -> int:
        resolved = self.limits.resolve(user, client_id)
        if resolved is None:
            return 0
        tags, bound = resolved
        sensor = self._sensor(tags, now_ms)
        sensor.record(value, now_ms)
        rate = sensor.measure(now_ms)
        if rate <= bound:
            return 0
        throttle = round((rate - bound) / bound * sensor.window_size_ms(now_ms))
        if self.max_throttle_ms is not None:
            throttle = min(throttle, self.max_throttle_ms)
        return int(throttle)

    def unrecord(self, user: str, client_id: str, value: float, now_ms: int) -> None:
        """Take back a value recorded for a response that was not sent (a throttled fetch)."""
        resolved = self.limits.resolve(user, client_id)
        if resolved is not None:
            self._sensor(resolved[0], now_ms).record(-value, now_ms)

    def max_value_in_window(self, user: str, client_id: str) -> float:
        """What the quota allows over the measured window (a fetch's byte budget)."""
        resolved = self.limits.resolve(user, client_id)
        if resolved is None:
            return math.inf
        return resolved[1] * (self.window.samples - 1) * self.window.window_ms / 1000.0


def user_of(principal: str | None) -> str:
    """The user name quotas see: ``User:alice`` -> ``alice``; unauthenticated: ANONYMOUS."""
    if not principal:
        return ANONYMOUS
    return principal.split(":", 1)[1] if ":" in principal else principal


class TokenBucket:
    """Kafka's ``TokenBucket`` stat (KIP-599): ``bound`` tokens a second, holding at most a
    burst of ``samples x window`` seconds' worth; it starts full and may go negative."""

    __slots__ = ("tokens", "updated_ms")

    def __init__(self, burst: float, now_ms: int) -> None:
        self.tokens = burst
        self.updated_ms = now_ms

    def refill(self, bound: float, burst: float, now_ms: int) -> float:
        elapsed = max(now_ms - self.updated_ms, 0)
        self.tokens = min(burst, self.tokens + bound * elapsed / 1000.0)
        self.updated_ms = now_ms
        return self.tokens


class MutationQuotas:
    """``controller_mutation_rate``: partitions created or deleted per second (Kafka's
    ControllerMutationQuotaManager).  A *strict* charge (CreateTopics v6+, CreatePartitions
    v3+, DeleteTopics v5+) refuses a topic while the bucket is below zero
    (THROTTLING_QUOTA_EXCEEDED) and otherwise takes its partitions, which may leave the
    bucket negative; a *permissive* one (older versions) always takes them.  The throttle
    time is the time the bucket needs to climb back to zero."""

    __slots__ = ("buckets", "limits", "window")

    def __init__(self, limits: QuotaLimits, window: QuotaWindow) -> None:
        self.limits = limits
        self.window = window
        self.buckets: dict[tuple[str, str], TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    def set_limits(self, limits: QuotaLimits) -> None:
        self.limits = limits
        if not limits:
            self.buckets.clear()

    def charge(
        self,
        user: str,
        client_id: str,
        costs: Iterable[tuple[K, float]],
        strict: bool,
        now_ms: int,
    ) -> tuple[set[K], int]:
        """Take each named cost in order; the names refused and the throttle time (ms)."""
        resolved = self.limits.resolve(user, client_id)
        if resolved is None:
            return set(), 0
        tags, bound = resolved
        burst = self._burst(bound)
        bucket = self.buckets.get(tags)
        if bucket is None:
            bucket = self.buckets[tags] = TokenBucket(burst, now_ms)
        refused: set[K] = set()
        throttle = 0
        for name, cost in costs:
            tokens = bucket.refill(bound, burst, now_ms)
            if strict and tokens < 0:
                refused.add(name)
                throttle = round(-tokens / bound * 1000)
                continue
            bucket.tokens = min(burst, tokens - cost)
        if not strict and bucket.tokens < 0:
            throttle = round(-bucket.tokens / bound * 1000)
        return refused, int(throttle)

    def deficit_ms(self, user: str, client_id: str, now_ms: int) -> int:
        """How long until the bucket is back at zero (0: it is not below)."""
        resolved = self.limits.resolve(user, client_id)
        if resolved is None or (bucket := self.buckets.get(resolved[0])) is None:
            return 0
        bound = resolved[1]
        tokens = bucket.refill(bound, self._burst(bound), now_ms)
        return round(-tokens / bound * 1000) if tokens < 0 else 0

    def _burst(self, bound: float) -> float:
        return self.window.samples * self.window.window_ms / 1000.0 * bound

    def refund(self, user: str, client_id: str, cost: float) -> None:
        """Give back the cost of a mutation that failed for another reason."""
        resolved = self.limits.resolve(user, client_id)
        if resolved is not None and (bucket := self.buckets.get(resolved[0])) is not None:
            bucket.tokens = min(self._burst(resolved[1]), bucket.tokens + cost)
