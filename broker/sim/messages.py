"""The requests and responses the simulated nodes exchange (the Kafka APIs they stand for).

Bodies that the real shell builds as protocol dictionaries (the replica Fetch, whose request
``ReplicaFetchState.build_request`` builds and whose response ``handle_response`` reads) stay
dictionaries; the rest are small dataclasses with the protocol's field names.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from broker.core.cluster_control import HeartbeatResult
from broker.core.metadata import PartitionRegistration
from client.protocol.errors import ErrorCode

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class BrokerRegistrationRequest:  # 62
    broker_id: int
    incarnation_id: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class BrokerRegistrationResponse:
    error_code: ErrorCode
    broker_epoch: int


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatRequest:  # 63
    broker_id: int
    broker_epoch: int
    current_metadata_offset: int
    want_fence: bool
    want_shut_down: bool


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatResponse:
    result: HeartbeatResult


@dataclass(frozen=True, slots=True)
class AlterPartitionRequest:  # 56, one partition
    broker_id: int
    broker_epoch: int
    topic_id: uuid.UUID
    partition_index: int
    leader_epoch: int
    partition_epoch: int
    new_isr_with_epochs: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class AlterPartitionResponse:
    error_code: ErrorCode
    registration: PartitionRegistration | None


@dataclass(frozen=True, slots=True)
class MetadataFetchRequest:  # Fetch of __cluster_metadata partition 0
    fetch_offset: int
    max_wait_ms: int


@dataclass(frozen=True, slots=True)
class MetadataFetchResponse:
    error_code: ErrorCode
    records: tuple[dict[str, Any], ...]  # record_to_dict bodies, from fetch_offset on
    high_watermark: int


@dataclass(frozen=True, slots=True)
class ReplicaFetchRequest:  # Fetch with a replica id; ``body`` from build_request
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProduceRequest:  # 0, one partition
    topic: str
    partition: int
    records: bytes
    acks: int
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class ProduceResponse:
    error_code: ErrorCode
    base_offset: int


@dataclass(frozen=True, slots=True)
class ConsumerFetchRequest:  # Fetch without a replica id, one partition, no long poll
    topic: str
    partition: int
    fetch_offset: int
    current_leader_epoch: int
    partition_max_bytes: int
    # Fetch v11+ (KIP-392): an in-sync follower may serve it too.
    from_any_replica: bool = False


@dataclass(frozen=True, slots=True)
class ConsumerFetchResponse:
    error_code: ErrorCode
    high_watermark: int
    records: bytes


@dataclass(frozen=True, slots=True)
class ClientMetadataRequest:  # 3
    topic: str


@dataclass(frozen=True, slots=True)
class ClientMetadataResponse:
    # partition -> (leader id, leader epoch); empty when the broker does not know the topic
    partitions: dict[int, tuple[int, int]]


def broker_host(broker_id: int) -> str:
    return f"broker-{broker_id}"


CONTROLLER = "controller"
