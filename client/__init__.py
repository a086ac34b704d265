"""odradek's Kafka client: async (anyio) first.

Foundation (this package's public surface so far):

- :mod:`client.errors` — typed exceptions, one per Kafka error code, plus client-side ones.
- :mod:`client.config` — Kafka client keys with Kafka's defaults, per role.
- :mod:`client.connection` — one broker connection: ApiVersions, pipelining, deadlines.
- :mod:`client.metadata` / :mod:`client.cluster` — metadata cache and connection pool.
- :mod:`client.admin` — topics, configs, offsets.
- :mod:`client.producer` / :mod:`client.consumer` — the async producer and consumer, over the
  sans-IO :mod:`client.accumulator` and :mod:`client.fetcher`.
"""

from client.accumulator import RecordMetadata
from client.acl_admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)
from client.admin import (
    AdminClient,
    ConfigEntry,
    ConfigResource,
    ConfigResourceType,
    ConfigSource,
    ListedOffset,
    NewTopic,
    OffsetSpec,
    PartitionDescription,
    TopicDescription,
    list_offsets,
)
from client.cluster import Cluster
from client.config import AdminConfig, CommonConfig, ConsumerConfig, ProducerConfig
from client.connection import Connection
from client.consumer import Consumer, OffsetAndTimestamp, RebalanceListener
from client.errors import (
    BrokerResponseError,
    DefinitelyFailedError,
    DeliveryError,
    IllegalConfigError,
    KafkaClosedError,
    KafkaConnectionError,
    KafkaError,
    KafkaProtocolError,
    KafkaTimeoutError,
    MaybeWrittenError,
    delivery_error,
    error_for,
    is_ambiguous,
    raise_for,
)
from client.group import CommitFailedError, OffsetAndMetadata
from client.metadata import (
    BrokerMetadata,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
    TopicPartition,
)
from client.producer import Producer, RecordFuture
from client.quota_admin import ClientQuotaAlteration, QuotaFilterComponent
from client.records_view import ConsumerRecord
from client.scram_admin import ScramCredentialInfo, ScramUpsertion

__all__ = [
    "AclBinding",
    "AclBindingFilter",
    "AclOperation",
    "AclPermissionType",
    "AdminClient",
    "AdminConfig",
    "BrokerMetadata",
    "BrokerResponseError",
    "ClientQuotaAlteration",
    "Cluster",
    "ClusterMetadata",
    "CommitFailedError",
    "CommonConfig",
    "ConfigEntry",
    "ConfigResource",
    "ConfigResourceType",
    "ConfigSource",
    "Connection",
    "Consumer",
    "ConsumerConfig",
    "ConsumerRecord",
    "DefinitelyFailedError",
    "DeliveryError",
    "IllegalConfigError",
    "KafkaClosedError",
    "KafkaConnectionError",
    "KafkaError",
    "KafkaProtocolError",
    "KafkaTimeoutError",
    "ListedOffset",
    "MaybeWrittenError",
    "NewTopic",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "OffsetSpec",
    "PartitionDescription",
    "PartitionMetadata",
    "Producer",
    "ProducerConfig",
    "QuotaFilterComponent",
    "RebalanceListener",
    "RecordFuture",
    "RecordMetadata",
    "ResourcePatternType",
    "ResourceType",
    "ScramCredentialInfo",
    "ScramUpsertion",
    "TopicDescription",
    "TopicMetadata",
    "TopicPartition",
    "delivery_error",
    "error_for",
    "is_ambiguous",
    "list_offsets",
    "raise_for",
]
