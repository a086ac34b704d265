"""The end-to-end benchmark matrix: odradek topologies x load generators x acks x record sizes.

    python -m bench.e2e [--topologies single,cluster] [--clients confluent,kafka-python,odradek]
                        [--acks 0,1,all] [--sizes 100,1024] [--reps 3] [--seconds 2]
                        [--out-dir bench/results] [--results-md bench/RESULTS.md]

Topologies: ``single`` is one broker process (topic RF=1); ``cluster`` is a controller and three
broker processes (topic RF=3, ``min.insync.replicas=2``).  Each is started once per run and
reused; every cell gets a fresh topic (deleted afterwards).  Repetitions are interleaved: the
outer loop is the repetition, the inner loop every configuration, so a noisy machine hits each
configuration alike; the table reports the median over repetitions with min and max.

Each cell produces for ``--seconds`` or ``--records``, whichever comes first, with at most
``--window-bytes`` of records in flight (see :mod:`bench.e2e.loadgen` for the protocol and how
latency is measured), then (unless ``--no-consume``) reads the topic back from the beginning
with the same client library for at most as long.  Output: a markdown table (printed, and in
``--results-md`` with the machine and the command line), a PNG plot of throughput against p99
latency, and the raw per-repetition results as JSON next to the PNG.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.e2e.loadgen import BATCH_BYTES, GENERATORS, LINGER_MS, Load, Outcome

REPO = Path(__file__).resolve().parents[2]
TOPOLOGIES = ("single", "cluster")
CLIENTS = tuple(GENERATORS)
ACKS = ("0", "1", "all")
SIZES = (100, 1024)
CLUSTER_BROKERS = 3
READY_TIMEOUT_S = 30.0
OBSERVE_EVERY_S = 0.05
DRAIN_GRACE_S = 20.0  # a cell's hard deadline: --seconds plus this for the last acks


# -- topologies ------------------------------------------------------------------------------


class Topology(Protocol):
    name: str
    replication: int
    topic_configs: dict[str, str]

    @property
    def bootstrap(self) -> str: ...

    def start(self, base_dir: Path) -> None: ...

    def stop(self) -> None: ...


class SingleNode:
    """One ``odradek broker start`` process on a free port; topics with RF=1."""

    name = "single"
    replication = 1

    def __init__(self) -> None:
        self._broker: Any = None
        self.topic_configs: dict[str, str] = {}

    @property
    def bootstrap(self) -> str:
        return str(self._broker.bootstrap)

    def start(self, base_dir: Path) -> None:
        from broker.testing import ProcessBroker

        data_dir = base_dir / "single"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._broker = ProcessBroker(data_dir, {}).start()

    def stop(self) -> None:
        if self._broker is not None:
            self._broker.terminate()
            self._broker = None


class ThreeBrokers:
    """A controller and three brokers (:class:`~broker.cluster_launcher.LocalCluster`, free
    ports); topics with RF=3 and ``min.insync.replicas=2``."""

    name = "cluster"
    replication = CLUSTER_BROKERS

    def __init__(self) -> None:
        self._cluster: Any = None
        self.topic_configs = {"min.insync.replicas": "2"}

    @property
    def bootstrap(self) -> str:
        return str(self._cluster.bootstrap)

    def start(self, base_dir: Path) -> None:
        from broker.cluster_launcher import LocalCluster

        self._cluster = LocalCluster(base_dir / "cluster", CLUSTER_BROKERS, 0, {})
        self._cluster.start()

    def stop(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None


TOPOLOGY_FACTORIES: dict[str, Callable[[], Topology]] = {
    "single": SingleNode,
    "cluster": ThreeBrokers,
}


def _observe(check: Callable[[], bool], what: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Look at ``check()`` every OBSERVE_EVERY_S until it holds (a bounded observation loop
    over broker state, not a sleep standing in for an event)."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while True:
        try:
            if check():
                return
        except Exception as error:  # e.g. a metadata request timing out: look again
            last = error
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what} ({last})")
        pause.wait(OBSERVE_EVERY_S)


class Topics:
    """Creates and deletes the cells' topics on one topology (confluent-kafka's admin)."""

    def __init__(self, topology: Topology, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient

        self.topology = topology
        self.partitions = partitions
        self.admin: Any = AdminClient({"bootstrap.servers": topology.bootstrap})
        brokers = topology.replication
        _observe(
            lambda: len(self.admin.list_topics(timeout=5).brokers) >= brokers,
            f"{brokers} brokers in the metadata of {topology.name}",
        )

    def create(self) -> str:
        from confluent_kafka.cimpl import NewTopic

        name = f"matrix-{uuid.uuid4().hex[:10]}"
        topic = NewTopic(
            name,
            self.partitions,
            self.topology.replication,
            config=dict(self.topology.topic_configs),
        )
        for future in self.admin.create_topics([topic]).values():
            future.result(timeout=READY_TIMEOUT_S)
        _observe(lambda: self._ready(name), f"topic {name} with leaders and a full ISR")
        return name

    def _ready(self, name: str) -> bool:
        topic = self.admin.list_topics(name, timeout=5).topics.get(name)
        if topic is None or topic.error is not None or len(topic.partitions) < self.partitions:
            return False
        return all(
            p.leader >= 0 and len(p.isrs) >= self.topology.replication
            for p in topic.partitions.values()
        )

    def delete(self, name: str) -> None:
        for future in self.admin.delete_topics([name]).values():
            future.result(timeout=READY_TIMEOUT_S)

    def close(self) -> None:
        self.admin = None  # librdkafka's handle goes with its last reference


# -- the matrix ------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Config:
    topology: str
    client: str
    acks: str
    size: int

    @property
    def label(self) -> str:
        return f"{self.topology} {self.client} acks={self.acks} {self.size} B"


@dataclass
class Cell:
    """One configuration in one repetition (what goes into the JSON)."""

    topology: str
    client: str
    acks: str
    size: int
    rep: int
    sent: int = 0
    acked: int = 0
    errors: int = 0
    produce_s: float = 0.0
    records_per_s: float = 0.0
    mb_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    consumed: int = 0
    consume_s: float = 0.0
    consume_records_per_s: float | None = None
    wall_s: float = 0.0
    error: str | None = None

    @property
    def config(self) -> Config:
        return Config(self.topology, self.client, self.acks, self.size)

    @property
    def ok(self) -> bool:
        return self.error is None and self.acked > 0


@dataclass
class Summary:
    """One configuration over its repetitions."""

    config: Config
    reps: int
    failed: int
    rates: list[float]
    mb_per_s: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    consume_rates: list[float]
    errors: list[str]


def percentiles_ms(latencies_s: list[float]) -> dict[str, float]:
    """p50, p90, p99, p99.9 and max in milliseconds (nearest rank)."""
    if not latencies_s:
        return {}
    ordered = sorted(latencies_s)
    last = len(ordered) - 1

    def at(q: float) -> float:
        return round(ordered[min(last, round(q * last))] * 1000, 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)}


def run_cell(topics: Topics, config: Config, rep: int, options: argparse.Namespace) -> Cell:
    cell = Cell(config.topology, config.client, config.acks, config.size, rep)
    started = time.perf_counter()
    topic = None
    try:
        topic = topics.create()
        load = Load(
            bootstrap=topics.topology.bootstrap,
            topic=topic,
            partitions=options.partitions,
            acks=config.acks,
            size=config.size,
            seconds=options.seconds,
            max_records=options.records,
            window=max(16, options.window_bytes // config.size),
            deadline_s=options.seconds + DRAIN_GRACE_S,
            consume=options.consume,
        )
        outcome = GENERATORS[config.client](load)
        _fill(cell, outcome, config.size)
    except Exception as error:  # a failed cell is reported, the matrix goes on
        cell.error = f"{type(error).__name__}: {error}"
    finally:
        if topic is not None:
            with contextlib.suppress(Exception):
                topics.delete(topic)
        cell.wall_s = round(time.perf_counter() - started, 3)
    return cell


def _fill(cell: Cell, outcome: Outcome, size: int) -> None:
    cell.sent, cell.acked, cell.errors = outcome.sent, outcome.acked, outcome.errors
    cell.produce_s = round(outcome.produce_s, 4)
    if outcome.produce_s > 0:
        cell.records_per_s = round(outcome.acked / outcome.produce_s, 1)
        cell.mb_per_s = round(outcome.acked * size / outcome.produce_s / 1e6, 2)
    cell.latency_ms = percentiles_ms(outcome.latencies_s)
    if outcome.consume_s > 0:
        cell.consumed = outcome.consumed
        cell.consume_s = round(outcome.consume_s, 4)
        cell.consume_records_per_s = round(outcome.consumed / outcome.consume_s, 1)
    if outcome.errors or outcome.acked < outcome.sent:
        cell.error = (
            f"{outcome.sent - outcome.acked} of {outcome.sent} records not acknowledged "
            f"({outcome.errors} errors; last: {outcome.last_error})"
        )


def configurations(options: argparse.Namespace) -> list[Config]:
    return [
        Config(topology, client, acks, size)
        for topology in options.topologies
        for client in options.clients
        for acks in options.acks
        for size in options.sizes
    ]


@contextlib.contextmanager
def started(names: Sequence[str], partitions: int) -> Iterator[dict[str, Topics]]:
    """Every topology asked for, started once (in a temporary directory) and stopped by PID
    afterwards (SIGTERM to each process the topology started)."""
    with contextlib.ExitStack() as stack:
        base_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="odradek-matrix-")))
        running: dict[str, Topics] = {}
        for name in names:
            topology = TOPOLOGY_FACTORIES[name]()
            stack.callback(topology.stop)
            topology.start(base_dir)
            topics = Topics(topology, partitions)
            stack.callback(topics.close)
            running[name] = topics
        yield running


def run(options: argparse.Namespace, log: Callable[[str], None]) -> list[Cell]:
    """The whole matrix: every configuration in each repetition, repetitions outermost."""
    configs = configurations(options)
    cells: list[Cell] = []
    started_at = time.perf_counter()
    with started(options.topologies, options.partitions) as running:
        log(f"topologies up in {time.perf_counter() - started_at:.1f} s")
        for rep in range(1, options.reps + 1):
            for index, config in enumerate(configs, 1):
                cell = run_cell(running[config.topology], config, rep, options)
                cells.append(cell)
                log(
                    _progress(
                        cell, reps=options.reps, index=index, count=len(configs), since=started_at
                    )
                )
    return cells


def _progress(cell: Cell, *, reps: int, index: int, count: int, since: float) -> str:
    head = f"[rep {cell.rep}/{reps} cell {index}/{count} {time.perf_counter() - since:6.1f} s]"
    head += f" {cell.config.label}:"
    if cell.error is not None and not cell.acked:
        return f"{head} FAILED {cell.error}"
    text = (
        f"{head} {cell.records_per_s:,.0f} rec/s {cell.mb_per_s:.1f} MB/s "
        f"p50 {cell.latency_ms.get('p50', 0):.1f} ms p99 {cell.latency_ms.get('p99', 0):.1f} ms"
    )
    if cell.consume_records_per_s is not None:
        text += f", consume {cell.consume_records_per_s:,.0f} rec/s"
    if cell.error is not None:
        text += f" ({cell.error})"
    return f"{text} [{cell.wall_s:.1f} s]"


def summarise(cells: Sequence[Cell], configs: Sequence[Config]) -> list[Summary]:
    summaries = []
    for config in configs:
        mine = [c for c in cells if c.config == config]
        good = [c for c in mine if c.ok]
        summaries.append(
            Summary(
                config=config,
                reps=len(mine),
                failed=len(mine) - len(good),
                rates=[c.records_per_s for c in good],
                mb_per_s=[c.mb_per_s for c in good],
                p50_ms=[c.latency_ms["p50"] for c in good],
                p99_ms=[c.latency_ms["p99"] for c in good],
                consume_rates=[
                    c.consume_records_per_s for c in good if c.consume_records_per_s is not None
                ],
                errors=[c.error for c in mine if c.error is not None],
            )
        )
    return summaries


# -- reporting -------------------------------------------------------------------------------


def _spread(values: Sequence[float], digits: int = 0) -> str:
    """``median (min-max)``, or the one value."""
    if not values:
        return "-"
    spec = f",.{digits}f"
    median = format(statistics.median(values), spec)
    if len(values) == 1:
        return median
    return f"{median} ({format(min(values), spec)}-{format(max(values), spec)})"


def _median(values: Sequence[float], digits: int = 0) -> str:
    return format(statistics.median(values), f",.{digits}f") if values else "-"


TABLE_HEADER = (
    "| topology | client | acks | size B | produce rec/s | MB/s | p50 ms | p99 ms "
    "| consume rec/s | ok reps |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def table(summaries: Sequence[Summary]) -> str:
    """The markdown table: medians over repetitions, (min-max) where there are several."""
    lines = [TABLE_HEADER]
    for s in summaries:
        c = s.config
        lines.append(
            f"| {c.topology} | {c.client} | {c.acks} | {c.size} | {_spread(s.rates)} "
            f"| {_median(s.mb_per_s, 1)} | {_median(s.p50_ms, 1)} | {_spread(s.p99_ms, 1)} "
            f"| {_spread(s.consume_rates)} | {s.reps - s.failed}/{s.reps} |"
        )
    return "\n".join(lines)


CLIENT_STYLE = {
    "confluent": ("o", "tab:blue"),
    "kafka-python": ("s", "tab:orange"),
    "odradek": ("^", "tab:green"),
}


def plot(summaries: Sequence[Summary], path: Path, title: str) -> None:
    """Throughput (x) against p99 latency (y), both log scale: marker and colour per client,
    filled for the single node, hollow for the cluster; each point labelled acks/size, with
    the min-max of its repetitions as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.lines import Line2D

    figure, axes = pyplot.subplots(figsize=(11, 7), dpi=110)
    for s in summaries:
        if not s.rates:
            continue
        marker, colour = CLIENT_STYLE.get(s.config.client, ("D", "tab:red"))
        x, y = statistics.median(s.rates), statistics.median(s.p99_ms)
        filled = s.config.topology == "single"
        _points, caps, bars = axes.errorbar(
            [x],
            [y],
            xerr=[[x - min(s.rates)], [max(s.rates) - x]],
            yerr=[[y - min(s.p99_ms)], [max(s.p99_ms) - y]],
            fmt=marker,
            markersize=9,
            color=colour,
            markerfacecolor=colour if filled else "white",
            markeredgewidth=1.6,
            elinewidth=0.7,
            capsize=2,
        )
        for line in (*caps, *bars):
            line.set_alpha(0.35)  # the spread stays readable behind the medians
        size = f"{s.config.size // 1024}K" if s.config.size % 1024 == 0 else str(s.config.size)
        axes.annotate(
            f"{s.config.acks}/{size}",
            (x, y),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=7,
            color=colour,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("produce throughput, records/s (median over repetitions)")
    axes.set_ylabel("p99 latency send to ack, ms (median; bars: min-max)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.25)
    handles = [
        Line2D([], [], linestyle="", marker=m, color=c, markersize=8, label=name)
        for name, (m, c) in CLIENT_STYLE.items()
        if any(s.config.client == name for s in summaries)
    ]
    handles += [
        Line2D([], [], linestyle="", marker="o", color="grey", markersize=8, label="single node"),
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            color="grey",
            markerfacecolor="white",
            markersize=8,
            label="3-broker cluster (RF=3)",
        ),
    ]
    axes.legend(handles=handles, loc="best", fontsize=8, title="labels: acks/record size")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    pyplot.close(figure)


def _read_proc(path: str, key: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return None


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "uname": " ".join(part for part in platform.uname() if part),
        "cpu": _read_proc("/proc/cpuinfo", "model name") or platform.processor(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "odradek": _version("odradek"),
        "confluent-kafka": _version("confluent-kafka"),
        "kafka-python": _version("kafka-python"),
        "matplotlib": _version("matplotlib"),
    }
    with contextlib.suppress(AttributeError):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    memory = _read_proc("/proc/meminfo", "MemTotal")
    if memory is not None:
        info["ram"] = f"{int(memory.split()[0]) / 1024 / 1024:.1f} GiB"
    with contextlib.suppress(ImportError):
        import confluent_kafka

        info["librdkafka"] = confluent_kafka.libversion()[0]
    with contextlib.suppress(OSError):
        info["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        info["commit"] = commit.stdout.strip()
    return info


HOW_TO_READ = """\
- One row per configuration: topology (`single` = one broker, topic RF=1; `cluster` = a
  controller and 3 brokers, topic RF=3 and `min.insync.replicas=2`), load generator, acks,
  record value size.  Figures are medians over the interleaved repetitions, with (min-max).
- **produce rec/s** and **MB/s** (record values only): records acknowledged over the time
  from the first send to the last acknowledgement, unpaced, after a warm-up record per
  partition; at most `--window-bytes` of records in flight.
- **p50 / p99 ms**: per record, from the send call to the client's delivery report (librdkafka's
  `Message.latency()`; a timer around the future for kafka-python and ours).  The producer is
  saturated, so this is latency at peak throughput: a client whose sender (not its caller) is the
  bottleneck keeps its window full and its latency is about window / throughput.
- **consume rec/s**: the same client reading the topic back from offset 0 (assigned
  partitions, no group), for at most as long as the produce phase.
- In the plot, right is faster and down is quicker: each point is one row (marker and colour
  per client, filled = single node, hollow = cluster, label = acks/size, bars = min-max).
- The machine is shared and noisy: compare rows of the same run, not runs of different days.
  kafka-python is the bottleneck of its own rows (its Python sender), so its rows say little
  about the broker; confluent-kafka's rows are the broker's figures."""


def results_markdown(
    options: argparse.Namespace,
    *,
    argv: Sequence[str],
    info: dict[str, Any],
    markdown_table: str,
    png: Path,
    raw: Path,
    wall_s: float,
    when: datetime.datetime,
) -> str:
    where = Path(options.results_md).resolve().parent

    def relative(path: Path) -> str:
        """Relative to RESULTS.md when both are in the repository, else absolute."""
        path = path.resolve()
        if path.is_relative_to(REPO) and where.is_relative_to(REPO):
            return os.path.relpath(path, where)
        return str(path)

    machine_lines = "\n".join(f"- {key}: {value}" for key, value in info.items())
    return f"""# End-to-end benchmark matrix

Generated by `python -m bench.e2e` ([bench/e2e/README.md]({relative(REPO / "bench/e2e/README.md")}))
on {when.strftime("%Y-%m-%d %H:%M %Z")}; the whole run took {wall_s:.0f} s.

## Machine

{machine_lines}

## Command

    {shlex.join(["python", "-m", "bench.e2e", *argv])}

{options.reps} repetition(s) interleaved; cells of {options.seconds:g} s or
{options.records:,} records; {options.partitions} partition(s) per topic; window
{options.window_bytes:,} bytes in flight; every client with `linger.ms={LINGER_MS}`,
`batch.size={BATCH_BYTES}`, idempotence off.

## Results

{markdown_table}

![throughput against p99 latency]({relative(png)})

Plot: `{relative(png)}`; raw per-repetition results: `{relative(raw)}`.

## How to read it

{HOW_TO_READ}
"""


# -- command line ----------------------------------------------------------------------------


def _choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        wrong = [v for v in values if v not in allowed]
        if wrong or not values:
            raise argparse.ArgumentTypeError(
                f"{','.join(wrong) or text!r}: expected a comma list of {','.join(allowed)}"
            )
        return values

    return parse


def _sizes(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma list of bytes") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive sizes")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.e2e",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--topologies", type=_choices(TOPOLOGIES), default=list(TOPOLOGIES))
    p.add_argument("--clients", type=_choices(CLIENTS), default=list(CLIENTS))
    p.add_argument("--acks", type=_choices(ACKS), default=list(ACKS))
    p.add_argument("--sizes", type=_sizes, default=list(SIZES), help="record value bytes")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    p.add_argument("--seconds", type=float, default=2.0, help="produce time per cell")
    p.add_argument("--records", type=int, default=1_000_000, help="at most this many per cell")
    p.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    p.add_argument(
        "--window-bytes",
        type=int,
        default=1024 * 1024,
        help="records in flight (sent, not acknowledged), in value bytes",
    )
    p.add_argument(
        "--no-consume",
        dest="consume",
        action="store_false",
        help="skip reading each topic back",
    )
    p.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--results-md", type=Path, default=REPO / "bench" / "RESULTS.md")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the matrix; write the table, RESULTS.md, the PNG and the JSON.  Returns 0, or 1 if
    some cell failed in every repetition."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parser().parse_args(arguments)
    if options.reps < 1 or options.seconds <= 0 or options.records < 1:
        parser().error("--reps, --seconds and --records must be positive")
    when = datetime.datetime.now(datetime.UTC).astimezone()
    info = machine()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started_at = time.perf_counter()
    cells = run(options, log)
    wall_s = time.perf_counter() - started_at
    with contextlib.suppress(OSError):
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    summaries = summarise(cells, configurations(options))
    markdown_table = table(summaries)
    print(markdown_table)
    print(f"\n{len(cells)} cells in {wall_s:.1f} s", flush=True)

    out_dir: Path = options.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "matrix.png"
    raw = out_dir / "matrix.json"
    title = (
        f"odradek end to end, {when:%Y-%m-%d}: {options.reps} rep(s) of {options.seconds:g} s, "
        f"{options.partitions} partition(s), {info.get('cpus_usable', info['cpus'])} CPUs"
    )
    plot(summaries, png, title)
    document = {
        "date": when.isoformat(timespec="seconds"),
        "command": ["python", "-m", "bench.e2e", *arguments],
        "machine": info,
        "options": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(options).items()
        },
        "wall_s": round(wall_s, 1),
        "cells": [asdict(cell) for cell in cells],
        "summary": [
            {**asdict(s.config), **{k: v for k, v in asdict(s).items() if k != "config"}}
            for s in summaries
        ],
    }
    raw.write_text(json.dumps(document, indent=1) + "\n")
    results_md: Path = options.results_md
    results_md.parent.mkdir(parents=True, exist_ok=True)
    results_md.write_text(
        results_markdown(
            options,
            argv=arguments,
            info=info,
            markdown_table=markdown_table,
            png=png,
            raw=raw,
            wall_s=wall_s,
            when=when,
        )
    )
    log(f"wrote {results_md}, {png}, {raw}")
    return 1 if any(not s.rates for s in summaries) else 0
