"""The hub's parts on their own: layer membership, the control table, dedupe and the wire messages."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from pushapp.protocol import wire
from pushapp.protocol.frames import Payload
from pushapp.runtime.registry import Connection
from pushapp.server.hub import control
from pushapp.server.hub.dedupe import Dedupe
from pushapp.server.hub.membership import LayerMembership


class FakeLayer:
    """Records group_add/group_discard; each call yields to the loop, as a real layer's I/O does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.groups: set[str] = set()

    async def group_add(self, group: str, channel: str) -> None:
        await asyncio.sleep(0)
        self.calls.append(("add", group))
        self.groups.add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        await asyncio.sleep(0)
        self.calls.append(("discard", group))
        self.groups.discard(group)

    async def send(self, channel: str, message: Mapping[str, Any]) -> None:
        raise AssertionError

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None:
        raise AssertionError

    async def receive(self, channel: str) -> dict[str, Any]:
        raise AssertionError


async def test_a_layer_group_is_joined_once_and_left_with_its_last_holder() -> None:
    layer = FakeLayer()
    membership = LayerMembership(layer, "pushapp.hub.x")
    await membership.hold(["g", "g", "u"])
    assert layer.calls == [("add", "g"), ("add", "u")]
    await membership.release(["g"])
    assert layer.groups == {"g", "u"}
    await membership.release(["g", "u"])
    assert (layer.groups, membership.joined) == (set(), set())


async def test_racing_joins_and_leaves_of_one_name_leave_the_layer_right() -> None:
    layer = FakeLayer()
    membership = LayerMembership(layer, "c")
    await asyncio.gather(membership.hold(["g"]), membership.release(["g"]), membership.hold(["g"]))
    assert layer.groups == {"g"} and membership.joined == {"g"}
    await membership.release(["g"])
    assert layer.groups == set()
    assert membership._locks == {}  # no lock outlives its users


async def test_rejoin_adds_every_held_group_again() -> None:
    layer = FakeLayer()
    membership = LayerMembership(layer, "c")
    await membership.hold(["a", "b"])
    layer.groups.clear()  # Redis lost them
    await membership.rejoin()
    assert layer.groups == {"a", "b"}
    await membership.leave_all()
    assert (layer.groups, membership.joined) == (set(), set())


class FakeHub:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def join(self, conn: Connection, group: str) -> None:
        self.calls.append(("join", group))

    async def leave(self, conn: Connection, group: str) -> None:
        self.calls.append(("leave", group))

    async def bind(self, conn: Connection, uid: str | None) -> None:
        self.calls.append(("bind", uid))

    async def set_session(self, conn: Connection, session: dict[str, Any]) -> None:
        conn.session = session
        self.calls.append(("session", session))

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        self.calls.append(("close", code, message))


async def test_every_operation_runs_through_the_table() -> None:
    hub, conn = FakeHub(), Connection("a" * 48, "7", None, None)
    assert await control.run(hub, conn, "join", "g") is True
    assert await control.run(hub, conn, "leave", "g") is True
    assert await control.run(hub, conn, "bind", "8") is True
    assert await control.run(hub, conn, "unbind", "9") is False  # not its uid: nothing done
    assert await control.run(hub, conn, "unbind", "7") is True
    assert await control.run(hub, conn, "session_set", {"a": 1}) is True
    assert await control.run(hub, conn, "session_update", {"b": 2}) is True
    assert await control.run(hub, conn, "session_get", None) == {"a": 1, "b": 2}
    assert await control.run(hub, conn, "close", ['"bye"', None]) is True
    assert await control.run(hub, conn, "destroy", None) is True
    assert hub.calls == [
        ("join", "g"),
        ("leave", "g"),
        ("bind", "8"),
        ("bind", None),
        ("session", {"a": 1}),
        ("session", {"a": 1, "b": 2}),
        ("close", 1000, ('{"type":"push","data":"bye"}', None)),
        ("close", 4004, None),
    ]


async def test_an_absent_client_gets_false_or_none_and_an_unknown_op_raises() -> None:
    hub = FakeHub()
    assert await control.run(hub, None, "join", "g") is False
    assert await control.run(hub, None, "session_get", None) is None
    with pytest.raises(ValueError, match="unknown pushapp control operation 'explode'"):
        await control.run(hub, None, "explode", None)
    assert hub.calls == []


def test_dedupe_remembers_ids_for_a_while() -> None:
    dedupe = Dedupe(seconds=60)
    assert (dedupe.seen("a"), dedupe.seen("a"), dedupe.seen("b")) == (False, True, False)
    expired = Dedupe(seconds=0)
    assert (expired.seen("a"), expired.seen("b"), expired.seen("a")) == (False, False, False)


def test_wire_builders_make_the_documented_messages() -> None:
    assert wire.push("cid", ["c"], ("hi", None)) == {
        "type": "pushapp.push",
        "k": "cid",
        "to": ["c"],
        "t": "hi",
    }
    assert wire.push("all", None, (None, b"\x00"), ["x"]) == {
        "type": "pushapp.push",
        "k": "all",
        "b": b"\x00",
        "x": ["x"],
    }
    several = wire.push("uid", ["1", "2"], ("hi", None))
    assert len(several.get("m", "")) == 16 and wire.payload_of(several) == ("hi", None)
    assert "m" not in wire.push("cid", ["a", "b"], ("hi", None))  # one hub channel: no duplicates
    assert wire.control("join", "c", "g") == {"type": "pushapp.ctl", "op": "join", "cid": "c", "a": "g"}
    assert wire.control("join", "c", "g", "r", "1")["r"] == "r"
    assert wire.reply("1", True) == {"type": "pushapp.reply", "i": "1", "v": True}
    assert wire.ungroup("g") == {"type": "pushapp.ungroup", "g": "g"}
    assert wire.ready() == {"type": "pushapp.ready"}
