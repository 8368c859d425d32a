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
from ..runtime.redis import LoopClients, layer_hosts
from . import layer_group_of
from .base import Ask, History, Limits, Position, Read, decode_entry, encode_entry

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


def append_args(
    prefix: str, message: Mapping[str, Any], limits: Limits, publish: tuple[str, bytes] | None = None
) -> list[Any]:
    """The script's arguments that store ``message`` under the key prefix ``prefix``; with ``publish`` (a
    channel and the message as :func:`marked` serialized it), that also ``PUBLISH`` it there, in the same
    call. The script answers the stream's new offset and epoch."""
    entry = encode_entry(payload_of(message), message.get("x"))  # type: ignore[arg-type]
    args: list[Any] = ["append", prefix, message["s"], limits.size, int(limits.ttl) or 1]
    args += [secrets.token_hex(8), entry]
    if publish is None:
        return [*args, ""]
    return [*args, *publish, OFFSET_MARKER, EPOCH_MARKER]


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

    async def astore(self, message: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
        client = self.clients.get()[self.shard_of(layer_group_of(message["s"]))]
        offset, epoch = await client.register_script(SCRIPT)(
            args=append_args(self.key_prefix, message, limits)
        )
        return {**message, "o": int(offset), "e": _text(epoch)}

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
                    first = (ask.since.offset if ask.since else 0) + 1
                    entries = [decode_entry(first + i, raw) for i, raw in enumerate(row[3:])]
                results[ask.stream] = Read(position, entries)
        return results


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
