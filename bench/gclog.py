"""Garbage-collector pauses of a server, read back from its log and charged to the runs they fell in.

bench/serve.py logs each collection slower than GC_LOG_MS with its wall-clock end time; a run records
its own wall-clock window; a pause belongs to the run whose window contains its end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GC_LOG_MS = 5.0
GC_LOG_PREFIX = "bench.serve gc:"
_LINE = re.compile(re.escape(GC_LOG_PREFIX) + r" at=([0-9.]+) generation=(\d) ms=([0-9.]+) collected=(\d+)")


@dataclass(frozen=True)
class Pause:
    at: float
    generation: int
    ms: float


def read_pauses(log: Path) -> list[Pause]:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [Pause(float(m.group(1)), int(m.group(2)), float(m.group(3))) for m in _LINE.finditer(text)]


def charge(pauses: list[Pause], item: dict[str, Any]) -> None:
    """Add ``gc_pause_ms`` and ``gc_full_collections`` to a run record that has a ``window``."""
    window = item.get("window")
    if not window:
        return
    start, end = window
    inside = [p for p in pauses if start <= p.at <= end]
    item["gc_pause_ms"] = round(sum(p.ms for p in inside), 1)
    item["gc_full_collections"] = sum(1 for p in inside if p.generation == 2)
