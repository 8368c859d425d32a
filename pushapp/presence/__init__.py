"""Presence: who is online, in which groups, with which session, across every server process.

A backend has two sides. The hub of each server process *writes* through a :class:`~.base.Writer`
(``backend.writer(...)``); any process *reads* with the backend's typed methods, which
:mod:`pushapp.queries` turns into the public answers.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ..conf import push_settings
from ..runtime.layer import is_redis, layer_options
from .base import Backend

#: Named by dotted path, as Django names its backends: the Redis one needs the redis extra.
BACKENDS = {
    "memory": "pushapp.presence.memory.MemoryBackend",
    "redis": "pushapp.presence.redis.RedisBackend",
}

_backend: Backend | None = None


def _build() -> Backend:
    kind = push_settings.PRESENCE
    if kind == "auto":
        kind = "redis" if is_redis() else "memory"
    backend: Backend = import_string(BACKENDS[kind]).from_settings(layer_options())
    return backend


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
