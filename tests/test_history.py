"""History and recovery on the in-memory layer and backend: positions in the welcome and the envelope,
replay after a reconnect, and the cases where recovery must say ``false``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from pushapp import gateway
from pushapp.checks import check_settings
from tests.support.communicators import Client, clean_hub, connect

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)

UID_HISTORY = {"HISTORY": {"uid": {"size": 5, "ttl": 600}}}
ALL_KINDS = {"HISTORY": {"uid": {"size": 5}, "group": {"size": 5, "only": "room:*"}, "all": {"size": 5}}}


async def pushes(client: Client, count: int) -> list[dict[str, Any]]:
    return [await client.receive_frame() for _ in range(count)]


@override_settings(PUSHAPP=UID_HISTORY)
async def test_the_welcome_gives_positions_and_every_push_carries_its_own() -> None:
    client = await connect(uid=42)
    streams = client.welcome["streams"]
    assert list(streams) == ["uid:42"] and streams["uid:42"]["offset"] == 0
    epoch = streams["uid:42"]["epoch"]
    for n in range(3):
        await gateway.asend_to_uid(42, {"n": n})
    assert await pushes(client, 3) == [
        {"type": "push", "stream": "uid:42", "offset": n + 1, "epoch": epoch, "data": {"n": n}}
        for n in range(3)
    ]


@override_settings(PUSHAPP=UID_HISTORY)
async def test_a_reconnecting_client_gets_what_it_missed_in_order_then_recovered_true() -> None:
    first = await connect(uid=42)
    epoch = first.welcome["streams"]["uid:42"]["epoch"]
    await gateway.asend_to_uid(42, "one")
    assert (await first.receive_frame())["offset"] == 1
    await first.close()
    for text in ("two", "three"):
        await gateway.asend_to_uid(42, text)
    again = await connect(uid=42, recover={"uid:42": {"offset": 1, "epoch": epoch}})
    assert again.welcome["streams"]["uid:42"] == {"offset": 3, "epoch": epoch}
    replay = await pushes(again, 2)
    assert [(p["offset"], p["data"]) for p in replay] == [(2, "two"), (3, "three")]
    assert await again.receive_frame() == {"type": "recovered", "streams": {"uid:42": True}}
    await gateway.asend_to_uid(42, "four")
    assert (await again.receive_frame())["offset"] == 4
    assert await again.nothing_more()


@override_settings(PUSHAPP=UID_HISTORY)
async def test_recovery_says_false_when_it_cannot_replay_everything() -> None:
    client = await connect(uid=7, groups=("g",))
    epoch = client.welcome["streams"]["uid:7"]["epoch"]
    await client.close()
    for n in range(6):  # one more than the stream keeps
        await gateway.asend_to_uid(7, n)
    cases = {
        "too old": {"uid:7": {"offset": 0, "epoch": epoch}},
        "another epoch": {"uid:7": {"offset": 6, "epoch": "0" * 16}},
        "from the future": {"uid:7": {"offset": 99, "epoch": epoch}},
        "not its stream": {"uid:8": {"offset": 0, "epoch": epoch}},
        "a group without history": {"group:g": {"offset": 0, "epoch": epoch}},
    }
    for name, recover in cases.items():
        again = await connect(uid=7, groups=("g",), recover=recover)
        assert await again.receive_frame() == {
            "type": "recovered",
            "streams": dict.fromkeys(recover, False),
        }, name
        assert await again.nothing_more(), name
        await again.close()
    caught_up = await connect(uid=7, recover={"uid:7": {"offset": 6, "epoch": epoch}})
    assert await caught_up.receive_frame() == {"type": "recovered", "streams": {"uid:7": True}}


@override_settings(PUSHAPP=UID_HISTORY)
async def test_malformed_recover_entries_are_ignored() -> None:
    client = await connect(
        uid=1, recover={"uid:1": {"offset": "x"}, "uid:2": 5, "uid:3": {"offset": -1, "epoch": "e"}}
    )
    assert await client.receive_frame() == {"type": "recovered", "streams": {}}
    not_a_dict = await connect(uid=1, recover=["uid:1"])  # type: ignore[arg-type]
    assert await not_a_dict.nothing_more()


@override_settings(PUSHAPP=ALL_KINDS)
async def test_groups_chosen_by_pattern_and_the_all_stream() -> None:
    client = await connect(uid=1, groups=("room:1", "lobby"))
    assert sorted(client.welcome["streams"]) == ["all", "group:room:1", "uid:1"]
    await gateway.asend_to_group(["room:1", "lobby"], "hi")
    frames = await pushes(client, 2)
    assert sorted((f.get("stream", ""), f["data"]) for f in frames) == [("", "hi"), ("group:room:1", "hi")]
    await gateway.asend_to_all("everyone")
    assert (await client.receive_frame())["stream"] == "all"
    await gateway.asend_to_uid(1, b"\x00")  # bytes are never kept: a binary frame, no position
    assert (await client.receive_raw())["bytes"] == b"\x00"
    await gateway.asend_to_client(client.client_id, "direct")  # client ids are not streams
    assert await client.receive_frame() == {"type": "push", "data": "direct"}


@override_settings(PUSHAPP={"HISTORY": {"group": {"size": 5}}})
async def test_exclude_holds_on_streams_with_history() -> None:
    client, other = await connect(uid=1, groups=("room",)), await connect(uid=2, groups=("room",))
    await gateway.asend_to_group("room", "not for other", exclude=[other.client_id])
    assert (await client.receive_frame())["data"] == "not for other"
    assert await other.nothing_more()


def test_history_settings_are_checked() -> None:
    def ids(settings: dict[str, Any]) -> list[str | None]:
        with override_settings(PUSHAPP=settings):
            return [m.id for m in check_settings() if isinstance(m, checks.CheckMessage)]

    assert ids(UID_HISTORY) == []
    assert ids(ALL_KINDS) == []
    assert ids({"HISTORY": {"users": {"size": 5}}}) == ["pushapp.E010"]
    assert ids({"HISTORY": {"uid": {"size": 0}}}) == ["pushapp.E010"]
    assert ids({"HISTORY": {"uid": {"size": 5, "only": "x"}}}) == ["pushapp.E010"]
    assert ids({"HISTORY": {"uid": {"size": 5}}, "ENVELOPE": False}) == ["pushapp.E011"]
