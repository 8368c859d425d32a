"""Every gateway promise across real processes: two daphne servers and a producer process, talking
through a real Redis, on both channels-redis layers."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request

import pytest

from tests.conftest import ClusterFactory
from tests.support.cluster import Cluster
from tests.support.processes import ProducerError
from tests.support.wsclients import PushSocket, closed_with


def redis_connections(pid: int, port: int) -> int:
    """TCP connections of process ``pid`` to ``port`` on this machine (Linux: /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    count += 1
    return count


def open_socket(sockets: list[PushSocket], url: str, **kwargs: object) -> PushSocket:
    socket = PushSocket(url, **kwargs)  # type: ignore[arg-type]
    sockets.append(socket)
    return socket


def marker(c: Cluster, *sockets: PushSocket) -> None:
    """A send made after the action under test; what arrives before it arrived because of the action."""
    for socket in sockets:
        c.producer.call("send_to_client", socket.client_id, "marker")
        assert socket.recv() == "marker"


def test_sends_reach_the_right_connections_across_processes(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer)
    s0, s1 = (s.ws_url() for s in c.servers)
    a1 = open_socket(sockets, s0, uid="u1", groups=("g1",))
    a2 = open_socket(sockets, s1, uid="u1")
    b = open_socket(sockets, s1, uid="u2", groups=("g1", "g2"))
    assert a1.client_id[:16] != a2.client_id[:16]  # two hubs

    c.producer.call("send_to_uid", "u1", {"to": "u1"})
    assert (a1.recv(), a2.recv()) == ({"to": "u1"}, {"to": "u1"})
    marker(c, b)

    c.producer.call("send_to_group", ["g1", "g2"], "groups")
    assert (a1.recv(), b.recv()) == ("groups", "groups")  # b is in both groups: one copy
    marker(c, a1, a2, b)

    c.producer.call("send_to_all", "all but a1", exclude=[a1.client_id])
    assert (a2.recv(), b.recv()) == ("all but a1", "all but a1")
    marker(c, a1)

    c.producer.call("send_to_all", "listed", client_ids=[a1.client_id, b.client_id])
    assert (a1.recv(), b.recv()) == ("listed", "listed")
    marker(c, a2)

    c.producer.call("send_to_client", b.client_id, b"\x00\x01")
    assert b.recv() == b"\x00\x01"
    c.producer.call("send_to_uid", ["u1", "u2"], {"n": 1})
    assert [s.recv() for s in (a1, a2, b)] == [{"n": 1}] * 3


def test_membership_bindings_and_sessions_from_another_process(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer)
    s0, s1 = (s.ws_url() for s in c.servers)
    a = open_socket(sockets, s0, uid="alice")
    b = open_socket(sockets, s1)
    call = c.producer.call

    assert call("join_group", a.client_id, "room") is True
    assert call("join_group", b.client_id, "room") is True
    call("send_to_group", "room", "joined")  # right after the join: the join is in effect
    assert (a.recv(), b.recv()) == ("joined", "joined")
    assert call("leave_group", a.client_id, "room") is True
    call("send_to_group", "room", "left")
    assert b.recv() == "left"
    marker(c, a)
    call("ungroup", "room")
    call("send_to_group", "room", "nobody")
    marker(c, b)

    assert call("bind_uid", b.client_id, "bob") is True
    call("send_to_uid", "bob", "bound")
    assert b.recv() == "bound"
    assert call("bind_uid", a.client_id, "bob") is True  # moves a from alice to bob
    call("send_to_uid", ["alice", "bob"], "moved")
    assert (a.recv(), b.recv()) == ("moved", "moved")
    assert call("unbind_uid", b.client_id) is True
    call("send_to_uid", "bob", "only a")
    assert a.recv() == "only a"
    marker(c, b)

    assert call("set_session", a.client_id, {"k": 1}) is True
    assert call("update_session", a.client_id, {"j": [1, 2]}) is True
    assert call("get_session", a.client_id) == {"k": 1, "j": [1, 2]}

    assert call("close_client", a.client_id, {"bye": 1}) is True
    assert a.recv_until_closed() == ([{"bye": 1}], 1000)
    assert call("destroy_client", b.client_id) is True
    assert b.recv_until_closed() == ([], 4004)
    assert call("get_session", a.client_id) is None
    assert call("join_group", b.client_id, "room") is False


def test_disconnect_drops_groups_uid_and_session(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, servers=1)
    a = open_socket(sockets, c.servers[0].ws_url(), uid="x", groups=("g",))
    witness = open_socket(sockets, c.servers[0].ws_url(), uid="w")
    c.producer.call("set_session", a.client_id, {"k": 1})
    a.close()
    # The disconnect is processed by the server; once it forgets the session, it forgot the rest too.
    assert c.producer.call("get_session", a.client_id) is None
    c.producer.call("send_to_uid", ["x", "w"], "after")
    assert witness.recv() == "after"


def test_bad_input_is_refused_and_disturbs_nobody(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, servers=1)
    url = c.servers[0].ws_url()
    witness = open_socket(sockets, url, uid="w")
    assert closed_with(url, json.dumps({"type": "auth", "token": "forged"})) == 4001
    assert closed_with(url, "not json") == 4001
    big = open_socket(sockets, url, uid="big")
    big.send({"type": "message", "data": "x" * 70_000})  # over MAX_FRAME_SIZE (64 KiB)
    assert big.recv_until_closed()[1] == 1009
    witness.send({"type": "dance"})
    assert witness.recv()["code"] == "unknown_type"
    with pytest.raises(ProducerError) as raised:
        c.producer.call("send_to_client", "not-a-client-id", "x")
    assert raised.value.type == "InvalidClientId"
    with pytest.raises(ProducerError) as raised:
        c.producer.call("join_group", witness.client_id, "")
    assert raised.value.type == "InvalidGroup"
    c.producer.call("send_to_uid", "w", "still served")
    assert witness.recv() == "still served"


def test_with_no_server_sends_reach_nobody_and_raise_nothing(cluster: ClusterFactory, layer: str) -> None:
    c = cluster(layer, servers=0, env={"PUSHAPP_TEST_SETTINGS": json.dumps({"CONTROL_TIMEOUT": 0.5})})
    offline = "ab" * 24
    for _ in range(150):  # more than a layer channel's default capacity of 100
        assert c.producer.call("send_to_client", offline, "x") is None
    assert c.producer.call("send_to_uid", "u", "x") is None
    assert c.producer.call("send_to_group", "g", "x") is None
    assert c.producer.call("send_to_all", "x") is None
    assert c.producer.call("join_group", offline, "g") is False
    assert c.producer.call("get_session", offline) is None


def test_sync_helpers_hold_a_constant_number_of_redis_connections(
    cluster: ClusterFactory, layer: str, redis_url: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer, servers=1)
    socket = open_socket(sockets, c.servers[0].ws_url(), uid="n")
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])

    def connections() -> int:
        return redis_connections(c.producer.pid, port)  # the producer's alone: the server's pools vary

    for _ in range(50):
        c.producer.call("send_to_uid", "n", "x")
        c.producer.call("get_session", socket.client_id)
    before = connections()
    assert before > 0
    for _ in range(300):
        c.producer.call("send_to_uid", "n", "x")
        c.producer.call("get_session", socket.client_id)
    assert connections() == before
    assert [socket.recv() for _ in range(350)] == ["x"] * 350


def test_a_django_view_on_one_server_pushes_to_a_client_on_another(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    c = cluster(layer)
    client = open_socket(sockets, c.servers[1].ws_url(), uid="reader")
    for path, sender in (("push", "sync view"), ("apush", "async view")):
        with urllib.request.urlopen(f"{c.servers[0].http_url}/{path}/reader/", timeout=10) as response:
            assert json.load(response) == {"online": True}
        assert client.recv() == {"from": sender}
