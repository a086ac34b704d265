"""The shipped cluster configs start the same cluster as `odradek cluster up` (ports, roles)."""

from __future__ import annotations

from pathlib import Path

from broker.cluster_launcher import CONTROLLER_NODE_ID, LOCAL_SETTINGS
from broker.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_controller_config() -> None:
    loaded = load_config(str(CONFIGS / "cluster-controller.properties"))
    config = loaded.config
    assert loaded.warnings == ()
    assert config.process_roles == ("controller",)
    assert config.node_id == CONTROLLER_NODE_ID
    assert [(v.node_id, v.host, v.port) for v in config.controller_quorum_voters] == [
        (CONTROLLER_NODE_ID, "127.0.0.1", 9192)
    ]
    assert [(item.name, item.port) for item in config.listeners] == [("CONTROLLER", 9192)]


def test_broker_configs() -> None:
    ports = []
    for node_id in (1, 2, 3):
        loaded = load_config(str(CONFIGS / f"cluster-broker-{node_id}.properties"))
        config = loaded.config
        assert loaded.warnings == ()
        assert config.process_roles == ("broker",)
        assert config.node_id == node_id
        assert [listener.name for listener in config.listeners] == ["PLAINTEXT"]
        assert [(v.node_id, v.port) for v in config.controller_quorum_voters] == [
            (CONTROLLER_NODE_ID, 9192)
        ]
        for key, value in LOCAL_SETTINGS.items():
            assert str(config.value_of(key)) == value, key
        ports.append(config.listeners[0].port)
    assert ports == [9092, 9093, 9094]  # what `odradek cluster up` uses by default
