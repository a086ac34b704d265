"""CreateTopics (19), DeleteTopics (20), CreatePartitions (37), DescribeConfigs (32),
ListConfigResources (74).

The first three are controller commands: validated against the metadata image, persisted as
records, replayed, and only then answered, so an acknowledged topic survives a crash.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from construct import Container

from broker import config as broker_config
from broker.core.controller import NewTopic, TopicResult
from broker.core.metadata import BROKER_RESOURCE, GROUP_RESOURCE, TOPIC_RESOURCE
from broker.server import broker_loggers
from broker.server.quotas import charge_mutations, mutation_throttle_ms, refund_mutation
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader
from client.protocol.messages.list_config_resources import CLIENT_METRICS as CLIENT_METRICS_RESOURCE

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

ZERO_UUID = uuid.UUID(int=0)


# -- controller_mutation_rate (KIP-599) ----------------------------------------------------
# Each topic of CreateTopics / CreatePartitions / DeleteTopics is charged the partitions it
# creates or deletes, in request order.  From CreateTopics v6, DeleteTopics v5 and
# CreatePartitions v3 a topic met with an empty bucket is refused THROTTLING_QUOTA_EXCEEDED;
# older versions are only throttled.  A topic that fails for another reason is refunded.
# Unlike Kafka, where the controller keeps the bucket, each broker keeps its own for the
# requests it receives (the controller does not see the client's principal here).
THROTTLED = "The throttling quota has been exceeded."


async def _within_mutation_quota(
    server: BrokerServer,
    header: RequestHeader,
    request: Container,
    *,
    items_field: str,
    results_field: str,
    names: list[str | None],
    costs: list[float],
    strict_since: int,
    refused_entry: Any,
    handle: Any,
) -> dict[str, Any]:
    quotas = getattr(server, "quotas", None)
    if quotas is None or not quotas.mutation.enabled or request.get("validate_only", False):
        result: dict[str, Any] = await handle(server, header, request)
        return result
    client_id = header.client_id or ""
    items = list(request[items_field])
    refused, _ = charge_mutations(
        quotas,
        client_id,
        [(index, cost) for index, cost in enumerate(costs) if cost > 0],
        header.api_version >= strict_since,
    )
    kept = Container(request)
    kept[items_field] = [item for index, item in enumerate(items) if index not in refused]
    response = dict(await handle(server, header, kept))
    results = list(response[results_field])
    charged = {names[i]: cost for i, cost in enumerate(costs) if i not in refused and names[i]}
    for entry in results:
        if entry["error_code"] != ErrorCode.NONE and entry["name"] in charged:
            refund_mutation(quotas, client_id, charged.pop(entry["name"]))
    results += [refused_entry(items[index]) for index in sorted(refused)]
    response[results_field] = results
    if refused or header.api_version < strict_since:
        # Strict versions are throttled only when a topic was refused (Kafka).
        throttle = mutation_throttle_ms(quotas, client_id)
    else:
        throttle = 0
    response["throttle_time_ms"] = max(int(response.get("throttle_time_ms", 0)), throttle)
    return response


def _created_partitions(topic: Container, default: int) -> float:
    if topic.num_partitions > 0:
        return float(topic.num_partitions)
    return float(len(topic.assignments) or default)


async def create_topics(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    default = server.config.num_partitions
    return await _within_mutation_quota(
        server,
        header,
        request,
        items_field="topics",
        results_field="topics",
        names=[topic.name for topic in request.topics],
        costs=[_created_partitions(topic, default) for topic in request.topics],
        strict_since=6,
        refused_entry=lambda topic: {
            "name": topic.name,
            "topic_id": ZERO_UUID,
            "error_code": ErrorCode.THROTTLING_QUOTA_EXCEEDED,
            "error_message": THROTTLED,
            "num_partitions": -1,
            "replication_factor": -1,
            "configs": None,
        },
        handle=_create_topics,
    )


def _partition_count(server: BrokerServer, name: str | None) -> int:
    image = server.image.topic(name) if name is not None else None
    return 0 if image is None else len(image.partitions)


async def delete_topics(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    by_id = header.api_version >= 6
    field = "topics" if by_id else "topic_names"
    names: list[str | None] = []
    if by_id:
        for item in request.topics:
            topic = server.image.topics_by_id.get(item.topic_id)
            if item.name is not None:
                names.append(item.name)
            else:
                names.append(None if topic is None else topic.name)
    else:
        names = list(request.topic_names)
    costs = [float(_partition_count(server, name)) for name in names]

    def refused(item: Any) -> dict[str, Any]:
        name = item.name if by_id else item
        topic_id = item.topic_id if by_id else None
        return {
            "name": name,
            "topic_id": topic_id or ZERO_UUID,
            "error_code": ErrorCode.THROTTLING_QUOTA_EXCEEDED,
            "error_message": THROTTLED,
        }

    return await _within_mutation_quota(
        server,
        header,
        request,
        items_field=field,
        results_field="responses",
        names=names,
        costs=costs,
        strict_since=5,
        refused_entry=refused,
        handle=_delete_topics,
    )


async def create_partitions(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    return await _within_mutation_quota(
        server,
        header,
        request,
        items_field="topics",
        results_field="results",
        names=[topic.name for topic in request.topics],
        costs=[
            float(max(topic.count - _partition_count(server, topic.name), 0))
            for topic in request.topics
        ],
        strict_since=3,
        refused_entry=lambda topic: {
            "name": topic.name,
            "error_code": ErrorCode.THROTTLING_QUOTA_EXCEEDED,
            "error_message": THROTTLED,
        },
        handle=_create_partitions,
    )


def _new_topic(topic: Container) -> NewTopic:
    return NewTopic(
        name=topic.name,
        num_partitions=topic.num_partitions,
        replication_factor=topic.replication_factor,
        assignments={item.partition_index: tuple(item.broker_ids) for item in topic.assignments},
        configs={item.name: item.value for item in topic.configs},
    )


def _created_entry(server: BrokerServer, result: TopicResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": result.name,
        "topic_id": result.topic_id or ZERO_UUID,
        "error_code": result.error_code,
        "error_message": result.error_message,
        "num_partitions": result.num_partitions,
        "replication_factor": result.replication_factor,
        "configs": None,
    }
    if result.error_code is ErrorCode.NONE:
        described = broker_config.describe_topic_config(server.config, result.configs)
        entry["configs"] = [
            {
                "name": item.name,
                "value": item.value,
                "read_only": item.read_only,
                "config_source": item.source,
                "is_sensitive": item.sensitive,
            }
            for item in described
        ]
    return entry


async def _create_topics(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    if server.forwards_to_controller:
        response = await server.forward_to_controller(header, request)
        if not request.get("validate_only", False):
            # An existing topic too: the caller's next request here finds what it was told of.
            known = (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS)
            created = [t.name for t in response.topics if t.error_code in known]
            await server.await_metadata(lambda: all(server.image.topic(n) for n in created))
        return dict(response)
    topics = [_new_topic(topic) for topic in request.topics]
    result = server.controller.create_topics(
        topics, validate_only=request.get("validate_only", False)
    )
    server.commit(result)
    return {
        "throttle_time_ms": 0,
        "topics": [_created_entry(server, item) for item in result.results],
    }


async def _delete_topics(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    if header.api_version >= 6:
        names: list[str] = []
        unknown_ids: list[dict[str, Any]] = []
        for item in request.topics:
            if item.name is not None:
                names.append(item.name)
                continue
            topic = server.image.topics_by_id.get(item.topic_id)
            if topic is None:
                unknown_ids.append(
                    {
                        "name": None,
                        "topic_id": item.topic_id,
                        "error_code": ErrorCode.UNKNOWN_TOPIC_ID,
                        "error_message": "This server does not host this topic ID.",
                    }
                )
            else:
                names.append(topic.name)
    else:
        names, unknown_ids = list(request.topic_names), []
    if server.forwards_to_controller:
        response = await server.forward_to_controller(header, request)
        gone = [t.name for t in response.responses if t.error_code == ErrorCode.NONE and t.name]
        await server.await_metadata(lambda: not any(server.image.topic(n) for n in gone))
        return dict(response)
    result = server.controller.delete_topics(names)
    server.commit(result)
    responses = [
        {
            "name": item.name,
            "topic_id": item.topic_id or ZERO_UUID,
            "error_code": item.error_code,
            "error_message": item.error_message,
        }
        for item in result.results
    ]
    return {"throttle_time_ms": 0, "responses": responses + unknown_ids}


async def _create_partitions(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    if server.forwards_to_controller:
        response = await server.forward_to_controller(header, request)
        if not request.validate_only:
            wanted = {t.name: t.count for t in request.topics}
            grown = [r.name for r in response.results if r.error_code == ErrorCode.NONE]
            await server.await_metadata(
                lambda: all(
                    (topic := server.image.topic(name)) is not None
                    and len(topic.partitions) >= wanted[name]
                    for name in grown
                )
            )
        return dict(response)
    results = []
    for topic in request.topics:
        if topic.assignments is not None:
            results.append(
                {
                    "name": topic.name,
                    "error_code": ErrorCode.INVALID_REQUEST,
                    "error_message": "Manual partition assignment is not supported.",
                }
            )
            continue
        outcome = server.controller.create_partitions(
            topic.name, topic.count, request.validate_only
        )
        server.commit(outcome)
        item = outcome.results[0]
        results.append(
            {"name": item.name, "error_code": item.error_code, "error_message": item.error_message}
        )
    return {"throttle_time_ms": 0, "results": results}


def _config_entries(
    entries: list[broker_config.ConfigEntry],
    keys: list[str] | None,
    synonyms: bool,
    documentation: bool,
) -> list[dict[str, Any]]:
    wanted = None if keys is None else set(keys)
    out = []
    for item in entries:
        if wanted is not None and item.name not in wanted:
            continue
        out.append(
            {
                "name": item.name,
                "value": item.value,
                "read_only": item.read_only,
                "is_default": item.is_default,
                "config_source": item.source,
                "is_sensitive": item.sensitive,
                "synonyms": [
                    {"name": name, "value": value, "source": source}
                    for name, value, source in item.synonyms
                ]
                if synonyms
                else [],
                "config_type": item.config_type,
                "documentation": item.documentation if documentation else None,
            }
        )
    return out


def _logger_entry(logger: str, level: str) -> broker_config.ConfigEntry:
    return broker_config.ConfigEntry(
        name=logger,
        value=level,
        read_only=False,
        is_default=False,
        source=broker_config.ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG,
        sensitive=False,
        synonyms=(),
        config_type=broker_config.ConfigType.STRING,
        documentation=None,
    )


def _describe_resource(
    server: BrokerServer, resource: Container, synonyms: bool, documentation: bool
) -> dict[str, Any]:
    kind = resource.resource_type
    name = resource.resource_name
    result: dict[str, Any] = {
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "resource_type": kind,
        "resource_name": name,
        "configs": [],
    }
    if kind == TOPIC_RESOURCE:
        topic = server.image.topic(name)
        if topic is None:
            result.update(
                error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                error_message=f"Topic '{name}' does not exist.",
            )
            return result
        entries = broker_config.describe_topic_config(server.config, topic.configs)
    elif kind == BROKER_RESOURCE:
        if name not in ("", str(server.node_id)):
            result.update(
                error_code=ErrorCode.INVALID_REQUEST,
                error_message=f"Unexpected broker id, expected {server.node_id}.",
            )
            return result
        entries = broker_config.describe_broker_config(server.config, default_only=not name)
    elif kind == GROUP_RESOURCE:
        if not name:
            result.update(
                error_code=ErrorCode.INVALID_REQUEST, error_message="Group name must not be empty."
            )
            return result
        overrides = server.image.group_configs.get(name, {})
        entries = broker_config.describe_group_config(server.config, overrides)
    elif kind == broker_loggers.BROKER_LOGGER_RESOURCE:
        if name != str(server.node_id):
            message = (
                "Broker id must not be empty"
                if not name
                else (f"Unexpected broker id, expected {server.node_id} but received {name}")
            )
            result.update(error_code=ErrorCode.INVALID_REQUEST, error_message=message)
            return result
        entries = [_logger_entry(logger, level) for logger, level in broker_loggers.loggers()]
    else:
        result.update(
            error_code=ErrorCode.INVALID_REQUEST, error_message=f"Unsupported resource type {kind}."
        )
        return result
    result["configs"] = _config_entries(
        entries, resource.configuration_keys, synonyms, documentation
    )
    return result


async def describe_configs(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    synonyms = bool(request.get("include_synonyms", False))
    documentation = bool(request.get("include_documentation", False))
    results = [
        _describe_resource(server, resource, synonyms, documentation)
        for resource in request.resources
    ]
    return {"throttle_time_ms": 0, "results": results}


# ListConfigResources (KIP-1142): the resource types DescribeConfigs answers, and client
# metrics (KIP-714), of which this broker has none; asking for another type is
# UNSUPPORTED_VERSION, as Kafka answers a type it does not support.
_LISTED_CONFIG_TYPES = (
    TOPIC_RESOURCE,
    BROKER_RESOURCE,
    broker_loggers.BROKER_LOGGER_RESOURCE,
    CLIENT_METRICS_RESOURCE,
    GROUP_RESOURCE,
)


async def list_config_resources(
    server: BrokerServer, header: RequestHeader, request: Container
) -> dict[str, Any]:
    wanted = list(request.get("resource_types") or ()) if header.api_version >= 1 else []
    if header.api_version == 0:
        wanted = [CLIENT_METRICS_RESOURCE]
    if any(kind not in _LISTED_CONFIG_TYPES for kind in wanted):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION,
                "config_resources": []}  # fmt: skip
    kinds = set(wanted or _LISTED_CONFIG_TYPES)
    listed: list[dict[str, Any]] = []
    if TOPIC_RESOURCE in kinds:
        listed += [
            {"resource_name": name, "resource_type": TOPIC_RESOURCE}
            for name in sorted(server.image.topics_by_name)
        ]
    # Kafka lists every broker as a broker logger first, then as a broker.
    for kind in (broker_loggers.BROKER_LOGGER_RESOURCE, BROKER_RESOURCE):
        if kind in kinds:
            listed += [
                {"resource_name": str(broker_id), "resource_type": kind}
                for broker_id in sorted(server.image.brokers)
            ]
    if GROUP_RESOURCE in kinds:
        # The groups with configs, existing or not (KIP-1142's point).
        listed += [
            {"resource_name": group, "resource_type": GROUP_RESOURCE}
            for group in sorted(server.image.group_configs)
        ]
    return {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "config_resources": listed}
