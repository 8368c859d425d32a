"""The answering half of per-connection operations: ``pushapp.ctl`` op name → what the owning hub does.

The caller half is :mod:`pushapp.sender.rpc`; each operation's argument is built by :mod:`pushapp.gateway`.
An operation returns the answer sent back: True once the change is in effect, False (None for reads)
when the client is not on this hub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ...codes import CloseCode
from ...protocol.frames import Payload, push_payload
from ...runtime.registry import Connection


class Target(Protocol):
    """What the operations need from the hub."""

    async def join(self, conn: Connection, group: str) -> None: ...

    async def leave(self, conn: Connection, group: str) -> None: ...

    async def bind(self, conn: Connection, uid: str | None) -> None: ...

    async def set_session(self, conn: Connection, session: dict[str, Any]) -> None: ...

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None: ...


Operation = Callable[[Target, Connection, Any], Awaitable[Any]]


async def _join(hub: Target, conn: Connection, group: str) -> bool:
    await hub.join(conn, group)
    return True


async def _leave(hub: Target, conn: Connection, group: str) -> bool:
    await hub.leave(conn, group)
    return True


async def _bind(hub: Target, conn: Connection, uid: str) -> bool:
    await hub.bind(conn, uid)
    return True


async def _unbind(hub: Target, conn: Connection, uid: str | None) -> bool:
    if uid is not None and conn.uid != uid:
        return False
    await hub.bind(conn, None)
    return True


async def _session_get(hub: Target, conn: Connection, arg: None) -> dict[str, Any]:
    return conn.session


async def _session_set(hub: Target, conn: Connection, session: dict[str, Any]) -> bool:
    await hub.set_session(conn, dict(session))
    return True


async def _session_update(hub: Target, conn: Connection, session: dict[str, Any]) -> bool:
    await hub.set_session(conn, {**conn.session, **session})
    return True


async def _close(hub: Target, conn: Connection, message: list[Any] | None) -> bool:
    await hub.close(
        conn, CloseCode.NORMAL, None if message is None else push_payload((message[0], message[1]))
    )
    return True


async def _destroy(hub: Target, conn: Connection, arg: None) -> bool:
    await hub.close(conn, CloseCode.DESTROYED)
    return True


OPERATIONS: dict[str, Operation] = {
    "join": _join,
    "leave": _leave,
    "bind": _bind,
    "unbind": _unbind,
    "session_get": _session_get,
    "session_set": _session_set,
    "session_update": _session_update,
    "close": _close,
    "destroy": _destroy,
}

#: What an operation answers when the client is not on this hub.
ABSENT: dict[str, Any] = {"session_get": None}


async def run(hub: Target, conn: Connection | None, op: str, arg: Any) -> Any:
    """Run ``op`` on ``conn`` (None: not here); ValueError for an operation that does not exist."""
    operation = OPERATIONS.get(op)
    if operation is None:
        raise ValueError(f"unknown pushapp control operation {op!r}")
    if conn is None:
        return ABSENT.get(op, False)
    return await operation(hub, conn, arg)
