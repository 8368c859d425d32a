"""The public keys at a JWKS URL, cached: fetched when a token first needs them, again once they are
older than ``JWKS_CACHE`` seconds or when a token names a key id (``kid``) they lack, as after a key
rotation; but never more than once per ``JWKS_MIN_INTERVAL`` seconds, so tokens naming made-up key ids
cannot make the server hammer the URL. Fetching blocks: :class:`KeySet.refresh` runs in a thread when an
event loop waits for it."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jwt import PyJWK

logger = logging.getLogger(__name__)

#: Largest JWKS document read, in bytes: a key set is a few KB.
MAX_JWKS_SIZE = 1024 * 1024


def fetch_keys(url: str, timeout: float) -> list[PyJWK]:
    """The signing keys published at ``url``; raises ``OSError`` or ``ValueError`` (PyJWT's errors too)."""
    from jwt import PyJWKSet

    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # the checks allow only http(s)
        body = response.read(MAX_JWKS_SIZE + 1)
    if len(body) > MAX_JWKS_SIZE:
        raise ValueError(f"the JWKS is larger than {MAX_JWKS_SIZE} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the JWKS is not a JSON object")
    return [key for key in PyJWKSet.from_dict(document) if key.public_key_use in (None, "sig")]


class KeySet:
    """The keys of one JWKS URL. ``clock``: monotonic seconds (tests give their own)."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.keys: list[PyJWK] = []
        self.fetched = float("-inf")  # when the keys held were fetched
        self.attempted = float("-inf")  # when a fetch last started, whatever came of it
        self.fetches = 0  # fetches that succeeded
        self._clock = clock
        self._lock = threading.Lock()

    def find(self, kid: str | None) -> PyJWK | None:
        """The key named ``kid``; a token naming none may use the only key of a set of one."""
        if kid is None:
            return self.keys[0] if len(self.keys) == 1 else None
        return next((key for key in self.keys if key.key_id == kid), None)

    def due(self, kid: str | None, max_age: float, min_interval: float) -> bool:
        """Whether to fetch before verifying a token naming ``kid``: the keys are stale, or lack it, and
        no fetch started within ``min_interval`` seconds."""
        now = self._clock()
        if now - self.attempted < min_interval:
            return False
        return now - self.fetched >= max_age or self.find(kid) is None

    def refresh(self, min_interval: float, timeout: float) -> None:
        """Fetch the keys again, unless another thread started a fetch within ``min_interval`` seconds.
        A failed fetch keeps the keys held (logged): a JWKS URL that is briefly away refuses no one."""
        with self._lock:
            now = self._clock()
            if now - self.attempted < min_interval:
                return
            self.attempted = now
            try:
                keys = fetch_keys(self.url, timeout)
            except Exception as err:  # OSError, bad JSON, PyJWT's errors: the URL gave no usable keys
                logger.warning("pushapp: could not fetch the JWKS at %s: %s", self.url, err)
                return
            self.keys, self.fetched = keys, now
            self.fetches += 1
