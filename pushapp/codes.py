"""WebSocket close codes the server uses (docs/protocol.md); the JS client decides from them whether to
reconnect. A module of its own so that the exceptions can name them without importing the protocol."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """WebSocket close codes the server uses; the JS client decides from them whether to reconnect."""

    NORMAL = 1000
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    HEARTBEAT_TIMEOUT = 4000
    AUTH_FAILED = 4001
    TOKEN_EXPIRED = 4002
    AUTH_TIMEOUT = 4003
    DESTROYED = 4004
    TOO_SLOW = 4005
    TRY_AGAIN_LATER = 1013
    TOO_MANY_CONNECTIONS = 4006
    RATE_LIMITED = 4007
    REVOKED = 4008
