"""The query API, one suite run against both presence backends: memory, and Redis (a real server, with
the in-process hub on the channels-redis pub/sub layer)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import override_settings

from pushapp import gateway, queries
from pushapp.exceptions import AsyncContextError, InvalidClientId, InvalidGroup, InvalidUid
from pushapp.presence import get_backend
from pushapp.presence.redis import RedisBackend
from pushapp.server.hub import stop_hub
from tests.support.communicators import Client, connect

OFFLINE = "0" * 48


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "memory":
        yield "memory"
    else:
        url = request.getfixturevalue("redis_url")  # a real, private Redis
        layers = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [url], "prefix": f"q{secrets.token_hex(4)}."},
            }
        }
        with override_settings(CHANNEL_LAYERS=layers):
            assert isinstance(get_backend(), RedisBackend)
            yield "redis"
            await _teardown()
        return
    await _teardown()


async def _teardown() -> None:
    await stop_hub()
    presence = get_backend()
    if isinstance(presence, RedisBackend):
        await presence.aclose()
        if presence._sync is not None:
            presence._sync.close()
    await get_channel_layer().flush()


@pytest.fixture
async def clients(backend: str) -> AsyncIterator[dict[str, Client]]:
    """a: uid u1, groups g1 g2; b: uid u1, group g1; c: no uid, group g2."""
    made = {
        "a": await connect(uid="u1", groups=("g1", "g2")),
        "b": await connect(uid="u1", groups=("g1",)),
        "c": await connect(groups=("g2",)),
    }
    yield made
    for client in made.values():
        await client.close()


def ids(clients: dict[str, Client], names: str) -> list[str]:
    return sorted(clients[n].client_id for n in names)


async def test_online_and_uids(clients: dict[str, Client]) -> None:
    a, c = clients["a"].client_id, clients["c"].client_id
    assert await queries.ais_online(a) is True
    assert await queries.ais_online(OFFLINE) is False
    assert await queries.ais_uid_online("u1") is True
    assert await queries.ais_uid_online("nobody") is False
    assert await queries.aare_uids_online(["u1", "nobody"]) == {"u1": True, "nobody": False}
    assert sorted(await queries.aget_client_id_by_uid("u1")) == ids(clients, "ab")
    by_uids = await queries.aget_client_ids_by_uids(["u1", "nobody"])
    assert {k: sorted(v) for k, v in by_uids.items()} == {"u1": ids(clients, "ab"), "nobody": []}
    assert await queries.aget_uid_by_client_id(a) == "u1"
    assert await queries.aget_uid_by_client_id(c) is None
    assert await queries.aget_uid_by_client_id(OFFLINE) is None


async def test_groups_and_counts(clients: dict[str, Client]) -> None:
    assert sorted(await queries.aget_client_id_list_by_group("g1")) == ids(clients, "ab")
    assert sorted(await queries.aget_client_id_list_by_group("")) == ids(clients, "abc")
    assert await queries.aget_client_count_by_group("g2") == 2
    assert await queries.aget_client_count_by_group("") == 3
    assert await queries.aget_client_count_by_group() == 3
    assert await queries.aget_client_count_by_groups(["g1", "g2", "none"]) == {"g1": 2, "g2": 2, "none": 0}
    assert await queries.aget_uid_list_by_group("g2") == ["u1"]  # c has no uid and does not hide a's
    assert await queries.aget_uid_count_by_group("g1") == 1
    assert sorted(await queries.aget_all_client_id_list()) == ids(clients, "abc")
    assert await queries.aget_all_client_count() == 3
    assert await queries.aget_all_uid_list() == ["u1"]
    assert await queries.aget_all_uid_count() == 1
    assert sorted(await queries.aget_all_group_id_list()) == ["g1", "g2"]
    assert await queries.aget_all_group_uid_list() == {"g1": ["u1"], "g2": ["u1"]}
    assert await queries.aget_all_group_uid_count() == {"g1": 1, "g2": 1}
    members = await queries.aget_all_group_client_id_list()
    assert {g: sorted(m) for g, m in members.items()} == {"g1": ids(clients, "ab"), "g2": ids(clients, "ac")}
    assert await queries.aget_all_group_client_id_count() == {"g1": 2, "g2": 2}


async def test_sessions(clients: dict[str, Client]) -> None:
    a, b = clients["a"].client_id, clients["b"].client_id
    assert await gateway.aset_session(a, {"name": "ann"})
    assert await queries.aget_client_sessions_by_group("g1") == {a: {"name": "ann"}, b: {}}
    everyone = await queries.aget_all_client_sessions()
    assert everyone[a] == {"name": "ann"}
    assert set(everyone) == set(ids(clients, "abc"))
    assert await queries.aget_all_client_sessions("g2") == {a: {"name": "ann"}, clients["c"].client_id: {}}
    assert await gateway.aupdate_session(a, {"x": 1})
    assert (await queries.aget_client_sessions_by_group(""))[a] == {"name": "ann", "x": 1}


async def test_answers_follow_changes_at_once(clients: dict[str, Client]) -> None:
    c = clients["c"]
    assert await gateway.abind_uid(c.client_id, "u2")
    assert await queries.ais_uid_online("u2")
    assert await gateway.ajoin_group(c.client_id, "g3")
    assert await queries.aget_client_id_list_by_group("g3") == [c.client_id]
    assert await gateway.aleave_group(c.client_id, "g3")
    assert await queries.aget_all_group_id_list() != [] and "g3" not in await queries.aget_all_group_id_list()
    assert await gateway.abind_uid(c.client_id, "u3")  # moves: u2 is gone
    assert await queries.aare_uids_online(["u2", "u3"]) == {"u2": False, "u3": True}
    await gateway.aungroup("g2")
    await gateway.asend_to_client(c.client_id, "sync point")  # after the ungroup, in the same hub
    assert await c.receive() == "sync point"
    assert await queries.aget_client_count_by_group("g2") == 0
    await c.close()
    assert await queries.ais_online(c.client_id) is False
    assert await queries.ais_uid_online("u3") is False
    assert await queries.aget_all_client_count() == 2


async def test_online_agrees_with_delivery(clients: dict[str, Client]) -> None:
    for uid in ("u1", "nobody"):
        online = await queries.ais_uid_online(uid)
        await gateway.asend_to_uid(uid, "ping")
        reached = [not await clients[n].nothing_more() for n in "ab"]
        assert any(reached) == online
        for n, got in zip("ab", reached, strict=True):
            if got:
                assert await clients[n].receive() == "ping"


async def test_sync_twins_from_a_thread(clients: dict[str, Client]) -> None:
    def sync_code() -> tuple[bool, int, list[str]]:
        return queries.is_uid_online("u1"), queries.get_all_client_count(), queries.get_all_uid_list()

    assert await sync_to_async(sync_code)() == (True, 3, ["u1"])
    with pytest.raises(AsyncContextError, match="ais_online"):
        queries.is_online(OFFLINE)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: queries.ais_online("bad"), InvalidClientId),
        (lambda: queries.aget_uid_by_client_id(42), InvalidClientId),
        (lambda: queries.ais_uid_online(None), InvalidUid),
        (lambda: queries.aget_client_id_list_by_group(3), InvalidGroup),
        (lambda: queries.aget_uid_list_by_group(""), InvalidGroup),
    ],
)
async def test_bad_input_raises(backend: str, call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        await call()
