"""This hub's memberships in channel-layer groups: joined once per name while any local connection needs
it, left when the last one goes, and joined again after Redis lost them.

Joins and leaves of one name are serialised under a lock of that name, so a join racing a leave cannot
leave the layer in the wrong state; the lock is dropped when nobody uses it, so names do not pile up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from ...runtime.layer import ChannelLayer


class Follower(Protocol):
    """A part that knows something per layer group (the stream order): told each name the channel left,
    what it knew of it is stale from then on."""

    def left(self, layer_group: str) -> None: ...


class _NameLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class LayerMembership:
    def __init__(self, layer: ChannelLayer, channel: str, follower: Follower | None = None) -> None:
        self.layer = layer
        self.channel = channel
        self.follower = follower
        self._refs: dict[str, int] = {}  # layer group -> local holders
        self.joined: set[str] = set()  # layer groups the channel is in
        self._locks: dict[str, _NameLock] = {}

    async def hold(self, names: Iterable[str]) -> None:
        """One more local holder of each name; returns once the channel is in every one of them. Counted
        first, so that if joining fails (Redis is down) releasing the same names undoes exactly this."""
        names = list(names)
        for name in names:
            self._refs[name] = self._refs.get(name, 0) + 1
        for name in names:
            if name not in self.joined:
                await self._sync(name)

    async def release(self, names: Iterable[str]) -> None:
        """One holder fewer of each name; the channel leaves the names nobody holds any more."""
        for name in names:
            count = self._refs.get(name, 0) - 1
            if count > 0:
                self._refs[name] = count
                continue
            self._refs.pop(name, None)
            await self._sync(name)

    async def _sync(self, name: str, again: bool = False) -> None:
        """Make the layer agree with the holders of one name (``again``: join it even if joined)."""
        entry = self._locks.get(name)
        if entry is None:
            entry = self._locks[name] = _NameLock()
        entry.users += 1
        try:
            async with entry.lock:
                wanted = self._refs.get(name, 0) > 0
                if wanted and (again or name not in self.joined):
                    await self.layer.group_add(name, self.channel)
                    self.joined.add(name)
                elif not wanted and name in self.joined:
                    self.joined.discard(name)
                    if self.follower is not None:
                        self.follower.left(name)
                    await self.layer.group_discard(name, self.channel)
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[name]

    async def rejoin(self) -> None:
        """Join every held name again: before channels-redis expires them, and after Redis lost them."""
        for name in list(self.joined):  # under each name's lock: a leave under way is not undone
            await self._sync(name, again=True)

    async def leave_all(self) -> None:
        """Leave every layer group (shutdown)."""
        for name in list(self.joined):
            await self.layer.group_discard(name, self.channel)
        self.joined.clear()
        self._refs.clear()
