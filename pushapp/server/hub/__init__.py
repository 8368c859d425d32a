"""The hub of each server process: :class:`Hub` and the per-loop access to it.

The parts it orchestrates live beside it: :mod:`.membership` (layer groups), :mod:`.control` (the
per-connection operations), :mod:`.dedupe`; the bookkeeping is :mod:`pushapp.runtime.registry` and the write
paths are :mod:`pushapp.server.sockets`, below it.
"""

from __future__ import annotations

from ...codes import CloseCode
from ...runtime.layer import ChannelLayer, get_layer, layer_kind, layer_options
from ...runtime.perloop import PerLoop
from ...runtime.registry import Connection
from .hub import Hub

__all__ = ["Connection", "Hub", "all_hubs", "get_hub", "running_hub", "stop_hub"]

_hubs: PerLoop[Hub] = PerLoop()


def _hub_layer() -> ChannelLayer:
    """The layer as the hub uses it: on channels-redis's pub/sub layer, with reads of its own
    (:mod:`pushapp.server.hub.subscriber`) when the hosts allow."""
    layer = get_layer()
    if layer_kind() != "pubsub":
        return layer
    try:
        from .subscriber import hub_layer
    except ImportError:  # hiredis is not installed (it comes with the redis extra)
        return layer
    return hub_layer(layer, layer_options()) or layer


async def get_hub() -> Hub:
    """The running loop's hub, started on first use."""
    return await _hubs.get(lambda: Hub(_hub_layer(), _hubs.discard))


def running_hub() -> Hub | None:
    return _hubs.running()


def all_hubs() -> list[Hub]:
    """Every started hub of this process (one per server event loop; usually one)."""
    return _hubs.all()


async def stop_hub(code: int = CloseCode.SERVICE_RESTART) -> None:
    """Stop the running loop's hub: graceful shutdown, and test isolation."""
    hub = _hubs.pop()
    if hub is not None:
        await hub.stop(code)
