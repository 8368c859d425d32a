"""The one retry policy of sends, for every carrier: the async carrier, the sync sender thread (and its
check that Redis is back), and control calls' requests.

- **Transient** is a lost connection, in redis-py's terms or Python's (``ConnectionError``,
  ``TimeoutError``): Redis restarted, a pooled connection went stale, a proxy dropped it. The next attempt
  opens a new connection. Nothing else is retried: a full channel, a script error or a message the layer
  cannot serialize would fail the same way again.
- **Attempts**: :data:`ATTEMPTS` in all, :data:`BACKOFF` seconds apart, doubling (0.05 s, then 0.1 s): a
  restarted Redis or a fresh connection is there by then, and a caller whose Redis is really away hears
  it at the call within about 0.15 s (plus the connect timeouts), instead of waiting for an outage to end.
- A write whose connection dropped before its reply may have been made: retried, it can arrive twice (at
  least once, never more than :data:`ATTEMPTS` times). A push with history stored first and sent after is
  stored once: only its send is retried.

The Redis clients pushapp opens to carry sends do not retry by themselves (``retries=0``), and the channel
layer's do not either, so this is the only policy a send goes through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 3
BACKOFF = 0.05


def transient(err: BaseException) -> bool:
    """A lost connection, in redis-py's terms or Python's (without importing redis: it is optional)."""
    return isinstance(err, (ConnectionError, TimeoutError)) or type(err).__name__ in (
        "ConnectionError",
        "TimeoutError",
    )


async def aretry(do: Callable[[], Awaitable[T]]) -> T:
    """Await ``do()``, again after a transient error, up to :data:`ATTEMPTS` times in all."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return await do()
        except Exception as err:
            if not transient(err):
                raise
            await asyncio.sleep(BACKOFF * 2**attempt)
    return await do()


def retry(do: Callable[[], T]) -> T:
    """:func:`aretry` for sync code (the sender thread): the same attempts, sleeping between them."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return do()
        except Exception as err:
            if not transient(err):
                raise
            time.sleep(BACKOFF * 2**attempt)
    return do()
