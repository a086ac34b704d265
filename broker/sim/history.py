"""The end of a run: convergence (L2/L3) and the history checks (P1, P2, P3, P10, P11).

Run after a fault-free tail with every node up.  The cluster must have converged: every
partition led, its ISR all its replicas, every replica's log byte-identical to the leader's and
the HW at the log end; every value a producer sent acked.  Then each acked acks=all value must
sit in the final log exactly where it was acked, each consumed record too (unless the checker
excused its loss, F10/F11), an idempotent producer's values at most once (P11), a value only
ever refused NOT_ENOUGH_REPLICAS nowhere (P10), and acked offsets increase in ack order (P3).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.core.metadata import NO_LEADER, RECOVERED
from broker.core.partition import ACKS_ALL
from broker.sim.checker import Checker
from broker.sim.clients import Send
from broker.sim.messages import TopicPartition
from broker.sim.shadow import Shadow, value_of
from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.sim.cluster import Cluster


@dataclass(slots=True)
class Report:
    """What a run did, for people: counts, excused losses, failover facts."""

    sent: int = 0
    acked: int = 0
    unresolved: int = 0
    not_enough_replicas: int = 0
    timeouts: int = 0
    duplicates: int = 0
    reads: int = 0
    excused_lost: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"sent {self.sent}, acked {self.acked}, unresolved {self.unresolved}, "
            f"NOT_ENOUGH_REPLICAS answers {self.not_enough_replicas}, timeouts "
            f"{self.timeouts}, duplicates {self.duplicates}, reads {self.reads}, "
            f"excused losses {len(self.excused_lost)}"
        )


def converged(cluster: Cluster) -> bool:
    """L3: everyone up, every partition fully replicated and quiet, every value acked."""
    return not convergence_problems(cluster)


def convergence_problems(cluster: Cluster) -> list[str]:
    world = cluster.world
    down = [name for name, host in world.hosts.items() if not host.up or host.paused]
    if down:
        return [f"not running: {down}"]
    controller = cluster.controller_process()
    assert controller is not None
    topic = controller.image.topic(cluster.topic)
    if topic is None:
        return ["no topic"]
    problems = []
    for index, part in sorted(topic.partitions.items()):
        key = (cluster.topic, index)
        if part.leader == NO_LEADER or sorted(part.isr) != sorted(part.replicas):
            problems.append(f"{key}: leader {part.leader}, ISR {list(part.isr)}")
            continue
        if part.leader_recovery_state != RECOVERED:
            problems.append(f"{key}: still RECOVERING")
        problems.extend(_replica_problems(cluster, key, part.leader, part.replicas))
    for host, _ in cluster.clients.producers:
        unresolved = host.process.unresolved  # type: ignore[union-attr]
        if unresolved:
            problems.append(f"{host.name}: {unresolved} values not acked yet")
    return problems


def _replica_problems(
    cluster: Cluster, key: TopicPartition, leader_id: int, replicas: tuple[int, ...]
) -> list[str]:
    leader = cluster.broker_process(leader_id)
    assert leader is not None
    partition = leader.partitions.get(key)
    if partition is None or not partition.is_leader:
        return [f"{key}: broker {leader_id} does not act as leader"]
    problems = []
    if partition.high_watermark != partition.log_end_offset:
        problems.append(
            f"{key}: leader HW {partition.high_watermark} < LEO {partition.log_end_offset}"
        )
    reference = cluster.checker.shadows.get((leader_id, key))
    for replica in replicas:
        shadow = cluster.checker.shadows.get((replica, key))
        if reference is None or shadow is None or shadow.chains[-1:] != reference.chains[-1:]:
            end = shadow.end if shadow else None
            problems.append(
                f"{key}: broker {replica} log (end {end}) differs from the "
                f"leader's (end {reference.end if reference else None})"
            )
    return problems


def final_logs(cluster: Cluster) -> dict[TopicPartition, Shadow]:
    controller = cluster.controller_process()
    assert controller is not None
    topic = controller.image.topic(cluster.topic)
    assert topic is not None
    logs = {}
    for index, part in topic.partitions.items():
        shadow = cluster.checker.shadows.get((part.leader, (cluster.topic, index)))
        if shadow is not None:
            logs[(cluster.topic, index)] = shadow
    return logs


def check_history(cluster: Cluster) -> Report:
    checker = cluster.checker
    report = Report()
    logs = final_logs(cluster)
    values: dict[TopicPartition, dict[int, bytes]] = {
        key: {shadow.start + i: value_of(batch) for i, batch in enumerate(shadow.batches)}
        for key, shadow in logs.items()
    }
    idempotent: dict[bytes, bool] = {}
    for host, state in cluster.clients.producers:
        producer_id = getattr(host.process, "producer_id", -1)
        for send in state.sends:
            idempotent[send.value] = producer_id >= 0
            _check_send(cluster, report, values, send)
    for key, by_offset in values.items():
        counts = Counter(by_offset.values())
        for value, count in sorted(counts.items()):
            if value not in idempotent:
                checker.fail(f"{key}: the log holds {value!r}, which nobody sent")
            elif count > 1:
                report.duplicates += count - 1
                if idempotent[value]:
                    checker.fail(
                        f"{key}: idempotent value {value!r} is in the log {count} times (P11)"
                    )
    for _, state in cluster.clients.consumers:
        for partition, offset, value, server, epoch in state.reads:
            report.reads += 1
            key = (cluster.topic, partition)
            final = values.get(key, {}).get(offset)
            if final != value and checker.excused_record(key, offset, epoch) is None:
                checker.fail(
                    f"{key}: consumer read {value!r} at {offset} from broker "
                    f"{server}; the final log has "
                    f"{values.get(key, {}).get(offset)!r} there (P2)"
                )
    for key, excuses in checker.excuses.items():
        for excuse in excuses:
            shown = b", ".join(excuse.values[:10]).decode()
            report.excused_lost.append(f"{key}@{excuse.offset}.. {excuse.reason}: {shown}")
    return report


def _check_send(
    cluster: Cluster, report: Report, values: dict[TopicPartition, dict[int, bytes]], send: Send
) -> None:
    checker = cluster.checker
    key = (cluster.topic, send.partition)
    report.sent += 1
    outcomes = [outcome for _, outcome in send.attempts]
    report.not_enough_replicas += sum(ErrorCode.NOT_ENOUGH_REPLICAS.name in o for o in outcomes)
    report.timeouts += sum("TIMED_OUT" in o or o.startswith("timeout") for o in outcomes)
    if send.acked_offset is None:
        report.unresolved += 1
        only_refused = outcomes and all(
            o.startswith(ErrorCode.NOT_ENOUGH_REPLICAS.name + " ") for o in outcomes
        )
        if only_refused and send.value in values.get(key, {}).values():
            checker.fail(
                f"{key}: {send.value!r} was only ever refused NOT_ENOUGH_REPLICAS "
                "but is in the log (P10)"
            )
        return
    report.acked += 1
    if send.acks != ACKS_ALL:
        return
    found = values.get(key, {}).get(send.acked_offset)
    if found == send.value:
        return
    if checker.excused_record(key, send.acked_offset, _acked_epoch(checker, send)) is not None:
        return
    checker.fail(
        f"{key}: acked {send.value!r} at {send.acked_offset}, but the final log has "
        f"{found!r} there (P1)"
    )


def check_ack_order(cluster: Cluster) -> None:
    """P3: one acks=all producer's acked offsets on a partition increase in ack order (acks=1
    writes may be truncated and their offsets reused: F6)."""
    for host, state in cluster.clients.producers:
        last: dict[int, tuple[int, int]] = {}
        acked = (s for s in state.sends if s.acked_ms is not None and s.acks == ACKS_ALL)
        for send in sorted(acked, key=lambda s: (s.acked_ms, s.acked_offset)):
            assert send.acked_offset is not None and send.acked_ms is not None
            previous = last.get(send.partition)
            key = (cluster.topic, send.partition)
            if previous is not None and send.acked_offset <= previous[0]:
                earlier, epoch = previous
                if cluster.checker.excused_record(key, earlier, epoch) is None:
                    cluster.checker.fail(
                        f"{host.name}: acked offset {send.acked_offset} on {key} after "
                        f"{earlier} (P3)"
                    )
            last[send.partition] = (send.acked_offset, _acked_epoch(cluster.checker, send))


def _acked_epoch(checker: Checker, send: Send) -> int:
    """The leader epoch stamped on the batch the ack was for (-1: not seen, never excused)."""
    return checker.acked_epochs.get(send.batch, -1)
