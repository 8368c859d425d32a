"""Message ids seen lately: a push sent to several layer groups reaches a hub that is in more than one of
them once per group, and must be delivered once."""

from __future__ import annotations

import time

#: How long a message id is remembered.
DEDUPE_SECONDS = 60.0


class Dedupe:
    def __init__(self, seconds: float = DEDUPE_SECONDS) -> None:
        self.seconds = seconds
        self._seen: dict[str, float] = {}

    def seen(self, message_id: str) -> bool:
        """Whether ``message_id`` came before; remembers it if not."""
        now = time.monotonic()
        seen = self._seen
        if message_id in seen:
            return True
        seen[message_id] = now
        for key, at in list(seen.items()):  # oldest first; stop at the first one still fresh
            if now - at < self.seconds:
                break
            del seen[key]
        return False
