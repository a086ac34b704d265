"""AlterConfigs (33) and IncrementalAlterConfigs (44): config changes checked against the
metadata image, answered per resource, persisted as ``ConfigRecord``\\ s.

Two steps, as in Kafka (``ConfigAdminManager`` on the broker that received the request,
``ConfigurationControlManager`` on the controller):

- :func:`preprocess`, where the request arrived: duplicate resources or keys, null values,
  unknown operations and resource types are refused, and BROKER resources end here: odradek
  has no dynamically updatable broker keys, so any change to one is refused (INVALID_REQUEST,
  as Kafka answers a key that is not dynamic).  What is left are TOPIC resources.
- :func:`alter_topic_configs`, at the controller: the topic's new set of dynamic configs,
  validated as a whole like CreateTopics' configs, and a record per key whose value changes.
  AlterConfigs replaces the whole set (keys not given go back to their defaults);
  IncrementalAlterConfigs applies SET / DELETE / APPEND / SUBTRACT per key, APPEND and
  SUBTRACT only on list-typed keys (``cleanup.policy``).

Nothing here changes state: the caller commits the records, the image replays them.  The key
and value rules are the shell's (:class:`TopicConfigSchema`, from ``broker.config``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from broker.core.controller import ConfigValidationError, topic_name_error
from broker.core.metadata import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    ConfigRecord,
    MetadataImage,
    MetadataRecord,
)
from client.protocol.errors import ErrorCode


class ConfigOperation(enum.IntEnum):
    """IncrementalAlterConfigs' ``config_operation`` (Kafka's ``AlterConfigOp.OpType``)."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


_OPERATIONS = frozenset(int(operation) for operation in ConfigOperation)


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One key of a request.  ``operation`` is the raw number (it may be unknown); the
    legacy AlterConfigs sets every key given, so its changes are all SET."""

    name: str
    value: str | None
    operation: int = ConfigOperation.SET


@dataclass(frozen=True, slots=True)
class ResourceChange:
    resource_type: int
    resource_name: str
    changes: tuple[ConfigChange, ...]


@dataclass(frozen=True, slots=True)
class ResourceResult:
    resource_type: int
    resource_name: str
    error_code: ErrorCode
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigChangeResult:
    """The records to commit and one result per resource, in request order."""

    records: list[MetadataRecord]
    results: list[ResourceResult]


class TopicConfigSchema(Protocol):
    """The topic keys' rules (the shell passes ``broker.config``'s)."""

    def validate(self, configs: Mapping[str, str | None]) -> dict[str, str]:
        """The configs trimmed, None values dropped; :class:`ConfigValidationError` for an
        unknown key or a bad value."""
        ...

    def is_list(self, name: str) -> bool:
        """Whether ``name`` is a list-typed key (APPEND / SUBTRACT apply)."""
        ...

    def default(self, name: str) -> str | None:
        """Kafka's default of the key (what APPEND / SUBTRACT start from when unset)."""
        ...


def _refusal(resource: ResourceChange, error: ErrorCode, message: str) -> ResourceResult:
    return ResourceResult(resource.resource_type, resource.resource_name, error, message)


def preprocess(
    resources: Sequence[ResourceChange], node_id: int, *, incremental: bool
) -> dict[int, ResourceResult]:
    """The results decided where the request arrived, by index in ``resources``.

    Every index not in the answer is a TOPIC resource that passed: it goes to the controller
    (:func:`alter_topic_configs`).
    """
    decided: dict[int, ResourceResult] = {}
    first_seen: dict[tuple[int, str], int] = {}
    for index, resource in enumerate(resources):
        key = (resource.resource_type, resource.resource_name)
        if key in first_seen:
            for duplicate in (first_seen[key], index):
                decided[duplicate] = _refusal(
                    resources[duplicate],
                    ErrorCode.INVALID_REQUEST,
                    "Each resource must appear at most once.",
                )
        else:
            first_seen[key] = index
    for index, resource in enumerate(resources):
        if index not in decided:
            result = _precheck(resource, node_id, incremental)
            if result is not None:
                decided[index] = result
    return decided


def _precheck(resource: ResourceChange, node_id: int, incremental: bool) -> ResourceResult | None:
    names = [change.name for change in resource.changes]
    if len(set(names)) != len(names):
        return _refusal(resource, ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    unknown = sorted(
        {change.operation for change in resource.changes if change.operation not in _OPERATIONS}
    )
    if incremental and unknown:
        message = f"Unknown operation type {', '.join(map(str, unknown))}; valid operations are "
        message += ", ".join(f"{op.value} ({op.name})" for op in ConfigOperation)
        return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
    nulls = [
        change.name
        for change in resource.changes
        if change.value is None and (not incremental or change.operation != ConfigOperation.DELETE)
    ]
    if nulls:
        message = "Null value not supported for : " + ", ".join(nulls)
        return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
    if resource.resource_type == TOPIC_RESOURCE:
        return None
    if resource.resource_type == BROKER_RESOURCE:
        return _broker_change(resource, node_id)
    message = f"Unknown resource type {resource.resource_type}"
    return _refusal(resource, ErrorCode.INVALID_REQUEST, message)


def _broker_change(resource: ResourceChange, node_id: int) -> ResourceResult:
    """A BROKER resource: this broker ('' = the cluster default); any key is refused."""
    name = resource.resource_name
    if name:
        try:
            broker_id = int(name)
        except ValueError:
            message = f"Node id must be an integer, but it is: {name}"
            return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
        if broker_id != node_id:
            message = f"Unexpected broker id, expected {node_id}, but received {name}"
            return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
    if resource.changes:
        keys = ", ".join(sorted(change.name for change in resource.changes))
        message = (
            f"Cannot update these configs dynamically: {keys}. odradek has no dynamically "
            "updatable broker configs: set them in server.properties and restart the broker."
        )
        return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
    return ResourceResult(resource.resource_type, name, ErrorCode.NONE)


def _list_items(value: str | None) -> list[str]:
    if value is None:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


class _Refused(Exception):
    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def new_topic_configs(
    current: Mapping[str, str],
    changes: Sequence[ConfigChange],
    schema: TopicConfigSchema,
    *,
    incremental: bool,
) -> dict[str, str | None]:
    """The topic's dynamic configs after ``changes`` (not yet validated as a whole).

    Raises :class:`ConfigValidationError` for APPEND / SUBTRACT on an unknown key or on a key
    that is not a list.
    """
    if not incremental:
        return {change.name: change.value for change in changes}
    configs: dict[str, str | None] = dict(current)
    for change in changes:
        operation = ConfigOperation(change.operation)
        if operation is ConfigOperation.SET:
            configs[change.name] = change.value
        elif operation is ConfigOperation.DELETE:
            configs.pop(change.name, None)
        else:
            schema.validate({change.name: None})  # an unknown key: its own message
            if not schema.is_list(change.name):
                raise ConfigValidationError(
                    f"Can't {operation.name} to key {change.name} because its type is not LIST."
                )
            old = configs[change.name] if change.name in configs else schema.default(change.name)
            items = _list_items(old)
            for item in _list_items(change.value):
                if operation is ConfigOperation.APPEND and item not in items:
                    items.append(item)
                elif operation is ConfigOperation.SUBTRACT:
                    items = [kept for kept in items if kept != item]
            configs[change.name] = ",".join(items)
    return configs


def _topic_records(
    image: MetadataImage, schema: TopicConfigSchema, resource: ResourceChange, incremental: bool
) -> list[MetadataRecord]:
    name = resource.resource_name
    if not name:
        raise _Refused(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    problem = topic_name_error(name)
    if problem is not None:
        raise _Refused(ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
    topic = image.topic(name)
    current = dict(topic.configs) if topic is not None else {}
    try:
        wanted = new_topic_configs(current, resource.changes, schema, incremental=incremental)
        validated = schema.validate(wanted)
    except ConfigValidationError as error:
        raise _Refused(ErrorCode.INVALID_CONFIG, str(error)) from error
    if topic is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
    return [
        ConfigRecord(TOPIC_RESOURCE, name, key, validated.get(key))
        for key in sorted(set(current) | set(validated))
        if validated.get(key) != current.get(key)
    ]


def alter_topic_configs(
    image: MetadataImage,
    schema: TopicConfigSchema,
    resources: Sequence[ResourceChange],
    *,
    incremental: bool,
    validate_only: bool,
) -> ConfigChangeResult:
    """Topic resources (already through :func:`preprocess`): a result for each, and the
    records of those that succeed (none with ``validate_only``).

    As Kafka, a resource is validated in full before its existence is checked, and it
    succeeds or fails as a whole.  The topics are distinct (preprocess refuses duplicates),
    so their changes are independent.
    """
    records: list[MetadataRecord] = []
    results: list[ResourceResult] = []
    for resource in resources:
        assert resource.resource_type == TOPIC_RESOURCE, resource
        try:
            topic_records = _topic_records(image, schema, resource, incremental)
        except _Refused as refused:
            results.append(_refusal(resource, refused.error, refused.message))
            continue
        results.append(ResourceResult(TOPIC_RESOURCE, resource.resource_name, ErrorCode.NONE))
        if not validate_only:
            records.extend(topic_records)
    return ConfigChangeResult(records, results)


def alter_configs(
    image: MetadataImage,
    schema: TopicConfigSchema,
    node_id: int,
    resources: Sequence[ResourceChange],
    *,
    incremental: bool,
    validate_only: bool,
) -> ConfigChangeResult:
    """Both steps at once (the controller, or a combined node): one result per resource."""
    decided = preprocess(resources, node_id, incremental=incremental)
    pending = [index for index in range(len(resources)) if index not in decided]
    topics = alter_topic_configs(
        image,
        schema,
        [resources[index] for index in pending],
        incremental=incremental,
        validate_only=validate_only,
    )
    answers = dict(decided)
    answers.update(zip(pending, topics.results, strict=True))
    return ConfigChangeResult(topics.records, [answers[index] for index in range(len(resources))])


def change_visible(
    configs: Mapping[str, str] | None, resource: ResourceChange, *, incremental: bool
) -> bool:
    """Whether a topic's dynamic configs (None: the topic is gone) show a change that
    succeeded: what a broker that forwarded the change waits for before answering, so the
    client reads its own write there.  Values compare trimmed, as validation stores them."""
    if configs is None:
        return True
    if not incremental:
        wanted = {change.name: (change.value or "").strip() for change in resource.changes}
        return dict(configs) == wanted
    for change in resource.changes:
        operation = ConfigOperation(change.operation)
        value = configs.get(change.name)
        if operation is ConfigOperation.SET:
            done = value == (change.value or "").strip()
        elif operation is ConfigOperation.DELETE:
            done = value is None
        else:
            items = _list_items(value)
            wanted_items = _list_items(change.value)
            if operation is ConfigOperation.APPEND:
                done = value is not None and all(item in items for item in wanted_items)
            else:
                done = value is not None and not any(item in items for item in wanted_items)
        if not done:
            return False
    return True
