"""Turn one run's results into the comparison table, the targets verdict, the JSON file and the chart."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DOCS_CHART = Path(__file__).resolve().parent.parent / "docs" / "performance.png"


@dataclass(frozen=True)
class Row:
    workload: str
    case: str
    unit: str
    pushapp: float | str | None
    baseline: float | str | None
    better: str = "lower"  # which direction is better, for reading the ratio ("none": show no ratio)

    @property
    def ratio(self) -> float | None:
        """pushapp / baseline, when both are numbers."""
        if (
            isinstance(self.pushapp, (int, float))
            and isinstance(self.baseline, (int, float))
            and self.baseline
        ):
            return self.pushapp / self.baseline
        return None


@dataclass(frozen=True)
class Target:
    name: str
    target: str
    value: str
    met: bool | None  # None: not measured in this run


def _by_n(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {item["n"]: item for item in items}


def _system(results: dict[str, Any], name: str) -> dict[str, Any]:
    system: dict[str, Any] = results.get("systems", {}).get(name) or {}
    return system


#: Rows that describe rather than score: no ratio is shown for them.
_DESCRIPTIVE = {"server_cpu_kernel_share"}


def _row(workload: str, case: str, unit: str, p: dict[str, Any], b: dict[str, Any], key: str) -> Row:
    """One table row from the same key of pushapp's and the baseline's results."""
    better = "higher" if key == "deliveries_per_s" else "none" if key in _DESCRIPTIVE else "lower"
    return Row(workload, case, unit, p.get(key), b.get(key), better)


Result = dict[str, Any]


def _pairs(push: Result, base: Result, workload: str) -> list[tuple[int, Result, Result]]:
    """(N, pushapp's result, baseline's result) for a per-N list, for every N either system has."""
    by_p, by_b = _by_n(push.get(workload) or []), _by_n(base.get(workload) or [])
    return [(n, by_p.get(n, {}), by_b.get(n, {})) for n in sorted(set(by_p) | set(by_b))]


def _fanout_rows(push: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    table = []
    for n, p, b in _pairs(push, base, "fanout"):
        table += [
            _row("a. fan-out", f"N={n:,}: send call to last receipt", "ms", p, b, "last_ms"),
            _row("a. fan-out", f"N={n:,}: per-client latency p50", "ms", p, b, "p50_ms"),
            _row("a. fan-out", f"N={n:,}: per-client latency p99", "ms", p, b, "p99_ms"),
            _row("a. fan-out", f"N={n:,}: messages lost (all repeats)", "", p, b, "lost"),
        ]
    return table


def _throughput_rows(push: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    table = []
    for n, p, b in _pairs(push, base, "throughput"):
        count = p.get("messages") or b.get("messages")
        table += [
            _row("b. throughput", f"N={n:,}, {count} msgs: deliveries/s", "/s", p, b, "deliveries_per_s"),
            _row("b. throughput", f"N={n:,}: messages lost", "", p, b, "lost"),
        ]
    return table


def _unicast_rows(push: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    p, b = push.get("unicast") or {}, base.get("unicast") or {}
    if not (p or b):
        return []
    case = f"{p.get('calls') or b.get('calls'):,} sends over {p.get('uids') or b.get('uids'):,} uids"
    return [
        _row("c. unicast", f"{case}: deliveries/s", "/s", p, b, "deliveries_per_s"),
        _row("c. unicast", f"{case}: messages lost", "", p, b, "lost"),
        _row("c. unicast", "producer time per send call", "µs", p, b, "producer_us_per_call"),
    ]


def _server_rows(push: dict[str, Any], base: dict[str, Any]) -> list[Row]:
    cpu = "server_cpu_us_per_delivery"
    table = [
        _row("d. server CPU", f"per delivery, workload b, N={n:,}", "µs", p, b, cpu)
        for n, p, b in _pairs(push, base, "throughput")
    ]
    table += [
        _row("d. server CPU", f"per delivery, workload a (one message), N={n:,}", "µs", p, b, cpu)
        for n, p, b in _pairs(push, base, "fanout")
    ]
    table += [
        _row(
            "d. server CPU",
            f"share spent in the kernel, workload b, N={n:,}",
            "",
            p,
            b,
            "server_cpu_kernel_share",
        )
        for n, p, b in _pairs(push, base, "throughput")
    ]
    table += [
        _row("d. memory", f"RSS per idle connection, N={n:,}", "KB", p, b, "kb_per_connection")
        for n, p, b in _pairs(push, base, "memory")
    ]
    table += [
        _row("d. GC", f"full collections during the fan-outs, N={n:,}", "", p, b, "gc_full_collections")
        for n, p, b in _pairs(push, base, "fanout")
    ]
    return table


def _sync_rows(sync: dict[str, Any]) -> list[Row]:
    table = []
    for mode, name in _MODE_NAMES.items():
        p, b = (sync.get("pushapp") or {}).get(mode), (sync.get("baseline") or {}).get(mode)
        if p is None and b is None:
            continue
        p, b = p or {}, b or {}
        table += [
            Row(
                "e. sync helper",
                f"µs per call from a {name}",
                "µs",
                p.get("us_per_call", p.get("error")),
                b.get("us_per_call", b.get("error")),
            ),
            Row(
                "e. sync helper",
                f"Redis connections ({name}): before → after 1 call → after all",
                "",
                _connections(p),
                _connections(b),
            ),
        ]
    return table


def rows(results: dict[str, Any]) -> list[Row]:
    push, base = _system(results, "pushapp"), _system(results, "baseline")
    table = _fanout_rows(push, base) + _throughput_rows(push, base) + _unicast_rows(push, base)
    table += _server_rows(push, base) + _sync_rows(results.get("sync") or {})
    presence = push.get("presence") or base.get("presence")
    if presence is not None:
        value = presence.get("p50_ms") if presence.get("available") else "not available"
        table.append(
            Row("f. presence", f"query latency, N={presence.get('n', 0):,}", "ms", value, "not available")
        )
    return table


_MODE_NAMES = {"thread": "plain thread", "wsgi": "WSGI view", "worker": "worker loop"}


def _connections(result: dict[str, Any]) -> str | None:
    if "redis_connections_before" not in result:
        return None
    return (
        f"{result['redis_connections_before']} → {result['redis_connections_after_first_call']} → "
        f"{result['redis_connections_after_all']} ({result['connection_calls']:,} calls)"
    )


def targets(results: dict[str, Any]) -> list[Target]:
    """The issue's targets, judged from this run only."""
    push, base = _system(results, "pushapp"), _system(results, "baseline")
    found: list[Target] = []
    fan_p, fan_b = _by_n(push.get("fanout", [])), _by_n(base.get("fanout", []))
    p, b = fan_p.get(5000, {}).get("last_ms"), fan_b.get(5000, {}).get("last_ms")
    if p is not None and b:
        found.append(
            Target(
                "fan-out to 5,000",
                "≤ 1/20 of the baseline's time (ratio ≤ 0.05)",
                f"{p:,.1f} ms vs {b:,.1f} ms: ratio {p / b:.3f} (1/{b / p:.1f})",
                p / b <= 0.05,
            )
        )
    else:
        found.append(Target("fan-out to 5,000", "≤ 1/20 of the baseline's time", "not measured", None))
    thr_p, thr_b = _by_n(push.get("throughput", [])), _by_n(base.get("throughput", []))
    for n in sorted(thr_p):
        tp, tb = thr_p[n], thr_b.get(n)
        if tb and tb.get("deliveries_per_s"):
            ratio = tp["deliveries_per_s"] / tb["deliveries_per_s"]
            met = ratio >= 20 and tp["lost"] == 0 and tp["complete"]
            value = (
                f"{tp['deliveries_per_s']:,.0f}/s vs {tb['deliveries_per_s']:,.0f}/s: x{ratio:.1f}, "
                f"{tp['lost']} lost"
            )
            found.append(Target(f"throughput, N={n:,}", "≥ 20x the baseline, zero lost", value, met))
        cpu = tp["server_cpu_us_per_delivery"]
        found.append(Target(f"server CPU per delivery, N={n:,}", "≤ 10 µs", f"{cpu:.2f} µs", cpu <= 10))
    if not thr_p:
        found.append(Target("throughput", "≥ 20x the baseline, zero lost", "not measured", None))
    memory = push.get("memory", [])
    if memory:
        largest = max(memory, key=lambda m: m["n"])
        kb = largest["kb_per_connection"]
        found.append(
            Target(f"RSS per idle connection, N={largest['n']:,}", "≤ 20 KB", f"{kb:.1f} KB", kb <= 20)
        )
    else:
        found.append(Target("RSS per idle connection", "≤ 20 KB", "not measured", None))
    thread = ((results.get("sync") or {}).get("pushapp") or {}).get("thread") or {}
    if "us_per_call" in thread:
        us = thread["us_per_call"]
        found.append(
            Target("sync send_to_uid from a plain thread", "≤ 100 µs per call", f"{us:.1f} µs", us <= 100)
        )
        steady = thread["redis_connections_after_all"] == thread["redis_connections_after_first_call"]
        found.append(
            Target("Redis connections over many sync calls", "constant", _connections(thread) or "", steady)
        )
    else:
        found.append(
            Target("sync send_to_uid from a plain thread", "≤ 100 µs per call", "not measured", None)
        )
    return found


def _cell(value: float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio_cell(row: Row) -> str:
    ratio = row.ratio
    if ratio is None or math.isnan(ratio) or row.better == "none":
        return "-"
    if row.better == "higher" or ratio > 1:
        return f"x{ratio:,.1f}"
    return f"{ratio:.3f} (1/{1 / ratio:,.1f})" if ratio else "0"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| workload | case | unit | pushapp | baseline | pushapp / baseline |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows(results):
        lines.append(
            f"| {row.workload} | {row.case} | {row.unit} | {_cell(row.pushapp)} | {_cell(row.baseline)} "
            f"| {_ratio_cell(row)} |"
        )
    lines += ["", "| target | wanted | this run | met |", "|---|---|---|---|"]
    for target in targets(results):
        verdict = {True: "**yes**", False: "**no**", None: "not measured"}[target.met]
        lines.append(f"| {target.name} | {target.target} | {target.value} | {verdict} |")
    floor = (results.get("sync") or {}).get("floor") or {}
    if "us_per_call" in floor:
        lines += [
            "",
            f"Reference for e: one blocking Redis PUBLISH round trip with plain redis-py costs "
            f"{floor['us_per_call']:.1f} µs here; a sync push that waits for Redis's answer costs more.",
        ]
    lines += _history_section(results) + _soak_section(results)
    errors = [f"- {name}: {s['error']}" for name, s in results.get("systems", {}).items() if s.get("error")]
    if errors:
        lines += ["", "Errors:", *errors]
    return "\n".join(lines)


def _history_section(results: dict[str, Any]) -> list[str]:
    """``--history``: pushapp with history off beside on, and the recovery of a client that missed pushes."""
    systems = results.get("systems", {})
    off, on = systems.get("pushapp") or {}, systems.get("pushapp+history")
    lines: list[str] = []
    if on is None and off.get("history"):
        on, off = off, {}
        lines += ["", "pushapp ran with history on (uid and group streams) in the table above."]
    if on is None:
        return lines
    sync = results.get("sync") or {}
    table = ["", "| history | case | unit | off | on |", "|---|---|---|---:|---:|"]

    def row(case: str, unit: str, a: Any, b: Any) -> None:
        table.append(f"| history | {case} | {unit} | {_cell(a)} | {_cell(b)} |")

    fan_off, fan_on = _by_n(off.get("fanout", [])), _by_n(on.get("fanout", []))
    for n in sorted(fan_on):
        row(
            f"fan-out to {n:,}, last delivery",
            "ms",
            fan_off.get(n, {}).get("last_ms"),
            fan_on[n].get("last_ms"),
        )
    thr_off, thr_on = _by_n(off.get("throughput", [])), _by_n(on.get("throughput", []))
    for n in sorted(thr_on):
        a, b = thr_off.get(n, {}).get("deliveries_per_s"), thr_on[n].get("deliveries_per_s")
        row(f"burst throughput, N={n:,}", "deliveries/s", a, b)
    if on.get("unicast"):
        row(
            "unicast",
            "deliveries/s",
            (off.get("unicast") or {}).get("deliveries_per_s"),
            on["unicast"]["deliveries_per_s"],
        )
    thread_off = (sync.get("pushapp") or {}).get("thread") or {}
    thread_on = (sync.get("pushapp+history") or {}).get("thread") or {}
    if thread_on:
        row(
            "sync send_to_uid, plain thread",
            "µs/call",
            thread_off.get("us_per_call"),
            thread_on.get("us_per_call"),
        )
    recovery = on.get("recovery")
    if recovery:
        complete = "" if recovery["complete"] else " (incomplete!)"
        row(
            f"recovery of {recovery['missed']} missed pushes{complete}",
            "ms (median)",
            "-",
            recovery["p50_ms"],
        )
    return lines + table


def _soak_section(results: dict[str, Any]) -> list[str]:
    soak = (results.get("systems", {}).get("pushapp") or {}).get("soak")
    if not soak:
        return []
    lines = [
        "",
        f"Soak: {soak['steady']:,} steady + {soak['churning']:,} churning connections, "
        f"{soak['pushes']:,} pushes over {soak['duration_s']:g} s; delivered {soak['delivered']:,}, "
        f"lost {soak['lost']:,} of "
        f"{soak['expected']:,}, {soak['reconnects']:,} reconnects ({soak['failed_reconnects']} failed); "
        f"{soak['error_lines']} ERROR lines and {soak['tracebacks']} tracebacks in the server log.",
        "",
        "| t (s) | RSS (MB) | open fds |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {s['t']:g} | {s['rss_mb']:g} | {s['fds']} |" for s in soak["samples"]]
    return lines


def write_json(results: dict[str, Any], out: Path) -> Path:
    document = {
        **results,
        "table": [{**asdict(r), "ratio": r.ratio} for r in rows(results)],
        "targets": [asdict(t) for t in targets(results)],
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    path.write_text(text)
    stamp = results["timestamp"].replace(":", "").replace("-", "")
    (out / f"results-{stamp}.json").write_text(text)
    return path


def write_chart(results: dict[str, Any], out: Path, docs: bool) -> Path:
    """A PNG of the main numbers, pushapp beside the baseline (log scales: they differ by 10-100x)."""
    from bench.chart import draw

    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.png"
    draw(results, path)
    if docs:
        shutil.copyfile(path, DOCS_CHART)
    return path
