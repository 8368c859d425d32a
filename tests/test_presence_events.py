"""Presence events in one process (the memory backend): signals once per uid and per group member, and
presence frames to the members of opted-in groups. Across processes: tests/test_presence_events_cluster.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.dispatch import Signal
from django.test import override_settings

from pushapp import gateway
from pushapp.presence.events import Counts, decode, group_field, net, uid_field
from pushapp.signals import group_member_joined, group_member_left, uid_offline, uid_online
from pushapp.testing import PushClient
from tests.support.communicators import clean_hub
from tests.support.waiting import await_until

# Receivers and sync hooks run through database_sync_to_async, which touches the database connection.
pytestmark = [pytest.mark.usefixtures(clean_hub.__name__), pytest.mark.django_db(transaction=True)]

SIGNALS: dict[str, Signal] = {
    "online": uid_online,
    "offline": uid_offline,
    "joined": group_member_joined,
    "left": group_member_left,
}


@pytest.fixture
def fired() -> Iterator[list[tuple[Any, ...]]]:
    """Every presence signal, as (name, uid[, group]), in the order fired."""
    seen: list[tuple[Any, ...]] = []
    receivers = []
    for name, signal in SIGNALS.items():

        def receiver(sender: Any, uid: str, group: str | None = None, name: str = name, **kw: Any) -> None:
            assert sender is None
            seen.append((name, uid) if group is None else (name, uid, group))

        signal.connect(receiver, weak=False)
        receivers.append((signal, receiver))
    yield seen
    for signal, receiver in receivers:
        signal.disconnect(receiver)


async def test_first_and_last_connection_of_a_uid(fired: list[tuple[Any, ...]]) -> None:
    a = await PushClient(uid=1, groups=("g",)).connect()
    b = await PushClient(uid=1).connect()
    await await_until(lambda: len(fired) == 2, "online and joined")
    assert fired == [("online", "1"), ("joined", "1", "g")]
    await gateway.ajoin_group(b.client_id, "g")  # a second member of the same uid: nothing
    await a.disconnect()
    await gateway.ajoin_group(b.client_id, "h")  # the barrier: events come in order
    await await_until(lambda: len(fired) == 3, "joined h")
    await b.disconnect()
    await await_until(lambda: len(fired) == 6, "left and offline")
    assert fired[:3] == [("online", "1"), ("joined", "1", "g"), ("joined", "1", "h")]
    assert sorted(fired[3:5]) == [("left", "1", "g"), ("left", "1", "h")]  # groups are a set
    assert fired[5] == ("offline", "1")


async def test_bind_moves_a_connection_between_uids(fired: list[tuple[Any, ...]]) -> None:
    anonymous = await PushClient(groups=("g",)).connect()
    assert await gateway.abind_uid(anonymous.client_id, "x")
    await await_until(lambda: len(fired) == 2, "x online")
    assert await gateway.abind_uid(anonymous.client_id, "y")
    await await_until(lambda: len(fired) == 6, "x off, y on")
    assert await gateway.aleave_group(anonymous.client_id, "g")
    await gateway.aungroup("g")
    await await_until(lambda: len(fired) == 7, "y left g")
    assert fired == [
        ("online", "x"),
        ("joined", "x", "g"),
        ("left", "x", "g"),
        ("offline", "x"),
        ("online", "y"),
        ("joined", "y", "g"),
        ("left", "y", "g"),
    ]
    await anonymous.disconnect()


async def test_anonymous_connections_have_no_events(fired: list[tuple[Any, ...]]) -> None:
    anonymous = await PushClient(groups=("g",)).connect()
    await anonymous.disconnect()
    marker = await PushClient(uid="m").connect()
    await await_until(lambda: fired, "the marker")
    assert fired == [("online", "m")]
    await marker.disconnect()


async def test_members_of_opted_in_groups_get_presence_frames() -> None:
    with override_settings(PUSHAPP={"PRESENCE_FRAMES": ["room:*"]}):
        watcher = await PushClient(uid="w", groups=("room:1", "other")).connect()
        assert await watcher.receive_frame() == {
            "type": "presence",
            "group": "room:1",
            "event": "join",
            "uid": "w",
        }
        guest = await PushClient(uid="g", groups=("room:1", "other")).connect()
        assert await watcher.receive_frame() == {
            "type": "presence",
            "group": "room:1",
            "event": "join",
            "uid": "g",
        }
        again = await PushClient(uid="g", groups=("room:1",)).connect()  # the same uid: no frame
        await again.disconnect()
        await guest.disconnect()
        assert await watcher.receive_frame() == {
            "type": "presence",
            "group": "room:1",
            "event": "leave",
            "uid": "g",
        }
        assert await watcher.receive_nothing()  # not for "other", which did not opt in
        await watcher.disconnect()


def test_counts_cross_zero_once() -> None:
    counts = Counts()
    u = "+" + uid_field("7")
    assert counts.apply("a", [u]) == [u]
    assert counts.apply("b", [u]) == []
    assert counts.apply("a", ["-" + uid_field("7")]) == []
    assert counts.apply("a", ["-" + uid_field("7")]) == []  # a never had it twice: ignored
    assert counts.release("b") == ["-" + uid_field("7")]


def test_fields_round_trip_any_names() -> None:
    group, uid = "a:b:3:x", "7:9"
    event = decode("+" + group_field(group, uid))
    assert (event.kind, event.group, event.uid) == ("join", group, uid)
    assert decode("-" + uid_field(uid)).kind == "offline"
    assert net(["-ux", "-uy", "+ux"]) == ["-uy"]


async def test_toggling_a_membership_cannot_multiply_presence_frames() -> None:
    """Frames are coalesced per (uid, group): 20 joins and 20 leaves by one uid reach a room's member as
    far fewer frames than events (one per window at most), ending in the true state."""
    with override_settings(PUSHAPP={"PRESENCE_FRAMES": ["room:*"]}):
        watcher = await PushClient(uid="w", groups=("room:1",)).connect()
        assert (await watcher.receive_frame())["uid"] == "w"
        toggler = await PushClient(uid="t").connect()
        for _ in range(20):
            assert await gateway.ajoin_group(toggler.client_id, "room:1")
            assert await gateway.aleave_group(toggler.client_id, "room:1")
        assert await gateway.ajoin_group(toggler.client_id, "room:1")  # ends inside
        frames = [await watcher.receive_frame()]
        while frames[-1]["event"] != "join" or not await watcher.receive_nothing(timeout=1):
            frames.append(await watcher.receive_frame())
        assert all(frame["uid"] == "t" for frame in frames)
        assert len(frames) < 41  # 41 events: one frame each, before
        await toggler.disconnect()
        await watcher.disconnect()
