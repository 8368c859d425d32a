"""What a presence backend provides, and the no-op writer of backends that read the hubs directly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..hub import Connection, Hub


class Writer:
    """A hub's hooks into presence. Each is awaited after the hub's own state changed, and returns once
    the change is visible to every reader, so an answer sent to a caller afterwards agrees with queries."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def connected(self, conn: Connection) -> None:
        pass

    async def disconnected(self, conn: Connection, uid: str | None, groups: list[str]) -> None:
        pass

    async def joined(self, conn: Connection, group: str) -> None:
        pass

    async def left(self, conn: Connection, group: str) -> None:
        pass

    async def bound(self, conn: Connection, old_uid: str | None) -> None:
        pass

    async def session_changed(self, conn: Connection) -> None:
        pass

    async def ungrouped(self, group: str, conns: list[Connection]) -> None:
        pass


class Backend:
    """Raw read operations (see presence.lua for their shapes) and a writer per hub."""

    def writer(self, hub: Hub) -> Writer:
        return Writer()

    def op(self, name: str, *args: str) -> Any:
        raise NotImplementedError

    async def aop(self, name: str, *args: str) -> Any:
        raise NotImplementedError
