"""The live state of the cluster as ``manage.py pushstats`` shows it: a snapshot, and its text form.

The JSON form of :func:`snapshot` is a stable, documented schema (docs/presence.md, version 1).
"""

from __future__ import annotations

import time
from typing import Any

from .. import queries
from ..presence import get_backend

SCHEMA_VERSION = 1


def snapshot(top: int = 10, group: str | None = None, now: float | None = None) -> dict[str, Any]:
    """Totals, one entry per server process, the largest groups, and optionally one group's members."""
    now = time.time() if now is None else now
    processes = []
    nodes = get_backend().nodes()
    for node in nodes:
        info = node.info
        processes.append(
            {
                "node": node.node,
                "host": info.get("host", "?"),
                "pid": int(info.get("pid", 0)),
                "clients": int(info.get("clients", 0)),
                "uptime": round(now - float(info.get("started", now)), 1),
                "delivered": int(info.get("delivered", 0)),
                "dropped": int(info.get("dropped", 0)),
                "dropped_bytes": int(info.get("dropped_bytes", 0)),
                "heartbeat_age": round(node.heartbeat_age, 1),
                **_worker_fields(info),
            }
        )
    counts = queries.get_all_group_client_id_count()
    result: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "clients": queries.get_all_client_count(),
        "uids": queries.get_all_uid_count(),
        "groups": len(counts),
        "processes": processes,
        "top_groups": [
            {"group": name, "clients": count}
            for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
        ],
    }
    services = _services(processes, {node.node: node.info for node in nodes})
    if services:
        result["services"] = services
    if group is not None:
        sessions = queries.get_client_sessions_by_group(group)
        result["group"] = {
            "name": group,
            "members": [
                {"client_id": cid, "uid": queries.get_uid_by_client_id(cid), "session": session}
                for cid, session in sorted(sessions.items())
            ],
        }
    return result


def _worker_fields(info: dict[str, str]) -> dict[str, Any]:
    """A pushserve worker's labels (docs/presence.md); nothing for a server started otherwise."""
    if not info.get("service"):
        return {}
    return {
        "service": info["service"],
        "worker": int(info.get("worker", 0)),
        "generation": int(info.get("generation", 1)),
    }


def _services(processes: list[dict[str, Any]], infos: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """The workers of each ``pushserve`` as one service, like ``php start.php status`` shows a Worker."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for process in processes:
        if "service" in process:
            by_service.setdefault(process["service"], []).append(process)
    services = []
    for service, workers in sorted(by_service.items()):
        info = infos[workers[0]["node"]]
        services.append(
            {
                "service": service,
                "host": workers[0]["host"],
                "listen": info.get("bind", "?"),
                "supervisor": int(info.get("supervisor", 0)),
                "workers": len(workers),
                "generations": sorted({w["generation"] for w in workers}),
                "clients": sum(w["clients"] for w in workers),
                "delivered": sum(w["delivered"] for w in workers),
                "dropped": sum(w["dropped"] for w in workers),
            }
        )
    return services


def _dropped(process: dict[str, Any]) -> str:
    """Pushes dropped, and what slow clients lost with them in bytes (what they had not read yet too)."""
    lost = process.get("dropped_bytes", 0)
    return str(process["dropped"]) + (f" ({lost / 1e6:.1f} MB)" if lost else "")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def _worker_label(process: dict[str, Any]) -> str:
    if "service" not in process:
        return "-"
    return f"{process['service']}/{process['worker']} gen {process['generation']}"


def render(data: dict[str, Any]) -> str:
    """The text view, like ``php start.php status``."""
    services = data.get("services", [])
    lines = [
        f"clients: {data['clients']}   uids: {data['uids']}   groups: {data['groups']}   "
        f"processes: {len(data['processes'])}" + (f"   services: {len(services)}" if services else ""),
        "",
    ]
    if services:
        lines += _table(
            ["SERVICE", "HOST", "LISTEN", "SUPERVISOR", "WORKERS", "CLIENTS", "DELIVERED", "DROPPED"],
            [
                [
                    s["service"],
                    s["host"],
                    s["listen"],
                    str(s["supervisor"]),
                    str(s["workers"]),
                    str(s["clients"]),
                    str(s["delivered"]),
                    str(s["dropped"]),
                ]
                for s in services
            ],
        )
        lines.append("")
    worker = ["WORKER"] if services else []
    lines += _table(
        ["NODE", *worker, "HOST", "PID", "CLIENTS", "UPTIME", "DELIVERED", "DROPPED", "HEARTBEAT"],
        [
            [
                p["node"],
                *([_worker_label(p)] if services else []),
                p["host"],
                str(p["pid"]),
                str(p["clients"]),
                _duration(p["uptime"]),
                str(p["delivered"]),
                _dropped(p),
                f"{p['heartbeat_age']:.1f}s ago",
            ]
            for p in data["processes"]
        ],
    )
    if data["top_groups"]:
        lines += [
            "",
            *_table(["GROUP", "CLIENTS"], [[g["group"], str(g["clients"])] for g in data["top_groups"]]),
        ]
    if "group" in data:
        members = data["group"]["members"]
        lines += ["", f"group {data['group']['name']!r}: {len(members)} member(s)"]
        lines += _table(
            ["CLIENT ID", "UID", "SESSION"],
            [[m["client_id"], m["uid"] or "-", str(m["session"])] for m in members],
        )
    return "\n".join(lines) + "\n"
