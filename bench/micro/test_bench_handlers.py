"""The broker's request paths in process: a frame in, the response pieces out.

Each case drives ``Dispatcher.handle`` of a never-served ``BrokerServer`` (``_shell.py``): the
header and body decode, the handler (Produce: validation, the idempotence check, the append,
the HW update and purgatory wake-up; Fetch: leadership checks, the reads, the byte budget),
and the response encode, as a connection runs them, without sockets.  Figures are for
comparison (ratios, or against the saved baseline), never asserted.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.micro._shell import (
    batch_of_about,
    create_topic,
    decode_parts,
    handle,
    produce_body,
    records_in,
    request_frame,
)
from broker.core.acl import AclBinding, Authorizer
from broker.core.controller import ControllerResult
from broker.core.metadata import TOPIC_RESOURCE, ConfigRecord
from broker.server.broker import BrokerServer
from broker.server.handlers.fetch import PARTITION_READ_SOFT_CAP_BYTES
from client.protocol import records as r
from client.protocol.acl import AclOperation, AclPermissionType, PatternType, ResourceType

PRODUCE = 0
FETCH = 1
PRODUCE_VERSION = 9  # librdkafka 2.x and the Java client send v9-v11; v9 is our newest
FETCH_VERSION = 16
BATCH_BYTES = 16 * 1024
MIB = 1024 * 1024


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
@pytest.mark.parametrize("partitions", [1, 6])
def test_produce_request_16kib_per_partition(
    benchmark: BenchmarkFixture, shell: BrokerServer, partitions: int, idempotent: bool
) -> None:
    """One acks=1 Produce of a 16 KiB batch per partition (RF=1), as a connection runs it.

    Idempotent: each round's batches carry the next sequence of producer 4242 (fresh batches
    are built outside the timing), so the producer-state check accepts and records them.
    """
    create_topic(shell, "produce", partitions, (1,))
    plain = batch_of_about(BATCH_BYTES)
    count = records_in(plain)
    sequences = itertools.count(0, count)

    def setup() -> tuple[tuple[bytes], dict[str, Any]]:
        if idempotent:
            sequence = next(sequences)
            batch = batch_of_about(BATCH_BYTES, producer_id=4242, base_sequence=sequence)
        else:
            batch = plain
        body = produce_body("produce", dict.fromkeys(range(partitions), batch), acks=1)
        return (request_frame(PRODUCE, PRODUCE_VERSION, body),), {}

    def run(frame: bytes) -> Any:
        return handle(shell, frame)

    # Fixed rounds: every round appends to disk (300 x 6 x 16 KiB = 29 MiB at most).
    parts = benchmark.pedantic(run, setup=setup, rounds=300, warmup_rounds=5)
    response = decode_parts(PRODUCE, PRODUCE_VERSION, parts)
    answered = response.responses[0].partition_responses
    assert len(answered) == partitions
    for entry in answered:
        log_ = shell.partition_log("produce", entry.index)
        assert entry.error_code == 0, entry
        assert entry.base_offset == log_.log_end_offset - count  # the round's own append
        assert shell.partitions[("produce", entry.index)].high_watermark == log_.log_end_offset


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_produce_request_recompressed_by_the_topic(
    benchmark: BenchmarkFixture, shell: BrokerServer, codec: str
) -> None:
    """The 1-partition plain case into a topic whose compression.type makes the leader
    recompress the (uncompressed) 16 KiB batch: what recompression costs per request."""
    create_topic(shell, "produce", 1, (1,))
    config = ConfigRecord(TOPIC_RESOURCE, "produce", "compression.type", codec)
    shell.commit(ControllerResult([config], []))
    batch = batch_of_about(BATCH_BYTES)
    frame = request_frame(PRODUCE, PRODUCE_VERSION, produce_body("produce", {0: batch}, acks=1))
    parts = benchmark.pedantic(handle, args=(shell, frame), rounds=300, warmup_rounds=5)
    (entry,) = decode_parts(PRODUCE, PRODUCE_VERSION, parts).responses[0].partition_responses
    assert entry.error_code == 0, entry
    log_ = shell.partition_log("produce", 0)
    stored = log_.read(0, 1 << 20, log_.log_end_offset, min_one_batch=True)
    assert r.parse_header(stored).compression == r.CODEC_BY_NAME[codec]


@pytest.mark.parametrize("partitions", [1, 6])
def test_produce_request_through_the_authorizer(
    benchmark: BenchmarkFixture, shell: BrokerServer, partitions: int
) -> None:
    """The plain case above with an authorizer (broker/server/authorization.py): WRITE on the
    topic is checked for each request, against a few unrelated ACLs and the one that allows."""
    grant = AclBinding(
        ResourceType.TOPIC, "produce", PatternType.LITERAL, "User:ANONYMOUS", "*",
        AclOperation.WRITE, AclPermissionType.ALLOW,
    )  # fmt: skip
    others = [grant._replace(resource_name=f"other-{n}") for n in range(20)]
    prefixed = [
        grant._replace(resource_name=f"team-{n}-", pattern_type=PatternType.PREFIXED)
        for n in range(5)
    ]
    authorizer = Authorizer()
    authorizer.set_acls([grant, *others, *prefixed])
    shell.authorizer = authorizer
    shell.dispatcher.authorizer = authorizer
    create_topic(shell, "produce", partitions, (1,))
    batch = batch_of_about(BATCH_BYTES)
    body = produce_body("produce", dict.fromkeys(range(partitions), batch), acks=1)
    frame = request_frame(PRODUCE, PRODUCE_VERSION, body)
    parts = benchmark.pedantic(handle, args=(shell, frame), rounds=300, warmup_rounds=5)
    answered = decode_parts(PRODUCE, PRODUCE_VERSION, parts).responses[0].partition_responses
    assert [entry.error_code for entry in answered] == [0] * partitions


def test_consumer_fetch_request_6_partitions(
    benchmark: BenchmarkFixture, shell: BrokerServer
) -> None:
    """A consumer's Fetch v16 over 6 partitions holding 512 KiB each, from offset 0.

    Each partition contributes the 256 KiB soft cap (PARTITION_READ_SOFT_CAP_BYTES), so the
    response carries ~1.5 MiB of records, read from the segments and passed on uncopied.
    """
    topic_id = create_topic(shell, "consume", 6, (1,))
    batch = batch_of_about(BATCH_BYTES)
    batches = 512 * 1024 // len(batch)
    for _ in range(batches):
        body = produce_body("consume", dict.fromkeys(range(6), batch), acks=1)
        handle(shell, request_frame(PRODUCE, PRODUCE_VERSION, body))
    fetch = {
        "cluster_id": None,
        "replica_state": {"replica_id": -1, "replica_epoch": -1},
        "max_wait_ms": 500,
        "min_bytes": 1,
        "max_bytes": 50 * MIB,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic_id": topic_id,
                "partitions": [
                    {
                        "partition": index,
                        "current_leader_epoch": -1,
                        "fetch_offset": 0,
                        "last_fetched_epoch": -1,
                        "log_start_offset": -1,
                        "partition_max_bytes": MIB,
                    }
                    for index in range(6)
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    frame = request_frame(FETCH, FETCH_VERSION, fetch)

    parts = benchmark(handle, shell, frame)
    response = decode_parts(FETCH, FETCH_VERSION, parts)
    served = response.responses[0].partitions
    assert len(served) == 6
    for entry in served:
        assert entry.error_code == 0, entry
        assert entry.high_watermark == batches * records_in(batch)
        size = len(entry.records)
        assert PARTITION_READ_SOFT_CAP_BYTES - len(batch) < size <= PARTITION_READ_SOFT_CAP_BYTES
        first = next(r.iterate_batches(entry.records))[1]
        assert first.base_offset == 0
