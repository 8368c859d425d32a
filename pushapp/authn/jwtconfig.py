"""``PUSHAPP["JWT"]``: how :class:`~pushapp.auth.JWTAuthenticator` verifies a JSON Web Token, read from
the settings each time (it changes with ``override_settings``), and what the system checks say is wrong
with it (docs/tokens.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import push_settings

#: Each key of ``PUSHAPP["JWT"]`` and its default.
JWT_DEFAULTS: dict[str, Any] = {
    "ALGORITHMS": [],
    "KEY": None,
    "JWKS_URL": None,
    "AUDIENCE": None,
    "ISSUER": None,
    "GROUPS_CLAIM": "groups",
    "JWKS_CACHE": 300,
    "JWKS_MIN_INTERVAL": 30,
    "JWKS_TIMEOUT": 5,
}

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
#: Signed with a private key, verified with its public key (which may be published: a JWKS).
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True)
class JWTConfig:
    algorithms: list[str]
    key: str | None
    jwks_url: str | None
    audience: str | list[str] | None
    issuer: str | None
    groups_claim: str | None
    jwks_cache: float
    jwks_min_interval: float
    jwks_timeout: float


def jwt_config() -> JWTConfig:
    """The configuration in force; the system checks report a bad one, this refuses only the unusable."""
    values = {**JWT_DEFAULTS, **(push_settings.JWT or {})}
    if bool(values["KEY"]) == bool(values["JWKS_URL"]) or not values["ALGORITHMS"]:
        raise ImproperlyConfigured(
            'PUSHAPP["JWT"] needs ALGORITHMS and exactly one of KEY and JWKS_URL (docs/tokens.md)'
        )
    audience = values["AUDIENCE"]
    return JWTConfig(
        algorithms=[str(alg) for alg in values["ALGORITHMS"]],
        key=values["KEY"],
        jwks_url=values["JWKS_URL"],
        audience=list(audience) if isinstance(audience, (list, tuple)) else audience,
        issuer=values["ISSUER"],
        groups_claim=values["GROUPS_CLAIM"],
        jwks_cache=float(values["JWKS_CACHE"]),
        jwks_min_interval=float(values["JWKS_MIN_INTERVAL"]),
        jwks_timeout=float(values["JWKS_TIMEOUT"]),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _value_problems(raw: dict[str, Any]) -> list[str]:
    """Unknown keys and values of the wrong kind."""
    found = [f"{key!r} is not a key of it" for key in raw if key not in JWT_DEFAULTS]
    values = {**JWT_DEFAULTS, **raw}
    url = values["JWKS_URL"]
    audience = values["AUDIENCE"]
    expected = {
        "ALGORITHMS": (
            isinstance(values["ALGORITHMS"], (list, tuple))
            and all(isinstance(alg, str) for alg in values["ALGORITHMS"]),
            "a list of algorithm names",
        ),
        "KEY": (isinstance(values["KEY"], (str, type(None))), "a str (a secret or a PEM public key)"),
        "JWKS_URL": (
            url is None or (isinstance(url, str) and url.startswith(("https://", "http://"))),
            "an http(s) URL",
        ),
        "AUDIENCE": (
            audience is None
            or isinstance(audience, str)
            or (isinstance(audience, (list, tuple)) and all(isinstance(a, str) for a in audience)),
            "a str or a list of str",
        ),
        "ISSUER": (isinstance(values["ISSUER"], (str, type(None))), "a str"),
        "GROUPS_CLAIM": (isinstance(values["GROUPS_CLAIM"], (str, type(None))), "a claim name or None"),
        "JWKS_CACHE": (_is_number(values["JWKS_CACHE"]), "a number of seconds"),
        "JWKS_MIN_INTERVAL": (_is_number(values["JWKS_MIN_INTERVAL"]), "a number of seconds"),
        "JWKS_TIMEOUT": (_is_number(values["JWKS_TIMEOUT"]) and values["JWKS_TIMEOUT"] > 0, "seconds > 0"),
    }
    return found + [f"{key} must be {what}" for key, (ok, what) in expected.items() if not ok]


def problems(raw: object) -> list[tuple[str, str]]:
    """What is wrong with ``raw`` as ``PUSHAPP["JWT"]``: ``(check id, message)`` pairs (docs/settings.md)."""
    if not isinstance(raw, dict):
        return [("pushapp.E052", 'PUSHAPP["JWT"] is not set: JWTAuthenticator needs it (docs/tokens.md).')]
    found = [("pushapp.E050", f'PUSHAPP["JWT"]: {problem}.') for problem in _value_problems(raw)]
    if found:
        return found
    values = {**JWT_DEFAULTS, **raw}
    algorithms = set(values["ALGORITHMS"])
    unknown = sorted(algorithms - HMAC_ALGORITHMS - PUBLIC_KEY_ALGORITHMS)
    if not algorithms or unknown:
        found.append(
            (
                "pushapp.E051",
                f'PUSHAPP["JWT"]["ALGORITHMS"] must name signing algorithms; not one: {unknown or "empty"}.',
            )
        )
    elif algorithms & HMAC_ALGORITHMS and (algorithms & PUBLIC_KEY_ALGORITHMS or values["JWKS_URL"]):
        found.append(
            (
                "pushapp.E051",
                'PUSHAPP["JWT"]["ALGORITHMS"] mixes a shared secret (HS*) with public keys: a public key '
                "must never verify an HMAC. Use one kind.",
            )
        )
    if bool(values["KEY"]) == bool(values["JWKS_URL"]):
        found.append(("pushapp.E052", 'PUSHAPP["JWT"] needs exactly one of KEY and JWKS_URL.'))
    return found
