"""How long to wait before the next connection attempt: exponential backoff with full jitter, bounded."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Attempt ``n`` (0 for the first retry) waits a random time between 0 and
    ``min(cap, base * factor ** n)`` seconds ("full jitter": clients that lost the same server come back
    spread out, not in waves). ``max_attempts``: consecutive failed attempts before the client gives up
    with :class:`~pushapp.client.ConnectionFailed` (``None``: never)."""

    base: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("Backoff needs 0 < base <= cap and factor >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("Backoff.max_attempts must be at least 1 (or None)")

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry ``attempt``: grows by ``factor`` and stops at ``cap``."""
        if attempt >= 64:  # base * factor ** attempt would overflow long before; cap it is
            return self.cap
        return min(self.cap, self.base * self.factor**attempt)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, self.ceiling(attempt))
