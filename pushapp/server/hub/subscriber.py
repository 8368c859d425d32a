"""The hub's reads on the channels-redis pub/sub layer, straight from Redis.

channels-redis hands each message over through redis-py's ``PubSub.get_message``: a timeout context, a
retry wrapper and a logger lookup per message, 42 µs of CPU each on the benchmark machine, the top cost
of a server receiving unicasts. Here one connection per shard subscribes the hub's channel and layer
groups, hiredis parses whatever arrived in ``data_received`` and each message is handed on at once: about
1 µs. Sends still go through the layer; the wire format (channel names, serializer) is the layer's own.

Connections that lost Redis reconnect by themselves and subscribe again; the hub's probe notices what
was missed meanwhile and heals (docs/recovery.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis
from channels_redis.utils import _consistent_hash, decode_hosts
from redis.exceptions import RedisError

from ...runtime.redis import amaster_address

logger = logging.getLogger(__name__)

#: Seconds to wait for Redis to confirm a SUBSCRIBE (or to connect) before calling it unreachable.
CONFIRM_TIMEOUT = 5.0
#: Seconds between two attempts to reach Redis again after a connection dropped (doubling up to the max).
RETRY_FIRST, RETRY_MAX = 0.1, 2.0


_PLAIN = {"address", "host", "port", "db", "password", "username", "client_name"}
_SENTINEL = {"master_name", "sentinels", "sentinel_kwargs"}


def _address(host: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where and how to connect, from one of the layer's ``hosts``; None for what this reader does not
    speak (TLS, options it does not know): the layer's own reader is used then. A Sentinel host is asked
    where its master is at every connect, so a reconnect after a failover finds the new master."""
    if set(host) - _PLAIN - _SENTINEL:
        return None
    target: dict[str, Any] = {
        "password": host.get("password"),
        "username": host.get("username"),
        "client_name": host.get("client_name"),
    }
    if "master_name" in host:
        target["sentinel"] = host
        return target
    address = host.get("address")
    if address is None and isinstance(host.get("host"), str):  # a (host, port) pair in ``hosts``
        target.update(host=host["host"], port=int(host.get("port") or 6379))
        return target
    if not isinstance(address, str):
        return None
    url = urlparse(address)
    target["password"] = target["password"] or (unquote(url.password) if url.password else None)
    target["username"] = target["username"] or (unquote(url.username) if url.username else None)
    if url.scheme == "redis":
        target.update(host=url.hostname or "localhost", port=url.port or 6379)
    elif url.scheme == "unix":
        target.update(path=url.path)
    else:
        return None
    return target


def direct_config(config: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The connection targets of a pub/sub layer's ``CONFIG``, or None if one of them is not plain."""
    targets = [_address(host) for host in decode_hosts(config.get("hosts"))]
    return None if any(t is None for t in targets) else targets  # type: ignore[return-value]


class _Link(asyncio.Protocol):
    """One TCP connection of a shard, with its own parser: a late ``connection_lost`` of a connection
    already replaced never touches the one that replaced it."""

    def __init__(self, shard: _Shard) -> None:
        self.shard = shard
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []  # commands of this loop iteration, written together

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: bytes) -> None:
        """Write ``packed`` with the other commands of this loop iteration: a reconnect storm's
        subscriptions then cost one system call per iteration, not one each."""
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(packed)

    def flush(self) -> None:
        data, self.pending = b"".join(self.pending), []
        if self.transport is not None:
            self.transport.write(data)  # else the connection is gone, and so are its waiters

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        self.shard.replies(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.shard.lost(self, exc)


class _Shard:
    """The Redis connection holding this hub's subscriptions on one shard."""

    def __init__(self, target: dict[str, Any], on_message: Any) -> None:
        self.target = target
        self.on_message = on_message
        self.channels: set[str] = set()  # confirmed subscriptions, subscribed again after a reconnect
        self.link: _Link | None = None
        self._waiting: dict[tuple[bytes, bytes], deque[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()
        self._closing = False
        self._reconnecting: asyncio.Task[None] | None = None

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.link.transport if self.link is not None else None

    # -- the connection ----------------------------------------------------------------------------

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        target = self.target
        link = _Link(self)
        if "path" in target:
            connecting = loop.create_unix_connection(lambda: link, target["path"])
        else:
            if "sentinel" in target:
                try:
                    where = await asyncio.wait_for(amaster_address(target["sentinel"]), CONFIRM_TIMEOUT)
                except RedisError as err:  # no Sentinel answers, or none knows a master
                    raise ConnectionError(f"no Redis master from the Sentinels: {err}") from err
            else:
                where = target["host"], target["port"]
            connecting = loop.create_connection(lambda: link, *where)
        await asyncio.wait_for(connecting, CONFIRM_TIMEOUT)
        self.link = link
        commands = []
        if target["password"]:
            auth = [target["username"], target["password"]] if target["username"] else [target["password"]]
            commands.append(("AUTH", *auth))
        if target["client_name"]:
            commands.append(("CLIENT", "SETNAME", target["client_name"]))
        for command in commands:  # their replies come before any subscription's
            self._write(command)
        if self.channels:
            await self._command("SUBSCRIBE", list(self.channels))

    def lost(self, link: _Link, exc: Exception | None) -> None:
        if link is not self.link:
            return  # an earlier connection, replaced already
        self.link = None
        self._fail_waiters("the connection to Redis was lost")
        if not self._closing and self._reconnecting is None:
            logger.warning("pushapp: lost the pub/sub connection to Redis (%s); reconnecting", exc)
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        delay = RETRY_FIRST
        try:
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    async with self._lock:
                        if self.transport is None:
                            await self._connect()
                    logger.warning("pushapp: the pub/sub connection to Redis is back")
                    return
                except (OSError, TimeoutError, ConnectionError):
                    self._drop()
                    delay = min(RETRY_MAX, delay * 2)
        finally:
            self._reconnecting = None

    def _drop(self) -> None:
        link, self.link = self.link, None
        if link is not None and link.transport is not None:
            link.transport.abort()
        self._fail_waiters("the connection to Redis was dropped")
        if link is not None and not self._closing and self._reconnecting is None:
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    def _fail_waiters(self, why: str) -> None:
        """Commands waiting for a confirmation on a connection that is gone get none: they fail."""
        for waiters in self._waiting.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionError(why))
        self._waiting.clear()

    def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        self._drop()

    # -- commands ---------------------------------------------------------------------------------

    def _write(self, command: tuple[Any, ...]) -> None:
        link = self.link
        if link is None or link.transport is None:
            raise ConnectionError("not connected to Redis")
        link.send(hiredis.pack_command(command))

    async def _command(self, verb: str, channels: list[str]) -> None:
        """SUBSCRIBE or UNSUBSCRIBE ``channels``; returns once Redis confirmed each."""
        loop = asyncio.get_running_loop()
        kind = verb.lower().encode()
        waiters = []
        for channel in channels:
            waiter = loop.create_future()
            self._waiting.setdefault((kind, channel.encode()), deque()).append(waiter)
            waiters.append(waiter)
        self._write((verb, *channels))
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT):  # no gather or task for the usual one channel
                for waiter in waiters:
                    await waiter
        except TimeoutError:
            self._drop()  # Redis does not answer: start over on a new connection
            raise

    async def subscribe(self, channel: str) -> None:
        """Subscribe ``channel``, again if it is already: Redis's confirmation then proves the connection
        alive. The probe's rejoin relies on it: a connection that went silent without closing (a network
        cut) times out here, is dropped and made anew, with every subscription."""
        if self.transport is not None and not self._lock.locked():  # connected: no lock to wait for
            await self._command("SUBSCRIBE", [channel])
            self.channels.add(channel)
            return
        async with self._lock:
            if self.transport is None:
                try:
                    await self._connect()
                except BaseException:
                    self._drop()
                    raise
            await self._command("SUBSCRIBE", [channel])
            self.channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        if self.transport is not None and not self._lock.locked():
            if channel in self.channels:
                self.channels.discard(channel)
                await self._command("UNSUBSCRIBE", [channel])
            return
        async with self._lock:
            if channel in self.channels:
                self.channels.discard(channel)
                if self.transport is not None:
                    await self._command("UNSUBSCRIBE", [channel])

    # -- replies ----------------------------------------------------------------------------------

    def replies(self, link: _Link) -> None:
        if link is not self.link:
            return  # a replaced connection's last bytes
        gets = link.reader.gets
        on_message = self.on_message
        while (reply := gets()) is not False:
            if type(reply) is list and reply:
                kind = reply[0]
                if kind == b"message":
                    on_message(reply[2])
                    continue
                if kind in (b"subscribe", b"unsubscribe"):
                    waiters = self._waiting.get((kind, reply[1]))
                    if waiters:
                        waiter = waiters.popleft()
                        if not waiters:
                            del self._waiting[(kind, reply[1])]
                        if not waiter.done():
                            waiter.set_result(None)
                    continue
            if isinstance(reply, hiredis.ReplyError):
                logger.error("pushapp: Redis refused a pub/sub command: %s", reply)
                self._drop()
                return


class HubLayer:
    """The channel layer as one hub uses it: sends through channels-redis's pub/sub layer; receiving and
    group membership on this loop's own connections, one per shard, hashed as channels-redis hashes."""

    def __init__(self, layer: Any, config: Mapping[str, Any], targets: list[dict[str, Any]]) -> None:
        self.layer = layer
        self.prefix = str(config.get("prefix", "asgi"))
        self.deserialize = layer.deserialize
        self._shards = [_Shard(target, self._arrived) for target in targets]
        self._inbox: deque[bytes] = deque()
        self._wakeup: asyncio.Future[None] | None = None

    def _shard(self, channel: str) -> _Shard:
        index: int = _consistent_hash(channel, len(self._shards))
        return self._shards[index]

    def _arrived(self, data: bytes) -> None:
        self._inbox.append(data)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def send(self, channel: str, message: Mapping[str, Any]) -> None:
        await self.layer.send(channel, message)

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None:
        await self.layer.group_send(group, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message to the hub's channel or one of its groups (the hub has one channel)."""
        shard = self._shard(channel)
        if channel not in shard.channels:
            await shard.subscribe(channel)
        while not self._inbox:
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        message: dict[str, Any] = self.deserialize(self._inbox.popleft())
        return message

    async def group_add(self, group: str, channel: str) -> None:
        name = f"{self.prefix}__group__{group}"
        await self._shard(name).subscribe(name)

    async def group_discard(self, group: str, channel: str) -> None:
        name = f"{self.prefix}__group__{group}"
        await self._shard(name).unsubscribe(name)

    def close_reads(self) -> None:
        """Close this hub's connections (the hub stops)."""
        for shard in self._shards:
            shard.close()


def hub_layer(layer: Any, config: Mapping[str, Any]) -> HubLayer | None:
    """A :class:`HubLayer` over ``layer`` (channels-redis's pub/sub layer with ``config``), or None when its
    hosts need what only redis-py speaks (TLS): the hub then reads through the layer."""
    targets = direct_config(config)
    return None if targets is None else HubLayer(layer, config, targets)
