"""Presence events across real processes: two daphne servers on a real Redis. Each signal fires once in
the cluster, by one process; a SIGKILLed server's uids go offline, fired by the server that reaps it,
within the presence bound; members of an opted-in group get presence frames from either server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.conftest import ClusterFactory
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket

TTL = 2.0


@pytest.fixture
def log(redis_url: str, prefix: str) -> Iterator[tuple[str, redis.Redis]]:
    client = redis.Redis.from_url(redis_url)
    yield prefix + "presence-log", client
    client.close()


def entries(log: tuple[str, redis.Redis]) -> list[dict[str, Any]]:
    key, client = log
    return [json.loads(raw) for raw in client.lrange(key, 0, -1)]


def fired(log: tuple[str, redis.Redis]) -> Counter[tuple[str, str, str | None]]:
    return Counter((e["signal"], e["uid"], e["group"]) for e in entries(log))


def test_signals_fire_once_per_cluster_including_after_a_sigkill(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket], log: tuple[str, redis.Redis]
) -> None:
    env = {
        "PUSHAPP_TEST_SETTINGS": json.dumps({"PRESENCE_TTL": TTL, "PRESENCE_FRAMES": ["room"]}),
        "PUSHAPP_TEST_PRESENCE_LOG": log[0],
    }
    c = cluster(layer, producer=False, env=env)
    doomed, survivor = c.servers
    watcher = PushSocket(survivor.ws_url(), uid="w", groups=("room",))
    sockets.append(watcher)
    assert watcher.recv() == {"type": "presence", "group": "room", "event": "join", "uid": "w"}
    a = PushSocket(doomed.ws_url(), uid="u", groups=("room",))
    b = PushSocket(survivor.ws_url(), uid="u", groups=("room",))  # u again, on the other server
    v = PushSocket(doomed.ws_url(), uid="v")
    sockets += [a, b, v]
    before_the_kill = {
        ("uid_online", "w", None): 1,
        ("group_member_joined", "w", "room"): 1,
        ("uid_online", "u", None): 1,
        ("group_member_joined", "u", "room"): 1,
        ("uid_online", "v", None): 1,
    }
    wait_until(lambda: fired(log) == before_the_kill, "the first connections' events", timeout=10)

    doomed.kill()  # SIGKILL: its uids are reaped by the survivor's heartbeat
    wait_until(lambda: fired(log)[("uid_offline", "v", None)], "v offline after the kill", timeout=4 * TTL)
    b.close()  # u's last connection: now u leaves
    wait_until(lambda: fired(log)[("uid_offline", "u", None)], "u offline", timeout=10)
    last = PushSocket(survivor.ws_url(), uid="z")  # a barrier: the survivor fires in order
    sockets.append(last)
    wait_until(lambda: fired(log)[("uid_online", "z", None)], "z online", timeout=10)

    assert fired(log) == Counter(
        {
            **before_the_kill,
            ("uid_offline", "v", None): 1,
            ("group_member_left", "u", "room"): 1,
            ("uid_offline", "u", None): 1,
            ("uid_online", "z", None): 1,
        }
    ), c.output()
    by = {(e["signal"], e["uid"]): e["pid"] for e in entries(log)}
    assert by[("uid_online", "v")] == doomed.pid
    assert by[("uid_offline", "v")] == survivor.pid  # the reaper
    assert by[("uid_offline", "u")] == survivor.pid

    frames = [watcher.recv() for _ in range(2)]
    assert frames == [
        {"type": "presence", "group": "room", "event": "join", "uid": "u"},
        {"type": "presence", "group": "room", "event": "leave", "uid": "u"},
    ]
