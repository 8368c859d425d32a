"""Per-event-loop services (the hub, the reply caller), each started once, on first use.

asyncio objects and channel-layer connections belong to one event loop; a process that runs several
loops (tests, a sync bridge thread) gets one service per loop. Loops that have closed are forgotten.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from ..conf import push_settings
from ..protocol import wire
from .layer import ChannelLayer


class Service(Protocol):
    ready: asyncio.Event

    async def start(self) -> None: ...


S = TypeVar("S", bound=Service)


class PerLoop(Generic[S]):
    def __init__(self) -> None:
        self._items: dict[tuple[asyncio.AbstractEventLoop, Hashable], S] = {}
        self._starting: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Task[None]] = {}

    async def get(self, factory: Callable[[], S], key: Hashable = None) -> S:
        loop = asyncio.get_running_loop()
        full_key = (loop, key)
        item = self._items.get(full_key)
        if item is not None and item.ready.is_set():
            return item
        if item is None:
            for stale in [k for k in self._items if k[0].is_closed()]:
                self._forget(stale)
            item = self._items[full_key] = factory()
            self._starting[full_key] = loop.create_task(item.start())
        starting = self._starting[full_key]
        try:
            await asyncio.shield(starting)
        except BaseException:
            if starting.done():
                self._forget(full_key)
            raise
        return item

    def running(self, key: Hashable = None) -> S | None:
        """The started service of the running loop, if any."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        item = self._items.get((loop, key))
        return item if item is not None and item.ready.is_set() else None

    def all(self) -> list[S]:
        """Every started service, whatever its loop."""
        return [item for item in list(self._items.values()) if item.ready.is_set()]

    def pop(self, key: Hashable = None) -> S | None:
        full_key = (asyncio.get_running_loop(), key)
        item = self._items.get(full_key)
        self._forget(full_key)
        return item

    def discard(self, item: S) -> bool:
        """Forget ``item`` wherever it is; False if it was not known (already stopped)."""
        for key, known in list(self._items.items()):
            if known is item:
                self._forget(key)
                return True
        return False

    def _forget(self, full_key: tuple[asyncio.AbstractEventLoop, Hashable]) -> None:
        self._items.pop(full_key, None)
        self._starting.pop(full_key, None)


async def wait_until_receiving(layer: ChannelLayer, channel: str, ready: asyncio.Event) -> None:
    """Return once ``channel`` delivers to us: a pub/sub layer only subscribes when receive() runs, and a
    message published before that is lost. The receive loop must set ``ready`` on a ``pushapp.ready``."""
    deadline = time.monotonic() + push_settings.CONTROL_TIMEOUT
    while not ready.is_set():
        await layer.send(channel, wire.ready())
        try:
            await asyncio.wait_for(ready.wait(), 0.05)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
