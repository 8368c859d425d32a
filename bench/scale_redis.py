"""What the Redis servers of ``python -m bench.scale`` did: commands, bytes and CPU between two samples.

Each sample reads, from every shard, ``INFO commandstats`` (calls per command, counted by Redis itself,
commands run by Lua scripts included), ``INFO stats`` (``total_net_output_bytes``: what Redis wrote to
every client, the pub/sub messages to the servers among it), ``INFO cpu`` and ``INFO memory``. What the
servers do on their own while nothing is sent (a probe ``PUBLISH`` per process per second, a presence
heartbeat every few seconds) is measured once over an idle window and subtracted as a rate; the samples'
own commands (``INFO``, ``CLIENT LIST``, ``PUBSUB NUMSUB``) are never counted, and the bytes and CPU of
taking a sample are measured once too (two samples back to back) and subtracted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

#: The samples' own commands, as ``INFO commandstats`` names them.
OWN_COMMANDS = frozenset({"info", "client|list", "pubsub|numsub"})


@dataclass
class Sample:
    at: float  # monotonic
    calls: list[dict[str, int]]  # per shard: command -> calls so far
    net_out: list[int]  # per shard: total_net_output_bytes
    cpu: list[float]  # per shard: used_cpu_user + used_cpu_sys, seconds
    memory: list[int]  # per shard: used_memory, bytes


@dataclass
class Usage:
    """Per shard, what happened between two samples."""

    seconds: float
    calls: list[dict[str, float]]
    net_out: list[float]
    cpu: list[float]
    memory: list[float]  # growth: not a rate, nothing is subtracted from it

    def minus(self, background: Usage | None, overhead: Usage | None) -> Usage:
        """Without the idle rate of ``background`` over this window, and the bytes and CPU of one sample
        pair (``overhead``)."""
        calls = [dict(shard) for shard in self.calls]
        net_out, cpu = list(self.net_out), list(self.cpu)
        for shard in range(len(calls)):
            if background is not None and background.seconds > 0:
                scale = self.seconds / background.seconds
                for name, n in background.calls[shard].items():
                    calls[shard][name] = calls[shard].get(name, 0.0) - n * scale
                net_out[shard] -= background.net_out[shard] * scale
                cpu[shard] -= background.cpu[shard] * scale
            if overhead is not None:
                net_out[shard] -= overhead.net_out[shard]
                cpu[shard] -= overhead.cpu[shard]
        return Usage(self.seconds, calls, net_out, cpu, self.memory)


@dataclass
class Counters:
    """One client per shard (kept open, so no handshake of ours falls inside a window)."""

    urls: list[str]
    clients: list[redis.Redis] = field(init=False)
    overhead: Usage | None = None
    background: Usage | None = None

    def __post_init__(self) -> None:
        self.clients = [redis.Redis.from_url(url, decode_responses=True) for url in self.urls]

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def sample(self) -> Sample:
        calls, net_out, cpu, memory = [], [], [], []
        for client in self.clients:
            stats = client.info("commandstats")
            calls.append({key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in stats.items()})
            net_out.append(int(client.info("stats")["total_net_output_bytes"]))
            used = client.info("cpu")
            cpu.append(float(used["used_cpu_user"]) + float(used["used_cpu_sys"]))
            memory.append(int(client.info("memory")["used_memory"]))
        return Sample(time.monotonic(), calls, net_out, cpu, memory)

    @staticmethod
    def between(before: Sample, after: Sample) -> Usage:
        calls: list[dict[str, float]] = []
        for was, now in zip(before.calls, after.calls, strict=True):
            calls.append(
                {
                    name: float(n - was.get(name, 0))
                    for name, n in now.items()
                    if name not in OWN_COMMANDS and n != was.get(name, 0)
                }
            )
        return Usage(
            after.at - before.at,
            calls,
            [float(b - a) for a, b in zip(before.net_out, after.net_out, strict=True)],
            [b - a for a, b in zip(before.cpu, after.cpu, strict=True)],
            [float(b - a) for a, b in zip(before.memory, after.memory, strict=True)],
        )

    def calibrate(self, idle: float) -> dict[str, Any]:
        """Measure a sample pair's own cost, then what the servers do by themselves over ``idle`` seconds."""
        first = self.sample()
        self.overhead = self.between(first, self.sample())  # its commands are ours: none is counted
        start = self.sample()
        time.sleep(idle)
        self.background = self.between(start, self.sample()).minus(None, self.overhead)
        return {
            "idle_seconds": round(self.background.seconds, 3),
            "per_second": [
                {name: round(n / self.background.seconds, 2) for name, n in sorted(shard.items())}
                for shard in self.background.calls
            ],
        }

    def usage_since(self, before: Sample) -> tuple[Usage, Usage]:
        """What happened since ``before``: as counted, and without the background and the sampling."""
        raw = self.between(before, self.sample())
        return raw, raw.minus(self.background, self.overhead)

    def subscribers(self, channel: str) -> list[int]:
        """Per shard, how many connections are subscribed to ``channel``: how many copies one PUBLISH to
        it makes. Each server process has one subscriber connection per shard, so this is the number of
        processes Redis sends the message to."""
        return [int(dict(client.pubsub_numsub(channel)).get(channel, 0)) for client in self.clients]

    def subscriber_connections(self) -> dict[int, list[dict[str, int]]]:
        """Per process (by the pid in its connections' client name, ``<role>-<pid>``), per shard: its
        subscriber (pub/sub) connections and the channels they are subscribed to."""
        found: dict[int, list[dict[str, int]]] = {}
        for shard, client in enumerate(self.clients):
            for entry in client.client_list():
                name = str(entry.get("name", ""))
                if "P" not in str(entry.get("flags", "")) or "-" not in name:
                    continue
                pid = name.rsplit("-", 1)[1]
                if not pid.isdigit():
                    continue
                shards = found.setdefault(int(pid), [{"connections": 0, "channels": 0} for _ in self.urls])
                shards[shard]["connections"] += 1
                shards[shard]["channels"] += int(entry.get("sub", 0))
        return found


def per_each(usage: Usage, count: int) -> list[dict[str, Any]]:
    """Per shard: commands by name, PUBLISH, every command, output bytes, CPU and memory growth, each
    divided by ``count`` (sends, or new connections)."""
    out = []
    for shard in range(len(usage.calls)):
        # What is left of a command after the background is subtracted may be a little below zero: noise.
        counted = {name: max(n, 0.0) for name, n in usage.calls[shard].items()}
        calls = {name: n / count for name, n in sorted(counted.items()) if n / count >= 0.005}
        out.append(
            {
                "commands": {name: round(n, 3) for name, n in calls.items()},
                "publish": round(counted.get("publish", 0.0) / count, 3),
                "all_commands": round(sum(counted.values()) / count, 3),
                "bytes_out": round(max(usage.net_out[shard], 0.0) / count, 1),
                "cpu_us": round(max(usage.cpu[shard], 0.0) / count * 1e6, 2),
                "memory_bytes": round(usage.memory[shard] / count, 1),
            }
        )
    return out
