"""pushapp.gateway on the in-memory layer: every helper, its bad inputs, and the sync twins."""

from __future__ import annotations

import datetime
import json
import threading
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from pushapp import gateway
from pushapp.exceptions import (
    AsyncContextError,
    InvalidClientId,
    InvalidGroup,
    InvalidUid,
    NestingTooDeep,
    SessionTooLarge,
)
from pushapp.protocol.frames import MAX_JSON_DEPTH
from tests.support.communicators import Client, clean_hub, connect

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)

OFFLINE = "0" * 48


async def marker(client: Client) -> None:
    """Prove ``client`` got nothing before a marker sent after the action under test."""
    await gateway.asend_to_client(client.client_id, "marker")
    assert await client.receive() == "marker"


async def test_send_to_client_reaches_only_that_connection() -> None:
    a, b = await connect(), await connect()
    await gateway.asend_to_client(a.client_id, {"to": "a"})
    assert await a.receive() == {"to": "a"}
    await marker(b)


async def test_send_to_uid_reaches_every_tab_of_the_user() -> None:
    tab1, tab2, other = await connect(uid=1), await connect(uid="1"), await connect(uid=2)
    await gateway.asend_to_uid(1, "hi")
    assert await tab1.receive() == "hi"
    assert await tab2.receive() == "hi"
    await marker(other)
    await gateway.asend_to_uid([1, 2], "both")
    assert [await c.receive() for c in (tab1, tab2, other)] == ["both"] * 3


async def test_send_to_groups_gives_one_copy_to_a_member_of_several() -> None:
    both = await connect(groups=("a", "b"))
    only_a, outsider = await connect(groups=("a",)), await connect()
    await gateway.asend_to_group(["a", "b"], "once")
    assert await both.receive() == "once"
    assert await only_a.receive() == "once"
    await marker(both)
    await marker(outsider)


async def test_send_to_group_and_all_honour_exclude() -> None:
    a, b = await connect(groups=("g",)), await connect(groups=("g",))
    await gateway.asend_to_group("g", "not a", exclude=[a.client_id])
    assert await b.receive() == "not a"
    await marker(a)
    await gateway.asend_to_all("all but b", exclude=[b.client_id])
    assert await a.receive() == "all but b"
    await marker(b)
    await gateway.asend_to_all("listed", client_ids=[a.client_id, b.client_id], exclude=[a.client_id])
    assert await b.receive() == "listed"
    await marker(a)


async def test_payload_encoding() -> None:
    client = await connect()
    await gateway.asend_to_client(client.client_id, {"at": datetime.date(2026, 1, 2), "n": Decimal("1.5")})
    assert (await client.receive_raw())["text"] == '{"type":"push","data":{"at":"2026-01-02","n":"1.5"}}'
    await gateway.asend_to_client(client.client_id, "plain ü")
    assert (await client.receive_raw())["text"] == '{"type":"push","data":"plain ü"}'
    await gateway.asend_to_client(client.client_id, b"\x00bin")
    assert (await client.receive_raw())["bytes"] == b"\x00bin"
    with pytest.raises(TypeError):
        await gateway.asend_to_client(client.client_id, {"x": object()})
    for not_json in (float("nan"), {"x": float("inf")}):
        with pytest.raises(ValueError):
            await gateway.asend_to_client(client.client_id, not_json)
    assert await client.nothing_more()


async def test_a_payload_shaped_like_a_server_frame_stays_data() -> None:
    client = await connect()
    forged = {"type": "welcome", "client_id": "f" * 48, "uid": "666", "proof": "x"}
    await gateway.asend_to_client(client.client_id, forged)
    assert json.loads((await client.receive_raw())["text"]) == {"type": "push", "data": forged}


@override_settings(PUSHAPP={"ENVELOPE": False})
async def test_envelope_off_sends_bare_frames() -> None:
    client = await connect()
    assert client.welcome["envelope"] is False
    await gateway.asend_to_client(client.client_id, {"a": 1})
    assert (await client.receive_raw())["text"] == '{"a":1}'
    await gateway.asend_to_client(client.client_id, "plain ü")
    assert (await client.receive_raw())["text"] == "plain ü"


async def test_any_str_uid_or_group_name_works() -> None:
    names = ["ann@example.com", "研发部 🚀", "g" * 300, "a b/c:d*"]
    client = await connect(uid="ann@example.com")
    for name in names:
        assert await gateway.ajoin_group(client.client_id, name)
        await gateway.asend_to_group(name, name)
        assert await client.receive() == name
    await gateway.asend_to_uid("ann@example.com", "uid")
    assert await client.receive() == "uid"


async def test_join_leave_and_ungroup() -> None:
    a, b = await connect(), await connect()
    assert await gateway.ajoin_group(a.client_id, "room")
    assert await gateway.ajoin_group(b.client_id, "room")
    await gateway.asend_to_group("room", 1)
    assert (await a.receive(), await b.receive()) == (1, 1)
    assert await gateway.aleave_group(a.client_id, "room")
    await gateway.asend_to_group("room", 2)
    assert await b.receive() == 2
    await marker(a)
    await gateway.aungroup("room")
    await gateway.asend_to_group("room", 3)
    await marker(b)


async def test_bind_moves_and_unbind() -> None:
    client = await connect(uid="old")
    assert await gateway.abind_uid(client.client_id, "new")
    await gateway.asend_to_uid(["old", "new"], "to new")
    assert await client.receive() == "to new"
    await gateway.asend_to_uid("old", "lost")
    await marker(client)
    assert not await gateway.aunbind_uid(client.client_id, "someone-else")
    assert await gateway.aunbind_uid(client.client_id, "new")
    await gateway.asend_to_uid("new", "lost")
    await marker(client)


async def test_sessions() -> None:
    client = await connect()
    assert await gateway.aget_session(client.client_id) == {}
    assert await gateway.aset_session(client.client_id, {"a": 1, "at": datetime.date(2026, 1, 2)})
    assert await gateway.aget_session(client.client_id) == {"a": 1, "at": "2026-01-02"}
    assert await gateway.aupdate_session(client.client_id, {"b": 2})
    assert await gateway.aget_session(client.client_id) == {"a": 1, "at": "2026-01-02", "b": 2}
    assert await gateway.aset_session(client.client_id, {"c": 3})
    assert await gateway.aget_session(client.client_id) == {"c": 3}
    with pytest.raises(TypeError):
        await gateway.aset_session(client.client_id, ["not", "a", "dict"])  # type: ignore[arg-type]
    await client.close()
    assert await gateway.aget_session(client.client_id) is None


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_session_values_nest_at_most_max_json_depth_on_every_python() -> None:
    """pushapp's own limit decides (32 lists and dicts, the session's own dict counted), not the
    interpreter's recursion limit, which moved in Python 3.13; a refused write changes nothing."""
    client = await connect()
    assert await gateway.aset_session(client.client_id, {"a": nested(MAX_JSON_DEPTH - 1)})
    for deep in (nested(MAX_JSON_DEPTH), nested(5000)):
        with pytest.raises(NestingTooDeep):
            await gateway.aupdate_session(client.client_id, {"b": deep})
        with pytest.raises(NestingTooDeep):
            await gateway.aset_session(client.client_id, {"b": deep})
    assert await gateway.aget_session(client.client_id) == {"a": nested(MAX_JSON_DEPTH - 1)}
    await client.close()


async def test_a_session_is_at_most_max_session_size_bytes() -> None:
    """Four updates of 1 MB grew one session to 3.7 MB; now a write that would pass the limit raises and
    changes nothing, an update measured merged."""
    with override_settings(PUSHAPP={"MAX_SESSION_SIZE": 100}):
        client = await connect()
        assert await gateway.aset_session(client.client_id, {"a": "x" * 50})
        with pytest.raises(SessionTooLarge):
            await gateway.aupdate_session(client.client_id, {"b": "y" * 50})  # 56 bytes each, over 100 merged
        with pytest.raises(SessionTooLarge):
            await gateway.aset_session(client.client_id, {"c": "z" * 200})
        assert await gateway.aget_session(client.client_id) == {"a": "x" * 50}
        await client.close()


async def test_close_client_sends_then_closes_and_forgets() -> None:
    client, other = await connect(uid="c", groups=("g",)), await connect()
    assert await gateway.aclose_client(client.client_id, {"bye": True})
    assert await client.receive() == {"bye": True}
    assert (await client.receive_raw()) == {"type": "websocket.close", "code": 1000}
    assert await gateway.aget_session(client.client_id) is None
    assert not await gateway.ajoin_group(client.client_id, "g")
    assert await gateway.adestroy_client(other.client_id)
    assert (await other.receive_raw()) == {"type": "websocket.close", "code": 4004}
    assert not await gateway.adestroy_client(other.client_id)


async def test_operations_on_offline_clients() -> None:
    await connect()  # a hub is running, but the id's node is not
    with override_settings(PUSHAPP={"CONTROL_TIMEOUT": 0.2}):
        assert not await gateway.ajoin_group(OFFLINE, "g")
        assert await gateway.aget_session(OFFLINE) is None
    await gateway.asend_to_client(OFFLINE, "nobody")  # raises nothing


@pytest.mark.parametrize("bad", ["", "xyz", "A" * 48, 42, None, "0" * 47])
async def test_malformed_client_ids_raise(bad: object) -> None:
    with pytest.raises(InvalidClientId):
        await gateway.asend_to_client(bad, "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidClientId):
        await gateway.ajoin_group(bad, "g")  # type: ignore[arg-type]
    with pytest.raises(InvalidClientId):
        await gateway.asend_to_all("x", exclude=[bad])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", ["", "x" * 1025, 3, None, b"bytes", "\ud800"])
async def test_invalid_group_names_raise(bad: object) -> None:
    with pytest.raises(InvalidGroup):
        await gateway.asend_to_group(bad, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", True, None, 1.5, ["nested", ["list"]]])
async def test_invalid_uids_raise(bad: object) -> None:
    with pytest.raises(InvalidUid):
        await gateway.asend_to_uid(bad, "x")  # type: ignore[arg-type]


async def test_sync_twins_from_a_thread_reach_the_hub() -> None:
    client = await connect(uid="sync")

    def sync_code() -> dict[str, object] | None:
        gateway.send_to_uid("sync", "from sync")
        gateway.join_group(client.client_id, "sg")
        gateway.send_to_group("sg", "group")
        gateway.set_session(client.client_id, {"k": "v"})
        return gateway.get_session(client.client_id)

    assert await sync_to_async(sync_code)() == {"k": "v"}
    assert await client.receive() == "from sync"
    assert await client.receive() == "group"


async def test_sync_twin_inside_an_event_loop_names_its_async_twin() -> None:
    with pytest.raises(AsyncContextError, match=r"await asend_to_uid\("):
        gateway.send_to_uid("u", "x")


def test_sync_sends_with_no_server_raise_nothing_and_reuse_one_loop() -> None:
    for _ in range(50):
        gateway.send_to_uid("nobody", "x")
        gateway.send_to_group("nobody", "x")
        gateway.send_to_all("x")
    assert [t.name for t in threading.enumerate()].count("pushapp-sync") == 1


def test_twins_have_names_and_docs() -> None:
    assert (gateway.send_to_uid.__name__, gateway.asend_to_uid.__name__) == ("send_to_uid", "asend_to_uid")
    assert gateway.send_to_uid.__doc__ == gateway.asend_to_uid.__doc__
    assert "tabs" in (gateway.send_to_uid.__doc__ or "")
    assert gateway.join_group.__name__ == "join_group"
    assert "ajoin_group" in (gateway.join_group.__doc__ or "")
