"""The per-connection operations, carried out on the hub's parts: a connection's arrival and departure, its
groups, uid and session, its close. The hub, a client's ``subscribe`` (:mod:`pushapp.server.subscriptions`)
and a ``pushapp.ctl`` message all take these same paths.

:data:`OPERATIONS` is the answering half of the request/reply whose caller half is
:mod:`pushapp.sender.rpc`; each operation's argument is built by :mod:`pushapp.gateway`. An operation returns
the answer sent back: True once the change is in effect, False (None for reads) when the client is not on
this hub.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from ...codes import CloseCode
from ...conf import push_settings
from ...presence.base import Writer
from ...protocol import frames, wire
from ...protocol.frames import Payload, push_payload
from ...protocol.names import group_layer_group, uid_layer_group
from ...runtime import telemetry
from ...runtime.layer import ChannelLayer
from ...runtime.registry import Connection, Registry
from ...tokens import CLOCK_SKEW, Identity, client_proof, revocation_keys
from ..limits import report
from ..sockets.sse import SseStream
from .membership import LayerMembership
from .recovery import Welcomes

logger = logging.getLogger(__name__)


class Parts(Protocol):
    """What the operations act on: the hub's parts, never the hub's own methods."""

    node_id: str
    layer: ChannelLayer
    registry: Registry
    membership: LayerMembership
    presence: Writer
    welcomes: Welcomes
    revoked: Revocations


def layer_groups(uid: str | None, groups: Iterable[str]) -> list[str]:
    """The layer groups a connection of ``uid`` in ``groups`` needs its hub in."""
    return ([uid_layer_group(uid)] if uid is not None else []) + [group_layer_group(g) for g in groups]


async def enter(parts: Parts, conn: Connection, groups: Iterable[str]) -> None:
    """A new connection's layer groups and presence, before its welcome (a page that got it may ask
    is_online). Not registered yet: no push reaches it until its welcome is on its way."""
    groups = list(groups)
    await parts.membership.hold(layer_groups(conn.uid, groups))
    conn.groups = tuple(dict.fromkeys((*conn.groups, *groups)))
    await parts.presence.connected(conn)


async def undo_enter(parts: Parts, conn: Connection, groups: Iterable[str]) -> None:
    """A connect that failed half way (Redis down, the client gone) leaves nothing behind: no ghost in
    presence, no layer group held for it."""
    held = list(conn.groups)
    parts.registry.remove(conn)
    parts.welcomes.forget(conn)
    try:
        await parts.presence.disconnected(conn, conn.uid, held)
    except Exception:
        logger.debug("pushapp hub %s: undoing the presence of %s failed", parts.node_id, conn.client_id)
    try:
        await parts.membership.release(layer_groups(conn.uid, groups))
    except Exception:
        logger.debug("pushapp hub %s: leaving layer groups failed", parts.node_id, exc_info=True)


async def disconnect(parts: Parts, conn: Connection) -> bool:
    """Forget a connection: it leaves every group and its uid, and its session is gone."""
    parts.welcomes.forget(conn)
    removed = parts.registry.remove(conn)
    if removed is None:
        return False
    await parts.presence.disconnected(conn, removed.uid, removed.groups)
    await parts.membership.release(layer_groups(removed.uid, removed.groups))
    return True


async def close(parts: Parts, conn: Connection, code: int, message: Payload | None = None) -> None:
    """Forget ``conn``, then send ``message`` (if any) and the close frame after anything still queued."""
    await disconnect(parts, conn)
    telemetry.stats.closes[str(int(code))] += 1
    try:
        await conn.sink.close(conn, code, message)
    except Exception:  # the socket may already be gone; closing it is all we wanted
        logger.debug("closing %s failed", conn.client_id, exc_info=True)


def welcome(conn: Connection, streams: dict[str, tuple[str, int]] | None = None) -> str:
    """The welcome frame of ``conn``; ``streams``: its positions on streams with history."""
    interval = push_settings.PING_INTERVAL if push_settings.PING_NOT_RESPONSE_LIMIT else 0
    proof = client_proof(conn.client_id)
    return frames.welcome_frame(conn.client_id, conn.uid, interval, proof, streams, conn.expires)


class Revocations:
    """Every revocation of the cluster that still matters: each is sent to every hub, and a hub reads
    them all from presence when it starts. So a handshake is checked here, with no round trip."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}  # access key -> when it was revoked

    def add(self, at: dict[str, float]) -> None:
        """Keep ``at`` too, forgetting what is older than any token still valid."""
        oldest = time.time() - push_settings.TOKEN_MAX_AGE - CLOCK_SKEW
        self.at = {key: when for key, when in {**self.at, **at}.items() if when >= oldest}

    def refuses(self, identity: Identity) -> bool:
        """Whether ``identity``'s token was issued before its uid or its session was revoked."""
        if not identity.issued or not self.at:
            return False
        keys = revocation_keys(identity.uid, identity.session)
        return any(self.at.get(key, 0.0) > identity.issued for key in keys)  # both to the millisecond


async def revoke(parts: Parts, message: wire.Revoke) -> None:
    """Access ended (``revoke_uid``, a logout, a password change): refuse the earlier tokens from now on,
    and close the uid's connections here (those minted in the session ``s``, when given) with 4008, so
    that the client does not come back with the same token."""
    uid, session = message["u"], message.get("s")
    parts.revoked.add(dict.fromkeys(revocation_keys(None if session else uid, session), message["w"]))
    for conn in parts.registry.revoked(uid, session):
        await close(parts, conn, CloseCode.REVOKED)


async def join(parts: Parts, conn: Connection, group: str) -> bool:
    """Add ``conn`` to ``group``; False when it is in ``MAX_GROUPS_PER_CONNECTION`` groups already."""
    if group in conn.groups:
        return True
    limit = push_settings.MAX_GROUPS_PER_CONNECTION
    if limit is not None and len(conn.groups) >= limit:
        report("groups_per_connection", f"client {conn.client_id} is in {limit} groups")
        return False
    name = group_layer_group(group)
    await parts.membership.hold([name])
    if not parts.registry.join(conn, group):  # closed, or joined, while we waited for the layer
        await parts.membership.release([name])
        return True
    await parts.presence.joined(conn, group)
    return True


async def leave(parts: Parts, conn: Connection, group: str) -> None:
    if parts.registry.leave(conn, group):
        await parts.presence.left(conn, group)
        await parts.membership.release([group_layer_group(group)])


async def bind(parts: Parts, conn: Connection, uid: str | None) -> None:
    """Bind ``uid`` (None unbinds). A connection has at most one uid; binding again moves it."""
    if conn.uid == uid:
        return
    if uid is not None:
        await parts.membership.hold([uid_layer_group(uid)])
    changed, old = parts.registry.bind(conn, uid)
    if not changed:
        if uid is not None:
            await parts.membership.release([uid_layer_group(uid)])
        return
    await parts.presence.bound(conn, old)
    if old is not None:
        await parts.membership.release([uid_layer_group(old)])


async def set_session(parts: Parts, conn: Connection, session: dict[str, Any]) -> bool | str:
    """True, or ``wire.SESSION_TOO_LARGE`` (nothing changed) when ``session`` is over ``MAX_SESSION_SIZE``
    bytes as JSON: an update can only be measured here, merged."""
    if len(frames.dumps(session).encode()) > push_settings.MAX_SESSION_SIZE:
        return wire.SESSION_TOO_LARGE
    conn.session = session
    await parts.presence.session_changed(conn)
    return True


async def ungroup(parts: Parts, group: str) -> None:
    """Empty ``group`` on this hub (``ungroup``: every member leaves it at once)."""
    members = parts.registry.ungroup(group)
    if members:
        await parts.presence.ungrouped(group, members)
        await parts.membership.release([group_layer_group(group)] * len(members))


Operation = Callable[[Parts, Connection, Any], Awaitable[Any]]


async def _join(parts: Parts, conn: Connection, group: str) -> bool:
    return await join(parts, conn, group)


async def _leave(parts: Parts, conn: Connection, group: str) -> bool:
    await leave(parts, conn, group)
    return True


async def _bind(parts: Parts, conn: Connection, uid: str) -> bool:
    await bind(parts, conn, uid)
    return True


async def _unbind(parts: Parts, conn: Connection, uid: str | None) -> bool:
    if uid is not None and conn.uid != uid:
        return False
    await bind(parts, conn, None)
    return True


async def _session_get(parts: Parts, conn: Connection, arg: None) -> dict[str, Any]:
    return conn.session


async def _session_set(parts: Parts, conn: Connection, session: dict[str, Any]) -> bool | str:
    return await set_session(parts, conn, dict(session))


async def _session_update(parts: Parts, conn: Connection, session: dict[str, Any]) -> bool | str:
    return await set_session(parts, conn, {**conn.session, **session})


async def _close(parts: Parts, conn: Connection, message: list[Any] | None) -> bool:
    payload = None if message is None else push_payload((message[0], message[1]))
    await close(parts, conn, CloseCode.NORMAL, payload)
    return True


async def _destroy(parts: Parts, conn: Connection, arg: None) -> bool:
    await close(parts, conn, CloseCode.DESTROYED)
    return True


async def _sse_frame(parts: Parts, conn: Connection, text: str) -> bool:
    """A client frame POSTed for an SSE connection (:mod:`pushapp.sse`), handed to its stream's reader."""
    return isinstance(conn.handle, SseStream) and isinstance(text, str) and conn.handle.feed(text)


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
    "sse_frame": _sse_frame,
}

#: What an operation answers when the client is not on this hub.
ABSENT: dict[str, Any] = {"session_get": None}


async def run(parts: Parts, conn: Connection | None, op: str, arg: Any) -> Any:
    """Run ``op`` on ``conn`` (None: not here); ValueError for an operation that does not exist."""
    operation = OPERATIONS.get(op)
    if operation is None:
        raise ValueError(f"unknown pushapp control operation {op!r}")
    if conn is None:
        return ABSENT.get(op, False)
    return await operation(parts, conn, arg)


async def answer(parts: Parts, message: wire.Control) -> None:
    """Run a ``pushapp.ctl`` message's operation, and send its answer to the caller if it waits for one."""
    started = time.perf_counter()
    try:
        value = await run(parts, parts.registry.get(message["cid"]), message["op"], message.get("a"))
    except Exception:
        logger.exception("pushapp hub %s: control %r failed", parts.node_id, message.get("op"))
        value = None
    telemetry.stats.control_handled += 1
    telemetry.stats.control_seconds += time.perf_counter() - started
    reply_to, request_id = message.get("r"), message.get("i")
    if reply_to and request_id is not None:
        await parts.layer.send(reply_to, wire.reply(request_id, value))
