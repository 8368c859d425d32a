"""Connection tokens: minted by Django, verified by the push consumer.

A token is a Django-signed, salted, timestamped value carrying the uid and the groups the server decided
the connection joins, when it was issued (to the millisecond: revocation compares it) and a hash of the
Django session it was minted in (logging out closes that session's connections). It expires
``TOKEN_MAX_AGE`` seconds after it was issued, and so does a connection that did not refresh it; one
dated more than :data:`CLOCK_SKEW` seconds in the future is refused, as no server here could have issued
it.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from .conf import push_settings
from .exceptions import InvalidGroup, InvalidToken, InvalidUid, TokenExpired
from .protocol.names import normalize_uid, validate_group

_PROOF_SALT = "pushapp.client-proof"
_GROUPS_SALT = "pushapp.token-groups"
_SESSION_SALT = "pushapp.session"

#: Seconds a token or grant may be dated ahead of this server's clock (servers' clocks differ a little).
CLOCK_SKEW = 60


class _Signer(signing.TimestampSigner):
    """Django's timestamped signer, which also refuses values dated more than :data:`CLOCK_SKEW` ahead:
    its ``max_age`` check alone accepts any future date, and so a token that outlives every limit."""

    def unsign(self, value: str, max_age: int | datetime.timedelta | None = None) -> str:
        plain: str = super().unsign(value, max_age)
        stamp = value.rsplit(self.sep, 2)[-2]  # the signature matched: the stamp is ours
        if signing.b62_decode(stamp) > time.time() + CLOCK_SKEW:
            raise signing.BadSignature("the signature is dated in the future")
        return plain


@dataclass(frozen=True)
class Identity:
    """Who a connection is: the uid it is bound to (or None), the groups it joins on connect, when its
    token was issued (unix seconds; 0 when no pushapp token vouches for it: no expiry, no revocation by
    date) and the hash of the Django session it came from (None: none)."""

    uid: str | None = None
    groups: tuple[str, ...] = field(default=())
    issued: float = 0.0
    session: str | None = None

    @property
    def expires(self) -> float | None:
        """When the token, and so a connection that does not refresh it, expires (unix seconds)."""
        return self.issued + push_settings.TOKEN_MAX_AGE if self.issued else None


def session_hash(session_key: str | None) -> str | None:
    """What a token carries of the session it was minted in: enough to close that session's connections
    at logout, nothing to find or use the session by."""
    if not session_key:
        return None
    return salted_hmac(_SESSION_SALT, session_key, algorithm="sha256").hexdigest()[:20]


def revocation_keys(uid: str | None, session: str | None) -> list[str]:
    """What a revocation names: ``"u:<uid>"`` for every token of the uid, ``"s:<session hash>"`` for those
    minted in one session."""
    keys = [] if uid is None else ["u:" + uid]
    return keys if session is None else [*keys, "s:" + session]


def issue_token(
    uid: str | int | None = None, groups: Iterable[str] = (), session_key: str | None = None
) -> str:
    """Return a token that lets one WebSocket connect as ``uid`` and join ``groups``; ``session_key``: the
    Django session it is minted in, whose logout closes the connection."""
    # To the millisecond, rounded down: never after the moment it was minted, so a revocation made later
    # always finds it older (one minted within the same millisecond after a revocation is refused too).
    payload: dict[str, Any] = {"t": math.floor(time.time() * 1000) / 1000}
    if uid is not None:
        payload["u"] = normalize_uid(uid)
    group_list = [validate_group(g) for g in groups]
    if group_list:
        payload["g"] = group_list
    session = session_hash(session_key)
    if session is not None:
        payload["s"] = session
    return _Signer(salt=push_settings.TOKEN_SALT).sign_object(payload, compress=True)


def token_for_user(user: Any, groups: Iterable[str] = (), session_key: str | None = None) -> str:
    """A token for ``request.user``: the uid is the user's primary key, or None when anonymous. Pass
    ``request.session.session_key`` so that logging out closes the connection."""
    uid = user.pk if getattr(user, "is_authenticated", False) else None
    return issue_token(uid, groups, session_key)


def verify_token(token: object) -> Identity:
    """Return the token's identity, or raise :class:`InvalidToken` / :class:`TokenExpired`."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("no token was given")
    try:
        signer = _Signer(salt=push_settings.TOKEN_SALT)
        payload = signer.unsign_object(token, max_age=datetime.timedelta(seconds=push_settings.TOKEN_MAX_AGE))
    except signing.SignatureExpired as err:
        raise TokenExpired("the token has expired") from err
    except (signing.BadSignature, ValueError) as err:
        raise InvalidToken("the token is malformed or its signature does not match") from err
    # Signed by a key this server trusts, yet not necessarily by this version of issue_token: a value of
    # the wrong type is a bad token (4001), not an error in the server.
    if not isinstance(payload, dict):
        raise InvalidToken("the token does not carry an identity")
    uid, groups = payload.get("u"), payload.get("g", [])
    issued, session = payload.get("t", 0.0), payload.get("s")
    if not isinstance(groups, list):
        raise InvalidToken("the token's groups are not a list")
    if (
        not isinstance(issued, (int, float))
        or isinstance(issued, bool)
        or not isinstance(session, str | None)
    ):
        raise InvalidToken("the token's date or session is not valid")
    try:
        return Identity(
            uid=None if uid is None else normalize_uid(uid),
            groups=tuple(validate_group(g) for g in groups),
            issued=float(issued),
            session=session,
        )
    except (InvalidUid, InvalidGroup) as err:
        raise InvalidToken(f"the token's identity is not valid: {err}") from err


def token_max_age() -> int | float:
    """``TOKEN_MAX_AGE`` as the client sees it: ``3600``, not ``3600.0``."""
    max_age = push_settings.TOKEN_MAX_AGE
    return int(max_age) if max_age.is_integer() else max_age


def _user_uid(user: Any) -> str | None:
    return normalize_uid(user.pk) if user.is_authenticated else None


def _grant_signer() -> signing.TimestampSigner:
    """Grants are dated and salted with ``TOKEN_SALT`` too: a user removed from a group cannot mint
    tokens for it past ``GRANT_MAX_AGE``, and rotating the salt revokes every grant with every token."""
    return _Signer(salt=f"{_GROUPS_SALT}:{push_settings.TOKEN_SALT}")


def groups_grant(user: Any, groups: Iterable[str], session_key: str | None = None) -> str:
    """Sign the groups the server chose for ``user``, so a token refreshed later still carries them.

    The client cannot pick groups: it can only hand back a grant made for its own user, for
    ``GRANT_MAX_AGE`` seconds. An anonymous visitor's grant is bound to its session (``session_key``):
    uid None is every anonymous visitor.
    """
    uid = _user_uid(user)
    session = session_hash(session_key) if uid is None else None
    return _grant_signer().sign_object([uid, list(groups), session], compress=True)


def granted_groups(user: Any, grant: str, session_key: str | None = None) -> list[str]:
    """The groups of a grant made for ``user`` (and, anonymous, for the session ``session_key``);
    :class:`~django.core.signing.BadSignature` otherwise (:class:`~django.core.signing.SignatureExpired`
    once it is older than ``GRANT_MAX_AGE``)."""
    try:
        max_age = datetime.timedelta(seconds=push_settings.GRANT_MAX_AGE)
        uid, groups, session = _grant_signer().unsign_object(grant, max_age=max_age)
    except (TypeError, ValueError) as err:  # not [uid, groups, session]: a foreign value, a trusted key
        raise signing.BadSignature("the grant is malformed") from err
    if uid != _user_uid(user):
        raise signing.BadSignature("the groups were granted to another user")
    if uid is None and (session is None or session != session_hash(session_key)):
        raise signing.BadSignature("the groups were granted to another visitor's session")
    if not isinstance(groups, list):
        raise signing.BadSignature("the grant's groups are not a list")
    try:
        return [validate_group(g) for g in groups]
    except InvalidGroup as err:
        raise signing.BadSignature(f"the grant's groups are not valid: {err}") from err


def client_proof(client_id: str) -> str:
    """A proof, handed only to the connection itself in its welcome frame, that it owns ``client_id``."""
    return signing.Signer(salt=_PROOF_SALT).signature(client_id)


def verify_client_proof(client_id: str, proof: object) -> bool:
    """Whether ``proof`` is the one the welcome frame of ``client_id`` carried."""
    return isinstance(proof, str) and constant_time_compare(client_proof(client_id), proof)
