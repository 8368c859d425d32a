"""Delivery on the in-memory layer and backend (docs/delivery.md): what one process honours by itself.
The cluster-wide behaviour, on Redis, is tests/test_delivery_cluster.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from pushapp import gateway, signals
from pushapp.tokens import issue_token
from tests.support.communicators import Client, clean_hub, connect, open_socket
from tests.support.waiting import await_until

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)

HISTORY = {"HISTORY": {"uid": {"size": 5, "ttl": 600}, "group": {"size": 5, "only": "kept*"}}}


async def data_until(client: Client, marker: Any) -> list[dict[str, Any]]:
    found = []
    while (frame := await client.receive_frame())["data"] != marker:
        found.append(frame)
    return found


@override_settings(PUSHAPP=HISTORY)
async def test_a_key_sends_once_in_this_process_with_or_without_history() -> None:
    client = await connect(uid=1, groups=("kept", "plain"))
    for _ in range(2):
        await gateway.asend_to_uid(1, "uid", idempotency_key="k-uid")
        await gateway.asend_to_group(["kept", "plain"], "groups", idempotency_key="k-groups")
        await gateway.asend_to_client(client.client_id, "client", idempotency_key="k-client")
    await gateway.asend_to_uid(1, "end")
    assert sorted(f["data"] for f in await data_until(client, "end")) == ["client", "groups", "groups", "uid"]


@override_settings(PUSHAPP=HISTORY)
async def test_a_stale_version_is_dropped_and_a_push_carries_its_version() -> None:
    client = await connect(uid=1)
    for version in (1, 3, 2, 3, 4):
        await gateway.asend_to_uid(1, version, version=version)
    await gateway.asend_to_uid(1, "end")
    frames = await data_until(client, "end")
    assert [(f["offset"], f["version"], f["data"]) for f in frames] == [(1, 1, 1), (2, 3, 3), (3, 4, 4)]


def test_options_are_checked_at_the_call() -> None:
    with pytest.raises(ValueError, match="needs history"):
        gateway.send_to_uid(1, "x", version=1)
    with pytest.raises(ValueError, match="needs history"):
        gateway.send_to_uid(1, "x", ack_within=5)
    with override_settings(PUSHAPP=HISTORY):
        with pytest.raises(ValueError, match="version must be"):
            gateway.send_to_uid(1, "x", version=-1)
        with pytest.raises(ValueError, match="ack_within must be"):
            gateway.send_to_uid(1, "x", ack_within=0)
        with pytest.raises(ValueError, match="needs history"):
            gateway.send_to_group(["kept", "plain"], "x", version=1)
    with pytest.raises(ValueError, match="idempotency_key"):
        gateway.send_to_uid(1, "x", idempotency_key="")


@override_settings(PUSHAPP=HISTORY)
async def test_latest_in_the_auth_frame_and_acks_recorded_per_uid() -> None:
    for n in range(3):
        await gateway.asend_to_uid(1, n)
    communicator = await open_socket()
    auth = {"type": "auth", "token": issue_token(1, ("kept",)), "latest": ["uid", "group:kept", 7]}
    await communicator.send_to(text_data=json.dumps(auth))
    assert json.loads(await communicator.receive_from())["type"] == "welcome"
    client = Client(communicator, {"client_id": ""})
    last = await client.receive_frame()
    assert (last["stream"], last["offset"], last["data"]) == ("uid:1", 3, 2)  # group:kept has none yet
    await client.send({"type": "ack", "stream": "uid:1", "offset": 3})
    await client.send({"type": "ack", "stream": "uid:1", "offset": 4})
    error = await client.receive_frame()
    assert (error["code"], error["reason"]) == ("bad_ack", "beyond_head")
    assert await gateway.aget_acked_offset(1) == 3
    assert await gateway.aget_acked_offset(1, stream="group:kept") is None


@override_settings(PUSHAPP={**HISTORY, "ACK_SWEEP_INTERVAL": 0.05})
async def test_push_unacknowledged_fires_for_the_push_nobody_acked(db: None) -> None:
    """Receivers run where the ORM is safe (a worker thread): the ``db`` fixture lets them."""
    fired: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        fired.append(kwargs)

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the project's bug")

    signals.push_unacknowledged.connect(broken)  # first: the next receiver still runs
    signals.push_unacknowledged.connect(receiver)
    try:
        client = await connect(uid=1)  # its hub sweeps
        await gateway.asend_to_uid(1, "acked", ack_within=60)
        await client.send(
            {"type": "ack", "stream": "uid:1", "offset": (await client.receive_frame())["offset"]}
        )
        await gateway.asend_to_uid(2, {"mail": True}, ack_within=0.1)
        await await_until(lambda: fired, "push_unacknowledged")
        assert fired == [
            {
                "signal": signals.push_unacknowledged,
                "uid": "2",
                "data": {"mail": True},
                "stream": "uid:2",
                "offset": 1,
            }
        ]
    finally:
        signals.push_unacknowledged.disconnect(broken)
        signals.push_unacknowledged.disconnect(receiver)


@override_settings(
    PUSHAPP={
        **HISTORY,
        "AUTHORIZE_SUBSCRIBE": "tests.test_subscriptions.allow_all",
        "MAX_GROUPS_PER_CONNECTION": 1,
    }
)
async def test_a_subscribe_may_ask_for_its_groups_last_push() -> None:
    for n in range(2):
        await gateway.asend_to_group("kept", n, version=n)
    client = await connect(uid=1)
    await client.send({"type": "subscribe", "group": "kept", "latest": True})
    assert await client.receive_frame() == {"type": "subscribed", "group": "kept"}
    last = await client.receive_frame()
    assert (last["stream"], last["offset"], last["version"], last["data"]) == ("group:kept", 2, 1, 1)
    await client.send({"type": "subscribe", "group": "kept2", "latest": True})  # over the limit
    assert (await client.receive_frame())["code"] == "too_many_groups"
    await gateway.asend_to_uid(1, "still served")
    assert (await client.receive_frame())["data"] == "still served"
