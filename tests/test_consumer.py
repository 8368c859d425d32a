"""The push WebSocket on the in-memory layer: authentication, the welcome, client frames and close codes."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from unittest import mock

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core import signing
from django.test import override_settings

from pushapp import gateway
from pushapp.protocol.frames import MAX_JSON_DEPTH
from pushapp.server import limits
from pushapp.server.hub import get_hub
from pushapp.signals import client_connected, client_disconnected, message_received
from pushapp.tokens import issue_token, verify_client_proof
from tests.support.communicators import application, clean_hub, connect, open_socket
from tests.support.waiting import await_until

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)


async def closed_with(communicator: Any) -> int:
    output = await communicator.receive_output(3)
    assert output["type"] == "websocket.close", output
    code: int = output["code"]
    return code


async def test_welcome_after_auth_frame() -> None:
    client = await connect(uid=42, groups=("news",))
    welcome = client.welcome
    assert re.fullmatch(r"[0-9a-f]{48}", welcome["client_id"])
    assert welcome["uid"] == "42"
    assert welcome["ping_interval"] == 25
    assert verify_client_proof(welcome["client_id"], welcome["proof"])
    await gateway.asend_to_group("news", {"n": 1})
    assert await client.receive() == {"n": 1}
    await client.close()


async def test_client_ids_are_unique_and_unguessable() -> None:
    a, b = await connect(), await connect()
    assert a.client_id != b.client_id
    assert a.client_id[:16] == b.client_id[:16]  # same hub: the routing half is shared
    await a.close()
    c = await connect()
    assert c.client_id not in (a.client_id, b.client_id)  # a reconnect gets a new id
    await b.close()
    await c.close()


async def test_token_in_subprotocol() -> None:
    token = issue_token("7")
    communicator = await open_socket(subprotocols=["pushapp", "pushapp.token." + token.replace(":", "~")])
    welcome = json.loads(await communicator.receive_from())
    assert welcome["type"] == "welcome"
    assert welcome["uid"] == "7"
    await communicator.disconnect()


async def test_query_token_only_when_allowed() -> None:
    path = "/ws/push/?token=" + issue_token("8")
    with override_settings(PUSHAPP={"ALLOW_QUERY_TOKEN": True}):
        communicator = await open_socket(path)
        assert json.loads(await communicator.receive_from())["uid"] == "8"
        await communicator.disconnect()
    communicator = await open_socket(path)
    assert await communicator.receive_nothing(0.05)  # still waiting for an auth frame
    await communicator.send_json_to({"type": "auth", "token": "nope"})
    assert await closed_with(communicator) == 4001


@pytest.mark.parametrize(
    "first_frame",
    [
        {"type": "auth"},
        {"type": "auth", "token": None},
        {"type": "auth", "token": "garbage"},
        {"type": "auth", "token": issue_token("1")[:-2] + "xx"},
        {"type": "ping"},
        "not json",
    ],
    ids=["no-token", "null-token", "malformed", "tampered", "not-auth", "not-json"],
)
async def test_bad_credentials_close_4001(first_frame: Any) -> None:
    witness = await connect(uid="w")
    communicator = await open_socket()
    text = first_frame if isinstance(first_frame, str) else json.dumps(first_frame)
    await communicator.send_to(text_data=text)
    assert await closed_with(communicator) == 4001
    await gateway.asend_to_uid("w", "still here")  # nobody else is disturbed
    assert await witness.receive() == "still here"
    await witness.close()


DEEP = "[" * 1000 + "]" * 1000  # 2 KB of JSON nested deeper than Python 3.11's parser goes


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_nesting_limit_is_pushapps_own_on_every_python() -> None:
    """A frame may nest MAX_JSON_DEPTH lists and objects (the frame's own object counted); one more is
    bad_json, on 3.11 as on 3.13, whose parser goes deeper."""
    client = await connect(uid="depth")
    await client.communicator.send_to(
        text_data='{"type": "ping", "x": ' + nested_json(MAX_JSON_DEPTH - 1) + "}"
    )
    assert await client.receive() == {"type": "pong"}
    await client.communicator.send_to(text_data='{"type": "ping", "x": ' + nested_json(MAX_JSON_DEPTH) + "}")
    assert (await client.receive())["code"] == "bad_json"
    await client.close()


async def test_an_auth_frame_nested_one_past_the_limit_closes_4001() -> None:
    communicator = await open_socket()
    recover = '{"s": {"offset": 1, "epoch": "e", "x": ' + nested_json(MAX_JSON_DEPTH - 2) + "}}"
    await communicator.send_to(text_data='{"type": "auth", "token": "t", "recover": ' + recover + "}")
    assert await closed_with(communicator) == 4001


@pytest.mark.parametrize(
    "first_frame",
    [
        DEEP,
        '{"type": "auth", "token": ' + DEEP + "}",
        '{"type": "auth", "token": "t", "recover": ' + DEEP + "}",
    ],
    ids=["deep", "deep-token", "deep-recover"],
)
async def test_deeply_nested_first_frame_closes_4001(
    first_frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    communicator = await open_socket()
    await communicator.send_to(text_data=first_frame)
    assert await closed_with(communicator) == 4001
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


async def test_deeply_nested_later_frame_is_bad_json(caplog: pytest.LogCaptureFixture) -> None:
    client = await connect(uid="deep")
    for text in (DEEP, '{"type": "message", "data": ' + DEEP + "}"):
        await client.communicator.send_to(text_data=text)
        assert (await client.receive())["code"] == "bad_json"
    await gateway.asend_to_uid("deep", "still open")
    assert await client.receive() == "still open"
    assert "RecursionError" not in caplog.text
    await client.close()


async def test_values_an_error_frame_could_not_echo_are_bad_json(caplog: pytest.LogCaptureFixture) -> None:
    """A group of 1e400 or "\\ud800" was echoed in the bad_group error, which cannot encode it: 1011."""
    client = await connect(uid="inf")
    for value in ("1e400", "-1e400", "NaN", "Infinity", '"\\ud800"', '"a\\udfff"', '["\\ud83d", 1]'):
        await client.communicator.send_to(text_data='{"type": "subscribe", "group": ' + value + "}")
        assert (await client.receive())["code"] == "bad_json", value
    await client.send({"type": "subscribe", "group": 1.5})
    assert (await client.receive())["code"] == "bad_group"
    await client.send({"type": "subscribe", "group": "\U0001f600"})  # a pair, escaped by json.dumps
    assert (await client.receive())["code"] == "subscribe_refused"
    assert "Traceback" not in caplog.text
    await client.close()


async def test_signed_token_of_the_wrong_shape_closes_4001() -> None:
    for payload in ({"u": [1]}, {"g": [1]}, [1]):
        communicator = await open_socket()
        token = signing.dumps(payload, salt="pushapp.token", compress=True)
        await communicator.send_json_to({"type": "auth", "token": token})
        assert await closed_with(communicator) == 4001, payload


async def test_expired_token_closes_4002() -> None:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 7200):
        token = issue_token("1")
    communicator = await open_socket()
    await communicator.send_json_to({"type": "auth", "token": token})
    assert await closed_with(communicator) == 4002


async def test_anonymous_only_when_allowed() -> None:
    with override_settings(PUSHAPP={"ALLOW_ANONYMOUS": True}):
        communicator = await open_socket()
        await communicator.send_json_to({"type": "auth", "token": None})
        welcome = json.loads(await communicator.receive_from())
        assert welcome["type"] == "welcome"
        assert welcome["uid"] is None
        await communicator.disconnect()


async def test_no_auth_before_deadline_closes_4003() -> None:
    with override_settings(PUSHAPP={"AUTH_TIMEOUT": 0.05}):
        communicator = await open_socket()
        assert await closed_with(communicator) == 4003


async def test_ping_pong_and_error_frames_keep_the_connection() -> None:
    client = await connect(uid="u")
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}
    await client.communicator.send_to(text_data="{nope")
    assert (await client.receive())["code"] == "bad_json"
    await client.send([1, 2])
    assert (await client.receive())["code"] == "bad_json"
    await client.send({"type": "dance"})
    assert (await client.receive())["code"] == "unknown_type"
    await client.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await client.receive())["code"] == "binary_not_supported"
    await gateway.asend_to_uid("u", {"ok": True})
    assert await client.receive() == {"ok": True}
    await client.close()


async def test_oversized_frame_closes_1009_and_spares_others() -> None:
    with override_settings(PUSHAPP={"MAX_FRAME_SIZE": 200}):  # the auth frame (its token) fits
        big, witness = await connect(uid="big"), await connect(uid="w")
        await big.send({"type": "message", "data": "x" * 300})
        assert await closed_with(big.communicator) == 1009
        await witness.send({"type": "message", "data": "x" * 50})
        await gateway.asend_to_uid("w", "fine")
        assert await witness.receive() == "fine"
        await witness.close()


async def test_silent_client_closed_4000_by_heartbeat() -> None:
    with override_settings(PUSHAPP={"PING_INTERVAL": 0.1, "PING_NOT_RESPONSE_LIMIT": 1}):
        client = await connect()
        assert client.welcome["ping_interval"] == 0.1
        assert await closed_with(client.communicator) == 4000


@pytest.mark.django_db(transaction=True)
async def test_signals_fire_and_sync_receivers_may_use_the_orm() -> None:
    events: list[tuple[str, Any]] = []

    def on_connect(sender: Any, client_id: str, uid: str | None, scope: dict[str, Any], **kw: Any) -> None:
        events.append(("connected", uid))

    def on_message(sender: Any, client_id: str, uid: str | None, data: Any, **kw: Any) -> None:
        User.objects.create(username=data["name"])  # the ORM, from a sync receiver
        events.append(("message", data))

    def on_disconnect(sender: Any, client_id: str, uid: str | None, **kw: Any) -> None:
        events.append(("disconnected", uid))

    client_connected.connect(on_connect)
    message_received.connect(on_message)
    client_disconnected.connect(on_disconnect)
    try:
        client = await connect(uid="s")
        await client.send({"type": "message", "data": {"name": "zoe"}})
        await client.send({"type": "ping"})  # answered after the message was handled
        assert await client.receive() == {"type": "pong"}
        await client.close()
    finally:
        client_connected.disconnect(on_connect)
        message_received.disconnect(on_message)
        client_disconnected.disconnect(on_disconnect)
    assert events == [("connected", "s"), ("message", {"name": "zoe"}), ("disconnected", "s")]
    assert await User.objects.filter(username="zoe").aexists()


async def test_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application(), "/ws/push/", headers=[(b"origin", b"http://evil.test")]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_refresh_frame_extends_the_connection_to_its_new_tokens_expiry() -> None:
    client = await connect(uid="r")
    hub = await get_hub()

    def expires() -> float | None:
        conn = hub.registry.get(client.client_id)
        assert conn is not None
        return conn.expires

    first = expires()
    assert first is not None
    await client.send({"type": "refresh", "token": issue_token("r")})
    answer = await client.receive()
    assert answer["type"] == "refreshed" and answer["expires"] >= first
    for token, why in ((issue_token("someone-else"), "another uid"), ("forged", "malformed"), (7, "carries")):
        await client.send({"type": "refresh", "token": token})
        refused = await client.receive()
        assert (refused["type"], refused["code"]) == ("error", "refresh_refused") and why in refused["detail"]
    assert expires() == answer["expires"]  # a refused refresh changes nothing
    await gateway.asend_to_uid("r", "still open")
    assert await client.receive() == "still open"
    await client.close()


async def test_a_receiver_that_raises_keeps_the_connection_and_logs_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The project's bug is reported (counted; its traceback logged at most once per 10 s, however often a
    client sends the frame that triggers it), not turned into a 1011 close."""

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the receiver's own bug")

    message_received.connect(broken)
    try:
        before = limits.failed["a message_received receiver"]
        client = await connect(uid="raiser")
        for n in range(5):
            await client.send({"type": "message", "data": n})
        await await_until(
            lambda: limits.failed["a message_received receiver"] == before + 5, "five reported failures"
        )
        await gateway.asend_to_uid("raiser", "still open")
        assert await client.receive() == "still open"
        logged = [r for r in caplog.records if "a message_received receiver raised" in r.getMessage()]
        assert len(logged) <= 1
        await client.close()
    finally:
        message_received.disconnect(broken)
