"""Everything that depends on the ASGI server: how frames reach a connection's socket (a *sink* per
server), and the server's shutdown hook. The consumer picks the sink; the hub only calls it."""

from __future__ import annotations

from typing import Any

from . import daphne, native
from .asgi import AsgiSink
from .base import Counters, OnSlow, Sink, Sinks

__all__ = ["AsgiSink", "Counters", "OnSlow", "Sink", "Sinks", "on_shutdown", "reject", "sink_type"]


def sink_type(send: Any) -> tuple[type[Sink], Any]:
    """The sink class for a connection whose ASGI ``send`` is ``send``, and the handle it writes through."""
    protocol = daphne.protocol_of(send)
    if protocol is not None:
        return daphne.DaphneSink, protocol
    connection = native.protocol_of(send)
    if connection is not None:
        return native.NativeSink, connection
    return AsgiSink, send


on_shutdown = daphne.on_shutdown


async def reject(send: Any, status: int) -> None:
    """Refuse a WebSocket handshake: with HTTP ``status`` on daphne and pushapp's own server, 403 on
    servers that only deny."""
    connection = native.protocol_of(send)
    if connection is not None:
        connection.refuse(status, "refused")
    elif not daphne.reject(send, status):
        await send({"type": "websocket.close"})
