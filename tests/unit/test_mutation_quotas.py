"""controller_mutation_rate's token bucket (KIP-599), as Kafka's TokenBucket and
Strict/PermissiveControllerMutationQuota: explicit time, no broker."""

from __future__ import annotations

from broker.core.client_quotas import (
    CLIENT_ID,
    CONTROLLER_MUTATION_RATE,
    MutationQuotas,
    QuotaLimits,
    QuotaWindow,
    TokenBucket,
)

WINDOW = QuotaWindow(samples=11, window_ms=1000)


def _quotas(rate: float = 2.0) -> MutationQuotas:
    limits = QuotaLimits.from_image(
        {((CLIENT_ID, "admin"),): {CONTROLLER_MUTATION_RATE: rate}}, CONTROLLER_MUTATION_RATE
    )
    return MutationQuotas(limits, WINDOW)


def test_the_bucket_refills_at_the_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(22.0, now_ms=0)
    bucket.tokens = -4.0
    assert bucket.refill(2.0, 22.0, 1_000) == -2.0
    assert bucket.refill(2.0, 22.0, 3_000) == 2.0
    assert bucket.refill(2.0, 22.0, 60_000) == 22.0  # never above the burst


def test_strict_charges_until_the_bucket_is_below_zero_then_refuses() -> None:
    quotas = _quotas()  # 2 partitions/s, a burst of 11 x 1 s x 2 = 22
    refused, throttle = quotas.charge("u", "admin", [("a", 20.0), ("b", 5.0)], True, 0)
    assert (refused, throttle) == (set(), 0)  # 22 - 20 - 5 = -3: allowed to go negative
    refused, throttle = quotas.charge("u", "admin", [("c", 1.0)], True, 500)
    assert refused == {"c"}
    assert throttle == 1_000  # -2 tokens at 2/s
    assert quotas.deficit_ms("u", "admin", 1_000) == 500
    assert quotas.deficit_ms("u", "admin", 2_000) == 0
    refused, _ = quotas.charge("u", "admin", [("c", 1.0)], True, 2_000)
    assert refused == set()


def test_permissive_always_charges_and_reports_the_deficit() -> None:
    quotas = _quotas()
    refused, throttle = quotas.charge("u", "admin", [("a", 30.0)], False, 0)
    assert (refused, throttle) == (set(), 4_000)  # 22 - 30 = -8 tokens at 2/s


def test_a_refund_gives_the_cost_back_and_unknown_clients_are_free() -> None:
    quotas = _quotas()
    quotas.charge("u", "admin", [("a", 30.0)], False, 0)
    quotas.refund("u", "admin", 10.0)
    assert quotas.deficit_ms("u", "admin", 0) == 0
    assert quotas.charge("u", "other", [("a", 1_000.0)], True, 0) == (set(), 0)
    assert quotas.deficit_ms("u", "other", 0) == 0
    assert quotas.buckets.keys() == {("", "admin")}


def test_removing_the_quota_forgets_the_buckets() -> None:
    quotas = _quotas()
    quotas.charge("u", "admin", [("a", 30.0)], False, 0)
    quotas.set_limits(QuotaLimits({}))
    assert not quotas.enabled
    assert quotas.buckets == {}
