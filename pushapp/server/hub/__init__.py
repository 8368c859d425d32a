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
from ..sockets import on_shutdown
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
    """The running loop's hub, started on first use, and stopped with the server (daphne's graceful
    shutdown) unless it was stopped before."""
    return await _hubs.get(_new_hub)


def _new_hub() -> Hub:
    hub = Hub(_hub_layer())
    on_shutdown(lambda: _stop(hub))
    return hub


async def _stop(hub: Hub) -> None:
    if _hubs.discard(hub):  # False: stopped already (stop_hub)
        await hub.stop()


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
