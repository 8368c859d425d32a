"""The hub: one per server process (per event loop), owning that process's connections.

The hub, not each connection, talks to the channel layer. It listens on ONE layer channel
(``pushapp.hub.<node id>``, the routing half of every client id it issues), and joins each layer group
(one per pushapp group, one per uid, plus ``pushapp.all``) once, while at least one local connection
needs it. A message from the layer is decoded once and written to every local recipient; there is no
per-recipient Redis operation, task or thread hop. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from .conf import push_settings
from .layer import get_layer
from .names import (
    ALL_GROUP,
    group_layer_group,
    hub_channel,
    new_client_id,
    new_node_id,
    uid_layer_group,
)
from .perloop import PerLoop, wait_until_receiving
from .presence import get_backend
from .presence.base import Writer
from .protocol import CloseCode, Payload, close_event, send_event, welcome_event
from .servers import daphne
from .tokens import Identity, client_proof

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

#: How long a multi-target message id is remembered, so a hub that is in several of the targeted
#: layer groups (and so receives several copies) delivers it once.
DEDUPE_SECONDS = 60.0


class Connection:
    """One authenticated WebSocket held by this process. Kept small: there may be tens of thousands."""

    __slots__ = ("client_id", "groups", "last_seen", "protocol", "send", "session", "uid")

    def __init__(self, client_id: str, send: Send, uid: str | None, protocol: Any = None) -> None:
        self.client_id = client_id
        self.send = send
        self.protocol = protocol  # daphne's WebSocketProtocol, for the direct write path; else None
        self.uid = uid
        self.groups: set[str] = set()
        self.session: dict[str, Any] = {}
        self.last_seen = time.monotonic()


class _NameLock:
    """A lock for one layer group name, dropped when nobody uses it so names do not pile up."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Hub:
    """This process's connections, their uid and group indices, and its one channel-layer channel."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.node_id = new_node_id()
        self.channel = hub_channel(self.node_id)
        self.started_at = time.time()
        self.clients: dict[str, Connection] = {}
        self.uids: dict[str, set[Connection]] = {}
        self.groups: dict[str, set[Connection]] = {}
        self.delivered = 0
        self.dropped = 0
        self._refs: dict[str, int] = {}  # layer group -> local holders
        self._joined: set[str] = set()  # layer groups this hub's channel is in
        self._locks: dict[str, _NameLock] = {}
        self._seen: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._tasks_running: set[asyncio.Future[None]] = set()
        self._outbox: dict[Connection, list[bytes]] = {}  # daphne frames of this loop iteration
        self._flush_scheduled = False
        self.ready = asyncio.Event()  # set once started: listening, and in the "all" group
        self._listening = asyncio.Event()
        self.presence: Writer = Writer()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._receive_loop(), name=f"pushapp-hub-{self.node_id}"))
        self._tasks.append(asyncio.create_task(self._sweep_loop(), name=f"pushapp-sweep-{self.node_id}"))
        # A pub/sub layer only lets a channel join groups once receive() has subscribed it.
        await wait_until_receiving(self.layer, self.channel, self._listening, {"type": "pushapp.ready"})
        await self._hold([ALL_GROUP])
        self.presence = get_backend().writer(self)
        await self.presence.start()
        daphne.on_shutdown(self._shutdown)
        self.ready.set()

    async def _shutdown(self) -> None:
        if _hubs.discard(self):
            await self.stop()

    def info_pairs(self) -> list[str]:
        """This process as ``manage.py pushstats`` shows it, as field/value pairs."""
        return [
            "host",
            socket.gethostname(),
            "pid",
            str(os.getpid()),
            "started",
            f"{self.started_at:.3f}",
            "clients",
            str(len(self.clients)),
            "delivered",
            str(self.delivered),
            "dropped",
            str(self.dropped),
        ]

    async def stop(self, code: int = CloseCode.SERVICE_RESTART) -> None:
        """Close every local connection and leave every layer group (graceful shutdown)."""
        for conn in list(self.clients.values()):
            await self.close(conn, code)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for name in list(self._joined):
            await self.layer.group_discard(name, self.channel)
        self._joined.clear()
        await self.presence.stop()

    # -- connections -----------------------------------------------------------------------------

    async def connect(self, send: Send, identity: Identity, protocol: Any = None) -> Connection:
        """Register a new connection: join its uid and groups, then welcome it."""
        conn = Connection(new_client_id(self.node_id), send, identity.uid, protocol)
        names = [uid_layer_group(identity.uid)] if identity.uid is not None else []
        names += [group_layer_group(g) for g in identity.groups]
        await self._hold(names)
        conn.groups.update(identity.groups)
        await self.presence.connected(conn)  # before the welcome: a page that got it may ask is_online
        interval = push_settings.PING_INTERVAL if push_settings.PING_NOT_RESPONSE_LIMIT else 0
        await send(welcome_event(conn.client_id, conn.uid, interval, client_proof(conn.client_id)))
        # Indexed only now, so that no push can reach the connection before its welcome.
        self.clients[conn.client_id] = conn
        if conn.uid is not None:
            self.uids.setdefault(conn.uid, set()).add(conn)
        for group in conn.groups:
            self.groups.setdefault(group, set()).add(conn)
        return conn

    async def disconnect(self, conn: Connection) -> bool:
        """Forget a connection: it leaves every group and its uid, and its session is gone."""
        if self.clients.pop(conn.client_id, None) is None:
            return False
        groups = list(conn.groups)
        names = [group_layer_group(g) for g in groups]
        for group in groups:
            self._index_discard(self.groups, group, conn)
        conn.groups = set()
        if conn.uid is not None:
            self._index_discard(self.uids, conn.uid, conn)
            names.append(uid_layer_group(conn.uid))
        conn.session = {}
        await self.presence.disconnected(conn, conn.uid, groups)
        await self._release(names)
        return True

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        """Forget ``conn``, then send ``message`` (if any) and the close frame after anything still queued."""
        await self.disconnect(conn)
        try:
            if conn.protocol is not None:
                frames = self._outbox.pop(conn, [])  # pushes of this loop iteration go out first
                if message is not None:
                    frames.append(daphne.encode_frame(*message))
                if frames and daphne.is_open(conn.protocol):
                    daphne.write(conn.protocol.transport, b"".join(frames))
                daphne.close(conn.protocol, code)
            else:
                if message is not None:
                    await conn.send(send_event(message))
                await conn.send(close_event(code))
        except Exception:  # the socket may already be gone; closing it is all we wanted
            logger.debug("closing %s failed", conn.client_id, exc_info=True)

    # -- membership --------------------------------------------------------------------------------

    @staticmethod
    def _index_discard(index: dict[str, set[Connection]], key: str, conn: Connection) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(conn)
            if not members:
                del index[key]

    async def join(self, conn: Connection, group: str) -> None:
        if group in conn.groups:
            return
        await self._hold([group_layer_group(group)])
        if conn.client_id not in self.clients:  # closed while we waited for the layer
            await self._release([group_layer_group(group)])
            return
        conn.groups.add(group)
        self.groups.setdefault(group, set()).add(conn)
        await self.presence.joined(conn, group)

    async def leave(self, conn: Connection, group: str) -> None:
        if group not in conn.groups:
            return
        conn.groups.discard(group)
        self._index_discard(self.groups, group, conn)
        await self.presence.left(conn, group)
        await self._release([group_layer_group(group)])

    async def bind(self, conn: Connection, uid: str | None) -> None:
        """Bind ``uid`` (None unbinds). A connection has at most one uid; binding again moves it."""
        old = conn.uid
        if old == uid:
            return
        if uid is not None:
            await self._hold([uid_layer_group(uid)])
            if conn.client_id not in self.clients:
                await self._release([uid_layer_group(uid)])
                return
            self.uids.setdefault(uid, set()).add(conn)
        conn.uid = uid
        if old is not None:
            self._index_discard(self.uids, old, conn)
        await self.presence.bound(conn, old)
        if old is not None:
            await self._release([uid_layer_group(old)])

    async def ungroup(self, group: str) -> None:
        members = self.groups.pop(group, set())
        for conn in members:
            conn.groups.discard(group)
        if members:
            await self.presence.ungrouped(group, list(members))
        await self._release([group_layer_group(group)] * len(members))

    async def _hold(self, names: Iterable[str]) -> None:
        for name in names:
            self._refs[name] = self._refs.get(name, 0) + 1
            if name not in self._joined:
                await self._sync_layer_group(name)

    async def _release(self, names: Iterable[str]) -> None:
        for name in names:
            count = self._refs.get(name, 0) - 1
            if count > 0:
                self._refs[name] = count
                continue
            self._refs.pop(name, None)
            await self._sync_layer_group(name)

    async def _sync_layer_group(self, name: str) -> None:
        """Make the layer agree with ``_refs`` for one name; serialised per name, so joins and leaves
        racing on the same group cannot leave the layer in the wrong state."""
        entry = self._locks.get(name)
        if entry is None:
            entry = self._locks[name] = _NameLock()
        entry.users += 1
        try:
            async with entry.lock:
                wanted = self._refs.get(name, 0) > 0
                if wanted and name not in self._joined:
                    await self.layer.group_add(name, self.channel)
                    self._joined.add(name)
                elif not wanted and name in self._joined:
                    self._joined.discard(name)
                    await self.layer.group_discard(name, self.channel)
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[name]

    # -- the layer side ----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        receive = self.layer.receive
        while True:
            try:
                message = await receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pushapp hub %s: receiving from the channel layer failed", self.node_id)
                await asyncio.sleep(1.0)
                continue
            try:
                await self.handle(message)
            except Exception:
                logger.exception("pushapp hub %s: bad layer message %r", self.node_id, message.get("type"))

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "pushapp.push":
            await self._push(message)
        elif kind == "pushapp.ctl":
            self._background(self._control_and_reply(message))
        elif kind == "pushapp.ungroup":
            await self.ungroup(message["g"])
        elif kind == "pushapp.ready":
            self._listening.set()

    def _is_duplicate(self, message_id: str) -> bool:
        now = time.monotonic()
        seen = self._seen
        if message_id in seen:
            return True
        seen[message_id] = now
        for key, at in list(seen.items()):  # oldest first; stop at the first one still fresh
            if now - at < DEDUPE_SECONDS:
                break
            del seen[key]
        return False

    def _targets(self, message: dict[str, Any]) -> Iterable[Connection]:
        kind = message["k"]
        to: list[str] | None = message.get("to")
        if to is None:
            return list(self.clients.values())
        if kind in ("all", "cid"):
            return [c for c in map(self.clients.get, to) if c is not None]
        index = self.uids if kind == "uid" else self.groups
        if len(to) == 1:
            return list(index.get(to[0], ()))
        found: set[Connection] = set()
        for key in to:
            found.update(index.get(key, ()))
        return found

    async def _push(self, message: dict[str, Any]) -> None:
        message_id = message.get("m")
        if message_id and self._is_duplicate(message_id):
            return
        targets = self._targets(message)
        exclude = message.get("x")
        if exclude:
            skip = set(exclude)
            targets = [c for c in targets if c.client_id not in skip]
        await self.deliver(targets, (message.get("t"), message.get("b")))

    async def deliver(self, targets: Iterable[Connection], payload: Payload) -> None:
        """Write one payload to every target; a failing or slow socket only costs itself.

        On daphne the WebSocket frame is encoded once and queued per connection; :meth:`flush_writes`
        then writes each connection's queued frames with one system call, at the end of this loop
        iteration, so a burst of messages costs one write per connection, not one per message.
        Elsewhere the ASGI event, built once, goes through each connection's ``send``.
        """
        frame: bytes | None = None
        event: dict[str, Any] | None = None
        outbox = self._outbox
        delivered = 0
        for conn in targets:
            protocol = conn.protocol
            try:
                if protocol is not None:
                    if frame is None:
                        frame = daphne.encode_frame(*payload)
                    frames = outbox.get(conn)
                    if frames is None:
                        outbox[conn] = [frame]
                    else:
                        frames.append(frame)
                else:
                    if event is None:
                        event = send_event(payload)
                    await conn.send(event)
                delivered += 1
            except Exception:
                self.dropped += 1
                logger.warning("pushapp: dropped a message to %s", conn.client_id, exc_info=True)
        self.delivered += delivered
        if outbox and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush_writes)

    def flush_writes(self) -> None:
        """Write every connection's queued frames. A client whose unsent bytes pass MAX_BUFFERED_BYTES
        does not read: it is closed with 4005 and counted as dropped (bounded memory, no silent loss)."""
        outbox, self._outbox = self._outbox, {}
        self._flush_scheduled = False
        limit = push_settings.MAX_BUFFERED_BYTES
        for conn, frames in outbox.items():
            if not daphne.is_open(conn.protocol):  # closing since: checked once per connection, not per frame
                self.delivered -= len(frames)
                continue
            try:
                if (
                    daphne.write(conn.protocol.transport, frames[0] if len(frames) == 1 else b"".join(frames))
                    <= limit
                ):
                    continue
            except Exception:
                logger.warning("pushapp: dropped a message to %s", conn.client_id, exc_info=True)
            self.dropped += len(frames)
            logger.warning("pushapp: closing %s: it does not read its messages", conn.client_id)
            self._background(self.close(conn, CloseCode.TOO_SLOW))

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks_running.add(task)  # keep a reference until done, or it may be collected
        task.add_done_callback(self._tasks_running.discard)

    async def _control_and_reply(self, message: dict[str, Any]) -> None:
        try:
            value = await self.control(message["op"], message["cid"], message.get("a"))
        except Exception:
            logger.exception("pushapp hub %s: control %r failed", self.node_id, message.get("op"))
            value = None
        reply_to = message.get("r")
        if reply_to:
            await self.layer.send(reply_to, {"type": "pushapp.reply", "i": message.get("i"), "v": value})

    async def control(self, op: str, client_id: str, arg: Any) -> Any:
        """Run one per-connection operation; False (None for reads) when the client is not here."""
        conn = self.clients.get(client_id)
        if conn is None:
            return None if op == "session_get" else False
        if op == "session_get":
            return conn.session
        if op == "join":
            await self.join(conn, arg)
        elif op == "leave":
            await self.leave(conn, arg)
        elif op == "bind":
            await self.bind(conn, arg)
        elif op == "unbind":
            if arg is not None and conn.uid != arg:
                return False
            await self.bind(conn, None)
        elif op == "session_set":
            conn.session = dict(arg)
            await self.presence.session_changed(conn)
        elif op == "session_update":
            conn.session.update(arg)
            await self.presence.session_changed(conn)
        elif op == "close":
            await self.close(conn, CloseCode.NORMAL, None if arg is None else (arg[0], arg[1]))
        elif op == "destroy":
            await self.close(conn, CloseCode.DESTROYED)
        else:
            raise ValueError(f"unknown pushapp control operation {op!r}")
        return True

    # -- timers ------------------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        """Close silent connections (the heartbeat) and keep layer groups from expiring."""
        refreshed = time.monotonic()
        while True:
            interval = push_settings.PING_INTERVAL
            limit = push_settings.PING_NOT_RESPONSE_LIMIT
            await asyncio.sleep(max(interval / 2, 0.05) if interval and limit else 5.0)
            now = time.monotonic()
            if interval and limit:
                deadline = interval * limit
                for conn in [c for c in self.clients.values() if now - c.last_seen > deadline]:
                    await self.close(conn, CloseCode.HEARTBEAT_TIMEOUT)
            expiry = getattr(self.layer, "group_expiry", None)
            if expiry and now - refreshed > expiry / 2:
                refreshed = now
                await self.rejoin_layer_groups()

    async def rejoin_layer_groups(self) -> None:
        """Join our layer groups again: before channels-redis expires them, and after Redis lost them."""
        for name in list(self._joined):
            await self.layer.group_add(name, self.channel)


_hubs: PerLoop[Hub] = PerLoop()


async def get_hub() -> Hub:
    """The running loop's hub, started on first use."""
    return await _hubs.get(lambda: Hub(get_layer()))


def running_hub() -> Hub | None:
    return _hubs.running()


def all_hubs() -> list[Hub]:
    """Every started hub of this process (one per server event loop; usually one)."""
    return _hubs.all()


def hub_loops() -> list[asyncio.AbstractEventLoop]:
    """Loops of this process that run a started hub: where sync callers run their sends."""
    return _hubs.loops()


async def stop_hub(code: int = CloseCode.SERVICE_RESTART) -> None:
    """Stop the running loop's hub: graceful shutdown, and test isolation."""
    hub = _hubs.pop()
    if hub is not None:
        await hub.stop(code)
