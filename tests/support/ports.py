"""Ports for tests that must name one before a server binds it (a restart on the same port,
a Locust master, an address nobody listens on).

The kernel's choice for port 0 comes from the ephemeral range, which every outgoing
connection of every other test also draws from: a port probed there and released can be
taken by a client's source port before the server binds it (or re-binds it after kill -9).
So these come from below that range, chosen at random and checked free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000
_ATTEMPTS = 200


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def unused_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` outside the ephemeral range that nothing had bound a moment ago."""
    high = max(_LOWEST + 1_000, _ephemeral_low())
    for _ in range(_ATTEMPTS):
        port = random.randrange(_LOWEST, high)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port of {host} in [{_LOWEST}, {high})")
