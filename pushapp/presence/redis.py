"""Presence in Redis: each server process keeps its own keys, refreshed by a heartbeat.

Reads are one Lua script call (one round trip, however many processes there are); sync callers use a
sync client, so no event loop is involved. Writes are queued by the hub and sent in pipelined batches by
one task, off the fan-out path. See docs/presence.md for the model and the crash bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from importlib.resources import files
from typing import Any

import redis
import redis.asyncio as aredis

from ..conf import push_settings
from ..exceptions import PresenceUnavailable
from ..protocol.frames import dumps
from ..runtime.redis import Host, as_host, async_client, layer_hosts, sync_client
from ..runtime.registry import Connection, Registry
from . import events
from .base import ADMISSION_SECONDS, Admission, Backend, EmitFrame, InfoPairs, NodeInfo, OnLost, Writer

logger = logging.getLogger(__name__)

SCRIPT = files(__package__).joinpath("presence.lua").read_text(encoding="utf-8")


def _sha1(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8")).hexdigest()  # matches redis.sha1hex in the script


class RedisBackend(Backend):
    def __init__(self, host: Host, prefix: str) -> None:
        self.host = host
        self.prefix = prefix
        self._lock = threading.Lock()
        self._sync: redis.Redis | None = None
        self._async: dict[asyncio.AbstractEventLoop, aredis.Redis] = {}
        self._batches: set[asyncio.Task[None]] = set()
        self._admissions: dict[asyncio.AbstractEventLoop, list[tuple[Admission, asyncio.Future[str]]]] = {}

    @classmethod
    def from_settings(cls, config: dict[str, Any]) -> RedisBackend:
        """The channel layer's first Redis (or ``PRESENCE_REDIS_URL``), keys under the layer's prefix."""
        prefix = str(config.get("prefix", "asgi")) + ":pushapp:"
        if push_settings.PRESENCE_REDIS_URL:
            return cls(as_host(push_settings.PRESENCE_REDIS_URL), prefix)
        return cls(layer_hosts(config)[0], prefix)

    def _args(self, name: str, args: tuple[str, ...]) -> list[Any]:
        return [name, self.prefix, push_settings.PRESENCE_TTL, *args]

    def sync_client(self) -> redis.Redis:
        with self._lock:
            if self._sync is None:
                self._sync = sync_client(self.host)
                self._sync_script = self._sync.register_script(SCRIPT)
            return self._sync

    def async_client(self) -> aredis.Redis:
        """One client per event loop: redis-py's asyncio connections belong to the loop that made them."""
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            for stale in [lp for lp in self._async if lp.is_closed()]:
                del self._async[stale]
            client = self._async[loop] = async_client(self.host)
        return client

    async def aclose(self) -> None:
        """Close this loop's async client (tests, shutdown)."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def _call(self, name: str, *args: str) -> Any:
        """One operation of presence.lua, from sync code."""
        self.sync_client()
        return _decode(self._sync_script(args=self._args(name, args)))

    async def _acall(self, name: str, *args: str) -> Any:
        script = self.async_client().register_script(SCRIPT)
        return _decode(await script(args=self._args(name, args)))

    def writer(
        self, node_id: str, registry: Registry, info: InfoPairs, on_lost: OnLost, emit: EmitFrame
    ) -> RedisWriter:
        return RedisWriter(self, node_id, registry, info, on_lost, emit)

    async def aadmit(self, admission: Admission) -> str:
        """Admissions asked for in one loop iteration (a reconnect storm's) go to Redis together: one
        script call and one connection for all of them, not a pooled connection each."""
        loop = asyncio.get_running_loop()
        batch = self._admissions.get(loop)
        if batch is None:
            batch = self._admissions[loop] = []
            loop.call_soon(self._start_batch, loop)
        verdict: asyncio.Future[str] = loop.create_future()
        batch.append((admission, verdict))
        return await verdict

    def _start_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._admit_batch(loop))
        self._batches.add(task)  # referenced until done: the loop keeps only a weak reference
        task.add_done_callback(self._batches.discard)

    async def _admit_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._admissions.pop(loop)
        args: list[str] = [str(ADMISSION_SECONDS)]
        for a, _ in batch:
            args += [a.uid, a.client_id, str(a.cap)]
        try:
            verdicts = await self._acall("admit", *args)
        except Exception as err:
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future), verdict in zip(batch, verdicts, strict=True):
            if not future.done():
                future.set_result(verdict)

    async def arevoke(self, keys: list[str], when: float, keep: float) -> None:
        await self._acall("revoke", repr(when), str(keep), *keys)

    async def arevocations(self) -> dict[str, float]:
        return {key: float(when) for key, when in _pairs(await self._acall("revocations")).items()}

    def is_online(self, client_id: str) -> bool:
        return bool(self._call("is_online", client_id))

    async def ais_online(self, client_id: str) -> bool:
        return bool(await self._acall("is_online", client_id))

    def uid_of(self, client_id: str) -> str | None:
        return self._call("uid_of", client_id) or None

    async def auid_of(self, client_id: str) -> str | None:
        return await self._acall("uid_of", client_id) or None

    def uid_client_ids(self, uids: list[str]) -> list[list[str]]:
        return _lists(self._call("uid_cids", *uids))

    async def auid_client_ids(self, uids: list[str]) -> list[list[str]]:
        return _lists(await self._acall("uid_cids", *uids))

    def group_client_ids(self, groups: list[str]) -> list[list[str]]:
        return _lists(self._call("group_cids", *groups))

    async def agroup_client_ids(self, groups: list[str]) -> list[list[str]]:
        return _lists(await self._acall("group_cids", *groups))

    def group_counts(self, groups: list[str]) -> list[int]:
        return [int(n) for n in self._call("group_counts", *groups)]

    async def agroup_counts(self, groups: list[str]) -> list[int]:
        return [int(n) for n in await self._acall("group_counts", *groups)]

    def group_sessions(self, group: str) -> dict[str, dict[str, Any]]:
        return _sessions(self._call("group_sessions", group))

    async def agroup_sessions(self, group: str) -> dict[str, dict[str, Any]]:
        return _sessions(await self._acall("group_sessions", group))

    def group_uids(self, group: str) -> list[str]:
        return list(self._call("group_uids", group))

    async def agroup_uids(self, group: str) -> list[str]:
        return list(await self._acall("group_uids", group))

    def all_uids(self) -> list[str]:
        return list(self._call("all_uids"))

    async def aall_uids(self) -> list[str]:
        return list(await self._acall("all_uids"))

    def all_groups(self) -> list[str]:
        return list(self._call("all_groups"))

    async def aall_groups(self) -> list[str]:
        return list(await self._acall("all_groups"))

    def all_group_members(self, uids: bool) -> dict[str, list[str]]:
        return _members(self._call("all_group_members", "uids" if uids else "cids"))

    async def aall_group_members(self, uids: bool) -> dict[str, list[str]]:
        return _members(await self._acall("all_group_members", "uids" if uids else "cids"))

    async def anode_alive(self, node_id: str) -> bool:
        return bool(await self._acall("node_alive", node_id))

    def nodes(self) -> list[NodeInfo]:
        return _nodes(self._call("nodes"))

    async def anodes(self) -> list[NodeInfo]:
        return _nodes(await self._acall("nodes"))


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _lists(value: list[Any]) -> list[list[str]]:
    return [list(item) for item in value]


def _sessions(flat: list[Any]) -> dict[str, dict[str, Any]]:
    return {cid: json.loads(raw) if raw else {} for cid, raw in _pairs(flat).items()}


def _members(flat: list[Any]) -> dict[str, list[str]]:
    return {group: list(members) for group, members in _pairs(flat).items()}


def _nodes(flat: list[Any]) -> list[NodeInfo]:
    return [
        NodeInfo(node, float(age), _pairs(pairs))
        for node, age, pairs in zip(flat[::3], flat[1::3], flat[2::3], strict=True)
    ]


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


#: Commands that take any number of field/value pairs or members after their key.
_VARIADIC = {"HSET": 2, "HDEL": 1, "SADD": 1, "SREM": 1}


def compact(commands: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The same writes in fewer commands: a command joins an earlier one of the same verb on the same
    key when nothing else touched that key in between (a connection storm's HSETs and SADDs of one
    batch become one of each; keys are independent, so only the order on each key must hold)."""
    out: list[list[Any]] = []
    last: dict[Any, tuple[str, int]] = {}  # key -> (verb, index in out) of the last command on it
    for command in commands:
        verb, key = command[0], command[1]
        previous = last.get(key)
        if previous is not None and previous[0] == verb and verb in _VARIADIC:
            out[previous[1]].extend(command[2:])
            continue
        last[key] = (verb, len(out))
        out.append(list(command))
    return [tuple(command) for command in out]


#: A batch written less than this long after the one before waits :data:`LINGER_SECONDS` for company.
BURST_SECONDS = 0.05
LINGER_SECONDS = 0.002


class RedisWriter(Writer):
    """Queues a hub's presence writes and sends them in pipelined batches; keeps the heartbeat."""

    def __init__(
        self,
        backend: RedisBackend,
        node_id: str,
        registry: Registry,
        info: InfoPairs,
        on_lost: OnLost,
        emit: EmitFrame,
    ) -> None:
        self.backend = backend
        self.node = node_id
        self.registry = registry
        self.info = info
        self.on_lost = on_lost
        self._queue: list[tuple[Any, ...]] = []
        self._deltas: list[str] = []  # presence-event deltas, counted by the script with the batch
        self.emitter = events.Emitter(emit)
        self._waiters: list[tuple[asyncio.Future[None], bool]] = []  # and whether it is strict
        self._wake = asyncio.Event()
        self._resync = True  # the first batch registers the node
        self._tasks: list[asyncio.Task[None]] = []

    def _key(self, suffix: str) -> str:
        return f"{self.backend.prefix}n:{self.node}:{suffix}"

    async def _call(self, name: str, *args: str, client: Any = None) -> Any:
        """Run one script operation (queued, when ``client`` is a pipeline); reloads the script after a
        Redis restart emptied its script cache."""
        return await self._script(args=self.backend._args(name, args), client=client)

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.client = self.backend.async_client()
        self._script = self.client.register_script(SCRIPT)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"pushapp-presence-{self.node}"),
            asyncio.create_task(self._heartbeat_loop(), name=f"pushapp-heartbeat-{self.node}"),
        ]
        await self._commit([])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            self.emitter.emit(_decode(await self._call("drop", self.node)))
        except Exception:
            logger.warning("pushapp: could not remove presence of %s; it expires on its own", self.node)
        await self.emitter.drain()

    async def resync(self) -> None:
        self._resync = True
        await self._commit([], strict=True)

    # -- the queue -------------------------------------------------------------------------------------

    async def _commit(
        self, commands: list[tuple[Any, ...]], deltas: list[str] | None = None, strict: bool = False
    ) -> None:
        """Queue ``commands`` and presence-event ``deltas``; wait until the batch holding them is written.
        ``strict``: raise :class:`PresenceUnavailable` if it could not be (else the resync repairs it)."""
        self._queue += commands
        self._deltas += deltas or ()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((waiter, strict))
        self._wake.set()
        await waiter

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._wake.wait()
            if loop.time() - last < BURST_SECONDS:
                # Writes come in a stream (a reconnect storm, a drain): let the next ones join this batch.
                # A pipeline's round trip costs a connect as much CPU as the rest of its presence work.
                await asyncio.sleep(LINGER_SECONDS)
            last = loop.time()
            self._wake.clear()
            commands, self._queue = self._queue, []
            deltas, self._deltas = self._deltas, []
            waiters, self._waiters = self._waiters, []
            try:
                if self._resync:
                    await self._write_everything()
                elif commands or deltas:
                    pipe = self.client.pipeline(transaction=False)
                    for command in compact(commands):
                        pipe.execute_command(*command)
                    if deltas:
                        # EVALSHA as a plain command: a script registered with the pipeline costs a
                        # SCRIPT EXISTS round trip per batch. If Redis lost its scripts it lost this
                        # node's keys too: the error leads to the resync, which loads the script.
                        args = self.backend._args("count", (self.node, *deltas))
                        pipe.execute_command("EVALSHA", self._script.sha, 0, *args)
                    results = await pipe.execute()
                    if deltas:
                        self.emitter.emit(_decode(results[-1]))
            except asyncio.CancelledError:
                raise
            except Exception as err:
                # Redis is away: the hub keeps serving; the next heartbeat writes everything again. A new
                # connection waiting on this batch is told (it is refused with 1013, and undone).
                logger.warning("pushapp: presence write failed; will resync: %s", err)
                self._resync = True
                for waiter, strict in waiters:
                    if not waiter.done():
                        if strict:
                            waiter.set_exception(PresenceUnavailable(str(err)))
                        else:
                            waiter.set_result(None)
                continue
            for waiter, _ in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _write_everything(self) -> None:
        """Replace this node's keys with the hub's state, atomically (MULTI/EXEC)."""
        pipe = self.client.pipeline(transaction=True)
        await self._call("drop", self.node, client=pipe)
        deltas: list[str] = []
        for conn in self.registry:
            for command in self._connection_commands(conn):
                pipe.execute_command(*command)
            deltas += events.connected(conn)
        await self._call("register", self.node, *self.info(), client=pipe)
        await self._call("count", self.node, *deltas, client=pipe)
        results = await pipe.execute()
        self._resync = False
        # Dropped and counted again in one transaction: only uids that came or went in between changed.
        self.emitter.emit(events.net(_decode(results[0]) + _decode(results[-1])))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(push_settings.PRESENCE_TTL / 3)
            try:
                known, reaped = _decode(await self._call("heartbeat", self.node, *self.info()))
                self.emitter.emit(reaped)  # the counts of dead nodes this heartbeat reaped
                if not known:
                    logger.warning("pushapp: presence of %s was lost (Redis restart?); resyncing", self.node)
                    self._resync = True
                    await self.on_lost()  # a layer keeping groups in Redis lost them too
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("pushapp: presence heartbeat failed", exc_info=True)
                self._resync = True
                continue
            if self._resync:
                await self._commit([])

    # -- commands --------------------------------------------------------------------------------------

    def _connection_commands(self, conn: Connection) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = [("HSET", self._key("c"), conn.client_id, conn.uid or "")]
        if conn.uid is not None:
            commands += [
                ("SADD", self._key("u:" + _sha1(conn.uid)), conn.client_id),
                ("SADD", self._key("uids"), conn.uid),
            ]
        for group in conn.groups:
            commands += self._join_commands(conn, group)
        if conn.session:
            commands.append(("HSET", self._key("s"), conn.client_id, dumps(conn.session)))
        return commands

    def _join_commands(self, conn: Connection, group: str) -> list[tuple[Any, ...]]:
        return [
            ("SADD", self._key("g:" + _sha1(group)), conn.client_id),
            ("SADD", self._key("groups"), group),
        ]

    def _leave_commands(self, cid: str, group: str) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = [("SREM", self._key("g:" + _sha1(group)), cid)]
        if not self.registry.has_group(group):
            commands.append(("SREM", self._key("groups"), group))
        return commands

    def _unbind_commands(self, cid: str, uid: str) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = [("SREM", self._key("u:" + _sha1(uid)), cid)]
        if not self.registry.has_uid(uid):
            commands.append(("SREM", self._key("uids"), uid))
        return commands

    async def connected(self, conn: Connection) -> None:
        """Raises :class:`PresenceUnavailable` when Redis did not take it: the connection is refused."""
        await self._commit(self._connection_commands(conn), events.connected(conn), strict=True)

    async def disconnected(self, conn: Connection, uid: str | None, groups: list[str]) -> None:
        commands: list[tuple[Any, ...]] = [
            ("HDEL", self._key("c"), conn.client_id),
            ("HDEL", self._key("s"), conn.client_id),
        ]
        if uid is not None:
            commands += self._unbind_commands(conn.client_id, uid)
        for group in groups:
            commands += self._leave_commands(conn.client_id, group)
        await self._commit(commands, events.disconnected(uid, groups))

    async def joined(self, conn: Connection, group: str) -> None:
        await self._commit(self._join_commands(conn, group), events.joined(conn, group))

    async def left(self, conn: Connection, group: str) -> None:
        await self._commit(self._leave_commands(conn.client_id, group), events.left(conn, group))

    async def bound(self, conn: Connection, old_uid: str | None) -> None:
        commands: list[tuple[Any, ...]] = [("HSET", self._key("c"), conn.client_id, conn.uid or "")]
        if old_uid is not None:
            commands += self._unbind_commands(conn.client_id, old_uid)
        if conn.uid is not None:
            commands += [
                ("SADD", self._key("u:" + _sha1(conn.uid)), conn.client_id),
                ("SADD", self._key("uids"), conn.uid),
            ]
        await self._commit(commands, events.bound(conn, old_uid))

    async def session_changed(self, conn: Connection) -> None:
        if conn.session:
            await self._commit([("HSET", self._key("s"), conn.client_id, dumps(conn.session))])
        else:
            await self._commit([("HDEL", self._key("s"), conn.client_id)])

    async def ungrouped(self, group: str, conns: list[Connection]) -> None:
        await self._commit(
            [("DEL", self._key("g:" + _sha1(group))), ("SREM", self._key("groups"), group)],
            events.ungrouped(group, conns),
        )
