"""The ``PUSHAPP`` settings dict, read lazily: each setting on its first use, again after Django's
``setting_changed`` signal names ``PUSHAPP`` (``override_settings``, pytest-django's ``settings``).

Each setting is described once, in :data:`SETTINGS`: its default, the types it accepts, how it is read
and what it is for. That table drives the defaults, the typed attributes of :data:`push_settings` and the
system checks (:mod:`pushapp.checks`), so the three cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed


@dataclass(frozen=True)
class Setting:
    default: Any
    types: tuple[type, ...]
    cast: Callable[[Any], Any]
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = 0  # numbers below it are refused by the checks (None: no bound)


def _path(value: Any) -> str:
    return str(value).lstrip("/")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_host(value: Any) -> str | dict[str, Any] | None:
    return value if value is None or isinstance(value, dict) else str(value)


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value]


_NUMBER = (int, float)

SETTINGS: dict[str, Setting] = {
    "PATH": Setting("ws/push/", (str,), _path, "URL path of the push WebSocket, without a leading slash."),
    "CHANNEL_LAYER": Setting("default", (str,), str, "Alias in CHANNEL_LAYERS that pushapp sends over."),
    "TOKEN_MAX_AGE": Setting(
        3600, _NUMBER, float, "Seconds a connection token stays valid after it was issued."
    ),
    "TOKEN_SALT": Setting(
        "pushapp.token", (str,), str, "Salt of the signature; change it to invalidate every token at once."
    ),
    "GRANT_MAX_AGE": Setting(
        86400,
        _NUMBER,
        float,
        "Seconds a page's group grant (the script tag's token URL) lets it refresh tokens with its groups.",
    ),
    "AUTHENTICATOR": Setting(
        "pushapp.auth.TokenAuthenticator",
        (str,),
        str,
        "Dotted path of the class that turns credentials into an Identity.",
    ),
    "AUTH_TIMEOUT": Setting(10, _NUMBER, float, "Seconds a new connection has to authenticate."),
    "ALLOW_ANONYMOUS": Setting(
        False, (bool,), bool, "Whether a connection may authenticate with no credentials."
    ),
    "ALLOW_QUERY_TOKEN": Setting(
        False, (bool,), bool, "Whether ?token=… in the URL is accepted (it ends up in access logs)."
    ),
    "MAX_FRAME_SIZE": Setting(
        65536, (int,), int, "Largest frame, in bytes, a client may send; larger closes with 1009."
    ),
    "PING_INTERVAL": Setting(25, _NUMBER, float, "Seconds between client pings (0: pings are not required)."),
    "PING_NOT_RESPONSE_LIMIT": Setting(
        3, (int,), int, "Missed intervals before a silent connection is closed with 4000 (0: never)."
    ),
    "CONTROL_TIMEOUT": Setting(
        5, _NUMBER, float, "Seconds to wait for a server process to answer a join, bind or session call."
    ),
    "PRESENCE": Setting(
        "auto",
        (str,),
        str,
        'Where presence lives: "auto" (Redis with channels-redis, else memory), "memory" or "redis".',
        choices=("auto", "memory", "redis"),
    ),
    "PRESENCE_REDIS_URL": Setting(
        None,
        (str, dict, type(None)),
        _optional_host,
        "Redis of the presence data: a URL, or a channels-redis ``hosts`` entry (Sentinel: ``sentinels`` and "
        "``master_name``); None uses the channel layer's first Redis.",
    ),
    "PRESENCE_TTL": Setting(
        15,
        _NUMBER,
        float,
        "Seconds after which a server process that stopped heartbeating vanishes from every answer.",
    ),
    "ENVELOPE": Setting(
        True,
        (bool,),
        bool,
        'Wrap every text push as {"type": "push", "data": …}; False sends GatewayWorker-style bare frames.',
    ),
    "HISTORY": Setting(
        {},
        (dict,),
        dict,
        'Streams that keep history, for recovery: {"uid"|"group"|"all": {"size": n, "ttl": seconds}}.',
    ),
    "IDEMPOTENCY_TTL": Setting(
        300,
        _NUMBER,
        float,
        "Seconds a send's idempotency_key is remembered: a second send with it meanwhile pushes nothing.",
        minimum=1,
    ),
    "ACK_SWEEP_INTERVAL": Setting(
        1.0,
        _NUMBER,
        float,
        "Seconds between the checks, in each server process, for pushes sent with ack_within and not acked.",
        minimum=0.05,
    ),
    "MAX_PUSH_SIZE": Setting(
        16 * 1024 * 1024,
        (int,),
        int,
        "Largest push, in bytes once encoded; a bigger send raises PayloadTooLarge.",
    ),
    "MAX_UNAUTHENTICATED": Setting(
        1000,
        (int,),
        int,
        "Connections of one server process that may wait to authenticate at once (else 4006).",
    ),
    "MAX_UNAUTHENTICATED_PER_IP": Setting(50, (int,), int, "Of those, from one IP address (else 4006)."),
    "MAX_CONNECTIONS_PER_IP": Setting(
        None,
        (int, type(None)),
        _optional_int,
        "Authenticated connections of one server process from one IP (None: any).",
    ),
    "MAX_CONNECTIONS_PER_UID": Setting(
        None,
        (int, type(None)),
        _optional_int,
        "Connections of one uid in the whole cluster (None: any), else 4006.",
    ),
    "CLIENT_FRAMES_PER_SECOND": Setting(
        20,
        _NUMBER,
        float,
        "Frames a client may send per second, in bursts of twice that (0: any), else 4007.",
    ),
    "MAX_BUFFERED_BYTES": Setting(
        4 * 1024 * 1024,
        (int,),
        int,
        "Bytes that may wait unsent to one slow client before it is closed with 4005.",
    ),
    "WORKER_TIMEOUT": Setting(
        30,
        _NUMBER,
        float,
        "Seconds a pushserve worker's event loop may go without a heartbeat before it is killed and "
        "replaced (0: never).",
    ),
    "METRICS_TOKEN": Setting(
        None,
        (str, type(None)),
        _optional_str,
        "Bearer token a Prometheus scrape of pushapp's metrics/ URL must send; None: no token.",
    ),
    "METRICS_ALLOWED_IPS": Setting(
        [],
        (list, tuple),
        _strings,
        "Addresses or networks (CIDR) that may scrape metrics/; with neither this nor a token it is a 404.",
    ),
    "API_KEYS": Setting(
        {},
        (dict,),
        dict,
        'Keys of the HTTP API: {"<key>": "*"} or {"<key>": ["send_to_uid", ...]} (the methods it may call).',
    ),
    "API_MAX_COMMANDS": Setting(100, (int,), int, "Most commands one HTTP API request may carry."),
    "API_MAX_BODY_SIZE": Setting(
        1024 * 1024, (int,), int, "Largest HTTP API request body, in bytes; larger is refused with 400."
    ),
    "AUTHORIZE_SUBSCRIBE": Setting(
        None,
        (str, type(None)),
        _optional_str,
        "Dotted path of the function deciding client subscriptions; None refuses every subscription.",
    ),
    "PRESENCE_FRAMES": Setting(
        [],
        (list, tuple),
        list,
        "Groups (names or fnmatch patterns) whose members get presence frames when a uid joins or leaves.",
    ),
    "MAX_GROUPS_PER_CONNECTION": Setting(
        128,
        (int, type(None)),
        _optional_int,
        "Groups one connection may be in (None: any); a subscribe over it is refused, join_group is False.",
        minimum=1,
    ),
    "MAX_SESSION_SIZE": Setting(
        64 * 1024,
        (int,),
        int,
        "Bytes of one connection's session as JSON; a larger set/update raises SessionTooLarge.",
        minimum=2,
    ),
    "SSE_TICKET_TTL": Setting(
        30,
        _NUMBER,
        float,
        "Seconds an SSE ticket (POST sse-ticket/) stays valid; each is used once.",
        minimum=1,
    ),
    "REVOKE_ON_LOGOUT": Setting(
        True, (bool,), bool, "Logging out closes the connections opened from that session with 4008."
    ),
    "REVOKE_ON_PASSWORD_CHANGE": Setting(
        True, (bool,), bool, "A user's password change revokes the uid: its connections and tokens, 4008."
    ),
    "REVOKE_ON_DEACTIVATE": Setting(
        True, (bool,), bool, "A user set is_active=False revokes the uid: its connections and tokens, 4008."
    ),
    "JWT": Setting(
        None,
        (dict, type(None)),
        _optional_dict,
        "How JWTAuthenticator verifies JSON Web Tokens: ALGORITHMS, KEY or JWKS_URL, AUDIENCE, ISSUER... "
        "(docs/tokens.md); None: not configured.",
    ),
}

#: Every setting's default value.
DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}


def user_settings() -> Any:
    """``settings.PUSHAPP`` as the project wrote it (anything: the checks say what is wrong with it)."""
    return getattr(django_settings, "PUSHAPP", None) or {}


class PushappSettings:
    """Typed view of ``settings.PUSHAPP`` merged over the defaults, cast as :data:`SETTINGS` says."""

    PATH: str
    CHANNEL_LAYER: str
    TOKEN_MAX_AGE: float
    TOKEN_SALT: str
    GRANT_MAX_AGE: float
    AUTHENTICATOR: str
    AUTH_TIMEOUT: float
    ALLOW_ANONYMOUS: bool
    ALLOW_QUERY_TOKEN: bool
    MAX_FRAME_SIZE: int
    PING_INTERVAL: float
    PING_NOT_RESPONSE_LIMIT: int
    CONTROL_TIMEOUT: float
    PRESENCE: str
    PRESENCE_REDIS_URL: str | dict[str, Any] | None
    PRESENCE_TTL: float
    MAX_BUFFERED_BYTES: int
    WORKER_TIMEOUT: float
    MAX_PUSH_SIZE: int
    MAX_UNAUTHENTICATED: int
    MAX_UNAUTHENTICATED_PER_IP: int
    MAX_CONNECTIONS_PER_IP: int | None
    MAX_CONNECTIONS_PER_UID: int | None
    CLIENT_FRAMES_PER_SECOND: float
    ENVELOPE: bool
    METRICS_TOKEN: str | None
    METRICS_ALLOWED_IPS: list[str]
    HISTORY: dict[str, Any]
    IDEMPOTENCY_TTL: float
    ACK_SWEEP_INTERVAL: float
    API_KEYS: dict[str, Any]
    API_MAX_COMMANDS: int
    API_MAX_BODY_SIZE: int
    AUTHORIZE_SUBSCRIBE: str | None
    PRESENCE_FRAMES: list[str]
    SSE_TICKET_TTL: float
    MAX_GROUPS_PER_CONNECTION: int | None
    MAX_SESSION_SIZE: int
    REVOKE_ON_LOGOUT: bool
    REVOKE_ON_PASSWORD_CHANGE: bool
    REVOKE_ON_DEACTIVATE: bool
    JWT: dict[str, Any] | None

    def __getattr__(self, name: str) -> Any:
        """Read and cast a setting once; kept as an attribute, so later reads cost what an attribute
        does (sends read several per call: 3 µs each, uncached)."""
        setting = SETTINGS.get(name)
        if setting is None:
            raise AttributeError(f"{name!r} is not a pushapp setting")
        user = user_settings()
        value = user.get(name, setting.default) if isinstance(user, dict) else setting.default
        value = setting.cast(value)
        self.__dict__[name] = value
        return value

    def reload(self) -> None:
        """Forget what was read: the next access reads ``settings.PUSHAPP`` again."""
        self.__dict__.clear()


push_settings = PushappSettings()


def _reload(setting: str, **kwargs: Any) -> None:
    if setting == "PUSHAPP":
        push_settings.reload()


setting_changed.connect(_reload)
