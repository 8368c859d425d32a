"""A hub's live report: its counters, pushed every second to the staff dashboard while someone watches.

Pushed over pushapp itself, to the group :data:`~pushapp.telemetry.WATCH_GROUP` (the dashboard page's
connection is granted it). Nobody watching costs one presence read per second; the same loop sends the
probe that measures the channel layer's lag.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import telemetry, wire
from ..gateway import asend_to_group
from ..layer import ChannelLayer
from ..presence import get_backend

logger = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between reports
PROBE_EVERY = 5  # reports between two layer probes


def report(node_id: str, info: Callable[[], list[str]]) -> dict[str, Any]:
    """What the dashboard shows of one node: its presence fields, as numbers where they are numbers."""
    pairs = info()
    fields: dict[str, Any] = {"node": node_id, "at": time.time()}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        try:
            fields[key] = float(value) if "." in value else int(value)
        except ValueError:
            fields[key] = value
    return fields


async def report_loop(node_id: str, channel: str, layer: ChannelLayer, info: Callable[[], list[str]]) -> None:
    tick = 0
    while True:
        await asyncio.sleep(INTERVAL)
        try:
            if tick % PROBE_EVERY == 0:
                await layer.send(channel, wire.probe(time.time()))
            tick += 1
            (watchers,) = await get_backend().agroup_counts([telemetry.WATCH_GROUP])
            if watchers:
                live = {"type": "pushapp.node", "node": report(node_id, info)}
                await asend_to_group(telemetry.WATCH_GROUP, live)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("pushapp hub %s: live report failed", node_id, exc_info=True)
