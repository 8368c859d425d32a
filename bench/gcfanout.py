"""``python -m bench.gcfanout``: is a fan-out to N connections as fast every time, GC or not?

The garbage collector's full passes walk every object of every connection; one landing inside a fan-out
made it 7x slower than usual at 10,000 connections (docs/performance.md). This holds N connections on one
pushapp daphne server and fans out to all of them 7 times, once with Python's default collector and once
with pushserve's GC policy (``pushapp.pushserve.gcpolicy``, applied by bench/serve.py with BENCH_GC_POLICY=1),
and reports, per policy, the median and the worst time until the last client had the message, and their
ratio: the target is a worst within 1.5x of the median. Slow collections logged by the server are charged
to the fan-outs they fell in. ``--quick`` is a smoke run (a handful of clients): it measures nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import orchestrate, workloads
from bench.gclog import read_pauses
from bench.lifetime import raise_nofile_limit
from bench.options import DEFAULT_OUT, Options
from bench.pool import ClientPool
from bench.procs import Child, Environment, Server, kill_all
from tests.support.redis_server import RedisServer

TARGET = 1.5  # worst / median
POLICIES = {"default": "0", "pushserve": "1"}


def run_policy(policy: str, options: Options, n: int) -> dict[str, Any]:
    os.environ["BENCH_GC_POLICY"] = POLICIES[policy]
    with RedisServer() as redis:
        environment = Environment(redis.url, "pushapp", options.layer, options.out / "logs" / f"gc-{policy}")
        server = Server(environment, "daphne")
        producer = Child("producer", ["-m", "bench.producer", "pushapp"], environment)
        pool = ClientPool(environment, options.client_processes)
        try:
            producer.wait_ready()
            rig = workloads.Rig("pushapp", server, producer, pool, options)
            stage = workloads.connect(rig, n)
            if stage["failed"]:
                raise RuntimeError(f"{stage['failed']} of {n} connections failed: {stage['errors']}")
            workloads.fanout(rig, n, 1)  # a warm-up, not counted: the first fan-out pays for imports
            result = workloads.fanout(rig, n, options.repeats)
        finally:
            for child in (pool, producer, server):
                child.kill()
            kill_all()
    result_out: dict[str, Any] = {"policy": policy, "fanout": result}
    orchestrate._charge_gc(
        {"fanout": [result], "throughput": [], "unicast": None}, read_pauses(server.log_path)
    )
    times = [r["last_ms"] for r in result["repeats"] if r["last_ms"] is not None]
    median = statistics.median(times) if times else None
    worst = max(times) if times else None
    result_out.update(
        median_ms=median,
        worst_ms=worst,
        worst_over_median=round(worst / median, 2) if median else None,
        lost=result["lost"],
        gc_full_collections=result.get("gc_full_collections", 0),
        gc_pause_ms_max=result.get("gc_pause_ms_max", 0.0),
    )
    return result_out


def table(results: list[dict[str, Any]], n: int) -> str:
    lines = [
        f"fan-outs to {n} connections, {len(results[0]['fanout']['repeats'])} each "
        f"(target: worst <= {TARGET}x median)",
        "| GC | median ms | worst ms | worst/median | full GCs in fan-outs | longest GC ms | lost | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r["worst_over_median"]
        met = "met" if ratio is not None and ratio <= TARGET else "missed"
        lines.append(
            f"| {r['policy']} | {r['median_ms']} | {r['worst_ms']} | {ratio} | {r['gc_full_collections']} | "
            f"{r['gc_pause_ms_max']} | {r['lost']} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gcfanout", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="connections (default 10000)")
    parser.add_argument("--repeats", type=int, default=7, help="fan-outs per policy (default 7)")
    parser.add_argument("--policies", default="default,pushserve", help="comma-separated: default,pushserve")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 clients, 3 fan-outs")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"results directory (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    options = Options.quick_preset() if args.quick else Options()
    options.out = args.out
    options.repeats = 3 if args.quick else args.repeats
    n = 5 if args.quick else args.n
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if not policies or set(policies) - set(POLICIES):
        parser.error(f"--policies: choose from {', '.join(POLICIES)}")
    raise_nofile_limit()
    results = [run_policy(policy, options, n) for policy in policies]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gcfanout.json").write_text(
        json.dumps({"n": n, "quick": args.quick, "results": results}, indent=2)
    )
    print(table(results, n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
