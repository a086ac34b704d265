"""``mixed.py`` against a 3-broker cluster (``LocalCluster``: a controller and three broker
processes on free ports) with ``acks=all``: once in one Locust process with group consumers,
once distributed (a master and two worker processes on 127.0.0.1) with assigned ones.
Requests succeed, are reported, and -- in the distributed run -- are aggregated from both
workers (``worker_census.py`` counts each worker's requests under its own name in the
master's ``--csv``).

Bounded: a few seconds of load per run (group consumers get two more: the group rebalances as
each member joins, slowly on a busy machine), a timeout on every process, each process stopped
by its PID afterwards.  ``ODRADEK_TEST_CLUSTER_BOOTSTRAP`` names an existing cluster instead
(with ``group.initial.rebalance.delay.ms=0``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from broker.cluster_launcher import LocalCluster
from client.admin import AdminClient as AsyncAdminClient
from client.admin import ConfigResource, ConfigResourceType
from client.blocking import AdminClient
from tests.load.locust_support import (
    assert_reported,
    new_topic,
    run_distributed,
    run_locust,
    stats,
    stats_rows,
)

BROKERS = 3
# A new group is assigned at once (Kafka's default delay, 3 s, would eat a short run).
CLUSTER_SETTINGS = {"group.initial.rebalance.delay.ms": "0"}
CENSUS = "worker"


@pytest.fixture(scope="module")
def cluster_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """$ODRADEK_TEST_CLUSTER_BOOTSTRAP, or a fresh 3-broker cluster for this module."""
    external = os.environ.get("ODRADEK_TEST_CLUSTER_BOOTSTRAP")
    if external:
        yield external
        return
    cluster = LocalCluster(tmp_path_factory.mktemp("locust-cluster"), BROKERS, 0, CLUSTER_SETTINGS)
    try:
        cluster.start()
        yield cluster.bootstrap
    finally:
        cluster.stop()


def replica_counts(bootstrap: str, topic: str) -> set[tuple[int, int]]:
    """{(replicas, in-sync replicas)} over the topic's partitions."""
    with AdminClient(bootstrap_servers=bootstrap) as admin:
        partitions = admin.describe_topics([topic])[topic].partitions
    return {(len(partition.replicas), len(partition.isr)) for partition in partitions}


def topic_config(bootstrap: str, topic: str, key: str) -> str | None:
    """One config value of ``topic`` (DescribeConfigs)."""

    async def describe() -> str | None:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        async with AsyncAdminClient(bootstrap_servers=bootstrap) as admin:
            described = await admin.describe_configs([resource], keys=[key])
        return described[resource][key].value

    return anyio.run(describe)


def test_mixed_locustfile_on_a_cluster_with_acks_all(
    cluster_bootstrap: str, tmp_path: Path
) -> None:
    out = tmp_path / "cluster"
    topic = new_topic()
    run_locust("bench/load/mixed.py", cluster_bootstrap, out, "-u", "6", "-r", "6", "-t", "6s",
               "--partitions", "3", "--acks", "all", "--consumer-mode", "group",
               "--group-id", new_topic(), topic=topic)  # fmt: skip
    assert_reported(stats(out), "produce", "fetch", "e2e")
    # Created with the default replication: one replica per broker, all in sync, and acks=all
    # needing two of the three.
    assert replica_counts(cluster_bootstrap, topic) == {(BROKERS, BROKERS)}
    assert topic_config(cluster_bootstrap, topic, "min.insync.replicas") == "2"


def test_distributed_run_aggregates_both_workers(cluster_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "distributed"
    code, output = run_distributed(
        "bench/load/mixed.py,tests/load/worker_census.py",
        2,
        out,
        # Locust deals the users out class by class, worker by worker: with two classes of equal
        # weight, one worker runs the 4 consumers (each partition read twice over), the other
        # the 4 producers -- so ``e2e`` crosses processes.
        ["--host", cluster_bootstrap, "-u", "8", "-r", "8", "-t", "4s",
         "--topic", new_topic(), "--partitions", "2", "--acks", "all"],
    )  # fmt: skip
    assert code == 0, output[-6000:]
    rows = stats_rows(out)
    census = {name: counts for (kind, name), counts in rows.items() if kind == CENSUS}
    load = {key: counts for key, counts in rows.items() if key[0] != CENSUS}
    assert_reported(stats(out), "produce", "fetch", "e2e")
    # Both workers' requests reached the master's figures, and nothing else did.
    assert set(census) == {"worker-0", "worker-1"}, (rows, output[-3000:])
    assert all(count > 0 and failures == 0 for count, failures in census.values()), rows
    assert sum(count for count, _ in census.values()) == sum(c for c, _ in load.values()), rows
