"""Workload g, the soak (``python -m bench --only soak``): is the server still the same after a while?

``soak_connections`` connections to one group, of which ``churn_fraction`` reconnect continuously (each
lives about ``churn_lifetime`` seconds), while the producer pushes ``soak_rate`` messages a second to the
group for ``duration`` seconds. Every ``sample_interval`` seconds the server's RSS and open file
descriptors are sampled: flat lines mean no leak. At the end: deliveries, what the steady connections
lost (the churning ones legitimately miss pushes while they reconnect), and the ERROR and Traceback
lines in the server's log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.procs import ChildError
from bench.sysinfo import fd_count, rss_kb
from bench.workloads import GROUP, Rig

CHURN_BASE = 1_000_000  # connection indices (uids) of the churning connections: apart from the steady ones
Say = Callable[[str], None]


def _sample(rig: Rig, started: float) -> dict[str, Any]:
    pid = rig.server.pid
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": round(rss_kb(pid) / 1024, 1),
        "fds": fd_count(pid),
    }


def _log_counts(rig: Rig) -> dict[str, int]:
    text = rig.server.log_path.read_text(errors="replace")
    return {"error_lines": text.count(" ERROR "), "tracebacks": text.count("Traceback")}


def soak(rig: Rig, say: Say) -> dict[str, Any]:
    options, server = rig.options, rig.server
    churners = int(options.soak_connections * options.churn_fraction)
    steady = options.soak_connections - churners
    stage = rig.pool.grow(steady, server.port, GROUP, options.connect_concurrency, max(60.0, steady / 50))
    if stage["failed"]:
        raise ChildError(f"{stage['failed']} of {steady} soak connections failed: {stage['errors']}")
    logs_before = _log_counts(rig)
    run = next(rig.runs)
    count = max(1, round(options.soak_rate * options.duration))
    expected = rig.pool.arm(run, per_conn=count)
    rig.pool.churn_start(CHURN_BASE, churners, server.port, GROUP, options.churn_lifetime)
    say(
        f"[soak] {steady} steady + {churners} churning connections, {options.soak_rate:g} pushes/s "
        f"for {options.duration:g} s"
    )
    started = time.monotonic()
    rig.producer.send(
        {
            "op": "steady",
            "group": GROUP,
            "run": run,
            "count": count,
            "rate": options.soak_rate,
            "size": options.message_size,
        }
    )
    samples = []
    deadline = started + options.duration + 120.0
    while True:
        samples.append(sample := _sample(rig, started))
        say(f"[soak] t={sample['t']:>7.1f}s  rss {sample['rss_mb']:>7.1f} MB  fds {sample['fds']}")
        if not server.alive():
            raise ChildError("the server died during the soak")
        if rig.producer.poll(options.sample_interval) is not None:
            break
        if time.monotonic() > deadline:
            raise ChildError("the producer did not finish the soak's pushes in time")
    churn = rig.pool.churn_stop()
    complete = rig.pool.wait(expected, options.settle, rig.deadline(expected))
    result = rig.pool.collect(expected, complete)
    samples.append(_sample(rig, started))
    logs_after = _log_counts(rig)
    rig.pool.close()
    out = {
        "connections": options.soak_connections,
        "steady": steady,
        "churning": churners,
        "duration_s": options.duration,
        "pushes": count,
        "expected": expected,
        "delivered": result.received + churn["deliveries"],
        "lost": result.lost,
        "duplicates": result.duplicates,
        "reconnects": churn["reconnects"],
        "failed_reconnects": churn["failures"],
        "samples": samples,
        "rss_mb_first": samples[0]["rss_mb"],
        "rss_mb_last": samples[-1]["rss_mb"],
        "fds_first": samples[0]["fds"],
        "fds_last": samples[-1]["fds"],
        "error_lines": logs_after["error_lines"] - logs_before["error_lines"],
        "tracebacks": logs_after["tracebacks"] - logs_before["tracebacks"],
    }
    say(
        f"[soak] delivered {out['delivered']}, lost {out['lost']} (of {expected} to steady connections), "
        f"{out['reconnects']} reconnects ({out['failed_reconnects']} failed); RSS {out['rss_mb_first']} → "
        f"{out['rss_mb_last']} MB, fds {out['fds_first']} → {out['fds_last']}; log: {out['error_lines']} "
        f"ERROR lines, {out['tracebacks']} tracebacks"
    )
    return out
