"""Regression tests of the hardening issue, each against real daphne processes on real Redis: what a
hostile client or a bad day does must end in a documented outcome, while the server serves everyone else."""

from __future__ import annotations

import json
import socket
from typing import Any

from websockets.exceptions import ConnectionClosed

from pushapp.sender import plans
from pushapp.tokens import issue_token
from tests.conftest import ClusterFactory
from tests.support.rawws import Handshake, RawSocket
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket, closed_with


def settings(**values: Any) -> dict[str, str]:
    return {"PUSHAPP_TEST_SETTINGS": json.dumps(values)}


def canary_receives(c: Any, canary: PushSocket, text: str) -> None:
    c.producer.call("send_to_client", canary.client_id, text)
    assert canary.recv() == text


def test_a_token_offered_only_as_a_subprotocol_connects_and_leaves_no_ghost(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    c = cluster("pubsub", servers=1)
    url = c.servers[0].ws_url()
    token = issue_token("ghost").replace(":", "~")
    from websockets.sync.client import connect

    for _ in range(3):  # a process that answered one of these wrongly was broken for good
        with connect(url, origin="http://127.0.0.1", subprotocols=[f"pushapp.token.{token}"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol is None  # not "pushapp": the client did not offer it
            assert json.loads(ws.recv(timeout=10))["uid"] == "ghost"
            assert c.producer.call("is_uid_online", "ghost")
        wait_until(lambda: not c.producer.call("is_uid_online", "ghost"), "the ghost to leave presence")
    canary = PushSocket(url, uid="canary")
    sockets.append(canary)
    canary_receives(c, canary, "still serving")


def test_a_client_that_sends_but_never_reads_is_closed_4005(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    c = cluster("pubsub", servers=1, env=settings(MAX_BUFFERED_BYTES=65536, CLIENT_FRAMES_PER_SECOND=0))
    url = c.servers[0].ws_url()
    canary = PushSocket(url, uid="canary")
    sockets.append(canary)
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flooder = RawSocket(c.servers[0].port, sock=small)
    flooder.send_text(json.dumps({"type": "auth", "token": issue_token("flood")}))
    for _ in range(200_000):  # unknown frame types: each is answered with an error frame it never reads
        flooder.send_text('{"type":"x"}')
    # The server closes it once its replies back up (it is gone from presence); the canary is served.
    wait_until(lambda: c.producer.call("get_all_client_count") == 1, "the flooder to be closed", timeout=60)
    canary_receives(c, canary, "still serving")
    assert flooder.close_code() == 4005  # reading at last, it gets the backlog, then why it was closed
    flooder.close()


def test_a_client_that_floods_is_closed_4007_and_the_others_are_not(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    c = cluster("pubsub", servers=1, env=settings(CLIENT_FRAMES_PER_SECOND=5))
    url = c.servers[0].ws_url()
    canary = PushSocket(url, uid="canary")
    flooder = PushSocket(url, uid="flood")
    sockets += [canary, flooder]
    for _ in range(11):  # a burst of twice the rate is allowed: the eleventh is one too many
        flooder.send({"type": "ping"})
    messages, code = flooder.recv_until_closed()
    assert code == 4007
    assert all(m == {"type": "pong"} for m in messages)
    canary_receives(c, canary, "still serving")


def test_connection_caps_close_with_4006(cluster: ClusterFactory, sockets: list[PushSocket]) -> None:
    c = cluster("pubsub", servers=1, env=settings(MAX_UNAUTHENTICATED_PER_IP=2, MAX_CONNECTIONS_PER_UID=2))
    url = c.servers[0].ws_url()
    port = c.servers[0].port
    waiting = [RawSocket(port) for _ in range(2)]  # accepted, never authenticated
    assert [w.status for w in waiting] == [101, 101]
    third = RawSocket(port)
    assert third.close_code() == 4006
    for w in (*waiting, third):
        w.close()

    def admitted() -> bool:
        try:  # refused meanwhile (4006, or a reset: refused before it read the auth frame) means not yet
            return closed_with(url, json.dumps({"type": "auth", "token": "x"})) == 4001
        except (OSError, ConnectionClosed):
            return False

    wait_until(admitted, "room again once those are gone")
    sockets += [PushSocket(url, uid="u"), PushSocket(url, uid="u")]
    # a third connection of the uid is closed instead of welcomed
    assert closed_with(url, json.dumps({"type": "auth", "token": issue_token("u")})) == 4006


def test_a_wrong_path_gets_http_404(cluster: ClusterFactory) -> None:
    c = cluster("pubsub", servers=1)
    wrong = RawSocket(c.servers[0].port, Handshake(path="/ws/nowhere/"))
    wrong.close()
    assert wrong.status == 404


def test_a_connection_while_redis_is_down_is_closed_1013_and_leaves_nothing(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket], private_redis: RedisServer
) -> None:
    c = cluster(layer, servers=1, redis=private_redis)
    url = c.servers[0].ws_url()
    live = PushSocket(url, uid="live")
    sockets.append(live)
    port = private_redis.port
    private_redis.stop()
    for uid in ("live", "new"):  # a uid whose layer group is joined already, and one that is not
        assert closed_with(url, json.dumps({"type": "auth", "token": issue_token(uid)})) == 1013
    private_redis.start_on(port)
    wait_until(
        lambda: c.producer.call("get_all_client_id_list") == [live.client_id], "presence without ghosts"
    )
    c.producer.call("send_to_uid", "live", "after")
    while (frame := live.recv()) == {"type": "missed"}:
        pass  # told that pushes meanwhile may be lost
    assert frame == "after"


def test_a_control_call_to_a_server_that_is_gone_answers_at_once(cluster: ClusterFactory) -> None:
    c = cluster("pubsub", servers=1, env=settings(CONTROL_TIMEOUT=600))
    nowhere = "ab" * 8 + "0" * 32  # a node id no server has
    assert c.producer.call("join_group", nowhere, "g") is False  # not after ten minutes: the call returns
    assert c.producer.call("get_session", nowhere) is None


def test_a_send_to_many_uids_is_linear_in_the_names() -> None:
    for count in (10, 10_000):
        ops = plans.send_to_uid([str(n) for n in range(count)], "x")
        assert sum(len(op.message.get("to", ())) for op in ops) == count
