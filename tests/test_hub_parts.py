"""The hub's parts on their own: layer membership, the operations on plain parts, the pure decisions of
recovery and stream order on plain data, dedupe and the wire messages."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from django.test import override_settings

from pushapp.history.base import Ask, Entry, Position, Read
from pushapp.presence.base import Writer
from pushapp.protocol import wire
from pushapp.protocol.frames import Payload, recovered_frame, stream_payload
from pushapp.protocol.names import group_layer_group, uid_layer_group
from pushapp.runtime.registry import Connection, Registry
from pushapp.server.hub import control, recovery
from pushapp.server.hub.dedupe import Dedupe
from pushapp.server.hub.membership import LayerMembership
from pushapp.server.hub.recovery import Held, Welcomes
from pushapp.server.hub.streams import Delivery, Gap, StreamOrder


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


class RecordingWriter(Writer):
    """A presence writer that records what the operations told it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def joined(self, conn: Connection, group: str) -> None:
        self.calls.append(("joined", group))

    async def left(self, conn: Connection, group: str) -> None:
        self.calls.append(("left", group))

    async def bound(self, conn: Connection, old_uid: str | None) -> None:
        self.calls.append(("bound", old_uid, conn.uid))

    async def session_changed(self, conn: Connection) -> None:
        self.calls.append(("session", conn.session))

    async def disconnected(self, conn: Connection, uid: str | None, groups: list[str]) -> None:
        self.calls.append(("disconnected", uid, sorted(groups)))


class ClosingSink:
    def __init__(self) -> None:
        self.closed: list[tuple[int, Payload | None]] = []

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        self.closed.append((code, message))


class FakeParts:
    """A hub's parts, and no hub: what the operations act on."""

    def __init__(self) -> None:
        self.node_id = "n"
        self.layer = FakeLayer()
        self.registry = Registry()
        self.membership = LayerMembership(self.layer, "pushapp.hub.n")
        self.presence: Writer = RecordingWriter()
        self.welcomes = Welcomes()


async def test_every_operation_runs_through_the_table_on_the_parts() -> None:
    parts, sink = FakeParts(), ClosingSink()
    conn = Connection("a" * 48, "7", sink, None)
    await control.enter(parts, conn, ["g0"])
    parts.registry.add(conn)
    assert parts.layer.groups == {uid_layer_group("7"), group_layer_group("g0")}
    assert await control.run(parts, conn, "join", "g") is True
    assert await control.run(parts, conn, "leave", "g") is True
    assert await control.run(parts, conn, "bind", "8") is True
    assert await control.run(parts, conn, "unbind", "9") is False  # not its uid: nothing done
    assert await control.run(parts, conn, "unbind", "8") is True
    assert await control.run(parts, conn, "session_set", {"a": 1}) is True
    assert await control.run(parts, conn, "session_update", {"b": 2}) is True
    assert await control.run(parts, conn, "session_get", None) == {"a": 1, "b": 2}
    assert await control.run(parts, conn, "close", ['"bye"', None]) is True
    assert await control.run(parts, conn, "destroy", None) is True  # gone already: closed again, harmlessly
    presence = parts.presence
    assert isinstance(presence, RecordingWriter)
    assert presence.calls == [
        ("joined", "g"),
        ("left", "g"),
        ("bound", "7", "8"),
        ("bound", "8", None),
        ("session", {"a": 1}),
        ("session", {"a": 1, "b": 2}),
        ("disconnected", None, ["g0"]),
    ]
    assert sink.closed == [(1000, ('{"type":"push","data":"bye"}', None)), (4004, None)]
    assert (parts.layer.groups, len(parts.registry)) == (set(), 0)  # every layer group left with it


async def test_a_connect_undone_half_way_leaves_no_layer_group_held() -> None:
    parts = FakeParts()
    conn = Connection("b" * 48, "7", None, None)
    await control.enter(parts, conn, ["g"])
    parts.registry.add(conn)
    await control.undo_enter(parts, conn, ["g"])
    assert (parts.layer.groups, len(parts.registry), conn in parts.welcomes.pending) == (set(), 0, False)


async def test_ungroup_empties_a_group_and_leaves_its_layer_group() -> None:
    parts = FakeParts()
    conns = [Connection(c * 48, None, None, None) for c in "cd"]
    for conn in conns:
        parts.registry.add(conn)
        await control.join(parts, conn, "room")
    await control.ungroup(parts, "room")
    assert (parts.layer.groups, parts.registry.has_group("room")) == (set(), False)


async def test_an_absent_client_gets_false_or_none_and_an_unknown_op_raises() -> None:
    parts = FakeParts()
    assert await control.run(parts, None, "join", "g") is False
    assert await control.run(parts, None, "session_get", None) is None
    with pytest.raises(ValueError, match="unknown pushapp control operation 'explode'"):
        await control.run(parts, None, "explode", None)
    assert parts.layer.calls == []


# -- recovery: what a welcome writes, from plain data -------------------------------------------------


def push(offset: int, text: str, exclude: tuple[str, ...] = ()) -> Entry:
    return Entry(offset, (f'"{text}"', None), exclude)


def on_stream(text: str, offset: int, epoch: str = "e") -> Payload:
    return stream_payload((f'"{text}"', None), "uid:7", epoch, offset)


def test_replay_writes_what_was_missed_then_the_held_pushes_it_does_not_carry_then_recovered() -> None:
    reads = {"uid:7": Read(Position("e", 4), [push(3, "three"), push(4, "four", exclude=("me",))])}
    held: list[Held] = [
        (on_stream("three", 3), "uid:7", Position("e", 3)),  # in the replay already
        (on_stream("five", 5), "uid:7", Position("e", 5)),
        (("plain", None), None, None),  # not on a stream: always written
        (on_stream("old", 9, "lost"), "uid:7", Position("lost", 9)),  # another epoch: not carried
    ]
    replay = recovery.replay(reads, {"uid:7": Position("e", 2)}, held, "me")
    assert replay.positions == {"uid:7": Position("e", 4)} and replay.welcome == {"uid:7": ("e", 4)}
    assert replay.writes == [
        on_stream("three", 3),  # four excludes this client
        on_stream("five", 5),
        ("plain", None),
        on_stream("old", 9, "lost"),
        recovered_frame({"uid:7": True}),
    ]
    assert (replay.recovered, replay.replayed) == ({"uid:7": True}, 1)


def test_replay_without_recover_writes_only_the_held_pushes_past_the_positions() -> None:
    reads = {"uid:7": Read(Position("e", 4))}
    held: list[Held] = [(on_stream("four", 4), "uid:7", Position("e", 4))]
    replay = recovery.replay(reads, None, held, "me")
    assert (replay.writes, replay.recovered, replay.replayed) == ([], None, 0)


def test_replay_says_false_for_streams_it_cannot_replay() -> None:
    reads = {"uid:7": Read(Position("e", 4), None)}
    replay = recovery.replay(reads, {"uid:7": Position("e", 1), "group:x": Position("e", 1)}, [], "me")
    assert replay.writes == [recovered_frame({"uid:7": False, "group:x": False})]


def test_welcomes_hold_a_connection_s_pushes_then_its_floors_skip_what_its_replay_carried() -> None:
    welcomes, conn, other = (
        Welcomes(),
        Connection("a" * 48, "7", None, None),
        Connection("b" * 48, "7", None, None),
    )
    welcomes.hold(conn)
    assert welcomes.hold_back([conn, other], on_stream("four", 4), "uid:7", Position("e", 4)) == [other]
    replay = welcomes.replay(conn, {"uid:7": Read(Position("e", 4))}, None)
    assert replay.writes == []  # the push held is at the position read: the welcome counts it
    assert welcomes.hold_back([conn], on_stream("five", 5), "uid:7", Position("e", 5)) == []  # still held
    assert welcomes.release(conn) == [on_stream("five", 5)]
    assert welcomes.release(conn) is None  # nothing more held: the welcome is over
    assert welcomes.hold_back([conn], on_stream("four", 4), "uid:7", Position("e", 4)) == []  # the floor
    assert welcomes.hold_back([conn], on_stream("six", 6), "uid:7", Position("e", 6)) == [conn]
    assert not welcomes  # the floor is gone once a push passed it


# -- stream order: what to deliver, or which gap to read first ---------------------------------------


@override_settings(PUSHAPP={"HISTORY": {"uid": {"size": 5, "ttl": 60}}})
def test_pushes_in_order_are_delivered_and_a_gap_is_read_first() -> None:
    order = StreamOrder()
    assert order.arrange("uid:7", "e", push(1, "one")) == Delivery("uid:7", "e", [push(1, "one")])
    assert order.arrange("uid:7", "e", push(2, "two")) == Delivery("uid:7", "e", [push(2, "two")])
    gap = order.arrange("uid:7", "e", push(5, "five"))
    assert gap == Gap("uid:7", Position("e", 2), Ask("uid:7", 5, 60.0, Position("e", 2)), push(5, "five"))
    assert isinstance(gap, Gap)
    read = Read(Position("e", 6), [push(3, "three"), push(4, "four"), push(5, "five"), push(6, "six")])
    assert order.fill(gap, read).entries == [
        push(3, "three"),
        push(4, "four"),
        push(5, "five"),
        push(6, "six"),
    ]
    assert order.arrange("uid:7", "e", push(6, "six")) == Delivery("uid:7", "e", [])  # read back already
    assert order.arrange("uid:7", "new", push(1, "again")) == Delivery("uid:7", "new", [push(1, "again")])


@override_settings(PUSHAPP={"HISTORY": {"uid": {"size": 5, "ttl": 60}}})
def test_a_gap_the_history_cannot_fill_delivers_the_push_and_says_missed() -> None:
    order = StreamOrder()
    order.arrange("uid:7", "e", push(1, "one"))
    gap = order.arrange("uid:7", "e", push(4, "four"))
    assert isinstance(gap, Gap)
    assert order.fill(gap, Read(Position("e", 4), None)) == Delivery("uid:7", "e", [push(4, "four")], True)
    assert order.positions["uid:7"] == Position("e", 4)


@override_settings(PUSHAPP={"HISTORY": {"uid": {"size": 5}}})
def test_catching_up_reads_every_stream_and_skips_what_was_delivered_meanwhile() -> None:
    order = StreamOrder()
    order.arrange("uid:7", "e", push(1, "one"))
    order.arrange("all", "e", push(1, "one"))  # no history for the all stream here: it cannot be read
    gaps = order.gaps()
    assert [(gap.stream, gap.ask is not None) for gap in gaps] == [("uid:7", True), ("all", False)]
    order.arrange("uid:7", "e", push(2, "two"))  # arrived while the gaps were read
    read = Read(Position("e", 3), [push(2, "two"), push(3, "three")])
    assert order.fill(gaps[0], read) == Delivery("uid:7", "e", [push(3, "three")])
    assert order.fill(gaps[1], None) == Delivery("all", "e", [], True)


async def test_a_stream_is_forgotten_when_the_hub_leaves_its_layer_group() -> None:
    order = StreamOrder()
    membership = LayerMembership(FakeLayer(), "c", order)
    await membership.hold([uid_layer_group("7")])
    order.arrange("uid:7", "e", push(3, "three"))
    await membership.release([uid_layer_group("7")])
    assert order.positions == {}  # the next push starts the stream again: no gap read from a stale position


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
