"""One-time, short-lived SSE tickets: a token goes in a POST body, the ticket in the stream's URL (where
proxies and access logs may keep it). A ticket is signed (``django.core.signing``, the ``SECRET_KEY``), so
any server process of the cluster can read it; it carries the identity the token vouched for and a
nonce, used once: ``SET NX EX`` on the presence Redis when presence is in Redis, else in this process."""

from __future__ import annotations

import datetime
import secrets
import time
from typing import Any

from django.core import signing

from ..conf import push_settings
from ..presence import get_backend
from ..tokens import Identity

_SALT = "pushapp.sse-ticket"


def issue(identity: Identity) -> tuple[str, int]:
    """A ticket for ``identity`` and when it expires (unix milliseconds)."""
    blob = {
        "u": identity.uid,
        "g": list(identity.groups),
        "i": identity.issued,
        "s": identity.session,
        "n": secrets.token_urlsafe(12),
    }
    ticket = signing.dumps(blob, salt=_SALT, compress=True)
    return ticket, int((time.time() + push_settings.SSE_TICKET_TTL) * 1000)


class _Used:
    """The nonces redeemed in this process, until their tickets would have expired anyway."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def first(self, nonce: str, ttl: float) -> bool:
        now = time.monotonic()
        if len(self._until) > 1000:
            self._until = {n: t for n, t in self._until.items() if t > now}
        if self._until.get(nonce, 0.0) > now:
            return False
        self._until[nonce] = now + ttl
        return True


_used = _Used()


async def _first_use(nonce: str, ttl: float) -> bool:
    backend: Any = get_backend()
    # Presence in Redis: pushapp.presence.redis's backend, known by its client (importing it would import
    # redis, an extra).
    if hasattr(backend, "async_client"):
        key = f"{backend.prefix}sse-ticket:{nonce}"
        return bool(await backend.async_client().set(key, "1", nx=True, ex=max(int(ttl) + 1, 1)))
    return _used.first(nonce, ttl + 1)


async def aredeem(ticket: str) -> Identity | None:
    """The identity of a valid ticket, used up; None for one that is forged, expired or used."""
    ttl = push_settings.SSE_TICKET_TTL
    try:
        blob: Any = signing.loads(ticket, salt=_SALT, max_age=datetime.timedelta(seconds=ttl))
    except signing.BadSignature:  # SignatureExpired too
        return None
    if not isinstance(blob, dict) or not isinstance(blob.get("n"), str):
        return None
    if not await _first_use(blob["n"], ttl):
        return None
    return Identity(
        uid=blob.get("u"),
        groups=tuple(blob.get("g") or ()),
        issued=blob.get("i") or 0.0,
        session=blob.get("s"),
    )
