"""pushstats with pushserve workers: one service, each worker labelled (the exact text, and the JSON)."""

from __future__ import annotations

from typing import Any
from unittest import mock

from pushapp.observe.stats import render, snapshot
from pushapp.presence.base import NodeInfo


def _node(node: str, pid: int, worker: int, clients: int) -> NodeInfo:
    info = {
        "host": "web1",
        "pid": str(pid),
        "started": "1000.0",
        "clients": str(clients),
        "delivered": str(10 * clients),
        "dropped": "0",
        "service": "3fa9c2d1",
        "bind": "127.0.0.1:8000",
        "supervisor": "4242",
        "worker": str(worker),
        "generation": "2",
    }
    return NodeInfo(node, 0.5, info)


class Backend:
    def nodes(self) -> list[NodeInfo]:
        return [
            _node("aaaaaaaaaaaaaaaa", 4243, 0, 2),
            _node("bbbbbbbbbbbbbbbb", 4244, 1, 1),
            NodeInfo(
                "cccccccccccccccc", 0.0, {"host": "web2", "pid": "7", "started": "1000.0", "clients": "0"}
            ),
        ]


def test_the_workers_of_a_pushserve_are_one_service() -> None:
    with (
        mock.patch("pushapp.observe.stats.get_backend", return_value=Backend()),
        mock.patch("pushapp.observe.stats.queries.get_all_client_count", return_value=3),
        mock.patch("pushapp.observe.stats.queries.get_all_uid_count", return_value=2),
        mock.patch("pushapp.observe.stats.queries.get_all_group_client_id_count", return_value={}),
    ):
        data: dict[str, Any] = snapshot(now=1061.0)
    assert data["services"] == [
        {
            "service": "3fa9c2d1",
            "host": "web1",
            "listen": "127.0.0.1:8000",
            "supervisor": 4242,
            "workers": 2,
            "generations": [2],
            "clients": 3,
            "delivered": 30,
            "dropped": 0,
        }
    ]
    assert [(p.get("service"), p.get("worker"), p.get("generation")) for p in data["processes"]] == [
        ("3fa9c2d1", 0, 2),
        ("3fa9c2d1", 1, 2),
        (None, None, None),
    ]
    assert render(data) == (
        "clients: 3   uids: 2   groups: 0   processes: 3   services: 1\n"
        "\n"
        "SERVICE   HOST  LISTEN          SUPERVISOR  WORKERS  CLIENTS  DELIVERED  DROPPED\n"
        "3fa9c2d1  web1  127.0.0.1:8000  4242        2        3        30         0\n"
        "\n"
        "NODE              WORKER            HOST  PID   CLIENTS  UPTIME   DELIVERED  DROPPED  HEARTBEAT\n"
        "aaaaaaaaaaaaaaaa  3fa9c2d1/0 gen 2  web1  4243  2        0:01:01  20         0        0.5s ago\n"
        "bbbbbbbbbbbbbbbb  3fa9c2d1/1 gen 2  web1  4244  1        0:01:01  10         0        0.5s ago\n"
        "cccccccccccccccc  -                 web2  7     0        0:01:01  0          0        0.0s ago\n"
    )
