"""Random faults for a seeded run (Jepsen's nemesis), drawn from the world's RNG.

Every ``NEMESIS_MIN_GAP_MS``..``NEMESIS_MAX_GAP_MS`` one action, each undone after a random
while: kill -9 (or power loss, per the config) and restart a broker; SIGSTOP/SIGCONT a broker
or the controller; crash and restart the controller; isolate a broker; cut one link; slow one
link; jump a wall clock by an hour (F13); SIGTERM a broker (controlled shutdown) and start it
again.  At most ``MAX_FAULTY_BROKERS`` brokers are under a fault at once (so below-min-ISR
periods happen, F9), the controller at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from broker.sim.messages import CONTROLLER, broker_host

if TYPE_CHECKING:
    from broker.sim.cluster import Cluster

NEMESIS_MIN_GAP_MS = 200
NEMESIS_MAX_GAP_MS = 2500
MAX_FAULTY_BROKERS = 2
HOUR_MS = 3_600_000
SHUTDOWN_POLL_MS = 100


class Nemesis:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.world = cluster.world
        self.rng = cluster.world.rng
        self.busy: dict[str, str] = {}  # node -> the fault it is under
        self.until_ms = 0
        session = cluster.session_timeout_ms
        self.actions: list[tuple[int, Callable[[], None]]] = [
            (4, self._crash_broker),
            (2, self._pause_broker),
            (2, self._isolate_broker),
            (2, self._cut_link),
            (1, self._slow_link),
            (1, self._crash_controller),
            (1, self._pause_controller),
            (1, self._jump_clock),
            (1, self._shutdown_broker),
        ]
        self.short_ms = session // 3
        self.long_ms = session * 3

    def schedule(self, duration_ms: int) -> None:
        self.until_ms = self.world.now_ms + duration_ms
        self._next()

    def _next(self) -> None:
        gap = self.rng.randint(NEMESIS_MIN_GAP_MS, NEMESIS_MAX_GAP_MS)
        if self.world.now_ms + gap < self.until_ms:
            self.cluster.at(gap, "nemesis", self._act)

    def _act(self) -> None:
        total = sum(weight for weight, _ in self.actions)
        pick = self.rng.randrange(total)
        for weight, action in self.actions:
            if pick < weight:
                action()
                break
            pick -= weight
        self._next()

    def _duration(self) -> int:
        return self.rng.randint(50, self.long_ms)

    def _later(self, delay_ms: int, label: str, action: Callable[[], None]) -> None:
        """Undo a fault at ``delay_ms``, or at the end of the random phase at the latest."""
        delay = min(delay_ms, max(self.until_ms - self.world.now_ms, 0))
        self.cluster.at(delay, label, action)

    def _free_broker(self) -> int | None:
        if sum(name != CONTROLLER for name in self.busy) >= MAX_FAULTY_BROKERS:
            return None
        free = [b for b in self.cluster.broker_ids if broker_host(b) not in self.busy]
        free = [b for b in free if self.world.hosts[broker_host(b)].up]
        return self.rng.choice(free) if free else None

    def _crash_broker(self) -> None:
        broker = self._free_broker()
        if broker is None:
            return
        name = broker_host(broker)
        self.busy[name] = "down"
        self.cluster.crash_broker(broker)

        def restart() -> None:
            self.busy.pop(name, None)
            if not self.world.hosts[name].up:
                self.cluster.restart_broker(broker)

        self._later(self._duration(), "restart", restart)

    def _pause_broker(self) -> None:
        broker = self._free_broker()
        if broker is not None:
            self._pause(broker_host(broker))

    def _pause_controller(self) -> None:
        if CONTROLLER not in self.busy:
            self._pause(CONTROLLER)

    def _pause(self, name: str) -> None:
        self.busy[name] = "paused"
        self.world.pause(name)

        def resume() -> None:
            self.busy.pop(name, None)
            self.world.resume(name)

        self._later(self._duration(), "resume", resume)

    def _isolate_broker(self) -> None:
        broker = self._free_broker()
        if broker is None:
            return
        name = broker_host(broker)
        self.busy[name] = "isolated"
        peers = [other for other in self.world.hosts if other != name]
        for other in peers:
            self.world.cut_link(name, other)

        def heal() -> None:
            self.busy.pop(name, None)
            for other in peers:
                self.world.heal_link(name, other)

        self._later(self._duration(), "heal", heal)

    def _cut_link(self) -> None:
        nodes = [CONTROLLER, *(broker_host(b) for b in self.cluster.broker_ids)]
        a, b = self.rng.sample(nodes, 2)
        if self.world.is_cut(a, b):
            return
        self.world.cut_link(a, b)
        self._later(self._duration(), "heal", lambda: self.world.heal_link(a, b))

    def _slow_link(self) -> None:
        a, b = self.rng.sample([broker_host(b) for b in self.cluster.broker_ids], 2)
        extra = self.rng.randint(20, self.cluster.lag_ms * 2)
        self.world.slow_link(a, b, extra)

        def fast() -> None:
            if self.world.slow.pop(frozenset((a, b)), None) is not None:
                self.world.log("network", f"link {a} <-> {b} fast again")

        self._later(self._duration(), "unslow", fast)

    def _crash_controller(self) -> None:
        if CONTROLLER in self.busy:
            return
        self.busy[CONTROLLER] = "down"
        self.cluster.crash_controller()

        def restart() -> None:
            self.busy.pop(CONTROLLER, None)
            if not self.world.hosts[CONTROLLER].up:
                self.cluster.restart_controller()

        self._later(self.rng.randint(20, self.short_ms * 3), "restart", restart)

    def _jump_clock(self) -> None:
        names = [CONTROLLER, *(broker_host(b) for b in self.cluster.broker_ids)]
        name = self.rng.choice(names)
        self.world.jump_wall_clock(name, self.rng.choice([-HOUR_MS, HOUR_MS]))

    def _shutdown_broker(self) -> None:
        broker = self._free_broker()
        if broker is None or self.world.hosts[broker_host(broker)].paused:
            return
        name = broker_host(broker)
        self.busy[name] = "shutting down"
        self.cluster.shutdown_broker(broker)
        self.cluster.at(SHUTDOWN_POLL_MS, "shutdown poll", lambda: self._await_exit(broker))

    def _await_exit(self, broker: int) -> None:
        name = broker_host(broker)
        if self.world.hosts[name].up:
            self.cluster.at(SHUTDOWN_POLL_MS, "shutdown poll", lambda: self._await_exit(broker))
            return

        def restart() -> None:
            self.busy.pop(name, None)
            if not self.world.hosts[name].up:
                self.cluster.restart_broker(broker)

        self._later(self._duration(), "restart", restart)
