"""Simulated clients: an acks=all (or acks=1) producer and an assign-mode consumer.

The producer writes unique values, one record per batch, at most one request in flight per
partition (so an idempotent producer's sequences never race), retrying every retriable error
and every unanswered request with the same batch bytes (the real producer resends the batch it
built).  It records each value's attempts and outcome: acked at an offset, or unresolved.  An
idempotent producer's sequence advances only when a value is acked.

The consumer reads each partition from the broker its metadata names as leader, with that
leader epoch, and hands every record to the checker.  Both clients ignore metadata with an older
leader epoch than they have seen (KIP-320), as Kafka's clients do.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from broker.sim.messages import (
    ClientMetadataRequest,
    ClientMetadataResponse,
    ConsumerFetchRequest,
    ConsumerFetchResponse,
    ProduceRequest,
    ProduceResponse,
    broker_host,
)
from broker.sim.world import Host, RpcError
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch, decode_records, iterate_batches

RETRY_BACKOFF_MS = 100
REQUEST_TIMEOUT_MS = 5_000
PRODUCE_TIMEOUT_MS = 4_000


@dataclass(slots=True)
class Send:
    """One value and what happened to it."""

    value: bytes
    partition: int
    acks: int
    attempts: list[tuple[int, str]] = field(default_factory=list)  # (time, outcome)
    acked_offset: int | None = None
    acked_ms: int | None = None
    sequence: int = -1
    epoch: int = 0
    batch: bytes = b""
    abandoned: bool = False  # given up at an epoch bump: outcome unknown


@dataclass(slots=True)
class ClientState:
    """What outlives a client process (the test's record of it)."""

    sends: list[Send] = field(default_factory=list)
    # (partition, offset, value, served by, leader epoch stamped on the batch)
    reads: list[tuple[int, int, bytes, str, int]] = field(default_factory=list)


class SimProducer:
    def __init__(
        self,
        host: Host,
        state: ClientState,
        *,
        topic: str,
        partitions: int,
        brokers: list[int],
        acks: int,
        producer_id: int,
        interval_ms: int,
        limit: int,
    ) -> None:
        self.host = host
        self.world = host.world
        self.state = state
        self.topic = topic
        self.partitions = partitions
        self.brokers = brokers
        self.acks = acks
        self.producer_id = producer_id
        self.interval_ms = interval_ms
        self.limit = limit
        self.leaders: dict[int, int] = {}
        self.epochs: dict[int, int] = {}
        self.queues: dict[int, deque[Send]] = {p: deque() for p in range(partitions)}
        self.in_flight: set[int] = set()  # a produce or a metadata request is out
        self.producing: dict[int, Send] = {}
        self.sequences = dict.fromkeys(range(partitions), 0)
        self.epoch = 0
        self.running = True

    def start(self) -> None:
        self.world.after(self.host, self.interval_ms, "produce", self._tick)

    def stop_sending(self) -> None:
        self.running = False

    def on_connection_closed(self, peer: str, channel: str) -> None:
        pass

    def handle(self, source: str, request: Any, reply: Any) -> None:
        raise AssertionError("clients serve nothing")

    @property
    def unresolved(self) -> int:
        return sum(len(queue) for queue in self.queues.values())

    def _tick(self) -> None:
        if self.running and len(self.state.sends) < self.limit:
            partition = self.world.rng.randrange(self.partitions)
            name = self.host.name
            send = Send(f"{name}-{len(self.state.sends)}".encode(), partition, self.acks)
            self.state.sends.append(send)
            self.queues[partition].append(send)
            self._pump(partition)
        self.world.after(self.host, self.interval_ms, "produce", self._tick)

    def _pump(self, partition: int) -> None:
        if partition in self.in_flight or not self.queues[partition]:
            return
        send = self.queues[partition][0]
        leader = self.leaders.get(partition)
        if leader is None or leader < 0:
            self._refresh_metadata(partition)
            return
        if not send.batch:
            idempotent = self.producer_id >= 0
            send.sequence = self.sequences[partition] if idempotent else -1
            send.epoch = self.epoch if idempotent else -1
            send.batch = build_batch(
                [send.value],
                timestamp_ms=self.host.wall_ms(),
                producer_id=self.producer_id,
                producer_epoch=send.epoch,
                base_sequence=send.sequence,
            )
        self.in_flight.add(partition)
        self.producing[partition] = send
        request = ProduceRequest(self.topic, partition, send.batch, self.acks, PRODUCE_TIMEOUT_MS)
        self.world.call(
            self.host,
            broker_host(leader),
            request,
            lambda response: self._on_produce(send, leader, response),
            timeout_ms=REQUEST_TIMEOUT_MS,
        )

    def _on_produce(self, send: Send, leader: int, response: Any) -> None:
        partition = send.partition
        self.in_flight.discard(partition)
        del self.producing[partition]
        now = self.world.now_ms
        if isinstance(response, ProduceResponse) and response.error_code is ErrorCode.NONE:
            send.attempts.append((now, f"acked at {response.base_offset} by {leader}"))
            send.acked_offset = response.base_offset
            send.acked_ms = now
            self.queues[partition].popleft()
            if self.producer_id >= 0 and send.epoch == self.epoch:
                self.sequences[partition] += 1
            self.world.log(
                self.host.name,
                f"{send.value.decode()} acked at "
                f"{self.topic}-{partition}@{response.base_offset} by {leader}",
            )
            self._pump(partition)
            return
        outcome = response.kind if isinstance(response, RpcError) else response.error_code.name
        send.attempts.append((now, f"{outcome} from {leader}"))
        if self.producer_id >= 0 and send.epoch != self.epoch:
            self.queues[partition].popleft().abandoned = True  # sent under an older epoch
        elif outcome == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.name:
            self._bump_epoch()
        self.leaders.pop(partition, None)
        self.world.after(
            self.host, RETRY_BACKOFF_MS, "produce retry", lambda: self._pump(partition)
        )

    def _bump_epoch(self) -> None:
        """KIP-360: an idempotent producer bumps its epoch and starts its sequences over.  A
        value already sent under the old epoch is given up (its outcome stays unknown): sent
        again under the new one it could be written twice, which the broker cannot detect."""
        self.epoch += 1
        self.sequences = dict.fromkeys(range(self.partitions), 0)
        for partition, queue in self.queues.items():
            producing = self.producing.get(partition)
            if queue and queue[0].batch and queue[0] is not producing:
                queue.popleft().abandoned = True
            for waiting in queue:
                if waiting is not producing:
                    waiting.batch = b""

    def _refresh_metadata(self, partition: int) -> None:
        if partition in self.in_flight:
            return
        self.in_flight.add(partition)
        target = self.world.rng.choice(self.brokers)

        def on_reply(response: Any) -> None:
            self.in_flight.discard(partition)
            if isinstance(response, ClientMetadataResponse):
                for index, (leader, epoch) in response.partitions.items():
                    if epoch >= self.epochs.get(index, -1):  # KIP-320: never go back
                        self.epochs[index] = epoch
                        self.leaders[index] = leader
            delay = RETRY_BACKOFF_MS if self.leaders.get(partition, -1) < 0 else 0
            self.world.after(self.host, delay, "produce", lambda: self._pump(partition))

        self.world.call(
            self.host,
            broker_host(target),
            ClientMetadataRequest(self.topic),
            on_reply,
            timeout_ms=REQUEST_TIMEOUT_MS,
        )


class SimConsumer:
    def __init__(
        self,
        host: Host,
        state: ClientState,
        hooks: Any,
        *,
        topic: str,
        partitions: int,
        brokers: list[int],
        interval_ms: int,
        any_replica: bool = False,
    ) -> None:
        self.host = host
        self.world = host.world
        self.state = state
        self.hooks = hooks
        self.topic = topic
        self.brokers = brokers
        self.interval_ms = interval_ms
        # KIP-392: fetch (v11+) from a random broker rather than the leader; in-sync
        # followers serve up to their own high watermark, the others send it to the leader.
        self.any_replica = any_replica
        self.positions = dict.fromkeys(range(partitions), 0)
        self.leaders: dict[int, tuple[int, int]] = {}
        self.epochs: dict[int, int] = {}
        self.busy = False

    def start(self) -> None:
        self.world.after(self.host, self.interval_ms, "consume", self._tick)

    def on_connection_closed(self, peer: str, channel: str) -> None:
        pass

    def handle(self, source: str, request: Any, reply: Any) -> None:
        raise AssertionError("clients serve nothing")

    def _tick(self) -> None:
        if not self.busy:
            partition = self.world.rng.randrange(len(self.positions))
            if partition in self.leaders and self.leaders[partition][0] >= 0:
                self._fetch(partition)
            else:
                self._refresh_metadata()
        self.world.after(self.host, self.interval_ms, "consume", self._tick)

    def _refresh_metadata(self) -> None:
        self.busy = True

        def on_reply(response: Any) -> None:
            self.busy = False
            if isinstance(response, ClientMetadataResponse):
                for index, (leader, epoch) in response.partitions.items():
                    if epoch >= self.epochs.get(index, -1):  # KIP-320: never go back
                        self.epochs[index] = epoch
                        self.leaders[index] = (leader, epoch)

        target = self.world.rng.choice(self.brokers)
        self.world.call(
            self.host,
            broker_host(target),
            ClientMetadataRequest(self.topic),
            on_reply,
            timeout_ms=REQUEST_TIMEOUT_MS,
        )

    def _fetch(self, partition: int) -> None:
        self.busy = True
        leader, epoch = self.leaders[partition]
        if self.any_replica:
            leader = self.world.rng.choice(self.brokers)
        offset = self.positions[partition]
        request = ConsumerFetchRequest(
            self.topic, partition, offset, epoch, 64 * 1024, from_any_replica=self.any_replica
        )

        def on_reply(response: Any) -> None:
            self.busy = False
            if not isinstance(response, ConsumerFetchResponse):
                self.leaders.pop(partition, None)
                return
            if response.error_code is not ErrorCode.NONE:
                self.hooks.consumer_error(self, partition, offset, leader, response)
                self.leaders.pop(partition, None)
                return
            self._deliver(partition, offset, leader, response)

        self.world.call(
            self.host, broker_host(leader), request, on_reply, timeout_ms=REQUEST_TIMEOUT_MS
        )

    def _deliver(
        self, partition: int, offset: int, leader: int, response: ConsumerFetchResponse
    ) -> None:
        for position, header in iterate_batches(response.records):
            batch = response.records[position : position + header.size_bytes]
            for record in decode_records(batch):
                if record.offset < offset:
                    continue
                assert record.value is not None
                self.state.reads.append(
                    (
                        partition,
                        record.offset,
                        record.value,
                        str(leader),
                        header.partition_leader_epoch,
                    )
                )
                self.hooks.consumed(
                    partition,
                    record.offset,
                    record.value,
                    batch,
                    leader=leader,
                    hw=response.high_watermark,
                )
                offset = record.offset + 1
        self.positions[partition] = offset
