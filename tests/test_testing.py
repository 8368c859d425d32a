"""pushapp.testing, as a project's own test suite uses it (the examples of docs/testing.md)."""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from pushapp import gateway
from pushapp.testing import Operation, PushClient, Pushes, Sent, capture_pushes
from tests.support.communicators import clean_hub

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)

CID = "a" * 48
OTHER = "b" * 48


def ship_order(customer_id: int, order_id: int) -> None:
    """The kind of project code under test."""
    gateway.send_to_uid(customer_id, {"type": "order.shipped", "id": order_id})


# -- the docs/testing.md examples ------------------------------------------------------------------------


def test_ship_order_pushes_to_the_customer(pushes: Pushes) -> None:
    ship_order(customer_id=42, order_id=7)
    pushes.assert_sent(to_uid=42, data={"type": "order.shipped", "id": 7})


def test_nothing_is_pushed_without_a_reason(pushes: Pushes) -> None:
    pushes.assert_nothing_sent()


async def test_the_customers_page_gets_it() -> None:
    async with PushClient(uid=42) as page:
        await gateway.asend_to_uid(42, {"type": "order.shipped", "id": 7})
        assert await page.receive() == {"type": "order.shipped", "id": 7}


# -- recording -------------------------------------------------------------------------------------------


def test_every_kind_of_send_is_recorded_without_a_layer() -> None:
    with override_settings(CHANNEL_LAYERS={}), capture_pushes() as pushes:  # no layer at all
        gateway.send_to_all({"a": 1}, exclude=[CID])
        gateway.send_to_all("x", client_ids=[CID, OTHER])
        gateway.send_to_client(CID, b"\x00bin")
        gateway.send_to_uid([1, "2"], (1, 2))
        gateway.send_to_group(["g1", "g2"], {"when": datetime.date(2026, 12, 1)}, exclude=[OTHER])
        gateway.ungroup("g1")
        gateway.flush()
    assert pushes.sent == [
        Sent("all", (), {"a": 1}, (CID,)),
        Sent("client", (CID, OTHER), "x"),
        Sent("client", (CID,), b"\x00bin"),
        Sent("uid", ("1", "2"), [1, 2]),
        Sent("group", ("g1", "g2"), {"when": "2026-12-01"}, (OTHER,)),
    ]
    assert pushes.operations == [Operation("ungroup", None, "g1")]
    pushes.assert_sent(to_group="g2", data={"when": datetime.date(2026, 12, 1)})  # compared as JSON
    pushes.assert_sent(to_uid=2, data=(1, 2))
    pushes.assert_sent(to_all=True)
    pushes.assert_sent(to_client=OTHER, data="x")


def test_the_delivery_options_of_a_send_are_recorded() -> None:
    history = {"HISTORY": {"uid": {"size": 10}, "group": {"size": 10}}}
    with override_settings(CHANNEL_LAYERS={}, PUSHAPP=history), capture_pushes() as pushes:
        gateway.send_to_uid(7, "locked", version=12, ack_within=30, idempotency_key="lock-7")
        gateway.send_to_group("news", "x", idempotency_key="n-1")
        gateway.send_to_uid(7, "plain")
    assert pushes.sent == [
        Sent("uid", ("7",), "locked", idempotency_key="lock-7", version=12, ack_within=30.0),
        Sent("group", ("news",), "x", idempotency_key="n-1"),
        Sent("uid", ("7",), "plain"),
    ]


def test_operations_answer_like_an_online_client_and_keep_sessions(pushes: Pushes) -> None:
    assert gateway.join_group(CID, "room") is True
    assert gateway.bind_uid(CID, 5) is True
    assert gateway.set_session(CID, {"a": 1}) is True
    assert gateway.update_session(CID, {"b": 2}) is True
    assert gateway.get_session(CID) == {"a": 1, "b": 2}
    assert gateway.close_client(CID, {"bye": True}) is True
    assert gateway.get_session(CID) is None  # closed: offline now
    pushes.offline(OTHER)
    assert gateway.leave_group(OTHER, "room") is False
    pushes.assert_operation("join_group", CID, "room")
    pushes.assert_operation("bind_uid", CID, "5")
    pushes.assert_operation("close_client", CID, {"bye": True})
    pushes.assert_nothing_sent()


async def test_async_twins_are_recorded_too(pushes: Pushes) -> None:
    await gateway.asend_to_group("g", "hi")
    assert await gateway.ajoin_group(CID, "g") is True
    pushes.assert_sent(to_group="g", data="hi")


def test_bad_input_still_raises_at_the_call(pushes: Pushes) -> None:
    with pytest.raises(ValueError):
        gateway.send_to_uid(True, 1)
    with pytest.raises(ValueError):
        gateway.join_group("not-a-client-id", "g")
    pushes.assert_nothing_sent()
    assert pushes.operations == []


def test_failed_assertions_say_what_was_sent(pushes: Pushes) -> None:
    gateway.send_to_uid(1, {"n": 1})
    with pytest.raises(AssertionError, match=r"to_uid=1, data=\{'n': 2\}; sent: \[Sent\(kind='uid'"):
        pushes.assert_sent(to_uid=1, data={"n": 2})
    with pytest.raises(AssertionError, match="expected no sends"):
        pushes.assert_nothing_sent()
    with pytest.raises(AssertionError, match="no join_group"):
        pushes.assert_operation("join_group")
    with pytest.raises(TypeError, match="exactly one"):
        pushes.assert_sent(to_uid=1, to_group="g")
    pushes.clear()
    pushes.assert_nothing_sent()


def test_capture_ends_with_the_block() -> None:
    with capture_pushes() as pushes:
        gateway.send_to_uid(1, 1)
    assert len(pushes.sent) == 1
    from pushapp.sender import capture

    assert capture.active() is None


async def test_deliver_records_and_sends() -> None:
    async with PushClient(uid=3, groups=("g",)) as page:
        with capture_pushes(deliver=True) as pushes:
            await gateway.asend_to_group("g", {"x": 1})
            assert await gateway.ajoin_group(page.client_id, "h") is True
        assert await page.receive() == {"x": 1}
        pushes.assert_sent(to_group="g", data={"x": 1})
        assert await page.receive_nothing()


async def test_push_client_reads_only_pushes() -> None:
    async with PushClient(uid=1) as page:
        assert page.welcome["uid"] == "1"
        await page.send({"type": "ping"})
        with pytest.raises(AssertionError, match="expected a push"):
            await page.receive()


def test_the_fixture_is_a_pytest_plugin_of_the_package() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {"pushapp.testing": "pushapp.testing"}


def test_sends_on_streams_and_after_the_commit_are_recorded(
    pushes: Pushes, db: None, django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(PUSHAPP={"HISTORY": {"uid": {"size": 10, "ttl": 60}}}):
        gateway.send_to_uid([1, 2], {"n": 1})  # one stored push per uid's stream
    assert pushes.sent == [Sent("uid", ("1", "2"), {"n": 1})]
    with django_capture_on_commit_callbacks(execute=True):
        gateway.send_to_uid(3, "later", on_commit=True)
        assert len(pushes.sent) == 1  # not before the commit
    pushes.assert_sent(to_uid=3, data="later")
