"""Who may do what: each API's ACL checks, as Kafka's KafkaApis makes them.

With an authorizer configured (``authorizer.class.name``), the dispatcher asks
:func:`guard` before a handler runs.  A guard decides from the connection's principal
(``User:<name>`` after SASL, ``User:ANONYMOUS`` otherwise), the client's address and the
request, and gives one of:

- ``None``: the request goes on as it came;
- a response body: the request is refused as a whole (GROUP_AUTHORIZATION_FAILED,
  CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, ...);
- a :class:`Merge`: the resources the principal may not touch were taken out of the request
  (the handler sees only the rest) and come back into the response with
  TOPIC_AUTHORIZATION_FAILED (or their API's error), as Kafka answers them.

The rules follow KafkaApis: WRITE on a topic to produce, READ to fetch or commit, DESCRIBE to
see it in Metadata (unauthorized topics are left out of an all-topics answer and get
TOPIC_AUTHORIZATION_FAILED when named), CREATE on the cluster or the topic to create,
DELETE / ALTER to delete / grow it, READ on a group to join it, DESCRIBE on a group or
transactional id to find its coordinator, WRITE on a transactional id for transactions,
IDEMPOTENT_WRITE on the cluster (or WRITE on some topic, KIP-679) for an idempotent producer
id, CLUSTER_ACTION for a follower's fetch and other brokers' requests, DESCRIBE / ALTER on the
cluster for the cluster-wide admin APIs.  Every handled API has a guard
(``tests/unit/test_authorization.py`` checks it): an API added without one is refused.

Requests reach the controller only from brokers (forwarded after this check), so the
controller's own listener is not authorized.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from construct import Container

from broker.core.acl import ANONYMOUS, CLUSTER_NAME, Authorizer
from broker.server.connection import current_connection_state, current_peer_host
from client.protocol.acl import AclOperation, ResourceType
from client.protocol.errors import ErrorCode, ProtocolError
from client.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

audit = logging.getLogger("odradek.authorizer")
Op = AclOperation
TOPIC = ResourceType.TOPIC
GROUP = ResourceType.GROUP
CLUSTER = ResourceType.CLUSTER
TXN = ResourceType.TRANSACTIONAL_ID
TOPIC_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED
GROUP_DENIED = ErrorCode.GROUP_AUTHORIZATION_FAILED
CLUSTER_DENIED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED
TXN_DENIED = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
ZERO_UUID = uuid.UUID(int=0)
OMITTED_OPERATIONS = -(2**31)
# Kafka's config resource types (DescribeConfigs / AlterConfigs).
_CONFIG_TOPIC = 2
_CONFIG_GROUP = 32


class Check:
    """The authorizer, asked for one request's principal and client address."""

    __slots__ = ("authorizer", "host", "principal")

    def __init__(self, authorizer: Authorizer, principal: str, host: str) -> None:
        self.authorizer = authorizer
        self.principal = principal
        self.host = host

    def allows(self, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        if self.authorizer.authorize(self.principal, self.host, operation, resource_type, name):
            return True
        # As Kafka's kafka.authorizer.logger: every denial, at INFO.
        audit.info(
            "Principal = %s is Denied operation = %s from host = %s on resource = %s:LITERAL:%s",
            self.principal,
            operation.name,
            self.host,
            resource_type.name,
            name,
        )
        return False

    def quietly(self, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        """:meth:`allows` without the audit line: for answers that are only filtered (Kafka's
        ``logIfDenied = false``)."""
        return self.authorizer.authorize(self.principal, self.host, operation, resource_type, name)

    def topic(self, operation: AclOperation, name: str) -> bool:
        return self.allows(operation, TOPIC, name)

    def cluster(self, operation: AclOperation) -> bool:
        return self.allows(operation, CLUSTER, CLUSTER_NAME)

    def operations(self, resource_type: ResourceType, name: str) -> int:
        return self.authorizer.authorized_operations(self.principal, self.host, resource_type, name)


class Merge:
    """Refused entries to add to the handler's response (under ``field``); ``base`` is the
    whole response to give when nothing of the request is left to handle."""

    __slots__ = ("base", "entries", "field", "then")

    def __init__(
        self,
        field: str,
        entries: list[dict[str, Any]],
        base: dict[str, Any] | None = None,
        then: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.field = field
        self.entries = entries
        self.base = base
        self.then = then

    def apply(self, response: dict[str, Any]) -> dict[str, Any]:
        if self.entries:
            response[self.field] = [*(response.get(self.field) or ()), *self.entries]
        if self.then is not None:
            self.then(response)
        return response

    def alone(self) -> dict[str, Any]:
        """The answer when every resource of the request was refused."""
        assert self.base is not None
        body = dict(self.base)
        body[self.field] = list(self.entries)
        if self.then is not None:
            self.then(body)
        return body


Outcome = dict[str, Any] | Merge | None
Guard = Callable[[Check, "BrokerServer", RequestHeader, Container], Outcome]


def check_for(authorizer: Authorizer) -> Check:
    """The current connection's principal and address (the connection's context)."""
    state: dict[str, Any] = current_connection_state.get({})
    host = current_peer_host.get().lstrip("/")
    return Check(authorizer, state.get("principal", ANONYMOUS), host)


# -- helpers ---------------------------------------------------------------------------------


def _split(items: Iterable[Any], allowed: Callable[[Any], bool]) -> tuple[list[Any], list[Any]]:
    kept: list[Any] = []
    refused: list[Any] = []
    for item in items:
        (kept if allowed(item) else refused).append(item)
    return kept, refused


def _partitions(
    indexes: Iterable[int],
    error: ErrorCode,
    key: str = "partition_index",
    error_key: str = "error_code",
    **extra: Any,
) -> list[dict[str, Any]]:
    return [{key: index, error_key: error, **extra} for index in indexes]


def _topic_split(
    body: Container,
    field: str,
    allowed: Callable[[str], bool],
    refuse: Callable[[Any], dict[str, Any]],
    *,
    into: str,
    base: dict[str, Any] | None,
    name_key: str = "name",
) -> Merge | None:
    """Take the topics ``allowed`` refuses out of ``body[field]``; they come back as
    ``refuse(item)`` entries of the response's ``response_field``."""
    items = body.get(field)
    if not items:
        return None
    kept, refused = _split(items, lambda item: allowed(item[name_key]))
    if not refused:
        return None
    body[field] = kept
    return Merge(into, [refuse(item) for item in refused], base if not kept else None)


def _keep_described(check: Check, field: str, resource_type: ResourceType, key: str) -> Merge:
    """A listing (ListGroups, ListTransactions) answered with only the entries the principal
    may DESCRIBE, the others left out without a word (Kafka's filterByAuthorized)."""

    def then(response: dict[str, Any]) -> None:
        response[field] = [
            entry
            for entry in response.get(field) or ()
            if check.quietly(Op.DESCRIBE, resource_type, entry[key])
        ]

    return Merge(field, [], then=then)


def _refuse_all(
    body: Container, field: str, refuse: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    return [refuse(item) for item in body.get(field) or ()]


# -- produce, fetch and offsets --------------------------------------------------------------


def _produce(check: Check, server: BrokerServer, header: RequestHeader, body: Container) -> Outcome:
    def refuse_with(error: ErrorCode) -> Callable[[Any], dict[str, Any]]:
        return lambda topic: {
            "name": topic.name,
            "partition_responses": _partitions(
                (p.index for p in topic.partition_data),
                error,
                key="index",
                base_offset=-1,
                log_append_time_ms=-1,
                log_start_offset=-1,
            ),
        }

    base = {"responses": [], "throttle_time_ms": 0}
    transactional_id = body.get("transactional_id")
    if transactional_id is not None and not check.allows(Op.WRITE, TXN, transactional_id):
        if body.acks == 0:
            raise ProtocolError("acks=0 produce refused: TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
        return {**base, "responses": _refuse_all(body, "topic_data", refuse_with(TXN_DENIED))}
    merge = _topic_split(
        body,
        "topic_data",
        lambda name: check.topic(Op.WRITE, name),
        refuse_with(TOPIC_DENIED),
        into="responses",
        base=base,
    )
    if merge is not None and body.acks == 0:
        # acks=0 has no response to carry the error: Kafka closes the connection.
        raise ProtocolError("acks=0 produce refused: TOPIC_AUTHORIZATION_FAILED")
    return merge


def _fetch(check: Check, server: BrokerServer, header: RequestHeader, body: Container) -> Outcome:
    from broker.server.handlers.fetch import replica_of

    version = header.api_version

    def refuse(topic: Any) -> dict[str, Any]:
        return {
            "topic": topic.get("topic") or "",
            "topic_id": topic.get("topic_id") or ZERO_UUID,
            "partitions": _partitions(
                (p.partition for p in topic.partitions),
                TOPIC_DENIED,
                high_watermark=-1,
                last_stable_offset=-1,
                log_start_offset=-1,
                preferred_read_replica=-1,
                records=b"",
            ),
        }

    base = {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "session_id": 0}
    if replica_of(body, version)[0] >= 0:
        if check.cluster(Op.CLUSTER_ACTION):
            return None
        return {**base, "responses": _refuse_all(body, "topics", refuse)}

    def name_of(topic: Any) -> str | None:
        if version >= 13:
            image = server.image.topics_by_id.get(topic.get("topic_id"))
            return None if image is None else image.name
        name: str | None = topic.get("topic")
        return name

    items = body.get("topics") or []
    # An unknown topic id is left to the handler (UNKNOWN_TOPIC_ID).
    kept, refused = _split(
        items, lambda t: (name := name_of(t)) is None or check.topic(Op.READ, name)
    )
    if not refused:
        return None
    body["topics"] = kept
    return Merge("responses", [refuse(t) for t in refused], None if kept else base)


def _list_offsets(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.DESCRIBE, name),
        lambda topic: {
            "name": topic.name,
            "partitions": _partitions(
                (p.partition_index for p in topic.partitions),
                TOPIC_DENIED,
                timestamp=-1,
                offset=-1,
                leader_epoch=-1,
            ),
        },
        into="topics",
        base={"throttle_time_ms": 0, "topics": []},
    )


def _offset_for_leader_epoch(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    def refuse_with(error: ErrorCode) -> Callable[[Any], dict[str, Any]]:
        return lambda topic: {
            "topic": topic.topic,
            "partitions": _partitions(
                (p.partition for p in topic.partitions),
                error,
                key="partition",
                leader_epoch=-1,
                end_offset=-1,
            ),
        }

    base = {"throttle_time_ms": 0, "topics": []}
    if body.get("replica_id", -1) >= 0:
        if check.cluster(Op.CLUSTER_ACTION):
            return None
        return {**base, "topics": _refuse_all(body, "topics", refuse_with(CLUSTER_DENIED))}
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.DESCRIBE, name),
        refuse_with(TOPIC_DENIED),
        into="topics",
        base=base,
        name_key="topic",
    )


def _delete_records(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.DELETE, name),
        lambda topic: {
            "name": topic.name,
            "partitions": _partitions(
                (p.partition_index for p in topic.partitions), TOPIC_DENIED, low_watermark=-1
            ),
        },
        into="topics",
        base={"throttle_time_ms": 0, "topics": []},
    )


def _describe_producers(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.READ, name),
        lambda topic: {
            "name": topic.name,
            "partitions": _partitions(topic.partition_indexes, TOPIC_DENIED, active_producers=[]),
        },
        into="topics",
        base={"throttle_time_ms": 0, "topics": []},
    )


# -- metadata --------------------------------------------------------------------------------


def _metadata(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    wanted = body.get("topics")
    every_topic = wanted is None or (header.api_version == 0 and not wanted)
    refused: list[dict[str, Any]] = []
    if not every_topic:
        auto_create = server.config.auto_create_topics_enable and body.get(
            "allow_auto_topic_creation", True
        )
        may_create_any = None
        kept = []
        for item in wanted:
            name = item.get("name")
            if name is None:
                topic = server.image.topics_by_id.get(item.get("topic_id") or ZERO_UUID)
                if topic is not None and not check.topic(Op.DESCRIBE, topic.name):
                    # Topic ids are not secret: the id comes back with the error.
                    refused.append(_metadata_error(None, topic.topic_id))
                    continue
            elif not check.topic(Op.DESCRIBE, name):
                refused.append(_metadata_error(name, ZERO_UUID))
                continue
            elif auto_create and server.image.topic(name) is None:
                if may_create_any is None:
                    may_create_any = check.quietly(Op.CREATE, CLUSTER, CLUSTER_NAME)
                if not may_create_any and not check.topic(Op.CREATE, name):
                    refused.append(_metadata_error(name, ZERO_UUID))
                    continue
            kept.append(item)
        body["topics"] = kept
        if not kept:
            # An empty list is "all topics" in v0 and must stay "none" here.
            body["topics"] = (
                [{"name": "", "topic_id": ZERO_UUID}] if header.api_version == 0 else []
            )

    with_operations = bool(body.get("include_topic_authorized_operations"))
    with_cluster = bool(body.get("include_cluster_authorized_operations"))

    def then(response: dict[str, Any]) -> None:
        topics = []
        for entry in response.get("topics") or ():
            if entry.get("name") == "" and header.api_version == 0 and not every_topic:
                continue  # the placeholder above
            if every_topic and not check.quietly(Op.DESCRIBE, TOPIC, entry["name"]):
                continue  # not disclosed at all
            if with_operations and entry.get("error_code") == ErrorCode.NONE and entry.get("name"):
                entry["topic_authorized_operations"] = check.operations(TOPIC, entry["name"])
            topics.append(entry)
        response["topics"] = topics
        if with_cluster:
            response["cluster_authorized_operations"] = (
                check.operations(CLUSTER, CLUSTER_NAME)
                if check.quietly(Op.DESCRIBE, CLUSTER, CLUSTER_NAME)
                else OMITTED_OPERATIONS
            )

    return Merge("topics", refused, then=then)


def _metadata_error(name: str | None, topic_id: uuid.UUID) -> dict[str, Any]:
    return {
        "error_code": TOPIC_DENIED,
        "name": name,
        "topic_id": topic_id,
        "is_internal": False,
        "partitions": [],
        "topic_authorized_operations": OMITTED_OPERATIONS,
    }


def _describe_topic_partitions(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    """Named topics the principal may not DESCRIBE are TOPIC_AUTHORIZATION_FAILED (after the
    others, as in Kafka); a listing of every topic pages only the describable ones (the check
    goes in with the request, ``body.describable``, as what fits a page depends on it).  Each
    topic described gets its authorized operations."""

    def then(response: dict[str, Any]) -> None:
        for entry in response.get("topics") or ():
            if entry.get("error_code") == ErrorCode.NONE:
                entry["topic_authorized_operations"] = check.operations(TOPIC, entry["name"])

    named = [item.name for item in body.get("topics") or ()]
    if not named:
        body["describable"] = lambda name: check.quietly(Op.DESCRIBE, TOPIC, name)
        return Merge("topics", [], then=then)
    cursor = body.get("cursor")
    start = cursor.topic_name if cursor is not None else ""
    if cursor is not None and start not in named:
        return None  # the handler refuses the whole request
    asked = sorted({name for name in named if name >= start})
    kept, refused = _split(asked, lambda name: check.topic(Op.DESCRIBE, name))
    if not refused:
        return Merge("topics", [], then=then)
    if start in refused:
        # Kafka then describes the other topics from their first partition.
        body["cursor"] = None
    body["topics"] = [Container(name=name) for name in kept]
    entries = [_metadata_error(name, ZERO_UUID) for name in refused]
    base = {"throttle_time_ms": 0, "topics": [], "next_cursor": None}
    return Merge("topics", entries, base if not kept else None, then=then)


def _describe_cluster(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    if not body.get("include_cluster_authorized_operations"):
        return None

    def then(response: dict[str, Any]) -> None:
        response["cluster_authorized_operations"] = (
            check.operations(CLUSTER, CLUSTER_NAME)
            if check.quietly(Op.DESCRIBE, CLUSTER, CLUSTER_NAME)
            else OMITTED_OPERATIONS
        )

    return Merge("brokers", [], then=then)


# -- groups ----------------------------------------------------------------------------------


def _group_read(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    """JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ConsumerGroupHeartbeat: READ on the group
    (and, for ConsumerGroupHeartbeat, DESCRIBE on every topic subscribed to by name)."""
    error = GROUP_DENIED
    message = None
    if check.allows(Op.READ, GROUP, body.group_id):
        if header.api_key not in (68, 76):
            return None
        hidden = [
            name
            for name in body.get("subscribed_topic_names") or ()
            if not check.topic(Op.DESCRIBE, name)
        ]
        if not hidden:
            return None
        error = TOPIC_DENIED
        message = f"The following topics are not authorized: {', '.join(sorted(hidden))}"
    refused: dict[str, Any] = {"throttle_time_ms": 0, "error_code": error}
    if header.api_key == 11:  # JoinGroup
        refused.update(generation_id=-1, leader="", member_id="", members=[])
    elif header.api_key == 13:  # LeaveGroup
        refused["members"] = []
    elif header.api_key == 68:  # ConsumerGroupHeartbeat
        refused.update(error_message=message, member_id=None, member_epoch=-1, assignment=None)
    elif header.api_key == 76:  # ShareGroupHeartbeat
        refused.update(
            error_message=message,
            member_id=None,
            member_epoch=0,
            heartbeat_interval_ms=0,
            assignment=None,
        )
    return refused


def _share_read(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    """ShareFetch, ShareAcknowledge: READ on the group, then READ on each topic (an unknown
    topic id is left to the handler)."""
    fetch = header.api_key == 78
    base: dict[str, Any] = {
        "throttle_time_ms": 0,
        "error_code": ErrorCode.NONE,
        "error_message": None,
        "responses": [],
        "node_endpoints": [],
    }
    if fetch:
        base["acquisition_lock_timeout_ms"] = 0
    if not check.allows(Op.READ, GROUP, body.group_id or ""):
        return {**base, "error_code": GROUP_DENIED}

    def allowed(topic: Any) -> bool:
        image = server.image.topics_by_id.get(topic.topic_id)
        return image is None or check.topic(Op.READ, image.name)

    kept, refused = _split(body.get("topics") or [], allowed)
    if not refused:
        return None
    body["topics"] = kept
    no_leader = {"leader_id": -1, "leader_epoch": -1}
    extra: dict[str, Any] = {"error_message": None, "current_leader": no_leader}
    if fetch:
        extra.update(
            acknowledge_error_code=TOPIC_DENIED,
            acknowledge_error_message=None,
            records=b"",
            acquired_records=[],
        )
    entries = [
        {
            "topic_id": topic.topic_id,
            "partitions": _partitions(
                (p.partition_index for p in topic.partitions), TOPIC_DENIED, **extra
            ),
        }
        for topic in refused
    ]
    return Merge("responses", entries)


def _share_group_describe(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _describe_groups(check, server, header, body, field="group_ids")


def _commit_refusal(error: ErrorCode) -> Callable[[Any], dict[str, Any]]:
    return lambda topic: {
        "name": topic.name,
        "partitions": _partitions((p.partition_index for p in topic.partitions), error),
    }


def _offset_commit(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    """OffsetCommit (READ on the group), TxnOffsetCommit (WRITE on the transactional id
    first); then READ on each topic."""
    base = {"throttle_time_ms": 0, "topics": []}
    transactional_id = body.get("transactional_id") if header.api_key == 28 else None
    if transactional_id is not None and not check.allows(Op.WRITE, TXN, transactional_id):
        return {**base, "topics": _refuse_all(body, "topics", _commit_refusal(TXN_DENIED))}
    if not check.allows(Op.READ, GROUP, body.group_id):
        return {**base, "topics": _refuse_all(body, "topics", _commit_refusal(GROUP_DENIED))}
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.READ, name),
        _commit_refusal(TOPIC_DENIED),
        into="topics",
        base=base,
    )


def _offset_fetch_topics(
    check: Check, topics: list[Any] | None
) -> tuple[list[Any] | None, list[dict[str, Any]], Callable[[list[Any]], list[Any]]]:
    """(topics to ask for, refused entries, a filter of the answered topics): named topics
    without DESCRIBE come back with TOPIC_AUTHORIZATION_FAILED; of all topics (None), those
    without DESCRIBE are left out."""
    if topics is None:
        return (
            None,
            [],
            lambda answered: [t for t in answered if check.quietly(Op.DESCRIBE, TOPIC, t["name"])],
        )
    kept, refused = _split(topics, lambda t: check.topic(Op.DESCRIBE, t.name))
    entries = [
        {
            "name": t.name,
            "partitions": _partitions(
                t.partition_indexes,
                TOPIC_DENIED,
                committed_offset=-1,
                committed_leader_epoch=-1,
                metadata="",
            ),
        }
        for t in refused
    ]
    return kept, entries, lambda answered: answered


def _offset_fetch(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    if header.api_version < 8:
        if not check.allows(Op.DESCRIBE, GROUP, body.group_id):
            # v0-1 have no top-level error: each partition asked for carries it.
            topics = [
                {
                    "name": t.name,
                    "partitions": _partitions(
                        t.partition_indexes, GROUP_DENIED, committed_offset=-1, metadata=""
                    ),
                }
                for t in body.get("topics") or ()
            ]
            return {"throttle_time_ms": 0, "topics": topics, "error_code": GROUP_DENIED}
        kept, entries, keep = _offset_fetch_topics(check, body.get("topics"))
        body["topics"] = kept

        def then_one(response: dict[str, Any]) -> None:
            response["topics"] = keep(list(response.get("topics") or ())) + entries

        return Merge("topics", [], then=then_one)
    refused_groups: list[dict[str, Any]] = []
    per_group: dict[str, tuple[list[dict[str, Any]], Callable[[list[Any]], list[Any]]]] = {}
    kept_groups = []
    for group in body.groups:
        if not check.allows(Op.DESCRIBE, GROUP, group.group_id):
            refused_groups.append(
                {"group_id": group.group_id, "topics": [], "error_code": GROUP_DENIED}
            )
            continue
        kept, entries, keep = _offset_fetch_topics(check, group.get("topics"))
        group["topics"] = kept
        per_group[group.group_id] = (entries, keep)
        kept_groups.append(group)
    body["groups"] = kept_groups

    def then(response: dict[str, Any]) -> None:
        for group in response.get("groups") or ():
            found = per_group.get(group["group_id"])
            if found is not None:
                group["topics"] = found[1](list(group.get("topics") or ())) + found[0]

    base = {"throttle_time_ms": 0, "groups": []}
    return Merge("groups", refused_groups, None if kept_groups else base, then=then)


def _find_coordinator(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    key_type = body.get("key_type", 0)
    if key_type == 0:
        resource, error = GROUP, GROUP_DENIED
    elif key_type == 1:
        resource, error = TXN, TXN_DENIED
    else:
        return None  # the handler refuses other key types
    if header.api_version < 4:
        if check.allows(Op.DESCRIBE, resource, body.key):
            return None
        return {
            "throttle_time_ms": 0,
            "error_code": error,
            "error_message": None,
            "node_id": -1,
            "host": "",
            "port": -1,
        }
    kept, refused = _split(
        body.coordinator_keys or (), lambda key: check.allows(Op.DESCRIBE, resource, key)
    )
    if not refused:
        return None
    body["coordinator_keys"] = kept
    entries = [
        {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": error,
            "error_message": None,
        }
        for key in refused
    ]
    base = {"throttle_time_ms": 0, "coordinators": []}
    return Merge("coordinators", entries, None if kept else base)


def _describe_groups(
    check: Check,
    server: BrokerServer,
    header: RequestHeader,
    body: Container,
    *,
    field: str = "groups",
    id_key: str = "group_id",
) -> Outcome:
    kept, refused = _split(body.get(field) or (), lambda g: check.allows(Op.DESCRIBE, GROUP, g))
    body[field] = kept
    entries = [
        {
            "error_code": GROUP_DENIED,
            "group_id": group,
            "group_state": "",
            "protocol_type": "",
            "protocol_data": "",
            "members": [],
            "authorized_operations": OMITTED_OPERATIONS,
        }
        for group in refused
    ]
    with_operations = bool(body.get("include_authorized_operations"))

    def then(response: dict[str, Any]) -> None:
        if with_operations:
            for group in response.get("groups") or ():
                if group.get("error_code") == ErrorCode.NONE:
                    group["authorized_operations"] = check.operations(GROUP, group["group_id"])

    base = {"throttle_time_ms": 0, "groups": []}
    return Merge("groups", entries, None if kept else base, then=then)


def _consumer_group_describe(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _describe_groups(check, server, header, body, field="group_ids")


def _list_groups(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    if check.quietly(Op.DESCRIBE, CLUSTER, CLUSTER_NAME):
        return None

    return _keep_described(check, "groups", GROUP, "group_id")


def _delete_groups(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    kept, refused = _split(body.groups_names or (), lambda g: check.allows(Op.DELETE, GROUP, g))
    if not refused:
        return None
    body["groups_names"] = kept
    entries = [{"group_id": group, "error_code": GROUP_DENIED} for group in refused]
    return Merge("results", entries, None if kept else {"throttle_time_ms": 0, "results": []})


def _offset_delete(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    base = {"error_code": ErrorCode.NONE, "throttle_time_ms": 0, "topics": []}
    if not check.allows(Op.DELETE, GROUP, body.group_id):
        return {**base, "error_code": GROUP_DENIED}
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.READ, name),
        lambda topic: {
            "name": topic.name,
            "partitions": _partitions((p.partition_index for p in topic.partitions), TOPIC_DENIED),
        },
        into="topics",
        base=base,
    )


# -- transactions and producer ids -----------------------------------------------------------


def _init_producer_id(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    transactional_id = body.get("transactional_id")
    if transactional_id is not None:
        if check.allows(Op.WRITE, TXN, transactional_id):
            return None
        error = TXN_DENIED
    elif check.cluster(Op.IDEMPOTENT_WRITE) or check.authorizer.authorize_any(
        check.principal, check.host, Op.WRITE, TOPIC
    ):
        return None
    else:
        error = CLUSTER_DENIED
    return {"throttle_time_ms": 0, "error_code": error, "producer_id": -1, "producer_epoch": -1}


def _add_partitions_to_txn(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    topics = body.get("v3_and_below_topics") or []

    def results(error_of: Callable[[str], ErrorCode]) -> dict[str, Any]:
        return {
            "throttle_time_ms": 0,
            "results_by_topic_v3_and_below": [
                {
                    "name": topic.name,
                    "results_by_partition": _partitions(
                        topic.partitions, error_of(topic.name), error_key="partition_error_code"
                    ),
                }
                for topic in topics
            ],
        }

    if not check.allows(Op.WRITE, TXN, body.v3_and_below_transactional_id):
        return results(lambda name: TXN_DENIED)
    refused = {t.name for t in topics if not check.topic(Op.WRITE, t.name)}
    if not refused:
        return None
    # As Kafka: nothing is added, the others are OPERATION_NOT_ATTEMPTED.
    return results(
        lambda name: TOPIC_DENIED if name in refused else ErrorCode.OPERATION_NOT_ATTEMPTED
    )


def _add_offsets_to_txn(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    if not check.allows(Op.WRITE, TXN, body.transactional_id):
        return {"throttle_time_ms": 0, "error_code": TXN_DENIED}
    if not check.allows(Op.READ, GROUP, body.group_id):
        return {"throttle_time_ms": 0, "error_code": GROUP_DENIED}
    return None


def _end_txn(check: Check, server: BrokerServer, header: RequestHeader, body: Container) -> Outcome:
    if check.allows(Op.WRITE, TXN, body.transactional_id):
        return None
    return {
        "throttle_time_ms": 0,
        "error_code": TXN_DENIED,
        "producer_id": -1,
        "producer_epoch": -1,
    }


def _write_txn_markers(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    if check.cluster(Op.CLUSTER_ACTION):
        return None
    return {
        "markers": [
            {
                "producer_id": marker.producer_id,
                "topics": [
                    {
                        "name": topic.name,
                        "partitions": _partitions(topic.partition_indexes, CLUSTER_DENIED),
                    }
                    for topic in marker.topics
                ],
            }
            for marker in body.markers
        ]
    }


def _describe_transactions(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    kept, refused = _split(
        body.transactional_ids or (), lambda t: check.allows(Op.DESCRIBE, TXN, t)
    )
    if not refused:
        return None
    body["transactional_ids"] = kept
    entries = [
        {
            "error_code": TXN_DENIED,
            "transactional_id": t,
            "transaction_state": "",
            "transaction_timeout_ms": 0,
            "transaction_start_time_ms": -1,
            "producer_id": -1,
            "producer_epoch": -1,
            "topics": [],
        }
        for t in refused
    ]
    base = {"throttle_time_ms": 0, "transaction_states": []}
    return Merge("transaction_states", entries, None if kept else base)


def _list_transactions(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _keep_described(check, "transaction_states", TXN, "transactional_id")


# -- topic administration --------------------------------------------------------------------


def _create_topics(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    may_create_any = check.quietly(Op.CREATE, CLUSTER, CLUSTER_NAME)

    def then(response: dict[str, Any]) -> None:
        for topic in response.get("topics") or ():
            if topic.get("error_code") == ErrorCode.NONE and not check.topic(
                Op.DESCRIBE_CONFIGS, topic["name"]
            ):
                topic["topic_config_error_code"] = TOPIC_DENIED
                topic["configs"] = None

    merge = _topic_split(
        body,
        "topics",
        lambda name: may_create_any or check.topic(Op.CREATE, name),
        lambda topic: {
            "name": topic.name,
            "topic_id": ZERO_UUID,
            "error_code": TOPIC_DENIED,
            "error_message": "Authorization failed.",
            "num_partitions": -1,
            "replication_factor": -1,
            "configs": None,
        },
        into="topics",
        base={"throttle_time_ms": 0, "topics": []},
    )
    if merge is None:
        return Merge("topics", [], then=then)
    merge.then = then
    return merge


def _delete_topics(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    base = {"throttle_time_ms": 0, "responses": []}

    def refuse(name: str | None, topic_id: uuid.UUID) -> dict[str, Any]:
        return {
            "name": name,
            "topic_id": topic_id,
            "error_code": TOPIC_DENIED,
            "error_message": "Authorization failed.",
        }

    if header.api_version < 6:
        kept, refused = _split(body.topic_names or (), lambda n: check.topic(Op.DELETE, n))
        if not refused:
            return None
        body["topic_names"] = kept
        return Merge("responses", [refuse(n, ZERO_UUID) for n in refused], None if kept else base)
    entries = []
    kept_items = []
    for item in body.topics or ():
        name = item.get("name")
        topic_id = item.get("topic_id") or ZERO_UUID
        if name is None:
            topic = server.image.topics_by_id.get(topic_id)
            if topic is None:
                kept_items.append(item)  # the handler answers UNKNOWN_TOPIC_ID
                continue
            if not check.topic(Op.DESCRIBE, topic.name):
                entries.append(refuse(None, topic_id))
                continue
            name = topic.name
        if check.topic(Op.DELETE, name):
            kept_items.append(item)
        else:
            entries.append(refuse(name, topic_id))
    if not entries:
        return None
    body["topics"] = kept_items
    return Merge("responses", entries, None if kept_items else base)


def _create_partitions(
    check: Check, server: BrokerServer, header: RequestHeader, body: Container
) -> Outcome:
    return _topic_split(
        body,
        "topics",
        lambda name: check.topic(Op.ALTER, name),
        lambda topic: {
            "name": topic.name,
            "error_code": TOPIC_DENIED,
            "error_message": "Authorization failed.",
        },
        into="results",
        base={"throttle_time_ms": 0, "results": []},
    )


def _config_resource(
    check: Check, resource_type: int, name: str, operation: AclOperation
) -> ErrorCode:
    if resource_type == _CONFIG_TOPIC:
        return ErrorCode.NONE if check.topic(operation, name) else TOPIC_DENIED
    if resource_type == _CONFIG_GROUP:
        return ErrorCode.NONE if check.allows(operation, GROUP, name) else GROUP_DENIED
    return ErrorCode.NONE if check.cluster(operation) else CLUSTER_DENIED


def _configs(operation: AclOperation, response_field: str) -> Guard:
    """DescribeConfigs (DESCRIBE_CONFIGS) and AlterConfigs / IncrementalAlterConfigs
    (ALTER_CONFIGS): a topic's on the topic, a group's on the group, a broker's on the
    cluster."""

    def guard(
        check: Check, server: BrokerServer, header: RequestHeader, body: Container
    ) -> Outcome:
        kept = []
        entries = []
        for resource in body.resources or ():
            error = _config_resource(
                check, resource.resource_type, resource.resource_name, operation
            )
            if error == ErrorCode.NONE:
                kept.append(resource)
                continue
            entry = {
                "error_code": error,
                "error_message": "Authorization failed.",
                "resource_type": resource.resource_type,
                "resource_name": resource.resource_name,
            }
            if response_field == "results":
                entry["configs"] = []
            entries.append(entry)
        if not entries:
            return None
        body["resources"] = kept
        base = {"throttle_time_ms": 0, response_field: []}
        return Merge(response_field, entries, None if kept else base)

    return guard


# -- cluster-wide APIs -----------------------------------------------------------------------


def _cluster(operation: AclOperation, refused: Callable[[Container], dict[str, Any]]) -> Guard:
    """An API answered for the whole cluster: ``operation`` on the cluster, or ``refused``."""

    def guard(
        check: Check, server: BrokerServer, header: RequestHeader, body: Container
    ) -> Outcome:
        if check.cluster(operation):
            return None
        return refused(body)

    return guard


def _each(
    field: str, into: str, entry: Callable[[Any], dict[str, Any]]
) -> Callable[[Container], dict[str, Any]]:
    """One refused ``entry`` in the response's ``into`` per item of the request's ``field``."""

    def refused(body: Container) -> dict[str, Any]:
        return {"throttle_time_ms": 0, into: [entry(item) for item in body.get(field) or ()]}

    return refused


def _top(**fields: Any) -> Callable[[Container], dict[str, Any]]:
    return lambda body: {"throttle_time_ms": 0, **fields}


_CLUSTER_MESSAGE = "Cluster authorization failed."
_DENIED = {"error_code": CLUSTER_DENIED, "error_message": _CLUSTER_MESSAGE}


def _elect_leaders_refused(body: Container) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": CLUSTER_DENIED,
        "replica_election_results": [
            {
                "topic": item.topic,
                "partition_result": [{"partition_id": p, **_DENIED} for p in item.partitions],
            }
            for item in body.get("topic_partitions") or ()
        ],
    }


def _reassignments_refused(body: Container) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        **_DENIED,
        "responses": [
            {
                "name": t.name,
                "partitions": [
                    {"partition_index": p.partition_index, **_DENIED} for p in t.partitions
                ],
            }
            for t in body.get("topics") or ()
        ],
    }


GUARDS: dict[int, Guard] = {
    0: _produce,
    1: _fetch,
    2: _list_offsets,
    3: _metadata,
    8: _offset_commit,
    9: _offset_fetch,
    10: _find_coordinator,
    11: _group_read,
    12: _group_read,
    13: _group_read,
    14: _group_read,
    15: _describe_groups,
    16: _list_groups,
    19: _create_topics,
    20: _delete_topics,
    21: _delete_records,
    22: _init_producer_id,
    23: _offset_for_leader_epoch,
    24: _add_partitions_to_txn,
    25: _add_offsets_to_txn,
    26: _end_txn,
    27: _write_txn_markers,
    28: _offset_commit,
    29: _cluster(Op.DESCRIBE, _top(**_DENIED, resources=[])),
    30: _cluster(Op.ALTER, _each("creations", "results", lambda item: dict(_DENIED))),
    31: _cluster(
        Op.ALTER, _each("filters", "filter_results", lambda item: {**_DENIED, "matching_acls": []})
    ),
    32: _configs(Op.DESCRIBE_CONFIGS, "results"),
    33: _configs(Op.ALTER_CONFIGS, "responses"),
    34: _cluster(
        Op.ALTER,
        lambda body: {
            "throttle_time_ms": 0,
            "results": [
                {"topic_name": t.name, "partitions": _partitions(t.partitions, CLUSTER_DENIED)}
                for d in body.dirs
                for t in d.topics
            ],
        },
    ),
    # Versions before 3 have no error code: the refused answer is just empty, as in Kafka.
    35: _cluster(Op.DESCRIBE, _top(error_code=CLUSTER_DENIED, results=[])),
    37: _create_partitions,
    42: _delete_groups,
    43: _cluster(Op.ALTER, _elect_leaders_refused),
    44: _configs(Op.ALTER_CONFIGS, "responses"),
    45: _cluster(Op.ALTER, _reassignments_refused),
    46: _cluster(Op.DESCRIBE, _top(**_DENIED, topics=[])),
    47: _offset_delete,
    48: _cluster(Op.DESCRIBE_CONFIGS, _top(**_DENIED, entries=None)),
    49: _cluster(
        Op.ALTER_CONFIGS,
        _each(
            "entries", "entries", lambda item: {**_DENIED, "entity": [dict(e) for e in item.entity]}
        ),
    ),
    50: _cluster(Op.DESCRIBE, _top(**_DENIED, results=[])),
    51: _cluster(
        Op.ALTER,
        lambda body: {
            "throttle_time_ms": 0,
            "results": [
                {"user": user, **_DENIED}
                for user in dict.fromkeys(
                    [d.name for d in body.deletions] + [u.name for u in body.upsertions]
                )
            ],
        },
    ),
    55: _cluster(Op.DESCRIBE, lambda body: {**_DENIED, "topics": [], "nodes": []}),
    57: _cluster(Op.ALTER, _top(**_DENIED, results=[])),
    60: _describe_cluster,
    61: _describe_producers,
    64: _cluster(Op.ALTER, _top(**_DENIED)),
    65: _describe_transactions,
    66: _list_transactions,
    68: _group_read,
    69: _consumer_group_describe,
    74: _cluster(
        Op.DESCRIBE_CONFIGS,
        _top(error_code=CLUSTER_DENIED, config_resources=[]),
    ),
    75: _describe_topic_partitions,
    76: _group_read,
    77: _share_group_describe,
    78: _share_read,
    79: _share_read,
}
# Asked before authentication or about it: no ACL applies.
UNGUARDED = frozenset({17, 18, 36})


def guard(check: Check, server: BrokerServer, header: RequestHeader, body: Container) -> Outcome:
    """What the principal may do of this request (see the module's docstring)."""
    api_key = header.api_key
    if api_key in UNGUARDED:
        return None
    rule = GUARDS.get(api_key)
    if rule is None:
        raise ProtocolError(f"api {api_key} has no authorization rule")
    return rule(check, server, header, body)
