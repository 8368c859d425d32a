"""The tables of ``python -m bench.scale``, from its results (the JSON it writes)."""

from __future__ import annotations

from typing import Any

SCENARIO_TITLES = {
    "workers": "pushserve workers on one port, one Redis",
    "shards": "daphne servers, the layer over several Redis servers",
    "c100k": "pushserve workers, presence on a Redis of its own, reconnect storms",
}


def _n(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _shards(values: list[Any]) -> str:
    return " · ".join(f"s{i}: {v}" for i, v in enumerate(values))


def _commands(per_shard: list[dict[str, Any]]) -> str:
    parts = []
    for i, shard in enumerate(per_shard):
        names = ", ".join(f"{name} {n:g}" for name, n in shard["commands"].items())
        parts.append(f"s{i}: {shard['all_commands']:g}" + (f" ({names})" if names else ""))
    return " · ".join(parts)


def _connections(stage: dict[str, Any]) -> list[str]:
    lines = [
        "| process | connections | RSS MB before → after | KB per connection | server CPU ms per connection "
        "| subscribed channels (by Redis) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for p in stage["processes"]:
        lines.append(
            f"| pid {p['pid']} | {p['connections']:,} | {p['rss_mb_before']} → {p['rss_mb']} | "
            f"{_n(p['kb_per_connection'])} | {_n(p['cpu_ms_per_connection'], 2)} | "
            f"{_shards(p['subscribed_channels'])} |"
        )
    return lines


def _fanout(fanout: dict[str, Any], what: str) -> str:
    return (
        f"| {what}: send call → last receipt, median / worst of {len(fanout['trials'])} | "
        f"{_n(fanout['last_ms_median'])} / {_n(fanout['last_ms_worst'])} ms (lost {fanout['lost']}) |"
    )


def c100k(result: dict[str, Any]) -> str:
    stage = result["connect"]
    lines = [
        f"### c100k: {SCENARIO_TITLES['c100k']}",
        "",
        f"{result['server']}, {stage['connections']:,} connections; OS limits {result['os_limits']}.",
        "",
        *_connections(stage),
        "",
        "| measurement | value |",
        "|---|---|",
        f"| connecting: connections/s | {_n(stage['per_second'])} |",
        f"| connecting: Redis CPU per connection (layer · presence) | "
        f"{_shards([_n(s['cpu_us'], 1) for s in stage['redis_per_connection']])} µs |",
        _fanout(result["fanout"], f"fan-out to all {stage['connections']:,}"),
        _fanout(result["fanout_after"], "the same after the storms"),
        f"| every client closes: presence Redis CPU per close | "
        f"{_n(result['close']['presence_redis_cpu_us_per_close'], 1)} µs |",
        f"| lost | {result['lost']} |",
        "",
        "| storm | welcomed again | all welcomed after | presence exact after | server CPU per accept | "
        "what the workers' CPU alone allows | with the clients' CPU, on every core | "
        "presence Redis CPU per connect | layer Redis CPU per connect |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for storm in result["storms"]:
        lines.append(
            f"| {storm['kind']} | {storm['reconnected']:,} | {_n(storm['all_welcomed_s'], 2)} s | "
            f"{_n(storm['presence_exact_s'], 2)} s | {_n(storm['server_cpu_ms_per_accept'], 3)} ms | "
            f"{_n(storm['cpu_alone_allows_s'], 2)} s | {_n(storm['with_clients_allows_s'], 2)} s | "
            f"{_n(storm['presence_redis_cpu_us_per_connect'], 1)} µs | "
            f"{_n(storm['layer_redis_cpu_us_per_connect'], 1)} µs |"
        )
    return "\n".join(lines) + "\n"


def scenario(name: str, result: dict[str, Any]) -> str:
    if result.get("error"):
        return f"### {name}: FAILED\n\n{result['error']}\n"
    if name == "c100k":
        return c100k(result)
    stage, fanout, burst, unicast = result["connect"], result["fanout"], result["burst"], result["unicast"]
    lines = [
        f"### {name}: {SCENARIO_TITLES.get(name, '')}",
        "",
        f"{result['server']}, {result['shards']} Redis, {stage['connections']:,} connections.",
        "",
        *_connections(stage),
    ]
    lines += [
        "",
        "| measurement | value |",
        "|---|---|",
        f"| connecting: connections/s (all processes) | {_n(stage['per_second'])} |",
        f"| connecting: server CPU per connection (all processes) | "
        f"{_n(stage['server_cpu_ms_per_connection'], 2)} ms |",
        f"| connecting: Redis commands per connection, by Redis | "
        f"{_commands(stage['redis_per_connection'])} |",
        f"| connecting: Redis CPU per connection, by Redis | "
        f"{_shards([_n(s['cpu_us'], 1) for s in stage['redis_per_connection']])} µs |",
        f"| connecting: Redis memory per connection, by Redis | "
        f"{_shards([_n(s['memory_bytes'], 0) for s in stage['redis_per_connection']])} bytes |",
        _fanout(fanout, "fan-out to `bench` (every connection)"),
        f"| fan-out: per-client latency p50 (median of the trials) | {_n(fanout['p50_ms_median'])} ms |",
        f"| burst of {burst['messages']} to `bench`: deliveries/s | {_n(burst['deliveries_per_s'], 0)} |",
        f"| burst: server CPU per delivery | {_n(burst['server_cpu_us_per_delivery'], 2)} µs |",
        f"| unicast, {unicast['sends']:,} sends round robin over {unicast['uids']:,} uids: deliveries/s | "
        f"{_n(unicast['deliveries_per_s'], 0)} |",
        f"| unicast: producer time per send call | {_n(unicast['producer_us_per_call'])} µs |",
        f"| lost, in all of this scenario | {result['lost']} |",
        "",
        "Redis operations per send (what the servers send by themselves is subtracted):",
        "",
        f"| target | sends | processes Redis sent it to (of {result['processes']}) | PUBLISH per send | "
        "commands per send, by Redis | bytes out per send | Redis CPU µs per send | lost |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in result["redis_per_send"]:
        lines.append(
            f"| {r['target']} | {r['sends']:,} | {r['processes_reached']} | {r['publish_per_send']:.2f} | "
            f"{_commands(r['by_shard'])} | {_n(r['bytes_out_per_send'], 0)} | "
            f"{_n(r['redis_cpu_us_per_send'], 1)} | {r['lost']} |"
        )
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    parts = [scenario(name, result) for name, result in results["scenarios"].items()]
    summary = []
    for name, result in results["scenarios"].items():
        if result.get("error") or name == "c100k":
            continue
        uid = result["redis_per_send"][0]
        summary.append(
            f"- {name}: a send to one uid cost {uid['publish_per_send']:.2f} PUBLISH and "
            f"{uid['commands_per_send']:.2f} Redis commands, and reached {uid['processes_reached']} of "
            f"{uid['processes']} processes."
        )
    if summary:
        parts.append("\n".join(summary) + "\n")
    return "\n".join(parts)
