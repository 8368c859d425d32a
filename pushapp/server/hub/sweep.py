"""The heartbeat sweep: one task per hub (not a timer per connection) closes connections that have been
silent too long, like GatewayWorker's pingNotResponseLimit, and rejoins the hub's layer groups before
channels-redis's group_expiry would drop them."""

from __future__ import annotations

import asyncio
import time

from ...codes import CloseCode
from ...conf import push_settings
from . import control


async def sweep(parts: control.Parts) -> None:
    """Also closes, with 4002, the connections whose token expired unless they refreshed it in-band."""
    refreshed = time.monotonic()
    while True:
        interval = push_settings.PING_INTERVAL
        limit = push_settings.PING_NOT_RESPONSE_LIMIT
        await asyncio.sleep(max(interval / 2, 0.05) if interval and limit else 5.0)
        now = time.monotonic()
        if interval and limit:
            for conn in parts.registry.silent_since(now - interval * limit):
                await control.close(parts, conn, CloseCode.HEARTBEAT_TIMEOUT)
        for conn in parts.registry.expired(time.time()):
            await control.close(parts, conn, CloseCode.TOKEN_EXPIRED)
        expiry = getattr(parts.layer, "group_expiry", None)
        if expiry and now - refreshed > expiry / 2:
            refreshed = now
            await parts.membership.rejoin()
