"""A hub's probe: a message it sends itself every second through a layer group only it is in. When one
does not come back, its subscriptions or group memberships were lost (Redis restarted, a connection
dropped, the core layer forgot its groups): it rejoins until one does, then heals (docs/recovery.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from ...protocol import wire
from ...protocol.names import probe_layer_group
from ...runtime import telemetry
from ...runtime.layer import ChannelLayer
from .membership import LayerMembership

logger = logging.getLogger(__name__)

#: Seconds between probes, and how long one may take to come back.
PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 2.0


class Healer(Protocol):
    """What the probe needs of its hub: its layer, the memberships it rejoins while the layer does not
    deliver, and the healing once it does again."""

    node_id: str
    layer: ChannelLayer
    membership: LayerMembership

    async def heal(self) -> bool:
        """Catch up on what was missed; False when it could not (tried again after the next probe)."""
        ...


class Probe:
    def __init__(self, hub: Healer) -> None:
        self.hub = hub
        self.layer = hub.layer
        self.group = probe_layer_group(hub.node_id)  # only this hub is in it
        self.name = hub.node_id
        self.sent = 0  # the sequence number of the last probe sent
        self.back = 0  # and of the last one that came back
        self.sent_at = 0.0  # when the last one was sent (monotonic): its trip is the layer lag (metrics)

    def received(self, message: wire.Probe) -> None:
        self.back = max(self.back, message.get("i", 0))
        if message.get("i") == self.sent:
            telemetry.stats.layer_lag = time.monotonic() - self.sent_at

    async def run(self) -> None:
        down = False
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            self.sent += 1
            if await self._came_back(self.sent):
                if down:
                    logger.warning("pushapp hub %s: the channel layer delivers again; healing", self.name)
                    down = not await self.hub.heal()
                continue
            if not down:
                logger.warning("pushapp hub %s: the channel layer does not deliver; rejoining", self.name)
                down = True
            try:
                await self.hub.membership.rejoin()
            except Exception:
                logger.debug("pushapp hub %s: rejoining failed", self.name, exc_info=True)

    async def _came_back(self, sequence: int) -> bool:
        """Whether probe ``sequence`` comes back within PROBE_TIMEOUT (a late one, behind a busy loop,
        counts: only a lost one means the layer lost us)."""
        deadline = time.monotonic() + PROBE_TIMEOUT
        self.sent_at = time.monotonic()
        try:
            await self.layer.group_send(self.group, wire.probe(sequence))
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        while self.back < sequence:
            if time.monotonic() > deadline:
                for _ in range(10):  # the loop may just have woken from a stall: let it read first
                    await asyncio.sleep(0)
                return self.back >= sequence
            await asyncio.sleep(0.02)
        return True
