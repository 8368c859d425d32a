"""Recovery across real processes: two daphne servers and a producer on a real Redis, both layers.

A client drops, pushes are sent meanwhile from another process, and it reconnects to the other server:
it gets each missed push once and in order, then the live ones; or an explicit ``false``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import redis

from tests.conftest import ClusterFactory
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket

HISTORY = {"HISTORY": {"uid": {"size": 20, "ttl": 600}, "group": {"size": 20, "ttl": 600}}}


def env(settings: dict[str, Any] = HISTORY) -> dict[str, str]:
    return {"PUSHAPP_TEST_SETTINGS": json.dumps(settings)}


def connect(sockets: list[PushSocket], url: str, **kwargs: Any) -> PushSocket:
    socket = PushSocket(url, **kwargs)
    sockets.append(socket)
    return socket


def until_recovered(socket: PushSocket) -> tuple[list[dict[str, Any]], dict[str, bool]]:
    pushes = []
    while (frame := socket.recv_frame())["type"] != "recovered":
        pushes.append(frame)
    return pushes, frame["streams"]


def test_missed_pushes_from_another_process_come_back_on_the_other_node(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, env=env())
    s0, s1 = (s.ws_url() for s in c.servers)
    first = connect(sockets, s0, uid="u1", groups=("room",))
    positions = first.welcome["streams"]
    assert set(positions) == {"uid:u1", "group:room"}
    c.producer.call("send_to_uid", "u1", {"n": 1})
    seen = first.recv_frame()
    assert (seen["stream"], seen["offset"], seen["data"]) == ("uid:u1", 1, {"n": 1})
    first.close()
    for n in range(2, 7):
        c.producer.call("send_to_uid", "u1", {"n": n})
    c.producer.call("send_to_group", "room", "in the room")
    c.producer.call("flush")

    recover = {"uid:u1": {"offset": 1, "epoch": seen["epoch"]}, "group:room": positions["group:room"]}
    again = connect(sockets, s1, uid="u1", groups=("room",), recover=recover)
    assert again.client_id[:16] != first.client_id[:16]  # the other server process
    pushes, results = until_recovered(again)
    assert results == {"uid:u1": True, "group:room": True}
    assert [(p["stream"], p["offset"]) for p in pushes if p["stream"] == "uid:u1"] == [
        ("uid:u1", n) for n in range(2, 7)
    ]
    assert [p["data"] for p in pushes if p["stream"] == "group:room"] == ["in the room"]
    c.producer.call("send_to_uid", "u1", {"n": 7})
    assert again.recv_frame()["offset"] == 7


def test_live_pushes_during_the_replay_are_neither_lost_nor_doubled(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, env=env({"HISTORY": {"uid": {"size": 500, "ttl": 600}}}))
    s0, s1 = (s.ws_url() for s in c.servers)
    first = connect(sockets, s0, uid="u1")
    epoch = first.welcome["streams"]["uid:u1"]["epoch"]
    first.close()
    total = 150
    for n in range(1, 51):
        c.producer.call("send_to_uid", "u1", n)
    live = threading.Thread(
        target=lambda: [c.producer.call("send_to_uid", "u1", n) for n in range(51, total + 1)]
    )
    live.start()
    try:
        again = connect(sockets, s1, uid="u1", recover={"uid:u1": {"offset": 0, "epoch": epoch}})
        offsets = []
        while len(offsets) < total:
            frame = again.recv_frame()
            if frame["type"] == "push":
                assert frame["data"] == frame["offset"]
                offsets.append(frame["offset"])
            else:
                assert frame == {"type": "recovered", "streams": {"uid:u1": True}}
    finally:
        live.join()
    assert offsets == list(range(1, total + 1)), (str(offsets), c.output()[-3000:])  # once each, in order


def test_more_missed_than_kept_says_false_then_goes_on_live(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, env=env({"HISTORY": {"uid": {"size": 3, "ttl": 600}}}))
    s0, s1 = (s.ws_url() for s in c.servers)
    first = connect(sockets, s0, uid="u1")
    epoch = first.welcome["streams"]["uid:u1"]["epoch"]
    first.close()
    for n in range(5):
        c.producer.call("send_to_uid", "u1", n)
    again = connect(sockets, s1, uid="u1", recover={"uid:u1": {"offset": 0, "epoch": epoch}})
    assert again.welcome["streams"]["uid:u1"] == {"offset": 5, "epoch": epoch}
    assert until_recovered(again) == ([], {"uid:u1": False})
    c.producer.call("send_to_uid", "u1", "live")
    assert again.recv_frame()["offset"] == 6


def test_redis_flushed_means_a_new_epoch_and_false(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket], private_redis: RedisServer
) -> None:
    c = cluster(layer, redis=private_redis, env=env())
    s0 = c.servers[0].ws_url()
    first = connect(sockets, s0, uid="u1")
    c.producer.call("send_to_uid", "u1", "before")
    old = first.recv_frame()
    first.close()
    redis.Redis.from_url(private_redis.url).flushall()
    again = connect(
        sockets, s0, uid="u1", recover={"uid:u1": {"offset": old["offset"], "epoch": old["epoch"]}}
    )
    assert again.welcome["streams"]["uid:u1"]["epoch"] != old["epoch"]
    assert until_recovered(again) == ([], {"uid:u1": False})


def test_a_hub_that_lost_its_groups_heals_from_the_history(
    cluster: ClusterFactory, sockets: list[PushSocket], redis_url: str, prefix: str
) -> None:
    """Redis forgets every group membership of the core layer (the history stays): pushes sent then reach
    no server. The hub's probe notices, it rejoins, and delivers what it missed from the history."""
    c = cluster("core", servers=1, env=env())
    client = connect(sockets, c.servers[0].ws_url(), uid="u1")
    c.producer.call("send_to_uid", "u1", "before")
    assert client.recv_frame()["offset"] == 1
    r = redis.Redis.from_url(redis_url)
    groups = list(r.scan_iter(f"{prefix}*group*"))
    assert groups
    r.delete(*groups)
    for n in (2, 3, 4):
        c.producer.call("send_to_uid", "u1", n)
    frames = [client.recv_frame(timeout=15) for _ in range(4)]
    pushes = [f for f in frames if f["type"] == "push"]
    assert [(p["offset"], p["data"]) for p in pushes] == [(2, 2), (3, 3), (4, 4)]  # in order, once each
    assert {"type": "missed"} in frames  # and pushes without history may be gone: refetch
    c.producer.call("send_to_uid", "u1", 5)
    assert client.recv_frame()["offset"] == 5


def test_after_redis_restarts_empty_clients_are_told_and_pushes_flow_again(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket], private_redis: RedisServer
) -> None:
    c = cluster(layer, servers=1, redis=private_redis, env=env())
    client = connect(sockets, c.servers[0].ws_url(), uid="u1")
    c.producer.call("send_to_uid", "u1", "before")
    old = client.recv_frame()
    private_redis.restart()
    notices = []
    while len(notices) < 2:
        frame = client.recv_frame(timeout=20)
        assert frame["type"] == "missed", frame
        notices.append(frame)
    assert sorted(n.get("stream", "") for n in notices) == ["", "uid:u1"]  # its history is gone too
    wait_until(lambda: c.producer.call("is_uid_online", "u1"), "presence to be written again")
    c.producer.call("send_to_uid", "u1", "after")
    after = client.recv_frame()
    assert (after["data"], after["offset"]) == ("after", 1) and after["epoch"] != old["epoch"]
