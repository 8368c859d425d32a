"""What this process counts about itself, in plain numbers: no dependency, nothing to configure.

The server side (closes, auth failures, client messages, drops, layer lag, control operations) reaches
every reader through presence: the hub adds :func:`fields` to what it reports per node. The sending side
(control-call latency, the sync-send queue and its failures, messages nobody could take) is this process's
own; :mod:`pushapp.observe.metrics` exports it for the process that answers the scrape (docs/metrics.md).
Labels a supervisor gives its workers (``pushserve``: service, worker, generation) live here too.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

#: The group the staff dashboard's page joins: every hub pushes its live report to it
#: (pushapp.server.hub.report).
WATCH_GROUP = "pushapp.watch"

#: Upper bounds, in seconds, of the control-call latency buckets (the last bucket is +Inf).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Histogram:
    """Cumulative-ready bucket counts and a sum, as Prometheus histograms want them."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class ProcessStats:
    closes: Counter[str] = field(default_factory=Counter)  # server-side closes, by close code
    auth_failures: Counter[str] = field(default_factory=Counter)  # by reason
    drops: Counter[str] = field(default_factory=Counter)  # messages lost, by reason (sending side: "limit")
    client_messages: int = 0  # "message" frames received from clients
    control_handled: int = 0  # per-connection operations this process's hubs answered
    control_seconds: float = 0.0
    layer_lag: float = 0.0  # seconds a probe took through the channel layer back to this process's hub
    control_calls: Histogram = field(default_factory=Histogram)  # this process as a caller
    sync_send_failures: int = 0
    recoveries: Counter[str] = field(default_factory=Counter)  # streams asked back: recovered, failed; missed
    replayed: int = 0  # pushes replayed from history to reconnecting clients


stats = ProcessStats()


def _no_queue() -> int:
    return 0


#: Replaced by the sync publisher: how many sends wait in its queue right now.
sync_queue_depth: Callable[[], int] = _no_queue

_labels: dict[str, str] = {}


def set_labels(**labels: str) -> None:
    """Labels every report of this process carries (``pushserve`` sets service, worker, generation)."""
    _labels.update(labels)


def labels() -> dict[str, str]:
    return dict(_labels)


def fields() -> dict[str, str | int | float]:
    """The server-side counters as flat presence fields: ``closes.1012``, ``auth_failures.expired``…"""
    out: dict[str, str | int | float] = {
        "client_messages": stats.client_messages,
        "control_handled": stats.control_handled,
        "control_seconds": round(stats.control_seconds, 6),
        "layer_lag": round(stats.layer_lag, 6),
        "replayed": stats.replayed,
    }
    labelled = (
        ("closes", stats.closes),
        ("auth_failures", stats.auth_failures),
        ("recoveries", stats.recoveries),
    )
    for prefix, counter in labelled:
        out.update({f"{prefix}.{key}": n for key, n in counter.items()})
    out.update({f"drops.{key}": n for key, n in stats.drops.items() if key != "limit"})
    return out
