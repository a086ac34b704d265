"""AlterConfigs (33) and IncrementalAlterConfigs (44): ``kafka-configs --alter``.

The receiving broker answers what it can decide itself (duplicates, null values, unknown
operations and resource types, another broker's BROKER resource: see
:mod:`broker.core.config_changes`) and hands the rest to the controller: forwarded (KIP-590)
from a broker-only node, a call in a combined node.  The controller commits the change as
``ConfigRecord``\\ s; every broker applies the new effective config as it replays them
(``BrokerServer._apply``): a topic's to its partitions, a dynamic broker config (this
broker's or the cluster default's, KIP-226) to its whole configuration.  The same handlers
serve the controller's own listener.  BROKER_LOGGER resources (KIP-412: this node's log
levels, :mod:`broker.server.broker_loggers`) are changed here and never forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from construct import Container

from broker import config as broker_config
from broker.core import config_changes
from broker.core.config_changes import ResourceChange, ResourceResult
from broker.core.controller import ConfigValidationError, ControllerResult
from broker.core.metadata import GROUP_RESOURCE, TOPIC_RESOURCE
from broker.server import broker_loggers
from broker.server.broker_loggers import BROKER_LOGGER_RESOURCE
from broker.server.controller_server import validate_topic_configs
from client.errors import KafkaError
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer


class ConfigSchema:
    """``broker.config``'s topic keys, dynamic broker keys and group keys (bounded by
    ``config``'s ``group.consumer.min|max.*``), for :mod:`broker.core.config_changes`."""

    def __init__(self, config: broker_config.BrokerConfig) -> None:
        self.config = config

    def validate(self, resource_type: int, configs: Mapping[str, str | None]) -> dict[str, str]:
        if resource_type == TOPIC_RESOURCE:
            return validate_topic_configs(dict(configs))
        if resource_type == GROUP_RESOURCE:
            try:
                return broker_config.validate_group_configs(self.config, configs)
            except broker_config.ConfigError as error:
                raise ConfigValidationError(str(error)) from error
        try:
            return broker_config.validate_dynamic_broker_configs(configs)
        except broker_config.DynamicConfigError as error:
            raise config_changes.StaticConfigError(str(error)) from error
        except broker_config.ConfigError as error:
            raise ConfigValidationError(str(error)) from error

    def _key(self, resource_type: int, name: str) -> broker_config.ConfigKey | None:
        if resource_type == GROUP_RESOURCE:
            # A group key is an integer with its broker key's default, or a string (never a
            # list).
            spec = broker_config.GROUP_CONFIG_KEYS.get(name)
            if spec is None:
                return broker_config.GROUP_STRING_CONFIGS.get(name)
            return broker_config.BROKER_CONFIGS[spec[0]]
        keys = broker_config.TOPIC_CONFIGS if resource_type == TOPIC_RESOURCE else None
        return (keys or broker_config.BROKER_CONFIGS).get(name)

    def is_list(self, resource_type: int, name: str) -> bool:
        key = self._key(resource_type, name)
        return key is not None and key.config_type == broker_config.ConfigType.LIST

    def default(self, resource_type: int, name: str) -> str | None:
        key = self._key(resource_type, name)
        return key.default if key is not None else None


def _resource(item: Container, incremental: bool) -> ResourceChange:
    changes = tuple(
        config_changes.ConfigChange(
            config.name,
            config.value,
            config.config_operation if incremental else config_changes.ConfigOperation.SET,
        )
        for config in item.configs
    )
    return ResourceChange(item.resource_type, item.resource_name, changes)


def _body(resources: list[ResourceChange], incremental: bool, validate_only: bool) -> Any:
    def config(change: config_changes.ConfigChange) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": change.name, "value": change.value}
        if incremental:
            entry["config_operation"] = change.operation
        return entry

    return {
        "resources": [
            {
                "resource_type": resource.resource_type,
                "resource_name": resource.resource_name,
                "configs": [config(change) for change in resource.changes],
            }
            for resource in resources
        ],
        "validate_only": validate_only,
    }


async def _forward(
    server: BrokerServer,
    header: RequestHeader,
    resources: list[ResourceChange],
    incremental: bool,
    validate_only: bool,
) -> list[ResourceResult]:
    """The resources that passed preprocessing, sent on to the controller; its answers in
    the same order."""
    body = _body(resources, incremental, validate_only)
    try:
        assert server.link is not None
        response = await server.link.send(header.api_key, body, version=header.api_version)
    except KafkaError as error:
        message = f"The controller did not answer: {error}"
        return [
            ResourceResult(r.resource_type, r.resource_name, ErrorCode.REQUEST_TIMED_OUT, message)
            for r in resources
        ]
    answers = {
        (item.resource_type, item.resource_name): (item.error_code, item.error_message)
        for item in response.responses
    }
    results = []
    for resource in resources:
        code, message = answers.get(
            (resource.resource_type, resource.resource_name),
            (ErrorCode.UNKNOWN_SERVER_ERROR, "The controller did not answer for this resource."),
        )
        results.append(
            ResourceResult(resource.resource_type, resource.resource_name, ErrorCode(code), message)
        )
    if not validate_only:
        await _await_visible(server, resources, results, incremental)
    return results


async def _await_visible(
    server: BrokerServer,
    resources: list[ResourceChange],
    results: list[ResourceResult],
    incremental: bool,
) -> None:
    """Answer once this broker's image shows the changes (read-your-writes here)."""
    done = [
        resource
        for resource, result in zip(resources, results, strict=True)
        if result.error_code is ErrorCode.NONE
    ]

    def visible() -> bool:
        for resource in done:
            configs: Mapping[str, str] | None
            if resource.resource_type == TOPIC_RESOURCE:
                topic = server.image.topic(resource.resource_name)
                configs = topic.configs if topic is not None else None
            elif resource.resource_type == GROUP_RESOURCE:
                configs = server.image.group_configs.get(resource.resource_name, {})
            else:
                configs = server.image.broker_configs.get(resource.resource_name, {})
            if not config_changes.change_visible(configs, resource, incremental=incremental):
                return False
        return True

    if done:
        await server.await_metadata(visible)


def _alter_loggers(
    server: BrokerServer,
    resources: list[ResourceChange],
    indexes: list[int],
    incremental: bool,
    validate_only: bool,
) -> dict[int, ResourceResult]:
    """BROKER_LOGGER resources (KIP-412): this node's log levels, set at once."""
    names = [resources[index].resource_name for index in indexes]
    answers = {}
    message: str | None
    for index, name in zip(indexes, names, strict=True):
        resource = resources[index]
        keys = [change.name for change in resource.changes]
        if names.count(name) > 1:
            error, message = ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."
        elif not name:
            error, message = ErrorCode.INVALID_REQUEST, "Broker id must not be empty"
        elif name != str(server.node_id):
            error = ErrorCode.INVALID_REQUEST
            message = f"Unexpected broker id, expected {server.node_id}, but received {name}"
        elif not incremental:
            error = ErrorCode.INVALID_REQUEST
            message = "Broker loggers are changed with IncrementalAlterConfigs only."
        elif len(set(keys)) != len(keys):
            error, message = ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys"
        else:
            changes = [
                broker_loggers.LoggerChange(change.name, change.value, change.operation)
                for change in resource.changes
            ]
            error, message = broker_loggers.alter(changes, validate_only)
        answers[index] = ResourceResult(resource.resource_type, name, error, message)
    return answers


async def _handle(
    server: BrokerServer, header: RequestHeader, request: Container, incremental: bool
) -> dict[str, Any]:
    resources = [_resource(item, incremental) for item in request.resources]
    validate_only = bool(request.validate_only)
    # A controller-only node takes any broker's resource (its broker forwarded it).
    controller_only = "broker" not in server.config.process_roles
    node_id = None if controller_only else server.node_id
    # This node's loggers are changed here; the other resources go through the controller.
    loggers = [i for i, r in enumerate(resources) if r.resource_type == BROKER_LOGGER_RESOURCE]
    others = [index for index in range(len(resources)) if index not in loggers]
    decided = config_changes.preprocess(
        [resources[index] for index in others], node_id, incremental=incremental
    )
    answers = {others[position]: result for position, result in decided.items()}
    answers.update(_alter_loggers(server, resources, loggers, incremental, validate_only))
    pending = [index for index in range(len(resources)) if index not in answers]
    passed = [resources[index] for index in pending]
    if passed and server.forwards_to_controller:
        results = await _forward(server, header, passed, incremental, validate_only)
    elif passed:
        outcome = config_changes.alter_resource_configs(
            server.image,
            ConfigSchema(server.config),
            passed,
            incremental=incremental,
            validate_only=validate_only,
        )
        server.commit(ControllerResult(outcome.records, []))
        results = outcome.results
    else:
        results = []
    answers.update(zip(pending, results, strict=True))
    return {
        "throttle_time_ms": 0,
        "responses": [
            {
                "error_code": answer.error_code,
                "error_message": answer.error_message,
                "resource_type": answer.resource_type,
                "resource_name": answer.resource_name,
            }
            for answer in (answers[index] for index in range(len(resources)))
        ],
    }


async def alter_configs(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    """AlterConfigs: each resource's dynamic configs become exactly the ones given."""
    return await _handle(server, header, request, incremental=False)


async def incremental_alter_configs(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    """IncrementalAlterConfigs: SET / DELETE / APPEND / SUBTRACT per key."""
    return await _handle(server, header, request, incremental=True)
