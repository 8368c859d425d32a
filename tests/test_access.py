"""Access ends when access ends: an expired token's connection closes with 4002 unless it refreshed, and
a revocation closes the uid's connections (or one session's) with 4008, in the in-memory layer's process.
The cluster-wide versions, through Redis and real servers, are in tests/test_access_cluster.py."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from pushapp import gateway, tokens
from pushapp.protocol import wire
from pushapp.protocol.names import uid_layer_group
from pushapp.runtime.layer import get_layer
from pushapp.server.hub import get_hub
from tests.support.communicators import Client, clean_hub, connect

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
        await get_layer().group_send(uid_layer_group("r"), wire.revoke("r"))
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
        await get_layer().group_send(uid_layer_group("r"), wire.revoke("r", session))
        assert await closed_with(laptop) == 4008
        await gateway.asend_to_uid("r", "the phone stays")
        assert await phone.receive() == "the phone stays"
        await phone.close()
