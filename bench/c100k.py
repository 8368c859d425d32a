"""``python -m bench.scale --scenario c100k``: 100,000 connections to ``manage.py pushserve --workers 2`` on
this machine, and the reconnect storms that follow a crash and a reload (docs/scaling.md).

One Redis carries the layer, another presence alone (``PRESENCE_REDIS_URL``), so that Redis's own
``INFO cpu`` shows what presence costs. Client processes connect from loopback addresses of their own
(127.0.0.2, 127.0.0.3, …): one address has at most ``ip_local_port_range`` ports towards one server port.

Stages: the connections (RSS and CPU per connection per worker; Redis CPU per connection, presence's
apart), fan-outs of one message to all of them (send to last receipt), then two storms: both workers
SIGKILLed, and a SIGHUP reload. In each the clients reconnect as pushapp.js does (full jitter, base 1 s)
and the storm is measured until every connection is welcomed again and presence counts them exactly:
its length, the workers' CPU per accept, and the presence Redis's CPU per connect. Last, every client
closes: the presence Redis's CPU per close.

OS limits it needs (raised here when it runs as root, else it says what to run): open files
(``RLIMIT_NOFILE``, for this process and every child) and ``net.ipv4.ip_local_port_range``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import scale, sysinfo
from bench.procs import Child, ChildError, Environment, kill_all
from bench.scale_procs import PushServe, SpreadPool
from bench.scale_redis import Counters, per_each
from tests.support.pushserve import STARTED
from tests.support.redis_server import RedisServer

Say = Callable[[str], None]
PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
WIDE_PORTS = "1024 65535"
SOURCES = 4  # client processes at least, one loopback address each: 25,000 connections apiece at 100,000
#: Of a process's open-file limit, what its connections may use: the kernel hands connections to workers
#: unevenly, and a process needs files of its own.
FD_SHARE, FD_RESERVE = 0.75, 1000
STORM_TIMEOUT = 600.0
CORES = os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class C100kEnvironment(Environment):
    """Presence on a Redis of its own, and no per-address handshake cap for a few client addresses."""

    presence_url: str = ""

    def env(self, role: str) -> dict[str, str]:
        env = super().env(role)
        env["BENCH_PRESENCE_REDIS_URL"] = self.presence_url
        env["BENCH_MAX_UNAUTHENTICATED_PER_IP"] = "1000000"
        return env


def raise_os_limits(connections: int, say: Say) -> dict[str, Any]:
    """Open files for both ends of every connection, and the widest ephemeral port range; what was set."""
    need = connections * 2 + 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        except (ValueError, OSError):
            say(f"[c100k] RLIMIT_NOFILE hard limit {hard} < {need}: run `ulimit -Hn {need}` as root first")
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, need)), hard))
    ports = PORT_RANGE.read_text().split()
    if ports != WIDE_PORTS.split():
        try:
            PORT_RANGE.write_text(WIDE_PORTS)
        except OSError:
            say(
                "[c100k] could not widen the port range: "
                f"sysctl -w net.ipv4.ip_local_port_range='{WIDE_PORTS}'"
            )
    return {
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "ip_local_port_range": PORT_RANGE.read_text().split(),
    }


def _workers(server: PushServe) -> list[int]:
    """The pids serving now: the last started in each slot (a SIGKILLed worker's replacement, a reload's
    new generation)."""
    latest: dict[str, int] = {}
    for match in STARTED.finditer(server.log_path.read_text(errors="replace")):
        latest[match.group(1)] = int(match.group(3))
    return list(latest.values())


def _presence(producer: Child) -> dict[str, int]:
    return producer.call({"op": "presence"}, 60)


def storm(
    cluster: scale.Cluster, server: PushServe, counters: Counters, kind: str, say: Say
) -> dict[str, Any]:
    """Both workers go away (``kill``: SIGKILL; ``hup``: a SIGHUP reload); every client reconnects."""
    n = cluster.options.connections
    pool = cluster.pool
    pool._all([{"op": "reconnect", "on": True}] * len(pool.children), 60)
    old = _workers(server)
    clients_cpu = _cpu([child.pid for child in pool.children])
    sample = counters.sample()
    started = time.monotonic()
    wall = time.time()
    if kind == "kill":
        for pid in old:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    else:
        server.process.send_signal(signal.SIGHUP)
    new: list[int] = []
    cpu_start: dict[int, float] = {}
    report_at = started + 10
    statuses: list[dict[str, Any]] = []
    while time.monotonic() - started < STORM_TIMEOUT:
        for pid in _workers(server):
            if pid not in old and pid not in cpu_start:
                cpu_start[pid] = 0.0  # a new process: all its CPU is the storm's
                new.append(pid)
        statuses = pool._all([{"op": "storm_status"}] * len(pool.children), 60)
        renewed, open_ = (sum(s[key] for s in statuses) for key in ("renewed", "open"))
        if renewed >= n and open_ >= n and not sum(s["pending"] for s in statuses):
            break
        if time.monotonic() >= report_at:
            report_at += 10
            say(f"[c100k] storm ({kind}) at {time.monotonic() - started:.0f} s: {_progress(statuses)}")
        time.sleep(0.2)
    settled = counters.sample()  # every connection welcomed: what the storm cost Redis ends here
    welcomed_at = max(s["last"] for s in statuses)
    reconnected = sum(s["reconnected"] for s in statuses)
    welcomed = welcomed_at - wall if reconnected else None
    accept_cpu = sum(sysinfo.cpu_seconds(pid) for pid in new if _alive(pid))
    clients_cpu = _cpu([child.pid for child in pool.children]) - clients_cpu
    # Presence exact: every connection counted once, the dead workers' entries gone (a SIGKILLed worker's
    # vanish after PRESENCE_TTL: counted until then, and this waits for it).
    exact_at = None
    while time.monotonic() - started < STORM_TIMEOUT:
        counts = _presence(cluster.producer)
        if counts["clients"] == n and counts["uids"] == n:
            exact_at = time.monotonic() - started
            break
        if time.monotonic() >= report_at:
            report_at += 10
            say(f"[c100k] storm ({kind}): presence counts {counts}, {_progress(statuses)}")
        time.sleep(2.0)  # each count reads every connection of the cluster: not more often
    raw = counters.between(sample, settled)
    usage = raw.minus(counters.background, counters.overhead)
    redis = per_each(usage, max(reconnected, 1))
    return {
        "kind": kind,
        "connections": n,
        "reconnected": reconnected,
        "failed_attempts": sum(s["failures"] for s in statuses),
        "all_welcomed_s": round(welcomed, 3) if welcomed is not None else None,
        "presence_exact_s": round(exact_at, 3) if exact_at is not None else None,
        "new_workers": len(new),
        "server_cpu_s": round(accept_cpu, 3),
        "server_cpu_ms_per_accept": round(accept_cpu / max(reconnected, 1) * 1000, 3),
        "cpu_alone_allows_s": round(accept_cpu / max(min(len(new), CORES), 1), 3),
        # The clients share the two cores: what the servers' and the clients' CPU together allow.
        "client_cpu_s": round(clients_cpu, 3),
        "with_clients_allows_s": round((accept_cpu + clients_cpu) / CORES, 3),
        "layer_redis_cpu_us_per_connect": redis[0]["cpu_us"],
        "presence_redis_cpu_us_per_connect": redis[1]["cpu_us"],
        "presence_redis": redis[1],
        "window_s": round(raw.seconds, 3),
    }


def _progress(statuses: list[dict[str, Any]]) -> str:
    keys = ("renewed", "open", "reconnected", "pending", "failures")
    return ", ".join(f"{key} {sum(s[key] for s in statuses)}" for key in keys)


def _cpu(pids: list[int]) -> float:
    return sum(sysinfo.cpu_seconds(pid) for pid in pids)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def closes(cluster: scale.Cluster, counters: Counters) -> dict[str, Any]:
    """Every client closes: what each close cost the presence Redis."""
    n = cluster.options.connections
    sample = counters.sample()
    cluster.pool.close(timeout=120)
    deadline = time.monotonic() + STORM_TIMEOUT
    while _presence(cluster.producer)["clients"] and time.monotonic() < deadline:
        time.sleep(0.5)
    scale.wait_quiet(cluster.pids)
    _, usage = counters.usage_since(sample)
    redis = per_each(usage, n)
    return {"closed": n, "presence_redis_cpu_us_per_close": redis[1]["cpu_us"], "presence_redis": redis[1]}


def run_c100k(options: scale.ScaleOptions, say: Say) -> dict[str, Any]:
    limits = raise_os_limits(options.connections, say)
    with contextlib.ExitStack() as stack:
        layer_redis = stack.enter_context(RedisServer())
        presence_redis = stack.enter_context(RedisServer())
        stack.callback(kill_all)
        environment = C100kEnvironment(
            layer_redis.url,
            "pushapp",
            log_dir=options.out / "logs" / "scale-c100k",
            history=options.history,
            presence_url=presence_redis.url,
        )
        # Where a process may not hold a share of the connections (RLIMIT_NOFILE's hard limit, which only
        # CAP_SYS_RESOURCE raises), more processes hold them: said, and kept in the results.
        per_process = int((limits["nofile"] - FD_RESERVE) * FD_SHARE)
        needed = math.ceil(options.connections / per_process)
        workers = max(options.workers, needed)
        clients = max(options.client_processes if options.quick else SOURCES, needed)
        if workers > options.workers:
            say(
                f"[c100k] a process may open {limits['nofile']} files here: {workers} workers instead of "
                f"{options.workers}, {clients} client processes"
            )
        say(f"[c100k] pushserve --workers {workers}, {clients} client processes, {limits}")
        producer = Child("producer", ["-m", "bench.scale_producer"], environment)
        stack.callback(producer.kill)
        server = PushServe(environment, workers)
        stack.callback(server.stop)
        limit = scale._spread_limit(producer)
        pool = SpreadPool(environment, clients)
        stack.callback(pool.kill)
        counters = Counters([layer_redis.url, presence_redis.url])
        stack.callback(counters.close)

        def connect(n: int) -> dict[str, Any]:
            share, extra = divmod(n - pool.connected, clients)
            slices, start = [], pool.connected
            for i in range(clients):
                stop = start + share + (1 if i < extra else 0)
                source = f"127.0.0.{i + 2}"
                slices.append(
                    {
                        "port": server.port,
                        "start": start,
                        "stop": stop,
                        "groups": [scale.GROUP],
                        "source": source,
                    }
                )
                start = stop
            return pool.connect_each(slices, options.connect_concurrency, max(120.0, n / 50))

        cluster = scale.Cluster(
            scenario="c100k",
            options=options,
            environment=environment,
            producer=producer,
            pool=pool,
            counters=counters,
            pids=server.worker_pids,
            alive=server.alive,
            connect=connect,
            groups={scale.GROUP: list(range(clients))},
            spread_limit=limit,
        )
        out: dict[str, Any] = {
            "server": f"pushserve --workers {workers}",
            "os_limits": limits,
            "client_processes": clients,
        }
        scale.warm_up(cluster)
        out["background"] = counters.calibrate(options.idle)
        out["connect"] = stage = scale.connect(cluster)
        say(f"[c100k] {stage['opened']} connections in {stage['seconds']} s ({stage['per_second']}/s)")
        # Send call to last receipt; the clients, on the same two cores, do not parse every message's
        # send time (no per-client latency): at 100,000 receipts that is their biggest cost.
        out["fanout"] = result = scale.fanout(cluster, latency=False)
        say(
            f"[c100k] fan-out: last receipt {result['last_ms_median']} ms median, "
            f"{result['last_ms_worst']} ms worst, lost {result['lost']}"
        )
        out["storms"] = []
        for kind in ("kill", "hup"):
            out["storms"].append(result := storm(cluster, server, counters, kind, say))
            cluster.pids[:] = _workers(server)
            say(
                f"[c100k] storm ({kind}): {result['reconnected']} welcomed again "
                f"in {result['all_welcomed_s']} s, "
                f"presence exact at {result['presence_exact_s']} s, {result['server_cpu_ms_per_accept']} ms "
                f"server CPU/accept, presence Redis {result['presence_redis_cpu_us_per_connect']} µs/connect"
            )
        out["fanout_after"] = result = scale.fanout(cluster, latency=False)
        say(f"[c100k] fan-out after the storms: {result['last_ms_median']} ms median, lost {result['lost']}")
        out["close"] = result = closes(cluster, counters)
        say(f"[c100k] closes: presence Redis {result['presence_redis_cpu_us_per_close']} µs/close")
        out["lost"] = out["fanout"]["lost"] + out["fanout_after"]["lost"]
        if any(s["reconnected"] < options.connections for s in out["storms"]):
            raise ChildError(f"a storm did not reconnect every client: {out['storms']}")
        return out
