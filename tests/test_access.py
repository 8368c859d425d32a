"""Access ends when access ends: an expired token's connection closes with 4002 unless it refreshed, and
a revocation closes the uid's connections (or one session's) with 4008, in the in-memory layer's process.
The cluster-wide versions, through Redis and real servers, are in tests/test_access_cluster.py."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User, update_last_login
from django.test import Client as DjangoClient
from django.test import override_settings

from pushapp import gateway, tokens
from pushapp.protocol import wire
from pushapp.protocol.names import ALL_GROUP
from pushapp.runtime.layer import get_layer
from pushapp.server.hub import get_hub
from tests.support.communicators import Client, clean_hub, connect, open_socket

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)

#: A sweep every 50 ms that never closes a silent test client for its silence.
QUICK_SWEEP = {"PING_INTERVAL": 0.1, "PING_NOT_RESPONSE_LIMIT": 1000}


async def closed_with(client: Client, timeout: float = 5) -> int:
    while True:
        output = await client.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            code: int = output["code"]
            return code


async def test_a_connection_closes_with_4002_when_its_token_expires_unless_refreshed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with override_settings(PUSHAPP={**QUICK_SWEEP, "TOKEN_MAX_AGE": 1}):
        stale, fresh = await connect(uid="s"), await connect(uid="f")
        assert stale.welcome["expires"] == pytest.approx(time.time() + 1, abs=1)
        real = time.time
        monkeypatch.setattr(tokens.time, "time", lambda: real() + 30)  # minted later (within the skew)
        later_token = tokens.issue_token("f")
        monkeypatch.undo()
        await fresh.send({"type": "refresh", "token": later_token})
        assert (await fresh.receive())["type"] == "refreshed"
        assert await closed_with(stale) == 4002
        hub = await get_hub()
        assert hub.registry.get(fresh.client_id) is not None
        await gateway.asend_to_uid("f", "refreshed in time")
        assert await fresh.receive() == "refreshed in time"
        await fresh.close()


async def test_a_revocation_closes_the_uids_connections_with_4008() -> None:
    with override_settings(PUSHAPP=QUICK_SWEEP):
        tab, phone, other = await connect(uid="r"), await connect(uid="r"), await connect(uid="o")
        await get_layer().group_send(ALL_GROUP, wire.revoke("r", None, time.time()))
        assert await closed_with(tab) == 4008
        assert await closed_with(phone) == 4008
        await gateway.asend_to_uid("o", "not revoked")
        assert await other.receive() == "not revoked"
        await other.close()


async def test_a_session_revocation_closes_only_that_sessions_connections() -> None:
    with override_settings(PUSHAPP=QUICK_SWEEP):
        laptop = await connect(uid="r", session_key="laptop-session-key")
        phone = await connect(uid="r", session_key="phone-session-key")
        session = tokens.session_hash("laptop-session-key")
        await get_layer().group_send(ALL_GROUP, wire.revoke("r", session, time.time()))
        assert await closed_with(laptop) == 4008
        await gateway.asend_to_uid("r", "the phone stays")
        assert await phone.receive() == "the phone stays"
        await phone.close()


async def handshake(token: str) -> int | dict[str, Any]:
    """The close code a fresh connection with ``token`` gets, or its welcome."""
    communicator = await open_socket()
    await communicator.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    output = await communicator.receive_output(5)
    if output["type"] == "websocket.close":
        code: int = output["code"]
        return code
    await communicator.disconnect()
    welcome: dict[str, Any] = json.loads(output["text"])
    return welcome


async def test_revoke_uid_closes_every_connection_and_refuses_earlier_tokens() -> None:
    with override_settings(PUSHAPP=QUICK_SWEEP):
        earlier = tokens.issue_token("v")
        first, second, bystander = await connect(uid="v"), await connect(uid="v"), await connect(uid="b")
        await gateway.arevoke_uid("v")
        assert await closed_with(first) == 4008
        assert await closed_with(second) == 4008
        assert await handshake(earlier) == 4008
        welcome = await handshake(tokens.issue_token("v"))  # minted after the revocation
        assert isinstance(welcome, dict) and welcome["uid"] == "v"
        await gateway.asend_to_uid("b", "untouched")
        assert await bystander.receive() == "untouched"
        await bystander.close()


async def test_concurrent_connects_cannot_pass_the_per_uid_cap_together() -> None:
    """The cap is checked and reserved in one step: 50 connects at once under a cap of 3 welcome 3."""
    with override_settings(PUSHAPP={**QUICK_SWEEP, "MAX_CONNECTIONS_PER_UID": 3}):
        outcomes = await asyncio.gather(*(handshake(tokens.issue_token("capped")) for _ in range(50)))
        assert sum(isinstance(o, dict) for o in outcomes) == 3
        assert sorted(set(o for o in outcomes if not isinstance(o, dict))) == [4006]


@pytest.mark.django_db(transaction=True)
async def test_logout_closes_that_sessions_connections_and_refuses_its_tokens() -> None:
    user = await sync_to_async(User.objects.create_user)("leaving", password="pw")
    laptop, phone = DjangoClient(), DjangoClient()
    await sync_to_async(laptop.force_login)(user)
    await sync_to_async(phone.force_login)(user)
    laptop_token = (await sync_to_async(laptop.get)("/pushapp/token/")).json()["token"]
    phone_token = (await sync_to_async(phone.get)("/pushapp/token/")).json()["token"]
    with override_settings(PUSHAPP=QUICK_SWEEP):
        on_laptop, on_phone = await connect_with(laptop_token), await connect_with(phone_token)
        await sync_to_async(laptop.logout)()
        assert await closed_with(on_laptop) == 4008
        assert await handshake(laptop_token) == 4008
        await gateway.asend_to_uid(user.pk, "the phone's session goes on")
        assert await on_phone.receive() == "the phone's session goes on"
        await on_phone.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["password", "deactivate"])
async def test_a_password_change_or_deactivation_revokes_the_uid(change: str) -> None:
    user = await sync_to_async(User.objects.create_user)("changing", password="pw")
    with override_settings(PUSHAPP=QUICK_SWEEP):
        earlier = tokens.issue_token(user.pk)
        open_socket_of_user = await connect(uid=user.pk)

        def save() -> None:
            if change == "password":
                user.set_password("new")
            else:
                user.is_active = False
            user.save()

        await sync_to_async(save)()
        assert await closed_with(open_socket_of_user) == 4008
        assert await handshake(earlier) == 4008


@pytest.mark.django_db(transaction=True)
async def test_saves_that_touch_neither_field_revoke_nothing() -> None:
    user = await sync_to_async(User.objects.create_user)("staying", password="pw")
    with override_settings(PUSHAPP=QUICK_SWEEP):
        client = await connect(uid=user.pk)
        user.first_name = "Still"
        await sync_to_async(user.save)()
        await sync_to_async(update_last_login)(None, user)
        await gateway.asend_to_uid(user.pk, "still here")
        assert await client.receive() == "still here"
        await client.close()


@pytest.mark.django_db(transaction=True)
async def test_each_automatic_revocation_can_be_turned_off() -> None:
    user = await sync_to_async(User.objects.create_user)("kept", password="pw")
    off = {**QUICK_SWEEP, "REVOKE_ON_PASSWORD_CHANGE": False, "REVOKE_ON_DEACTIVATE": False}
    with override_settings(PUSHAPP=off):
        client = await connect(uid=user.pk)
        user.set_password("new")
        user.is_active = False
        await sync_to_async(user.save)()
        await gateway.asend_to_uid(user.pk, "kept open")
        assert await client.receive() == "kept open"
        await client.close()


async def connect_with(token: str) -> Client:
    communicator = await open_socket()
    await communicator.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    welcome = json.loads(await communicator.receive_from())
    assert welcome["type"] == "welcome", welcome
    return Client(communicator, welcome)
