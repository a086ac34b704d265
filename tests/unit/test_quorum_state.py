"""``quorum-state``: the controller's leader epoch, one more per start, kept across restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.log.metadata_log import QUORUM_STATE_FILE, next_leader_epoch


def test_each_start_takes_the_next_epoch_and_records_it(tmp_path: Path) -> None:
    assert [next_leader_epoch(tmp_path, 100) for _ in range(3)] == [1, 2, 3]
    state = json.loads((tmp_path / QUORUM_STATE_FILE).read_text())
    assert (state["leaderId"], state["leaderEpoch"]) == (100, 3)
    assert state["currentVoters"] == [{"voterId": 100}]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"leaderEpoch": "x"}', b"\xff\xfe"])
def test_an_unreadable_file_starts_over_at_epoch_one(tmp_path: Path, content: bytes) -> None:
    (tmp_path / QUORUM_STATE_FILE).write_bytes(content)
    assert next_leader_epoch(tmp_path, 1) == 1
    assert next_leader_epoch(tmp_path, 1) == 2
