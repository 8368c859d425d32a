"""Chaos and fuzz against real daphne processes on a real Redis: nothing a client or a fault does may break a
server process, leave a ghost in presence or stop pushes to anyone else (issue 9).

The corpus is generated: wrong values (:data:`VALUES`) put into every field of the frames the protocol
defines, truncations of valid frames, invalid UTF-8, sizes across the limit, and single-field mutations
of a valid handshake. Each case asserts the outcome docs/protocol.md documents for it, while a canary
client on the same server receives, in order, what the producer keeps pushing to it; after the corpus the
server's log holds no traceback and presence counts the canary alone.

"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core import signing

from pushapp.tokens import CLOCK_SKEW, issue_token
from tests.conftest import ClusterFactory
from tests.support.cluster import Cluster
from tests.support.processes import REPO_ROOT, SERVERS, DaphneProcess, ProducerError
from tests.support.rawws import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    Closed,
    Dropped,
    Handshake,
    RawSocket,
    client_frame,
    close_code,
)
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.wsclients import PushSocket

MAX_FRAME_SIZE = 65536  # the default of PUSHAPP["MAX_FRAME_SIZE"], which these servers run with
DEEP = 1000  # levels of nesting: deeper than Python's parser goes, in 2 KB


def settings_env(**values: Any) -> dict[str, str]:
    """The servers' PUSHAPP; the corpus sends many frames on one connection, so no frame-rate limit
    (tests/test_hardening.py covers 4007)."""
    return {"PUSHAPP_TEST_SETTINGS": json.dumps({"CLIENT_FRAMES_PER_SECOND": 0, **values})}


# -- the corpus --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A JSON text put into a field: whether it parses (too deep does not) and is a valid uid/group name."""

    name: str
    text: str
    parses: bool = True
    is_object: bool = False
    valid_name: bool = False


VALUES = [
    Value("null", "null"),
    Value("true", "true"),
    Value("zero", "0"),
    Value("float", "1.5"),
    Value("huge-number", "1e400", parses=False),
    Value("nan", "NaN", parses=False),
    Value("infinity", "-Infinity", parses=False),
    Value("empty-string", '""'),
    Value("long-string", json.dumps("x" * 2000)),
    Value("lone-surrogate", '"\\ud800"', parses=False),  # not Unicode text
    Value("nul", '"\\u0000"', valid_name=True),
    Value("list", "[]"),
    Value("list-of-int", "[1]"),
    Value("object", "{}", is_object=True),
    Value("object-of-int", '{"a": 1}', is_object=True),
    Value("deep-list", "[" * DEEP + "]" * DEEP, parses=False),
    Value("deep-object", '{"a":' * DEEP + "1" + "}" * DEEP, parses=False, is_object=True),
]


def frame_text(**fields: str) -> str:
    """A JSON object whose fields are the given JSON texts, spliced in as they are."""
    return "{" + ", ".join(f"{json.dumps(key)}: {text}" for key, text in fields.items()) + "}"


def signed(payload: Any, at: float | None = None) -> str:
    """A token signed with the servers' key and salt around any payload, issued at time ``at``."""
    with mock.patch("django.core.signing.time.time", return_value=time.time() if at is None else at):
        return signing.dumps(payload, salt="pushapp.token", compress=True)


def tokens() -> dict[str, tuple[str, int | str]]:
    """Token variants and what authenticating with each ends in: "welcome" or a close code."""
    valid = issue_token("fuzz")
    return {
        "valid": (valid, "welcome"),
        "tampered": (valid[:-2] + ("AA" if not valid.endswith("AA") else "BB"), 4001),
        "garbage": ("garbage", 4001),
        "empty": ("", 4001),
        "expired": (signed({"u": "fuzz"}, at=time.time() - 7200), 4002),
        "future": (signed({"u": "fuzz"}, at=time.time() + CLOCK_SKEW + 600), 4001),
        "uid-list": (signed({"u": [1]}), 4001),
        "uid-bool": (signed({"u": True}), 4001),
        "groups-str": (signed({"g": "x"}), 4001),
        "groups-int": (signed({"g": [1]}), 4001),
        "payload-list": (signed([1]), 4001),
    }


@dataclass(frozen=True)
class FirstFrame:
    """A first frame (text, or bytes sent with ``opcode``) and the close code it ends in, or "welcome"."""

    id: str
    payload: str | bytes
    outcome: int | str
    opcode: int = TEXT


def first_frames() -> list[FirstFrame]:
    valid = issue_token("fuzz")
    token = json.dumps(valid)
    auth = frame_text(type='"auth"', token=token)
    cases = [FirstFrame("valid", auth, "welcome")]
    for v in VALUES:
        cases.append(FirstFrame(f"type={v.name}", frame_text(type=v.text, token=token), 4001))
        cases.append(FirstFrame(f"token={v.name}", frame_text(type='"auth"', token=v.text), 4001))
        # recover is optional and positions that are not well formed are left out: still a welcome
        outcome: int | str = "welcome" if v.parses else 4001
        cases.append(
            FirstFrame(f"recover={v.name}", frame_text(type='"auth"', token=token, recover=v.text), outcome)
        )
        entry = frame_text(**{"uid:fuzz": v.text})
        cases.append(
            FirstFrame(
                f"recover.entry={v.name}", frame_text(type='"auth"', token=token, recover=entry), outcome
            )
        )
        for key in ("offset", "epoch"):
            position = frame_text(**{"offset": "1", "epoch": '"e"', key: v.text})
            recover = frame_text(**{"uid:fuzz": position})
            cases.append(
                FirstFrame(
                    f"recover.{key}={v.name}",
                    frame_text(type='"auth"', token=token, recover=recover),
                    outcome,
                )
            )
        cases.append(FirstFrame(f"whole={v.name}", v.text, 4001))
        cases.append(FirstFrame(f"extra={v.name}", frame_text(type='"auth"', token=token, x=v.text), outcome))
    for name, (variant, result) in tokens().items():
        cases.append(
            FirstFrame(f"token:{name}", frame_text(type='"auth"', token=json.dumps(variant)), result)
        )
    cases.append(FirstFrame("no-type", frame_text(token=token), 4001))
    cases.append(FirstFrame("no-token", frame_text(type='"auth"'), 4001))
    cases.append(FirstFrame("type=AUTH", frame_text(type='"AUTH"', token=token), 4001))
    cases.append(FirstFrame("ping-first", frame_text(type='"ping"'), 4001))
    for cut in range(1, len(auth), max(1, len(auth) // 12)):
        cases.append(FirstFrame(f"truncated@{cut}", auth[:cut], 4001))
    raw = auth.encode()
    for at in (0, 1, len(raw) // 2, len(raw) - 1):
        cases.append(FirstFrame(f"invalid-utf8@{at}", raw[:at] + b"\xff" + raw[at:], 1007))
    cases.append(FirstFrame("binary", raw, 4001, BINARY))
    cases.append(FirstFrame("empty-binary", b"", 4001, BINARY))
    cases.append(FirstFrame("empty-text", "", 4001))
    padded = auth[:-1] + " " * (MAX_FRAME_SIZE - len(auth)) + "}"
    cases.append(FirstFrame("at-the-size-limit", padded, "welcome"))
    cases.append(FirstFrame("over-the-size-limit", padded + " ", 1009))
    cases.append(FirstFrame("over-the-size-limit-binary", b" " * (MAX_FRAME_SIZE + 1), 1009, BINARY))
    return cases


@dataclass(frozen=True)
class LaterFrame:
    """A frame after the welcome and what it is answered with: frames whose type (and error code) are
    listed, or a close code (then it gets a connection of its own)."""

    id: str
    payload: str | bytes
    answers: tuple[str, ...] | int
    opcode: int = TEXT


def later_frames() -> list[LaterFrame]:
    ping = frame_text(type='"ping"')
    cases = [LaterFrame("ping", ping, ("pong",))]
    for v in VALUES:
        whole = ("error:unknown_type",) if v.is_object and v.parses else ("error:bad_json",)
        cases.append(LaterFrame(f"whole={v.name}", v.text, whole))
        cases.append(
            LaterFrame(
                f"type={v.name}",
                frame_text(type=v.text),
                ("error:unknown_type",) if v.parses else ("error:bad_json",),
            )
        )
        cases.append(
            LaterFrame(
                f"ping.extra={v.name}",
                frame_text(type='"ping"', x=v.text),
                ("pong",) if v.parses else ("error:bad_json",),
            )
        )
        cases.append(
            LaterFrame(
                f"message.data={v.name}",
                frame_text(type='"message"', data=v.text),
                () if v.parses else ("error:bad_json",),
            )
        )
        for kind, allowed in (("subscribe", "error:subscribe_refused"), ("unsubscribe", "unsubscribed")):
            answer = (allowed if v.valid_name else "error:bad_group",) if v.parses else ("error:bad_json",)
            cases.append(
                LaterFrame(f"{kind}.group={v.name}", frame_text(type=json.dumps(kind), group=v.text), answer)
            )
    for kind in ("auth", "PING", "push", "welcome", "error", "pong", "Message", "subscribed", " ping"):
        cases.append(LaterFrame(f"type:{kind}", frame_text(type=json.dumps(kind)), ("error:unknown_type",)))
    cases.append(LaterFrame("no-type", frame_text(data="1"), ("error:unknown_type",)))
    cases.append(LaterFrame("message-no-data", frame_text(type='"message"'), ()))
    cases.append(LaterFrame("subscribe-no-group", frame_text(type='"subscribe"'), ("error:bad_group",)))
    cases.append(
        LaterFrame(
            "subscribe-valid", frame_text(type='"subscribe"', group='"room"'), ("error:subscribe_refused",)
        )
    )
    cases.append(
        LaterFrame("unsubscribe-valid", frame_text(type='"unsubscribe"', group='"room"'), ("unsubscribed",))
    )
    message = frame_text(type='"message"', data='{"n": [1, 2, "three"]}')
    for cut in range(1, len(message), max(1, len(message) // 12)):
        cases.append(LaterFrame(f"truncated@{cut}", message[:cut], ("error:bad_json",)))
    cases.append(LaterFrame("empty-text", "", ("error:bad_json",)))
    cases.append(LaterFrame("binary", b"\x00\x01", ("error:binary_not_supported",), BINARY))
    cases.append(LaterFrame("empty-binary", b"", ("error:binary_not_supported",), BINARY))
    padded = message[:-1] + " " * (MAX_FRAME_SIZE - len(message)) + "}"
    cases.append(LaterFrame("at-the-size-limit", padded, ()))
    cases.append(LaterFrame("over-the-size-limit", padded + " ", 1009))
    cases.append(LaterFrame("over-the-size-limit-binary", b" " * (MAX_FRAME_SIZE + 1), 1009, BINARY))
    raw = ping.encode()
    for at in (0, len(raw) // 2, len(raw)):
        cases.append(LaterFrame(f"invalid-utf8@{at}", raw[:at] + b"\xc3" + raw[at:], 1007))
    return cases


@dataclass(frozen=True)
class HandshakeCase:
    """A handshake and its answer: an HTTP status; for 101, what follows (with or without an auth frame)."""

    id: str
    handshake: Handshake
    status: int
    outcome: int | str | None = None  # after a 101: "welcome" or a close code
    auth_frame: bool = True  # send a valid auth frame after the 101
    subprotocol: str | None = None  # the subprotocol the 101 must name (None: none)


def handshakes() -> list[HandshakeCase]:
    """Single-field mutations of a valid handshake; the subprotocol with every token variant."""
    mutations: dict[str, list[tuple[str | None, int]]] = {
        "Origin": [
            (None, 403),
            ("http://evil.example", 403),
            ("null", 403),
            ("http://127.0.0.1.evil.example", 403),
            ("http://\xe9.example", 403),
            ("", 400),
            ("garbage", 400),
            ("http://localhost", 101),
            ("https://127.0.0.1:9", 101),
        ],
        "Sec-WebSocket-Key": [(None, 400), ("", 400), ("abc", 400)],
        "Sec-WebSocket-Version": [(None, 400), ("12", 400), ("x", 400)],
        "Connection": [("keep-alive", 400)],
        "Upgrade": [("not-websocket", 404)],  # not a WebSocket: plain HTTP, Django's
        "Host": [(None, 400)],
        "Sec-WebSocket-Protocol": [(",,,", 400), ("foo", 101), ("", 101), ("pushapp;x", 101)],
    }
    cases = [HandshakeCase("valid", Handshake(), 101, "welcome")]
    for header, values in mutations.items():
        for value, status in values:
            handshake = Handshake(headers={header: value})
            cases.append(
                HandshakeCase(f"{header}={value!r}", handshake, status, "welcome" if status == 101 else None)
            )
    cases.append(
        HandshakeCase("Upgrade=None", Handshake(headers={"Upgrade": None}), 404)
    )  # plain HTTP: Django
    for method in ("POST", "PUT"):
        cases.append(HandshakeCase(f"method={method}", Handshake(method=method), 405))
    cases.append(
        HandshakeCase(
            "subprotocol=pushapp",
            Handshake(headers={"Sec-WebSocket-Protocol": "pushapp"}),
            101,
            "welcome",
            subprotocol="pushapp",
        )
    )
    for name, (variant, outcome) in {**tokens(), "long": ("a" * 5000, 4001)}.items():
        value = "pushapp, pushapp.token." + variant.replace(":", "~")
        handshake = Handshake(headers={"Sec-WebSocket-Protocol": value})
        cases.append(
            HandshakeCase(
                f"subprotocol-token:{name}", handshake, 101, outcome, auth_frame=False, subprotocol="pushapp"
            )
        )
    return cases


# -- running it ----------------------------------------------------------------------------------------------


class Canary:
    """A client on the server under attack that must keep receiving, in order, what the producer pushes to it,
    for as long as the attack lasts."""

    PACE = 0.02  # seconds between pushes: a steady trickle, not a benchmark

    def __init__(self, c: Cluster, url: str, sockets: list[PushSocket]) -> None:
        self.cluster = c
        self.socket = PushSocket(url, uid="canary")
        sockets.append(self.socket)
        self.received = 0
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="canary", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.PACE):
                n = self.received + 1
                self.cluster.producer.call("send_to_uid", "canary", n)
                got = self.socket.recv(timeout=10)
                assert got == n, f"the canary got {got!r} where push {n} was due"
                self.received = n
        except BaseException as err:  # reported by stop(), in the test's thread
            self.failure = err

    def stop(self) -> int:
        """Stop pushing; fail if a push went missing; return how many arrived."""
        self._stop.set()
        self._thread.join(30)
        if self.failure is not None:
            raise AssertionError(f"the canary stopped receiving: {self.failure!r}") from self.failure
        assert self.received > 0, "the canary received nothing"
        return self.received


@pytest.fixture(params=SERVERS)
def server_kind(request: pytest.FixtureRequest) -> str:
    """Daphne on the push path, and pushapp's own server: each must answer every input as documented."""
    kind: str = request.param
    return kind


@pytest.fixture
def attacked(
    cluster: ClusterFactory, sockets: list[PushSocket], server_kind: str
) -> Iterator[tuple[Cluster, DaphneProcess]]:
    """One server with a canary on it; afterwards: the canary lost nothing, the log has no traceback, and
    presence is back to the canary alone."""
    c = cluster(servers=1, env=settings_env(), server=server_kind)
    server = c.servers[0]
    canary = Canary(c, server.ws_url(), sockets)
    yield c, server
    wait_until(lambda: c.producer.call("get_all_client_count") == 1, "presence back to the canary alone")
    canary.stop()
    log = server.output()
    assert "Traceback" not in log, log[-5000:]


def authenticated(port: int) -> RawSocket:
    ws = RawSocket(port)
    ws.send_json({"type": "auth", "token": issue_token("fuzz")})
    assert ws.recv_json()["type"] == "welcome"
    return ws


def frame_name(frame: dict[str, Any]) -> str:
    return f"error:{frame.get('code')}" if frame["type"] == "error" else str(frame["type"])


def test_first_frames_end_as_documented(attacked: tuple[Cluster, DaphneProcess]) -> None:
    _, server = attacked
    failures = []
    for case in first_frames():
        ws = RawSocket(server.port)
        try:
            ws.send_frame(
                case.opcode, case.payload.encode() if isinstance(case.payload, str) else case.payload
            )
            try:
                got: int | str | None = frame_name(ws.recv_json())
            except Closed as closed:
                got = closed.code
            except Dropped:
                got = None
        finally:
            ws.close()
        if got != case.outcome:
            failures.append(f"{case.id}: {got!r}, documented {case.outcome!r}")
    assert not failures, "\n".join(failures)  # 1011 is documented for none of them


def test_later_frames_are_answered_as_documented(attacked: tuple[Cluster, DaphneProcess]) -> None:
    _, server = attacked
    failures = []
    ws = authenticated(server.port)
    for case in later_frames():
        payload = case.payload.encode() if isinstance(case.payload, str) else case.payload
        if isinstance(case.answers, int):  # it ends the connection: one of its own
            own = authenticated(server.port)
            own.send_frame(case.opcode, payload)
            code = own.close_code()
            own.close()
            if code != case.answers:
                failures.append(f"{case.id}: closed with {code!r}, documented {case.answers}")
            continue
        ws.send_frame(case.opcode, payload)
        ws.send_json({"type": "ping"})  # its pong marks the end of the answers to the case
        answers = [frame_name(ws.recv_json()) for _ in range(len(case.answers) + 1)]
        if answers != [*case.answers, "pong"]:
            failures.append(f"{case.id}: answered {answers}, documented {[*case.answers, 'pong']}")
            ws.close()
            ws = authenticated(server.port)  # out of step: start afresh
    ws.close()
    assert not failures, "\n".join(failures)


def test_handshakes_are_answered_as_documented(attacked: tuple[Cluster, DaphneProcess]) -> None:
    _, server = attacked
    failures = []
    for case in handshakes():
        ws = RawSocket(server.port, case.handshake)
        try:
            got = (ws.status, ws.headers.get("sec-websocket-protocol"))
            if got != (case.status, case.subprotocol if case.status == 101 else None):
                failures.append(f"{case.id}: {got}, documented {(case.status, case.subprotocol)}")
                continue
            if case.status != 101:
                continue
            if case.auth_frame:
                ws.send_json({"type": "auth", "token": issue_token("fuzz")})
            try:
                outcome: int | str | None = frame_name(ws.recv_json())
            except Closed as closed:
                outcome = closed.code
            if outcome != case.outcome:
                failures.append(f"{case.id}: {outcome!r} after the 101, documented {case.outcome!r}")
        finally:
            ws.close()
    assert not failures, "\n".join(failures)


def test_a_token_subprotocol_alone_never_breaks_the_handshake(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    """Offered without ``pushapp``, the server must not name a subprotocol the client never offered (RFC
    6455 4.2.2): it refuses the handshake, or accepts it naming none; a welcome or 4001 follows."""
    c = cluster(servers=1, env=settings_env())
    server = c.servers[0]
    canary = Canary(c, server.ws_url(), sockets)
    failures = []
    for name, (variant, outcome) in {**tokens(), "nothing": ("", 4001)}.items():
        try:  # a short deadline: today's server may leave the socket hanging
            ws = RawSocket(
                server.port, Handshake(headers={"Sec-WebSocket-Protocol": "pushapp.token." + variant}), 3
            )
        except TimeoutError:
            failures.append(f"{name}: no answer")
            break  # the process is broken for good (issue 9 item 1): the rest would hang as well
        try:
            if ws.status is not None and 400 <= ws.status < 500:
                continue
            if (ws.status, ws.headers.get("sec-websocket-protocol")) != (101, None):
                failures.append(f"{name}: {ws.status} naming {ws.headers.get('sec-websocket-protocol')!r}")
                continue
            try:
                got: int | str = frame_name(ws.recv_json())
            except Closed as closed:
                got = closed.code or 0
            if got != outcome:
                failures.append(f"{name}: {got!r}, documented {outcome!r}")
        finally:
            ws.close()
    assert not failures, "\n".join(failures)
    wait_until(lambda: c.producer.call("get_all_client_count") == 1, "presence back to the canary alone")
    canary.stop()
    assert "Traceback" not in server.output()


def test_a_wrong_path_is_answered_404(cluster: ClusterFactory, server_kind: str) -> None:
    c = cluster(servers=1, producer=False, env=settings_env(), server=server_kind)
    server = c.servers[0]
    paths = ["/", "/ws/", "/ws/push", "/ws/push/x/", "/ws/pushx/", "/WS/PUSH/", "/ws//push/", "/ws/push/%00/"]
    statuses: dict[str, int | str | None] = {}
    for path in paths:
        try:  # a short deadline: today's server may leave the socket hanging
            ws = RawSocket(server.port, Handshake(path=path), 3)
        except TimeoutError:
            statuses[path] = "no answer"
            break
        statuses[path] = ws.status
        ws.close()
    assert statuses == dict.fromkeys(paths, 404), statuses
    assert "Traceback" not in server.output()


# -- chaos ---------------------------------------------------------------------------------------------------


class Pusher:
    """Pushes 1, 2, 3, … to everyone from the producer, paced, until stopped; a send that fails (Redis is
    down) is counted, not fatal."""

    def __init__(self, c: Cluster, pace: float = 0.01) -> None:
        self.cluster = c
        self.pace = pace
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.pace):
            self.sent += 1  # a failed send's number is not reused: it may have reached someone
            try:
                self.cluster.producer.call("send_to_all", self.sent)
            except ProducerError:
                self.failed += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        return self.sent


def receive_pushes(socket: PushSocket, until: Callable[[list[Any]], bool], timeout: float = 20) -> list[Any]:
    """Frames (pushes as their data) until ``until(frames)`` holds."""
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    while not until(frames):
        assert time.monotonic() < deadline, f"gave up after {frames[-5:]}"
        frames.append(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
    return frames


def pushed_after(n: int) -> Callable[[list[Any]], bool]:
    """Whether the frames hold a push sent after push ``n``."""
    return lambda frames: any(isinstance(f, int) and f > n for f in frames)


def test_sigkill_of_a_node_during_traffic_spares_the_survivors_clients(
    cluster: ClusterFactory, sockets: list[PushSocket], server_kind: str
) -> None:
    c = cluster(servers=2, env=settings_env(PRESENCE_TTL=2), server=server_kind)
    survivor, doomed = c.servers
    kept = [PushSocket(survivor.ws_url(), uid=f"kept{n}") for n in range(3)]
    lost = [PushSocket(doomed.ws_url(), uid=f"lost{n}") for n in range(3)]
    sockets += kept + lost
    pusher = Pusher(c)
    first = receive_pushes(kept[0], lambda frames: len(frames) >= 20)
    doomed.kill()  # SIGKILL, mid-traffic
    for client in lost:
        assert client.recv_until_closed()[1] is None  # dropped, no close frame
    after = pusher.sent + 20
    first += receive_pushes(kept[0], lambda frames: bool(frames) and frames[-1] >= after)
    total = pusher.stop()
    first += receive_pushes(
        kept[0], lambda frames: first[-1] == total or (bool(frames) and frames[-1] == total)
    )
    assert first == list(range(1, total + 1)), "a survivor's client missed pushes"
    for client in kept[1:]:
        got = receive_pushes(client, lambda frames: bool(frames) and frames[-1] == total)
        assert got == list(range(1, total + 1)), "a survivor's client missed pushes"
    wait_until(lambda: c.producer.call("get_all_client_count") == 3, "the dead node's clients reaped")
    assert "Traceback" not in survivor.output()


def restart_redis_during_traffic(
    c: Cluster, private_redis: RedisServer, sockets: list[PushSocket]
) -> list[list[Any]]:
    """Clients on both servers, pushes flowing, Redis restarted empty: what each client received until a
    push sent after the restart reached it."""
    clients = [PushSocket(server.ws_url(), uid=f"u{n}") for n, server in enumerate(c.servers)]
    sockets += clients
    pusher = Pusher(c)
    try:
        for client in clients:
            receive_pushes(client, lambda frames: len(frames) >= 5)
        private_redis.restart()  # same port, every key and subscription gone
        restarted = pusher.sent
        received = [receive_pushes(client, pushed_after(restarted), timeout=30) for client in clients]
    finally:
        pusher.stop()
    for client in clients:  # read to the end, so that closing the socket is not held up
        c.producer.call("send_to_client", client.client_id, "end")
        receive_pushes(client, lambda frames: "end" in frames)
    wait_until(lambda: c.producer.call("get_all_client_count") == 2, "presence written again")
    return received


def test_pushes_flow_again_after_redis_restarted_empty_during_traffic(
    cluster: ClusterFactory, private_redis: RedisServer, sockets: list[PushSocket], server_kind: str
) -> None:
    c = cluster(servers=2, redis=private_redis, env=settings_env(PRESENCE_TTL=2), server=server_kind)
    for frames in restart_redis_during_traffic(c, private_redis, sockets):
        pushes = [f for f in frames if isinstance(f, int)]
        assert pushes == sorted(set(pushes)), "pushes out of order or twice"


def test_clients_are_told_missed_after_redis_restarted_empty_during_traffic(
    cluster: ClusterFactory, private_redis: RedisServer, sockets: list[PushSocket]
) -> None:
    c = cluster(servers=2, redis=private_redis, env=settings_env(PRESENCE_TTL=2))
    for frames in restart_redis_during_traffic(c, private_redis, sockets):
        assert {"type": "missed"} in frames, f"pushes lost without a notice: {frames}"


def test_a_connection_attempted_while_redis_is_down_gets_1013(
    cluster: ClusterFactory, private_redis: RedisServer, server_kind: str
) -> None:
    c = cluster(servers=1, producer=False, redis=private_redis, env=settings_env(), server=server_kind)
    private_redis.stop()
    ws = RawSocket(c.servers[0].port)
    try:
        ws.send_json({"type": "auth", "token": issue_token("u")})
        assert ws.close_code(timeout=10) == 1013
    finally:
        ws.close()
        private_redis.restart()


def stalled_reader(port: int) -> tuple[RawSocket, str]:
    """An authenticated connection with a tiny receive buffer, which then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws = RawSocket(port, sock=sock)
    ws.send_json({"type": "auth", "token": issue_token("stalled")})
    return ws, ws.recv_json()["client_id"]


def stall(c: Cluster, client_id: str) -> None:
    """Push 64 KB at a time to the stalled reader until its server let go of it."""
    chunk = "x" * 65536

    def gone() -> bool:
        c.producer.call("send_to_uid", "stalled", chunk)
        return not c.producer.call("is_online", client_id)

    wait_until(gone, "the stalled reader closed", timeout=60, interval=0)


def pushstats(c: Cluster) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "manage.py", "pushstats", "--json"],
        cwd=REPO_ROOT,
        env=c.config.env(c.extra_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stats: dict[str, Any] = json.loads(result.stdout)
    return stats


def test_a_client_that_stops_reading_is_closed_4005_and_counted(
    cluster: ClusterFactory, sockets: list[PushSocket], server_kind: str
) -> None:
    c = cluster(servers=1, env=settings_env(MAX_BUFFERED_BYTES=262144, PRESENCE_TTL=2), server=server_kind)
    canary = Canary(c, c.servers[0].ws_url(), sockets)
    ws, client_id = stalled_reader(c.servers[0].port)
    try:
        stall(c, client_id)
        assert ws.close_code(timeout=30) == 4005  # what it was sent, then the close, once it reads again
    finally:
        ws.close()
    wait_until(
        lambda: pushstats(c)["processes"][0]["dropped"] > 0, "the undelivered pushes counted", interval=0
    )
    canary.stop()
    assert "Traceback" not in c.servers[0].output()


FLOOD = [
    json.dumps({"type": "ping"}),
    "{nope",
    json.dumps({"type": "dance"}),
    json.dumps({"type": "message", "data": 1}),
]


def test_a_flooding_client_disturbs_no_one(attacked: tuple[Cluster, DaphneProcess]) -> None:
    """Thousands of frames as fast as the socket takes them: the canary keeps receiving, and the flooder is
    answered, or closed with a documented code (a frame-rate limit), never 1011."""
    _, server = attacked
    ws = authenticated(server.port)
    frames = 4000
    try:
        for n in range(frames):
            ws.send_text(FLOOD[n % len(FLOOD)])
        answered = 0
        try:
            while answered < frames - frames // len(FLOOD):  # every frame is answered but "message"
                ws.recv_json()
                answered += 1
        except Closed as closed:
            assert closed.code is not None and 4000 <= closed.code < 5000, closed.code
    finally:
        ws.close()


@pytest.mark.parametrize(("size", "count"), [(60000, 200), (1, 150000)], ids=["60KB-type", "1B"])
def test_a_flooding_client_that_never_reads_is_closed(
    attacked: tuple[Cluster, DaphneProcess], size: int, count: int
) -> None:
    """Frames each answered by an error (one that echoes a 60 KB type, or to a 1-byte bad frame) from a
    flooder that never reads: answered, they would pass MAX_BUFFERED_BYTES several times over, so its
    server closes it (4005). (To a client still writing, the kernel then sends a reset, which discards
    the close frame: only the server's side can tell.)"""
    c, server = attacked
    ws = RawSocket(server.port)
    ws.send_json({"type": "auth", "token": issue_token("flooder")})
    client_id = ws.recv_json()["client_id"]
    frame = client_frame(TEXT, json.dumps({"type": "x" * size}).encode() if size > 1 else b"x")
    try:
        with contextlib.suppress(Dropped):
            ws.send_bytes(frame * count)
        wait_until(lambda: not c.producer.call("is_online", client_id), "the flooder closed", timeout=30)
    finally:
        ws.close()


def rss(pid: int) -> int:
    """The resident memory of process ``pid``, in bytes (``VmRSS`` in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


#: Memory a server may keep after a flooder is gone: allocator caches, not what the flood made it hold
#: (unbounded, a ping flooder grew a server by 90 MB in a second).
RSS_SLACK = 4 * 1024 * 1024

PINGS = client_frame(PING, b"p" * 125) * 1000


def test_a_ping_flooder_that_never_reads_is_closed_4005_and_the_memory_returned(
    cluster: ClusterFactory, sockets: list[PushSocket], server_kind: str
) -> None:
    """With no frame rate, pings as fast as the socket takes them from a client that never reads: its
    pongs count against MAX_BUFFERED_BYTES like any other reply, so it is closed with 4005, the server's
    memory comes back to where it was, and the canary loses nothing meanwhile."""
    c = cluster(servers=1, env=settings_env(MAX_BUFFERED_BYTES=262144), server=server_kind)
    server = c.servers[0]
    canary = Canary(c, server.ws_url(), sockets)
    ws, _ = stalled_reader(server.port)
    before = rss(server.pid)
    try:
        deadline = time.monotonic() + 60
        while "refused (slow_client)" not in server.output():
            assert time.monotonic() < deadline, "the flooder was not closed"
            ws.send_bytes(PINGS)
        assert ws.close_code(timeout=30) == 4005  # its pongs, then the close
    finally:
        ws.close()
    wait_until(lambda: rss(server.pid) < before + RSS_SLACK, "the server's memory back", timeout=30)
    served = canary.received
    wait_until(lambda: canary.received > served, "the canary served after the flood")
    canary.stop()
    assert "Traceback" not in server.output()


def test_a_ping_flooder_is_closed_4007_at_the_frame_rate(
    cluster: ClusterFactory, sockets: list[PushSocket], server_kind: str
) -> None:
    """Control frames count against CLIENT_FRAMES_PER_SECOND like messages: with the default rate a ping
    flood is closed with 4007 long before its pongs could pass MAX_BUFFERED_BYTES."""
    c = cluster(servers=1, env=settings_env(CLIENT_FRAMES_PER_SECOND=20), server=server_kind)
    server = c.servers[0]
    canary = Canary(c, server.ws_url(), sockets)
    ws = authenticated(server.port)
    try:
        with contextlib.suppress(Dropped):  # the server may have closed before the last ping
            ws.send_bytes(PINGS)
        while (frame := ws.recv_frame())[0] == PONG:  # those of its burst
            pass
        assert frame[0] == CLOSE and close_code(frame[1]) == 4007
    finally:
        ws.close()
    served = canary.received
    wait_until(lambda: canary.received > served, "the canary served after the flood")
    canary.stop()
    assert "Traceback" not in server.output()
