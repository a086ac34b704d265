"""The pure parts of the share fetch shell and the share configs: what a read of whole
batches covers (``max_records``, aborted transactional batches), range subtraction, and the
``group.share.*`` / ``share.*`` config rules."""

from __future__ import annotations

import re

import pytest

from broker import config as broker_config
from broker.core.share_partition import AcquiredRecords
from broker.server.share_service import ReadBatches, _subtract
from client.protocol.records import build_batch


def _log(*batches: tuple[int, int, int]) -> bytes:
    """Batches of (base offset, record count, producer id; -1: not transactional)."""
    return b"".join(
        build_batch(
            [b"v"] * count,
            base_offset=base,
            producer_id=producer,
            producer_epoch=0 if producer >= 0 else -1,
            base_sequence=0 if producer >= 0 else -1,
            transactional=producer >= 0,
        )
        for base, count, producer in batches
    )


def test_a_read_stops_after_the_batch_that_reaches_max_records() -> None:
    data = _log((0, 3, -1), (3, 3, -1), (6, 3, -1))
    read = ReadBatches(data, 4, {})
    assert (read.first, read.last) == (0, 5)  # whole batches: 6 records for 4 asked
    assert data[: read.size] == _log((0, 3, -1), (3, 3, -1))
    everything = ReadBatches(data, 100, {})
    assert (everything.last, everything.size) == (8, len(data))
    # A torn tail (a batch cut short) is left out.
    torn = ReadBatches(data[:-5], 100, {})
    assert torn.last == 5


def test_aborted_batches_are_those_of_aborting_producers() -> None:
    data = _log((0, 2, 7), (2, 2, -1), (4, 1, 8), (5, 2, 7))
    # Producer 7 aborted its transaction of offsets 0..2 (the marker at 2 is not in this
    # log excerpt); its later batch at 5 is of another, committed transaction.
    read = ReadBatches(data, 100, {7: [(0, 2)]})
    assert read.aborted == [(0, 1)]
    assert ReadBatches(data, 100, {7: [(0, 2), (5, 9)]}).aborted == [(0, 1), (5, 6)]
    assert ReadBatches(data, 100, {}).aborted == []


def test_subtracting_ranges() -> None:
    acquired = [AcquiredRecords(0, 9, 1), AcquiredRecords(20, 25, 2)]
    assert _subtract(acquired, [(3, 4), (8, 21)]) == [
        AcquiredRecords(0, 2, 1),
        AcquiredRecords(5, 7, 1),
        AcquiredRecords(22, 25, 2),
    ]
    assert _subtract(acquired, []) == acquired
    assert _subtract(acquired, [(0, 30)]) == []


def test_share_auto_offset_reset_values() -> None:
    assert broker_config.share_auto_offset_reset("latest") == "latest"
    assert broker_config.share_auto_offset_reset(" EARLIEST ") == "earliest"
    assert broker_config.share_auto_offset_reset("by_duration:PT1H") == 3_600_000
    assert broker_config.share_auto_offset_reset("by_duration:P1DT0.5S") == 86_400_500
    for bad in ("by_duration:", "by_duration:PT", "by_duration:1H", "by_duration:-PT1H", "x"):
        assert broker_config.share_auto_offset_reset(bad) is None, bad


def _broker(**settings: str) -> broker_config.BrokerConfig:
    return broker_config.build_config(settings.items()).config


def test_share_group_configs_are_checked() -> None:
    broker = _broker()
    ok = broker_config.validate_group_configs(
        broker,
        {
            "share.auto.offset.reset": "by_duration:PT10M",
            "share.isolation.level": "READ_COMMITTED",
            "share.record.lock.duration.ms": "20000",
            "share.heartbeat.interval.ms": "6000",
            "share.session.timeout.ms": None,
        },
    )
    assert ok == {
        "share.auto.offset.reset": "by_duration:PT10M",
        "share.isolation.level": "read_committed",
        "share.record.lock.duration.ms": "20000",
        "share.heartbeat.interval.ms": "6000",
    }
    refusals = {
        "share.auto.offset.reset": "newest",
        "share.isolation.level": "serializable",
        "share.record.lock.duration.ms": "1000",  # below group.share.min.record.lock...
        "share.session.timeout.ms": "90000",
    }
    for name, value in refusals.items():
        with pytest.raises(broker_config.ConfigError, match=name.split(".")[1]):
            broker_config.validate_group_configs(broker, {name: value})
    entries = {e.name: e for e in broker_config.describe_group_config(broker, {})}
    assert entries["share.auto.offset.reset"].value == "latest"
    assert entries["share.record.lock.duration.ms"].synonyms[0].name == (
        "group.share.record.lock.duration.ms"
    )


def test_share_broker_keys_are_checked_at_start_up() -> None:
    assert _broker().group_share_partition_max_record_locks == 2000
    with pytest.raises(
        broker_config.ConfigError, match=re.escape("group.share.heartbeat.interval.ms")
    ):
        _broker(**{"group.share.heartbeat.interval.ms": "3000"})  # below its min 5000
    with pytest.raises(broker_config.ConfigError, match="must be less than"):
        _broker(
            **{
                "group.share.heartbeat.interval.ms": "50000",
                "group.share.max.heartbeat.interval.ms": "60000",
            }
        )
    with pytest.raises(broker_config.ConfigError, match=re.escape("max.share.sessions")):
        _broker(**{"group.share.max.share.sessions": "10"})
    with pytest.raises(broker_config.ConfigError, match=re.escape("delivery.count.limit")):
        _broker(**{"group.share.delivery.count.limit": "11"})
