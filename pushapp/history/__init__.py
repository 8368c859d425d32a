"""History: the last pushes of chosen streams, kept so a client that reconnects can recover what it missed.

Streams are ``uid:<uid>``, ``group:<name>`` and ``all``; ``PUSHAPP["HISTORY"]`` says which kinds keep
history and how much. Each stream has an ``offset`` that grows by one per push and an ``epoch`` that changes
whenever its history is lost. See docs/recovery.md.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ..conf import push_settings
from ..protocol.names import ALL_GROUP, group_layer_group, uid_layer_group
from ..runtime.layer import is_redis, layer_options
from .base import History, Limits

ALL_STREAM = "all"
KINDS = ("uid", "group", "all")

#: Named by dotted path, as the presence backends are: the Redis one needs the redis extra.
BACKENDS = {
    "memory": "pushapp.history.memory.MemoryHistory",
    "redis": "pushapp.history.redis.RedisHistory",
}


def uid_stream(uid: str) -> str:
    return "uid:" + uid


def group_stream(group: str) -> str:
    return "group:" + group


def layer_group_of(stream: str) -> str:
    """The layer group a stream's pushes are published to (its Redis history lives on the same shard)."""
    kind, _, name = stream.partition(":")
    if kind == "uid":
        return uid_layer_group(name)
    if kind == "group":
        return group_layer_group(name)
    return ALL_GROUP


def _matcher(only: Any) -> Callable[[str], bool]:
    """``only`` of the group kind: a pattern (``fnmatch``), a list of patterns, or a callable."""
    if only is None:
        return lambda group: True
    if callable(only):
        return lambda group: bool(only(group))
    patterns = [only] if isinstance(only, str) else list(only)
    return lambda group: any(fnmatch.fnmatchcase(group, p) for p in patterns)


class Config:
    """``PUSHAPP["HISTORY"]``, parsed once per settings change."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.limits: dict[str, Limits] = {}
        self._only: Callable[[str], bool] = lambda group: True
        for kind, options in raw.items():
            self.limits[kind] = Limits(int(options.get("size", 100)), float(options.get("ttl", 600)))
            if kind == "group":
                self._only = _matcher(options.get("only"))

    def __bool__(self) -> bool:
        return bool(self.limits)

    def for_uid(self) -> Limits | None:
        return self.limits.get("uid")

    def for_group(self, group: str) -> Limits | None:
        limits = self.limits.get("group")
        return limits if limits is not None and self._only(group) else None

    def for_all(self) -> Limits | None:
        return self.limits.get("all")

    def for_stream(self, stream: str) -> Limits | None:
        kind, _, name = stream.partition(":")
        if kind == "uid":
            return self.for_uid()
        if kind == "group":
            return self.for_group(name)
        return self.for_all() if stream == ALL_STREAM else None

    def streams_of(self, uid: str | None, groups: Iterable[str]) -> list[str]:
        """The streams with history a connection of ``uid`` in ``groups`` belongs to."""
        streams = [uid_stream(uid)] if uid is not None and self.for_uid() else []
        streams += [group_stream(g) for g in groups if self.for_group(g)]
        if self.for_all():
            streams.append(ALL_STREAM)
        return streams


_config: Config | None = None
_backend: History | None = None


def config() -> Config:
    global _config
    if _config is None:
        _config = Config(push_settings.HISTORY if push_settings.ENVELOPE else {})
    return _config


def get_history() -> History:
    """The history backend: Redis when the channel layer is channels-redis, else in memory."""
    global _backend
    if _backend is None:
        kind = "redis" if is_redis() else "memory"
        _backend = import_string(BACKENDS[kind]).from_settings(layer_options())
    return _backend


@receiver(setting_changed)
def _reset(setting: str, **kwargs: Any) -> None:
    global _config, _backend
    if setting in ("PUSHAPP", "CHANNEL_LAYERS"):
        _config = _backend = None
