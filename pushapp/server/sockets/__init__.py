"""Everything that depends on the ASGI server: how frames reach a connection's socket (a *sink* per
server), and the server's shutdown hook. The server names the sink in the scope; the hub only calls it."""

from __future__ import annotations

from typing import Any

from . import daphne, native
from .asgi import AsgiSink
from .base import EXTENSION, Counters, OnSlow, Send, Sink, Sinks

__all__ = ["AsgiSink", "Counters", "OnSlow", "Sink", "Sinks", "on_shutdown", "reject", "socket_of"]


def socket_of(scope: dict[str, Any], send: Send) -> tuple[type[Sink[Any]], Any]:
    """The sink class for a connection and the handle it writes through, as its server named them in the
    scope; a server that does not name itself is written to through ``send``."""
    named = (scope.get("extensions") or {}).get(EXTENSION)
    if named is not None:
        return named  # type: ignore[no-any-return]
    return AsgiSink, send


on_shutdown = daphne.on_shutdown


async def reject(scope: dict[str, Any], send: Send, status: int) -> None:
    """Refuse a WebSocket handshake: with HTTP ``status`` on daphne and pushapp's own server, 403 on
    servers that only deny."""
    kind, handle = socket_of(scope, send)
    if kind is native.NativeSink:
        handle.refuse(status, "refused")
    elif kind is not daphne.DaphneSink or not daphne.reject(handle, status):
        await send({"type": "websocket.close"})
