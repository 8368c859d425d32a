"""The SSE transport's parts without a server: event ids, events, tickets (docs/sse.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from pushapp import gateway
from pushapp.consumer import recover_positions
from pushapp.history.base import Position
from pushapp.server.sockets.sse import decode_event_id, encode_event_id, event
from pushapp.sse import tickets
from pushapp.tokens import Identity
from tests.support.communicators import application, clean_hub


def test_an_event_id_gives_back_every_position_as_recover() -> None:
    positions = {"uid:42": ("e1", 12), "group:room": ("e2", 3)}
    encoded = encode_event_id(positions)
    assert encoded.isascii() and "\n" not in encoded and "=" not in encoded
    assert recover_positions(decode_event_id(encoded)) == {
        "uid:42": Position("e1", 12),
        "group:room": Position("e2", 3),
    }


@pytest.mark.parametrize("garbage", ["", "!!!", "bm90IGpzb24", "WzEsMl0", "eyJhIjoxfQ"])
def test_an_event_id_that_is_not_ours_recovers_nothing(garbage: str) -> None:
    assert not recover_positions(decode_event_id(garbage))


def test_events_are_framed_and_line_breaks_split_into_data_lines() -> None:
    assert event('{"a":1}') == b'data: {"a":1}\n\n'
    assert event("{}", "abc", "close") == b"id: abc\nevent: close\ndata: {}\n\n"
    lines = event('{"a":\r\n1}').decode().split("\n")
    assert lines[:2] == ['data: {"a":', "data: 1}"]
    assert json.loads("\n".join(line.removeprefix("data: ") for line in lines[:2])) == {"a": 1}


async def test_a_ticket_carries_the_identity_and_opens_once() -> None:
    identity = Identity(uid="7", groups=("room",), issued=1234.5, session="abc")
    ticket, expires = tickets.issue(identity)
    assert isinstance(expires, int)
    assert await tickets.aredeem(ticket) == identity
    assert await tickets.aredeem(ticket) is None  # used
    assert await tickets.aredeem(ticket[:-3] + "abc") is None  # forged
    assert await tickets.aredeem("") is None


async def test_an_expired_ticket_is_refused(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.PUSHAPP = {"SSE_TICKET_TTL": 5}
    ticket, _ = tickets.issue(Identity(uid="7"))
    later = time.time() + 6
    monkeypatch.setattr(time, "time", lambda: later)  # the signature's timestamp is 6 s old
    assert await tickets.aredeem(ticket) is None


# -- the ASGI application on the in-memory layer -------------------------------------------------------


def http_scope(method: str, path: str, query: bytes = b"", headers: Any = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": list(headers),
        "client": ("127.0.0.1", 1234),
    }


async def read_event(stream: ApplicationCommunicator) -> str:
    """The next SSE event's text (comments skipped)."""
    while True:
        output = await stream.receive_output(3)
        assert output["type"] == "http.response.body", output
        text = output["body"].decode()
        if not text.startswith(":"):
            return str(text)


async def post(client_id: str, proof: str, body: bytes) -> tuple[int, bytes]:
    scope = http_scope("POST", f"/ws/push/sse/{client_id}/", headers=[(b"x-pushapp-proof", proof.encode())])
    communicator = ApplicationCommunicator(application(), scope)
    await communicator.send_input({"type": "http.request", "body": body})
    start = await communicator.receive_output(3)
    done = await communicator.receive_output(3)
    return start["status"], done["body"]


@pytest.mark.usefixtures(clean_hub.__name__)
async def test_a_stream_on_the_in_memory_layer() -> None:
    ticket, _ = tickets.issue(Identity(uid="9"))
    stream = ApplicationCommunicator(
        application(), http_scope("GET", "/ws/push/sse/", f"ticket={ticket}".encode())
    )
    await stream.send_input({"type": "http.request", "body": b""})
    start = await stream.receive_output(3)
    assert (
        start["status"] == 200 and (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    )
    welcome = json.loads((await read_event(stream)).removeprefix("data: "))
    client_id, sse = welcome["client_id"], welcome["sse"]
    assert sse["post"] == f"/ws/push/sse/{client_id}/"

    assert await post(client_id, sse["proof"], b'{"type": "ping"}') == (204, b"")
    assert await read_event(stream) == 'data: {"type":"pong"}\n\n'
    assert (await post(client_id, "nope", b"{}"))[0] == 403
    await gateway.asend_to_uid("9", {"n": 1})
    assert json.loads((await read_event(stream)).removeprefix("data: "))["data"] == {"n": 1}

    await gateway.aclose_client(client_id)
    assert await read_event(stream) == 'event: close\ndata: {"code":1000,"reason":"normal"}\n\n'
    await stream.wait(3)
    assert (await post(client_id, sse["proof"], b'{"type": "ping"}'))[0] == 404


async def test_a_used_ticket_is_answered_401_before_any_stream() -> None:
    ticket, _ = tickets.issue(Identity(uid="9"))
    assert await tickets.aredeem(ticket)
    stream = ApplicationCommunicator(
        application(), http_scope("GET", "/ws/push/sse/", f"ticket={ticket}".encode())
    )
    await stream.send_input({"type": "http.request", "body": b""})
    assert (await stream.receive_output(3))["status"] == 401
    assert json.loads((await stream.receive_output(3))["body"]) == {"error": "bad_ticket"}
