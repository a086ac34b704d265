"""A Metadata request answered right after the partition leader's kill -9 names the new leader.

The followers' replica-fetch connections to the leader close with the process: a follower
asked for metadata in the ~10 ms before the controller's election reaches it waits for the
verdict instead of naming the dead leader (clients then back off for up to a second before
they look again; see ``BrokerServer.leaders_settled``).  To hold that window open, the
controller is stopped (SIGSTOP) across the kill and resumed once the request is on its way:
without the wait, the follower answers the dead leader at once.  The killed broker is still
listed for a second after its fencing (so librdkafka moves the partition off it cleanly), as
an offline replica that leads nothing."""

from __future__ import annotations

import uuid
from typing import Any

from broker.testing import ClusterFactory
from client.protocol import headers
from tests.integration.admin_requests import create_topic, produce, wait_for_states
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

TOPIC = "killed-leader"


_ASK: dict[str, Any] = {"topics": [{"name": TOPIC, "topic_id": uuid.UUID(int=0)}]}


def _metadata(address: str) -> Any:
    with RawConnection(address) as conn:
        return conn.request(3, 12, _ASK)


def _isr_size(address: str) -> int:
    return len(_metadata(address).topics[0].partitions[0].isr_nodes)


def test_followers_name_the_new_leader_right_after_a_kill(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    first = cluster.bootstrap.split(",")[0]
    create_topic(first, TOPIC, replication_factor=3, configs={"min.insync.replicas": "2"})
    # Every follower fetching from the leader before the first kill: an acks=all write
    # through the leader, which every broker by then knows, is answered once all have it.
    states = wait_for_states(cluster, TOPIC, lambda s: s[0][0] >= 0, "a leader everywhere")
    addresses = {node_id: f"127.0.0.1:{node.port}" for node_id, node in cluster.nodes.items()}
    produce(addresses[states[0][0]], TOPIC, 0, batches=1)
    live = first
    for _round in range(3):
        metadata = _metadata(live)
        before = metadata.topics[0].partitions[0]
        addresses = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
        leader = before.leader_id
        follower = next(r for r in before.isr_nodes if r != leader)
        controller = cluster.controller
        assert controller is not None
        live = addresses[follower]
        with RawConnection(live) as conn:
            controller.pause()
            try:
                cluster.nodes[leader].kill()  # SIGKILL and reap: its sockets are closed now
                conn.correlation_id += 1
                conn.send_bytes(headers.encode_request(3, 12, conn.correlation_id, "t", _ASK))
            finally:
                controller.resume()
            _, after = headers.decode_response(3, 12, conn.read_frame())
        partition = after.topics[0].partitions[0]
        assert partition.leader_id not in (leader, -1), (leader, partition)
        assert partition.leader_epoch > before.leader_epoch
        assert leader in partition.offline_replicas
        assert leader not in partition.isr_nodes
        if _round == 0:
            # Listed for a short grace after its fencing (broker/core/peer_watch.py), then gone.
            wait_until(
                lambda at=live, dead=leader: (
                    dead  # type: ignore[misc]
                    not in {b.node_id for b in _metadata(at).brokers}
                ),
                "the killed broker gone from the broker list",
            )
        cluster.nodes[leader].start()
        wait_until(
            lambda at=live: _isr_size(at) == 3,  # type: ignore[misc]
            "the restarted broker back in the ISR",
        )
