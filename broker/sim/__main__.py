"""``python -m broker.sim --seed N``: run one simulation, print its history and any violation.

Exit status 0 when every property held, 1 otherwise.  ``--steps K`` stops the random phase
after K events (for a short look), ``--trace`` logs every event, ``--scenario F3`` runs a fixed
schedule instead of random faults, ``--faithful duplicate-ack`` reproduces a known shell bug
(see broker/sim/broker_node.py and broker_handlers.py for the list).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from dataclasses import replace

from broker.sim.cluster import SimConfig
from broker.sim.runner import RunResult, run


def parse(argv: list[str], prog: str = "python -m broker.sim") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="cap on events (random phase)")
    parser.add_argument("--duration-ms", type=int, default=None)
    parser.add_argument(
        "--scenario", default=None, type=str.upper, help="F1..F15: a fixed schedule"
    )
    parser.add_argument(
        "--faithful",
        action="append",
        default=[],
        help="reproduce a known shell bug: duplicate-ack, stale-replay",
    )
    parser.add_argument(
        "--follower-reads",
        action="store_true",
        help="add a consumer that reads from any replica (KIP-392)",
    )
    parser.add_argument("--trace", action="store_true", help="log every event")
    parser.add_argument("--quiet", action="store_true", help="no history, only the verdict")
    parser.add_argument("--sweep", type=int, default=0, help="run seeds seed..seed+N-1")
    return parser.parse_args(argv)


def one(args: argparse.Namespace, seed: int) -> RunResult:
    config = SimConfig.for_seed(seed, follower_reads=args.follower_reads)
    if args.duration_ms is not None:
        config = replace(config, duration_ms=args.duration_ms)
    if args.faithful:
        config = replace(config, faithful=frozenset(args.faithful))
    if args.scenario is not None:
        from broker.sim.scenarios import SCENARIOS

        configure, schedule = SCENARIOS[args.scenario.upper()]
        config = configure(seed)
        if args.faithful:
            config = replace(config, faithful=frozenset(args.faithful))
        return run(config, trace=args.trace, scenario=schedule, scenario_name=args.scenario.upper())
    if args.steps is not None:
        config = replace(config, max_steps=args.steps)
    return run(config, trace=args.trace)


def main(argv: list[str] | None = None, prog: str = "python -m broker.sim") -> int:
    args = parse(sys.argv[1:] if argv is None else argv, prog)
    if args.scenario is not None:
        from broker.sim.scenarios import SCENARIOS

        if args.scenario not in SCENARIOS:
            names = ", ".join(sorted(SCENARIOS))
            print(f"{prog}: error: unknown scenario {args.scenario!r} (one of {names})")
            return 2
    if args.sweep:
        failed = []
        for seed in range(args.seed, args.seed + args.sweep):
            try:
                result = one(args, seed)
            except Exception:
                traceback.print_exc()
                print(f"seed {seed}: CRASHED")
                failed.append(seed)
                continue
            print(f"seed {seed}: {'ok' if result.ok else 'FAILED'} ({result.report.summary()})")
            if not result.ok:
                failed.append(seed)
                print(result.explain())
        print(f"{len(failed)} of {args.sweep} seeds failed: {failed}")
        return 1 if failed else 0
    result = one(args, args.seed)
    if not args.quiet:
        print("\n".join(result.history))
        print()
    for note in result.notes:
        print(f"note: {note}")
    print(f"{result.steps} steps, {result.sim_ms} ms simulated, history {result.digest()}")
    print(result.report.summary())
    for lost in result.report.excused_lost:
        print(f"excused loss: {lost}")
    if result.ok:
        print(f"OK: {result.config.describe()}")
        return 0
    print(result.explain())
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
