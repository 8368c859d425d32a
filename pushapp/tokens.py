"""Connection tokens: minted by Django, verified by the push consumer.

A token is a Django-signed, salted, timestamped value carrying the uid and the groups the server decided
the connection joins. It expires ``TOKEN_MAX_AGE`` seconds after it was issued.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.utils.crypto import constant_time_compare

from .conf import push_settings
from .exceptions import InvalidToken, TokenExpired
from .names import normalize_uid, validate_group

_PROOF_SALT = "pushapp.client-proof"
_GROUPS_SALT = "pushapp.token-groups"


@dataclass(frozen=True)
class Identity:
    """Who a connection is: the uid it is bound to (or None) and the groups it joins on connect."""

    uid: str | None = None
    groups: tuple[str, ...] = field(default=())


def issue_token(uid: str | int | None = None, groups: Iterable[str] = ()) -> str:
    """Return a token that lets one WebSocket connect as ``uid`` and join ``groups``."""
    payload: dict[str, Any] = {}
    if uid is not None:
        payload["u"] = normalize_uid(uid)
    group_list = [validate_group(g) for g in groups]
    if group_list:
        payload["g"] = group_list
    return signing.dumps(payload, salt=push_settings.TOKEN_SALT, compress=True)


def token_for_user(user: Any, groups: Iterable[str] = ()) -> str:
    """A token for ``request.user``: the uid is the user's primary key, or None when anonymous."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    return issue_token(uid, groups)


def verify_token(token: object) -> Identity:
    """Return the token's identity, or raise :class:`InvalidToken` / :class:`TokenExpired`."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("no token was given")
    try:
        max_age = datetime.timedelta(seconds=push_settings.TOKEN_MAX_AGE)
        payload = signing.loads(token, salt=push_settings.TOKEN_SALT, max_age=max_age)
    except signing.SignatureExpired as err:
        raise TokenExpired("the token has expired") from err
    except (signing.BadSignature, ValueError) as err:
        raise InvalidToken("the token is malformed or its signature does not match") from err
    if not isinstance(payload, dict):
        raise InvalidToken("the token does not carry an identity")
    uid = payload.get("u")
    return Identity(
        uid=None if uid is None else normalize_uid(uid),
        groups=tuple(validate_group(g) for g in payload.get("g", ())),
    )


def token_max_age() -> int | float:
    """``TOKEN_MAX_AGE`` as the client sees it: ``3600``, not ``3600.0``."""
    max_age = push_settings.TOKEN_MAX_AGE
    return int(max_age) if max_age.is_integer() else max_age


def _user_uid(user: Any) -> str | None:
    return normalize_uid(user.pk) if user.is_authenticated else None


def groups_grant(user: Any, groups: Iterable[str]) -> str:
    """Sign the groups the server chose for ``user``, so a token refreshed later still carries them.

    The client cannot pick groups: it can only hand back a grant made for its own user.
    """
    return signing.Signer(salt=_GROUPS_SALT).sign_object([_user_uid(user), list(groups)], compress=True)


def granted_groups(user: Any, grant: str) -> list[str]:
    """The groups of a grant made for ``user``; :class:`~django.core.signing.BadSignature` otherwise."""
    uid, groups = signing.Signer(salt=_GROUPS_SALT).unsign_object(grant)
    if uid != _user_uid(user):
        raise signing.BadSignature("the groups were granted to another user")
    return [validate_group(g) for g in groups]


def client_proof(client_id: str) -> str:
    """A proof, handed only to the connection itself in its welcome frame, that it owns ``client_id``."""
    return signing.Signer(salt=_PROOF_SALT).signature(client_id)


def verify_client_proof(client_id: str, proof: object) -> bool:
    """Whether ``proof`` is the one the welcome frame of ``client_id`` carried."""
    return isinstance(proof, str) and constant_time_compare(client_proof(client_id), proof)
