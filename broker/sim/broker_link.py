"""A simulated broker's link to the controller: ``broker/server/controller_link.py``.

- lifecycle: BrokerRegistration, then BrokerHeartbeat every ``broker.heartbeat.interval.ms``
  (50 ms while fenced or shutting down; a metadata fetch that applied records while fenced wakes
  the waiting heartbeat); STALE_BROKER_EPOCH means register again with the same incarnation; a
  failed call retries after ``RETRY_BACKOFF_MS`` on a new connection;
- metadata: a long-polled fetch of the controller's log from ``records_replayed``, applied by
  the broker (``SimBroker.apply_metadata``), then the next fetch;
- requests (AlterPartition) share :meth:`ControllerLink.send`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from broker.core.metadata import record_from_dict
from broker.sim.messages import (
    CONTROLLER,
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
    BrokerRegistrationRequest,
    BrokerRegistrationResponse,
    MetadataFetchRequest,
    MetadataFetchResponse,
)
from broker.sim.world import RpcError
from client.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from broker.sim.broker_node import SimBroker

REQUEST_TIMEOUT_MS = 30_000  # controller_link.REQUEST_TIMEOUT_MS
METADATA_FETCH_WAIT_MS = 500
RETRY_BACKOFF_MS = 100
FENCED_HEARTBEAT_INTERVAL_MS = 50


class ControllerLink:
    def __init__(self, broker: SimBroker) -> None:
        self.broker = broker
        self.incarnation_id = uuid.UUID(int=broker.world.rng.getrandbits(128), version=4).hex
        self.fenced = True
        self.shutdown_requested = False
        self._heartbeat_wait: int | None = None  # token of the pending heartbeat interval
        self._tokens = 0

    def run(self) -> None:
        self._lifecycle()
        self._fetch_metadata()

    def send(
        self,
        request: Any,
        on_reply: Callable[[Any], None],
        channel: str,
        timeout_ms: int = REQUEST_TIMEOUT_MS,
    ) -> None:
        broker = self.broker
        broker.world.call(
            broker.host, CONTROLLER, request, on_reply, timeout_ms=timeout_ms, channel=channel
        )

    def request_shutdown(self) -> None:
        self.shutdown_requested = True
        self.wake_heartbeat()

    # -- lifecycle ------------------------------------------------------------------------

    def _lifecycle(self) -> None:
        if self.broker.broker_epoch < 0:
            self._register(self._heartbeat)
        else:
            self._heartbeat()

    def _lifecycle_failed(self, why: str) -> None:
        self.broker.log(f"controller lifecycle connection: {why}; retrying")
        self.broker.after(RETRY_BACKOFF_MS, "lifecycle retry", self._lifecycle)

    def _register(self, then: Callable[[], None]) -> None:
        broker = self.broker
        request = BrokerRegistrationRequest(
            broker.node_id, self.incarnation_id, broker.host.name, 9092
        )

        def on_reply(response: Any) -> None:
            if isinstance(response, RpcError):
                self._lifecycle_failed(response.kind)
                return
            assert isinstance(response, BrokerRegistrationResponse)
            if response.error_code is not ErrorCode.NONE:
                self._lifecycle_failed(f"registration refused: {response.error_code.name}")
                return
            broker.broker_epoch = response.broker_epoch
            broker.log(f"registered: broker epoch {broker.broker_epoch}")
            then()

        self.send(request, on_reply, "lifecycle")

    def _heartbeat(self) -> None:
        broker = self.broker
        request = BrokerHeartbeatRequest(
            broker.node_id,
            broker.broker_epoch,
            broker.image.records_replayed - 1,
            want_fence=False,
            want_shut_down=self.shutdown_requested,
        )
        self.send(request, self._on_heartbeat, "lifecycle")

    def _on_heartbeat(self, response: Any) -> None:
        if isinstance(response, RpcError):
            self._lifecycle_failed(response.kind)
            return
        assert isinstance(response, BrokerHeartbeatResponse)
        result = response.result
        broker = self.broker
        if result.error_code in (ErrorCode.STALE_BROKER_EPOCH, ErrorCode.BROKER_ID_NOT_REGISTERED):
            broker.log(f"heartbeat: {result.error_code.name}; registering again")
            broker.broker_epoch = -1
            self._register(self._wait_heartbeat_interval)
            return
        if result.error_code is not ErrorCode.NONE:
            self._lifecycle_failed(f"heartbeat refused: {result.error_code.name}")
            return
        was_fenced, self.fenced = self.fenced, result.is_fenced
        if was_fenced and not self.fenced and not broker.listening:
            broker.on_first_unfence()
        if was_fenced != self.fenced:
            broker.log("unfenced by the controller" if not self.fenced else "fenced")
        if result.should_shut_down and self.shutdown_requested:
            broker.exit_cleanly()
            return
        self._wait_heartbeat_interval()

    def _wait_heartbeat_interval(self) -> None:
        interval = self.broker.settings.broker_heartbeat_interval_ms
        if self.fenced or self.shutdown_requested:
            interval = min(interval, FENCED_HEARTBEAT_INTERVAL_MS)
        self._tokens += 1
        token = self._heartbeat_wait = self._tokens
        self.broker.after(interval, "heartbeat", lambda: self._heartbeat_due(token))

    def _heartbeat_due(self, token: int) -> None:
        if self._heartbeat_wait == token:
            self._heartbeat_wait = None
            self._heartbeat()

    def wake_heartbeat(self) -> None:
        """Only a heartbeat that is waiting out its interval can be woken (as the link's
        event, replaced at each wait)."""
        if self._heartbeat_wait is not None:
            self._heartbeat_wait = None
            self.broker.after(0, "heartbeat (woken)", self._heartbeat)

    # -- metadata -------------------------------------------------------------------------

    def _fetch_metadata(self) -> None:
        broker = self.broker
        offset = broker.image.records_replayed
        request = MetadataFetchRequest(offset, METADATA_FETCH_WAIT_MS)

        def on_reply(response: Any) -> None:
            if isinstance(response, RpcError) or response.error_code is not ErrorCode.NONE:
                why = response.kind if isinstance(response, RpcError) else response.error_code
                broker.log(f"metadata fetch at {offset}: {why}; retrying")
                broker.after(RETRY_BACKOFF_MS, "metadata retry", self._fetch_metadata)
                return
            self._on_metadata(offset, response)
            self._fetch_metadata()

        self.send(request, on_reply, "metadata", REQUEST_TIMEOUT_MS + METADATA_FETCH_WAIT_MS)

    def _on_metadata(self, offset: int, response: MetadataFetchResponse) -> None:
        broker = self.broker
        if offset != broker.image.records_replayed:
            return  # not possible with one fetch at a time; kept as the shell's offset check
        records = [record_from_dict(dict(body)) for body in response.records]
        caught_up = broker.image.records_replayed + len(records) >= response.high_watermark
        if caught_up and not broker.caught_up_once:
            broker.caught_up_once = True
            broker.log(f"metadata caught up at offset {response.high_watermark}")
        if records:
            broker.apply_metadata(records)
        if broker.image.records_replayed >= response.high_watermark:
            broker.on_metadata_caught_up()
        if records and self.fenced:
            self.wake_heartbeat()
