"""The simulated world: one seeded RNG, a monotonic clock, an event queue, a network, faults.

Nothing here reads a real clock, sleeps, spawns a thread or opens a socket: every node (the
controller, the brokers, the clients) is an object whose code runs when one of its events is
popped from the queue, at simulated time ``now_ms``.  One step = one event.

Processes (:class:`Host`) have incarnations: a crash (kill -9) bumps the incarnation, so every
timer and message of the dead process is dropped, and makes its disk lose what a crash loses
(``broker/sim/disk.py``).  A paused process (SIGSTOP) keeps its events until it resumes; the rest
of the world goes on without it.  Each host has a wall clock (``wall_ms``) that may jump (F13);
timeouts use the monotonic clock.

The network carries request/response calls (:meth:`World.call`) with a random delay, so they
reorder.  A message on a *cut* link is held, as TCP retransmits it: it arrives after the heal,
at the next retransmission (200 ms doubling), unless the caller timed out first (then the server
may still get the request; its answer is dropped).  A
*dropped* message stands for a TCP reset: the caller gets ``RpcError("reset")`` after the link
delay and both ends are told the connection closed (the controller fences a broker whose
registering connection closes).  A call to a crashed process is refused at once, a call in flight
to a process that crashes is reset.  The network does not duplicate messages (TCP does not);
duplicates come from client retries.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

WALL_CLOCK_EPOCH_MS = 1_700_000_000_000
NETWORK = "~network"  # the pseudo-host of messages in transit
RTO_MIN_MS = 200  # Linux's TCP retransmission timeout starts here and doubles
RTO_MAX_MS = 120_000
MAX_HISTORY_LINES = 200_000


@dataclass(frozen=True, slots=True)
class RpcError:
    """A call that got no answer: ``refused``, ``reset`` or ``timeout``."""

    kind: str


class Process(Protocol):
    """What the world needs of a node's process."""

    def start(self) -> None: ...

    def handle(self, source: str, request: Any, reply: Callable[[Any], None]) -> None: ...

    def on_connection_closed(self, peer: str, channel: str) -> None: ...


@dataclass(slots=True)
class Host:
    """A node: its current process (None while down) and everything that outlives it."""

    name: str
    factory: Callable[[Host], Process]
    world: World
    process: Process | None = None
    incarnation: int = 0
    paused: bool = False
    wall_offset_ms: int = 0
    disk: Any = None
    deferred: list[tuple[int, int, str | None, int, str, Callable[[], None]]] = field(
        default_factory=list
    )

    @property
    def up(self) -> bool:
        return self.process is not None

    def wall_ms(self) -> int:
        return WALL_CLOCK_EPOCH_MS + self.world.now_ms + self.wall_offset_ms


@dataclass(slots=True, eq=False)
class Call:
    """One request in flight and the caller waiting for it."""

    source: str
    source_incarnation: int
    target: str
    target_incarnation: int
    channel: str
    on_reply: Callable[[Any], None]
    done: bool = False


@dataclass(slots=True)
class NetworkSettings:
    min_delay_ms: int = 1
    max_delay_ms: int = 5
    drop_probability: float = 0.0


class World:
    """The clock, the queue, the hosts and the links between them."""

    def __init__(self, seed: int, network: NetworkSettings | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.network = network or NetworkSettings()
        self.now_ms = 0
        self.steps = 0
        self.hosts: dict[str, Host] = {}
        self._queue: list[tuple[int, int, str | None, int, str, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._calls: dict[int, Call] = {}
        self._held: dict[frozenset[str], list[tuple[int, Call, Callable[[], None]]]] = {}
        self.cut: set[frozenset[str]] = set()
        self.slow: dict[frozenset[str], int] = {}
        self.history: list[tuple[int, str, str]] = []
        self.trace = False
        self.last_host: str | None = None

    # -- history --------------------------------------------------------------------------

    def log(self, who: str, text: str) -> None:
        if len(self.history) < MAX_HISTORY_LINES:
            self.history.append((self.now_ms, who, text))

    def format_history(self) -> list[str]:
        return [f"{time:>9} ms  {who:<10} {text}" for time, who, text in self.history]

    # -- hosts and timers -----------------------------------------------------------------

    def add_host(self, name: str, factory: Callable[[Host], Process], disk: Any = None) -> Host:
        assert name not in self.hosts
        host = Host(name, factory, self, disk=disk)
        self.hosts[name] = host
        return host

    def after(
        self, host: Host | str | None, delay_ms: int, label: str, fn: Callable[[], None]
    ) -> None:
        """Run ``fn`` on ``host`` ``delay_ms`` from now.  None: a world event (a fault, a
        client action: every node may change); ``NETWORK``: a message moving (none does)."""
        assert delay_ms >= 0, delay_ms
        name: str | None = host.name if isinstance(host, Host) else host
        incarnation = host.incarnation if isinstance(host, Host) else 0
        heapq.heappush(
            self._queue,
            (self.now_ms + delay_ms, next(self._sequence), name, incarnation, label, fn),
        )

    def step(self) -> bool:
        """Run the next event; False when the queue is empty."""
        while self._queue:
            event = heapq.heappop(self._queue)
            time, _, name, incarnation, label, fn = event
            assert time >= self.now_ms
            if name is not None and name != NETWORK:
                host = self.hosts[name]
                if not host.up or host.incarnation != incarnation:
                    continue  # an event of a dead process
                if host.paused:
                    host.deferred.append(event)
                    continue
            self.now_ms = time
            self.steps += 1
            self.last_host = name
            if self.trace:
                self.log(name or "world", label)
            fn()
            return True
        return False

    def next_event_ms(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    # -- faults ---------------------------------------------------------------------------

    def start(self, name: str) -> None:
        host = self.hosts[name]
        assert not host.up, f"{name} is already up"
        host.incarnation += 1
        host.paused = False
        host.deferred.clear()
        host.process = host.factory(host)
        self.log(name, f"start (incarnation {host.incarnation})")
        host.process.start()

    def crash(self, name: str, *, power_loss: bool = False, torn_writes: bool = False) -> None:
        """kill -9 (or power loss): the process and its unsynced state are gone."""
        host = self.hosts[name]
        assert host.up, f"{name} is down"
        host.process = None
        host.paused = False
        host.deferred.clear()
        host.incarnation += 1
        lost: list[str] = []
        if host.disk is not None:
            lost = host.disk.crash(self.rng, power_loss=power_loss, torn_writes=torn_writes)
        kind = "power loss" if power_loss else "kill -9"
        self.log(name, f"CRASH ({kind}){': ' + '; '.join(lost) if lost else ''}")
        for key, call in list(self._calls.items()):
            if call.source == name:
                del self._calls[key]
            elif call.target == name and not call.done:
                self._fail_later(call, "reset")
        for peer in self.hosts.values():
            if peer.up and peer.name != name and not self.is_cut(name, peer.name):
                self.after(
                    peer, self._delay(name, peer.name), "peer crashed", _closed(peer, name, "*")
                )

    def stop(self, name: str) -> None:
        """A clean exit (after a controlled shutdown): like a crash that loses nothing."""
        self.crash(name, power_loss=False)

    def pause(self, name: str) -> None:
        host = self.hosts[name]
        assert host.up and not host.paused
        host.paused = True
        self.log(name, "PAUSE (SIGSTOP)")

    def resume(self, name: str) -> None:
        host = self.hosts[name]
        if not host.up or not host.paused:
            return
        host.paused = False
        self.log(name, f"RESUME (SIGCONT), {len(host.deferred)} events were held")
        for event in host.deferred:
            _, _, event_name, incarnation, label, fn = event
            heapq.heappush(
                self._queue,
                (self.now_ms, next(self._sequence), event_name, incarnation, label, fn),
            )
        host.deferred.clear()

    def cut_link(self, a: str, b: str) -> None:
        self.cut.add(frozenset((a, b)))
        self.log("network", f"CUT {a} <-> {b}")

    def heal_link(self, a: str, b: str) -> None:
        link = frozenset((a, b))
        if link in self.cut:
            self.cut.discard(link)
            self.log("network", f"HEAL {a} <-> {b}")
            self._release(link)

    def isolate(self, name: str) -> None:
        for other in self.hosts:
            if other != name:
                self.cut.add(frozenset((name, other)))
        self.log("network", f"ISOLATE {name}")

    def heal(self) -> None:
        if self.cut or self.slow:
            self.log("network", "HEAL all links")
        links = sorted(self.cut, key=sorted)
        self.cut.clear()
        self.slow.clear()
        for link in links:
            self._release(link)

    def slow_link(self, a: str, b: str, extra_ms: int) -> None:
        self.slow[frozenset((a, b))] = extra_ms
        self.log("network", f"SLOW {a} <-> {b} by {extra_ms} ms")

    def jump_wall_clock(self, name: str, delta_ms: int) -> None:
        self.hosts[name].wall_offset_ms += delta_ms
        self.log(name, f"WALL CLOCK JUMP {delta_ms:+d} ms")

    def is_cut(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.cut

    # -- the network ----------------------------------------------------------------------

    def _delay(self, a: str, b: str) -> int:
        settings = self.network
        base = self.rng.randint(settings.min_delay_ms, settings.max_delay_ms)
        return base + self.slow.get(frozenset((a, b)), 0)

    def call(
        self,
        source: Host,
        target: str,
        request: Any,
        on_reply: Callable[[Any], None],
        *,
        timeout_ms: int,
        channel: str = "",
    ) -> Call:
        """Send ``request`` from ``source`` to ``target``; ``on_reply`` gets the response or an
        :class:`RpcError`, exactly once (unless the caller dies first)."""
        target_host = self.hosts[target]
        call = Call(
            source.name, source.incarnation, target, target_host.incarnation, channel, on_reply
        )
        self._calls[id(call)] = call
        self.after(source, timeout_ms, "call timeout", lambda: self._finish(call, None))
        cut = self.is_cut(source.name, target)
        if not cut and not target_host.up:
            self._fail_later(call, "refused")
        elif not cut and self.rng.random() < self.network.drop_probability:
            self._reset(call)
        else:
            self._transmit(call, lambda: self._deliver(call, request), self.now_ms)
        return call

    def _transmit(self, call: Call, arrive: Callable[[], None], since_ms: int) -> None:
        """Carry a message of ``call`` over its link; on a cut link TCP keeps retransmitting
        it, so it arrives after the heal, at the next retransmission."""
        link = frozenset((call.source, call.target))
        if link in self.cut:
            self._held.setdefault(link, []).append((since_ms, call, arrive))
            return
        self.after(NETWORK, self._delay(call.source, call.target), "transmit", arrive)

    def _release(self, link: frozenset[str]) -> None:
        for since_ms, call, arrive in self._held.pop(link, []):
            waited = self.now_ms - since_ms
            backoff = RTO_MIN_MS
            while backoff - RTO_MIN_MS < waited and backoff < RTO_MAX_MS:
                backoff *= 2
            delay = max(since_ms + backoff - RTO_MIN_MS - self.now_ms, 0)
            self.after(NETWORK, delay, "retransmit", self._retransmission(call, arrive))

    def _retransmission(self, call: Call, arrive: Callable[[], None]) -> Callable[[], None]:
        return lambda: self._transmit(call, arrive, self.now_ms)

    def _deliver(self, call: Call, request: Any) -> None:
        """The request reached the target's host (a world event): hand it to the process."""
        source, target = self.hosts[call.source], self.hosts[call.target]
        if source.incarnation != call.source_incarnation:
            return  # the caller's socket died with it
        if not target.up or target.incarnation != call.target_incarnation:
            self._fail_later(call, "reset")  # no such connection on the other side any more
            return
        incarnation = target.incarnation
        self.after(target, 0, "deliver", lambda: self._handle(call, request, incarnation))

    def _handle(self, call: Call, request: Any, incarnation: int) -> None:
        target = self.hosts[call.target]
        assert target.process is not None and target.incarnation == incarnation
        target.process.handle(
            call.source, request, lambda response: self._respond(call, incarnation, response)
        )

    def _respond(self, call: Call, incarnation: int, response: Any) -> None:
        if call.done or self.hosts[call.target].incarnation != incarnation:
            return  # the caller gave up, or the server died after taking the request
        if not self.is_cut(call.source, call.target) and self.rng.random() < (
            self.network.drop_probability
        ):
            self._reset(call)
            return
        self._transmit(call, lambda: self._arrive(call, response), self.now_ms)

    def _arrive(self, call: Call, response: Any) -> None:
        source = self.hosts[call.source]
        if source.incarnation == call.source_incarnation:
            self.after(source, 0, "reply", lambda: self._finish(call, response))

    def _finish(self, call: Call, response: Any) -> None:
        """The reply arrived (``response``) or the timeout fired (None)."""
        if call.done:
            return
        call.done = True
        self._calls.pop(id(call), None)
        call.on_reply(RpcError("timeout") if response is None else response)

    def _fail_later(self, call: Call, kind: str) -> None:
        """The caller learns of a refused or reset connection one link delay later (if the
        link carries the RST at all)."""
        source = self.hosts[call.source]
        if call.done or source.incarnation != call.source_incarnation:
            return
        if self.is_cut(call.source, call.target):
            return
        self.after(
            source,
            self._delay(call.source, call.target),
            kind,
            lambda: self._finish(call, RpcError(kind)),
        )

    def _reset(self, call: Call) -> None:
        """A TCP reset: the caller fails, and both ends see the connection close."""
        self._fail_later(call, "reset")
        delay = self._delay(call.source, call.target)
        target = self.hosts[call.target]
        if target.up:
            self.after(
                target, delay, "connection closed", _closed(target, call.source, call.channel)
            )
        source = self.hosts[call.source]
        self.after(source, delay, "connection closed", _closed(source, call.target, call.channel))


def _closed(host: Host, peer: str, channel: str) -> Callable[[], None]:
    def notify() -> None:
        if host.process is not None:
            host.process.on_connection_closed(peer, channel)

    return notify
