"""The `odradek` command: parses arguments and configuration, then runs the chosen command.

No logic of its own: configuration lives in `broker.config`, the broker in
`broker.server.broker`, the commands built on the client in `broker.cli_topic` (topics),
`broker.cli_group` (consumer groups), `broker.cli_user` (SCRAM users), `broker.cli_quota`
(client quotas), `broker.cli_config` (dynamic broker configs), `broker.cli_features` (feature
levels), `broker.cli_acl` (ACLs),
`broker.cli_data` (produce, consume) and
`broker.cli_perf` (perf).
Usage and configuration errors print one line to stderr and exit 2; a command that fails
against the cluster prints `odradek: error: ...` lines and exits 1. Never a traceback.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import logging
import os
import signal
import sys

from broker.cli_acl import add_acl_commands
from broker.cli_cluster import add_cluster_commands
from broker.cli_config import add_config_commands
from broker.cli_data import add_data_commands
from broker.cli_features import add_features_commands
from broker.cli_group import add_group_commands
from broker.cli_perf import add_perf_commands
from broker.cli_quota import add_quota_commands
from broker.cli_topic import CommandError, add_topic_commands
from broker.cli_user import add_user_commands
from broker.config import ConfigError, load_config

PROGRAM = "odradek"
USAGE_ERROR_EXIT_CODE = 2
PR_SET_PDEATHSIG = 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PROGRAM_EXAMPLES = """\
examples:
  odradek broker start --config configs/server.properties
  odradek cluster up --brokers 3
  odradek sim --seed 37
  odradek topic create orders --partitions 6 --replication-factor 1
  odradek topic describe orders
  echo hello | odradek produce orders
  odradek consume orders --from-beginning --max-messages 10
  odradek group describe billing
  odradek acl add --allow-principal User:alice --operation Read --topic orders
  odradek perf produce --topic perf --num-records 100000 --record-size 100
"""
BROKER_EXAMPLES = """\
examples:
  odradek broker start
  odradek broker start --config configs/server.properties --set num.partitions=3
"""


def _version() -> str:
    try:
        return importlib.metadata.version(PROGRAM)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="A Kafka-compatible broker in Python.",
        epilog=PROGRAM_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    broker = commands.add_parser(
        "broker",
        help="run and manage a broker",
        epilog=BROKER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    broker_commands = broker.add_subparsers(dest="broker_command", metavar="COMMAND", required=True)
    start = broker_commands.add_parser(
        "start",
        help="start a broker in the foreground",
        epilog=BROKER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start.add_argument(
        "--config",
        metavar="FILE",
        help="server.properties to load (default: the embedded single-node configuration)",
    )
    start.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one config key after the file; repeatable",
    )
    start.set_defaults(handler=_broker_start)
    add_cluster_commands(commands)
    sim = commands.add_parser(
        "sim",
        help="run the deterministic cluster simulation (python -m broker.sim --help)",
        add_help=False,
    )
    sim.set_defaults(handler=lambda _: _sim([]))
    add_topic_commands(commands)
    add_group_commands(commands)
    add_user_commands(commands)
    add_quota_commands(commands)
    add_config_commands(commands)
    add_features_commands(commands)
    add_acl_commands(commands)
    add_data_commands(commands)
    add_perf_commands(commands)
    return parser


def _broker_start(arguments: argparse.Namespace) -> int:
    try:
        loaded = load_config(arguments.config, arguments.overrides)
    except ConfigError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return USAGE_ERROR_EXIT_CODE
    for warning in loaded.warnings:
        print(f"{PROGRAM}: warning: {warning}", file=sys.stderr)
    _die_with_launcher()
    # A no-op when logging is already configured (by an embedding program or pytest).
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    source = arguments.config or "the embedded default configuration"
    logging.getLogger(__name__).info(
        "node %d starting from %s with %d --set overrides",
        loaded.config.node_id,
        source,
        len(arguments.overrides),
    )
    # Imported here so that argument and config errors need none of the server's imports.
    from broker.server.broker import run
    from broker.server.meta_properties import MetaPropertiesError

    try:
        return run(loaded.config)
    except MetaPropertiesError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:
        # A listener that cannot bind (port in use, no permission) fails the start-up task.
        failure = _only(group, OSError)
        if failure is None:
            raise
        print(f"{PROGRAM}: error: cannot start: {failure}", file=sys.stderr)
        return 1


def _die_with_launcher() -> None:
    """Started by `cluster up` (ODRADEK_PARENT_PID): get SIGTERM when the launcher dies
    (Linux PR_SET_PDEATHSIG), and stop now if it is already gone."""
    parent = os.environ.get("ODRADEK_PARENT_PID", "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)


def _only(group: BaseExceptionGroup[BaseException], kind: type[Exception]) -> Exception | None:
    """The single ``kind`` exception a (nested) exception group consists of, if that is all."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    if len(leaves) == 1 and isinstance(leaves[0], kind):
        return leaves[0]
    return None


def _sim(argv: list[str]) -> int:
    """``odradek sim --seed N [--steps K] [--scenario F3] ...``: replay a seed exactly."""
    from broker.sim.__main__ import main as sim_main

    try:
        return sim_main(argv, prog=f"{PROGRAM} sim")
    except SystemExit as exit_request:  # --help, or a usage error from its own parser
        code = exit_request.code
        return code if isinstance(code, int) else USAGE_ERROR_EXIT_CODE


def main(argv: list[str] | None = None) -> int:
    """Run the `odradek` command line; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:
        # The simulation has its own option parser (python -m broker.sim); pass it all.
        return _sim(argv[1:])
    parser = _parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits after --help, --version or a usage error; report that as a code.
        code = exit_request.code
        if code is None or isinstance(code, int):
            return code or 0
        return USAGE_ERROR_EXIT_CODE
    try:
        exit_code: int = arguments.handler(arguments)
    except CommandError as error:
        for message in error.messages:
            print(f"{PROGRAM}: error: {message}", file=sys.stderr)
        return error.exit_code
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
