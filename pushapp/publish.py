"""Carrying a send's layer operations: awaited through the channel layer or, for sync callers on the
channels-redis pub/sub layer, published straight to Redis with a sync client.

The pub/sub layer's wire format is two lines — ``PUBLISH <channel> <layer.serialize(message)>``, groups on
``<prefix>__group__<group>`` — so a sync caller (a WSGI view, a Celery task) need not hop to an event loop
thread for every send: one round trip on a sync connection, pipelined when a send has several operations.
Every other layer goes through its own API on the bridge loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any

import redis
from channels.exceptions import ChannelFull
from django.conf import settings

from .bridge import target_loop
from .conf import push_settings
from .layer import get_layer

logger = logging.getLogger(__name__)

#: ("send", channel, message) or ("group_send", group, message)
Op = tuple[str, str, dict[str, Any]]


async def apublish(ops: list[Op]) -> None:
    layer = get_layer()
    for method, name, message in ops:
        try:
            await getattr(layer, method)(name, message)
        except ChannelFull:
            # Only a hub channel nobody reads fills up: its server is gone. The message reaches nobody.
            logger.warning("pushapp: dropped a message to %s: nobody is reading it", name)


def publish(ops: list[Op]) -> None:
    layer = get_layer()
    direct = _direct_publisher(layer)
    if direct is not None:
        direct.publish(ops)
    else:
        asyncio.run_coroutine_threadsafe(apublish(ops), target_loop()).result()


class DirectPublisher:
    """PUBLISH as ``RedisPubSubChannelLayer`` does it, from sync code, on sync connections."""

    def __init__(self, layer: Any, config: dict[str, Any]) -> None:
        from channels_redis.utils import _consistent_hash, decode_hosts

        self.serialize = layer.serialize
        self.prefix = str(config.get("prefix", "asgi"))
        self.shard_of = _consistent_hash
        self.clients = []
        for host in decode_hosts(config.get("hosts")):
            options = {k: v for k, v in host.items() if k not in ("address", "master_name", "sentinels")}
            self.clients.append(redis.Redis.from_url(host["address"], **options))

    def _target(self, method: str, name: str) -> tuple[redis.Redis, str]:
        channel = f"{self.prefix}__group__{name}" if method == "group_send" else name
        return self.clients[self.shard_of(channel, len(self.clients))], channel

    def publish(self, ops: list[Op]) -> None:
        if len(ops) == 1:
            client, channel = self._target(ops[0][0], ops[0][1])
            client.publish(channel, self.serialize(ops[0][2]))
            return
        pipes: dict[int, Any] = {}
        for method, name, message in ops:
            client, channel = self._target(method, name)
            pipe = pipes.setdefault(id(client), client.pipeline(transaction=False))
            pipe.publish(channel, self.serialize(message))
        for pipe in pipes.values():
            pipe.execute()


_lock = threading.Lock()
_publishers: weakref.WeakKeyDictionary[Any, DirectPublisher | None] = weakref.WeakKeyDictionary()


def _direct_publisher(layer: Any) -> DirectPublisher | None:
    with _lock:
        if layer not in _publishers:
            publisher = None
            if type(layer).__module__ == "channels_redis.pubsub":
                config = settings.CHANNEL_LAYERS[push_settings.CHANNEL_LAYER].get("CONFIG", {})
                publisher = DirectPublisher(layer, config)  # layer.serialize() encrypts, if configured
            _publishers[layer] = publisher
        return _publishers[layer]
