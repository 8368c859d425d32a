"""The benchmark harness (bench/, docs/performance.md) runs end to end, so it cannot rot unnoticed.

``python -m bench --quick`` at tiny sizes (a handful of clients, a few messages): it starts its own Redis,
servers, producers and client processes for both systems. Only completion, the result file's shape and
zero lost messages are checked: a quick run's timings mean nothing, so nothing here asserts on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.integration  # real processes; still part of the default `pytest` run

TIMEOUT = 120  # a quick run takes about 10 s; this only bounds a hung one
SYSTEMS = ("pushapp", "baseline")
SYNC_MODES = ("thread", "wsgi", "worker")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return completed, out


def test_quick_run_completes_and_prints_the_table(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "| workload | case | unit | pushapp | baseline | pushapp / baseline |" in completed.stdout
    assert (out / "latest.png").stat().st_size > 0


def test_result_file_has_every_workload_and_loses_nothing(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-5000:]
    results = json.loads((out / "latest.json").read_text())
    assert {"timestamp", "machine", "options", "systems", "sync", "table", "targets"} <= results.keys()
    for name in SYSTEMS:
        system = results["systems"][name]
        assert system["error"] is None, system
        assert system["fanout"] and system["throughput"] and system["memory"] and system["unicast"]
        for fanout in system["fanout"]:
            assert fanout["lost"] == 0, fanout
            assert all(r["complete"] and r["duplicates"] == 0 for r in fanout["repeats"]), fanout
        for run in [*system["throughput"], system["unicast"]]:
            assert run["complete"] and run["lost"] == 0 and run["received"] == run["expected"], run
        assert system["memory"][0]["kb_per_connection"] is not None
        assert system["presence"]["available"] is (name == "pushapp")  # Channels cannot count members
        for mode in SYNC_MODES:
            assert "us_per_call" in results["sync"][name][mode], results["sync"][name][mode]
    assert all({"name", "target", "value", "met"} <= target.keys() for target in results["targets"])


def test_quick_soak_and_history_switch_run(tmp_path: Path) -> None:
    """``--only soak`` and ``--history both`` at tiny sizes: they complete, lose nothing, and the soak saw
    no traceback; with history on, the recovery got every missed push back."""
    args = ["--quick", "--only", "soak,unicast", "--history", "both", "--systems", "pushapp"]
    completed = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--no-docs-chart", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "| history | unicast | deliveries/s |" in completed.stdout
    assert "| t (s) | RSS (MB) | open fds |" in completed.stdout
    results = json.loads((tmp_path / "latest.json").read_text())
    on = results["systems"]["pushapp+history"]
    assert on["history"] and on["recovery"]["complete"], on["recovery"]
    for key in ("pushapp", "pushapp+history"):
        system = results["systems"][key]
        assert system["error"] is None, system
        assert system["unicast"]["lost"] == 0, system["unicast"]
        soak = system["soak"]
        assert soak["lost"] == 0 and soak["tracebacks"] == 0 and soak["reconnects"] > 0, soak
        assert len(soak["samples"]) >= 2, soak


def test_gc_fanout_workload_runs_both_policies(tmp_path: Path) -> None:
    """``python -m bench.gcfanout --quick``: both GC policies, every fan-out complete (timings unchecked)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.gcfanout", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "| GC | median ms | worst ms | worst/median |" in completed.stdout
    results = json.loads((tmp_path / "gcfanout.json").read_text())["results"]
    assert [r["policy"] for r in results] == ["default", "pushserve"]
    for result in results:
        assert result["lost"] == 0, result
        assert all(r["complete"] for r in result["fanout"]["repeats"]), result
        assert result["worst_over_median"] is not None


@pytest.mark.parametrize("layer", ["pubsub", "core"])
def test_the_delivery_options_cost_runs(redis_url: str, layer: str) -> None:
    """bench/deliverycost.py (docs/delivery.md), as a smoke test: one line per option, every send written."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.deliverycost", "--quick", "--layer", layer],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "BENCH_REDIS_URL": redis_url},
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [line["option"] for line in lines] == ["plain", "idempotency_key", "version", "ack_within", "all"]
    assert all(line["calls"] == 200 and line["us_per_send_written"] > 0 for line in lines)
