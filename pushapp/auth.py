"""Authenticators turn the credentials a connection presents into an :class:`~pushapp.tokens.Identity`.

``PUSHAPP["AUTHENTICATOR"]`` names the class. Override :meth:`BaseAuthenticator.authenticate` (sync: runs in
a worker thread, the ORM is safe) or :meth:`BaseAuthenticator.aauthenticate` (async) and raise
:class:`~pushapp.exceptions.AuthenticationFailed` to refuse a connection.
"""

from __future__ import annotations

import functools
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from .conf import push_settings
from .exceptions import AuthenticationFailed
from .tokens import Identity, verify_token


class BaseAuthenticator:
    def authenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        raise NotImplementedError("override authenticate() or aauthenticate()")

    async def aauthenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        result: Identity = await database_sync_to_async(self.authenticate)(scope, token)
        return result


class TokenAuthenticator(BaseAuthenticator):
    """The default: a token minted by :func:`pushapp.tokens.issue_token`. Pure CPU, so no thread hop."""

    async def aauthenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        return verify_token(token)


class SessionAuthenticator(BaseAuthenticator):
    """The Django session cookie sent with the handshake; the uid is the user's primary key.

    Only safe behind ``AllowedHostsOriginValidator`` (which ``push_application`` always adds), since a
    browser sends cookies on cross-site WebSocket handshakes too.
    """

    async def aauthenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        cookies: SimpleCookie = SimpleCookie()
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies.load(value.decode("latin-1"))
        morsel = cookies.get(settings.SESSION_COOKIE_NAME)
        if morsel is None:
            raise AuthenticationFailed("no session cookie")
        store = import_module(settings.SESSION_ENGINE).SessionStore
        user = await get_user({**scope, "session": store(morsel.value)})
        if not user.is_authenticated:
            raise AuthenticationFailed("the session has no authenticated user")
        return Identity(uid=str(user.pk))


@functools.cache
def _load(path: str) -> BaseAuthenticator:
    authenticator: BaseAuthenticator = import_string(path)()
    return authenticator


def get_authenticator() -> BaseAuthenticator:
    return _load(push_settings.AUTHENTICATOR)
