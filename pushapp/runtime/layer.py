"""The channel layer pushapp sends over: its configuration, its kind, and the part of its API pushapp uses.

Resolved per use, so settings changes take effect; every module that needs to know which layer is
configured asks here instead of inspecting settings or class names itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from ..conf import push_settings
from ..exceptions import ChannelLayerMissing

logger = logging.getLogger(__name__)

LayerKind = Literal["pubsub", "core", "memory", "other"]

#: Whether this process serves pushapp's WebSocket (it made a ``PushConsumer``); and whether it was told
#: that a push it made over the in-memory layer reached nobody.
_serving = False
_warned = False


class ChannelLayer(Protocol):
    """What pushapp calls on a Channels layer (channels' ``BaseChannelLayer`` has no type hints)."""

    async def send(self, channel: str, message: Mapping[str, Any]) -> None: ...

    async def receive(self, channel: str) -> dict[str, Any]: ...

    async def group_add(self, group: str, channel: str) -> None: ...

    async def group_discard(self, group: str, channel: str) -> None: ...

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None: ...


def layer_config() -> dict[str, Any] | None:
    """``CHANNEL_LAYERS[PUSHAPP["CHANNEL_LAYER"]]``, or None when there is no such entry."""
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    config = layers.get(push_settings.CHANNEL_LAYER)
    return config if isinstance(config, dict) else None


def layer_options() -> dict[str, Any]:
    """The ``CONFIG`` of pushapp's layer (hosts, prefix, …); empty when there is none."""
    config = layer_config() or {}
    options: dict[str, Any] = config.get("CONFIG") or {}
    return options


def layer_kind(config: dict[str, Any] | None = None) -> LayerKind:
    """Which layer is configured: channels-redis's pub/sub or core layer, the in-memory one, or another."""
    chosen = layer_config() if config is None else config
    backend = str((chosen or {}).get("BACKEND", ""))
    if backend.startswith("channels_redis.pubsub"):
        return "pubsub"
    if backend.startswith("channels_redis."):
        return "core"
    if backend.endswith("InMemoryChannelLayer"):
        return "memory"
    return "other"


def is_redis(config: dict[str, Any] | None = None) -> bool:
    return layer_kind(config) in ("pubsub", "core")


def get_layer() -> ChannelLayer:
    alias = push_settings.CHANNEL_LAYER
    layer: ChannelLayer | None = get_channel_layer(alias)
    if layer is None:
        raise ChannelLayerMissing(
            f"pushapp needs a channel layer: add {alias!r} to settings.CHANNEL_LAYERS "
            f"(or point PUSHAPP['CHANNEL_LAYER'] at an existing alias)"
        )
    return layer


def note_serving() -> None:
    """This process serves push connections: pushes over the in-memory layer can reach them."""
    global _serving
    _serving = True


def warn_if_unreachable() -> None:
    """Once per process, warn (a log line, never an exception) that a push over the in-memory layer from a
    process that serves no push connection reaches nobody: ``manage.py shell`` beside ``runserver``
    without a Redis layer used to lose it silently."""
    global _warned
    if _serving or _warned or layer_kind() != "memory":
        return
    _warned = True
    logger.warning(
        "pushapp: this process pushed over the in-memory channel layer but serves no push connection, "
        "so the push reached nobody (the in-memory layer does not cross processes). Configure "
        "channels_redis in CHANNEL_LAYERS (docs/deployment.md) to push from shells, tasks and other "
        "processes."
    )
