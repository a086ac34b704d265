"""AlterConfigs (33) and IncrementalAlterConfigs (44): config changes checked against the
metadata image, answered per resource, persisted as ``ConfigRecord``\\ s.

Two steps, as in Kafka (``ConfigAdminManager`` on the broker that received the request,
``ConfigurationControlManager`` on the controller):

- :func:`preprocess`, where the request arrived: duplicate resources or keys, null values,
  unknown operations and resource types are refused, and so is a BROKER resource that names
  another broker (as Kafka: a broker's own configs are sent to that broker).
- :func:`alter_resource_configs`, at the controller: the resource's new set of dynamic
  configs, validated as a whole (a topic's like CreateTopics' configs, a broker's or the
  cluster default's against the dynamic broker keys, KIP-226), and a record per key whose
  value changes.  AlterConfigs replaces the whole set (keys not given go back to their
  defaults); IncrementalAlterConfigs applies SET / DELETE / APPEND / SUBTRACT per key, APPEND
  and SUBTRACT only on list-typed keys (``cleanup.policy``, ``log.cleanup.policy``).

Nothing here changes state: the caller commits the records, the image replays them.  The key
and value rules are the shell's (:class:`ConfigSchema`, from ``broker.config``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from broker.core.controller import ConfigValidationError, topic_name_error
from broker.core.metadata import (
    BROKER_RESOURCE,
    GROUP_RESOURCE,
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


class ConfigSchema(Protocol):
    """The keys' rules per resource type, TOPIC or BROKER (the shell passes
    ``broker.config``'s)."""

    def validate(self, resource_type: int, configs: Mapping[str, str | None]) -> dict[str, str]:
        """The configs trimmed, None values dropped; :class:`ConfigValidationError` for an
        unknown key or a bad value, :class:`StaticConfigError` for a broker key that cannot
        change at run time."""
        ...

    def is_list(self, resource_type: int, name: str) -> bool:
        """Whether ``name`` is a list-typed key (APPEND / SUBTRACT apply)."""
        ...

    def default(self, resource_type: int, name: str) -> str | None:
        """Kafka's default of the key (what APPEND / SUBTRACT start from when unset)."""
        ...


class StaticConfigError(ConfigValidationError):
    """A broker key that is not dynamic: Kafka answers INVALID_REQUEST, not INVALID_CONFIG."""


def _refusal(resource: ResourceChange, error: ErrorCode, message: str) -> ResourceResult:
    return ResourceResult(resource.resource_type, resource.resource_name, error, message)


def preprocess(
    resources: Sequence[ResourceChange],
    node_id: int | None,
    *,
    incremental: bool,
) -> dict[int, ResourceResult]:
    """The results decided where the request arrived, by index in ``resources``.

    Every index not in the answer is a resource that passed: it goes to the controller
    (:func:`alter_resource_configs`).  ``node_id`` None: this is a controller-only node,
    which takes any broker's resource (forwarded by that broker).
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


def _precheck(
    resource: ResourceChange, node_id: int | None, incremental: bool
) -> ResourceResult | None:
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
    if resource.resource_type == GROUP_RESOURCE:
        if not resource.resource_name:
            return _refusal(resource, ErrorCode.INVALID_REQUEST, "Group name must not be empty.")
        return None
    message = f"Unknown resource type {resource.resource_type}"
    return _refusal(resource, ErrorCode.INVALID_REQUEST, message)


def _broker_change(resource: ResourceChange, node_id: int | None) -> ResourceResult | None:
    """A BROKER resource: this broker or, '', the cluster default (None: it goes on)."""
    name = resource.resource_name
    if name:
        try:
            broker_id = int(name)
        except ValueError:
            message = f"Node id must be an integer, but it is: {name}"
            return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
        if node_id is not None and broker_id != node_id:
            message = f"Unexpected broker id, expected {node_id}, but received {name}"
            return _refusal(resource, ErrorCode.INVALID_REQUEST, message)
    return None


def _list_items(value: str | None) -> list[str]:
    if value is None:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


class _Refused(Exception):
    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def new_configs(
    current: Mapping[str, str],
    changes: Sequence[ConfigChange],
    schema: ConfigSchema,
    resource_type: int,
    *,
    incremental: bool,
) -> dict[str, str | None]:
    """A resource's dynamic configs after ``changes`` (not yet validated as a whole).

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
            schema.validate(resource_type, {change.name: None})  # an unknown key's message
            if not schema.is_list(resource_type, change.name):
                raise ConfigValidationError(
                    f"Can't {operation.name} to key {change.name} because its type is not LIST."
                )
            old = (
                configs[change.name]
                if change.name in configs
                else schema.default(resource_type, change.name)
            )
            items = _list_items(old)
            for item in _list_items(change.value):
                if operation is ConfigOperation.APPEND and item not in items:
                    items.append(item)
                elif operation is ConfigOperation.SUBTRACT:
                    items = [kept for kept in items if kept != item]
            configs[change.name] = ",".join(items)
    return configs


def _validated(
    schema: ConfigSchema, resource: ResourceChange, current: Mapping[str, str], incremental: bool
) -> dict[str, str]:
    kind = resource.resource_type
    try:
        wanted = new_configs(current, resource.changes, schema, kind, incremental=incremental)
        return schema.validate(kind, wanted)
    except StaticConfigError as error:
        raise _Refused(ErrorCode.INVALID_REQUEST, str(error)) from error
    except ConfigValidationError as error:
        raise _Refused(ErrorCode.INVALID_CONFIG, str(error)) from error


def _changed(
    resource: ResourceChange, current: Mapping[str, str], validated: Mapping[str, str]
) -> list[MetadataRecord]:
    kind, name = resource.resource_type, resource.resource_name
    return [
        ConfigRecord(kind, name, key, validated.get(key))
        for key in sorted(set(current) | set(validated))
        if validated.get(key) != current.get(key)
    ]


def _topic_records(
    image: MetadataImage, schema: ConfigSchema, resource: ResourceChange, incremental: bool
) -> list[MetadataRecord]:
    name = resource.resource_name
    if not name:
        raise _Refused(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    problem = topic_name_error(name)
    if problem is not None:
        raise _Refused(ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
    topic = image.topic(name)
    current = dict(topic.configs) if topic is not None else {}
    validated = _validated(schema, resource, current, incremental)
    if topic is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
    return _changed(resource, current, validated)


def _broker_records(
    image: MetadataImage, schema: ConfigSchema, resource: ResourceChange, incremental: bool
) -> list[MetadataRecord]:
    """A broker's dynamic configs, or the cluster default's (name ''), as Kafka's
    ``ConfigurationControlManager``: any broker id is taken, registered or not."""
    current = dict(image.broker_configs.get(resource.resource_name, {}))
    return _changed(resource, current, _validated(schema, resource, current, incremental))


def _group_records(
    image: MetadataImage, schema: ConfigSchema, resource: ResourceChange, incremental: bool
) -> list[MetadataRecord]:
    """A group's configs (KIP-848): taken for any group id, existing or not (KIP-1142)."""
    current = dict(image.group_configs.get(resource.resource_name, {}))
    return _changed(resource, current, _validated(schema, resource, current, incremental))


_RECORD_BUILDERS = {
    TOPIC_RESOURCE: _topic_records,
    BROKER_RESOURCE: _broker_records,
    GROUP_RESOURCE: _group_records,
}


def alter_resource_configs(
    image: MetadataImage,
    schema: ConfigSchema,
    resources: Sequence[ResourceChange],
    *,
    incremental: bool,
    validate_only: bool,
) -> ConfigChangeResult:
    """TOPIC, BROKER and GROUP resources (already through :func:`preprocess`): a result for each,
    and the records of those that succeed (none with ``validate_only``).

    As Kafka, a resource is validated in full before its existence is checked, and it
    succeeds or fails as a whole.  The resources are distinct (preprocess refuses
    duplicates), so their changes are independent.
    """
    records: list[MetadataRecord] = []
    results: list[ResourceResult] = []
    for resource in resources:
        kind = resource.resource_type
        build = _RECORD_BUILDERS[kind]
        try:
            resource_records = build(image, schema, resource, incremental)
        except _Refused as refused:
            results.append(_refusal(resource, refused.error, refused.message))
            continue
        results.append(ResourceResult(kind, resource.resource_name, ErrorCode.NONE))
        if not validate_only:
            records.extend(resource_records)
    return ConfigChangeResult(records, results)


def alter_configs(
    image: MetadataImage,
    schema: ConfigSchema,
    node_id: int,
    resources: Sequence[ResourceChange],
    *,
    incremental: bool,
    validate_only: bool,
) -> ConfigChangeResult:
    """Both steps at once (the controller, or a combined node): one result per resource."""
    decided = preprocess(resources, node_id, incremental=incremental)
    pending = [index for index in range(len(resources)) if index not in decided]
    topics = alter_resource_configs(
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
    """Whether a resource's dynamic configs (None: the topic is gone) show a change that
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
