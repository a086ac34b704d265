"""AlterConfigs / IncrementalAlterConfigs in the core: per-resource answers, ConfigRecords
for what changes, and their replay (broker/core/config_changes.py, with broker.config's real
topic-key rules)."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.config import load_config
from broker.core import config_changes
from broker.core.config_changes import (
    ConfigChange,
    ConfigOperation,
    ResourceChange,
    alter_configs,
    change_visible,
    preprocess,
)
from broker.core.metadata import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ConfigRecord,
    MetadataImage,
    PartitionRecord,
    TopicRecord,
    record_from_dict,
    record_to_dict,
)
from broker.server.handlers.alter_configs import ConfigSchema
from client.protocol.errors import ErrorCode

NODE_ID = 1
SCHEMA = ConfigSchema(load_config(None, []).config)
SET, DELETE, APPEND, SUBTRACT = (int(op) for op in ConfigOperation)


def _image(**configs: str) -> MetadataImage:
    image = MetadataImage()
    topic_id = str(uuid.UUID(int=1))
    image.replay(TopicRecord("t", topic_id))
    image.replay(PartitionRecord(topic_id, 0, (1,), (1,), 1, 0, 0))
    for name, value in configs.items():
        image.replay(ConfigRecord(TOPIC_RESOURCE, "t", name.replace("_", "."), value))
    return image


def _topic(*changes: ConfigChange, name: str = "t") -> ResourceChange:
    return ResourceChange(TOPIC_RESOURCE, name, changes)


def _set(name: str, value: str | None) -> ConfigChange:
    return ConfigChange(name, value, SET)


def _run(
    image: MetadataImage,
    *resources: ResourceChange,
    incremental: bool,
    validate_only: bool = False,
) -> config_changes.ConfigChangeResult:
    return alter_configs(
        image,
        SCHEMA,
        NODE_ID,
        list(resources),
        incremental=incremental,
        validate_only=validate_only,
    )


def _apply(image: MetadataImage, result: config_changes.ConfigChangeResult) -> dict[str, str]:
    for record in result.records:
        image.replay(record)
    topic = image.topic("t")
    assert topic is not None
    return dict(topic.configs)


# -- AlterConfigs: the whole set is replaced ---------------------------------------------------


def test_alter_configs_replaces_the_whole_set() -> None:
    image = _image(retention_ms="5", cleanup_policy="compact")
    result = _run(image, _topic(_set("retention.ms", " 100 ")), incremental=False)
    assert [r.error_code for r in result.results] == [ErrorCode.NONE]
    assert result.records == [
        ConfigRecord(TOPIC_RESOURCE, "t", "cleanup.policy", None),
        ConfigRecord(TOPIC_RESOURCE, "t", "retention.ms", "100"),
    ]
    assert image.topic("t").configs == {"retention.ms": "5", "cleanup.policy": "compact"}  # type: ignore[union-attr]
    assert _apply(image, result) == {"retention.ms": "100"}


def test_alter_configs_with_no_keys_reverts_everything_to_defaults() -> None:
    image = _image(retention_ms="5", min_insync_replicas="2")
    assert _apply(image, _run(image, _topic(), incremental=False)) == {}


def test_unchanged_values_write_no_records() -> None:
    image = _image(retention_ms="5")
    result = _run(image, _topic(_set("retention.ms", "5")), incremental=False)
    assert result.results[0].error_code is ErrorCode.NONE
    assert result.records == []


def test_unknown_key_and_bad_value_are_invalid_config() -> None:
    image = _image(retention_ms="5")
    unknown = _run(image, _topic(_set("retention.mss", "1")), incremental=False).results[0]
    assert unknown.error_code is ErrorCode.INVALID_CONFIG
    assert unknown.error_message is not None and "retention.mss" in unknown.error_message
    bad = _run(image, _topic(_set("retention.ms", "soon")), incremental=True)
    assert bad.results[0].error_code is ErrorCode.INVALID_CONFIG
    assert (
        bad.results[0].error_message is not None and "retention.ms" in bad.results[0].error_message
    )
    assert bad.records == []
    # A broker key is not a topic key (the message names the topic counterpart).
    broker_key = _run(image, _topic(_set("log.retention.ms", "1")), incremental=True).results[0]
    assert broker_key.error_code is ErrorCode.INVALID_CONFIG


def test_a_failing_key_fails_the_whole_resource() -> None:
    image = _image()
    result = _run(
        image, _topic(_set("retention.ms", "7"), _set("segment.bytes", "1")), incremental=True
    )
    assert result.results[0].error_code is ErrorCode.INVALID_CONFIG
    assert result.records == []


def test_unknown_topic() -> None:
    image = _image()
    missing = _run(image, _topic(_set("retention.ms", "1"), name="nope"), incremental=False)
    assert missing.results[0].error_code is ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert missing.results[0].error_message == "Topic 'nope' does not exist."
    # As Kafka: the configs are validated before the topic's existence is checked.
    both = _run(image, _topic(_set("bogus", "1"), name="nope"), incremental=False)
    assert both.results[0].error_code is ErrorCode.INVALID_CONFIG


def test_default_and_illegal_topic_names() -> None:
    image = _image()
    empty = _run(image, _topic(name=""), incremental=True).results[0]
    assert empty.error_code is ErrorCode.INVALID_REQUEST
    illegal = _run(image, _topic(name="a/b"), incremental=True).results[0]
    assert illegal.error_code is ErrorCode.INVALID_TOPIC_EXCEPTION


def test_validate_only_changes_nothing() -> None:
    image = _image(retention_ms="5")
    result = _run(image, _topic(_set("retention.ms", "9")), incremental=False, validate_only=True)
    assert result.results[0].error_code is ErrorCode.NONE
    assert result.records == []
    refused = _run(image, _topic(_set("retention.ms", "x")), incremental=True, validate_only=True)
    assert refused.results[0].error_code is ErrorCode.INVALID_CONFIG


# -- IncrementalAlterConfigs -------------------------------------------------------------------


def test_set_and_delete_touch_only_their_keys() -> None:
    image = _image(retention_ms="5", segment_bytes="1048576")
    result = _run(
        image,
        _topic(_set("min.insync.replicas", "2"), ConfigChange("retention.ms", None, DELETE)),
        incremental=True,
    )
    assert result.records == [
        ConfigRecord(TOPIC_RESOURCE, "t", "min.insync.replicas", "2"),
        ConfigRecord(TOPIC_RESOURCE, "t", "retention.ms", None),
    ]
    assert _apply(image, result) == {"segment.bytes": "1048576", "min.insync.replicas": "2"}


def test_delete_of_an_unset_key_is_a_no_op() -> None:
    image = _image()
    result = _run(image, _topic(ConfigChange("retention.ms", None, DELETE)), incremental=True)
    assert (result.results[0].error_code, result.records) == (ErrorCode.NONE, [])


def test_append_starts_from_the_default_and_skips_present_items() -> None:
    image = _image()
    appended = _run(
        image, _topic(ConfigChange("cleanup.policy", "compact", APPEND)), incremental=True
    )
    assert _apply(image, appended) == {"cleanup.policy": "delete,compact"}
    again = _run(
        image, _topic(ConfigChange("cleanup.policy", "delete,compact", APPEND)), incremental=True
    )
    assert (again.results[0].error_code, again.records) == (ErrorCode.NONE, [])


def test_subtract_removes_items() -> None:
    image = _image(cleanup_policy="compact,delete")
    result = _run(
        image, _topic(ConfigChange("cleanup.policy", "compact", SUBTRACT)), incremental=True
    )
    assert _apply(image, result) == {"cleanup.policy": "delete"}
    # Absent items are ignored; an empty cleanup.policy is not a valid value.
    emptied = _run(
        image, _topic(ConfigChange("cleanup.policy", "delete,gone", SUBTRACT)), incremental=True
    )
    assert emptied.results[0].error_code is ErrorCode.INVALID_CONFIG


def test_append_and_subtract_need_a_list_key() -> None:
    image = _image()
    for operation in (APPEND, SUBTRACT):
        result = _run(image, _topic(ConfigChange("retention.ms", "1", operation)), incremental=True)
        answer = result.results[0]
        assert answer.error_code is ErrorCode.INVALID_CONFIG
        name = ConfigOperation(operation).name
        assert answer.error_message == (
            f"Can't {name} to key retention.ms because its type is not LIST."
        )
    unknown = _run(
        image, _topic(ConfigChange("no.such.key", "1", APPEND)), incremental=True
    ).results[0]
    assert unknown.error_code is ErrorCode.INVALID_CONFIG
    assert unknown.error_message is not None and "no.such.key" in unknown.error_message


# -- preprocessing (what the receiving broker decides) ----------------------------------------


def test_duplicate_resources_are_both_refused() -> None:
    image = _image()
    result = _run(
        image,
        _topic(_set("retention.ms", "1")),
        ResourceChange(BROKER_RESOURCE, "1", ()),
        _topic(_set("retention.ms", "2")),
        incremental=True,
    )
    codes = [r.error_code for r in result.results]
    assert codes == [ErrorCode.INVALID_REQUEST, ErrorCode.NONE, ErrorCode.INVALID_REQUEST]
    assert result.results[0].error_message == "Each resource must appear at most once."
    assert result.records == []


def test_duplicate_keys_and_null_values_are_invalid_requests() -> None:
    image = _image()
    duplicate = _topic(_set("retention.ms", "1"), _set("retention.ms", "2"))
    assert _run(image, duplicate, incremental=False).results[0].error_code == (
        ErrorCode.INVALID_REQUEST
    )
    null = _run(image, _topic(_set("retention.ms", None)), incremental=False).results[0]
    assert null.error_code is ErrorCode.INVALID_REQUEST
    assert null.error_message == "Null value not supported for : retention.ms"
    null_set = _run(image, _topic(_set("retention.ms", None)), incremental=True).results[0]
    assert null_set.error_code is ErrorCode.INVALID_REQUEST


def test_unknown_operation_is_an_invalid_request() -> None:
    image = _image()
    for operation in (4, -1, 127):
        result = _run(image, _topic(ConfigChange("retention.ms", "1", operation)), incremental=True)
        answer = result.results[0]
        assert answer.error_code is ErrorCode.INVALID_REQUEST
        assert answer.error_message is not None and str(operation) in answer.error_message


def test_unknown_resource_types() -> None:
    image = _image()
    for kind in (0, 1, 3, 8, 16, -1):
        result = _run(image, ResourceChange(kind, "x", ()), incremental=True)
        assert result.results[0].error_code is ErrorCode.INVALID_REQUEST
        assert result.results[0].resource_type == kind


def test_group_configs_within_the_brokers_bounds() -> None:
    """KIP-848 group configs: any group id (existing or not), Kafka's GroupConfig checks."""
    image = _image()
    session, heartbeat = "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"

    def group(*changes: ConfigChange, name: str = "g") -> ErrorCode:
        result = _run(image, ResourceChange(32, name, changes), incremental=True)
        _replayed(image, result)
        return result.results[0].error_code

    assert group(ConfigChange(session, "50000", SET), ConfigChange(heartbeat, "6000", SET)) == 0
    assert image.group_configs == {"g": {session: "50000", heartbeat: "6000"}}
    assert group(ConfigChange(session, "30000", SET)) == ErrorCode.INVALID_CONFIG  # < 45000
    assert group(ConfigChange(heartbeat, "20000", SET)) == ErrorCode.INVALID_CONFIG  # > 15000
    assert group(ConfigChange(session, "soon", SET)) == ErrorCode.INVALID_CONFIG
    assert group(ConfigChange("share.session.timeout.ms", "1", SET)) == ErrorCode.INVALID_CONFIG
    assert group(ConfigChange(session, "1", SET), name="") == ErrorCode.INVALID_REQUEST
    assert group(ConfigChange(heartbeat, None, DELETE), ConfigChange(session, None, DELETE)) == 0
    assert image.group_configs == {}


def _broker(name: str, *changes: ConfigChange) -> ResourceChange:
    return ResourceChange(BROKER_RESOURCE, name, changes)


def _replayed(image: MetadataImage, result: config_changes.ConfigChangeResult) -> None:
    for record in result.records:
        image.replay(record)


def test_broker_resources_take_dynamic_keys() -> None:
    """KIP-226: a broker's own dynamic configs, and the cluster default's ('')."""
    image = _image()
    for name in ("", "1"):
        result = _run(image, _broker(name, _set("log.retention.ms", " 60000 ")), incremental=True)
        assert result.results[0].error_code is ErrorCode.NONE
        assert result.records == [ConfigRecord(BROKER_RESOURCE, name, "log.retention.ms", "60000")]
        _replayed(image, result)
    assert image.broker_configs == {
        "": {"log.retention.ms": "60000"},
        "1": {"log.retention.ms": "60000"},
    }
    # APPEND to a list key starts from Kafka's default ("delete").
    appended = _run(
        image,
        _broker("", ConfigChange("log.cleanup.policy", "compact", APPEND)),
        incremental=True,
    )
    assert appended.records == [
        ConfigRecord(BROKER_RESOURCE, "", "log.cleanup.policy", "delete,compact")
    ]
    _replayed(image, appended)
    deleted = _run(
        image, _broker("", ConfigChange("log.retention.ms", None, DELETE)), incremental=True
    )
    assert deleted.records == [ConfigRecord(BROKER_RESOURCE, "", "log.retention.ms", None)]
    # AlterConfigs replaces the whole set: what is not given goes.
    replaced = _run(image, _broker("1", _set("min.insync.replicas", "2")), incremental=False)
    assert replaced.records == [
        ConfigRecord(BROKER_RESOURCE, "1", "log.retention.ms", None),
        ConfigRecord(BROKER_RESOURCE, "1", "min.insync.replicas", "2"),
    ]
    checked = _run(
        image,
        _broker("", _set("log.segment.bytes", "1048576")),
        incremental=True,
        validate_only=True,
    )
    assert (checked.results[0].error_code, checked.records) == (ErrorCode.NONE, [])


def test_broker_resources_refuse_static_unknown_and_bad_keys() -> None:
    image = _image()
    cases = [
        (_set("listeners", "PLAINTEXT://:1"), ErrorCode.INVALID_REQUEST, "dynamically: listeners"),
        (_set("node.id", "3"), ErrorCode.INVALID_REQUEST, "dynamically: node.id"),
        (_set("no.such.key", "1"), ErrorCode.INVALID_CONFIG, "'no.such.key'"),
        (_set("retention.ms", "1"), ErrorCode.INVALID_CONFIG, "did you mean 'log.retention.ms'"),
        (_set("log.retention.ms", "soon"), ErrorCode.INVALID_CONFIG, "'log.retention.ms'"),
        (_set("min.insync.replicas", "0"), ErrorCode.INVALID_CONFIG, "'min.insync.replicas'"),
        (
            ConfigChange("log.retention.ms", "1", APPEND),
            ErrorCode.INVALID_CONFIG,
            "its type is not LIST",
        ),
    ]
    for change, error, text in cases:
        for name in ("", "1"):
            result = _run(image, _broker(name, change), incremental=True)
            answer = result.results[0]
            assert answer.error_code is error, (change, answer)
            assert answer.error_message is not None and text in answer.error_message, answer
            assert result.records == []


def test_broker_resources_name_this_broker_except_at_a_controller() -> None:
    image = _image()
    other = _run(image, _broker("2", _set("log.retention.ms", "1")), incremental=True).results[0]
    assert other.error_code is ErrorCode.INVALID_REQUEST
    assert other.error_message == "Unexpected broker id, expected 1, but received 2"
    word = _run(image, _broker("one"), incremental=True).results[0]
    assert word.error_code is ErrorCode.INVALID_REQUEST
    # A controller-only node takes any broker's resource (that broker forwarded it).
    assert preprocess([_broker("2"), _broker("one")], None, incremental=True).keys() == {1}


def test_preprocess_leaves_topic_and_own_broker_resources() -> None:
    resources = [
        _topic(_set("retention.ms", "1")),
        ResourceChange(BROKER_RESOURCE, "1", ()),
        ResourceChange(99, "x", ()),
        _topic(_set("retention.ms", "1"), name="u"),
    ]
    decided = preprocess(resources, NODE_ID, incremental=False)
    assert sorted(decided) == [2]


def test_results_keep_request_order_and_fail_independently() -> None:
    image = _image()
    topic_id = str(uuid.UUID(int=2))
    image.replay(TopicRecord("u", topic_id))
    result = _run(
        image,
        _topic(_set("retention.ms", "bad")),
        ResourceChange(BROKER_RESOURCE, "1", (_set("num.partitions", "3"),)),
        _topic(_set("retention.ms", "10"), name="u"),
        incremental=True,
    )
    assert [(r.resource_name, r.error_code) for r in result.results] == [
        ("t", ErrorCode.INVALID_CONFIG),
        ("1", ErrorCode.INVALID_REQUEST),
        ("u", ErrorCode.NONE),
    ]
    assert result.records == [ConfigRecord(TOPIC_RESOURCE, "u", "retention.ms", "10")]


# -- replay, persistence, visibility -----------------------------------------------------------


def test_records_survive_the_metadata_log_encoding() -> None:
    image = _image(retention_ms="5")
    result = _run(image, _topic(_set("segment.ms", "60000")), incremental=False)
    bodies = [record_to_dict(record) for record in result.records]
    restored = [record_from_dict(body) for body in bodies]
    assert restored == result.records
    assert _apply(image, config_changes.ConfigChangeResult(restored, [])) == {"segment.ms": "60000"}


def test_change_visible() -> None:
    resource = _topic(_set("retention.ms", " 7 "), ConfigChange("segment.ms", None, DELETE))
    assert change_visible({"retention.ms": "7"}, resource, incremental=True)
    assert not change_visible({"retention.ms": "7", "segment.ms": "1"}, resource, incremental=True)
    assert not change_visible({}, resource, incremental=True)
    assert change_visible(None, resource, incremental=True)  # the topic is gone
    legacy = _topic(_set("retention.ms", "7"))
    assert change_visible({"retention.ms": "7"}, legacy, incremental=False)
    assert not change_visible({"retention.ms": "7", "x": "1"}, legacy, incremental=False)
    append = _topic(ConfigChange("cleanup.policy", "compact", APPEND))
    assert change_visible({"cleanup.policy": "delete,compact"}, append, incremental=True)
    assert not change_visible({}, append, incremental=True)
    subtract = _topic(ConfigChange("cleanup.policy", "compact", SUBTRACT))
    assert change_visible({"cleanup.policy": "delete"}, subtract, incremental=True)
    assert not change_visible({"cleanup.policy": "compact"}, subtract, incremental=True)


_KEYS = ("cleanup.policy", "retention.ms", "min.insync.replicas")
_VALUES = st.sampled_from(["compact", "delete", "compact,delete", "5", "-1", "x", ""])
_CHANGES = st.lists(
    st.builds(ConfigChange, st.sampled_from(_KEYS), _VALUES | st.none(), st.integers(-1, 4)),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(rounds=st.lists(st.tuples(_CHANGES, st.booleans()), max_size=6))
def test_any_sequence_of_changes_replays_to_what_was_validated(
    rounds: list[tuple[list[ConfigChange], bool]],
) -> None:
    """Whatever is asked: a refused resource writes nothing, an accepted one replays to a
    valid config set that shows the change."""
    image = _image()
    for changes, incremental in rounds:
        resource = _topic(*changes)
        before = dict(image.topic("t").configs)  # type: ignore[union-attr]
        result = _run(image, resource, incremental=incremental)
        after = _apply(image, result)
        if result.results[0].error_code is not ErrorCode.NONE:
            assert result.records == []
            assert after == before
            continue
        assert SCHEMA.validate(TOPIC_RESOURCE, after) == after
        assert change_visible(after, resource, incremental=incremental)
