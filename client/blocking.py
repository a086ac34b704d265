"""The blocking facade: :class:`Producer`, :class:`Consumer` and :class:`AdminClient` with the
async clients' API as plain methods, for scripts and for Locust.

No event loop and no thread: plain sockets with timeouts, driven by the calling thread or
greenlet, so the clients behave under gevent's monkey-patching (Locust's users are greenlets:
every wait -- connect, send, select over the brokers' sockets, backoff sleeps -- yields to the
other users).  Each module reuses the sans-IO cores unchanged: :mod:`client.accumulator`
(batches, retries, sequences), :mod:`client.fetcher` and :mod:`client.records_view` (fetch
state, record decoding), :mod:`client.partitioner` and :mod:`client.metadata`.

::

    from client.blocking import AdminClient, Consumer, NewTopic, Producer, TopicPartition

    with AdminClient(bootstrap_servers="127.0.0.1:9092") as admin:
        admin.create_topics([NewTopic("events", num_partitions=1, replication_factor=1)])
    with Producer(bootstrap_servers="127.0.0.1:9092", linger_ms=5) as producer:
        metadata = producer.send("events", b"hello", key=b"k").get(timeout_ms=10_000)
    with Consumer(bootstrap_servers="127.0.0.1:9092", auto_offset_reset="earliest") as consumer:
        consumer.assign([TopicPartition("events", 0)])
        records = consumer.poll(timeout_ms=5_000)

Differences from the async clients, all because nothing runs in the background: a producer
sends lingering batches and reads answers only inside its calls (``send``, ``poll``,
``flush``, ``close``, a future's ``get``), and a consumer fetches inside ``poll`` (it writes
the next fetches before returning, so they overlap the caller's processing).  The layers:
:mod:`client.blocking_connection` (one socket: ApiVersions with v0 fallback, correlation ids,
pipelining, deadlines), :mod:`client.blocking_cluster` (bootstrap, metadata cache, one
connection per broker, reconnect backoff, a selector over all of them),
:mod:`client.blocking_producer`, :mod:`client.blocking_consumer`, :mod:`client.blocking_admin`.
"""

from __future__ import annotations

from client.accumulator import RecordMetadata
from client.acl_admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)
from client.admin import ListedOffset, NewTopic, OffsetSpec, TopicDescription
from client.blocking_admin import AdminClient
from client.blocking_cluster import BlockingCluster
from client.blocking_connection import BlockingConnection
from client.blocking_consumer import Consumer
from client.blocking_producer import FutureRecordMetadata, Producer
from client.consumer import OffsetAndTimestamp
from client.metadata import TopicPartition
from client.quota_admin import ClientQuotaAlteration, QuotaFilterComponent
from client.records_view import ConsumerRecord
from client.scram_admin import ScramCredentialInfo, ScramUpsertion

__all__ = [
    "AclBinding",
    "AclBindingFilter",
    "AclOperation",
    "AclPermissionType",
    "AdminClient",
    "BlockingCluster",
    "BlockingConnection",
    "ClientQuotaAlteration",
    "Consumer",
    "ConsumerRecord",
    "FutureRecordMetadata",
    "ListedOffset",
    "NewTopic",
    "OffsetAndTimestamp",
    "OffsetSpec",
    "Producer",
    "QuotaFilterComponent",
    "RecordMetadata",
    "ResourcePatternType",
    "ResourceType",
    "ScramCredentialInfo",
    "ScramUpsertion",
    "TopicDescription",
    "TopicPartition",
]
