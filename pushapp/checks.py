"""System checks for pushapp's configuration. Every id is documented in docs/settings.md."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, push_settings

_TYPES: dict[str, tuple[type, ...]] = {
    "PATH": (str,),
    "CHANNEL_LAYER": (str,),
    "TOKEN_MAX_AGE": (int, float),
    "TOKEN_SALT": (str,),
    "AUTHENTICATOR": (str,),
    "AUTH_TIMEOUT": (int, float),
    "ALLOW_ANONYMOUS": (bool,),
    "ALLOW_QUERY_TOKEN": (bool,),
    "MAX_FRAME_SIZE": (int,),
    "PING_INTERVAL": (int, float),
    "PING_NOT_RESPONSE_LIMIT": (int,),
    "CONTROL_TIMEOUT": (int, float),
    "MAX_BUFFERED_BYTES": (int,),
    "PRESENCE": (str,),
    "PRESENCE_REDIS_URL": (str, type(None)),
    "PRESENCE_TTL": (int, float),
}
PRESENCE_CHOICES = ("auto", "memory", "redis")


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = getattr(settings, "PUSHAPP", {})
    if not isinstance(user, dict):
        return [Error("settings.PUSHAPP must be a dict.", id="pushapp.E002")]
    errors: list[CheckMessage] = []
    for key, value in user.items():
        if key not in DEFAULTS:
            errors.append(
                Error(
                    f"PUSHAPP[{key!r}] is not a pushapp setting.",
                    hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
                    id="pushapp.E002",
                )
            )
        elif not isinstance(value, _TYPES[key]) or (isinstance(value, bool) and bool not in _TYPES[key]):
            errors.append(
                Error(
                    f"PUSHAPP[{key!r}] must be of type "
                    f"{' or '.join(t.__name__ for t in _TYPES[key])}, not {type(value).__name__}.",
                    id="pushapp.E003",
                )
            )
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            errors.append(Error(f"PUSHAPP[{key!r}] must not be negative.", id="pushapp.E003"))
    if not errors and push_settings.PRESENCE not in PRESENCE_CHOICES:
        errors.append(
            Error(f"PUSHAPP['PRESENCE'] must be one of {', '.join(PRESENCE_CHOICES)}.", id="pushapp.E003")
        )
    if not errors:
        try:
            import_string(push_settings.AUTHENTICATOR)
        except ImportError as err:
            errors.append(Error(f"PUSHAPP['AUTHENTICATOR'] cannot be imported: {err}", id="pushapp.E004"))
    return errors


@register(Tags.compatibility)
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    alias = push_settings.CHANNEL_LAYER if isinstance(getattr(settings, "PUSHAPP", {}), dict) else "default"
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    if alias not in layers:
        return [
            Error(
                f"No channel layer {alias!r} in settings.CHANNEL_LAYERS.",
                hint="pushapp sends over the channel layer; add channels_redis in production, "
                "channels.layers.InMemoryChannelLayer for one process.",
                id="pushapp.E001",
            )
        ]
    backend = str(layers[alias].get("BACKEND", ""))
    if backend.endswith("InMemoryChannelLayer") and not settings.DEBUG:
        return [
            Warning(
                "pushapp is using the in-memory channel layer with DEBUG off.",
                hint="It only reaches connections of the same process: Celery tasks, management "
                "commands and other server processes cannot push. Use channels_redis.",
                id="pushapp.W001",
            )
        ]
    return []
