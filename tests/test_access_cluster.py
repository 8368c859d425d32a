"""Access ends on every server process: real daphne servers on a real Redis, a producer in a process of
its own. A revocation closes the uid's connections on every process with 4008 and every process refuses
the tokens issued before it, a server started later included; the per-uid cap holds for connects that
race on two processes."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from pushapp.tokens import issue_token
from tests.conftest import ClusterFactory
from tests.support.processes import SERVERS
from tests.support.wsclients import ORIGIN, PushSocket, closed_with


def auth(token: str) -> str:
    return json.dumps({"type": "auth", "token": token})


@pytest.mark.parametrize("server", SERVERS)
def test_a_revocation_closes_every_process_and_each_refuses_earlier_tokens(
    cluster: ClusterFactory, server: str, sockets: list[PushSocket]
) -> None:
    """On daphne, and on pushserve's workers with pushapp's own server."""
    c = cluster("pubsub", server=server)
    s0, s1 = (server.ws_url() for server in c.servers)
    earlier = issue_token("v")
    tab, phone, bystander = PushSocket(s0, uid="v"), PushSocket(s1, uid="v"), PushSocket(s1, uid="w")
    sockets += [tab, phone, bystander]
    c.producer.call("revoke_uid", "v")
    assert tab.recv_until_closed()[1] == 4008
    assert phone.recv_until_closed()[1] == 4008
    assert closed_with(s0, auth(earlier)) == 4008
    assert closed_with(s1, auth(earlier)) == 4008
    later = c.add_server()  # read the revocations when it started
    assert closed_with(later.ws_url(), auth(earlier)) == 4008
    again = PushSocket(later.ws_url(), token=issue_token("v"))  # minted after: access given back
    sockets.append(again)
    c.producer.call("send_to_uid", "w", "untouched")
    assert bystander.recv() == "untouched"
    c.producer.call("send_to_uid", "v", "welcome back")
    assert again.recv() == "welcome back"


def test_the_per_uid_cap_holds_for_concurrent_connects_on_two_processes(
    cluster: ClusterFactory, layer: str
) -> None:
    """Cap 3, 50 connects at once split over two servers: exactly 3 welcomed (49 were, when presence was
    read before the connections wrote it)."""
    c = cluster(layer, env={"PUSHAPP_TEST_SETTINGS": json.dumps({"MAX_CONNECTIONS_PER_UID": 3})})
    urls = [server.ws_url() for server in c.servers]
    token = issue_token("capped")
    lock = threading.Lock()

    def attempt(n: int, opened: ExitStack) -> Any:
        connecting = connect(urls[n % 2], origin=ORIGIN, compression=None, open_timeout=10)  # type: ignore[arg-type]
        with lock:  # kept open until every attempt is answered: a closed one would free its place
            ws: ClientConnection = opened.enter_context(connecting)
        ws.send(auth(token))
        try:
            return json.loads(ws.recv(timeout=15))["type"]
        except ConnectionClosed:
            return ws.close_code

    with ExitStack() as opened, ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(lambda n: attempt(n, opened), range(50)))
    assert outcomes.count("welcome") == 3, outcomes
    assert sorted(set(outcomes) - {"welcome"}) == [4006], outcomes
