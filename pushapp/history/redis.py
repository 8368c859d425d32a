"""History in Redis, on the shard of each stream's layer group, through one Lua script (history.lua).

The store stores; the sender carries. On the pub/sub layer the carrier stores and publishes a push in one
call of this store's script, so no client can see a push that recovery would not find, or the other way
round: it serializes the message with two markers (:func:`marked`), which the script replaces with the
stream's new offset and epoch before its ``PUBLISH``; this module gives it the arguments
(:func:`append_args`). When that is not possible (the core layer, or an encrypted pub/sub layer) the push
is stored (:meth:`RedisHistory.astore`) and then sent through the layer; the receiving hubs put any push
that arrives out of order back in order from the history.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

from channels_redis.utils import _consistent_hash

from ..protocol.wire import payload_of
from ..runtime import telemetry
from ..runtime.redis import LoopClients, layer_hosts
from . import layer_group_of
from .base import Ask, Due, Guard, History, Limits, Position, Read, decode_entry, encode_entry, new_epoch

SCRIPT = files(__package__).joinpath("history.lua").read_text(encoding="utf-8")

#: Stand-ins for the offset and epoch in a serialized message, replaced by the script. Unique per process
#: and shaped so msgpack writes them at a fixed width: a uint64 (0xcf) and a 16-character str (0xb0).
_OFFSET = secrets.randbits(63) | (1 << 63)
_EPOCH = "".join(secrets.choice(string.ascii_letters[6:26]) for _ in range(16))  # never hex: never an epoch
OFFSET_MARKER = b"\xcf" + _OFFSET.to_bytes(8, "big")
EPOCH_MARKER = b"\xb0" + _EPOCH.encode("ascii")


def key_prefix(layer_prefix: str) -> str:
    """Where the history keys live: under the channel layer's prefix."""
    return layer_prefix + ":pushapp:"


def marked(message: Mapping[str, Any], serialize: Callable[[Any], bytes]) -> bytes | None:
    """``message`` serialized by the pub/sub layer with the markers for its offset and epoch, for the script
    to splice; None when the serialized form hides them (an encrypted layer)."""
    data = serialize({**message, "o": _OFFSET, "e": _EPOCH})
    return data if data.count(OFFSET_MARKER) == 1 and data.count(EPOCH_MARKER) == 1 else None


#: The script's answers to ``append`` besides a store, and what each is counted as in ``drops``.
DUPLICATE, STALE = 1, 2
DROPS = {DUPLICATE: "duplicate", STALE: "version"}


def append_args(
    prefix: str,
    message: Mapping[str, Any],
    limits: Limits,
    publish: tuple[str, bytes] | None = None,
    guard: Guard | None = None,
) -> list[Any]:
    """The script's arguments that store ``message`` under the key prefix ``prefix``; with ``publish`` (a
    channel and the message as :func:`marked` serialized it), that also ``PUBLISH`` it there, in the same
    call; with ``guard``, that claim its idempotency key and schedule its deadline in the same call too.
    The script answers the stream's new offset and epoch, and 0 (or :data:`DUPLICATE`, :data:`STALE`)."""
    version = message.get("v")
    entry = encode_entry(payload_of(message), message.get("x"), version)  # type: ignore[arg-type]
    args: list[Any] = ["append", prefix, message["s"], limits.size, int(limits.ttl) or 1]
    args += [new_epoch(), entry]
    guard = guard or NO_GUARD
    args += ["" if guard.key is None else guard.key, max(int(guard.key_ttl), 1)]
    args += ["" if version is None else version]
    args += ["" if guard.ack_within is None else max(int(guard.ack_within * 1000), 1)]
    if publish is None:
        return [*args, ""]
    return [*args, *publish, OFFSET_MARKER, EPOCH_MARKER]


def once_args(
    prefix: str, key: str, ttl: float, publishes: list[tuple[str, bytes]], token: str = ""
) -> list[Any]:
    """The script's arguments that claim ``key`` and, only if it was not claimed yet, publish each
    ``(channel, message)``: an idempotent send without history in one call. It answers 1, or 0. With a
    ``token``, a key claimed with the same token counts as claimed by this call (a retry)."""
    args: list[Any] = ["once", prefix, key, max(int(ttl), 1), token]
    for channel, data in publishes:
        args += [channel, data]
    return args


NO_GUARD = Guard()


class RedisHistory(History):
    def __init__(self, config: dict[str, Any]) -> None:
        self.prefix = str(config.get("prefix", "asgi"))
        self.key_prefix = key_prefix(self.prefix)
        self.clients = LoopClients(layer_hosts(config))

    @classmethod
    def from_settings(cls, layer_options: dict[str, Any]) -> RedisHistory:
        return cls(layer_options)

    # -- where ------------------------------------------------------------------------------------

    def group_channel(self, group: str) -> str:
        """The pub/sub channel of a layer group, as channels-redis names it."""
        return f"{self.prefix}__group__{group}"

    def shard_of(self, group: str) -> int:
        return int(_consistent_hash(self.group_channel(group), len(self.clients.hosts)))

    # -- storing ------------------------------------------------------------------------------------

    def _script(self, stream: str) -> Any:
        return self.clients.get()[self.shard_of(layer_group_of(stream))].register_script(SCRIPT)

    async def astore(
        self, message: Mapping[str, Any], limits: Limits, guard: Guard | None = None
    ) -> dict[str, Any] | None:
        offset, epoch, status = await self._script(message["s"])(
            args=append_args(self.key_prefix, message, limits, None, guard)
        )
        if int(status):
            telemetry.stats.drops[DROPS[int(status)]] += 1
            return None
        return {**message, "o": int(offset), "e": _text(epoch)}

    async def aclaim(self, key: str, ttl: float, token: str = "") -> bool:
        """On the shard the key's name hashes to (a send without history has no stream to go with)."""
        client = self.clients.get()[self.shard_of(key)]
        claimed = await client.register_script(SCRIPT)(args=once_args(self.key_prefix, key, ttl, [], token))
        if not int(claimed):
            telemetry.stats.drops["duplicate"] += 1
        return bool(int(claimed))

    # -- acknowledgements and deadlines -------------------------------------------------------------------

    async def aack(self, stream: str, uid: str, offset: int, ttl: float) -> bool:
        args = ["ack", self.key_prefix, stream, uid, offset, int(ttl) or 1]
        return bool(int(await self._script(stream)(args=args)))

    async def aacked(self, stream: str, uid: str) -> int | None:
        found = await self._script(stream)(args=["acked", self.key_prefix, stream, uid])
        return None if found is None else int(found)

    async def adue(self, limit: int = 100) -> list[Due]:
        due = []
        for client in self.clients.get():
            rows = await client.register_script(SCRIPT)(args=["due", self.key_prefix, limit])
            for stream, offset, raw in rows:
                entry = decode_entry(int(offset), raw)
                due.append(Due(_text(stream), entry.offset, entry.payload))
        return due

    # -- reading ------------------------------------------------------------------------------------

    @staticmethod
    def _read_args(asks: list[Ask]) -> list[Any]:
        args: list[Any] = []
        for ask in asks:
            since = ask.since
            args += [ask.stream, ask.size, int(ask.ttl) or 1, new_epoch()]
            if ask.last:
                args += ["*", 0]
            else:
                args += ["", 0] if since is None else [since.epoch, since.offset]
        return args

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        by_shard: dict[int, list[Ask]] = {}
        for ask in asks:
            by_shard.setdefault(self.shard_of(layer_group_of(ask.stream)), []).append(ask)
        clients = self.clients.get()

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
                    first = (
                        position.offset - len(row) + 4
                        if ask.last
                        else (ask.since.offset if ask.since else 0) + 1
                    )
                    entries = [decode_entry(first + i, raw) for i, raw in enumerate(row[3:])]
                results[ask.stream] = Read(position, entries)
        return results


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
