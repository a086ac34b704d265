"""Process lifecycle: clean SIGTERM shutdown, idle connections closed, restarts keep data."""

from __future__ import annotations

from typing import Any

from broker.testing import BrokerFactory, ProcessBroker
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection


def _create_and_produce(bootstrap: str, topic: str, values: list[bytes]) -> int:
    with RawConnection(bootstrap) as conn:
        body: dict[str, Any] = {
            "topics": [
                {
                    "name": topic,
                    "num_partitions": 2,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [{"name": "retention.ms", "value": "-1"}],
                }
            ],
            "timeout_ms": 1000,
        }
        assert conn.request(19, 4, body).topics[0].error_code == ErrorCode.NONE
        produce = {
            "transactional_id": None,
            "acks": -1,
            "timeout_ms": 1000,
            "topic_data": [
                {"name": topic, "partition_data": [{"index": 1, "records": build_batch(values)}]}
            ],
        }
        result = conn.request(0, 8, produce).responses[0].partition_responses[0]
        assert result.error_code == ErrorCode.NONE
        return int(result.base_offset)


def _latest(bootstrap: str, topic: str) -> int:
    with RawConnection(bootstrap) as conn:
        body = {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [{"name": topic, "partitions": [{"partition_index": 1, "timestamp": -1}]}],
        }
        return int(conn.request(2, 5, body).topics[0].partitions[0].offset)


def test_sigterm_is_clean_and_restart_keeps_topics_and_data(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start(subprocess=True)
    assert isinstance(broker, ProcessBroker)
    assert _create_and_produce(broker.bootstrap, "kept", [b"a", b"b", b"c"]) == 0
    assert broker.terminate() == 0
    output = b"".join(broker.output)
    assert b"stopped cleanly" in output
    assert (broker.data_dir / ".kafka_cleanshutdown").exists()
    assert (broker.data_dir / "kept-1" / "00000000000000000000.log").exists()
    again = kafka_broker_factory.start(subprocess=True, data_dir=broker.data_dir)
    assert _latest(again.bootstrap, "kept") == 3
    with RawConnection(again.bootstrap) as conn:
        metadata = conn.request(3, 8, {"topics": None, "allow_auto_topic_creation": False})
        topics = {topic.name: len(topic.partitions) for topic in metadata.topics}
        assert topics == {"kept": 2}
        config = conn.request(
            32,
            2,
            {
                "resources": [
                    {
                        "resource_type": 2,
                        "resource_name": "kept",
                        "configuration_keys": ["retention.ms"],
                    }
                ],
                "include_synonyms": False,
            },
        )
        entry = config.results[0].configs[0]
        assert (entry.name, entry.value) == ("retention.ms", "-1")


def test_idle_connections_are_closed(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start({"connections.max.idle.ms": "200"})
    with RawConnection(broker.bootstrap) as conn:
        assert conn.request(18, 0, {}).error_code == ErrorCode.NONE
        # The broker's own idle timer closes it; the socket timeout (10 s) bounds the wait.
        assert conn.is_closed_by_peer()


def test_deleted_topic_is_gone_after_restart(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start(subprocess=True)
    _create_and_produce(broker.bootstrap, "doomed", [b"x"])
    with RawConnection(broker.bootstrap) as conn:
        result = conn.request(20, 4, {"topic_names": ["doomed"], "timeout_ms": 1000})
        assert result.responses[0].error_code == ErrorCode.NONE
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(subprocess=True, data_dir=broker.data_dir)
    with RawConnection(again.bootstrap) as conn:
        metadata = conn.request(
            3, 8, {"topics": [{"name": "doomed"}], "allow_auto_topic_creation": False}
        )
        assert metadata.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert not any(path.name.startswith("doomed-") for path in broker.data_dir.iterdir())


def _init_producer_id(bootstrap: str, version: int = 1, transactional_id: str | None = None) -> Any:
    with RawConnection(bootstrap) as conn:
        body = {"transactional_id": transactional_id, "transaction_timeout_ms": 60000}
        return conn.request(22, version, body)


def test_producer_ids_are_never_reused_across_kill9(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start(subprocess=True)
    first = [_init_producer_id(broker.bootstrap, version) for version in (0, 1, 4)]
    assert [r.error_code for r in first] == [ErrorCode.NONE] * 3
    assert [r.producer_epoch for r in first] == [0, 0, 0]
    ids = [r.producer_id for r in first]
    assert len(set(ids)) == 3
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(subprocess=True, data_dir=broker.data_dir)
    after = _init_producer_id(again.bootstrap).producer_id
    assert after > max(ids)


def test_transactional_ids_keep_their_producer_id_across_kill9(
    kafka_broker_factory: BrokerFactory,
) -> None:
    """A transactional id keeps its producer id and each InitProducerId bumps its epoch, which
    ``__transaction_state`` keeps across a kill -9; a plain id never gets that id."""
    broker = kafka_broker_factory.start(
        {"transaction.state.log.num.partitions": "2"}, subprocess=True
    )
    first = _init_producer_id(broker.bootstrap, 1, "txn-1")
    second = _init_producer_id(broker.bootstrap, 4, "txn-1")
    assert (first.error_code, second.error_code) == (ErrorCode.NONE, ErrorCode.NONE)
    assert second.producer_id == first.producer_id
    assert (first.producer_epoch, second.producer_epoch) == (0, 1)
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(
        {"transaction.state.log.num.partitions": "2"}, subprocess=True, data_dir=broker.data_dir
    )
    third = _init_producer_id(again.bootstrap, 1, "txn-1")
    assert (third.error_code, third.producer_id, third.producer_epoch) == (
        ErrorCode.NONE,
        first.producer_id,
        2,
    )
    assert _init_producer_id(again.bootstrap).producer_id != first.producer_id


def _consumer_heartbeat(bootstrap: str, member_epoch: int, **fields: Any) -> Any:
    body = {
        "group_id": "kip848",
        "member_id": "member-1",
        "member_epoch": member_epoch,
        "instance_id": None,
        "rack_id": None,
        "rebalance_timeout_ms": -1,
        "subscribed_topic_names": None,
        "subscribed_topic_regex": None,
        "server_assignor": None,
        "topic_partitions": None,
    }
    body.update(fields)
    with RawConnection(bootstrap) as conn:
        return conn.request(68, 1, body)


def test_consumer_group_members_keep_their_epoch_across_kill9(
    kafka_broker_factory: BrokerFactory,
) -> None:
    """KIP-848 membership is in ``__consumer_offsets``: after a kill -9 and a restart, a
    member heartbeats on at its epoch and keeps its partitions (no rejoin)."""
    settings = {"offsets.topic.num.partitions": "2"}
    broker = kafka_broker_factory.start(settings, subprocess=True)
    _create_and_produce(broker.bootstrap, "kip848-topic", [b"x"])
    joined = _consumer_heartbeat(
        broker.bootstrap,
        0,
        rebalance_timeout_ms=30_000,
        subscribed_topic_names=["kip848-topic"],
        topic_partitions=[],
    )
    assert joined.error_code == ErrorCode.NONE and joined.member_epoch == 1
    owned = [
        {"topic_id": tp.topic_id, "partitions": list(tp.partitions)}
        for tp in joined.assignment.topic_partitions
    ]
    assert owned and owned[0]["partitions"] == [0, 1]  # both partitions of the topic
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(settings, subprocess=True, data_dir=broker.data_dir)
    after = _consumer_heartbeat(again.bootstrap, 1, topic_partitions=owned)
    assert (after.error_code, after.member_epoch) == (ErrorCode.NONE, 1)
    with RawConnection(again.bootstrap) as conn:
        described = conn.request(69, 0, {"group_ids": ["kip848"]}).groups[0]
    assert described.error_code == ErrorCode.NONE and described.group_state == "Stable"
    assert [m.member_id for m in described.members] == ["member-1"]
