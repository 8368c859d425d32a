"""The standard ASGI write path: each frame is a ``websocket.send`` event awaited on the connection's
``send``, so the server's own backpressure applies. Used on every server but daphne."""

from __future__ import annotations

from collections.abc import Collection

from ...protocol.frames import Payload, close_event, send_event
from ...runtime.registry import Connection
from .base import Send, Sink


class AsgiSink(Sink[Send]):
    @staticmethod
    async def abort(handle: Send, code: int) -> None:
        await handle(close_event(code))

    async def deliver(self, conns: Collection[Connection], payload: Payload) -> None:
        event = send_event(payload)  # built once, shared by every recipient
        delivered = 0
        for conn in list(conns):  # each send awaits: the registry may change meanwhile
            try:
                await conn.handle(event)
                delivered += 1
            except Exception:
                self.lost(conn)
        self.counters.delivered += delivered

    async def send(self, conn: Connection, text: str) -> None:
        await conn.handle({"type": "websocket.send", "text": text})

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        send: Send = conn.handle
        if message is not None:
            await send(send_event(message))
        await send(close_event(code))
