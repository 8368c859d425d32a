"""Carrying a send's layer operations: awaited through the channel layer or, for sync callers on the
channels-redis pub/sub layer, handed to :mod:`pushapp.redis.publisher`, which publishes straight to Redis.
Every other layer goes through its own API on the twins' loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import TYPE_CHECKING

from channels.exceptions import ChannelFull

from . import telemetry
from .layer import ChannelLayer, get_layer, layer_kind, layer_options
from .twins import target_loop
from .wire import Op

if TYPE_CHECKING:
    from .redis.publisher import DirectPublisher

logger = logging.getLogger(__name__)


async def apublish(ops: list[Op]) -> None:
    layer = get_layer()
    for method, name, message in ops:
        try:
            if method == "group_send":
                await layer.group_send(name, message)
            else:
                await layer.send(name, message)
        except ChannelFull:
            # Only a hub channel nobody reads fills up: its server is gone. The message reaches nobody.
            logger.warning("pushapp: dropped a message to %s: nobody is reading it", name)
            telemetry.stats.drops["limit"] += 1


def publish(ops: list[Op]) -> None:
    layer = get_layer()
    direct = _direct_publisher(layer)
    if direct is not None:
        direct.publish(ops)
    else:
        asyncio.run_coroutine_threadsafe(apublish(ops), target_loop()).result()


def flush(timeout: float | None = None) -> None:
    """Wait until this process's queued sync sends are written to Redis; raise
    :class:`~pushapp.exceptions.PushappError` if some could not be. A no-op on layers that send at once."""
    direct = _direct_publisher(get_layer())
    if direct is not None:
        direct.flush(timeout)


_lock = threading.Lock()
_direct: weakref.WeakKeyDictionary[ChannelLayer, DirectPublisher | None] = weakref.WeakKeyDictionary()


def _direct_publisher(layer: ChannelLayer) -> DirectPublisher | None:
    with _lock:
        if layer not in _direct:
            publisher = None
            if layer_kind() == "pubsub":
                from .redis.publisher import DirectPublisher  # needs the redis extra

                publisher = DirectPublisher(layer, layer_options())  # layer.serialize() encrypts, if set
            _direct[layer] = publisher
        return _direct[layer]
