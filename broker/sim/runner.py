"""One seeded run: set up, random faults, a fault-free tail, the final checks.

``run(SimConfig.for_seed(n))`` is all a failing seed needs to replay; ``rerun_command`` says
how.  The run fails on any violation: a safety property broken at some step (``checker.py``),
no convergence after the tail (L3), or a history check (``history.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.sim.cluster import Cluster, SimConfig
from broker.sim.history import Report, check_ack_order, check_history, convergence_problems
from broker.sim.nemesis import Nemesis

CONVERGENCE_GRACE_MS = 60_000


@dataclass(slots=True)
class RunResult:
    config: SimConfig
    violations: list[str]
    notes: list[str]
    report: Report
    history: list[str] = field(default_factory=list)
    steps: int = 0
    sim_ms: int = 0
    scenario: str | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def digest(self) -> str:
        """A fingerprint of the whole history: equal seeds must give equal digests."""
        return hashlib.sha256("\n".join(self.history).encode()).hexdigest()[:16]

    def explain(self) -> str:
        lines = [f"simulation {self.config.describe()}: {len(self.violations)} violation(s)"]
        lines += [f"  {violation}" for violation in self.violations[:20]]
        lines.append(f"  rerun: {rerun_command(self.config, self.scenario)}")
        return "\n".join(lines)


def rerun_command(config: SimConfig, scenario: str | None = None) -> str:
    extra = "".join(f" --faithful {name}" for name in sorted(config.faithful))
    if config.follower_reads:
        extra += " --follower-reads"
    if scenario is not None:
        return (
            f'.venv/bin/pytest tests/sim -k "{scenario}-"   or   '
            f"python -m broker.sim --scenario {scenario} --seed {config.seed}{extra}"
        )
    test_id = "follower-reads" if config.follower_reads else "seed"
    return (
        f'.venv/bin/pytest tests/sim -k "{test_id}-{config.seed}-"   or   '
        f"python -m broker.sim --seed {config.seed}{extra}"
    )


def run(
    config: SimConfig,
    *,
    trace: bool = False,
    scenario: Callable[[Cluster], None] | None = None,
    scenario_name: str | None = None,
) -> RunResult:
    """Run one simulation.  ``scenario`` (a fixed schedule) replaces the random faults."""
    cluster = Cluster(config)
    cluster.world.trace = trace
    cluster.start()
    if scenario is not None:
        scenario(cluster)
    else:
        if config.faults:
            Nemesis(cluster).schedule(config.duration_ms)
        limit = config.max_steps
        cluster.run_for(
            config.duration_ms, None if limit is None else lambda: cluster.world.steps >= limit
        )
    finish(cluster)
    result = result_of(cluster)
    result.scenario = scenario_name
    return result


def finish(cluster: Cluster) -> None:
    """The fault-free tail: heal, restart, keep producing a while, then require convergence
    (L3) and check the history."""
    config = cluster.config
    cluster.world.log("sim", "TAIL: healing everything, no more faults")
    cluster.heal_all()
    cluster.checker.check_step(None)
    cluster.run_for(config.tail_ms // 2)
    for host, _ in cluster.clients.producers:
        host.process.stop_sending()  # type: ignore[union-attr]
    cluster.world.log("sim", "TAIL: producers stop sending; waiting for convergence")
    done = cluster.run_for(
        config.tail_ms // 2 + CONVERGENCE_GRACE_MS, lambda: not convergence_problems(cluster)
    )
    if not done:
        problems = "; ".join(convergence_problems(cluster))
        cluster.checker.fail(f"L3: no convergence after the fault-free tail: {problems}")
        cluster.report = Report()
        return
    cluster.report = check_history(cluster)
    check_ack_order(cluster)


def result_of(cluster: Cluster) -> RunResult:
    checker = cluster.checker
    return RunResult(
        cluster.config,
        list(checker.violations),
        list(checker.notes),
        cluster.report,
        cluster.world.format_history(),
        cluster.world.steps,
        cluster.world.now_ms,
    )
