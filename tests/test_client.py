"""pushapp.client against real servers: pushapp's own application in this process, served over real
sockets by its native WebSocket server (in-memory layer), a scripted WebSocket server where the test must
decide what the server says, and real daphne processes on Redis (integration) for restarts and outages."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from subprocess import PIPE
from typing import Any
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings
from websockets.asyncio.server import ServerConnection, serve

from pushapp import gateway
from pushapp.client import (
    Backoff,
    Client,
    ClientClosed,
    ConnectionDestroyed,
    FilePositionStore,
    MemoryPositionStore,
    Missed,
    Position,
    Push,
    RefreshRefused,
)
from pushapp.exceptions import AccessRevoked, AuthenticationFailed, SubscriptionRefused, TokenExpired
from pushapp.server.hub import stop_hub
from pushapp.server.sockets.native import NativeWebSocket
from pushapp.signals import message_received
from pushapp.tokens import issue_token
from tests.conftest import ClusterFactory
from tests.support.communicators import application, clean_hub
from tests.support.processes import REPO_ROOT
from tests.support.redis_server import RedisServer
from tests.support.waiting import await_until, wait_until

HISTORY = {"HISTORY": {"uid": {"size": 50, "ttl": 600}, "group": {"size": 50, "ttl": 600}}}
#: Retries come quickly in tests; the jitter stays.
QUICK = Backoff(base=0.05, cap=0.5)


def may_subscribe(uid: str | None, session: dict[str, Any], scope: dict[str, Any], group: str) -> bool:
    return group.startswith("room:")


def expired_token(uid: str) -> str:
    """A good signature, issued two hours ago: older than TOKEN_MAX_AGE."""
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 7200):
        return signing.dumps({"u": uid}, salt="pushapp.token", compress=True)


async def next_item(client: Client, timeout: float = 10) -> Push | Missed:
    return await asyncio.wait_for(anext(client), timeout)


async def pushes(client: Client, count: int) -> list[Push]:
    got = []
    while len(got) < count:
        item = await next_item(client)
        assert isinstance(item, Push), item
        got.append(item)
    return got


@pytest.fixture
async def push_url() -> AsyncIterator[str]:
    """pushapp's push application in this process, on a real listening socket."""
    app = application()
    server = await asyncio.get_running_loop().create_server(lambda: NativeWebSocket(app), "127.0.0.1", 0)
    yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws/push/"
    server.close()


pytestmark = pytest.mark.usefixtures(clean_hub.__name__)


# -- against pushapp's application ----------------------------------------------------------------------


async def test_pushes_arrive_typed_in_order_with_their_positions(push_url: str) -> None:
    with override_settings(PUSHAPP=HISTORY):
        async with Client(push_url, issue_token("u1")) as client:
            assert client.connected and client.uid == "u1" and client.client_id
            epoch = client.welcome and client.welcome["streams"]["uid:u1"]["epoch"]
            await gateway.asend_to_uid("u1", {"n": 1})
            await gateway.asend_to_uid("u1", "two")
            await gateway.asend_to_uid("u1", b"\x00three")
            await gateway.asend_to_client(client.client_id, [4])
            got = await pushes(client, 4)
    assert got == [
        Push({"n": 1}, "uid:u1", 1, epoch),
        Push("two", "uid:u1", 2, epoch),
        Push(b"\x00three"),  # bytes are never kept: no position
        Push([4]),  # a client id is no stream
    ]


async def test_messages_reach_the_server_and_subscriptions_are_the_servers_call(push_url: str) -> None:
    heard: list[Any] = []

    def on_message(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs["data"])

    message_received.connect(on_message)
    settings = {**HISTORY, "AUTHORIZE_SUBSCRIBE": "tests.test_client.may_subscribe"}
    try:
        with override_settings(PUSHAPP=settings):
            async with Client(push_url, issue_token("u1")) as client:
                await client.send({"hello": "server"})
                await await_until(lambda: heard, "the message_received signal")
                await client.subscribe("room:1")
                with pytest.raises(SubscriptionRefused, match="staff"):
                    await client.subscribe("staff")
                await gateway.asend_to_group("room:1", "in the room")
                assert (await next_item(client)).data == "in the room"  # type: ignore[union-attr]
                await client.unsubscribe("room:1")
                await gateway.asend_to_group("room:1", "not for me")
                await gateway.asend_to_uid("u1", "for me")
                assert (await next_item(client)).data == "for me"  # type: ignore[union-attr]
    finally:
        message_received.disconnect(on_message)
    assert heard == [{"hello": "server"}]


async def test_a_reconnect_recovers_what_was_missed_and_subscribes_again(push_url: str) -> None:
    settings = {**HISTORY, "AUTHORIZE_SUBSCRIBE": "tests.test_client.may_subscribe"}
    with override_settings(PUSHAPP=settings):
        async with Client(push_url, issue_token("u1"), backoff=QUICK) as client:
            await client.subscribe("room:1")
            await gateway.asend_to_uid("u1", 1)
            assert [p.offset for p in await pushes(client, 1)] == [1]
            first = client.client_id
            await stop_hub()  # every connection closed with 1012, as in a restart
            await await_until(lambda: client.connected and client.client_id != first, "a new connection")
            await gateway.asend_to_uid("u1", 2)
            await gateway.asend_to_group("room:1", "again in the room")
            got = await pushes(client, 2)
    assert [(p.stream, p.data) for p in got] == [("uid:u1", 2), ("group:room:1", "again in the room")]


async def test_a_second_client_with_the_same_file_recovers_where_the_first_stopped(
    push_url: str, tmp_path: Path
) -> None:
    """A process restart: the first client handled 1 and 2 and closed; 3 and 4 were sent meanwhile."""
    path = tmp_path / "positions.json"
    with override_settings(PUSHAPP=HISTORY):
        async with Client(push_url, issue_token("u1"), store=FilePositionStore(path)) as first:
            for n in (1, 2):
                await gateway.asend_to_uid("u1", n)
            assert [p.data for p in await pushes(first, 2)] == [1, 2]
        saved = await FilePositionStore(path).load()
        assert saved["uid:u1"].offset == 2
        for n in (3, 4):
            await gateway.asend_to_uid("u1", n)
        async with Client(push_url, issue_token("u1"), store=FilePositionStore(path)) as second:
            await gateway.asend_to_uid("u1", 5)
            assert [p.data for p in await pushes(second, 3)] == [3, 4, 5]


async def test_what_was_received_but_not_handled_comes_again_after_a_crash(
    push_url: str, tmp_path: Path
) -> None:
    """At least once across restarts: a push counts as handled when the next item is asked for."""
    path, crashed = tmp_path / "positions.json", tmp_path / "at-the-crash.json"
    with override_settings(PUSHAPP=HISTORY):
        async with Client(
            push_url, issue_token("u1"), store=FilePositionStore(path), ack_interval=0.01
        ) as first:
            for n in (1, 2):
                await gateway.asend_to_uid("u1", n)
            await pushes(first, 2)  # 1 handled (the next was asked for), 2 not yet
            await await_until(lambda: path.exists() and '"offset": 1' in path.read_text(), "1 saved")
            crashed.write_bytes(path.read_bytes())  # the process dies here
        async with Client(push_url, issue_token("u1"), store=FilePositionStore(crashed)) as second:
            assert [p.data for p in await pushes(second, 1)] == [2]


async def test_a_bad_token_stops_at_once_with_a_clear_exception(push_url: str) -> None:
    calls = []

    def token() -> str:
        calls.append(1)
        return "garbage"

    client = Client(push_url, token, backoff=QUICK)
    with pytest.raises(AuthenticationFailed, match="4001"):
        await client.connect()
    with pytest.raises(AuthenticationFailed):
        await next_item(client)  # the iteration says it too
    await client.close()
    assert calls == [1]  # never retried


async def test_an_expired_token_asks_the_callback_again(push_url: str) -> None:
    tokens = [expired_token("u1"), issue_token("u1")]
    asked = []

    async def token() -> str:
        asked.append(len(asked))
        return tokens[len(asked) - 1]

    async with Client(push_url, token, backoff=QUICK) as client:
        assert client.uid == "u1"
    assert asked == [0, 1]


async def test_a_fixed_token_that_expired_cannot_be_renewed(push_url: str) -> None:
    with pytest.raises(TokenExpired, match="4002"):
        await Client(push_url, expired_token("u1"), backoff=QUICK).connect()


async def test_a_connection_whose_token_expires_reconnects_with_a_new_one(push_url: str) -> None:
    asked = []

    def token() -> str:
        asked.append(1)
        return issue_token("u1")

    with override_settings(PUSHAPP={"TOKEN_MAX_AGE": 1, "PING_INTERVAL": 0.2}):
        async with Client(push_url, token, backoff=QUICK) as client:
            first = client.client_id
            await await_until(lambda: client.client_id != first, "a reconnect after 4002", timeout=15)
    assert len(asked) >= 2


async def test_refresh_extends_the_connection_in_band(push_url: str) -> None:
    async with Client(push_url, lambda: issue_token("u1")) as client:
        expires = await client.refresh()
        assert isinstance(expires, float) and expires > time.time()
        with pytest.raises(RefreshRefused):
            await client.refresh(issue_token("someone else"))
        assert client.connected


async def test_pushapps_server_takes_the_acks(push_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pushapp.client")
    with override_settings(PUSHAPP=HISTORY):
        async with Client(push_url, lambda: issue_token("u1"), auto_ack=False, ack_interval=3600) as client:
            await gateway.asend_to_uid("u1", 1)
            (push,) = await pushes(client, 1)
            await client.ack(push)
            await client.flush()
            await client.refresh()  # answered after the ack's answer, if any: frames are handled in order
            assert client.connected
    if any("unknown_type" in record.getMessage() for record in caplog.records):
        pytest.skip("this server does not take ack frames yet (the server side of issue #23)")
    assert not [r for r in caplog.records if "answered with an error" in r.getMessage()]


async def test_a_revocation_stops_the_client(push_url: str) -> None:
    async with Client(push_url, lambda: issue_token("u1"), backoff=QUICK) as client:
        await gateway.arevoke_uid("u1")
        with pytest.raises(AccessRevoked, match="4008"):
            await next_item(client)


async def test_a_destroyed_connection_stops_and_a_closed_one_ends_the_iteration(push_url: str) -> None:
    async with Client(push_url, lambda: issue_token("u1"), backoff=QUICK) as client:
        assert client.client_id
        await gateway.adestroy_client(client.client_id)
        with pytest.raises(ConnectionDestroyed, match="4004"):
            await next_item(client)
    async with Client(push_url, lambda: issue_token("u1"), backoff=QUICK) as client:
        assert client.client_id
        await gateway.aclose_client(client.client_id)  # 1000: done, not an error
        with pytest.raises(StopAsyncIteration):
            await next_item(client)


async def test_bare_pushes_without_the_envelope(push_url: str) -> None:
    with override_settings(PUSHAPP={"ENVELOPE": False}):
        async with Client(push_url, issue_token("u1")) as client:
            await gateway.asend_to_uid("u1", "plain text")
            await gateway.asend_to_uid("u1", {"type": "order", "id": 7})
            assert [p.data for p in await pushes(client, 2)] == ["plain text", {"type": "order", "id": 7}]


async def test_closing_ends_the_iteration(push_url: str) -> None:
    client = await Client(push_url, issue_token("u1")).connect()
    waiting = asyncio.ensure_future(next_item(client))
    await client.close()
    with pytest.raises(StopAsyncIteration):
        await waiting
    with pytest.raises(ClientClosed):
        await client.send("too late")


# -- against a scripted server: what pushapp's server does not do on demand -----------------------------

Script = Callable[[ServerConnection, int], Awaitable[None]]


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], Awaitable[tuple[str, list[list[Any]]]]]]:
    """``await scripted(script)``: a WebSocket server that runs ``script(ws, n)`` for its n-th connection
    (after reading the auth frame); returns its URL and every connection's frames from the client."""
    servers = []

    async def start(script: Script) -> tuple[str, list[list[Any]]]:
        received: list[list[Any]] = []

        async def handler(ws: ServerConnection) -> None:
            frames: list[Any] = []
            received.append(frames)
            frames.append(json.loads(await ws.recv()))
            reader = asyncio.ensure_future(read_all(ws, frames))
            try:
                await script(ws, len(received))
            finally:
                reader.cancel()

        server = await serve(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", received

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def read_all(ws: ServerConnection, frames: list[Any]) -> None:
    async for message in ws:
        frames.append(json.loads(message))


def welcome(ping_interval: float = 0, **extra: Any) -> str:
    frame = {"type": "welcome", "client_id": "c" * 48, "uid": "u1", "ping_interval": ping_interval}
    return json.dumps({**frame, "proof": "p", "envelope": True, **extra})


async def test_acks_one_per_stream_with_the_highest_offset(
    scripted: Callable[[Script], Awaitable[tuple[str, list[list[Any]]]]],
) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(welcome(streams={"s": {"offset": 0, "epoch": "e"}}))
        for offset in (1, 2, 3):
            await ws.send(
                json.dumps({"type": "push", "stream": "s", "offset": offset, "epoch": "e", "data": 0})
            )
        await ws.send(json.dumps({"type": "push", "data": "no stream"}))
        await ws.wait_closed()

    url, received = await scripted(script)
    client = await Client(url, "t", ack_interval=3600).connect()
    assert len(await pushes(client, 4)) == 4
    await client.close()  # the last flush
    frames = received[0]
    assert frames[0] == {"type": "auth", "token": "t", "recover": {}}
    assert [f for f in frames if f["type"] == "ack"] == [{"type": "ack", "stream": "s", "offset": 3}]


async def test_a_silent_server_is_taken_for_dead_and_left(
    scripted: Callable[[Script], Awaitable[tuple[str, list[list[Any]]]]],
) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(welcome(ping_interval=0.1))
        await ws.wait_closed()  # answers nothing: no pong, no push

    url, received = await scripted(script)
    async with Client(url, "t", backoff=QUICK) as client:
        await await_until(lambda: len(received) >= 2 and client.connected, "a new connection")
        assert {"type": "ping"} in received[0]


async def test_a_draining_servers_delay_is_kept(
    scripted: Callable[[Script], Awaitable[tuple[str, list[list[Any]]]]],
) -> None:
    told: list[float] = []
    opened: list[float] = []

    async def script(ws: ServerConnection, n: int) -> None:
        opened.append(time.monotonic())
        await ws.send(welcome())
        if n == 1:
            told.append(time.monotonic())
            await ws.send(json.dumps({"type": "reconnect", "delay": 0.3}))
            await ws.close(1012)  # sooner than its delay: the client still waits for it
        await ws.wait_closed()

    url, _ = await scripted(script)
    async with Client(url, "t", backoff=QUICK):
        await await_until(lambda: len(opened) == 2, "the reconnect")
    assert opened[1] - told[0] >= 0.3


async def test_missed_and_unrecovered_streams_come_as_notices_in_order(
    scripted: Callable[[Script], Awaitable[tuple[str, list[list[Any]]]]],
) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(welcome(streams={"s": {"offset": 9, "epoch": "new"}}))
        await ws.send(json.dumps({"type": "recovered", "streams": {"s": False}}))
        await ws.send(json.dumps({"type": "push", "stream": "s", "offset": 10, "epoch": "new", "data": 10}))
        await ws.send(json.dumps({"type": "missed"}))
        await ws.wait_closed()

    store = MemoryPositionStore()
    await store.save({"s": Position(3, "old")})
    url, received = await scripted(script)
    async with Client(url, "t", store=store) as client:
        items = [await next_item(client) for _ in range(3)]
    assert items == [Missed("s", "recovery"), Push(10, "s", 10, "new"), Missed(None)]
    assert received[0][0]["recover"] == {"s": {"offset": 3, "epoch": "old"}}
    assert await store.load() == {"s": Position(10, "new")}


async def test_a_push_the_client_already_has_is_not_handed_over_twice(
    scripted: Callable[[Script], Awaitable[tuple[str, list[list[Any]]]]],
) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(welcome(streams={"s": {"offset": 0, "epoch": "e"}}))
        for offset in (1, 2, 2, 1, 3):
            await ws.send(
                json.dumps({"type": "push", "stream": "s", "offset": offset, "epoch": "e", "data": offset})
            )
        await ws.wait_closed()

    url, _ = await scripted(script)
    async with Client(url, "t") as client:
        assert [p.data for p in await pushes(client, 3)] == [1, 2, 3]


# -- parts --------------------------------------------------------------------------------------------


def test_backoff_is_full_jitter_under_a_growing_bounded_ceiling() -> None:
    backoff = Backoff(base=1, cap=8)
    assert [backoff.ceiling(n) for n in range(6)] == [1, 2, 4, 8, 8, 8]
    assert backoff.ceiling(10_000) == 8
    assert all(0 <= backoff.delay(n) <= backoff.ceiling(n) for n in range(20) for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


async def test_a_file_store_writes_atomically_and_reads_only_well_formed_positions(tmp_path: Path) -> None:
    path = tmp_path / "positions.json"
    store = FilePositionStore(path)
    assert await store.load() == {}
    await store.save({"uid:1": Position(5, "e"), "group:a": Position(1, "f")})
    assert await FilePositionStore(path).load() == {"uid:1": Position(5, "e"), "group:a": Position(1, "f")}
    assert [p.name for p in tmp_path.iterdir()] == ["positions.json"]  # no temporary file left
    path.write_text(json.dumps({"ok": {"offset": 1, "epoch": "e"}, "bad": {"offset": "1"}, "x": 3}))
    assert await store.load() == {"ok": Position(1, "e")}
    path.write_text("not json")
    assert await store.load() == {}


async def test_connecting_too_many_times_in_vain_gives_up() -> None:
    from pushapp.client import ConnectionFailed
    from tests.support.redis_server import free_port

    client = Client(f"ws://127.0.0.1:{free_port()}/", "t", backoff=Backoff(0.01, 0.02, max_attempts=3))
    with pytest.raises(ConnectionFailed):
        await client.connect()


def test_pushapp_client_imports_without_websockets() -> None:
    """The extra is needed to connect, not to import pushapp or its client."""
    code = (
        "import sys; sys.modules['websockets'] = None\n"
        "import pushapp.client as c\n"
        "c.Client('ws://127.0.0.1:1/', 't')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


# -- real processes: a server killed, Redis restarted ---------------------------------------------------


def history_env() -> dict[str, str]:
    return {"PUSHAPP_TEST_SETTINGS": json.dumps(HISTORY)}


async def test_a_server_killed_and_started_again_loses_no_push_on_a_history_stream(
    cluster: ClusterFactory,
) -> None:
    c = cluster("core", servers=1, env=history_env())
    server = c.servers[0]
    port = server.port

    async def send(*ns: int) -> None:
        for n in ns:
            await asyncio.to_thread(c.producer.call, "send_to_uid", "u1", n)

    async with Client(server.ws_url(), lambda: issue_token("u1"), backoff=QUICK) as client:
        await send(1, 2, 3)
        got = await pushes(client, 3)
        first = client.client_id
        server.kill()  # SIGKILL: no close frame, no drain
        await await_until(lambda: not client.connected, "the client to see the server gone")
        await send(4, 5, 6)  # kept in Redis: no server is up
        await asyncio.to_thread(c.add_server, port=port)
        got += await pushes(client, 3)
        assert client.client_id != first
        await send(7)
        got += await pushes(client, 1)
    assert [(p.data, p.offset) for p in got] == [(n, n) for n in range(1, 8)], c.output()[-3000:]


async def test_after_a_redis_restart_the_client_is_told_what_to_refetch_and_pushes_flow_again(
    cluster: ClusterFactory, private_redis: RedisServer
) -> None:
    c = cluster("core", servers=1, redis=private_redis, env=history_env())
    async with Client(c.servers[0].ws_url(), lambda: issue_token("u1"), backoff=QUICK) as client:
        await asyncio.to_thread(c.producer.call, "send_to_uid", "u1", "before")
        assert [p.data for p in await pushes(client, 1)] == ["before"]
        await asyncio.to_thread(private_redis.restart)  # empty: the stream's history is gone
        notices: list[Push | Missed] = []
        while not any(isinstance(n, Missed) and n.stream == "uid:u1" for n in notices):
            notices.append(await next_item(client, timeout=30))
        assert all(isinstance(n, Missed) for n in notices), notices
        await asyncio.to_thread(
            wait_until, lambda: c.producer.call("is_uid_online", "u1"), "presence to be written again"
        )
        await asyncio.to_thread(c.producer.call, "send_to_uid", "u1", "after")
        while isinstance(item := await next_item(client, timeout=30), Missed):
            pass  # the notice of pushes without history may come too
        assert (item.data, item.offset) == ("after", 1)


def test_a_client_process_started_again_recovers_from_its_file(
    cluster: ClusterFactory, tmp_path: Path
) -> None:
    """Two runs of a program: the first handles 1 and 2 and exits; 3 and 4 are sent while none runs."""
    c = cluster("core", servers=1, env=history_env())
    path = tmp_path / "positions.json"
    started: list[subprocess.Popen[str]] = []

    def program(count: int) -> subprocess.Popen[str]:
        args = [c.servers[0].ws_url(), issue_token("u1"), str(path), str(count)]
        command = [sys.executable, "-m", "tests.support.client_process", *args]
        started.append(subprocess.Popen(command, cwd=REPO_ROOT, stdout=PIPE, stderr=PIPE, text=True))
        return started[-1]

    def output(process: subprocess.Popen[str]) -> list[Any]:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        return [json.loads(line) for line in out.splitlines()]

    try:
        first = program(2)
        wait_until(path.exists, "the first run to be welcomed")
        for n in (1, 2):
            c.producer.call("send_to_uid", "u1", n)
        assert output(first) == [{"data": 1, "offset": 1}, {"data": 2, "offset": 2}]
        for n in (3, 4):
            c.producer.call("send_to_uid", "u1", n)
        assert output(program(2)) == [{"data": 3, "offset": 3}, {"data": 4, "offset": 4}]
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.communicate()
