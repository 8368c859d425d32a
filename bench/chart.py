"""The chart: six panels of grouped bars, pushapp beside the baseline, drawn with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"pushapp": "#1f77b4", "baseline": "#d62728", "pushapp+history": "#2ca02c"}


def _series(results: dict[str, Any], workload: str, key: str) -> dict[str, dict[str, float]]:
    """system -> {label: value} for one per-N list of a system's results."""
    series: dict[str, dict[str, float]] = {}
    for system, data in results.get("systems", {}).items():
        series[system] = {
            f"N={item['n']:,}": item[key] for item in data.get(workload) or [] if item.get(key) is not None
        }
    return series


def _unicast(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    series = {}
    for system, data in results.get("systems", {}).items():
        unicast = data.get("unicast") or {}
        if unicast.get("deliveries_per_s"):
            series[system] = {f"{unicast['calls']:,} sends": unicast["deliveries_per_s"]}
    return series


def _sync(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    series: dict[str, dict[str, float]] = {}
    for system, modes in (results.get("sync") or {}).items():
        if system in COLORS:
            series[system] = {mode: r["us_per_call"] for mode, r in modes.items() if "us_per_call" in r}
    return series


def _bars(axes: Any, title: str, unit: str, series: dict[str, dict[str, float]], log: bool) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axes.set_title(title, fontsize=10)
    series = {system: values for system, values in series.items() if values}
    if not series:
        axes.text(0.5, 0.5, "not measured", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    labels: list[str] = []
    for values in series.values():
        labels += [label for label in values if label not in labels]
    width = 0.8 / max(len(series), 1)
    for offset, (system, values) in enumerate(series.items()):
        xs = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(labels))]
        heights = [values.get(label, 0.0) for label in labels]
        bars = axes.bar(xs, heights, width, label=system, color=COLORS.get(system))
        axes.bar_label(bars, labels=[_short(h) for h in heights], fontsize=7, padding=1)
    axes.set_xticks(range(len(labels)), labels, fontsize=8)
    axes.set_ylabel(unit, fontsize=8)
    if log and all(v > 0 for values in series.values() for v in values.values()):
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
        axes.yaxis.set_minor_formatter(NullFormatter())
    axes.tick_params(axis="y", labelsize=8)
    axes.margins(y=0.2)
    axes.legend(fontsize=7)


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10000:
        return f"{value / 1000:.0f}k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def draw(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(2, 3, figsize=(15, 8.5))
    _bars(
        grid[0][0],
        "a. fan-out: send call → last receipt (lower is better)",
        "ms",
        _series(results, "fanout", "last_ms"),
        log=True,
    )
    _bars(
        grid[0][1],
        "b. group throughput (higher is better)",
        "deliveries/s",
        _series(results, "throughput", "deliveries_per_s"),
        log=True,
    )
    _bars(
        grid[0][2],
        "c. unicast from a sync producer (higher is better)",
        "deliveries/s",
        _unicast(results),
        log=True,
    )
    _bars(
        grid[1][0],
        "d. server CPU per delivery, workload b (lower is better)",
        "µs",
        _series(results, "throughput", "server_cpu_us_per_delivery"),
        log=True,
    )
    _bars(
        grid[1][1],
        "d. RSS per idle connection (lower is better)",
        "KB",
        _series(results, "memory", "kb_per_connection"),
        log=False,
    )
    _bars(
        grid[1][2],
        "e. sync push call from Django code (lower is better)",
        "µs per call",
        _sync(results),
        log=True,
    )
    machine = results.get("machine", {})
    options = results.get("options", {})
    figure.suptitle(
        f"pushapp vs the plain Channels pattern ({options.get('server', '?')}, channels-redis "
        f"{options.get('layer', '?')} layer) — {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores, {results.get('timestamp', '')}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
