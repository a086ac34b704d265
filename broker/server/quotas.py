"""The broker's client quotas: byte rates of produce and fetch, request time, connection
creation per IP (Kafka's QuotaFactory managers), fed from the metadata image.

Nothing runs while no quota is set (``active`` is False): the dispatcher checks one
attribute per request.  When a request breaks its quota the response carries
``throttle_time_ms`` and the connection reads nothing more from the client until that time
has passed (KIP-219: Kafka mutes the channel after sending the response).

- Produce: the request's size counts against ``producer_byte_rate`` (acks=0 too), its
  handling time against ``request_percentage`` (not for acks=0).
- Fetch (consumers only; followers are exempt): the response's record bytes count against
  ``consumer_byte_rate``; a fetch over the quota is answered empty (and its bytes taken back),
  and its ``max_bytes`` is capped at what the quota allows over the quota window.
- Every other request on a client listener: its handling time against
  ``request_percentage`` (the time the handler ran, not the time it waited), except those of
  other brokers (WriteTxnMarkers, follower fetches).
- ``connection_creation_rate`` of an ip entity (on every listener, as Kafka): a connection
  over the rate is not counted and is closed after the throttle time, at most one window
  (Kafka's delayed close).
"""

from __future__ import annotations

import time
import types
from collections.abc import Awaitable, Generator, Mapping
from typing import Any, TypeVar

from broker.core.client_quotas import (
    CONNECTION_CREATION_RATE,
    CONSUMER_BYTE_RATE,
    CONTROLLER_MUTATION_RATE,
    IP,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    Entity,
    MutationQuotas,
    QuotaLimits,
    QuotaManager,
    QuotaWindow,
    Rate,
    user_of,
)
from broker.server.clock import monotonic_ms

T = TypeVar("T")

# The connection-state key of the time (monotonic ms) until which the connection is muted.
MUTED_UNTIL = "quota_muted_until_ms"
PRINCIPAL = "principal"
WRITE_TXN_MARKERS = 27
# Request time as a percentage of one thread over a second (Kafka's nanosToPercentage).
_NANOS_TO_PERCENTAGE = 100.0 / 1e9


class BrokerQuotas:
    def __init__(self, window: QuotaWindow) -> None:
        self.window = window
        empty = QuotaLimits({})
        self.produce = QuotaManager(empty, window)
        self.fetch = QuotaManager(empty, window)
        self.request = QuotaManager(empty, window, max_throttle_ms=window.window_ms)
        self.mutation = MutationQuotas(empty, window)
        self.connection_limits: dict[str | None, float] = {}
        self.connection_rates: dict[str, Rate] = {}
        self.active = False

    def refresh(self, quotas: Mapping[Entity, Mapping[str, float]]) -> None:
        """The image's quotas changed (or were loaded)."""
        self.produce.set_limits(QuotaLimits.from_image(quotas, PRODUCER_BYTE_RATE))
        self.fetch.set_limits(QuotaLimits.from_image(quotas, CONSUMER_BYTE_RATE))
        self.request.set_limits(QuotaLimits.from_image(quotas, REQUEST_PERCENTAGE))
        self.mutation.set_limits(QuotaLimits.from_image(quotas, CONTROLLER_MUTATION_RATE))
        self.connection_limits = {
            dict(entity)[IP]: values[CONNECTION_CREATION_RATE]
            for entity, values in quotas.items()
            if IP in dict(entity) and CONNECTION_CREATION_RATE in values
        }
        if not self.connection_limits:
            self.connection_rates.clear()
        self.active = bool(
            self.produce.enabled
            or self.fetch.enabled
            or self.request.enabled
            or self.mutation.enabled
            or self.connection_limits
        )

    # -- connections ---------------------------------------------------------------------

    def connection_throttle_ms(self, ip: str) -> int:
        """Count a new connection from ``ip``; the ms to wait before closing it, or 0."""
        if not self.connection_limits:
            return 0
        bound = self.connection_limits.get(ip, self.connection_limits.get(None))
        if bound is None:
            return 0
        now = monotonic_ms()
        rate = self.connection_rates.get(ip)
        if rate is None:
            rate = self.connection_rates[ip] = Rate(self.window.samples, self.window.window_ms, now)
        rate.record(1.0, now)
        measured = rate.measure(now)
        if measured <= bound:
            return 0
        rate.record(-1.0, now)  # a refused connection does not count (Kafka)
        throttle = round((measured - bound) / bound * rate.window_size_ms(now))
        return min(throttle, self.window.window_ms)  # bounded by one window, as Kafka

    # -- requests ------------------------------------------------------------------------

    def wants_request_time(self, user: str, client_id: str) -> bool:
        return self.request.enabled and self.request.limits.resolve(user, client_id) is not None

    def request_throttle_ms(self, user: str, client_id: str, nanos: int) -> int:
        return self.request.record(user, client_id, nanos * _NANOS_TO_PERCENTAGE, monotonic_ms())

    def produce_throttle_ms(self, user: str, client_id: str, size: int) -> int:
        if not self.produce.enabled:
            return 0
        return self.produce.record(user, client_id, float(size), monotonic_ms())

    def fetch_budget(self, user: str, client_id: str) -> float:
        return (
            self.fetch.max_value_in_window(user, client_id) if self.fetch.enabled else float("inf")
        )

    def fetch_throttle_ms(self, user: str, client_id: str, size: int) -> int:
        """Record a consumer fetch's response bytes; over the quota they are taken back (the
        response goes out empty) and the throttle time is answered."""
        if not self.fetch.enabled:
            return 0
        now = monotonic_ms()
        throttle = self.fetch.record(user, client_id, float(size), now)
        if throttle > 0:
            self.fetch.unrecord(user, client_id, float(size), now)
        return throttle


def charge_mutations(
    quotas: BrokerQuotas | None,
    client_id: str,
    costs: list[tuple[int, float]],
    strict: bool,
) -> tuple[set[int], int]:
    """Charge the partitions each item of a CreateTopics / CreatePartitions / DeleteTopics
    request creates or deletes (by item index) to ``controller_mutation_rate``: the items
    refused and the throttle time."""
    if quotas is None or not quotas.mutation.enabled or not costs:
        return set(), 0
    user = connection_user(current_connection_state_value())
    return quotas.mutation.charge(user, client_id, costs, strict, monotonic_ms())


def refund_mutation(quotas: BrokerQuotas | None, client_id: str, cost: float) -> None:
    if quotas is not None and quotas.mutation.enabled and cost:
        user = connection_user(current_connection_state_value())
        quotas.mutation.refund(user, client_id, cost)


def mutation_throttle_ms(quotas: BrokerQuotas | None, client_id: str) -> int:
    """After the refunds: the time until the client's bucket is back at zero."""
    if quotas is None or not quotas.mutation.enabled:
        return 0
    user = connection_user(current_connection_state_value())
    return quotas.mutation.deficit_ms(user, client_id, monotonic_ms())


def current_connection_state_value() -> dict[str, Any]:
    from broker.server.connection import current_connection_state

    return current_connection_state.get({})


def connection_user(state: Mapping[str, Any]) -> str:
    return user_of(state.get(PRINCIPAL))


def mute(state: dict[str, Any], throttle_ms: int) -> None:
    """Read nothing more from this connection for ``throttle_ms``."""
    if throttle_ms > 0:
        until = monotonic_ms() + throttle_ms
        if until > state.get(MUTED_UNTIL, 0):
            state[MUTED_UNTIL] = until


@types.coroutine
def _relay(awaited: Any) -> Generator[Any, Any, Any]:
    return (yield awaited)


async def run_timed(awaitable: Awaitable[T]) -> tuple[T, int]:
    """Await ``awaitable`` and measure the time it ran (ns), leaving out the time it waited:
    each step between two suspensions is timed, which is what Kafka's request quota counts
    (the request handler thread's time, not the purgatory's)."""
    steps = awaitable.__await__()
    spent = 0
    sent: Any = None
    error: BaseException | None = None
    clock = time.perf_counter_ns
    try:
        while True:
            start = clock()
            try:
                awaited = steps.send(sent) if error is None else steps.throw(error)
            except StopIteration as stop:
                spent += clock() - start
                result: T = stop.value
                return result, spent
            spent += clock() - start
            error = None
            try:
                sent = await _relay(awaited)
            except BaseException as problem:  # cancellation too: the awaitable handles it
                error = problem
    finally:
        steps.close()
