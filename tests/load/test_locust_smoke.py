"""Every locustfile of ``bench/load`` runs headless for a few seconds against a test broker:
requests succeed and are reported (Locust's stats CSV has produce/fetch rows with requests and
no failures), and the step shape prints the highest sustainable rate.

Bounded: a handful of users, ``-t 3s`` (group consumers 6 s: the group rebalances as each
member joins; the step shape: three 1 s steps), and a subprocess timeout.  The broker runs in
this process (the ``kafka_broker`` fixture) or is any broker named by
``ODRADEK_TEST_BOOTSTRAP``.  Runs against a 3-broker cluster and distributed runs (a master
and two workers) are in ``test_locust_cluster.py``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from client.blocking import AdminClient
from tests.load.locust_support import assert_reported, new_topic, run_locust, stats

# The broker's group.initial.rebalance.delay.ms (Kafka's default: 3000) holds a new group's
# first assignment back; a few-second run cannot wait for it.
NO_INITIAL_REBALANCE_DELAY = {"group.initial.rebalance.delay.ms": "0"}


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    """$ODRADEK_TEST_BOOTSTRAP, or a fresh in-process odradek broker."""
    external = os.environ.get("ODRADEK_TEST_BOOTSTRAP")
    if external:
        return external
    return str(request.getfixturevalue("kafka_broker").bootstrap)


@pytest.fixture
def group_bootstrap(request: pytest.FixtureRequest) -> str:
    """$ODRADEK_TEST_BOOTSTRAP, or an in-process broker that assigns a new group at once."""
    external = os.environ.get("ODRADEK_TEST_BOOTSTRAP")
    if external:
        return external
    factory = request.getfixturevalue("kafka_broker_factory")
    return str(factory.start(NO_INITIAL_REBALANCE_DELAY).bootstrap)


SHORT_RUN = ("-u", "4", "-r", "4", "-t", "3s")


@pytest.mark.parametrize("acks", ["1", "all"])
def test_produce_locustfile(bootstrap: str, tmp_path: Path, acks: str) -> None:
    out = tmp_path / "produce"
    run_locust("bench/load/produce.py", bootstrap, out, *SHORT_RUN, "--acks", acks,
               "--keyed", "true", "--record-size", "200")  # fmt: skip
    assert_reported(stats(out), "produce")


def test_consume_locustfile(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "consume"
    run_locust("bench/load/consume.py", bootstrap, out, *SHORT_RUN, "--seed-records", "2000")
    assert_reported(stats(out), "fetch")


def test_consume_locustfile_with_group_consumers(group_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "group"
    topic, group = new_topic(), new_topic()
    # The group rebalances as each member joins; an external broker may also delay the first
    # assignment (group.initial.rebalance.delay.ms, 3 s by default).
    run_time = "9s" if os.environ.get("ODRADEK_TEST_BOOTSTRAP") else "6s"
    run_locust("bench/load/consume.py", group_bootstrap, out, "-u", "3", "-r", "3",
               "-t", run_time, "--seed-records", "2000", "--consumer-mode", "group",
               "--group-id", group, topic=topic)  # fmt: skip
    assert_reported(stats(out), "fetch")
    # The users were members of the group: leaving it, they committed their positions.
    with AdminClient(bootstrap_servers=group_bootstrap) as admin:
        committed = admin.list_group_offsets(group)
    assert {tp.topic for tp in committed} == {topic}, committed


def test_mixed_locustfile_reports_end_to_end_latency(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    run_locust("bench/load/mixed.py", bootstrap, out, *SHORT_RUN)
    assert_reported(stats(out), "produce", "fetch", "e2e")


def test_step_shape_finds_a_sustainable_rate(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "step"
    shape = {
        "ODRADEK_STEP_USERS": "2",
        "ODRADEK_STEP_SECONDS": "1",
        "ODRADEK_MAX_USERS": "6",
        "ODRADEK_P99_MS": "10000",
    }
    completed = run_locust(
        "bench/load/produce.py,bench/load/step_shape.py", bootstrap, out, env=shape
    )
    assert "highest sustainable rate:" in completed.stdout, completed.stdout[-3000:]
    assert completed.stdout.count("step ") >= 2
    assert_reported(stats(out), "produce")


def test_failures_are_named_by_their_kafka_error(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "too-large"
    # Above max.request.size (1 MiB): every send fails before it is written.
    run_locust("bench/load/produce.py", bootstrap, out, "-u", "1", "-r", "1", "-t", "2s",
               "--record-size", "2000000", exit_code=1)  # fmt: skip
    count, failures = stats(out)["produce"]
    assert count == failures > 0
    with Path(f"{out}_failures.csv").open(newline="") as file:
        errors = {row["Error"] for row in csv.DictReader(file)}
    assert errors == {"MESSAGE_TOO_LARGE (not written)"}
