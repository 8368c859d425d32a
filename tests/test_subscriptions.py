"""Clients subscribe themselves; the project's AUTHORIZE_SUBSCRIBE function decides."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from pushapp import gateway
from pushapp.exceptions import SubscriptionRefused
from pushapp.testing import PushClient
from tests.support.communicators import clean_hub

# Receivers and sync hooks run through database_sync_to_async, which touches the database connection.
pytestmark = [pytest.mark.usefixtures(clean_hub.__name__), pytest.mark.django_db(transaction=True)]

asked: list[dict[str, Any]] = []


def can_subscribe(uid: str | None, session: dict[str, Any], scope: dict[str, Any], group: str) -> bool:
    """Sync, as most projects write it (it may use the ORM: it runs in a worker thread)."""
    asked.append({"uid": uid, "session": session, "path": scope["path"], "group": group})
    if group == "secret":
        raise SubscriptionRefused("staff only")
    if group == "boom":
        raise RuntimeError("bug in the hook")
    return group.startswith(f"user:{uid}:") or group == "lobby"


async def acan_subscribe(uid: str | None, session: dict[str, Any], scope: dict[str, Any], group: str) -> Any:
    return "yes" if group == "truthy" else group == "lobby"


def hook(name: str) -> Any:
    return override_settings(PUSHAPP={"AUTHORIZE_SUBSCRIBE": f"tests.test_subscriptions.{name}"})


async def test_an_allowed_subscription_is_a_group_membership() -> None:
    asked.clear()
    with hook("can_subscribe"):
        async with PushClient(uid=5) as client:
            await gateway.aset_session(client.client_id, {"plan": "pro"})
            assert await client.subscribe("user:5:orders") == {"type": "subscribed", "group": "user:5:orders"}
            assert await gateway.aget_client_id_list_by_group("user:5:orders") == [client.client_id]
            await gateway.asend_to_group("user:5:orders", {"n": 1})
            assert await client.receive() == {"n": 1}
            await client.send({"type": "unsubscribe", "group": "user:5:orders"})
            assert await client.receive_frame() == {"type": "unsubscribed", "group": "user:5:orders"}
            assert await gateway.aget_client_id_list_by_group("user:5:orders") == []
    assert asked == [{"uid": "5", "session": {"plan": "pro"}, "path": "/ws/push/", "group": "user:5:orders"}]


async def test_a_refused_subscription_says_why_and_joins_nothing() -> None:
    with hook("can_subscribe"):
        async with PushClient(uid=5) as client:
            assert await client.subscribe("user:6:orders") == {
                "type": "error",
                "code": "subscribe_refused",
                "detail": "not allowed",
                "group": "user:6:orders",
            }
            refused = await client.subscribe("secret")
            assert (refused["code"], refused["detail"]) == ("subscribe_refused", "staff only")
            broken = await client.subscribe("boom")
            assert (broken["code"], broken["detail"]) == ("subscribe_refused", "the server could not decide")
            assert await gateway.aget_all_group_id_list() == []


async def test_without_a_hook_every_subscription_is_refused() -> None:
    async with PushClient(uid=5) as client:
        answer = await client.subscribe("lobby")
        assert answer["code"] == "subscribe_refused"
        assert answer["detail"] == "subscriptions are not enabled on this server"


async def test_an_async_hook_must_return_true() -> None:
    with hook("acan_subscribe"):
        async with PushClient() as client:
            assert (await client.subscribe("lobby"))["type"] == "subscribed"
            assert (await client.subscribe("truthy"))["code"] == "subscribe_refused"


@pytest.mark.parametrize("group", ["", 5, None, "x" * 1025])
async def test_a_bad_group_is_an_error(group: Any) -> None:
    with hook("can_subscribe"):
        async with PushClient(uid=5) as client:
            answer = await client.subscribe(group)
            assert answer["type"] == "error"
            assert answer["code"] == "bad_group"
            assert answer["group"] == group


def test_check_e022() -> None:
    with override_settings(PUSHAPP={"PRESENCE_FRAMES": ["room:*", 5]}):
        assert "pushapp.E022" in [m.id for m in run_checks()]
    with override_settings(PUSHAPP={"PRESENCE_FRAMES": ["room:*"]}):
        assert "pushapp.E022" not in [m.id for m in run_checks()]


def test_check_e021() -> None:
    with override_settings(PUSHAPP={"AUTHORIZE_SUBSCRIBE": "tests.nowhere.can_subscribe"}):
        assert "pushapp.E021" in [m.id for m in run_checks()]
    with hook("can_subscribe"):
        assert "pushapp.E021" not in [m.id for m in run_checks()]


def allow_all(uid: str | None, session: dict[str, Any], scope: dict[str, Any], group: str) -> bool:
    """A permissive hook, as a project might write one by mistake."""
    asked.append({"group": group})
    return True


async def test_pushapps_own_groups_are_refused_before_the_hook_is_asked() -> None:
    """Even a hook that allows everything cannot hand out the dashboard's node reports (pushapp.watch)."""
    asked.clear()
    with override_settings(PUSHAPP={"AUTHORIZE_SUBSCRIBE": "tests.test_subscriptions.allow_all"}):
        async with PushClient(uid=5) as client:
            for group in ("pushapp.watch", "pushapp.anything"):
                answer = await client.subscribe(group)
                assert (answer["code"], answer["group"]) == ("subscribe_refused", group)
                assert "reserved" in answer["detail"]
            assert (await client.subscribe("lobby"))["type"] == "subscribed"
    assert asked == [{"group": "lobby"}]


async def test_a_hook_that_raises_is_reported_once_per_interval_and_the_connection_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with hook("can_subscribe"):
        async with PushClient(uid=5) as client:
            for _ in range(5):
                assert (await client.subscribe("boom"))["detail"] == "the server could not decide"
            assert (await client.subscribe("lobby"))["type"] == "subscribed"
    logged = [r for r in caplog.records if "AUTHORIZE_SUBSCRIBE raised" in r.getMessage()]
    assert len(logged) <= 1


async def test_a_connection_is_in_at_most_max_groups_per_connection() -> None:
    with override_settings(
        PUSHAPP={"AUTHORIZE_SUBSCRIBE": "tests.test_subscriptions.allow_all", "MAX_GROUPS_PER_CONNECTION": 2}
    ):
        async with PushClient(uid=5) as client:
            assert (await client.subscribe("a"))["type"] == "subscribed"
            assert await gateway.ajoin_group(client.client_id, "b")
            refused = await client.subscribe("c")
            assert (refused["code"], refused["group"]) == ("too_many_groups", "c")
            assert not await gateway.ajoin_group(client.client_id, "d")
            assert sorted(await gateway.aget_all_group_id_list()) == ["a", "b"]
            assert (await client.subscribe("a"))["type"] == "subscribed"  # already in: not one more
