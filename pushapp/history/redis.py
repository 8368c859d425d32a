"""History in Redis, on the shard of each stream's layer group, through one Lua script (history.lua).

On the pub/sub layer a push is stored and published in one script call, so no client can see a push that
recovery would not find, or the other way round: the message is serialized here with two markers, which
the script replaces with the stream's new offset and epoch before its ``PUBLISH``. When that is not
possible (the core layer, or an encrypted pub/sub layer) the push is stored first and then sent through
the layer; the receiving hubs put any push that arrives out of order back in order from the history.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import threading
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

import redis
import redis.asyncio as aredis
from channels_redis.utils import _consistent_hash, decode_hosts

from ..protocol.wire import payload_of
from ..runtime.layer import layer_kind
from ..runtime.redis import async_client, sync_client
from . import layer_group_of
from .base import Ask, History, Limits, Position, Read, Sender, decode_entry, encode_entry

SCRIPT = files(__package__).joinpath("history.lua").read_text(encoding="utf-8")

#: Stand-ins for the offset and epoch in a serialized message, replaced by the script. Unique per process
#: and shaped so msgpack writes them at a fixed width: a uint64 (0xcf) and a 16-character str (0xb0).
_OFFSET = secrets.randbits(63) | (1 << 63)
_EPOCH = "".join(secrets.choice(string.ascii_letters[6:26]) for _ in range(16))  # never hex: never an epoch
OFFSET_MARKER = b"\xcf" + _OFFSET.to_bytes(8, "big")
EPOCH_MARKER = b"\xb0" + _EPOCH.encode("ascii")


class RedisHistory(History):
    def __init__(self, config: dict[str, Any]) -> None:
        self.prefix = str(config.get("prefix", "asgi"))
        self.key_prefix = self.prefix + ":pushapp:"
        self.hosts = []
        for host in decode_hosts(config.get("hosts")):
            options = {k: v for k, v in host.items() if k not in ("address", "master_name", "sentinels")}
            self.hosts.append((host["address"], options))
        self._lock = threading.Lock()
        self._sync: list[redis.Redis] = []
        self._async: dict[asyncio.AbstractEventLoop, list[aredis.Redis]] = {}

    @classmethod
    def from_settings(cls, layer_options: dict[str, Any]) -> RedisHistory:
        return cls(layer_options)

    # -- where ------------------------------------------------------------------------------------

    def group_channel(self, group: str) -> str:
        """The pub/sub channel of a layer group, as channels-redis names it."""
        return f"{self.prefix}__group__{group}"

    def shard_of(self, group: str) -> int:
        return int(_consistent_hash(self.group_channel(group), len(self.hosts)))

    def sync_clients(self) -> list[redis.Redis]:
        with self._lock:
            if not self._sync:
                self._sync = [sync_client(url, options) for url, options in self.hosts]
                self._sync_scripts = [client.register_script(SCRIPT) for client in self._sync]
            return self._sync

    def _async_clients(self) -> list[aredis.Redis]:
        loop = asyncio.get_running_loop()
        clients = self._async.get(loop)
        if clients is None:
            for stale in [lp for lp in self._async if lp.is_closed()]:
                del self._async[stale]
            clients = self._async[loop] = [async_client(u, o) for u, o in self.hosts]
        return clients

    # -- appending ----------------------------------------------------------------------------------

    def append_args(
        self, group: str, message: Mapping[str, Any], limits: Limits, serialize: Callable[[Any], bytes] | None
    ) -> list[Any]:
        """The script's arguments for storing ``message``; with ``serialize`` (the pub/sub layer's), also for
        publishing it to ``group``, unless the serialized form hides the markers (encryption)."""
        entry = encode_entry(payload_of(message), message.get("x"))  # type: ignore[arg-type]
        args: list[Any] = ["append", self.key_prefix, message["s"], limits.size, int(limits.ttl) or 1]
        args += [secrets.token_hex(8), entry]
        if serialize is not None:
            data = serialize({**message, "o": _OFFSET, "e": _EPOCH})
            if data.count(OFFSET_MARKER) == 1 and data.count(EPOCH_MARKER) == 1:
                return [*args, self.group_channel(group), data, OFFSET_MARKER, EPOCH_MARKER]
        return [*args, ""]

    async def apublish(self, layer: Sender, group: str, message: Mapping[str, Any], limits: Limits) -> None:
        serialize = getattr(layer, "serialize", None) if layer_kind() == "pubsub" else None
        args = self.append_args(group, message, limits, serialize)
        client = self._async_clients()[self.shard_of(group)]
        offset, epoch = await client.register_script(SCRIPT)(args=args)
        if args[7] == "":  # stored only: send it through the layer now
            await layer.group_send(group, {**message, "o": int(offset), "e": _text(epoch)})

    # -- reading ------------------------------------------------------------------------------------

    @staticmethod
    def _read_args(asks: list[Ask]) -> list[Any]:
        args: list[Any] = []
        for ask in asks:
            since = ask.since
            args += [ask.stream, ask.size, int(ask.ttl) or 1, secrets.token_hex(8)]
            args += ["", 0] if since is None else [since.epoch, since.offset]
        return args

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        by_shard: dict[int, list[Ask]] = {}
        for ask in asks:
            by_shard.setdefault(self.shard_of(layer_group_of(ask.stream)), []).append(ask)
        clients = self._async_clients()

        async def one(shard: int, part: list[Ask]) -> list[tuple[Ask, Any]]:
            script = clients[shard].register_script(SCRIPT)
            rows = await script(args=["read", self.key_prefix, *self._read_args(part)])
            return list(zip(part, rows, strict=True))

        results: dict[str, Read] = {}
        for pairs in await asyncio.gather(*(one(s, part) for s, part in by_shard.items())):
            for ask, row in pairs:
                position = Position(_text(row[0]), int(row[1]))
                entries = None
                if int(row[2]) == 1:
                    first = (ask.since.offset if ask.since else 0) + 1
                    entries = [decode_entry(first + i, raw) for i, raw in enumerate(row[3:])]
                results[ask.stream] = Read(position, entries)
        return results


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
