"""Delivery across real processes (docs/delivery.md): daphne servers and separate producers on a real
Redis, both layers. Idempotent sends, versions, the latest value on arrival, receipts, and the
``push_unacknowledged`` fallback, exactly once, also when the server that held the user is SIGKILLed.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import pytest
import redis

from tests.conftest import ClusterFactory
from tests.support.cluster import Cluster
from tests.support.processes import Producer
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket

SETTINGS = {
    "HISTORY": {"uid": {"size": 50, "ttl": 600}, "group": {"size": 50, "ttl": 600, "only": "[!p]*"}},
    "AUTHORIZE_SUBSCRIBE": "tests.test_subscriptions.allow_all",
    "ACK_SWEEP_INTERVAL": 0.1,
    "API_KEYS": {"secret": "*"},
}


def start(cluster: ClusterFactory, layer: str, log: str | None = None) -> Cluster:
    env = {"PUSHAPP_TEST_SETTINGS": json.dumps(SETTINGS)}
    if log is not None:
        env["PUSHAPP_TEST_PRESENCE_LOG"] = log
    return cluster(layer, env=env)


def connect(sockets: list[PushSocket], url: str, **kwargs: Any) -> PushSocket:
    socket = PushSocket(url, **kwargs)
    sockets.append(socket)
    return socket


def pushes_until(socket: PushSocket, marker: Any) -> list[dict[str, Any]]:
    """Every push frame up to the one whose data is ``marker`` (sent last, by the same producer)."""
    found = []
    while (frame := socket.recv_frame())["data"] != marker:
        found.append(frame)
    return found


# -- 1. idempotent sends ------------------------------------------------------------------------------


def test_a_second_send_with_the_same_key_from_another_process_pushes_nothing(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = start(cluster, layer)
    s0, s1 = (s.ws_url() for s in c.servers)
    with Producer(c.config, c.extra_env) as other:
        sends_twice(c, other, sockets, s0, s1)


def sends_twice(c: Cluster, other: Producer, sockets: list[PushSocket], s0: str, s1: str) -> None:
    """The producers send the same three sends, with their keys, three times; "plain" keeps no history."""
    tab0 = connect(sockets, s0, uid="u1", groups=("room", "plain"))
    tab1 = connect(sockets, s1, uid="u1", groups=("room", "plain"))
    for producer in (c.producer, other, c.producer):
        assert producer.call("send_to_uid", "u1", "once", idempotency_key="order-1:shipped") is None
        producer.call("send_to_group", ["room", "plain"], "group once", idempotency_key="g-1")
        producer.call("send_to_all", "all once", idempotency_key="a-1")
        producer.call("flush")
    c.producer.call("send_to_uid", "u1", "end")
    for tab in (tab0, tab1):
        assert sorted(f["data"] for f in pushes_until(tab, "end")) == [
            "all once",
            "group once",
            "group once",
            "once",
        ]
    # another key is another send
    other.call("send_to_uid", "u1", "again", idempotency_key="order-1:delivered")
    assert tab0.recv_frame()["data"] == "again"


def api(url: str, commands: list[dict[str, Any]]) -> Any:
    request = urllib.request.Request(
        url + "/pushapp/api/",
        data=json.dumps({"commands": commands}).encode(),
        headers={"Authorization": "apikey secret", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_the_http_api_takes_the_key_too(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = start(cluster, layer)
    tab = connect(sockets, c.servers[1].ws_url(), uid="u9")
    send = {"method": "sendToUid", "params": {"uid": "u9", "data": "once", "idempotency_key": "php-1"}}
    versioned = {"method": "send_to_uid", "params": {"uid": "u9", "data": "v", "version": 1}}
    for server in (*c.servers, c.servers[0]):
        assert api(server.http_url, [send, versioned]) == {"results": [{"result": None}, {"result": None}]}
    c.producer.call("send_to_uid", "u9", "end")
    assert [(f["data"], f.get("version")) for f in pushes_until(tab, "end")] == [("once", None), ("v", 1)]
    tab.send({"type": "ack", "stream": "uid:u9", "offset": 2})
    ask = {"method": "get_acked_offset", "params": {"uid": "u9"}}
    wait_until(lambda: api(c.servers[0].http_url, [ask]) == {"results": [{"result": 2}]}, "the ack over HTTP")


# -- 2. versions ----------------------------------------------------------------------------------------


def test_versions_raced_from_two_producers_reach_clients_increasing(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = start(cluster, layer)
    tab = connect(sockets, c.servers[0].ws_url(), uid="bike")
    total = 40
    with Producer(c.config, c.extra_env) as other:
        race(c, other, tab, total)


def race(c: Cluster, other: Producer, tab: PushSocket, total: int) -> None:

    def send_all(producer: Producer) -> None:
        for version in range(1, total + 1):
            producer.call("send_to_uid", "bike", {"v": version}, version=version)
        producer.call("flush")

    racers = [threading.Thread(target=send_all, args=(p,)) for p in (c.producer, other)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    c.producer.call("send_to_uid", "bike", {"v": 0}, version=3)  # stale: dropped
    c.producer.call("send_to_uid", "bike", "end")
    frames = pushes_until(tab, "end")
    versions = [f["version"] for f in frames]
    assert versions == sorted(set(versions)), versions  # each stored push newer than the last
    assert versions[-1] == total
    assert all(f["data"] == {"v": f["version"]} for f in frames)
    assert [f["offset"] for f in frames] == list(range(1, len(frames) + 1))


# -- 3. the latest value on arrival --------------------------------------------------------------------


def test_a_fresh_connection_gets_the_last_push_of_the_streams_it_asks_for(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = start(cluster, layer)
    for n in range(1, 4):
        c.producer.call("send_to_uid", "u1", {"n": n}, version=n)
    c.producer.call("send_to_group", "room", "the room's last")
    c.producer.call("send_to_group", "news", "the news' last")
    c.producer.call("flush")
    fresh = connect(
        sockets, c.servers[1].ws_url(), uid="u1", groups=("room", "news"), latest=["uid", "group:room"]
    )
    first, second = fresh.recv_frame(), fresh.recv_frame()
    by_stream = {f["stream"]: f for f in (first, second)}
    assert by_stream["uid:u1"]["data"] == {"n": 3}
    assert (by_stream["uid:u1"]["offset"], by_stream["uid:u1"]["version"]) == (3, 3)
    assert by_stream["group:room"]["data"] == "the room's last"
    c.producer.call("send_to_uid", "u1", "live")
    assert fresh.recv_frame()["data"] == "live"  # nothing of group:news, which it did not ask for

    # a subscribe may ask for its group's last push too
    fresh.send({"type": "subscribe", "group": "later", "latest": True})
    assert fresh.recv_frame() == {"type": "subscribed", "group": "later"}
    c.producer.call("send_to_group", "later", "later's first")
    assert fresh.recv_frame()["data"] == "later's first"
    other = connect(sockets, c.servers[0].ws_url(), uid="u2")
    other.send({"type": "subscribe", "group": "later", "latest": True})
    assert other.recv_frame() == {"type": "subscribed", "group": "later"}
    frame = other.recv_frame()
    assert (frame["stream"], frame["offset"], frame["data"]) == ("group:later", 1, "later's first")


# -- 4. receipts ----------------------------------------------------------------------------------------


def test_an_ack_from_a_second_tab_counts_for_the_uid(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = start(cluster, layer)
    tab0 = connect(sockets, c.servers[0].ws_url(), uid="u1", groups=("room",))
    tab1 = connect(sockets, c.servers[1].ws_url(), uid="u1", groups=("room",))
    assert c.producer.call("get_acked_offset", "u1") is None
    for n in range(3):
        c.producer.call("send_to_uid", "u1", n)
    c.producer.call("send_to_group", "room", "r")
    frames = [tab1.recv_frame() for _ in range(4)]
    tab1.send({"type": "ack", "stream": "uid:u1", "offset": frames[1]["offset"]})
    wait_until(lambda: c.producer.call("get_acked_offset", "u1") == 2, "the second tab's ack counts")
    tab0.send({"type": "ack", "stream": "uid:u1", "offset": 1})  # lower: the highest stays
    tab0.send({"type": "ack", "stream": "group:room", "offset": 1})
    wait_until(lambda: c.producer.call("get_acked_offset", "u1", stream="group:room") == 1, "group ack")
    assert c.producer.call("get_acked_offset", "u1") == 2


@pytest.mark.parametrize(
    ("ack", "reason"),
    [
        ({"stream": "nowhere:1", "offset": 1}, "unknown_stream"),
        ({"stream": 7, "offset": 1}, "unknown_stream"),
        ({"stream": "uid:someone-else", "offset": 1}, "not_your_stream"),
        ({"stream": "uid:u1", "offset": "1"}, "bad_offset"),
        ({"stream": "uid:u1", "offset": 1.5}, "bad_offset"),
        ({"stream": "uid:u1", "offset": 0}, "bad_offset"),
        ({"stream": "uid:u1", "offset": 99}, "beyond_head"),
    ],
)
def test_a_bad_ack_gets_an_error_and_changes_nothing(
    cluster: ClusterFactory, sockets: list[PushSocket], ack: dict[str, Any], reason: str
) -> None:
    c = start(cluster, "pubsub")
    tab = connect(sockets, c.servers[0].ws_url(), uid="u1")
    c.producer.call("send_to_uid", "u1", "x")
    assert tab.recv_frame()["offset"] == 1
    tab.send({"type": "ack", **ack})
    error = tab.recv_frame()
    assert (error["type"], error["code"], error["reason"]) == ("error", "bad_ack", reason)
    assert (error["stream"], error["offset"]) == (ack["stream"], ack["offset"])
    assert c.producer.call("get_acked_offset", "u1") is None
    c.producer.call("send_to_uid", "u1", "still served")
    assert tab.recv_frame()["data"] == "still served"


# -- 5. push_unacknowledged ----------------------------------------------------------------------------


def unacked(client: redis.Redis, log: str) -> list[dict[str, Any]]:
    entries = [json.loads(raw) for raw in client.lrange(log, 0, -1)]
    return [e for e in entries if e["signal"] == "push_unacknowledged"]


def test_an_unacknowledged_push_fires_once_in_the_cluster_and_an_acked_one_never(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket], redis_url: str, prefix: str
) -> None:
    log = prefix + "log"
    client = redis.Redis.from_url(redis_url)
    c = start(cluster, layer, log)
    reader = connect(sockets, c.servers[0].ws_url(), uid="reader")
    connect(sockets, c.servers[1].ws_url(), uid="bystander")  # both servers' hubs run and sweep
    c.producer.call("send_to_uid", "nobody", {"mail": "a"}, ack_within=0.5)
    c.producer.call("send_to_uid", "reader", {"read": True}, ack_within=5)
    frame = reader.recv_frame()
    reader.send({"type": "ack", "stream": "uid:reader", "offset": frame["offset"]})
    wait_until(lambda: c.producer.call("get_acked_offset", "reader") == 1, "the ack is recorded")
    c.producer.call("send_to_uid", "sentinel", "after the acked one", ack_within=5)  # due after it
    wait_until(lambda: any(e["uid"] == "sentinel" for e in unacked(client, log)), "the sentinel fired")
    fired = unacked(client, log)
    assert sorted(e["uid"] for e in fired) == ["nobody", "sentinel"], fired  # each once; "reader" never
    nobody = next(e for e in fired if e["uid"] == "nobody")
    assert (nobody["stream"], nobody["offset"], nobody["data"]) == ("uid:nobody", 1, {"mail": "a"})


def test_it_fires_once_when_the_server_that_held_the_user_is_killed(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket], redis_url: str, prefix: str
) -> None:
    log = prefix + "log"
    client = redis.Redis.from_url(redis_url)
    c = start(cluster, layer, log)
    doomed, survivor = c.servers
    rider = connect(sockets, doomed.ws_url(), uid="rider")
    connect(sockets, survivor.ws_url(), uid="bystander")
    c.producer.call("send_to_uid", "rider", "locked", ack_within=1)
    assert rider.recv_frame()["data"] == "locked"  # delivered, never acked
    doomed.kill()
    entries = wait_until(lambda: unacked(client, log), "push_unacknowledged fired")
    c.producer.call("send_to_uid", "sentinel", "later", ack_within=1)
    wait_until(lambda: any(e["uid"] == "sentinel" for e in unacked(client, log)), "the sentinel fired")
    fired = [e for e in unacked(client, log) if e["uid"] == "rider"]
    assert len(fired) == 1, fired
    assert fired[0]["pid"] == survivor.pid == entries[0]["pid"]
    assert (fired[0]["stream"], fired[0]["offset"], fired[0]["data"]) == ("uid:rider", 1, "locked")


def test_a_pushserve_worker_fires_it_without_having_served_anyone(
    cluster: ClusterFactory, sockets: list[PushSocket], redis_url: str, prefix: str
) -> None:
    """A pushserve worker's hub runs from its start: the survivor sweeps with no connection of its own."""
    log = prefix + "log"
    client = redis.Redis.from_url(redis_url)
    env = {"PUSHAPP_TEST_SETTINGS": json.dumps(SETTINGS), "PUSHAPP_TEST_PRESENCE_LOG": log}
    c = cluster("pubsub", env=env, server="native")
    doomed, survivor = c.servers
    rider = connect(sockets, doomed.ws_url(), uid="rider")
    c.producer.call("send_to_uid", "rider", {"locked": 1}, ack_within=1)
    assert rider.recv_frame()["data"] == {"locked": 1}
    doomed.kill()
    (fired,) = wait_until(lambda: unacked(client, log), "push_unacknowledged fired")
    assert (fired["uid"], fired["offset"], fired["pid"]) == ("rider", 1, survivor.pid)
