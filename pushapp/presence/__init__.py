"""Presence: who is online, in which groups, with which session, across every server process.

A backend has two sides. The hub of each server process *writes* through a :class:`~.base.Writer`
(``backend.writer(hub)``); any process *reads* with ``backend.op`` / ``backend.aop``: raw operations, the
same shapes from every backend, which :mod:`pushapp.queries` turns into the public answers.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from ..conf import push_settings
from .base import Backend

_backend: Backend | None = None


def _build() -> Backend:
    from .memory import MemoryBackend

    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    layer: dict[str, Any] = layers.get(push_settings.CHANNEL_LAYER, {})
    kind = push_settings.PRESENCE
    if kind == "auto":
        kind = "redis" if str(layer.get("BACKEND", "")).startswith("channels_redis.") else "memory"
    if kind == "memory":
        return MemoryBackend()
    from .redis import RedisBackend  # needs the redis extra

    return RedisBackend.from_layer_config(layer.get("CONFIG", {}))


def get_backend() -> Backend:
    """The configured backend: ``PUSHAPP["PRESENCE"]`` is ``"auto"`` (Redis when the channel layer is
    channels-redis, else memory), ``"memory"`` or ``"redis"``."""
    global _backend
    if _backend is None:
        _backend = _build()
    return _backend


@receiver(setting_changed)
def _reset(setting: str, **kwargs: Any) -> None:
    global _backend
    if setting in ("PUSHAPP", "CHANNEL_LAYERS"):
        _backend = None
