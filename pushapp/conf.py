"""The ``PUSHAPP`` settings dict, read at access time so ``override_settings`` just works."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    # URL path of the push WebSocket, without a leading slash.
    "PATH": "ws/push/",
    # Alias in CHANNEL_LAYERS that pushapp sends over.
    "CHANNEL_LAYER": "default",
    # Seconds a connection token stays valid after it was issued.
    "TOKEN_MAX_AGE": 3600,
    # Salt of the signature; change it to invalidate every token at once.
    "TOKEN_SALT": "pushapp.token",
    # Dotted path of the class that turns credentials into an Identity.
    "AUTHENTICATOR": "pushapp.auth.TokenAuthenticator",
    # Seconds a new connection has to authenticate.
    "AUTH_TIMEOUT": 10.0,
    # Whether a connection may authenticate with no credentials at all.
    "ALLOW_ANONYMOUS": False,
    # Whether ?token=… in the URL is accepted (it ends up in access logs).
    "ALLOW_QUERY_TOKEN": False,
    # Largest frame, in bytes, a client may send; larger closes with 1009.
    "MAX_FRAME_SIZE": 65536,
    # Seconds between client pings (0: pings are not required).
    "PING_INTERVAL": 25.0,
    # Missed intervals before a silent connection is closed with 4000 (0: never).
    "PING_NOT_RESPONSE_LIMIT": 3,
    # Seconds to wait for a server process to answer a join, bind or session call.
    "CONTROL_TIMEOUT": 5.0,
    # Where presence lives: "auto" (Redis with channels-redis, else memory), "memory" or "redis".
    "PRESENCE": "auto",
    # Redis URL of the presence data; None uses the channel layer's first Redis.
    "PRESENCE_REDIS_URL": None,
    # Seconds after which a server process that stopped heartbeating vanishes from every answer.
    "PRESENCE_TTL": 15.0,
    # Bytes that may wait unsent to one slow client before it is closed with 4005.
    "MAX_BUFFERED_BYTES": 4 * 1024 * 1024,
}


class PushappSettings:
    """Typed view of ``settings.PUSHAPP`` merged over :data:`DEFAULTS`."""

    def _get(self, name: str) -> Any:
        user = getattr(django_settings, "PUSHAPP", None) or {}
        return user.get(name, DEFAULTS[name])

    @property
    def PATH(self) -> str:
        return str(self._get("PATH")).lstrip("/")

    @property
    def CHANNEL_LAYER(self) -> str:
        return str(self._get("CHANNEL_LAYER"))

    @property
    def TOKEN_MAX_AGE(self) -> float:
        return float(self._get("TOKEN_MAX_AGE"))

    @property
    def TOKEN_SALT(self) -> str:
        return str(self._get("TOKEN_SALT"))

    @property
    def AUTHENTICATOR(self) -> str:
        return str(self._get("AUTHENTICATOR"))

    @property
    def AUTH_TIMEOUT(self) -> float:
        return float(self._get("AUTH_TIMEOUT"))

    @property
    def ALLOW_ANONYMOUS(self) -> bool:
        return bool(self._get("ALLOW_ANONYMOUS"))

    @property
    def ALLOW_QUERY_TOKEN(self) -> bool:
        return bool(self._get("ALLOW_QUERY_TOKEN"))

    @property
    def MAX_FRAME_SIZE(self) -> int:
        return int(self._get("MAX_FRAME_SIZE"))

    @property
    def PING_INTERVAL(self) -> float:
        return float(self._get("PING_INTERVAL"))

    @property
    def PING_NOT_RESPONSE_LIMIT(self) -> int:
        return int(self._get("PING_NOT_RESPONSE_LIMIT"))

    @property
    def CONTROL_TIMEOUT(self) -> float:
        return float(self._get("CONTROL_TIMEOUT"))

    @property
    def MAX_BUFFERED_BYTES(self) -> int:
        return int(self._get("MAX_BUFFERED_BYTES"))

    @property
    def PRESENCE(self) -> str:
        return str(self._get("PRESENCE"))

    @property
    def PRESENCE_REDIS_URL(self) -> str | None:
        value = self._get("PRESENCE_REDIS_URL")
        return None if value is None else str(value)

    @property
    def PRESENCE_TTL(self) -> float:
        return float(self._get("PRESENCE_TTL"))


push_settings = PushappSettings()
