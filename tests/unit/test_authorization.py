"""The per-API ACL checks of broker/server/authorization.py, without a broker.

Every handled API has a rule; for every API and version a request with one of each nested
entry, refused by an authorizer that allows nothing, yields a response that encodes in that
version's layout and carries an authorization error; a super user's request goes on as it
came.  The enforcement against real clients is in tests/interop/test_acls.py.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from construct import Container

from broker.core.acl import (
    CLUSTER_NAME,
    AclBinding,
    AclOperation,
    AclPermissionType,
    Authorizer,
    PatternType,
    ResourceType,
)
from broker.core.metadata import MetadataImage, TopicRecord
from broker.server import authorization
from broker.server.authorization import GUARDS, UNGUARDED, Check, Merge
from broker.server.handlers import HANDLERS
from client.protocol import codec
from client.protocol.errors import ErrorCode
from client.protocol.headers import RequestHeader
from client.protocol.messages import APIS
from client.protocol.schema import Array, Field, Struct

AUTHORIZATION_ERRORS = {
    ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    ErrorCode.GROUP_AUTHORIZATION_FAILED,
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}
# Answered whatever the principal: the ACLs only trim or annotate the answer.
FILTERING_ONLY = {3, 16, 60, 66}
# Before v3 DescribeLogDirs has no error code: a refused request gets an empty answer.
DESCRIBE_LOG_DIRS = 35


def _sample_value(kind: Any) -> Any:
    if isinstance(kind, Array):
        element = kind.element
        return [_sample(element.fields) if isinstance(element, Struct) else _sample_value(element)]
    if isinstance(kind, Struct):
        return _sample(kind.fields)
    return {
        "string": "t",
        "uuid": uuid.UUID(int=0),
        "bytes": b"",
        "records": b"",
        "bool": False,
        "float64": 0.0,
    }.get(kind, 1)


def _sample(fields: tuple[Field, ...]) -> dict[str, Any]:
    """One of every nested entry, strings "t", numbers 1."""
    return {item.name: _sample_value(item.type) for item in fields}


def _request(api_key: int, version: int) -> Container:
    message = APIS[api_key][0]
    body = _sample(message.fields)
    if api_key == 0:
        body["acks"] = -1  # acks=0 has no answer to refuse with
    if api_key == 1:
        body.update(replica_id=-1, replica_state={"replica_id": -1, "replica_epoch": -1})
    return codec.decode(message, version, codec.encode(message, version, body))


def _server() -> Any:
    image = MetadataImage()
    image.replay(TopicRecord("t", str(uuid.UUID(int=0))))  # what the sample ids name
    return SimpleNamespace(image=image, config=SimpleNamespace(auto_create_topics_enable=True))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _errors(value: Any) -> set[int]:
    found: set[int] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("error_code") and isinstance(item, int):
                found.add(item)
            else:
                found |= _errors(item)
    elif isinstance(value, list):
        for item in value:
            found |= _errors(item)
    return found


def _cases() -> list[tuple[int, int]]:
    cases = []
    for api_key in sorted(HANDLERS):
        request = APIS[api_key][0]
        for version in range(request.valid_versions.low, request.valid_versions.high + 1):
            cases.append((api_key, version))
    return cases


def test_every_handled_api_has_a_rule() -> None:
    assert set(HANDLERS) <= set(GUARDS) | UNGUARDED
    assert not set(GUARDS) & UNGUARDED


@pytest.mark.parametrize(("api_key", "version"), _cases())
def test_a_refused_request_answers_in_its_version(api_key: int, version: int) -> None:
    if api_key in UNGUARDED:
        return
    body = _request(api_key, version)
    header = RequestHeader(api_key, version, 7, "test", 0)
    check = Check(Authorizer(), "User:mallory", "127.0.0.1")
    outcome = authorization.guard(check, _server(), header, body)
    if isinstance(outcome, Merge):
        response = outcome.alone() if outcome.base is not None else outcome.apply({})
    elif outcome is None:
        assert api_key in FILTERING_ONLY, "refused, so not passed on as it came"
        return
    else:
        response = outcome
    # What the client reads: the response as encoded in this version, decoded again.
    message = APIS[api_key][1]
    answered = codec.decode(message, version, codec.encode(message, version, response))
    if api_key not in FILTERING_ONLY and not (api_key == DESCRIBE_LOG_DIRS and version < 3):
        assert _errors(_plain(answered)) & AUTHORIZATION_ERRORS, (response, answered)


@pytest.mark.parametrize(("api_key", "version"), _cases())
def test_a_super_user_goes_on_as_asked(api_key: int, version: int) -> None:
    body = _request(api_key, version)
    before = dict(body)
    header = RequestHeader(api_key, version, 7, "test", 0)
    check = Check(Authorizer(["User:admin"]), "User:admin", "127.0.0.1")
    outcome = authorization.guard(check, _server(), header, body)
    # Nothing refused: the handler gets the whole request (Merge only annotates the answer).
    assert outcome is None or (isinstance(outcome, Merge) and not outcome.entries)
    assert isinstance(outcome, Merge) or dict(body) == before


def _allow(kind: ResourceType, name: str, operation: AclOperation) -> AclBinding:
    return AclBinding(
        kind, name, PatternType.LITERAL, "User:alice", "*", operation, AclPermissionType.ALLOW
    )


def test_produce_keeps_the_allowed_topics_and_refuses_the_others() -> None:
    authorizer = Authorizer()
    authorizer.set_acls([_allow(ResourceType.TOPIC, "ok", AclOperation.WRITE)])
    body = Container(
        transactional_id=None,
        acks=-1,
        timeout_ms=1000,
        topic_data=[
            Container(name="ok", partition_data=[Container(index=0, records=b"")]),
            Container(name="no", partition_data=[Container(index=3, records=b"")]),
        ],
    )
    header = RequestHeader(0, 9, 1, "c", 0)
    outcome = authorization.guard(Check(authorizer, "User:alice", "h"), _server(), header, body)
    assert isinstance(outcome, Merge) and outcome.base is None
    assert [topic.name for topic in body.topic_data] == ["ok"]
    response = outcome.apply({"responses": [{"name": "ok", "partition_responses": []}]})
    answered = [
        (topic["name"], [p["error_code"] for p in topic["partition_responses"]])
        for topic in response["responses"]
    ]
    assert answered == [("ok", []), ("no", [ErrorCode.TOPIC_AUTHORIZATION_FAILED])]


def test_idempotent_producer_ids_need_idempotent_write_or_write_on_some_topic() -> None:
    body = Container(transactional_id=None, transaction_timeout_ms=1, producer_id=-1,
                     producer_epoch=-1)  # fmt: skip
    header = RequestHeader(22, 4, 1, "c", 0)
    authorizer = Authorizer()
    check = Check(authorizer, "User:alice", "h")
    refused = authorization.guard(check, _server(), header, body)
    assert isinstance(refused, dict)
    assert refused["error_code"] == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    authorizer.set_acls([_allow(ResourceType.TOPIC, "any", AclOperation.WRITE)])
    assert authorization.guard(check, _server(), header, body) is None
    authorizer.set_acls([_allow(ResourceType.CLUSTER, CLUSTER_NAME, AclOperation.IDEMPOTENT_WRITE)])
    assert authorization.guard(check, _server(), header, body) is None


def test_an_all_topics_metadata_answer_leaves_out_what_the_principal_may_not_describe() -> None:
    authorizer = Authorizer()
    authorizer.set_acls([_allow(ResourceType.TOPIC, "seen", AclOperation.READ)])
    body = Container(topics=None, allow_auto_topic_creation=True,
                     include_cluster_authorized_operations=False,
                     include_topic_authorized_operations=True)  # fmt: skip
    header = RequestHeader(3, 12, 1, "c", 0)
    outcome = authorization.guard(Check(authorizer, "User:alice", "h"), _server(), header, body)
    assert isinstance(outcome, Merge)
    answered = {
        "topics": [
            {"name": "seen", "error_code": 0, "topic_authorized_operations": 0},
            {"name": "hidden", "error_code": 0, "topic_authorized_operations": 0},
        ]
    }
    (topic,) = outcome.apply(answered)["topics"]
    assert topic["name"] == "seen"
    # READ implies DESCRIBE: bits 3 (READ) and 8 (DESCRIBE).
    assert topic["topic_authorized_operations"] == (1 << 3) | (1 << 8)


def test_a_consumer_group_heartbeat_needs_describe_on_its_topics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    authorizer = Authorizer()
    authorizer.set_acls(
        [
            _allow(ResourceType.GROUP, "g", AclOperation.READ),
            _allow(ResourceType.TOPIC, "mine", AclOperation.READ),
        ]
    )
    header = RequestHeader(68, 0, 1, "c", 0)
    check = Check(authorizer, "User:alice", "10.0.0.1")
    body = Container(group_id="g", subscribed_topic_names=["mine"])
    assert authorization.guard(check, _server(), header, body) is None
    body = Container(group_id="g", subscribed_topic_names=["mine", "theirs"])
    with caplog.at_level("INFO", logger="odradek.authorizer"):
        refused = authorization.guard(check, _server(), header, body)
    assert isinstance(refused, dict)
    assert refused["error_code"] == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    assert "theirs" in refused["error_message"]
    # Every denial leaves an audit line, as Kafka's kafka.authorizer.logger does.
    assert (
        "Principal = User:alice is Denied operation = DESCRIBE from host = 10.0.0.1 on "
        "resource = TOPIC:LITERAL:theirs" in caplog.text
    )


def test_describe_topic_partitions_pages_only_describable_topics() -> None:
    authorizer = Authorizer()
    authorizer.set_acls(
        [_allow(ResourceType.TOPIC, name, AclOperation.DESCRIBE) for name in ("a", "c")]
    )
    check = Check(authorizer, "User:alice", "h")
    header = RequestHeader(75, 0, 1, "c", 0)
    # Every topic: the check rides with the request, so the handler pages what it admits.
    every = Container(topics=[], response_partition_limit=10, cursor=None)
    outcome = authorization.guard(check, _server(), header, every)
    assert isinstance(outcome, Merge) and not outcome.entries
    assert [name for name in "abc" if every.describable(name)] == ["a", "c"]
    # Named topics: the refused ones are answered after the others; a refused cursor topic
    # drops the cursor (the rest start at their first partition) and what sorts before it.
    cursor = Container(topic_name="b", partition_index=3)
    names = [Container(name=name) for name in ("z", "c", "b", "a")]
    named = Container(topics=names, response_partition_limit=10, cursor=cursor)
    outcome = authorization.guard(check, _server(), header, named)
    assert isinstance(outcome, Merge) and outcome.base is None
    assert [item.name for item in named.topics] == ["c"] and named.cursor is None
    response = outcome.apply({"topics": [{"name": "c", "error_code": 0}]})
    assert [(t["name"], t["error_code"]) for t in response["topics"]] == [
        ("c", 0),
        ("b", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        ("z", ErrorCode.TOPIC_AUTHORIZATION_FAILED),
    ]
    assert response["topics"][0]["topic_authorized_operations"] == 1 << AclOperation.DESCRIBE
    # Nothing left to describe: answered without the handler (an empty list is "every topic").
    alone = Container(topics=[Container(name="b")], response_partition_limit=10, cursor=None)
    outcome = authorization.guard(check, _server(), header, alone)
    assert isinstance(outcome, Merge) and outcome.base is not None
    assert [t["error_code"] for t in outcome.alone()["topics"]] == [
        ErrorCode.TOPIC_AUTHORIZATION_FAILED
    ]
