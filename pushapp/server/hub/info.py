"""A hub's process as ``manage.py pushstats``, the metrics and the live report show it: the presence
writer refreshes it with every heartbeat, so it is built from plain values, with no I/O."""

from __future__ import annotations

import os
import socket

from ...runtime import telemetry
from ...runtime.registry import Registry
from .. import limits
from ..sockets import Counters


def info_pairs(registry: Registry, counters: Counters, started_at: float) -> list[str]:
    """This process's fields, as field/value pairs."""
    fields = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": f"{started_at:.3f}",
        "clients": len(registry),
        "delivered": counters.delivered,
        "dropped": counters.dropped,
        "dropped_bytes": counters.dropped_bytes,
        "uids": len(registry.uids),
        "groups": len(registry.groups),
    }
    fields.update(telemetry.labels())
    fields.update(telemetry.fields())
    fields.update({f"refused.{reason}": n for reason, n in limits.refused.items()})
    return [str(item) for pair in fields.items() for item in pair]
