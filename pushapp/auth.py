"""Authenticators turn the credentials a connection presents into an :class:`~pushapp.tokens.Identity`;
and access ends when Django's does (logout, a password change, a deactivated user).

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
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.utils.module_loading import import_string

from . import gateway
from .authn.jwt import JWTVerifier
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


class JWTAuthenticator(BaseAuthenticator):
    """A JSON Web Token another system issued (HS256, RS256, ES256…), verified as ``PUSHAPP["JWT"]``
    says: ``sub`` is the uid, the ``groups`` claim the groups, ``exp`` the connection's expiry
    (docs/tokens.md). Needs the ``jwt`` extra (PyJWT); a due JWKS fetch runs in a thread."""

    def __init__(self) -> None:
        self.verifier = JWTVerifier()

    def authenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        return self.verifier.verify(token)

    async def aauthenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        return await self.verifier.averify(token)


@functools.cache
def _load(path: str) -> BaseAuthenticator:
    authenticator: BaseAuthenticator = import_string(path)()
    return authenticator


def get_authenticator() -> BaseAuthenticator:
    return _load(push_settings.AUTHENTICATOR)


# -- access ends when Django's does ------------------------------------------------------------------


def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """Django's logout: the connections whose token was minted in this session close with 4008 (sent
    before the session is flushed, so its key is still there)."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if push_settings.REVOKE_ON_LOGOUT and user is not None and user.pk is not None and session_key:
        gateway.revoke_session(user.pk, session_key)


#: Set on a user instance by pre_save when its save must revoke the uid once committed.
_REVOKE = "_pushapp_revoke"


def _user_saving(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kw: Any) -> None:
    """A saved user whose password changed, or who was deactivated: revoke the uid once the save commits
    (one query for the row as it was; none for saves that touch neither field, such as last_login's)."""
    watched = {"password", "is_active"}
    if raw or instance.pk is None or (update_fields is not None and not watched & set(update_fields)):
        return
    if not (push_settings.REVOKE_ON_PASSWORD_CHANGE or push_settings.REVOKE_ON_DEACTIVATE):
        return
    fields = [f for f in ("password", "is_active") if hasattr(instance, f)]
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    if old is None:
        return
    changed = push_settings.REVOKE_ON_PASSWORD_CHANGE and old.get("password") != getattr(
        instance, "password", None
    )
    deactivated = (
        push_settings.REVOKE_ON_DEACTIVATE
        and old.get("is_active")
        and not getattr(instance, "is_active", True)
    )
    setattr(instance, _REVOKE, bool(changed or deactivated))


def _user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if getattr(instance, _REVOKE, False):
        setattr(instance, _REVOKE, False)
        transaction.on_commit(lambda: gateway.revoke_uid(instance.pk), robust=True)


def connect_revocation() -> None:
    """Connect the receivers above (``PushappConfig.ready``); each setting turns its case off. A project
    without a user model (no ``django.contrib.auth``) has no logout or password change to follow."""
    try:
        user_model = django_apps.get_model(settings.AUTH_USER_MODEL)
    except (LookupError, ValueError):
        return
    user_logged_out.connect(_logged_out, dispatch_uid="pushapp.revoke_on_logout")
    pre_save.connect(_user_saving, sender=user_model, dispatch_uid="pushapp.revoke_saving")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="pushapp.revoke_saved")
