"""A JSON Web Token another system issued, verified into an :class:`~pushapp.tokens.Identity`: ``sub`` is
the uid, a list claim (``groups``) the groups it joins, ``exp`` when it and its connection expire.

Dates follow pushapp's own tokens: expired is expired (4002), and a token dated more than
:data:`~pushapp.tokens.CLOCK_SKEW` seconds ahead (``nbf``, ``iat``) is refused (4001), as no clock of the
cluster is that far behind. ``exp`` and ``sub`` are required.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codes import CloseCode
from ..exceptions import AuthenticationFailed, InvalidGroup, InvalidToken, InvalidUid, TokenExpired
from ..protocol.names import normalize_uid, validate_group
from ..tokens import CLOCK_SKEW, Identity
from .jwks import KeySet
from .jwtconfig import JWTConfig, jwt_config

if TYPE_CHECKING:
    from jwt import PyJWK


class KeysUnavailable(AuthenticationFailed):
    """No key of the JWKS URL could be fetched yet: the connection is closed with 1013, try again later."""

    close_code = CloseCode.TRY_AGAIN_LATER


@dataclass(frozen=True)
class JWTIdentity(Identity):
    """An identity a JWT vouches for: ``issued`` is its ``iat`` (0 without one), ``exp`` its expiry."""

    exp: float = 0.0

    @property
    def expires(self) -> float | None:
        return self.exp


def _header(token: object) -> tuple[str | None, str | None]:
    """The token's ``alg`` and ``kid``, unverified: which key to verify it with."""
    import jwt

    if not isinstance(token, str) or not token:
        raise InvalidToken("no token was given")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as err:
        raise InvalidToken(f"the token is not a JWT: {err}") from err
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not isinstance(kid, str | None):
        raise InvalidToken("the JWT header's alg or kid is not valid")
    return alg, kid


def _date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidToken(f"the JWT's {name} is not a number")
    return float(value)


def identity_of(token: str, key: PyJWK | str, config: JWTConfig) -> JWTIdentity:
    """Verify ``token``'s signature with ``key`` and its claims; raise InvalidToken or TokenExpired."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=config.algorithms,
            audience=config.audience,
            issuer=config.issuer,
            # The dates are checked below, with pushapp's rule.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "sub"],
            },
        )
    except (jwt.PyJWTError, ValueError) as err:
        raise InvalidToken(f"the JWT was refused: {err}") from err
    now = time.time()
    exp, nbf, iat = _date(claims, "exp"), _date(claims, "nbf"), _date(claims, "iat")
    if exp is None or exp <= now:
        raise TokenExpired("the JWT has expired")
    if (nbf is not None and nbf > now + CLOCK_SKEW) or (iat is not None and iat > now + CLOCK_SKEW):
        raise InvalidToken("the JWT is dated in the future (nbf or iat)")
    groups = claims.get(config.groups_claim, []) if config.groups_claim else []
    if not isinstance(groups, list):
        raise InvalidToken(f"the JWT's {config.groups_claim} claim is not a list")
    try:
        return JWTIdentity(
            uid=normalize_uid(claims["sub"]),
            groups=tuple(validate_group(g) for g in groups),
            issued=iat or 0.0,
            exp=exp,
        )
    except (InvalidUid, InvalidGroup) as err:
        raise InvalidToken(f"the JWT's identity is not valid: {err}") from err


class JWTVerifier:
    """Verifies JWTs with the configured key, or with the keys of the JWKS URL (one :class:`KeySet` per
    URL, kept while the process lives)."""

    def __init__(self, keysets: dict[str, KeySet] | None = None) -> None:
        self.keysets = {} if keysets is None else keysets

    def _start(self, token: object) -> tuple[JWTConfig, str, str, str | None, KeySet | None]:
        """The configuration, the token, its alg and kid, and the key set to fetch first (None: none)."""
        config = jwt_config()
        alg, kid = _header(token)
        assert isinstance(token, str)  # _header refused anything else
        if alg not in config.algorithms:  # before any fetch: a made-up alg costs nothing
            raise InvalidToken(f"the JWT's algorithm {alg!r} is not allowed")
        if config.jwks_url is None:
            return config, token, alg, kid, None
        keyset = self.keysets.get(config.jwks_url)
        if keyset is None:
            keyset = self.keysets[config.jwks_url] = KeySet(config.jwks_url)
        due = keyset.due(kid, config.jwks_cache, config.jwks_min_interval)
        return config, token, alg, kid, keyset if due else None

    def _finish(self, config: JWTConfig, token: str, alg: str, kid: str | None) -> JWTIdentity:
        if config.jwks_url is None:
            assert config.key is not None  # jwt_config requires one of them
            return identity_of(token, config.key, config)
        keyset = self.keysets[config.jwks_url]
        if not keyset.keys:
            raise KeysUnavailable("the JWKS URL gave no keys yet")
        key = keyset.find(kid)
        if key is None:
            raise InvalidToken(f"no key of the JWKS has the id {kid!r}")
        if key.algorithm_name != alg:  # a key serves one algorithm (older PyJWT did not check)
            raise InvalidToken(f"the key {kid!r} is not for {alg}")
        return identity_of(token, key, config)

    def verify(self, token: object) -> JWTIdentity:
        """Verify ``token``, fetching the JWKS first when due (blocking: use :meth:`averify` in a loop)."""
        config, text, alg, kid, fetch = self._start(token)
        if fetch is not None:
            fetch.refresh(config.jwks_min_interval, config.jwks_timeout)
        return self._finish(config, text, alg, kid)

    async def averify(self, token: object) -> JWTIdentity:
        """:meth:`verify` for an event loop: a due fetch runs in a thread."""
        config, text, alg, kid, fetch = self._start(token)
        if fetch is not None:
            await asyncio.to_thread(fetch.refresh, config.jwks_min_interval, config.jwks_timeout)
        return self._finish(config, text, alg, kid)
