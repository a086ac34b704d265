"""kafkajs 2.2.4 (Node) consumer groups against odradek.

kafkajs is installed once per run into a cache outside the package (``kafkajs_modules``
in test_groups_members.py, which fails with the npm error when the registry cannot be
reached).  The script is ``kafkajs/member.js``; the kafkajs lifecycle (two members split,
a third joins, one is SIGKILLed, a crashed group resumes) is
``test_groups_members.py::test_kafkajs_group_lifecycle``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from tests.interop.test_groups_members import (
    BROKER_SETTINGS,
    HEARTBEAT_MS,
    KAFKAJS_DIR,
    SESSION_MS,
    STEP_S,
    MemberPool,
    committed_keys,
    create_topic,
    kafkajs_modules,
    keys,
    members,
    next_offsets,
    produce,
    split,
)

__all__ = ["kafkajs_modules", "members"]  # fixtures, re-exported for pytest

PARTITIONS = 3
RECORDS_PER_PARTITION = 10
TAKE = 17  # what kafkajs commits: not a multiple of anything, so it ends mid-partition


def test_kafkajs_commits_and_kafka_python_resumes_after_them(
    kafkajs_modules: Path, kafka_broker_factory: Any, topic: str
) -> None:
    """kafkajs joins a group, consumes and commits 17 of 30 records and leaves; its
    committed offsets are what an admin client sees, and a kafka-python member of the same
    group resumes exactly after them (no loss, nothing committed comes back)."""
    broker = kafka_broker_factory.start(BROKER_SETTINGS)
    create_topic(broker.bootstrap, topic, PARTITIONS)
    produced = produce(broker.bootstrap, topic, "j", RECORDS_PER_PARTITION, PARTITIONS)
    group = f"g-{topic}"
    config = {
        "bootstrap": broker.bootstrap,
        "topic": topic,
        "group": group,
        "name": "kafkajs-once",
        "session_ms": SESSION_MS,
        "heartbeat_ms": HEARTBEAT_MS,
        "limit": TAKE,
        "exit_at_limit": True,
    }
    done = subprocess.run(
        ["node", str(KAFKAJS_DIR / "member.js"), json.dumps(config)],
        env={**os.environ, "NODE_PATH": str(kafkajs_modules)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    diagnosis = f"rc {done.returncode}\nevents {events}\nstderr:\n{done.stderr.decode()[-4000:]}"
    assert done.returncode == 0, diagnosis
    assert [e["e"] for e in events if e["e"] in ("limit", "closed")] == ["limit", "closed"], (
        diagnosis
    )
    assert not [e for e in events if e["e"] in ("commit_failed", "error")], diagnosis
    assert [e["partitions"] for e in events if e["e"] == "assigned"][-1] == [0, 1, 2]
    committed = [tuple(r) for e in events if e["e"] == "committed" for r in e["records"]]
    assert len(committed) == TAKE, diagnosis
    assert all(produced[(p, o)] == v for p, o, v in committed)
    resume_at = {p: 0 for p in range(PARTITIONS)} | next_offsets(committed)  # type: ignore[arg-type]

    # What kafkajs committed is what the group holds.
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        offsets = admin.list_group_offsets(group)[group]
        state = admin.describe_groups([group])[group]["group_state"]
    finally:
        admin.close()
    assert {tp.partition: meta.offset for tp, meta in offsets.items()} == next_offsets(
        committed  # type: ignore[arg-type]
    )
    assert state == "Empty"  # kafkajs left the group on disconnect

    # A kafka-python member of the same group resumes exactly there.
    expected = sorted(key for key in produced if key[1] >= resume_at[key[0]])
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
    )
    got: list[tuple[int, int, str]] = []
    try:
        consumer.topics()  # metadata before the join: see _kafka_python in test_groups_members
        deadline = time.monotonic() + STEP_S
        while len(got) < len(expected) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                got += [(tp.partition, r.offset, r.value.decode()) for r in records]
        seen = {p: consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        consumer.close()
    assert sorted(keys(got)) == expected, (resume_at, got[:10])
    assert all(produced[(p, o)] == v for p, o, v in got)
    # kafka-python reads kafkajs's commits through OffsetFetch too.
    assert {p: o for p, o in seen.items() if o is not None} == next_offsets(committed)  # type: ignore[arg-type]


def test_two_kafkajs_members_share_partitions(
    kafkajs_modules: Path, kafka_broker_factory: Any, members: MemberPool, topic: str
) -> None:
    """Two kafkajs members (RoundRobinAssigner) split six partitions with no overlap and
    between them commit every record exactly once; when one leaves cleanly the other gets
    everything at once (LeaveGroup, no session timeout)."""
    broker = kafka_broker_factory.start(BROKER_SETTINGS)
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"
    one = members.start("kafkajs", broker.bootstrap, topic, group)
    two = members.start("kafkajs", broker.bootstrap, topic, group)
    members.wait(lambda: split([one, two]), "two kafkajs members split the partitions")
    assert len(one.assignment) == len(two.assignment) == 3
    produced = produce(broker.bootstrap, topic, "k")
    members.wait(lambda: committed_keys([one, two]) >= produced.keys(), "all committed")
    assert sorted(keys(one.committed) + keys(two.committed)) == sorted(produced)
    assert {p for p, _ in keys(one.committed)} == set(one.assignment)
    left_at = time.monotonic()
    one.close()
    members.wait(lambda: len(two.assignment) == 6, "the survivor took all after a clean leave")
    took = time.monotonic() - left_at
    print(f"\n[kafkajs] partitions moved {took:.2f} s after a clean leave")
    assert took < SESSION_MS / 1000, "a LeaveGroup must not wait for the session timeout"
    two.close()
    assert one.saw("closed") and two.saw("closed"), members.describe()
