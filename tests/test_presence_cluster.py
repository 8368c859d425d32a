"""Presence across real processes: two daphne servers and a producer on a real Redis. A killed server
vanishes from every answer within the bound; a graceful stop removes it at once; after a Redis restart
that lost everything, the live servers register again. And pushstats reads the live cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import ClusterFactory
from tests.support.cluster import Cluster
from tests.support.processes import REPO_ROOT
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket

TTL = 2.0  # PRESENCE_TTL of these clusters: the bound a crash must be reflected within


def settings_env(**values: Any) -> dict[str, str]:
    return {"PUSHAPP_TEST_SETTINGS": json.dumps(values)}


def answers(c: Cluster) -> dict[str, Any]:
    """What the cluster says about who is online, through the producer process."""
    call = c.producer.call
    return {
        "count": call("get_all_client_count"),
        "clients": sorted(call("get_all_client_id_list")),
        "uids": sorted(call("get_all_uid_list")),
        "groups": call("get_all_group_client_id_count"),
        "u1": sorted(call("get_client_id_by_uid", "u1")),
    }


def populate(c: Cluster, sockets: list[PushSocket]) -> tuple[PushSocket, PushSocket, PushSocket]:
    s0, s1 = (s.ws_url() for s in c.servers)
    a = PushSocket(s0, uid="u1", groups=("g",))
    b = PushSocket(s1, uid="u1", groups=("g",))
    d = PushSocket(s1, uid="u2")
    sockets += [a, b, d]
    return a, b, d


def test_a_killed_server_vanishes_within_the_bound(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, env=settings_env(PRESENCE_TTL=TTL))
    a, b, d = populate(c, sockets)
    assert answers(c) == {
        "count": 3,
        "clients": sorted([a.client_id, b.client_id, d.client_id]),
        "uids": ["u1", "u2"],
        "groups": {"g": 2},
        "u1": sorted([a.client_id, b.client_id]),
    }
    c.servers[1].kill()  # SIGKILL: no goodbye
    expected = {"count": 1, "clients": [a.client_id], "uids": ["u1"], "groups": {"g": 1}, "u1": [a.client_id]}
    wait_until(lambda: answers(c) == expected, "answers without the killed server", timeout=3 * TTL)
    assert c.producer.call("is_online", b.client_id) is False
    assert c.producer.call("is_uid_online", "u2") is False
    assert c.producer.call("get_session", d.client_id) is None


def test_a_graceful_stop_removes_the_server_at_once(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, env=settings_env(PRESENCE_TTL=600))  # only a goodbye can explain a fast answer
    a, b, _ = populate(c, sockets)
    assert c.servers[1].terminate() == 0
    assert b.recv_until_closed()[1] == 1012  # "service restart": clients reconnect elsewhere
    assert answers(c) == {
        "count": 1,
        "clients": [a.client_id],
        "uids": ["u1"],
        "groups": {"g": 1},
        "u1": [a.client_id],
    }


def test_live_servers_register_again_after_redis_lost_everything(
    cluster: ClusterFactory, layer: str, private_redis: RedisServer, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, redis=private_redis, env=settings_env(PRESENCE_TTL=TTL))
    a, b, d = populate(c, sockets)
    before = answers(c)
    private_redis.restart()  # same port, empty
    wait_until(lambda: answers(c) == before, "answers after the Redis restart", timeout=5 * TTL)

    # and pushes reach everyone again: the servers re-joined their layer groups too
    def next_push(socket: PushSocket) -> object:
        try:
            while (frame := socket.recv(timeout=1)) == {"type": "missed"}:
                pass  # each server tells its clients pushes may have been lost meanwhile (docs/recovery.md)
        except TimeoutError:
            return None  # sent while its server was still resubscribing: the next round tells
        return frame

    def delivered() -> bool:
        c.producer.call("send_to_uid", ["u1", "u2"], "back")
        return all(next_push(s) == "back" for s in (a, b, d))

    wait_until(delivered, "pushes after the Redis restart", timeout=5 * TTL, interval=0)


def test_pushstats_reads_the_live_cluster(cluster: ClusterFactory, sockets: list[PushSocket]) -> None:
    c = cluster("pubsub")
    a, b, _ = populate(c, sockets)
    result = subprocess.run(
        [sys.executable, "manage.py", "pushstats", "--json", "--group", "g"],
        cwd=REPO_ROOT,
        env=c.config.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("version", "clients", "uids", "groups", "top_groups")} == {
        "version": 1,
        "clients": 3,
        "uids": 2,
        "groups": 1,
        "top_groups": [{"group": "g", "clients": 2}],
    }
    processes = sorted(data["processes"], key=lambda p: p["pid"])
    assert [p["pid"] for p in processes] == sorted(s.pid for s in c.servers)
    assert sorted(p["clients"] for p in processes) == [1, 2]
    assert set(processes[0]) == {
        "node",
        "host",
        "pid",
        "clients",
        "uptime",
        "delivered",
        "dropped",
        "dropped_bytes",
        "heartbeat_age",
    }
    assert sorted(m["client_id"] for m in data["group"]["members"]) == sorted([a.client_id, b.client_id])
    assert {m["uid"] for m in data["group"]["members"]} == {"u1"}
