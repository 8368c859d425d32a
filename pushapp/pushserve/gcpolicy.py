"""How a pushserve worker handles Python's garbage collector.

A full collection walks every tracked object, and at 10,000 connections that took 0.6-0.8 s in the
benchmark, during which the process serves nobody: a fan-out that meets one is many times slower than
usual. Connections live long, so their objects need not be walked again and again:

- after start-up (Django, the application, the modules) everything is moved to the permanent generation
  (``gc.freeze()``): collections never walk it;
- after each *connection wave* (the number of connections grew by :data:`WAVE` or 10 %, then held still
  for one tick) the wave's objects are frozen too, without a collection: freezing moves them and walks
  nothing, so there is no pause at all (a collection here took 0.66 s at 10,000 connections and, the
  wave just over, fell into the first fan-outs); what little cyclic garbage the wave left stays until the
  next thaw;
- frozen objects are never freed, so once the connections fell to half of what was frozen, the
  permanent generation is thawed, collected and frozen again (one pause, at a quiet moment again);
- young-generation thresholds are raised so the allocation bursts of a fan-out trigger fewer passes.

The command owns the process, so it may change these process-wide settings; ``runserver`` and a plain
daphne keep Python's defaults.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

THRESHOLDS = (50_000, 20, 100)
WAVE = 500  # connections: a smaller change is not worth a pass
TICK = 1.0  # seconds between two looks at the number of connections


def _timed(what: str, action: Callable[[], object]) -> None:
    started = time.perf_counter()
    action()
    logger.info(
        "pushserve gc: %s in %.1f ms (%d objects frozen)",
        what,
        (time.perf_counter() - started) * 1000,
        gc.get_freeze_count(),
    )


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


def _thaw_collect_and_freeze() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class GcPolicy:
    """Call :meth:`start` once the worker is set up, then :meth:`tick` every :data:`TICK` seconds."""

    def __init__(self, connections: Callable[[], int]) -> None:
        self.connections = connections
        self.frozen_at = 0  # connections when we last froze
        self._last = 0

    def start(self) -> None:
        gc.set_threshold(*THRESHOLDS)
        _timed("start-up objects frozen", _collect_and_freeze)

    def tick(self) -> None:
        now = self.connections()
        steady, self._last = now == self._last, now
        if not steady:
            return  # a wave is under way: never add a pass to it
        grown = now - self.frozen_at
        if grown >= max(WAVE, self.frozen_at // 10):
            _timed(f"connection wave ({self.frozen_at} -> {now}) frozen", gc.freeze)
            self.frozen_at = now
        elif self.frozen_at >= WAVE and now <= self.frozen_at // 2:
            _timed(
                f"connections fell ({self.frozen_at} -> {now}): thawed and refrozen", _thaw_collect_and_freeze
            )
            self.frozen_at = now
