"""System checks for pushapp's configuration: one id per problem, each documented in docs/settings.md."""

from __future__ import annotations

import importlib.util
import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .auth import JWTAuthenticator
from .authn.jwtconfig import PUBLIC_KEY_ALGORITHMS
from .authn.jwtconfig import problems as jwt_problems
from .conf import SETTINGS, push_settings, user_settings
from .httpapi import method_name
from .runtime.layer import is_redis, layer_config, layer_kind


def _value_errors(key: str, value: Any) -> list[CheckMessage]:
    setting = SETTINGS.get(key)
    if setting is None:
        return [
            Error(
                f"PUSHAPP[{key!r}] is not a pushapp setting.",
                hint=f"Known settings: {', '.join(sorted(SETTINGS))}.",
                id="pushapp.E002",
            )
        ]
    if not isinstance(value, setting.types) or (isinstance(value, bool) and bool not in setting.types):
        return [
            Error(
                f"PUSHAPP[{key!r}] must be of type "
                f"{' or '.join(t.__name__ for t in setting.types)}, not {type(value).__name__}.",
                id="pushapp.E003",
            )
        ]
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and setting.minimum is not None
        and value < setting.minimum
    ):
        return [Error(f"PUSHAPP[{key!r}] must be at least {setting.minimum}.", id="pushapp.E006")]
    if setting.choices and value not in setting.choices:
        return [Error(f"PUSHAPP[{key!r}] must be one of {', '.join(setting.choices)}.", id="pushapp.E007")]
    return []


def _history_errors(raw: dict[str, Any]) -> list[CheckMessage]:
    """``HISTORY``: known kinds, each a dict of a positive ``size`` and ``ttl`` (groups: also ``only``)."""
    errors: list[CheckMessage] = []
    for kind, options in raw.items():
        allowed = {"size", "ttl", "only"} if kind == "group" else {"size", "ttl"}
        size, ttl = (
            (options.get("size", 100), options.get("ttl", 600)) if isinstance(options, dict) else (0, 0)
        )
        if (
            kind not in ("uid", "group", "all")
            or not isinstance(options, dict)
            or set(options) - allowed
            or not isinstance(size, int)
            or isinstance(size, bool)
            or size < 1
            or not isinstance(ttl, (int, float))
            or isinstance(ttl, bool)
            or ttl < 1
        ):
            errors.append(
                Error(
                    f"PUSHAPP['HISTORY'][{kind!r}] must be a dict with a positive int 'size' and a 'ttl' of "
                    "at least 1 second (and, for 'group', an 'only' pattern, list of patterns or callable); "
                    "the kinds are 'uid', 'group' and 'all'.",
                    id="pushapp.E010",
                )
            )
    if raw and not push_settings.ENVELOPE:
        errors.append(
            Error(
                "PUSHAPP['HISTORY'] needs the push envelope: the stream positions travel in it.",
                hint="Remove HISTORY or set PUSHAPP['ENVELOPE'] back to True.",
                id="pushapp.E011",
            )
        )
    return errors


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = user_settings()
    if not isinstance(user, dict):
        return [Error("settings.PUSHAPP must be a dict.", id="pushapp.E005")]
    errors = [error for key, value in user.items() for error in _value_errors(key, value)]
    if not errors:
        errors += _history_errors(push_settings.HISTORY)
    if not errors:
        try:
            import_string(push_settings.AUTHENTICATOR)
        except ImportError as err:
            errors.append(Error(f"PUSHAPP['AUTHENTICATOR'] cannot be imported: {err}", id="pushapp.E004"))
    return errors


@register(Tags.compatibility)
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = layer_config()
    if config is None:
        return [
            Error(
                f"No channel layer {push_settings.CHANNEL_LAYER!r} in settings.CHANNEL_LAYERS.",
                hint="pushapp sends over the channel layer; add channels_redis in production, "
                "channels.layers.InMemoryChannelLayer for one process.",
                id="pushapp.E001",
            )
        ]
    if layer_kind(config) == "memory" and not settings.DEBUG:
        return [
            Warning(
                "pushapp is using the in-memory channel layer with DEBUG off.",
                hint="It only reaches connections of the same process: Celery tasks, management "
                "commands and other server processes cannot push. Use channels_redis.",
                id="pushapp.W001",
            )
        ]
    return []


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@register(Tags.compatibility)
def check_hiredis(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """pushapp's figures assume redis-py parses replies with hiredis: its Python parser cost a third of a
    server's CPU per unicast (docs/performance.md)."""
    uses_redis = is_redis(layer_config()) or bool(push_settings.PRESENCE_REDIS_URL)
    if not uses_redis or not _installed("redis") or _installed("hiredis"):
        return []
    return [
        Warning(
            "redis-py is running without hiredis: every Redis reply is parsed in Python.",
            hint="pip install hiredis (it comes with pushapp's redis extra: pip install 'pushapp[redis]').",
            id="pushapp.W002",
        )
    ]


@register(Tags.compatibility)
def check_metrics(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The scrape URL is configured: it needs prometheus-client, and networks that parse."""
    if not isinstance(user_settings(), dict) or check_settings():
        return []  # the value checks above report bad values first
    token, networks = push_settings.METRICS_TOKEN, push_settings.METRICS_ALLOWED_IPS
    errors: list[CheckMessage] = []
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"PUSHAPP['METRICS_ALLOWED_IPS'] has {network!r}: not an IP address or network.",
                    id="pushapp.E009",
                )
            )
    if (token or networks) and not _installed("prometheus_client"):
        errors.append(
            Error(
                "pushapp's metrics are configured but prometheus-client is not installed.",
                hint="pip install prometheus-client (the metrics extra of pushapp)",
                id="pushapp.E008",
            )
        )
    return errors


@register(Tags.compatibility)
def check_integrations(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The HTTP API's keys and the subscription hook (checked only once the types are right)."""
    user = user_settings()
    if not isinstance(user, dict) or any(_value_errors(k, v) for k, v in user.items()):
        return []
    errors: list[CheckMessage] = []
    for key, methods in push_settings.API_KEYS.items():
        bad = (
            []
            if methods == "*"
            else [repr(m) for m in methods if method_name(m) is None]
            if isinstance(methods, (list, tuple))
            else [repr(methods)]
        )
        if bad or not isinstance(key, str) or not key:
            errors.append(
                Error(
                    f"PUSHAPP['API_KEYS'][{key!r}] must map a non-empty key to \"*\" or a list of "
                    f"HTTP API methods; not methods: {', '.join(bad) or 'none'}.",
                    id="pushapp.E020",
                )
            )
    bad_patterns = [repr(p) for p in push_settings.PRESENCE_FRAMES if not isinstance(p, str) or not p]
    if bad_patterns:
        errors.append(
            Error(
                f"PUSHAPP['PRESENCE_FRAMES'] must hold group names or patterns: {', '.join(bad_patterns)}.",
                id="pushapp.E022",
            )
        )
    if push_settings.AUTHORIZE_SUBSCRIBE:
        try:
            import_string(push_settings.AUTHORIZE_SUBSCRIBE)
        except ImportError as err:
            errors.append(
                Error(f"PUSHAPP['AUTHORIZE_SUBSCRIBE'] cannot be imported: {err}", id="pushapp.E021")
            )
    return errors


@register(Tags.compatibility)
def check_jwt(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``PUSHAPP["JWT"]``, when it is set or the authenticator verifies JWTs (docs/tokens.md)."""
    if not isinstance(user_settings(), dict) or check_settings():
        return []  # the value checks above report bad values first
    raw, authenticator = push_settings.JWT, import_string(push_settings.AUTHENTICATOR)
    if raw is None and not (isinstance(authenticator, type) and issubclass(authenticator, JWTAuthenticator)):
        return []
    errors: list[CheckMessage] = [Error(message, id=check_id) for check_id, message in jwt_problems(raw)]
    algorithms = set(raw.get("ALGORITHMS") or ()) if isinstance(raw, dict) else set()
    missing = [] if _installed("jwt") else ["PyJWT"]
    if algorithms & PUBLIC_KEY_ALGORITHMS and not _installed("cryptography"):
        missing.append("cryptography")
    if missing:
        errors.append(
            Error(
                f"JWTs are configured but {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} "
                "not installed.",
                hint="pip install 'pushapp[jwt]' (PyJWT[crypto])",
                id="pushapp.E053",
            )
        )
    return errors
