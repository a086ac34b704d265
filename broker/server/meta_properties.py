"""``meta.properties`` in every log dir (Kafka's): cluster.id, node.id, version.

Created on first start; on later starts a node.id that differs from the one on disk is refused,
so two brokers never share a data directory by mistake.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

FILE_NAME = "meta.properties"


class MetaPropertiesError(Exception):
    """The data directory belongs to another node or its meta.properties is unreadable."""


def _read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def new_cluster_id() -> str:
    """Kafka's format: a random UUID as unpadded URL-safe base64 (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def read_cluster_id(log_dirs: list[Path], node_id: int) -> str | None:
    """The cluster id recorded in the log dirs (None: none has meta.properties yet)."""
    cluster_id: str | None = None
    for directory in log_dirs:
        path = directory / FILE_NAME
        if not path.exists():
            continue
        values = _read(path)
        recorded = values.get("node.id")
        if recorded is not None and recorded != str(node_id):
            raise MetaPropertiesError(
                f"{path} belongs to node.id {recorded}, but this broker is node.id {node_id}"
            )
        found = values.get("cluster.id")
        if cluster_id is not None and found != cluster_id:
            raise MetaPropertiesError(f"{path} names cluster {found}, others {cluster_id}")
        cluster_id = found
    return cluster_id


def write_missing(log_dirs: list[Path], node_id: int, cluster_id: str) -> None:
    """Write meta.properties into every log dir that has none (atomically, fsynced)."""
    for directory in log_dirs:
        path = directory / FILE_NAME
        if path.exists():
            continue
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            f"#\ncluster.id={cluster_id}\nnode.id={node_id}\nversion=1\n", encoding="utf-8"
        )
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)


def load_or_create(log_dirs: list[Path], node_id: int, configured: str | None = None) -> str:
    """The cluster id recorded in the log dirs, writing meta.properties where it is missing.

    ``configured`` (the ``cluster.id`` key) is used for a new data dir and must match an
    existing one.
    """
    cluster_id = read_cluster_id(log_dirs, node_id)
    if cluster_id is not None and configured is not None and configured != cluster_id:
        raise MetaPropertiesError(
            f"the data directory belongs to cluster {cluster_id}, but cluster.id is {configured}"
        )
    cluster_id = cluster_id or configured or new_cluster_id()
    write_missing(log_dirs, node_id, cluster_id)
    return cluster_id
