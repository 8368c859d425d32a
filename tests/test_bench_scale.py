"""``python -m bench.scale --quick`` runs end to end (docs/scaling.md), so the scaling benchmark cannot rot.

Integration, about 60 s: it starts private redis-servers, ``manage.py pushserve`` with two workers,
three daphne servers, a producer and client processes, at tiny sizes (30 connections, 50 sends per
target); and the c100k scenario at 30 connections, with both its reconnect storms. Timings are not
checked (a quick run's mean nothing); what is: nothing is lost, a send to one uid is one ``PUBLISH`` that
Redis sends to the one process holding the uid, with two processes and with three, while a group spread
over every process reaches every process; and after each storm every client is welcomed again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.integration  # real processes; still part of the default `pytest` run

TIMEOUT = 240  # a quick run takes about 60 s; this only bounds a hung one
#: What one send may cost in Redis commands, whatever the number of processes: one PUBLISH, plus what of
#: the servers' own background traffic (probes, heartbeats) the subtraction leaves over 50 sends.
MAX_COMMANDS_PER_SEND = 1.5


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("scale")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale",
            "--quick",
            "--scenario",
            "workers,shards,c100k",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "| target | sends | processes Redis sent it to" in completed.stdout
    data: dict[str, Any] = json.loads((Path(out) / "scale.json").read_text())
    return data


def _target(scenario: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in scenario["redis_per_send"] if r["target"] == name)
    return found


@pytest.mark.parametrize(("name", "processes", "shards"), [("workers", 2, 1), ("shards", 3, 2)])
def test_scenario_completes_and_loses_nothing(
    results: dict[str, Any], name: str, processes: int, shards: int
) -> None:
    scenario = results["scenarios"][name]
    assert "error" not in scenario, scenario.get("error")
    assert (scenario["processes"], scenario["shards"]) == (processes, shards)
    assert scenario["lost"] == 0
    assert scenario["connect"]["opened"] == scenario["connect"]["connections"]
    assert (
        sum(p["connections"] for p in scenario["connect"]["processes"]) == scenario["connect"]["connections"]
    )
    for trial in scenario["fanout"]["trials"]:
        assert trial["received"] == trial["expected"] and trial["duplicates"] == 0, trial
    for run in (scenario["burst"], scenario["unicast"], *scenario["redis_per_send"]):
        assert run["received"] == run["expected"] and run["lost"] == 0 and run["duplicates"] == 0, run


@pytest.mark.parametrize("name", ["workers", "shards"])
def test_a_send_to_one_uid_costs_one_publish_to_one_process(results: dict[str, Any], name: str) -> None:
    scenario = results["scenarios"][name]
    uid = _target(scenario, "uid 0")
    assert uid["processes_reached"] == 1, uid
    assert 0.5 <= uid["publish_per_send"] <= MAX_COMMANDS_PER_SEND, uid
    assert uid["commands_per_send"] <= MAX_COMMANDS_PER_SEND, uid
    assert sum(1 for shard in uid["by_shard"] if shard["publish"] >= 0.5) == 1, uid  # on one Redis only


@pytest.mark.parametrize("name", ["workers", "shards"])
def test_groups_reach_the_processes_holding_them(results: dict[str, Any], name: str) -> None:
    scenario = results["scenarios"][name]
    everyone = scenario["processes"]
    assert _target(scenario, "group bench")["processes_reached"] == everyone
    assert _target(scenario, "send_to_all")["processes_reached"] == everyone
    if name == "shards":
        assert _target(scenario, "group on0")["processes_reached"] == 1
        assert _target(scenario, "group pair")["processes_reached"] == 2
    for target in scenario["redis_per_send"]:
        assert target["publish_per_send"] <= MAX_COMMANDS_PER_SEND, target


def test_c100k_storms_welcome_everyone_again_and_presence_counts_them(results: dict[str, Any]) -> None:
    scenario = results["scenarios"]["c100k"]
    assert "error" not in scenario, scenario.get("error")
    n = scenario["connect"]["connections"]
    assert scenario["connect"]["opened"] == n and scenario["lost"] == 0
    assert [s["kind"] for s in scenario["storms"]] == ["kill", "hup"]
    for storm in scenario["storms"]:
        assert storm["reconnected"] >= n and storm["presence_exact_s"] is not None, storm
        assert storm["new_workers"] == 2, storm
