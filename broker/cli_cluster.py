"""``odradek cluster up``: a controller and N brokers on this machine, until Ctrl-C/SIGTERM;
``odradek cluster unregister --id N``: drop a decommissioned broker's registration
(``kafka-cluster unregister``), on any cluster.

Ports: brokers listen on ``--base-port`` + 0, 1, ... and the controller on ``--base-port`` + 100
(defaults 9092, 9093, 9094 and 9192).  Each node logs to stderr with a ``[broker-N]`` prefix;
the bootstrap string goes to stdout once every broker is up.  Failure detection uses local
values (``broker.session.timeout.ms=1500``, ``broker.heartbeat.interval.ms=250``) instead of
Kafka's 9000 / 2000 so a killed broker's partitions move within about a second.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from broker.cli_topic import (
    CommandError,
    bounded_int,
    command_handler,
    connection_options_parser,
)
from broker.cluster_launcher import LocalCluster, NodeProcess
from client.admin import AdminClient
from client.errors import KafkaError

CLUSTER_EXAMPLES = """\
examples:
  odradek cluster up
  odradek cluster up --brokers 3 --base-port 9092 --data-dir ./cluster-data
  odradek cluster up --set min.insync.replicas=2
  odradek cluster up --racks a,b,c \
      --set replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector
  odradek cluster unregister --id 3 --bootstrap-server 127.0.0.1:9092
"""
MAX_BROKERS = 32


def add_cluster_commands(commands: Any) -> None:
    cluster = commands.add_parser(
        "cluster",
        help="run a local multi-broker cluster",
        epilog=CLUSTER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cluster_commands = cluster.add_subparsers(
        dest="cluster_command", metavar="COMMAND", required=True
    )
    up = cluster_commands.add_parser(
        "up",
        help="start a controller and N brokers on 127.0.0.1 in the foreground",
        epilog=CLUSTER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument(
        "--brokers", type=bounded_int(1, MAX_BROKERS), default=3, help="brokers (default 3)"
    )
    up.add_argument(
        "--base-port",
        type=bounded_int(0, 65535 - 100),
        default=9092,
        help="first broker port; the controller gets base+100 (default 9092; 0: free ports)",
    )
    up.add_argument("--data-dir", metavar="DIR", help="data directory (default: a temporary one)")
    up.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="a config key for every node; repeatable",
    )
    up.add_argument(
        "--racks",
        metavar="R1,R2,...",
        type=_rack_list,
        default=(),
        help="broker.rack of brokers 1, 2, ... in turn (default: no racks)",
    )
    up.set_defaults(handler=_cluster_up)
    unregister = cluster_commands.add_parser(
        "unregister",
        help="remove a broker's registration (after it was decommissioned)",
        epilog=CLUSTER_EXAMPLES,
        parents=[connection_options_parser()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    unregister.add_argument(
        "--id", type=bounded_int(0, 2**31 - 1), required=True, dest="broker_id", metavar="ID"
    )
    unregister.set_defaults(handler=command_handler(_unregister))


async def _unregister(admin: AdminClient, arguments: argparse.Namespace) -> None:
    try:
        await admin.unregister_broker(arguments.broker_id)
    except KafkaError as error:
        raise CommandError([f"broker {arguments.broker_id}: {error}"]) from None
    print(f"Unregistered broker {arguments.broker_id}.")


def _rack_list(text: str) -> tuple[str, ...]:
    racks = tuple(item.strip() for item in text.split(","))
    if not all(racks):
        raise argparse.ArgumentTypeError(f"invalid rack list {text!r}: expected names like a,b,c")
    return racks


def _printer(node: NodeProcess, line: bytes) -> None:
    name = "controller" if node.role == "controller" else f"broker-{node.node_id}"
    sys.stderr.write(f"[{name}] {line.decode(errors='replace')}")
    sys.stderr.flush()


def _parse_overrides(items: list[str]) -> dict[str, str] | None:
    settings = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            print(f"odradek: error: invalid --set {item!r}: expected key=value", file=sys.stderr)
            return None
        settings[key.strip()] = value.strip()
    return settings


def _cluster_up(arguments: argparse.Namespace) -> int:
    settings = _parse_overrides(arguments.overrides)
    if settings is None:
        return 2
    if arguments.data_dir is None:
        base = Path(tempfile.mkdtemp(prefix="odradek-cluster-"))
    else:
        base = Path(arguments.data_dir).resolve()
        base.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cluster = LocalCluster(base, arguments.brokers, arguments.base_port, settings, _printer)
    cluster.racks = arguments.racks
    try:
        try:
            cluster.start()
        except RuntimeError as error:
            print(f"odradek: error: {error}", file=sys.stderr)
            return 1
        assert cluster.controller is not None
        print(cluster.bootstrap, flush=True)
        sys.stderr.write(
            f"odradek cluster: {arguments.brokers} brokers, controller on "
            f"127.0.0.1:{cluster.controller.port}, data in {base}; Ctrl-C stops it\n"
        )
        stop.wait()
        sys.stderr.write("odradek cluster: stopping\n")
    finally:
        cluster.stop()
    return 0
