"""Carrying a send's layer operations: awaited through the channel layer or, for sync callers on the
channels-redis pub/sub layer, handed to :mod:`pushapp.sender.publisher`, which publishes straight to Redis.
Every other layer goes through its own API on the twins' loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from channels.exceptions import ChannelFull

from .. import history
from ..protocol.wire import Op
from ..runtime import telemetry
from ..runtime.layer import ChannelLayer, get_layer, layer_kind, layer_options, warn_if_unreachable
from ..runtime.twins import target_loop
from . import capture

if TYPE_CHECKING:
    from .publisher import DirectPublisher

logger = logging.getLogger(__name__)


#: Attempts of one layer operation that failed on a dropped connection (Redis restarted, a stale pooled
#: connection): the layer reconnects, so the second one usually goes through. Then the error is raised.
ATTEMPTS = 3


def _transient(err: Exception) -> bool:
    """A lost connection, in redis-py's terms or Python's (without importing redis: it is optional)."""
    return isinstance(err, (ConnectionError, TimeoutError)) or type(err).__name__ in (
        "ConnectionError",
        "TimeoutError",
    )


async def _retrying(call: Callable[[], Awaitable[None]]) -> None:
    for attempt in range(ATTEMPTS):
        try:
            return await call()
        except Exception as err:
            if attempt == ATTEMPTS - 1 or not _transient(err):
                raise
            await asyncio.sleep(0.05 * 2**attempt)


class _RetryingLayer:
    """The layer as the history backend sees it: its sends retried, each on its own, so a push already
    stored is never stored twice."""

    def __init__(self, layer: ChannelLayer) -> None:
        self.layer = layer
        self.serialize = getattr(layer, "serialize", None)

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None:
        await _retrying(lambda: self.layer.group_send(group, message))


async def _publish_one(layer: ChannelLayer, method: str, name: str, message: Mapping[str, Any]) -> None:
    if method == "history" and (limits := history.config().for_stream(message["s"])) is not None:
        await history.get_history().apublish(_RetryingLayer(layer), name, message, limits)
    elif method == "send":
        await _retrying(lambda: layer.send(name, message))
    else:
        await _retrying(lambda: layer.group_send(name, message))


def _captured(ops: list[Op]) -> bool:
    """Hand ``ops`` to the test recorder, if one is installed; True when they must not be carried out."""
    recorder = capture.active()
    if recorder is None:
        return False
    recorder.record_sends(ops)
    return not recorder.deliver


async def apublish(ops: list[Op]) -> None:
    if not _captured(ops):
        await _carry(ops)


async def _carry(ops: list[Op]) -> None:
    layer = get_layer()
    warn_if_unreachable()
    for method, name, message in ops:
        try:
            await _publish_one(layer, method, name, message)
        except ChannelFull:
            # Only a hub channel nobody reads fills up: its server is gone. The message reaches nobody.
            logger.warning("pushapp: dropped a message to %s: nobody is reading it", name)
            telemetry.stats.drops["limit"] += 1


def publish(ops: list[Op]) -> None:
    if _captured(ops):
        return
    layer = get_layer()
    direct = _direct_publisher(layer)
    if direct is not None:
        direct.publish(ops)
    else:
        asyncio.run_coroutine_threadsafe(_carry(ops), target_loop()).result()


def flush(timeout: float | None = None) -> None:
    """Wait until this process's queued sync sends are written to Redis; raise
    :class:`~pushapp.exceptions.PushappError` if some could not be. A no-op on layers that send at once."""
    recorder = capture.active()
    if recorder is not None and not recorder.deliver:
        return
    direct = _direct_publisher(get_layer())
    if direct is not None:
        direct.flush(timeout)


_lock = threading.Lock()
_direct: weakref.WeakKeyDictionary[ChannelLayer, DirectPublisher | None] = weakref.WeakKeyDictionary()
#: The last layer asked about and its publisher: every sync send asks, nearly always about the same one,
#: and this costs no lock and no weak reference.
_last: tuple[ChannelLayer | None, DirectPublisher | None] = (None, None)


def _direct_publisher(layer: ChannelLayer) -> DirectPublisher | None:
    global _last
    last_layer, last_publisher = _last
    if layer is last_layer:
        return last_publisher
    with _lock:
        if layer not in _direct:
            publisher = None
            if layer_kind() == "pubsub":
                from .publisher import DirectPublisher  # needs the redis extra

                publisher = DirectPublisher(layer, layer_options())  # layer.serialize() encrypts, if set
            _direct[layer] = publisher
        _last = (layer, _direct[layer])
        return _last[1]
