"""A whole simulated cluster: a controller, brokers, clients, the checker, and how to run it.

:class:`SimConfig` is everything a run depends on; :meth:`SimConfig.for_seed` derives a
varied one from a seed alone, so ``python -m broker.sim --seed N`` replays it exactly.
:class:`Cluster` builds the hosts, drives the world step by step (checking the invariants after
each), and offers the fault actions the nemesis and the fixed scenarios use.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from broker.core.cluster_control import ClusterSettings
from broker.core.controller import NewTopic
from broker.core.metadata import MetadataImage, PartitionRegistration
from broker.core.partition import ACKS_ALL, ACKS_LEADER
from broker.log.config import LogConfig
from broker.sim.broker_node import BrokerNodeSettings, SimBroker
from broker.sim.checker import Checker
from broker.sim.clients import ClientState, SimConsumer, SimProducer
from broker.sim.controller_node import ControllerNodeSettings, MetadataLogDisk, SimController
from broker.sim.disk import SimDisk
from broker.sim.history import Report
from broker.sim.messages import CONTROLLER, broker_host
from broker.sim.world import Host, NetworkSettings, World

TOPIC = "t"
MAX_SETUP_MS = 60_000
DONE_POLL_MS = 10
LONG_MAX = (1 << 63) - 1
# (session timeout, heartbeat, replica.lag.time.max, fetch wait, fetch backoff): the cluster
# launcher's local profile and Kafka's defaults.
TIMINGS = {
    "local": (1500, 250, 5000, 100, 100),
    "kafka": (9000, 2000, 30000, 500, 1000),
}


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int
    brokers: int = 3
    partitions: int = 2
    replication_factor: int = 3
    min_insync_replicas: int = 2
    unclean: bool = False
    power_loss: bool = False
    torn_writes: bool = False
    flush_every_message: bool = False
    idempotent: bool = True
    acks: int = ACKS_ALL  # the main producer's
    acks_one_producer: bool = False
    timing: str = "local"
    drop_probability: float = 0.0
    max_delay_ms: int = 5
    segment_bytes: int = 1 << 30
    metadata_chunk: int = 2000
    auto_leader_rebalance: bool = True
    faults: bool = True
    duration_ms: int = 15_000
    tail_ms: int = 16_000
    produce_interval_ms: int = 25
    max_values: int = 100_000
    max_steps: int | None = None
    faithful: frozenset[str] = frozenset()
    # A second consumer reads from any replica (KIP-392), checked as the first one is.
    follower_reads: bool = False

    @classmethod
    def for_seed(cls, seed: int, **overrides: object) -> SimConfig:
        """A varied configuration from the seed alone (its own RNG stream)."""
        rng = random.Random(f"odradek-sim-config-{seed}")
        power_loss = rng.random() < 0.3
        config = cls(
            seed=seed,
            unclean=rng.random() < 0.1,
            power_loss=power_loss,
            torn_writes=power_loss and rng.random() < 0.7,
            flush_every_message=power_loss and rng.random() < 0.3,
            idempotent=rng.random() < 0.8,
            acks_one_producer=rng.random() < 0.4,
            timing="kafka" if rng.random() < 0.2 else "local",
            drop_probability=rng.choice([0.0, 0.0, 0.001, 0.005]),
            max_delay_ms=rng.choice([2, 5, 20]),
            segment_bytes=rng.choice([1 << 30, 1 << 30, 4096]),
            metadata_chunk=rng.choice([2000, 2000, 7]),
            min_insync_replicas=rng.choice([2, 2, 2, 1, 3]),
        )
        return replace(config, **overrides)  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = [f"seed={self.seed}"]
        defaults = SimConfig(seed=self.seed)
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name != "seed" and value != getattr(defaults, name):
                parts.append(f"{name}={value}")
        return " ".join(parts)


@dataclass(slots=True)
class Clients:
    producers: list[tuple[Host, ClientState]] = field(default_factory=list)
    consumers: list[tuple[Host, ClientState]] = field(default_factory=list)


class Cluster:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.topic = TOPIC
        network = NetworkSettings(1, config.max_delay_ms, config.drop_probability)
        self.world = World(config.seed, network)
        self.checker = Checker(self)
        self.clients = Clients()
        self._controller_state: tuple[object, ...] = ()
        self.report = Report()
        session, heartbeat, lag, wait, backoff = TIMINGS[config.timing]
        self.session_timeout_ms = session
        self.lag_ms = lag
        self.controller_settings = ControllerNodeSettings(
            ClusterSettings(session, config.unclean, config.min_insync_replicas),
            heartbeat,
            auto_leader_rebalance_enable=config.auto_leader_rebalance,
            leader_imbalance_check_interval_ms=30_000,
            max_records_per_fetch=config.metadata_chunk,
        )
        log = LogConfig(
            segment_bytes=config.segment_bytes,
            index_interval_bytes=512,
            flush_interval_messages=1 if config.flush_every_message else LONG_MAX,
        )
        self.broker_settings = BrokerNodeSettings(
            min_insync_replicas=config.min_insync_replicas,
            replica_lag_time_max_ms=lag,
            broker_heartbeat_interval_ms=heartbeat,
            replica_fetch_wait_max_ms=wait,
            replica_fetch_backoff_ms=backoff,
            replica_high_watermark_checkpoint_interval_ms=5000,
            log=log,
            faithful=config.faithful,
        )
        self.world.add_host(CONTROLLER, self._new_controller, MetadataLogDisk())
        self.broker_ids = list(range(1, config.brokers + 1))
        self.broker_of_host = {broker_host(b): b for b in self.broker_ids}
        for broker_id in self.broker_ids:
            host = self.world.add_host(broker_host(broker_id), self._broker_factory(broker_id))
            host.disk = SimDisk(host.wall_ms)

    # -- processes ------------------------------------------------------------------------

    def _new_controller(self, host: Host) -> SimController:
        rng = random.Random(self.world.rng.getrandbits(64))
        return SimController(host, self.controller_settings, rng)

    def _broker_factory(self, broker_id: int) -> Callable[[Host], SimBroker]:
        return lambda host: SimBroker(host, broker_id, self.broker_settings, self.checker)

    def broker_process(self, broker_id: int) -> SimBroker | None:
        process = self.world.hosts[broker_host(broker_id)].process
        assert process is None or isinstance(process, SimBroker)
        return process

    def live_brokers(self) -> Iterator[tuple[int, SimBroker]]:
        for broker_id in self.broker_ids:
            process = self.broker_process(broker_id)
            if process is not None:
                yield broker_id, process

    def controller_process(self) -> SimController | None:
        process = self.world.hosts[CONTROLLER].process
        assert process is None or isinstance(process, SimController)
        return process

    def add_producer(self, name: str, *, acks: int, producer_id: int, interval_ms: int) -> None:
        state = ClientState()
        config = self.config

        def factory(host: Host) -> SimProducer:
            return SimProducer(
                host,
                state,
                topic=TOPIC,
                partitions=config.partitions,
                brokers=self.broker_ids,
                acks=acks,
                producer_id=producer_id,
                interval_ms=interval_ms,
                limit=config.max_values,
            )

        host = self.world.add_host(name, factory)
        self.clients.producers.append((host, state))
        self.world.start(name)

    def add_consumer(self, name: str, interval_ms: int = 40, *, any_replica: bool = False) -> None:
        state = ClientState()

        def factory(host: Host) -> SimConsumer:
            return SimConsumer(
                host,
                state,
                self.checker,
                topic=TOPIC,
                partitions=self.config.partitions,
                brokers=self.broker_ids,
                interval_ms=interval_ms,
                any_replica=any_replica,
            )

        host = self.world.add_host(name, factory)
        self.clients.consumers.append((host, state))
        self.world.start(name)

    # -- running --------------------------------------------------------------------------

    def run_until(self, time_ms: int, done: Callable[[], bool] | None = None) -> bool:
        """Step (checking after each) until ``time_ms`` or ``done()`` (asked at most every
        ``DONE_POLL_MS`` of simulated time); True if done."""
        world = self.world
        asked_ms = -DONE_POLL_MS
        while True:
            if done is not None and world.now_ms - asked_ms >= DONE_POLL_MS:
                asked_ms = world.now_ms
                if done():
                    return True
            next_ms = world.next_event_ms()
            if next_ms is None or next_ms > time_ms:
                world.now_ms = max(world.now_ms, time_ms)
                return done is not None and done()
            world.step()
            self.checker.check_step(world.last_host)

    def run_for(self, duration_ms: int, done: Callable[[], bool] | None = None) -> bool:
        return self.run_until(self.world.now_ms + duration_ms, done)

    def at(self, delay_ms: int, label: str, action: Callable[[], None]) -> None:
        """A fault or client action, as a world event (checked like any step)."""
        self.world.after(None, delay_ms, label, action)

    def start(self) -> None:
        """Controller and brokers up, the topic created, every partition led, clients on."""
        config = self.config
        self.world.start(CONTROLLER)
        for broker_id in self.broker_ids:
            self.world.start(broker_host(broker_id))
        active = self.run_for(
            MAX_SETUP_MS, lambda: len(self._image().active_brokers()) == config.brokers
        )
        assert active, "brokers never became active"
        configs: dict[str, str | None] = {
            "min.insync.replicas": str(config.min_insync_replicas),
            "unclean.leader.election.enable": str(config.unclean).lower(),
        }
        controller = self.controller_process()
        assert controller is not None
        results = controller.create_topics(
            [NewTopic(TOPIC, config.partitions, config.replication_factor, configs=configs)]
        )
        assert results[0].error_code == 0, results
        assert self.run_for(MAX_SETUP_MS, self.all_led), "partitions never got leaders"
        self.add_producer(
            "producer",
            acks=config.acks,
            producer_id=1000 if config.idempotent else -1,
            interval_ms=config.produce_interval_ms,
        )
        if config.acks_one_producer:
            self.add_producer(
                "producer1",
                acks=ACKS_LEADER,
                producer_id=2000,
                interval_ms=config.produce_interval_ms * 3,
            )
        self.add_consumer("consumer")
        if config.follower_reads:
            self.add_consumer("replica-reader", interval_ms=15, any_replica=True)

    def _image(self) -> MetadataImage:
        controller = self.controller_process()
        assert controller is not None
        return controller.image

    def partition_state(self, index: int = 0) -> PartitionRegistration:
        """The controller's committed state of partition ``index`` (the controller is up)."""
        topic = self._image().topic(TOPIC)
        assert topic is not None
        return topic.partitions[index]

    def producer(self, index: int = 0) -> SimProducer:
        process = self.clients.producers[index][0].process
        assert isinstance(process, SimProducer)
        return process

    def all_led(self) -> bool:
        """Every partition has a leader that acts as one."""
        controller = self.controller_process()
        if controller is None:
            return False
        topic = controller.image.topic(TOPIC)
        if topic is None:
            return False
        for index, part in topic.partitions.items():
            leader = self.broker_process(part.leader) if part.leader >= 0 else None
            partition = leader.partitions.get((TOPIC, index)) if leader else None
            if partition is None or not partition.is_leader or not leader.listening:  # type: ignore[union-attr]
                return False
        return True

    # -- faults ---------------------------------------------------------------------------

    def crash_broker(self, broker_id: int, *, power_loss: bool | None = None) -> None:
        power = self.config.power_loss if power_loss is None else power_loss
        if power:
            self.checker.on_power_loss(broker_id)
        self.world.crash(
            broker_host(broker_id), power_loss=power, torn_writes=self.config.torn_writes
        )

    def restart_broker(self, broker_id: int) -> None:
        self.world.start(broker_host(broker_id))

    def crash_controller(self) -> None:
        controller = self.controller_process()
        assert controller is not None
        self._controller_state = controller.image.state()
        self.world.crash(CONTROLLER)

    def restart_controller(self) -> None:
        """P12: the replayed image equals the one before the crash."""
        self.world.start(CONTROLLER)
        controller = self.controller_process()
        assert controller is not None
        if controller.image.state() != self._controller_state:
            self.checker.fail("controller image after replay differs from before the crash (P12)")

    def shutdown_broker(self, broker_id: int) -> None:
        broker = self.broker_process(broker_id)
        assert broker is not None
        broker.begin_controlled_shutdown()

    def heal_all(self) -> None:
        """Everything back: links healed, paused nodes resumed, down nodes restarted."""
        self.world.heal()
        for name, host in self.world.hosts.items():
            if host.up and host.paused:
                self.world.resume(name)
        if not self.world.hosts[CONTROLLER].up:
            self.restart_controller()
        for broker_id in self.broker_ids:
            if not self.world.hosts[broker_host(broker_id)].up:
                self.restart_broker(broker_id)
