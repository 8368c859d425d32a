"""The recipe of docs/presence.md, "Users who are not online": push if online, otherwise e-mail."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.core.mail import send_mail

from pushapp import gateway
from pushapp.testing import PushClient
from tests.support.communicators import clean_hub

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)


# -- the recipe, as docs/presence.md shows it ------------------------------------------------------------
def notify(user: Any, message: str) -> str:
    """Push to the user's open pages; e-mail them when they have none. Says which it did."""
    if gateway.is_uid_online(user.pk):
        gateway.send_to_uid(user.pk, {"type": "notify", "message": message})
        return "pushed"
    send_mail("News from example.com", message, None, [user.email])
    return "mailed"


# --------------------------------------------------------------------------------------------------------

ALICE = SimpleNamespace(pk=42, email="alice@example.com")


async def test_an_online_user_gets_the_push_and_no_mail(mailoutbox: list[Any]) -> None:
    async with PushClient(uid=ALICE.pk) as page:
        assert await sync_to_async(notify)(ALICE, "your order shipped") == "pushed"
        assert await page.receive() == {"type": "notify", "message": "your order shipped"}
    assert mailoutbox == []


async def test_a_user_with_no_open_page_gets_a_mail(mailoutbox: list[Any]) -> None:
    async with PushClient(uid=7):  # someone else is online
        assert await sync_to_async(notify)(ALICE, "your order shipped") == "mailed"
    assert [(m.subject, m.to, m.body) for m in mail.outbox] == [
        ("News from example.com", ["alice@example.com"], "your order shipped")
    ]


async def test_the_last_page_closing_makes_the_user_offline_at_once(mailoutbox: list[Any]) -> None:
    page = await PushClient(uid=ALICE.pk).connect()
    await page.disconnect()
    assert await sync_to_async(notify)(ALICE, "later") == "mailed"
