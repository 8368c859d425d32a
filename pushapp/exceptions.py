"""The exceptions pushapp raises, under one base class."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .codes import CloseCode


class PushappError(Exception):
    """Base class of every pushapp exception."""


class ChannelLayerMissing(PushappError, ImproperlyConfigured):
    """No channel layer is configured under the alias pushapp uses."""


class InvalidClientId(PushappError, ValueError):
    """A value given as a client id is not one pushapp could have issued."""


class InvalidUid(PushappError, ValueError):
    """A uid is not a non-empty ``str`` or ``int`` of at most ``MAX_NAME_LENGTH`` characters."""


class InvalidGroup(PushappError, ValueError):
    """A group name is not a non-empty ``str`` of at most ``MAX_NAME_LENGTH`` characters."""


class AuthenticationFailed(PushappError):
    """Credentials were missing or rejected; the connection is closed with 4001."""

    close_code: int = CloseCode.AUTH_FAILED


class InvalidToken(AuthenticationFailed):
    """A token is malformed or its signature does not match."""


class TokenExpired(InvalidToken):
    """A token's signature is good but it is older than ``TOKEN_MAX_AGE``; closed with 4002."""

    close_code = CloseCode.TOKEN_EXPIRED


class AsyncContextError(PushappError, RuntimeError):
    """A sync helper was called from a running event loop, where it would block every connection."""


class SubscriptionRefused(PushappError):
    """Raised by an ``AUTHORIZE_SUBSCRIBE`` function to refuse a subscription; the message is the reason
    the client reads in its error frame."""


class PayloadTooLarge(PushappError, ValueError):
    """A push is bigger than ``MAX_PUSH_SIZE`` once encoded."""


class NestingTooDeep(PushappError, ValueError):
    """JSON (or a value to be stored as JSON) nests lists and objects deeper than ``MAX_JSON_DEPTH``
    (docs/protocol.md, "Limits"): pushapp's own limit, the same on every Python."""


class SessionTooLarge(PushappError, ValueError):
    """A connection's session would be larger than ``MAX_SESSION_SIZE`` bytes as JSON; nothing changed."""


class AccessRevoked(AuthenticationFailed):
    """The token was issued before its uid, or its session, was revoked: the connection is closed with
    4008 (do not reconnect with the same token)."""

    close_code = CloseCode.REVOKED


class RedisUnavailable(PushappError):
    """A send could not be made: Redis is unreachable (docs/deployment.md, "Redis outages")."""


class PresenceUnavailable(PushappError):
    """Presence could not be written: its Redis is unreachable. A new connection is refused with 1013."""
