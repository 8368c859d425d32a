"""A hub's live report: its counters, pushed to the staff dashboard while someone watches.

Every second, a hub whose own connections include a dashboard page (group
:data:`~pushapp.runtime.telemetry.WATCH_GROUP`) asks every hub, through the layer group all hubs are
in, for its report; each one pushes it to that group over pushapp itself. Nobody watching costs
nothing: no message, no Redis read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ...protocol import wire
from ...protocol.names import ALL_GROUP
from ...runtime import telemetry
from ...runtime.layer import ChannelLayer
from ...sender import plans
from ...sender.publish import apublish

logger = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between reports


def report(node_id: str, pairs: list[str]) -> dict[str, Any]:
    """What the dashboard shows of one node: its presence fields, as numbers where they are numbers."""
    fields: dict[str, Any] = {"node": node_id, "at": time.time()}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        try:
            fields[key] = float(value) if "." in value else int(value)
        except ValueError:
            fields[key] = value
    return fields


async def push_report(node_id: str, pairs: list[str]) -> None:
    """Push this node's ``pairs`` (``Hub.info_pairs()``) to the dashboards, planned and carried as any
    push is."""
    await apublish(
        plans.send_to_group(telemetry.WATCH_GROUP, {"type": "pushapp.node", "node": report(node_id, pairs)})
    )


async def report_loop(node_id: str, layer: ChannelLayer, watched: Callable[[], bool]) -> None:
    """Ask for every hub's report while ``watched()`` (a local dashboard)."""
    while True:
        await asyncio.sleep(INTERVAL)
        try:
            if watched():
                await layer.group_send(ALL_GROUP, wire.report())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("pushapp hub %s: live report failed", node_id, exc_info=True)
