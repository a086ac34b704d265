"""A topic's ``compression.type`` with unmodified clients: producers compress as they like
(confluent-kafka lz4, kafka-python gzip, aiokafka snappy), the leader stores zstd, and every
client reads every record back unchanged (each decompresses what it fetches)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioPartition
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaPartition

from tests.interop.test_compaction import create, read_all

TIMEOUT_S = 30.0


def _stored_codecs(broker: Any, topic: str) -> set[int]:
    from client.protocol.records import iterate_batches

    segment = broker.data_dir / f"{topic}-0" / f"{0:020d}.log"
    return {header.compression for _, header in iterate_batches(segment.read_bytes())}


def test_every_client_reads_what_the_leader_recompressed(kafka_broker: Any, topic: str) -> None:
    bootstrap = kafka_broker.bootstrap
    create(bootstrap, topic, **{"cleanup.policy": "delete", "compression.type": "zstd"})
    sent: list[tuple[bytes, bytes]] = []

    confluent = Producer(
        {"bootstrap.servers": bootstrap, "compression.type": "lz4", "linger.ms": 5}
    )
    for i in range(50):
        sent.append((b"c%d" % i, b"confluent-%d" % i * 10))
        confluent.produce(topic, sent[-1][1], sent[-1][0])
    assert confluent.flush(TIMEOUT_S) == 0

    old = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", linger_ms=5)
    for i in range(50):
        sent.append((b"k%d" % i, b"kafka-python-%d" % i * 10))
        old.send(topic, key=sent[-1][0], value=sent[-1][1])
    old.flush(TIMEOUT_S)
    old.close()

    async def produce_aiokafka() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type="snappy")
        await producer.start()
        try:
            for i in range(50):
                sent.append((b"a%d" % i, b"aiokafka-%d" % i * 10))
                await producer.send(topic, key=sent[-1][0], value=sent[-1][1])
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(produce_aiokafka())
    assert _stored_codecs(kafka_broker, topic) == {4}  # zstd only

    expected = [(offset, key, value) for offset, (key, value) in enumerate(sent)]
    assert read_all(bootstrap, topic) == expected

    reader = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=int(TIMEOUT_S * 1000),
    )
    reader.assign([KafkaPartition(topic, 0)])
    reader.seek(KafkaPartition(topic, 0), 0)
    got = []
    try:
        for message in reader:
            got.append((message.offset, message.key, message.value))
            if len(got) == len(sent):
                break
    finally:
        reader.close()
    assert got == expected

    async def consume_aiokafka() -> list[tuple[int, bytes | None, bytes | None]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        consumer.assign([AioPartition(topic, 0)])
        consumer.seek(AioPartition(topic, 0), 0)
        out: list[tuple[int, bytes | None, bytes | None]] = []
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while len(out) < len(sent):
                    batches = await consumer.getmany(timeout_ms=500)
                    for messages in batches.values():
                        out += [(m.offset, m.key, m.value) for m in messages]
        finally:
            await consumer.stop()
        return out

    assert asyncio.run(consume_aiokafka()) == expected
