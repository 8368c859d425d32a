"""The measurements (workloads a-d and f of docs/performance.md) against one running system.

Each function drives the producer and the client processes of a :class:`Rig` and returns plain data.
Times are wall-clock (``time.time()``) stamps taken in the producer and in the clients; server CPU and
memory come from /proc for the server process only.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.options import Options
from bench.pool import ClientPool, RunResult
from bench.procs import Child, Server
from bench.sysinfo import cpu_seconds, cpu_times, rss_kb

GROUP = "bench"
QUIET_CPU = 0.05  # fraction of one core below which the server counts as idle
QUIET_WINDOW = 0.5
QUIET_TIMEOUT = 30.0


@dataclass
class Rig:
    """One system, running: its server, its producer, its clients."""

    system: str
    server: Server
    producer: Child
    pool: ClientPool
    options: Options
    runs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def deadline(self, expected: int) -> float:
        return time.monotonic() + max(30.0, expected / self.options.min_rate)

    def call_timeout(self, sends: int) -> float:
        return max(60.0, sends * 0.05)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_quiet(pid: int) -> float:
    """Wait (bounded) until the server uses under QUIET_CPU of a core; return its last CPU fraction."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(QUIET_WINDOW)
        fraction = (cpu_seconds(pid) - before) / (time.monotonic() - started)
        if fraction < QUIET_CPU or time.monotonic() > deadline:
            return round(fraction, 4)


def _run(rig: Rig, expected: int) -> RunResult:
    complete = rig.pool.wait(expected, rig.options.settle, rig.deadline(expected))
    return rig.pool.collect(expected, complete)


def connect(rig: Rig, n: int) -> dict[str, Any]:
    """Grow to ``n`` connections; then, once the server is idle, its memory (workload d, second half)."""
    result = rig.pool.grow(n, rig.server.port, GROUP, rig.options.connect_concurrency, max(60.0, n / 50))
    idle = wait_quiet(rig.server.pid)
    return {**result, "connections": n, "rss_kb": rss_kb(rig.server.pid), "idle_cpu_fraction": idle}


def _kernel_share(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """The part of the server's CPU time spent in the kernel (for pushes: mostly in send())."""
    user, system = after[0] - before[0], after[1] - before[1]
    return round(system / (user + system), 2) if user + system > 0 else None


def fanout(rig: Rig, n: int, repeats_wanted: int | None = None) -> dict[str, Any]:
    """Workload a: one message to the group of all ``n`` connections, ``repeats`` times."""
    repeats = []
    for _ in range(repeats_wanted or rig.options.repeats):
        run = next(rig.runs)
        expected = rig.pool.arm(run, per_conn=1, latency=True)
        cpu_before, started = cpu_times(rig.server.pid), time.time()
        sent = rig.producer.call({"op": "fanout", "group": GROUP, "run": run}, rig.call_timeout(1))
        result = _run(rig, expected)
        cpu_after = cpu_times(rig.server.pid)
        cpu = sum(cpu_after) - sum(cpu_before)
        repeats.append(
            {
                "window": [started, time.time()],
                "received": result.received,
                "lost": result.lost,
                "duplicates": result.duplicates,
                "complete": result.complete,
                "last_ms": _ms(result.last - sent["sent"]) if result.received else None,
                "p50_ms": _ms(_percentile(result.latencies, 0.50)),
                "p99_ms": _ms(_percentile(result.latencies, 0.99)),
                "call_ms": _ms(sent["call_seconds"]),
                "server_cpu_us_per_delivery": round(cpu / max(result.received, 1) * 1e6, 2),
                "server_cpu_kernel_share": _kernel_share(cpu_before, cpu_after),
            }
        )
    return {"n": n, "repeats": repeats, **_medians(repeats), "lost": sum(r["lost"] for r in repeats)}


def _medians(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("last_ms", "p50_ms", "p99_ms", "call_ms", "server_cpu_us_per_delivery")
    medians = {}
    for key in keys:
        values = [r[key] for r in repeats if r[key] is not None]
        medians[key] = round(statistics.median(values), 3) if values else None
    return medians


def throughput(rig: Rig, n: int) -> dict[str, Any]:
    """Workloads b and d: ``burst_count`` messages back to back to the group; server CPU per delivery."""
    options = rig.options
    run = next(rig.runs)
    expected = rig.pool.arm(run, per_conn=options.burst_count)
    cpu_before, started = cpu_times(rig.server.pid), time.time()
    sent = rig.producer.call(
        {
            "op": "burst",
            "group": GROUP,
            "run": run,
            "count": options.burst_count,
            "size": options.message_size,
        },
        rig.call_timeout(options.burst_count),
    )
    result = _run(rig, expected)
    cpu_after = cpu_times(rig.server.pid)
    cpu = sum(cpu_after) - sum(cpu_before)
    seconds = result.last - sent["first"]
    return {
        "window": [started, time.time()],
        "n": n,
        "messages": options.burst_count,
        "size": options.message_size,
        "expected": expected,
        "received": result.received,
        "lost": result.lost,
        "duplicates": result.duplicates,
        "complete": result.complete,
        "open_after": result.open,
        "seconds": round(seconds, 4),
        "send_seconds": round(sent["end"] - sent["first"], 4),
        "deliveries_per_s": round(result.received / seconds, 1) if result.received and seconds > 0 else 0.0,
        "server_cpu_seconds": round(cpu, 3),
        "server_cpu_us_per_delivery": round(cpu / max(result.received, 1) * 1e6, 3),
        "server_cpu_kernel_share": _kernel_share(cpu_before, cpu_after),
    }


def unicast(rig: Rig, connected: int) -> dict[str, Any]:
    """Workload c: ``unicast_count`` sends to one uid each, round robin over the first uids."""
    options = rig.options
    uids = min(options.unicast_clients, connected)
    run = next(rig.runs)
    expected = rig.pool.arm(run, unicast=(options.unicast_count, uids))
    started = time.time()
    sent = rig.producer.call(
        {
            "op": "unicast",
            "run": run,
            "count": options.unicast_count,
            "uids": uids,
            "size": options.message_size,
        },
        rig.call_timeout(options.unicast_count),
    )
    result = _run(rig, expected)
    seconds = result.last - sent["first"]
    return {
        "window": [started, time.time()],
        "calls": options.unicast_count,
        "uids": uids,
        "expected": expected,
        "received": result.received,
        "lost": result.lost,
        "duplicates": result.duplicates,
        "complete": result.complete,
        "seconds": round(seconds, 4),
        "deliveries_per_s": round(result.received / seconds, 1) if result.received and seconds > 0 else 0.0,
        "producer_us_per_call": round((sent["end"] - sent["first"]) / options.unicast_count * 1e6, 1),
    }


def memory(baseline_rss_kb: int, stage: dict[str, Any]) -> dict[str, Any]:
    """Workload d, second half: (RSS with N idle connections - RSS with none) / N."""
    n = stage["connections"]
    return {
        "n": n,
        "rss_kb": stage["rss_kb"],
        "rss_kb_without_connections": baseline_rss_kb,
        "kb_per_connection": round((stage["rss_kb"] - baseline_rss_kb) / n, 2) if n else None,
        "idle_cpu_fraction": stage["idle_cpu_fraction"],
    }


def presence(rig: Rig, n: int) -> dict[str, Any]:
    """Workload f: presence query latency with ``n`` connections held, from the sync producer.

    The baseline has no way to list or count a group's members (django/channels#308): "not available".
    """
    if rig.system != "pushapp":
        return {"available": False, "n": n, "reason": "Channels cannot count or list group members"}
    reply = rig.producer.call({"op": "presence", "group": GROUP, "count": 300}, rig.call_timeout(1))
    queries = {
        name: {"p50_ms": _ms(_percentile(values, 0.5)), "p99_ms": _ms(_percentile(values, 0.99))}
        for name, values in reply["timings"].items()
    }
    main = queries["get_client_count_by_group"]
    return {"available": True, "n": n, "members": reply["members"], "queries": queries, **main}


def recovery(rig: Rig) -> dict[str, Any]:
    """History on: how long a client that missed ``recovery_missed`` pushes takes to get them back."""
    options = rig.options
    command = {
        "op": "recovery",
        "port": rig.server.port,
        "missed": options.recovery_missed,
        "repeats": options.recovery_repeats,
        "size": options.message_size,
    }
    reply = rig.producer.call(command, rig.call_timeout(options.recovery_missed * options.recovery_repeats))
    timings = reply["timings"]
    return {
        "missed": options.recovery_missed,
        "repeats": len(timings),
        "p50_ms": _ms(statistics.median(timings)),
        "max_ms": _ms(max(timings)),
        "complete": reply["complete"],
    }
