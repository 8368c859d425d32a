"""One benchmark run: for each system, a fresh Redis, server, producer and client processes, the workloads
at each N, then everything killed; then the sync-helper costs (workload e) on a fresh Redis.

The systems run one after the other, never together: they would share the two cores.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import soak, sysinfo, workloads
from bench.gclog import Pause, charge, read_pauses
from bench.options import Options
from bench.pool import ClientPool
from bench.procs import REPO_ROOT, Child, ChildError, Environment, Server, kill_all
from bench.profile import Recording, py_spy, summarize
from bench.synccost import FLOOR, MODES
from bench.workloads import Rig
from tests.support.redis_server import RedisServer, find_redis_server

Say = Callable[[str], None]
SYNC_TIMEOUT = 900.0
PROFILED_FANOUTS = 30  # a fan-out takes milliseconds: sample many of them
LOG_TAIL = 4000
#: The workloads run at each N of ``options.ns`` by :func:`_stages`.
STAGED = {"fanout", "throughput", "unicast", "memory", "presence"}


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return ""


def run(options: Options, say: Say) -> dict[str, Any]:
    results: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "options": {**asdict(options), "out": str(options.out)},
        "machine": sysinfo.machine(find_redis_server()),
        "systems": {},
        "sync": {},
    }
    started = time.monotonic()
    try:
        if set(options.only) - {"sync"}:
            for key, system, history in options.variants():
                if options.only == ["soak"] and system != "pushapp":
                    continue  # the soak watches pushapp's server
                with RedisServer() as redis:
                    try:
                        results["systems"][key] = run_system(system, redis.url, options, say, history)
                    finally:
                        kill_all()  # before Redis goes: servers would log its loss
        if "sync" in options.only:
            with RedisServer() as redis:
                results["sync"] = sync_costs(redis.url, options, say)
    finally:
        kill_all()
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_at_end"] = sysinfo.load_average()
    return results


def run_system(
    system: str, redis_url: str, options: Options, say: Say, history: bool = False
) -> dict[str, Any]:
    environment = Environment(redis_url, system, options.layer, options.out / "logs", history)
    out: dict[str, Any] = {
        "server": options.server,
        "layer": options.layer,
        "history": history,
        "stages": [],
        "fanout": [],
        "throughput": [],
        "memory": [],
        "unicast": None,
        "presence": None,
        "profile": None,
        "recovery": None,
        "soak": None,
        "error": None,
    }
    server: Server | None = None
    producer: Child | None = None
    pool: ClientPool | None = None
    try:
        say(f"[{system}] starting {options.server}, producer and {options.client_processes} client processes")
        server = Server(environment, options.server)
        producer = Child("producer", ["-m", "bench.producer", system], environment)
        pool = ClientPool(environment, options.client_processes)
        producer.wait_ready()
        rig = Rig(system, server, producer, pool, options)
        rss_without = _warm_up(rig)
        if set(options.only) & STAGED:
            _stages(rig, out, rss_without, say)
        if history:
            out["recovery"] = recovery = workloads.recovery(rig)
            say(f"[{system}+history] recovery of {recovery['missed']} missed pushes: {recovery['p50_ms']} ms")
        if "soak" in options.only and system == "pushapp":
            rig.pool.close()
            out["soak"] = soak.soak(rig, say)
    except (ChildError, OSError, RuntimeError) as err:
        out["error"] = str(err)
        if server is not None:
            out["server_alive"] = server.alive()
            out["server_log_tail"] = _tail(server.log_path)
        say(f"[{system}] FAILED: {err}")
    finally:
        for child in (pool, producer, server):
            if child is not None:
                child.kill()
    if server is not None:
        _charge_gc(out, read_pauses(server.log_path))
    return out


def _charge_gc(out: dict[str, Any], pauses: list[Pause]) -> None:
    """Attach the server's slow garbage collections to the runs they fell in."""
    for fanout in out["fanout"]:
        for repeat in fanout["repeats"]:
            charge(pauses, repeat)
        fanout["gc_full_collections"] = sum(r.get("gc_full_collections", 0) for r in fanout["repeats"])
        fanout["gc_pause_ms_max"] = max((r.get("gc_pause_ms", 0.0) for r in fanout["repeats"]), default=0.0)
    for item in out["throughput"]:
        charge(pauses, item)
    if out["unicast"]:
        charge(pauses, out["unicast"])
    full = [p.ms for p in pauses if p.generation == 2]
    out["gc"] = {
        "full_collections": len(full),
        "full_collection_ms_max": max(full, default=0.0),
        "slow_passes_logged": len(pauses),
    }


def _warm_up(rig: Rig) -> int:
    """A few connections and one message end to end (imports, the hub, the producer's loop), closed
    again; then the server's RSS with no connection, the reference of the per-connection memory."""
    rig.pool.grow(rig.options.warmup, rig.server.port, workloads.GROUP, rig.options.connect_concurrency, 60)
    run = next(rig.runs)
    expected = rig.pool.arm(run, per_conn=1)
    rig.producer.call({"op": "fanout", "group": workloads.GROUP, "run": run}, 60)
    if not rig.pool.wait(expected, rig.options.settle, time.monotonic() + 60):
        raise RuntimeError("the warm-up message did not reach every warm-up client")
    rig.pool.close()
    workloads.wait_quiet(rig.server.pid)
    return sysinfo.rss_kb(rig.server.pid)


def _check_alive(rig: Rig, what: str) -> None:
    if not rig.server.alive():
        raise ChildError(f"the {rig.options.server} server died during {what}")


def _stages(rig: Rig, out: dict[str, Any], rss_without: int, say: Say) -> None:
    options, system = rig.options, rig.system
    throughput_ns = [n for n in options.ns if n in options.throughput_ns]
    unicast_at = next((n for n in options.ns if n >= options.unicast_clients), options.ns[-1])
    for n in options.ns:
        stage = workloads.connect(rig, n)
        out["stages"].append(stage)
        say(
            f"[{system}] N={n}: {stage['opened']} opened, {stage['failed']} failed in {stage['seconds']:.1f}s"
        )
        if stage["failed"]:
            raise ChildError(f"{stage['failed']} of {n} connections failed: {stage['errors']}")
        _check_alive(rig, f"connecting {n} clients")
        if "memory" in options.only:
            out["memory"].append(workloads.memory(rss_without, stage))
        if "presence" in options.only and n == options.ns[-1]:
            out["presence"] = workloads.presence(rig, n)
        if "fanout" in options.only:
            result = workloads.fanout(rig, n)
            out["fanout"].append(result)
            say(
                f"[{system}] fan-out N={n}: last {result['last_ms']} ms, p50 {result['p50_ms']} ms, "
                f"lost {result['lost']}"
            )
            _check_alive(rig, "fan-out")
        if "throughput" in options.only and n in throughput_ns:
            result = workloads.throughput(rig, n)
            out["throughput"].append(result)
            say(
                f"[{system}] throughput N={n}: {result['deliveries_per_s']:.0f}/s, lost {result['lost']}, "
                f"{result['server_cpu_us_per_delivery']} us CPU/delivery"
            )
            _check_alive(rig, "throughput")
            if options.profile and system == "pushapp" and n == throughput_ns[-1]:
                out["profile"] = _profile(rig, n, say)
        if "unicast" in options.only and n == unicast_at:
            out["unicast"] = unicast = workloads.unicast(rig, n)
            say(f"[{system}] unicast: {unicast['deliveries_per_s']:.0f}/s, lost {unicast['lost']}")
            _check_alive(rig, "unicast")


def _profile(rig: Rig, n: int, say: Say) -> dict[str, Any]:
    """Extra workload b runs (and fan-outs) under py-spy: not counted as measurements (py-spy costs CPU)."""
    if py_spy() is None:
        return {"available": False, "reason": "py-spy is not installed"}
    out_dir = rig.options.out
    logs = out_dir / "logs"
    say(f"[{rig.system}] profiling workload b at N={n} with py-spy")
    result: dict[str, Any] = {"available": True, "n": n}
    runs: dict[str, Callable[[Rig, int], dict[str, Any]]] = {
        "throughput": workloads.throughput,
        "fanout": lambda rig, n: workloads.fanout(rig, n, PROFILED_FANOUTS),
    }
    for name, fmt in (("throughput", "raw"), ("throughput", "flamegraph"), ("fanout", "raw")):
        suffix = "txt" if fmt == "raw" else "svg"
        path = out_dir / f"profile-{rig.system}-{name}.{suffix}"
        recording = Recording(rig.server.pid, path, fmt, logs / f"py-spy-{name}-{fmt}.log")
        try:
            sampling = recording.wait_sampling()
            if sampling:
                runs[name](rig, n)
        finally:
            written = recording.stop()
        if not (sampling and written):
            result[f"{name}_{fmt}"] = None
            continue
        result[f"{name}_{fmt}"] = str(path)
        if fmt == "raw":
            result[f"{name}_summary"] = summarize(path)
    return result


def sync_costs(redis_url: str, options: Options, say: Say) -> dict[str, Any]:
    """Workload e in fresh processes (one per system and context), so each counts only its own connections;
    plus the floor: one blocking PUBLISH round trip with plain redis-py."""
    results: dict[str, Any] = {}
    for key, system, history in options.variants():
        environment = Environment(redis_url, system, options.layer, options.out / "logs", history)
        if system == "pushapp":
            calls, connection_calls = options.sync_calls, options.sync_connection_calls
        else:
            calls = connection_calls = options.baseline_sync_calls
        results[key] = {}
        for mode in MODES:
            say(f"[{key}] sync helper from a {mode}: {calls} timed calls, {connection_calls} in all")
            results[key][mode] = _sync_process(environment, mode, calls, connection_calls)
    floor = Environment(redis_url, options.systems[0], options.layer, options.out / "logs")
    results[FLOOR] = _sync_process(floor, FLOOR, options.sync_calls, 0)
    return results


def _sync_process(environment: Environment, mode: str, calls: int, connection_calls: int) -> dict[str, Any]:
    role = f"sync-{mode}"
    args = ["-m", "bench.synccost", environment.system, mode, str(calls), str(connection_calls)]
    with environment.log(role) as log:
        completed = subprocess.run(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env=environment.env(role),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            timeout=SYNC_TIMEOUT,
            check=False,
        )
    lines = completed.stdout.decode("utf-8", "replace").strip().splitlines()
    if completed.returncode != 0 or not lines:
        return {"error": f"exit code {completed.returncode}; see {log.name}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result
