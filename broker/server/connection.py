"""One client connection: frames in, responses out, in request order.

Like Kafka's network layer, a connection has one request in progress at a time (Kafka mutes the
channel until the response is sent), which preserves order and bounds what one client can make
the broker buffer: at most one receive chunk plus one request of ``socket.request.max.bytes``.
Connections idle for ``connections.max.idle.ms`` are closed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
from anyio.abc import SocketStream

from client.protocol.errors import ProtocolError
from client.protocol.framing import FrameReader, FrameTooLarge

if TYPE_CHECKING:
    from broker.server.broker import BrokerServer

log = logging.getLogger("odradek.connection")

RECEIVE_MIN_BYTES = 64 * 1024
RECEIVE_MAX_BYTES = 4 * 1024 * 1024


async def serve_connection(server: BrokerServer, stream: SocketStream) -> None:
    peer = _peer(stream)
    try:
        async with stream:
            await _serve(server, stream, peer)
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
    except ConnectionError as error:
        log.debug("connection from %s: %s", peer, error)


async def _serve(server: BrokerServer, stream: SocketStream, peer: str) -> None:
    reader = FrameReader(server.config.socket_request_max_bytes)
    idle_seconds = server.config.connections_max_idle_ms / 1000
    dispatcher = server.dispatcher
    while True:
        wanted = min(max(RECEIVE_MIN_BYTES, reader.needed_bytes()), RECEIVE_MAX_BYTES)
        with anyio.move_on_after(idle_seconds) as scope:
            data = await stream.receive(wanted)
        if scope.cancelled_caught:
            log.info("closing connection from %s idle for %.0f s", peer, idle_seconds)
            return
        reader.feed(data)
        try:
            while (frame := reader.next_frame()) is not None:
                response = await dispatcher.handle(frame)
                if response is not None:
                    for piece in response:
                        await stream.send(piece if isinstance(piece, bytes) else bytes(piece))
        except FrameTooLarge as error:
            log.warning("closing connection from %s: %s (socket.request.max.bytes)", peer, error)
            return
        except ProtocolError as error:
            log.warning("closing connection from %s: unreadable request: %s", peer, error)
            return


def _peer(stream: SocketStream) -> str:
    try:
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return "?"
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
