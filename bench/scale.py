"""``python -m bench.scale``: pushapp across server processes and Redis shards (docs/scaling.md).

Two scenarios, each on fresh Redis servers and processes, one after the other:

- ``workers``: ``manage.py pushserve --workers 2`` on one port and one Redis; the kernel hands each new
  connection to one of the workers. Every connection is in the group ``bench``.
- ``shards``: three ``bench.serve`` daphne servers, the pub/sub layer's ``hosts`` two Redis servers.
  Client process *i* connects to server *i*; every connection is in ``bench``, server *i*'s in ``on<i>``,
  servers 0 and 1's in ``pair``: groups held by one, two and all three processes.

In each: the connections (rate; per process: count, memory, CPU per connection; Redis commands per new
connection), a fan-out to ``bench`` (send call to last receipt, several trials), a burst to it
(deliveries/s), unicasts round robin over every uid (deliveries/s, lost), and the Redis operations per
send for a uid, each group, ``send_to_all`` and a send to a list of uids: per Redis server, the commands,
bytes and CPU of a known number of sends, and how many processes Redis sent each one to. ``--quick`` is a
smoke run at tiny sizes: its timings mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench import sysinfo
from bench.lifetime import raise_nofile_limit
from bench.options import DEFAULT_OUT
from bench.procs import START_TIMEOUT, Child, ChildError, Environment, kill_all
from bench.scale_procs import PushServe, ShardedEnvironment, SpreadPool, start_servers
from bench.scale_redis import Counters, per_each
from bench.workloads import QUIET_CPU, QUIET_TIMEOUT, QUIET_WINDOW
from pushapp.protocol.names import ALL_GROUP, group_layer_group, uid_layer_group
from tests.support.redis_server import RedisServer, find_redis_server

SCENARIOS = ("workers", "shards")
#: Run only when asked for by name: ``--scenario c100k`` (bench/c100k.py).
ON_REQUEST = ("c100k",)
GROUP = "bench"  # every connection
PAIR = "pair"  # the connections of servers 0 and 1 (shards)
MIN_SENDS = 20  # per target of the Redis operations per send
Say = Callable[[str], None]


def _local(server: int) -> str:
    return f"on{server}"  # the connections of one server (shards)


@dataclass
class ScaleOptions:
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    connections: int = 10_000  # per scenario, spread over its processes
    workers: int = 2  # pushserve workers (workers)
    processes: int = 3  # daphne servers (shards)
    shards: int = 2  # Redis servers in the layer's hosts (shards)
    client_processes: int = 3  # (workers; shards has one per server)
    repeats: int = 7  # fan-outs to the group of every connection
    burst_count: int = 200  # messages of the burst
    unicast_per_uid: int = 2  # unicast sends per uid, round robin over every uid
    op_sends: int = 1_000  # sends per target for the Redis operations per send
    op_deliveries: int = 200_000  # but no more deliveries than this per target (a big group: fewer sends)
    idle: float = 6.0  # seconds of the idle window measuring what the servers send by themselves
    warmup: int = 2  # connections per client process, used once before anything is measured
    message_size: int = 100
    connect_concurrency: int = 32
    settle: float = 5.0
    min_rate: float = 500.0
    history: bool = False
    quick: bool = False
    out: Path = DEFAULT_OUT

    @classmethod
    def quick_preset(cls) -> ScaleOptions:
        return cls(
            connections=30,
            client_processes=2,
            repeats=3,
            burst_count=5,
            op_sends=50,
            idle=1.0,
            warmup=1,
            settle=2.0,
            quick=True,
        )


@dataclass
class Cluster:
    """One scenario, running."""

    scenario: str
    options: ScaleOptions
    environment: Environment
    producer: Child
    pool: SpreadPool
    counters: Counters
    pids: list[int]  # the server processes that hold connections
    alive: Callable[[], bool]
    connect: Callable[[int], dict[str, Any]]  # open uids 0..n-1 (none open before); the pool's reply
    groups: dict[str, list[int]]  # group -> the client processes whose connections are in it
    spread_limit: int
    runs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def channel(self, layer_group: str) -> str:
        """The Redis channel of a layer group on the pub/sub layer."""
        return f"{self.environment.env('x')['BENCH_PREFIX']}__group__{layer_group}"

    def expect(self, group: str, count: int) -> list[int]:
        """Per client process: the messages each of its connections gets from ``count`` sends to ``group``."""
        return [count if i in self.groups[group] else 0 for i in range(len(self.pool.children))]

    def check(self, what: str) -> None:
        if not self.alive():
            raise ChildError(f"a server process died during {what}")


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 3) if seconds is not None else None


def _percentile(values: list[float], fraction: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def _cpu(pids: list[int]) -> float:
    return sum(sysinfo.cpu_seconds(pid) for pid in pids)


def wait_quiet(pids: list[int]) -> None:
    """Wait (bounded) until every server uses under QUIET_CPU of a core (bench/workloads.py's test, for
    all of them at once)."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while time.monotonic() < deadline:
        before, started = [sysinfo.cpu_seconds(pid) for pid in pids], time.monotonic()
        time.sleep(QUIET_WINDOW)
        took = time.monotonic() - started
        if all(
            (sysinfo.cpu_seconds(pid) - cpu) / took < QUIET_CPU for pid, cpu in zip(pids, before, strict=True)
        ):
            return


def _wait(cluster: Cluster, expected: int) -> Any:
    options = cluster.options
    deadline = time.monotonic() + max(30.0, expected / options.min_rate)
    complete = cluster.pool.wait(expected, options.settle, deadline)
    return cluster.pool.collect(expected, complete)


# -- the measurements ------------------------------------------------------------------------------


def warm_up(cluster: Cluster) -> None:
    """A few connections and one message end to end on every process (imports, the hub, the producer's
    Redis connections), closed again, so that none of it is charged to the connections measured."""
    options = cluster.options
    cluster.connect(options.warmup * len(cluster.pool.children))
    run = next(cluster.runs)
    expected = cluster.pool.arm_each(run, cluster.expect(GROUP, 1))
    cluster.producer.call({"op": "fanout", "group": GROUP, "run": run}, 60)
    result = _wait(cluster, expected)
    if result.received < expected:
        raise ChildError(f"the warm-up message reached {result.received} of {expected} connections")
    cluster.pool.close()
    wait_quiet(cluster.pids)


def connect(cluster: Cluster) -> dict[str, Any]:
    """Open every connection; per process what it took, and Redis commands per new connection."""
    n = cluster.options.connections
    before = {
        pid: (sysinfo.fd_count(pid), sysinfo.rss_kb(pid), sysinfo.cpu_seconds(pid)) for pid in cluster.pids
    }
    sample = cluster.counters.sample()
    reply = cluster.connect(n)
    if reply["failed"]:
        raise ChildError(f"{reply['failed']} of {n} connections failed: {reply['errors']}")
    wait_quiet(cluster.pids)
    _, usage = cluster.counters.usage_since(sample)
    subscriptions = cluster.counters.subscriber_connections()
    processes = []
    for pid in cluster.pids:
        fds, rss, cpu = before[pid]
        held = sysinfo.fd_count(pid) - fds  # one socket per connection
        grown = sysinfo.rss_kb(pid) - rss
        processes.append(
            {
                "pid": pid,
                "connections": held,
                "rss_mb": round(sysinfo.rss_kb(pid) / 1024, 1),
                "rss_mb_before": round(rss / 1024, 1),
                "kb_per_connection": round(grown / held, 2) if held > 0 else None,
                "cpu_ms_per_connection": round((sysinfo.cpu_seconds(pid) - cpu) / held * 1000, 3)
                if held > 0
                else None,
                "subscriber_connections": [s["connections"] for s in subscriptions.get(pid, [])],
                "subscribed_channels": [s["channels"] for s in subscriptions.get(pid, [])],
            }
        )
    cpu_total = sum(sysinfo.cpu_seconds(pid) - before[pid][2] for pid in cluster.pids)
    return {
        "connections": n,
        "opened": reply["opened"],
        "seconds": round(reply["seconds"], 3),
        "per_second": round(n / reply["seconds"], 1) if reply["seconds"] else None,
        "server_cpu_ms_per_connection": round(cpu_total / n * 1000, 3),
        "processes": processes,
        "redis_per_connection": per_each(usage, n),
    }


def fanout(cluster: Cluster, latency: bool = True) -> dict[str, Any]:
    """One message to ``bench`` (every connection, every process), ``repeats`` times. ``latency``: each
    client reads every message's send time too (the per-client p50), a cost on the clients' side."""
    trials = []
    for _ in range(cluster.options.repeats):
        run = next(cluster.runs)
        expected = cluster.pool.arm_each(run, cluster.expect(GROUP, 1), latency=latency)
        cpu = _cpu(cluster.pids)
        sent = cluster.producer.call({"op": "fanout", "group": GROUP, "run": run}, 60)
        result = _wait(cluster, expected)
        trials.append(
            {
                "expected": expected,
                "received": result.received,
                "lost": result.lost,
                "duplicates": result.duplicates,
                "last_ms": _ms(result.last - sent["sent"]) if result.received else None,
                "p50_ms": _ms(_percentile(result.latencies, 0.5)),
                "p99_ms": _ms(_percentile(result.latencies, 0.99)),
                "server_cpu_us_per_delivery": round(
                    (_cpu(cluster.pids) - cpu) / max(result.received, 1) * 1e6, 2
                ),
            }
        )
    lasts = [t["last_ms"] for t in trials if t["last_ms"] is not None]
    p50s = [t["p50_ms"] for t in trials if t["p50_ms"] is not None]
    return {
        "group": GROUP,
        "trials": trials,
        "last_ms_median": round(statistics.median(lasts), 3) if lasts else None,
        "last_ms_worst": max(lasts, default=None),
        "p50_ms_median": round(statistics.median(p50s), 3) if p50s else None,
        "lost": sum(t["lost"] for t in trials),
        "duplicates": sum(t["duplicates"] for t in trials),
    }


def _rate(received: int, first: float, last: float) -> float:
    seconds = last - first
    return round(received / seconds, 1) if received and seconds > 0 else 0.0


def burst(cluster: Cluster) -> dict[str, Any]:
    """``burst_count`` messages back to back to ``bench``."""
    options = cluster.options
    run = next(cluster.runs)
    expected = cluster.pool.arm_each(run, cluster.expect(GROUP, options.burst_count))
    cpu = _cpu(cluster.pids)
    command = {
        "op": "burst",
        "group": GROUP,
        "run": run,
        "count": options.burst_count,
        "size": options.message_size,
    }
    sent = cluster.producer.call(command, 60 + options.burst_count * 0.05)
    result = _wait(cluster, expected)
    cpu = _cpu(cluster.pids) - cpu
    return {
        "messages": options.burst_count,
        "expected": expected,
        "received": result.received,
        "lost": result.lost,
        "duplicates": result.duplicates,
        "seconds": round(result.last - sent["first"], 4),
        "deliveries_per_s": _rate(result.received, sent["first"], result.last),
        "server_cpu_us_per_delivery": round(cpu / max(result.received, 1) * 1e6, 3),
    }


def unicast(cluster: Cluster) -> dict[str, Any]:
    """``unicast_per_uid`` sends per uid, round robin over every uid (so over every process)."""
    options = cluster.options
    uids = options.connections
    count = uids * options.unicast_per_uid
    run = next(cluster.runs)
    expected = cluster.pool.arm(run, unicast=(count, uids))
    cpu = _cpu(cluster.pids)
    command = {"op": "unicast", "run": run, "count": count, "uids": uids, "size": options.message_size}
    sent = cluster.producer.call(command, 60 + count * 0.05)
    result = _wait(cluster, expected)
    cpu = _cpu(cluster.pids) - cpu
    return {
        "sends": count,
        "uids": uids,
        "expected": expected,
        "received": result.received,
        "lost": result.lost,
        "duplicates": result.duplicates,
        "seconds": round(result.last - sent["first"], 4),
        "deliveries_per_s": _rate(result.received, sent["first"], result.last),
        "producer_us_per_call": round((sent["end"] - sent["first"]) / count * 1e6, 1),
        "server_cpu_us_per_delivery": round(cpu / max(result.received, 1) * 1e6, 2),
    }


@dataclass(frozen=True)
class Target:
    """What one case of the Redis operations per send sends to: the members of ``group``, or each of the
    uids ``0..uids-1`` (every send names them all)."""

    name: str
    layer_group: str  # the layer group its sends are published to
    op: dict[str, Any]  # the producer command, without run and count
    group: str | None = None
    uids: int = 0


def targets(cluster: Cluster) -> list[Target]:
    found = [Target("uid 0", uid_layer_group("0"), {"op": "unicast", "uids": 1}, uids=1)]
    for group in sorted(cluster.groups, key=lambda g: (len(cluster.groups[g]), g)):
        found.append(
            Target(f"group {group}", group_layer_group(group), {"op": "burst", "group": group}, group)
        )
    found.append(Target("send_to_all", ALL_GROUP, {"op": "all"}, GROUP))
    listed = min(cluster.spread_limit + 1, cluster.options.connections)
    # Beyond the limit one message to every process carries all the uids; with history each uid is a
    # stream of its own (one script call each), published to its own channel: uid 0's is looked at.
    spread = listed > cluster.spread_limit and not cluster.options.history
    layer_group = ALL_GROUP if spread else uid_layer_group("0")
    found.append(
        Target(f"uids 0..{listed - 1} in one call", layer_group, {"op": "uids", "uids": listed}, uids=listed)
    )
    return found


def redis_per_send(cluster: Cluster, target: Target) -> dict[str, Any]:
    """Sends to one target; per Redis server what they cost, divided by the sends. ``op_sends`` of them,
    fewer to a big group: at most ``op_deliveries`` deliveries (and at least MIN_SENDS sends)."""
    options = cluster.options
    run = next(cluster.runs)
    if target.group is not None:
        members = cluster.pool.arm_each(run, cluster.expect(target.group, 1))
    else:
        members = target.uids
    sends = max(MIN_SENDS, min(options.op_sends, options.op_deliveries // max(members, 1)))
    if target.group is not None:
        expected = cluster.pool.arm_each(run, cluster.expect(target.group, sends))
    else:
        expected = cluster.pool.arm(run, unicast=(sends * target.uids, target.uids))
    before = cluster.counters.sample()
    command = {**target.op, "count": sends, "run": run, "size": options.message_size}
    cluster.producer.call(command, 60 + sends * 0.05)
    result = _wait(cluster, expected)
    raw, usage = cluster.counters.usage_since(before)
    shards = per_each(usage, sends)
    subscribers = cluster.counters.subscribers(cluster.channel(target.layer_group))
    return {
        "target": target.name,
        "sends": sends,
        "members": members,
        "processes": len(cluster.pids),
        "processes_reached": sum(subscribers),  # subscribers of its channel: one per process holding it
        "subscribers_by_shard": subscribers,
        "publish_per_send": round(sum(s["publish"] for s in shards), 3),
        "commands_per_send": round(sum(s["all_commands"] for s in shards), 3),
        "bytes_out_per_send": round(sum(s["bytes_out"] for s in shards), 1),
        "redis_cpu_us_per_send": round(sum(s["cpu_us"] for s in shards), 2),
        "by_shard": shards,
        "as_counted_by_shard": per_each(raw, sends),  # the background not subtracted
        "window_s": round(raw.seconds, 3),
        "expected": expected,
        "received": result.received,
        "lost": result.lost,
        "duplicates": result.duplicates,
    }


def measure(cluster: Cluster, say: Say) -> dict[str, Any]:
    name = cluster.scenario
    out: dict[str, Any] = {"processes": len(cluster.pids), "shards": len(cluster.counters.urls)}
    warm_up(cluster)
    out["background"] = cluster.counters.calibrate(cluster.options.idle)
    out["connect"] = stage = connect(cluster)
    say(f"[{name}] {stage['opened']} connections in {stage['seconds']} s ({stage['per_second']}/s)")
    cluster.check("connecting")
    out["fanout"] = result = fanout(cluster)
    say(f"[{name}] fan-out: last receipt {result['last_ms_median']} ms median, lost {result['lost']}")
    cluster.check("the fan-outs")
    out["burst"] = result = burst(cluster)
    say(f"[{name}] burst: {result['deliveries_per_s']:.0f} deliveries/s, lost {result['lost']}")
    cluster.check("the burst")
    out["unicast"] = result = unicast(cluster)
    say(f"[{name}] unicast: {result['deliveries_per_s']:.0f} deliveries/s, lost {result['lost']}")
    cluster.check("the unicasts")
    out["redis_per_send"] = []
    for target in targets(cluster):
        out["redis_per_send"].append(result := redis_per_send(cluster, target))
        say(
            f"[{name}] {target.name}: {result['publish_per_send']} PUBLISH/send, reached "
            f"{result['processes_reached']} of {result['processes']} processes, lost {result['lost']}"
        )
    cluster.check("the sends per target")
    out["lost"] = (
        out["fanout"]["lost"]
        + out["burst"]["lost"]
        + out["unicast"]["lost"]
        + sum(r["lost"] for r in out["redis_per_send"])
    )
    return out


# -- the scenarios ---------------------------------------------------------------------------------


def _spread_limit(producer: Child) -> int:
    """The producer's ready line says how many uids one send may name before it goes to every process.
    (The producer is started before the servers: it sets Django up meanwhile.)"""
    return int(producer.reply(START_TIMEOUT)["spread_limit"])


def run_workers(options: ScaleOptions, say: Say) -> dict[str, Any]:
    """pushserve with ``workers`` workers on one port; one Redis."""
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        stack.callback(kill_all)  # whatever is left, before Redis goes
        log_dir = options.out / "logs" / "scale-workers"
        environment = Environment(redis.url, "pushapp", log_dir=log_dir, history=options.history)
        say(f"[workers] starting pushserve --workers {options.workers}, the producer and the clients")
        producer = Child("producer", ["-m", "bench.scale_producer"], environment)
        stack.callback(producer.kill)
        server = PushServe(environment, options.workers)
        stack.callback(server.stop)
        limit = _spread_limit(producer)
        pool = SpreadPool(environment, options.client_processes)
        stack.callback(pool.kill)  # first: no connection is left for the drain
        counters = Counters([redis.url])
        stack.callback(counters.close)

        def connect(n: int) -> dict[str, Any]:
            return pool.grow(n, server.port, GROUP, options.connect_concurrency, max(60.0, n / 50))

        def alive() -> bool:
            return server.alive() and all(_running(pid) for pid in server.worker_pids)

        cluster = Cluster(
            scenario="workers",
            options=options,
            environment=environment,
            producer=producer,
            pool=pool,
            counters=counters,
            pids=server.worker_pids,
            alive=alive,
            connect=connect,
            groups={GROUP: list(range(options.client_processes))},
            spread_limit=limit,
        )
        return {"server": f"pushserve --workers {options.workers}", **measure(cluster, say)}


def run_shards(options: ScaleOptions, say: Say) -> dict[str, Any]:
    """``processes`` daphne servers; the layer over ``shards`` Redis servers."""
    with contextlib.ExitStack() as stack:
        redises = [stack.enter_context(RedisServer()) for _ in range(options.shards)]
        stack.callback(kill_all)
        urls = tuple(redis.url for redis in redises)
        log_dir = options.out / "logs" / "scale-shards"
        environment = ShardedEnvironment(
            urls[0], "pushapp", log_dir=log_dir, history=options.history, shard_urls=urls
        )
        say(f"[shards] starting {options.processes} daphne servers, {options.shards} Redis, the clients")
        producer = Child("producer", ["-m", "bench.scale_producer"], environment)
        stack.callback(producer.kill)
        servers = start_servers(environment, options.processes)
        for server in servers:
            stack.callback(server.kill)
        limit = _spread_limit(producer)
        pool = SpreadPool(environment, options.processes)  # client process i connects to server i
        stack.callback(pool.kill)
        counters = Counters(list(urls))
        stack.callback(counters.close)
        groups = {GROUP: list(range(options.processes))}
        groups.update({_local(i): [i] for i in range(options.processes)})
        if options.processes > 2:
            groups[PAIR] = [0, 1]

        def connect(n: int) -> dict[str, Any]:
            share, extra = divmod(n, options.processes)
            slices, start = [], 0
            for i, server in enumerate(servers):
                stop = start + share + (1 if i < extra else 0)
                names = [group for group, members in groups.items() if i in members]
                slices.append({"port": server.port, "start": start, "stop": stop, "groups": names})
                start = stop
            return pool.connect_each(slices, options.connect_concurrency, max(60.0, n / 50))

        def alive() -> bool:
            return all(server.alive() for server in servers)

        cluster = Cluster(
            scenario="shards",
            options=options,
            environment=environment,
            producer=producer,
            pool=pool,
            counters=counters,
            pids=[server.pid for server in servers],
            alive=alive,
            connect=connect,
            groups=groups,
            spread_limit=limit,
        )
        return {"server": f"{options.processes} x bench.serve daphne", **measure(cluster, say)}


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def run_c100k(options: ScaleOptions, say: Say) -> dict[str, Any]:
    from bench.c100k import run_c100k as run

    return run(options, say)


RUNNERS = {"workers": run_workers, "shards": run_shards, "c100k": run_c100k}


def run(options: ScaleOptions, say: Say) -> dict[str, Any]:
    results: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "options": {**asdict(options), "out": str(options.out)},
        "machine": sysinfo.machine(find_redis_server()),
        "scenarios": {},
    }
    started = time.monotonic()
    for name in options.scenarios:
        try:
            results["scenarios"][name] = RUNNERS[name](options, say)
        except (ChildError, OSError, RuntimeError) as err:
            say(f"[{name}] FAILED: {err}")
            results["scenarios"][name] = {"error": str(err)}
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_at_end"] = sysinfo.load_average()
    return results


# -- the command line ------------------------------------------------------------------------------


def _scenarios(text: str) -> list[str]:
    names = SCENARIOS if text == "both" else tuple(part.strip() for part in text.split(",") if part.strip())
    if not names or set(names) - set(SCENARIOS) - set(ON_REQUEST):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SCENARIOS + ON_REQUEST)}, or both")
    return list(names)


def parse_options(argv: list[str]) -> tuple[ScaleOptions, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        type=_scenarios,
        default=list(SCENARIOS),
        help="workers, shards or both; c100k (100,000 connections by default, bench/c100k.py)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    parser.add_argument("--connections", type=int, help="per scenario (default 10000; --quick: 30)")
    parser.add_argument("--workers", type=int, help="pushserve workers (default 2)")
    parser.add_argument("--processes", type=int, help="daphne servers of the shards scenario (default 3)")
    parser.add_argument("--shards", type=int, help="Redis servers of the shards scenario (default 2)")
    parser.add_argument("--clients", type=int, help="client processes of the workers scenario (default 3)")
    parser.add_argument("--repeats", type=int, help="fan-outs (default 7)")
    parser.add_argument("--sends", type=int, help="sends per target for the Redis operations (default 1000)")
    parser.add_argument(
        "--history", action="store_true", help='PUSHAPP["HISTORY"] on (bench/settings_pushapp.py)'
    )
    parser.add_argument(
        "--out", type=Path, help=f"results directory (default {DEFAULT_OUT}): scale.json, logs/"
    )
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="run nothing: print an earlier run's tables"
    )
    args = parser.parse_args(argv)
    options = ScaleOptions.quick_preset() if args.quick else ScaleOptions()
    options.scenarios = args.scenario
    for name, value in (
        ("connections", args.connections),
        ("workers", args.workers),
        ("processes", args.processes),
        ("shards", args.shards),
        ("client_processes", args.clients),
        ("repeats", args.repeats),
        ("op_sends", args.sends),
        ("out", args.out),
    ):
        if value is not None:
            setattr(options, name, value)
    options.history = args.history
    if options.scenarios == ["c100k"] and args.connections is None and not args.quick:
        options.connections = 100_000
    if options.processes < 1 or options.shards < 1 or options.workers < 1:
        parser.error("--processes, --shards and --workers must be at least 1")
    if options.connections < max(options.processes, options.client_processes):
        parser.error("--connections: at least one per process")
    return options, args.render


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so the finally blocks stop every child


def main(argv: list[str]) -> int:
    from bench.scale_report import markdown

    options, render = parse_options(argv)
    if render is not None:
        print(markdown(json.loads(render.read_text())))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    raise_nofile_limit()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results = run(options, say)
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / "scale.json"
    path.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    say(f"\nresults: {path}\ntook {results['duration_s']} s")
    return 1 if any(r.get("error") for r in results["scenarios"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
