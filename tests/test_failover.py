"""A Redis failover survived: two daphne servers and a producer find their Redis through three Sentinels;
the master is SIGKILLed during traffic and the Sentinels promote the replica.

Every send made meanwhile either raises ``RedisUnavailable`` in the producer or reaches its client (live,
or the client is told ``missed``): none vanishes silently. Once the replica is promoted, pushes flow again
and presence counts are exact. The test prints how long each phase took (docs/scaling.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import ClusterFactory
from tests.support.processes import ProducerError
from tests.support.redis_server import ExternalRedis
from tests.support.sentinel import SentinelGroup
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket

pytestmark = pytest.mark.integration

HISTORY = {"HISTORY": {"uid": {"size": 1000, "ttl": 600}}, "CONTROL_TIMEOUT": 2}
UIDS = ("u0", "u1")


class Seen:
    """What one client received: the pushes' numbers, and whether it was told it missed some."""

    def __init__(self, socket: PushSocket) -> None:
        self.socket = socket
        self.numbers: set[int] = set()
        self.missed = False

    def read(self, timeout: float) -> None:
        """Everything that arrives within ``timeout`` (a deadline on a condition: nothing more came)."""
        while True:
            try:
                frame = self.socket.recv_frame(timeout=timeout)
            except (TimeoutError, ConnectionClosed):
                return
            if frame.get("type") == "missed":
                self.missed = True
            elif frame.get("type") == "push":
                self.numbers.add(frame["data"]["n"])


def send(producer: Any, n: int) -> str:
    """Push ``n`` to every uid and wait until it is written; what the producer says about it."""
    try:
        for uid in UIDS:
            producer.call("send_to_uid", uid, {"n": n})
        producer.call("flush")
    except ProducerError as err:
        return f"{err.type}: {err}" if err.type != "RedisUnavailable" else err.type
    return "ok"


def test_a_master_killed_during_traffic_loses_no_send_silently(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    with SentinelGroup() as group:
        env = {"PUSHAPP_TEST_SENTINEL": json.dumps(group.host), "PUSHAPP_TEST_SETTINGS": json.dumps(HISTORY)}
        c = cluster("pubsub", redis=ExternalRedis(group.master.url), env=env)
        for uid, server in zip(UIDS, c.servers, strict=True):
            sockets.append(PushSocket(server.ws_url(), uid=uid))
        seen = [Seen(socket) for socket in sockets]
        outcomes = {0: send(c.producer, 0)}
        assert outcomes[0] == "ok"
        for each in seen:
            wait_until(lambda each=each: each.read(0.2) or 0 in each.numbers, "the first push")

        group.kill_master()
        killed = time.monotonic()
        n, promoted, back = 0, None, None
        while back is None:
            n += 1
            outcomes[n] = send(c.producer, n)
            if promoted is None and group.master_port() == group.replica.port:
                promoted = time.monotonic()
            for each in seen:
                each.read(0.05)
            if promoted is not None and outcomes[n] == "ok" and all(n in each.numbers for each in seen):
                back = time.monotonic()
            assert time.monotonic() - killed < 60, f"no push got through within 60 s: {outcomes}"

        assert set(outcomes.values()) <= {"ok", "RedisUnavailable"}, outcomes
        for each in seen:
            each.read(0.5)
            delivered = {k for k, v in outcomes.items() if v == "ok"}
            assert delivered <= each.numbers or each.missed, (delivered - each.numbers, outcomes)

        wait_until(
            lambda: (c.producer.call("get_all_client_count"), c.producer.call("get_all_uid_count")) == (2, 2),
            "presence to converge on the new master",
        )
        assert promoted is not None
        failed = sum(1 for v in outcomes.values() if v != "ok")
        print(
            f"\nfailover: promoted {promoted - killed:.2f} s after the kill; pushes flow again "
            f"{back - promoted:.2f} s after the promotion; {failed} of {len(outcomes)} sends refused"
        )
