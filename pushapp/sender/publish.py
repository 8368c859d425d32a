"""The carrier: how a send's ops reach the channel layer. Every push goes through here — the gateway's,
the HTTP API's, presence frames and the hubs' live reports — and this is the one place that decides how
an op is carried (:func:`_carry_one`), by what its plan put in it:

- an op without ``limits``: the layer's ``send`` or ``group_send``;
- an op with ``limits`` on the pub/sub layer: one call of the history's script, which stores the push and
  publishes it at once (:meth:`~pushapp.sender.publisher.DirectPublisher.atomic`);
- an op with ``limits`` elsewhere (the core or in-memory layer, an encrypted pub/sub layer): stored by the
  history backend, then sent like the rest, with the offset and epoch the store gave it.

A send with an idempotency key (docs/delivery.md) claims it once: in the store's own call when it is one
push with history, in the pub/sub publisher's one call when it is plain pushes on one shard, else in one
round trip of its own (:meth:`~pushapp.history.base.History.aclaim`) before its ops are carried.

Every write is retried by the one policy of :mod:`pushapp.sender.retry`. Sync callers on the pub/sub layer
do not hop to an event loop: their ops are queued for :mod:`pushapp.sender.publisher`'s sender thread,
unless one of them must be stored before it can be sent; every other layer runs the async carrier on the
twins' loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import threading
import weakref
from typing import TYPE_CHECKING

from channels.exceptions import ChannelFull

from .. import history
from ..conf import push_settings
from ..runtime import telemetry
from ..runtime.layer import ChannelLayer, get_layer, layer_kind, layer_options, warn_if_unreachable
from ..runtime.twins import target_loop
from . import capture, plans
from .ops import Op, guard_of, sends
from .retry import aretry

if TYPE_CHECKING:
    from .publisher import DirectPublisher

logger = logging.getLogger(__name__)


async def _send(layer: ChannelLayer, op: Op) -> None:
    if op.method == "send":
        await layer.send(op.name, op.message)
    else:
        await layer.group_send(op.name, op.message)


async def _carry_one(layer: ChannelLayer, direct: DirectPublisher | None, op: Op, folded: bool) -> None:
    """``folded``: ``op`` is its send's only op, and claims the send's key in its store."""
    if op.limits is None:
        await aretry(lambda: _send(layer, op))
        return
    guard = guard_of(op, folded)
    if direct is not None and (write := direct.atomic(op, op.limits, guard)) is not None:
        await aretry(lambda: direct.arun(*write))
        return
    message = await history.get_history().astore(op.message, op.limits, guard)
    if message is not None:  # stored once; only the send is retried
        stored = op._replace(message=message)
        await aretry(lambda: _send(layer, stored))


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


async def apublish_frame(group: str, frame: str) -> None:
    """Push a server frame to ``group``'s members through its plan and this carrier: what a hub hands its
    presence writer, for presence frames (presence sits below the sender and cannot import it)."""
    await apublish(plans.frame_to_group(group, frame))


async def _carry(ops: list[Op]) -> None:
    layer = get_layer()
    warn_if_unreachable()
    direct = _direct_publisher(layer)
    for send in sends(ops):
        key = send[0].key
        folded = len(send) == 1 and send[0].limits is not None
        if key is not None and not folded:
            claim = functools.partial(
                history.get_history().aclaim,
                key,
                push_settings.IDEMPOTENCY_TTL,
                secrets.token_hex(8),  # one per claim: its retries are the same claim
            )
            if not await aretry(claim):
                continue  # sent already: nothing again
        for op in send:
            try:
                await _carry_one(layer, direct, op, folded)
            except ChannelFull:
                # Only a hub channel nobody reads fills up: its server is gone. The message reaches nobody.
                logger.warning("pushapp: dropped a message to %s: nobody is reading it", op.name)
                telemetry.stats.drops["limit"] += 1


def publish(ops: list[Op]) -> None:
    if _captured(ops):
        return
    direct = _direct_publisher(get_layer())
    if direct is not None:
        if direct.publish(ops):
            return
        direct.flush()  # a push it cannot write from here: what is queued goes first, then the loop's turn
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
