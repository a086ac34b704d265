"""Fixed fault schedules for replication.md's scenarios (F1-F15), on the same cluster.

Each is ``(configure(seed) -> SimConfig, schedule(cluster))``: the schedule drives the run and
checks what the scenario promises (``expect`` records a violation when it does not hold); the
runner then heals, runs the fault-free tail and checks convergence and the whole history, as for
random seeds.  One partition (``t-0``) unless stated; the seed only jitters the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.core.metadata import NO_LEADER, RECOVERING
from broker.core.partition import ACKS_LEADER
from broker.sim.cluster import Cluster, SimConfig
from broker.sim.messages import CONTROLLER, broker_host
from broker.sim.scenario_tools import (
    KEY,
    Schedule,
    acked,
    base,
    both_have,
    expect,
    follower,
    leader,
    leader_acks_after,
    log_end,
    read_from,
    wait_for,
)
from client.protocol.errors import ErrorCode

# -- the scenarios ------------------------------------------------------------------------


def f1_leader_kill(cluster: Cluster) -> None:
    """kill -9 the leader mid-stream: a new leader from the ISR at epoch+1, quickly."""
    cluster.run_for(3000)
    before = cluster.partition_state()
    old, count = before.leader, acked(cluster)
    killed_ms = cluster.world.now_ms
    cluster.crash_broker(old)
    wait_for(cluster, "a new leader", lambda: leader(cluster) not in (old, NO_LEADER), 10_000)
    after = cluster.partition_state()
    expect(cluster, after.leader in before.isr, f"the new leader {after.leader} in {before.isr}")
    expect(cluster, after.leader_epoch == before.leader_epoch + 1, "the leader epoch + 1")
    wait_for(cluster, "acks=all again", lambda: acked(cluster) > count + 1, 10_000)
    cluster.checker.note(
        f"F1 failover: kill to first acks=all success {cluster.world.now_ms - killed_ms} ms"
    )
    cluster.run_for(2000)
    cluster.restart_broker(old)
    cluster.run_for(3000)


def f2_follower_restart(cluster: Cluster) -> None:
    """A follower crashes and returns: the ISR shrinks through the controller, acks=all goes
    on, the follower comes back with a new broker epoch and rejoins."""
    cluster.run_for(2000)
    victim = follower(cluster)
    old_epoch = cluster.controller_process().image.brokers[victim].broker_epoch  # type: ignore[union-attr]
    cluster.crash_broker(victim)
    wait_for(
        cluster,
        "the ISR without the follower",
        lambda: victim not in cluster.partition_state().isr,
        5000,
    )
    count = acked(cluster)
    cluster.run_for(3000)
    expect(cluster, acked(cluster) > count + 10, "acks=all to go on without the follower")
    cluster.restart_broker(victim)
    wait_for(
        cluster,
        "the follower back in the ISR",
        lambda: victim in cluster.partition_state().isr,
        15_000,
    )
    image = cluster.controller_process().image  # type: ignore[union-attr]
    expect(cluster, image.brokers[victim].broker_epoch > old_epoch, "a new broker epoch")


def _f3_setup(cluster: Cluster) -> int:
    """100 records acked on all brokers; a follower stopped; 100-149 acked without it."""
    producer = cluster.producer()
    producer.limit = 100
    wait_for(
        cluster,
        "100 acked records on every broker",
        lambda: (
            acked(cluster) == 100
            and all(
                broker.partitions[KEY].high_watermark == 100 for _, broker in cluster.live_brokers()
            )
        ),
        20_000,
    )
    stale = follower(cluster)
    cluster.crash_broker(stale)
    producer.limit = 150
    wait_for(cluster, "offsets 100-149 acked", lambda: acked(cluster) == 150, 20_000)
    return stale


def f3_stale_rejoin(cluster: Cluster) -> None:
    """Seed 001: the stale broker is out of the ISR and unelectable until it caught up, answers
    NOT_LEADER_OR_FOLLOWER (never "not found"), and rejoins byte-identical below the HW."""
    stale = _f3_setup(cluster)
    leader_id = leader(cluster)
    for other in cluster.broker_ids:
        if other not in (stale, leader_id):
            cluster.world.cut_link(broker_host(stale), broker_host(other))
    cluster.world.cut_link(broker_host(stale), broker_host(leader_id))  # no catching up yet
    cluster.restart_broker(stale)
    cluster.run_for(2000)
    state = cluster.partition_state()
    expect(cluster, stale not in state.isr and state.leader != stale, "the stale one out")
    answer = read_from(cluster, stale, 125, -1)
    expect(
        cluster,
        getattr(answer, "error_code", None) is ErrorCode.NOT_LEADER_OR_FOLLOWER,
        f"NOT_LEADER_OR_FOLLOWER for offset 125 from the stale broker, got {answer}",
    )
    cluster.world.heal()
    wait_for(
        cluster,
        "the stale broker back in the ISR",
        lambda: stale in cluster.partition_state().isr,
        15_000,
    )
    shadows = cluster.checker.shadows
    expect(
        cluster,
        shadows[(stale, KEY)].batches[:150] == shadows[(leader_id, KEY)].batches[:150],
        "the rejoined broker byte-identical below the HW",
    )


def f3_only_stale_alive(cluster: Cluster) -> None:
    """F3 when the stale broker is the only one alive: the partition goes offline."""
    stale = _f3_setup(cluster)
    others = [b for b in cluster.broker_ids if b != stale]
    for other in others:
        cluster.crash_broker(other)
    cluster.restart_broker(stale)
    cluster.run_for(5000)
    state = cluster.partition_state()
    expect(cluster, state.leader == NO_LEADER, f"the partition offline, leader {state.leader}")
    answer = read_from(cluster, stale, 125, -1)
    expect(
        cluster,
        getattr(answer, "error_code", None) is ErrorCode.NOT_LEADER_OR_FOLLOWER,
        f"NOT_LEADER_OR_FOLLOWER from the lone stale broker, got {answer}",
    )
    for other in others:
        cluster.restart_broker(other)


def f4_epoch_divergence(cluster: Cluster) -> None:
    """KIP-101: RF 2, acks=1; B misses 10-14, crashes; A loses power from 5 and leads again
    with new 5-14; B must truncate to 5 by epoch, not to its HW (then the logs converge)."""
    producer = cluster.producer()
    producer.limit = 5
    a = leader(cluster)
    b = follower(cluster)
    wait_for(cluster, "0-4 on both", lambda: both_have(cluster, 5), 10_000)
    log_a = cluster.broker_process(a).partition_log("t", 0)  # type: ignore[union-attr]
    log_a.flush()  # A's offsets 0-4 reach its disk; nothing later will
    producer.limit = 10
    wait_for(cluster, "0-9 on both", lambda: both_have(cluster, 10), 10_000)
    cluster.world.cut_link(broker_host(a), broker_host(b))
    producer.limit = 15
    wait_for(cluster, "10-14 on A alone", lambda: log_end(cluster, a) == 15, 10_000)
    cluster.crash_broker(b, power_loss=False)
    cluster.run_for(500)
    cluster.crash_broker(a, power_loss=True)
    cluster.world.heal()
    cluster.restart_broker(a)
    producer.limit = 30
    wait_for(cluster, "A leading with new records to 14", lambda: log_end(cluster, a) >= 15, 20_000)
    cluster.restart_broker(b)
    cluster.run_for(5000)
    truncated = any(
        "truncating to offset 5 " in line
        for _, who, line in cluster.world.history
        if who == broker_host(b)
    )
    expect(cluster, truncated, "B to truncate to offset 5 by leader epoch")


def f5_double_failover(cluster: Cluster) -> None:
    """Two leader changes within one fetch round trip (KIP-279): no divergence remains."""
    cluster.run_for(2000)
    first = leader(cluster)
    cluster.crash_broker(first)
    wait_for(cluster, "a second leader", lambda: leader(cluster) not in (first, NO_LEADER), 5000)
    second = leader(cluster)
    cluster.run_for(20)
    cluster.crash_broker(second)
    cluster.run_for(30)
    cluster.restart_broker(first)
    wait_for(cluster, "a third leader", lambda: leader(cluster) not in (second, NO_LEADER), 10_000)
    cluster.run_for(100)
    cluster.restart_broker(second)
    cluster.run_for(5000)


def _cut_off_leader(
    cluster: Cluster, cut: Callable[[int], None], undo: Callable[[int], None]
) -> None:
    """F6/F7: after the controller elects another leader, the old one acks nothing acks=all."""
    cluster.run_for(2000)
    old = leader(cluster)
    epoch = cluster.partition_state().leader_epoch
    cut(old)
    wait_for(cluster, "a new leader", lambda: leader(cluster) not in (old, NO_LEADER), 10_000)
    elected_ms = cluster.world.now_ms
    new_epoch = cluster.partition_state().leader_epoch
    expect(cluster, new_epoch > epoch, "a new leader epoch")
    cluster.run_for(3000)
    undo(old)
    cluster.run_for(5000)
    stale = leader_acks_after(cluster, old, new_epoch, elected_ms)
    expect(cluster, stale == 0, f"no acks=all success from the deposed leader ({stale})")


def f6_leader_cut_from_controller(cluster: Cluster) -> None:
    def cut(broker: int) -> None:
        cluster.world.cut_link(broker_host(broker), CONTROLLER)

    _cut_off_leader(cluster, cut, lambda b: cluster.world.heal())


def f7_zombie_leader(cluster: Cluster) -> None:
    def pause(broker: int) -> None:
        cluster.world.pause(broker_host(broker))

    _cut_off_leader(cluster, pause, lambda b: cluster.world.resume(broker_host(b)))


def f8_slow_follower(cluster: Cluster) -> None:
    """A follower slower than replica.lag.time.max.ms leaves through AlterPartition, the HW
    goes on, and it rejoins once fast again."""
    cluster.run_for(2000)
    slow, boss = follower(cluster), leader(cluster)
    cluster.world.slow_link(broker_host(slow), broker_host(boss), cluster.lag_ms * 2)
    wait_for(
        cluster,
        "the slow follower out of the ISR",
        lambda: slow not in cluster.partition_state().isr,
        cluster.lag_ms * 4,
    )
    count = acked(cluster)
    cluster.run_for(2000)
    expect(cluster, acked(cluster) > count + 10, "the HW to move without the slow follower")
    cluster.world.heal()
    wait_for(
        cluster,
        "the follower back in the ISR",
        lambda: slow in cluster.partition_state().isr,
        20_000,
    )


def f9_below_min_isr(cluster: Cluster) -> None:
    """Kill 2 of 3: NOT_ENOUGH_REPLICAS, nothing appended, the HW frozen (acks=1 too); one
    back and writes resume without loss."""
    cluster.run_for(2000)
    boss = leader(cluster)
    down = [b for b in cluster.broker_ids if b != boss]
    for broker in down:
        cluster.crash_broker(broker)
    wait_for(
        cluster,
        "the ISR down to the leader",
        lambda: cluster.partition_state().isr == (boss,),
        5000,
    )
    partition = cluster.broker_process(boss).partitions[KEY]  # type: ignore[union-attr]
    frozen, count = partition.high_watermark, acked(cluster)
    cluster.run_for(6000)  # longer than the produce timeout: the parked write times out
    expect(cluster, partition.high_watermark == frozen, "the HW frozen below min ISR")
    expect(cluster, acked(cluster) == count, "no acks=all success below min ISR")
    refused = sum(
        "NOT_ENOUGH_REPLICAS from" in outcome
        for s in cluster.clients.producers[0][1].sends
        for _, outcome in s.attempts
    )
    expect(cluster, refused > 0, "NOT_ENOUGH_REPLICAS answers")
    cluster.restart_broker(down[0])
    wait_for(cluster, "acks=all again", lambda: acked(cluster) > count + 10, 15_000)
    cluster.restart_broker(down[1])


def f10_last_replica_standing(cluster: Cluster) -> None:
    """min ISR 1: the leader acks alone, loses its unsynced tail to power loss, and is elected
    again as the last ISR member: acked records are lost, and the checker must say so."""
    cluster.run_for(2000)
    boss = leader(cluster)
    down = [b for b in cluster.broker_ids if b != boss]
    for broker in down:
        cluster.crash_broker(broker)
    wait_for(
        cluster,
        "the ISR down to the leader",
        lambda: cluster.partition_state().isr == (boss,),
        5000,
    )
    count = acked(cluster)
    wait_for(cluster, "acks from the lone leader", lambda: acked(cluster) > count + 20, 5000)
    cluster.crash_broker(boss, power_loss=True)
    cluster.restart_broker(boss)
    wait_for(cluster, "the lone replica leading again", lambda: leader(cluster) == boss, 10_000)
    for broker in down:
        cluster.restart_broker(broker)
    cluster.run_for(5000)
    expect(cluster, bool(cluster.checker.excuses.get(KEY)), "the loss listed as excused (F10)")


def f11_unclean(cluster: Cluster) -> None:
    """Last replica standing dies; a stale replica comes back: with unclean election off the
    partition stays offline and nothing is lost; on, it leads RECOVERING and the loss is listed."""
    cluster.run_for(2000)
    boss = leader(cluster)
    down = [b for b in cluster.broker_ids if b != boss]
    for broker in down:
        cluster.crash_broker(broker)
    count = acked(cluster)
    wait_for(cluster, "acks from the lone leader", lambda: acked(cluster) > count + 20, 8000)
    cluster.crash_broker(boss)
    for broker in down:
        cluster.restart_broker(broker)
    cluster.run_for(3000)
    state = cluster.partition_state()
    if cluster.config.unclean:
        expect(cluster, state.leader in down, f"an unclean leader, got {state.leader}")
        expect(
            cluster,
            state.leader_recovery_state == RECOVERING or len(state.isr) > 1,
            "RECOVERING after the unclean election",
        )
        expect(cluster, bool(cluster.checker.excuses.get(KEY)), "the lost offsets listed")
        logged = any("UNCLEAN leader election" in line for _, _, line in cluster.world.history)
        expect(cluster, logged, "the unclean election logged")
    else:
        expect(cluster, state.leader == NO_LEADER, f"the partition offline, got {state.leader}")
    cluster.restart_broker(boss)
    cluster.run_for(3000)


def f12_controller_restart(cluster: Cluster) -> None:
    """kill -9 the controller during ISR churn: the replayed image equals the old one (P12,
    checked by Cluster.restart_controller) and the pending ISR change goes through after."""
    cluster.run_for(2000)
    victim = follower(cluster)
    cluster.crash_broker(victim)
    cluster.run_for(1000)
    cluster.restart_broker(victim)
    cluster.run_for(15)
    cluster.crash_controller()
    cluster.run_for(1500)
    cluster.restart_controller()
    wait_for(
        cluster,
        "the follower back in the ISR",
        lambda: victim in cluster.partition_state().isr,
        15_000,
    )


def f13_clock_jump(cluster: Cluster) -> None:
    """Wall clocks jump an hour: no ISR change, fencing or election (timeouts are monotonic)."""
    cluster.run_for(3000)
    records = len(cluster.controller_process().disk.records)  # type: ignore[union-attr]
    for name in [CONTROLLER, *(broker_host(b) for b in cluster.broker_ids)]:
        cluster.world.jump_wall_clock(name, 3_600_000 if name.endswith(("1", "3")) else -3_600_000)
    cluster.run_for(10_000)
    after = len(cluster.controller_process().disk.records)  # type: ignore[union-attr]
    expect(cluster, after == records, f"no metadata change after the jump ({after - records})")


def f14_retry_duplicates(cluster: Cluster) -> None:
    """Lost produce responses (resets) make the producer retry: idempotent, no duplicates
    (the history check, P11); otherwise the duplicates are counted."""
    cluster.world.network.drop_probability = 0.03
    cluster.run_for(10_000)
    cluster.world.network.drop_probability = 0.0


def f15_controlled_shutdown(cluster: Cluster) -> None:
    """SIGTERM the leader: its leadership moves before it exits, no acks=all request fails."""
    cluster.run_for(2000)
    boss = leader(cluster)
    cluster.shutdown_broker(boss)
    host = cluster.world.hosts[broker_host(boss)]
    moved_first = [False]

    def exited() -> bool:
        if host.up:
            moved_first[0] = leader(cluster) != boss
        return not host.up

    wait_for(cluster, "the broker to exit", exited, 15_000)
    expect(cluster, moved_first[0], "the leadership moved before the exit")
    failures = [
        o
        for s in cluster.clients.producers[0][1].sends
        for _, o in s.attempts
        if "TIMED_OUT" in o or "NOT_ENOUGH" in o or o.startswith("timeout")
    ]
    expect(cluster, not failures, f"no failed acks=all request, got {failures[:5]}")
    cluster.run_for(1000)
    cluster.restart_broker(boss)


def _config(**changes: Any) -> Callable[[int], SimConfig]:
    return lambda seed: base(seed, **changes)


SCENARIOS: dict[str, tuple[Callable[[int], SimConfig], Schedule]] = {
    "F1": (_config(), f1_leader_kill),
    "F2": (_config(), f2_follower_restart),
    "F3": (_config(), f3_stale_rejoin),
    "F3-OFFLINE": (_config(), f3_only_stale_alive),
    "F4": (
        _config(brokers=2, replication_factor=2, min_insync_replicas=1, acks=ACKS_LEADER),
        f4_epoch_divergence,
    ),
    "F5": (_config(min_insync_replicas=1), f5_double_failover),
    "F6": (_config(acks_one_producer=True), f6_leader_cut_from_controller),
    "F7": (_config(acks_one_producer=True), f7_zombie_leader),
    "F8": (_config(), f8_slow_follower),
    "F9": (_config(acks_one_producer=True), f9_below_min_isr),
    "F10": (_config(min_insync_replicas=1), f10_last_replica_standing),
    "F11-OFF": (_config(min_insync_replicas=1), f11_unclean),
    "F11-ON": (_config(min_insync_replicas=1, unclean=True), f11_unclean),
    "F12": (_config(), f12_controller_restart),
    "F13": (_config(), f13_clock_jump),
    "F14": (_config(), f14_retry_duplicates),
    "F14-PLAIN": (_config(idempotent=False), f14_retry_duplicates),
    "F15": (_config(), f15_controlled_shutdown),
}
