"""The SSE transport's parts without a server: event ids, events, tickets (docs/sse.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pushapp.consumer import recover_positions
from pushapp.history.base import Position
from pushapp.server.sockets.sse import decode_event_id, encode_event_id, event
from pushapp.sse import tickets
from pushapp.tokens import Identity


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
