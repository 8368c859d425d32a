"""Draining a hub: its connections are moved off it spread over a time, not all at once.

Every connection is told at once when to come back (a ``reconnect`` frame with its own delay, the delays
spread evenly over the drain time in random order), keeps receiving its pushes until then, and is closed
with 1012 at that moment. Clients reconnect then (pushapp.js waits at least the delay, even when the
socket closed sooner), so a deploy costs no thundering herd. :meth:`Drain.hurry` closes the rest at once
(a second signal); clients still keep to their delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from ...codes import CloseCode
from ...protocol.frames import reconnect_frame

#: Seconds a drain waits, after its last close, for connections accepted just before the socket stopped
#: accepting (still authenticating when the list was taken), which it then tells and closes too.
LATE_SECONDS = 0.25
#: Connections due at once that close together (their Redis round trips shared), at most.
BATCH = 256


class Drain:
    def __init__(self, hub: Any, seconds: float) -> None:
        self.hub = hub
        self.seconds = max(0.0, seconds)
        self._hurry = asyncio.Event()

    def hurry(self) -> None:
        """Close every remaining connection now."""
        self._hurry.set()

    async def run(self) -> None:
        """Tell, then close, every connection the hub holds now; return once all of them are closed."""
        hub = self.hub
        conns = list(hub.registry)
        random.shuffle(conns)
        step = self.seconds / len(conns) if conns else 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, conn in enumerate(conns):
            await conn.sink.send(conn, reconnect_frame(index * step))
        due: list[Any] = []
        for index, conn in enumerate(conns):
            wait = started + index * step - loop.time()
            if wait > 0 and not self._hurry.is_set():
                await self._close(due)  # what came due meanwhile, before waiting for the next
                wait = started + index * step - loop.time()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), wait)
            due.append(conn)
            if len(due) >= BATCH:
                await self._close(due)
        await self._close(due)
        done = set(conns)
        await self._close_late(done)
        await asyncio.sleep(LATE_SECONDS)
        await self._close_late(done)

    async def _close(self, due: list[Any]) -> None:
        """Close the connections that are due together: each close waits for Redis (its unsubscription,
        its presence), and one at a time a drain of 10,000 took minutes, whatever its drain time."""
        hub = self.hub
        closing = [conn for conn in due if conn in hub.registry]
        due.clear()
        await asyncio.gather(*(hub.close(conn, CloseCode.SERVICE_RESTART) for conn in closing))

    async def _close_late(self, done: set[Any]) -> None:
        """Tell and close the connections not in ``done`` (registered since the list was taken)."""
        late = [conn for conn in self.hub.registry if conn not in done]
        for conn in late:
            await conn.sink.send(conn, reconnect_frame(0.0))
            await self.hub.close(conn, CloseCode.SERVICE_RESTART)
        done.update(late)
