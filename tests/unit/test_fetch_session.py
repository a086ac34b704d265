"""KIP-227 incremental fetch sessions for follower fetches: the leader's session
(broker/core/fetch_session.py), the follower's requests and responses (ReplicaFetchState), and
the leader's Fetch handler serving a session (broker/server/handlers/fetch.py) against a fake
broker: an unchanged partition absent from an incremental request still counts as fetched."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from construct import Container

from broker.core.client_quotas import QuotaWindow
from broker.core.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    MAX_EPOCH,
    FetchSession,
    PartitionFetchData,
    next_epoch,
)
from broker.core.partition import Partition, PartitionState
from broker.core.replica_fetcher import (
    AppendRecords,
    FetcherSettings,
    ReplicaFetchState,
    UpdateHighWatermark,
)
from broker.server.connection import current_connection_state
from broker.server.handlers import fetch
from broker.server.quotas import BrokerQuotas
from broker.server.replica_manager import ReplicaManager
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

TOPIC_A, TOPIC_B = uuid.uuid4(), uuid.uuid4()
A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)
BACKOFF_MS = 1000


def _data(offset: int, epoch: int = 3) -> PartitionFetchData:
    return PartitionFetchData(offset, 0, epoch, epoch, 1 << 20)


def _answer(session: FetchSession[Any], key: Any, **values: Any) -> bool:
    fields: dict[str, Any] = {
        "error": ErrorCode.NONE,
        "high_watermark": 5,
        "last_stable_offset": 5,
        "log_start_offset": 0,
        "has_records": False,
        "diverging": False,
    }
    fields.update(values)
    return session.must_answer(key, **fields)


# -- the leader's session -------------------------------------------------------------------


def test_epochs_increment_and_wrap_to_one() -> None:
    assert next_epoch(INITIAL_EPOCH) == 1
    assert next_epoch(41) == 42
    assert next_epoch(MAX_EPOCH) == 1
    assert next_epoch(FINAL_EPOCH) == FINAL_EPOCH


def test_a_session_id_is_never_zero() -> None:
    with pytest.raises(ValueError):
        FetchSession(0, {})


def test_a_new_session_answers_every_partition_once() -> None:
    session = FetchSession(9, {A0: _data(4), A1: _data(7)})
    assert session.epoch == 1
    assert [key for key, _ in session.fetch_data()] == [A0, A1]
    assert _answer(session, A0) and _answer(session, A1)
    assert not _answer(session, A0) and not _answer(session, A1)


@pytest.mark.parametrize(
    "change",
    [
        {"high_watermark": 6, "last_stable_offset": 6},
        {"last_stable_offset": 4},
        {"log_start_offset": 2},
        {"has_records": True},
        {"diverging": True},
    ],
)
def test_a_partition_with_something_to_say_is_answered(change: dict[str, Any]) -> None:
    session = FetchSession(9, {A0: _data(4)})
    assert _answer(session, A0)
    assert _answer(session, A0, **change)


def test_an_error_is_answered_while_it_lasts_and_once_after() -> None:
    session = FetchSession(9, {A0: _data(4)})
    assert _answer(session, A0)
    error = {"error": ErrorCode.NOT_LEADER_OR_FOLLOWER, "high_watermark": -1}
    assert _answer(session, A0, **error)
    assert _answer(session, A0, **error)
    assert _answer(session, A0)  # the error went away: say so, with the HW
    assert not _answer(session, A0)


def test_a_partition_outside_the_session_is_answered() -> None:
    session = FetchSession(9, {A0: _data(4)})
    assert _answer(session, B0) and _answer(session, B0)


def test_incremental_updates_adds_and_forgets() -> None:
    session = FetchSession(9, {A0: _data(4), A1: _data(7)})
    assert _answer(session, A0) and _answer(session, A1)
    error = session.incremental(1, {A1: _data(8), B0: _data(0)}, [A0])
    assert error is ErrorCode.NONE
    assert session.epoch == 2
    assert session.fetch_data() == [(A1, _data(8)), (B0, _data(0))]
    # A changed partition is answered even with nothing new.
    assert _answer(session, A1) and _answer(session, B0)
    assert not _answer(session, A1)


def test_a_forgotten_partition_may_come_back_in_the_same_request() -> None:
    session = FetchSession(9, {A0: _data(4)})
    assert session.incremental(1, {A0: _data(0, epoch=5)}, [A0]) is ErrorCode.NONE
    assert session.fetch_data() == [(A0, _data(0, epoch=5))]


def test_a_wrong_epoch_is_refused_and_changes_nothing() -> None:
    session = FetchSession(9, {A0: _data(4)})
    for epoch in (0, 2, -1):
        assert session.incremental(epoch, {A1: _data(1)}, [A0]) is (
            ErrorCode.INVALID_FETCH_SESSION_EPOCH
        )
    assert session.epoch == 1
    assert session.fetch_data() == [(A0, _data(4))]


def test_the_expected_epoch_wraps_from_int32_max_to_one() -> None:
    session = FetchSession(9, {A0: _data(4)})
    session.epoch = MAX_EPOCH
    assert session.incremental(MAX_EPOCH, {}, []) is ErrorCode.NONE
    assert session.epoch == 1
    assert session.incremental(1, {}, []) is ErrorCode.NONE
    assert session.epoch == 2


# -- the follower's requests and responses --------------------------------------------------


@dataclass
class StubLog:
    log_end_offset: int = 5
    log_start_offset: int = 0
    epoch: int = 3

    def last_fetched_epoch(self) -> int:
        return self.epoch

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return (self.epoch, self.log_end_offset) if epoch == self.epoch else (-1, -1)


def _fetcher(
    *keys: tuple[str, int], sessions: bool = True
) -> tuple[ReplicaFetchState, dict[Any, StubLog]]:
    settings = FetcherSettings(replica_id=7, backoff_ms=BACKOFF_MS, fetch_sessions=sessions)
    fetcher = ReplicaFetchState(2, settings)
    logs = {}
    for key in keys:
        logs[key] = StubLog()
        fetcher.add_partition(key, TOPIC_A if key[0] == "a" else TOPIC_B, 3, logs[key])
    return fetcher, logs


def _named(request: dict[str, Any]) -> dict[tuple[str, int], int]:
    """The partitions a request names: key -> fetch offset."""
    return {
        (topic["topic"], part["partition"]): part["fetch_offset"]
        for topic in request["topics"]
        for part in topic["partitions"]
    }


def _forgotten(request: dict[str, Any]) -> set[tuple[uuid.UUID, int]]:
    return {
        (topic["topic_id"], index)
        for topic in request["forgotten_topics_data"]
        for index in topic["partitions"]
    }


def _part(index: int, error: ErrorCode = ErrorCode.NONE, **fields: Any) -> dict[str, Any]:
    part: dict[str, Any] = {
        "partition_index": index,
        "error_code": int(error),
        "high_watermark": 5,
        "log_start_offset": 0,
        "records": b"",
    }
    part.update(fields)
    return part


def _response(session_id: int, *parts: tuple[str, dict[str, Any]], error: int = 0) -> Any:
    topics: dict[str, list[dict[str, Any]]] = {}
    for name, part in parts:
        topics.setdefault(name, []).append(part)
    return {
        "error_code": error,
        "session_id": session_id,
        "responses": [
            {"topic": name, "topic_id": TOPIC_A if name == "a" else TOPIC_B, "partitions": items}
            for name, items in topics.items()
        ],
    }


def _open(fetcher: ReplicaFetchState, logs: dict[Any, StubLog], session_id: int = 42) -> None:
    """A first full round in which the leader creates session ``session_id``."""
    request = fetcher.build_request(0)
    assert request is not None
    assert (request["session_id"], request["session_epoch"]) == (0, INITIAL_EPOCH)
    parts = [(key[0], _part(key[1])) for key in fetcher.partitions]
    fetcher.handle_response(_response(session_id, *parts), logs, 0)


def test_the_first_request_is_full_and_asks_for_a_session() -> None:
    fetcher, _ = _fetcher(A0, A1, B0)
    request = fetcher.build_request(0)
    assert request is not None
    assert (request["session_id"], request["session_epoch"]) == (0, 0)
    assert _named(request) == {A0: 5, A1: 5, B0: 5}
    assert request["forgotten_topics_data"] == []


def test_in_a_session_only_changed_partitions_are_named() -> None:
    fetcher, logs = _fetcher(A0, A1, B0)
    _open(fetcher, logs)
    assert fetcher.sessions_established == 1
    request = fetcher.build_request(0)
    assert request is not None
    assert (request["session_id"], request["session_epoch"]) == (42, 1)
    assert _named(request) == {} and _forgotten(request) == set()
    # Every session partition is answered for, unchanged ones included.
    assert fetcher.requested == {A0: (5, 3), A1: (5, 3), B0: (5, 3)}
    fetcher.handle_response(_response(42), logs, 0)
    logs[A1].log_end_offset = 9
    fetcher.on_log_changed(A1, logs[A1])
    request = fetcher.build_request(0)
    assert request is not None
    assert request["session_epoch"] == 2
    assert _named(request) == {A1: 9}


def test_absent_partitions_mean_no_change() -> None:
    fetcher, logs = _fetcher(A0, A1, B0)
    _open(fetcher, logs)
    assert fetcher.build_request(0) is not None
    response = _response(42, ("a", _part(1, records=b"x", high_watermark=6)))
    effects = fetcher.handle_response(response, logs, 0)
    assert effects == [AppendRecords(A1, b"x", 6, 0, 5)]
    assert fetcher.build_request(0) is not None
    assert fetcher.handle_response(_response(42), logs, 0) == []
    assert fetcher.session_id == 42 and fetcher.session_epoch == 3


def test_partitions_no_longer_fetched_are_forgotten_and_come_back_named() -> None:
    fetcher, logs = _fetcher(A0, A1, B0)
    _open(fetcher, logs)
    fetcher.remove_partition(A0)
    fetcher.partitions[B0].delayed_until_ms = 500  # backed off
    request = fetcher.build_request(0)
    assert request is not None
    assert _named(request) == {} and _forgotten(request) == {(TOPIC_A, 0), (TOPIC_B, 0)}
    assert set(fetcher.requested) == {A1}
    fetcher.handle_response(_response(42), logs, 0)
    fetcher.add_partition(A0, TOPIC_A, 3, logs[A0])
    request = fetcher.build_request(500)
    assert request is not None
    assert _named(request) == {A0: 5, B0: 5} and _forgotten(request) == set()


def test_a_recreated_topic_forgets_its_old_id() -> None:
    fetcher, logs = _fetcher(A0)
    _open(fetcher, logs)
    new_id = uuid.uuid4()
    fetcher.add_partition(A0, new_id, 0, StubLog(0, 0, -1))
    request = fetcher.build_request(0)
    assert request is not None
    assert _named(request) == {A0: 0}
    assert request["topics"][0]["topic_id"] == new_id
    assert _forgotten(request) == {(TOPIC_A, 0)}


def test_a_partition_the_session_does_not_hold_resets_it() -> None:
    fetcher, logs = _fetcher(A0, A1)
    _open(fetcher, logs)
    fetcher.partitions[A1].delayed_until_ms = 500
    assert fetcher.build_request(0) is not None
    fetcher.handle_response(_response(42, ("a", _part(1))), logs, 0)
    request = fetcher.build_request(500)
    assert request is not None
    assert (request["session_id"], request["session_epoch"]) == (0, INITIAL_EPOCH)


@pytest.mark.parametrize(
    "error", [ErrorCode.FETCH_SESSION_ID_NOT_FOUND, ErrorCode.INVALID_FETCH_SESSION_EPOCH]
)
def test_session_errors_reset_to_a_full_fetch_at_once(error: ErrorCode) -> None:
    fetcher, logs = _fetcher(A0, A1)
    _open(fetcher, logs)
    assert fetcher.build_request(0) is not None
    assert fetcher.handle_response(_response(0, error=int(error)), logs, 0) == []
    request = fetcher.build_request(0)  # no back-off
    assert request is not None
    assert (request["session_id"], request["session_epoch"]) == (0, INITIAL_EPOCH)
    assert _named(request) == {A0: 5, A1: 5}


def test_other_top_level_errors_back_off_and_reset() -> None:
    fetcher, logs = _fetcher(A0)
    _open(fetcher, logs)
    assert fetcher.build_request(0) is not None
    fetcher.handle_response(_response(0, error=int(ErrorCode.UNKNOWN_SERVER_ERROR)), logs, 0)
    assert fetcher.build_request(0) is None
    request = fetcher.build_request(BACKOFF_MS)
    assert request is not None and request["session_epoch"] == INITIAL_EPOCH


def test_a_declined_session_stays_sessionless_until_a_reset() -> None:
    fetcher, logs = _fetcher(A0, A1)
    _open(fetcher, logs, session_id=0)
    assert fetcher.sessions_established == 0
    for _ in range(2):
        request = fetcher.build_request(0)
        assert request is not None
        assert (request["session_id"], request["session_epoch"]) == (0, FINAL_EPOCH)
        assert _named(request) == {A0: 5, A1: 5}
        effects = fetcher.handle_response(_response(0, ("a", _part(0))), logs, 0)
        assert effects == [UpdateHighWatermark(A0, 5, 0)]
    fetcher.reset_session()  # a new connection
    request = fetcher.build_request(0)
    assert request is not None and request["session_epoch"] == INITIAL_EPOCH


def test_a_reset_starts_a_new_session() -> None:
    fetcher, logs = _fetcher(A0)
    _open(fetcher, logs)
    fetcher.reset_session()
    request = fetcher.build_request(0)
    assert request is not None
    assert (request["session_id"], request["session_epoch"]) == (0, INITIAL_EPOCH)
    assert _named(request) == {A0: 5}


def test_a_leader_closing_the_session_resets_it() -> None:
    fetcher, logs = _fetcher(A0)
    _open(fetcher, logs)
    assert fetcher.build_request(0) is not None
    fetcher.handle_response(_response(0, ("a", _part(0))), logs, 0)
    request = fetcher.build_request(0)
    assert request is not None and request["session_epoch"] == INITIAL_EPOCH


def test_the_request_epoch_wraps_from_int32_max_to_one() -> None:
    fetcher, logs = _fetcher(A0)
    _open(fetcher, logs)
    fetcher.session_epoch = MAX_EPOCH
    request = fetcher.build_request(0)
    assert request is not None and request["session_epoch"] == MAX_EPOCH
    fetcher.handle_response(_response(42), logs, 0)
    request = fetcher.build_request(0)
    assert request is not None and request["session_epoch"] == 1


def test_sessions_can_be_switched_off() -> None:
    fetcher, logs = _fetcher(A0, sessions=False)
    request = fetcher.build_request(0)
    assert request is not None and request["session_epoch"] == FINAL_EPOCH
    fetcher.handle_response(_response(0, ("a", _part(0))), logs, 0)
    request = fetcher.build_request(0)
    assert request is not None and request["session_epoch"] == FINAL_EPOCH


# -- the leader's Fetch handler serving a session -------------------------------------------

FOLLOWER = 7
LEADER = 1


@dataclass
class LeaderLog:
    """A leader log of one-byte 'batches' (offset i holds byte i)."""

    log_end_offset: int = 0
    log_start_offset: int = 0
    epoch: int = 3

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return (self.epoch, self.log_end_offset) if epoch == self.epoch else (-1, -1)

    def read(self, offset: int, max_bytes: int, max_offset: int, *, min_one_batch: bool) -> bytes:
        return bytes(range(offset, min(max_offset, offset + max_bytes)))

    def last_stable_offset(self, high_watermark: int) -> int:
        return high_watermark  # no transactions here


@dataclass
class FakeBroker:
    """What the Fetch handler reads of a broker, with a clock the test moves."""

    now_ms: int = 1000
    partitions: dict[tuple[str, int], Partition] = field(default_factory=dict)
    logs: dict[tuple[str, int], LeaderLog] = field(default_factory=dict)
    fetched: list[tuple[tuple[str, int], int]] = field(default_factory=list)
    image: Any = None
    quotas: BrokerQuotas = field(default_factory=lambda: BrokerQuotas(QuotaWindow()))

    def add(self, key: tuple[str, int], topic_id: uuid.UUID, end: int) -> None:
        replicas = (LEADER, FOLLOWER)
        partition = Partition(key[0], key[1], topic_id, LEADER, replicas, replicas, LEADER, 2, 2)
        partition.apply_state(PartitionState(replicas, replicas, LEADER, 3, 1), 0)
        self.partitions[key] = partition
        self.logs[key] = LeaderLog(end)
        partition.on_local_append(end, end)

    def partition_log(self, topic: str, index: int) -> LeaderLog:
        return self.logs[(topic, index)]

    def not_hosted_error(self, topic: str, index: int) -> ErrorCode:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    # The real read (it calls back into the fakes above and below).
    read_for_follower = ReplicaManager.read_for_follower

    def on_follower_fetch(
        self,
        partition: Partition,
        replica_id: int,
        fetch_offset: int,
        replica_epoch: int,
        log_start_offset: int = -1,
    ) -> None:
        self.fetched.append(((partition.topic, partition.index), fetch_offset))
        partition.on_follower_fetch(
            replica_id, fetch_offset, replica_epoch, self.now_ms, True, log_start_offset=-1
        )

    def append(self, key: tuple[str, int], count: int) -> None:
        log_ = self.logs[key]
        log_.log_end_offset += count
        self.partitions[key].on_local_append(log_.log_end_offset, count)


def _container(value: Any) -> Any:
    if isinstance(value, dict):
        return Container({key: _container(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_container(item) for item in value]
    return value


class Leader:
    """Fetch requests through the real handler, on one connection (its state dict)."""

    def __init__(self) -> None:
        self.broker = FakeBroker()
        self.broker.add(A0, TOPIC_A, 5)
        self.broker.add(A1, TOPIC_A, 5)
        self.broker.add(B0, TOPIC_B, 5)
        by_id = {TOPIC_A: SimpleNamespace(name="a"), TOPIC_B: SimpleNamespace(name="b")}
        self.broker.image = SimpleNamespace(topics_by_id=by_id)
        self.connection: dict[str, Any] = {}

    def fetch(self, body: dict[str, Any], version: int = 15) -> Any:
        async def run() -> Any:
            current_connection_state.set(self.connection)
            header = RequestHeader(1, version, 1, "test", 0)
            server = cast(Any, self.broker)
            return await fetch.handle(server, header, _container(body))

        return anyio.run(run)


def _follower() -> tuple[ReplicaFetchState, dict[Any, StubLog]]:
    settings = FetcherSettings(replica_id=FOLLOWER, max_wait_ms=0, backoff_ms=BACKOFF_MS)
    fetcher = ReplicaFetchState(LEADER, settings)
    logs = {}
    for key in (A0, A1, B0):
        logs[key] = StubLog(5)
        fetcher.add_partition(key, TOPIC_A if key[0] == "a" else TOPIC_B, 3, logs[key])
    return fetcher, logs


def _answered(response: Any) -> dict[tuple[str, int], dict[str, Any]]:
    return {
        (topic["topic"], part["partition_index"]): part
        for topic in response["responses"]
        for part in topic["partitions"]
    }


def _round(leader: Leader, fetcher: ReplicaFetchState, logs: dict[Any, StubLog]) -> Any:
    request = fetcher.build_request(0, 1)
    assert request is not None
    response = leader.fetch(request)
    fetcher.handle_response(response, logs, 0)
    return response


def test_the_leader_opens_a_session_and_answers_only_changes() -> None:
    leader = Leader()
    fetcher, logs = _follower()
    response = _round(leader, fetcher, logs)
    assert response["session_id"] != 0 and fetcher.session_id == response["session_id"]
    assert set(_answered(response)) == {A0, A1, B0}
    response = _round(leader, fetcher, logs)
    assert response["session_id"] == fetcher.session_id
    assert _answered(response) == {}
    leader.broker.append(B0, 2)
    response = _round(leader, fetcher, logs)
    assert set(_answered(response)) == {B0}
    assert bytes(_answered(response)[B0]["records"]) == bytes([5, 6])


def test_an_absent_partition_still_counts_as_fetched_at_its_session_offset() -> None:
    """The HW and the caught-up time move with every follower fetch, "nothing new" ones too:
    an unchanged partition left out of an incremental request is fetched at the session's
    offset (getting this wrong shrinks the ISR after a quiet spell, or stalls the HW)."""
    leader = Leader()
    fetcher, logs = _follower()
    _round(leader, fetcher, logs)
    fetches = len(leader.broker.fetched)
    leader.broker.now_ms = 60_000  # a quiet minute, far beyond replica.lag.time.max.ms
    request = fetcher.build_request(0, 1)
    assert request is not None and request["topics"] == []
    response = leader.fetch(request)
    assert _answered(response) == {}
    assert sorted(leader.broker.fetched[fetches:]) == [(A0, 5), (A1, 5), (B0, 5)]
    for key in (A0, A1, B0):
        partition = leader.broker.partitions[key]
        assert partition.followers[FOLLOWER].last_caught_up_ms == 60_000
        leader.broker.append(key, 1)  # the next write: still caught up a moment ago
        assert partition.maybe_shrink(60_100, 5_000) is None
        assert partition.high_watermark == 5


def test_the_high_watermark_reaches_the_follower_in_a_session() -> None:
    leader = Leader()
    fetcher, logs = _follower()
    _round(leader, fetcher, logs)
    leader.broker.append(A0, 1)
    response = _round(leader, fetcher, logs)
    assert _answered(response)[A0]["high_watermark"] == 5
    logs[A0].log_end_offset = 6  # the follower appended the record
    fetcher.on_log_changed(A0, logs[A0])
    response = _round(leader, fetcher, logs)
    assert leader.broker.partitions[A0].high_watermark == 6
    assert _answered(response)[A0]["high_watermark"] == 6
    assert _answered(_round(leader, fetcher, logs)) == {}


def test_forgotten_partitions_are_not_served_any_more() -> None:
    leader = Leader()
    fetcher, logs = _follower()
    _round(leader, fetcher, logs)
    fetcher.remove_partition(A1)
    _round(leader, fetcher, logs)
    fetches = len(leader.broker.fetched)
    leader.broker.append(A1, 3)
    assert _answered(_round(leader, fetcher, logs)) == {}
    assert sorted(key for key, _ in leader.broker.fetched[fetches:]) == [A0, B0]


def test_session_errors_from_the_leader() -> None:
    leader = Leader()
    fetcher, logs = _follower()
    _round(leader, fetcher, logs)
    request = fetcher.build_request(0, 1)
    assert request is not None
    wrong_epoch = leader.fetch(request | {"session_epoch": request["session_epoch"] + 1})
    assert (wrong_epoch["error_code"], wrong_epoch["responses"]) == (
        ErrorCode.INVALID_FETCH_SESSION_EPOCH,
        [],
    )
    unknown = leader.fetch(request | {"session_id": request["session_id"] + 1})
    assert unknown["error_code"] == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    other_connection = Leader()
    assert other_connection.fetch(request)["error_code"] == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    assert leader.fetch(request)["error_code"] == ErrorCode.NONE  # the right epoch still works
    fetcher.handle_response(wrong_epoch, logs, 0)
    response = _round(leader, fetcher, logs)  # the follower starts a new session
    assert response["session_id"] == fetcher.session_id != request["session_id"]
    assert set(_answered(response)) == {A0, A1, B0}


def test_a_sessionless_fetch_closes_the_session() -> None:
    leader = Leader()
    fetcher, logs = _follower()
    _round(leader, fetcher, logs)
    full = fetcher.build_request(0, 1)
    assert full is not None
    session_id = fetcher.session_id
    fetcher.reset_session()
    full = fetcher.build_request(0, 1)
    assert full is not None
    response = leader.fetch(full | {"session_epoch": FINAL_EPOCH})
    assert response["session_id"] == 0 and set(_answered(response)) == {A0, A1, B0}
    assert leader.connection == {}
    stale = leader.fetch(full | {"session_id": session_id, "session_epoch": 2})
    assert stale["error_code"] == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_consumers_are_declined() -> None:
    leader = Leader()
    for key in leader.broker.partitions.values():
        key.on_leader_high_watermark(5)
    body = {
        "replica_id": -1,
        "replica_state": {"replica_id": -1, "replica_epoch": -1},
        "max_wait_ms": 0,
        "min_bytes": 1,
        "max_bytes": 1 << 20,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": INITIAL_EPOCH,
        "topics": [
            {
                "topic": "a",
                "topic_id": TOPIC_A,
                "partitions": [
                    {
                        "partition": 0,
                        "current_leader_epoch": -1,
                        "fetch_offset": 0,
                        "last_fetched_epoch": -1,
                        "log_start_offset": -1,
                        "partition_max_bytes": 1 << 20,
                    }
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    response = leader.fetch(body)
    assert response["session_id"] == 0 and leader.connection == {}
