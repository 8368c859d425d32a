"""The demo project's views, receivers and migrations, with the gateway calls recorded by pushapp.testing.

tests.settings does not install the demo app: this module installs it (with the admin it links staff to),
migrates it (which creates the demo users alice, bob and the staff user admin) and unmigrates it afterwards,
so the rest of the suite never sees it. tests/test_demo_browser.py clicks through the pages in Chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models.signals import post_save
from django.test import AsyncClient, Client, RequestFactory, override_settings

from pushapp.exceptions import SubscriptionRefused
from pushapp.protocol.names import new_client_id, new_node_id
from pushapp.server.hub import stop_hub
from pushapp.signals import message_received
from pushapp.testing import PushClient, Pushes, Sent
from pushapp.tokens import client_proof

if TYPE_CHECKING:
    from pytest_django import DjangoDbBlocker

REPO = Path(__file__).resolve().parent.parent
API_KEY = "test-demo-key"


@pytest.fixture(scope="module", autouse=True)
def demo_app(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    from demo_project import settings as demo_settings

    demo_push = {
        **demo_settings.PUSHAPP,
        "API_KEYS": {API_KEY: demo_settings.PUSHAPP["API_KEYS"][demo_settings.DEMO_API_KEY]},
    }
    with override_settings(
        INSTALLED_APPS=[
            *settings.INSTALLED_APPS,
            "django.contrib.admin",
            "django.contrib.messages",
            "demo_project.demo",
        ],
        ROOT_URLCONF="demo_project.urls",
        TEMPLATES=demo_settings.TEMPLATES,
        MIDDLEWARE=demo_settings.MIDDLEWARE,
        STATIC_URL="/static/",
        LOGIN_URL=demo_settings.LOGIN_URL,
        DEMO_API_KEY=API_KEY,
        PUSHAPP=demo_push,
    ):
        with django_db_blocker.unblock():
            call_command("migrate", "demo", verbosity=0)
            call_command("migrate", "admin", verbosity=0)  # the admin's index lists recent actions
        try:
            yield
        finally:
            from demo_project.demo.models import Note

            post_save.disconnect(sender=Note, dispatch_uid="demo.push_saved_note")
            message_received.disconnect(dispatch_uid="demo.echo")
            with django_db_blocker.unblock():
                call_command("migrate", "demo", "zero", verbosity=0)
                call_command("migrate", "admin", "zero", verbosity=0)


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.get(username="alice")


@pytest.fixture
def browser(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def connection() -> tuple[str, str]:
    client_id = new_client_id(new_node_id())
    return client_id, client_proof(client_id)


def service(path: str, data: Any, *, key: str | None = API_KEY, as_json: bool = True) -> Any:
    headers = {} if key is None else {"X-Demo-Key": key}
    if as_json:
        return Client().post(path, json.dumps(data), content_type="application/json", headers=headers)
    return Client().post(path, data, headers=headers)


def push_api(commands: list[dict[str, Any]], key: str = API_KEY) -> Any:
    """What the index page's curl does: pushapp's HTTP API, with the demo's key."""
    return Client().post(
        "/pushapp/api/",
        json.dumps({"commands": commands}),
        content_type="application/json",
        headers={"Authorization": f"apikey {key}"},
    )


# -- project ---------------------------------------------------------------------------------------------


def test_demo_users_log_in_with_the_demo_password(alice: User) -> None:
    assert alice.check_password("demo")
    assert User.objects.get(username="bob").check_password("demo")
    assert not alice.is_staff


def test_the_staff_demo_user(db: None) -> None:
    admin = User.objects.get(username="admin")
    assert admin.check_password("demo")
    assert admin.is_staff


@pytest.mark.parametrize(
    "command",
    [
        ["manage.py", "check", "--fail-level", "WARNING"],
        ["-c", "from demo_project.asgi import application"],
    ],
)
def test_project_starts_with_its_own_settings(command: list[str]) -> None:
    """With demo_project.settings, as ``manage.py runserver`` would; neither command opens the database."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_are_complete(db: None) -> None:
    call_command("makemigrations", "demo", check=True, dry_run=True, verbosity=0)


# -- pages -----------------------------------------------------------------------------------------------


def test_pages_need_a_login(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert Client().get("/accounts/login/").status_code == 200


def test_pages_load_pushapp_lazily(browser: Client) -> None:
    """demo.js connects once its listeners are in place: nothing pushed, or replayed, is missed."""
    html = browser.get("/").content.decode()
    assert '<script src="/static/pushapp/pushapp.js" defer data-url="/ws/push/" data-token="' in html
    assert 'data-bind-url="/pushapp/bind/"' in html
    assert ' data-lazy="true"></script>' in html
    assert '<script src="/static/demo/demo.js" defer></script>' in html


@pytest.mark.parametrize("path", ["/", "/bike/", "/notes/", "/room/lobby/"])
def test_every_page(browser: Client, alice: User, path: str) -> None:
    html = browser.get(path).content.decode()
    assert f'<body data-uid="{alice.pk}"' in html
    assert 'id="nav-staff"' not in html  # alice is not staff


def test_staff_see_the_link_to_the_staff_dashboard(db: None) -> None:
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    page = client.get("/").content.decode()
    assert '<a href="/pushapp/dashboard/" id="nav-staff">Staff dashboard</a>' in page


def test_the_admin_index_links_the_live_dashboard(db: None) -> None:
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    page = client.get("/admin/").content.decode()
    assert 'id="pushapp-dashboard"' in page and '<a href="/pushapp/dashboard/">Live dashboard</a>' in page
    assert "Site administration" in page  # the admin's own index, extended


# -- (b) another service posts over HTTP -------------------------------------------------------------------

NOTIFY = {"type": "notify", "message": "hello"}


def test_the_index_page_shows_the_curl_of_the_push_api(browser: Client, alice: User) -> None:
    html = unescape(browser.get("/").content.decode())
    curl = f"curl -H 'Authorization: apikey {API_KEY}' -H 'Content-Type: application/json' -d '"
    body = {"commands": [{"method": "send_to_uid", "params": {"uid": alice.pk, "data": NOTIFY}}]}
    assert f"{curl}{json.dumps(body, separators=(',', ':'))}' http://testserver/pushapp/api/</pre>" in html
    # The page's own button posts the same request.
    assert f'<script id="api-request" type="application/json">{json.dumps(body)}</script>' in html


async def test_the_curl_of_the_index_page_reaches_the_users_page(db: None) -> None:
    """Not recorded: the demo's key, through the demo's URLs, to a connected page of uid 1."""
    try:
        async with PushClient(uid=1) as page:
            response = await AsyncClient().post(
                "/pushapp/api/",
                json.dumps({"commands": [{"method": "send_to_uid", "params": {"uid": 1, "data": NOTIFY}}]}),
                content_type="application/json",
                headers={"Authorization": f"apikey {API_KEY}"},
            )
            assert response.status_code == 200
            assert await page.receive() == NOTIFY
    finally:
        await stop_hub()


def test_the_push_api_pushes_to_the_uid(db: None, pushes: Pushes) -> None:
    response = push_api([{"method": "send_to_uid", "params": {"uid": "42", "data": NOTIFY}}])
    assert response.json() == {"results": [{"result": None}]}
    assert pushes.sent == [Sent("uid", ("42",), NOTIFY)]


def test_the_push_api_to_several_uids(db: None, pushes: Pushes) -> None:
    assert push_api([{"method": "sendToUid", "params": {"uid": [1, 2], "data": NOTIFY}}]).status_code == 200
    assert pushes.sent == [Sent("uid", ("1", "2"), NOTIFY)]


@pytest.mark.parametrize("key", ["", "wrong"])
def test_the_push_api_needs_the_key(db: None, pushes: Pushes, key: str) -> None:
    response = push_api([{"method": "send_to_uid", "params": {"uid": "42", "data": NOTIFY}}], key=key)
    assert response.status_code == 401
    pushes.assert_nothing_sent()


def test_the_demo_key_may_only_push_to_users(db: None, pushes: Pushes) -> None:
    response = push_api([{"method": "send_to_all", "params": {"data": NOTIFY}}])
    assert response.status_code == 403
    pushes.assert_nothing_sent()


def test_the_push_api_reports_a_bad_uid(db: None, pushes: Pushes) -> None:
    response = push_api([{"method": "send_to_uid", "params": {"uid": True, "data": NOTIFY}}])
    assert response.status_code == 400
    assert response.json()["error"] == "bad_params"
    pushes.assert_nothing_sent()


# -- (c) the bike lock's callback ------------------------------------------------------------------------


def test_start_a_ride(browser: Client, alice: User) -> None:
    from demo_project.demo.models import BikeOrder

    response = browser.post("/orders/")
    assert (response.status_code, response["Location"]) == (302, "/bike/")
    order = BikeOrder.objects.get(owner=alice)
    assert order.status == "riding"
    html = unescape(browser.get("/bike/").content.decode())
    assert f'<li data-order="{order.pk}">' in html
    assert (
        f"""-d '{{"order_id": {order.pk}, "status": "locked"}}' http://testserver/api/bike/callback/"""
        in html
    )


def test_lock_callback_pushes_to_the_rider(alice: User, pushes: Pushes) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    response = service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"})
    assert response.json() == {"order_id": order.pk, "status": "locked"}
    order.refresh_from_db()
    assert order.status == "locked"
    assert order.locked_at is not None
    locked = {"type": "bike.locked", "order_id": order.pk, "locked_at": order.locked_at}
    data = json.loads(json.dumps(locked, cls=DjangoJSONEncoder))
    version = int(order.locked_at.timestamp() * 1000)  # a later lock wins, whatever order they arrive in
    assert pushes.sent == [Sent("uid", (str(alice.pk),), data, version=version, ack_within=30.0)]


def test_a_repeated_callback_keeps_the_first_lock_time(alice: User, pushes: Pushes) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    service("/api/bike/callback/", {"order_id": str(order.pk), "status": "locked"}, as_json=False)
    order.refresh_from_db()
    first = order.locked_at
    assert service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"}).status_code == 200
    order.refresh_from_db()
    assert order.locked_at == first
    assert len(pushes.sent) == 2


@pytest.mark.parametrize(
    "body, status",
    [
        ({"order_id": 999999, "status": "locked"}, 404),
        ({"order_id": "x", "status": "locked"}, 404),
        ({"status": "locked"}, 404),
        ({"order_id": 1, "status": "unlocked"}, 400),
    ],
)
def test_lock_callback_rejects(db: None, pushes: Pushes, body: dict[str, Any], status: int) -> None:
    assert service("/api/bike/callback/", body).status_code == status
    pushes.assert_nothing_sent()


def test_lock_callback_needs_the_key(alice: User, pushes: Pushes) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    response = service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"}, key="no")
    assert response.status_code == 403
    pushes.assert_nothing_sent()


def test_a_rider_whose_pages_did_not_ack_the_lock_gets_an_email(alice: User) -> None:
    from django.core import mail

    from pushapp.signals import push_unacknowledged

    locked = {"type": "bike.locked", "order_id": 7, "locked_at": "2026-01-01T10:00:00Z"}
    push_unacknowledged.send(None, uid=str(alice.pk), data=locked, stream=f"uid:{alice.pk}", offset=3)
    push_unacknowledged.send(None, uid=str(alice.pk), data={"type": "note.saved"}, stream="uid:x", offset=4)
    (message,) = mail.outbox
    assert message.subject == "Your bike is locked"
    assert "order 7" in message.body


# -- (d) rooms: entered with subscribe(), through the demo's hook; who is there from presence -----------


@pytest.mark.parametrize("group", ["room:lobby", "room:team-7"])
def test_the_hook_lets_users_into_rooms(group: str) -> None:
    from demo_project.demo.push import can_subscribe

    assert can_subscribe(uid="1", session={}, scope={}, group=group) is True


@pytest.mark.parametrize(
    "uid, group, reason",
    [
        (None, "room:lobby", "log in to enter a room"),
        ("1", "staff", "only rooms are open"),
        ("1", "room:", "only rooms are open"),
        ("1", "room:a b", "only rooms are open"),
    ],
)
def test_the_hook_refuses(uid: str | None, group: str, reason: str) -> None:
    from demo_project.demo.push import can_subscribe

    with pytest.raises(SubscriptionRefused, match=reason):
        can_subscribe(uid=uid, session={}, scope={}, group=group)


async def test_a_page_enters_a_room_and_is_listed(alice: User) -> None:
    """Through the real consumer: the settings' hook allows it, a presence frame announces it, the room's
    list has it (the views run as requests of alice: a login would write to the database from a thread)."""
    from demo_project.demo import views

    request = RequestFactory().get("/room/lobby/")
    request.user = alice
    try:
        async with PushClient(uid=alice.pk) as page:
            assert await page.subscribe("room:lobby") == {"type": "subscribed", "group": "room:lobby"}
            presence = {"type": "presence", "group": "room:lobby", "event": "join", "uid": str(alice.pk)}
            assert await page.receive_frame() == presence
            members = await sync_to_async(views.room_members)(request, "lobby")
            assert json.loads(members.content) == {"members": [{"uid": str(alice.pk), "username": "alice"}]}
            html = (await sync_to_async(views.room)(request, "lobby")).content.decode()
            assert f'<li data-uid="{alice.pk}">alice</li>' in html
            refused = await page.subscribe("news")
            assert (refused["code"], refused["detail"]) == ("subscribe_refused", "only rooms are open")
    finally:
        await stop_hub()


def test_an_empty_room(browser: Client) -> None:
    assert browser.get("/room/lobby/members/").json() == {"members": []}
    assert '<li class="empty">Nobody.</li>' in browser.get("/room/lobby/").content.decode()


def test_send_to_a_room(browser: Client, pushes: Pushes) -> None:
    assert browser.post("/room/lobby/send/", {"text": "hi all"}).json() == {"sent": True}
    pushes.assert_sent(
        to_group="room:lobby",
        data={"type": "room.message", "room": "lobby", "user": "alice", "text": "hi all"},
    )
    assert browser.post("/room/lobby/send/", {"text": ""}).status_code == 400
    assert len(pushes.sent) == 1


# -- (e) a saved note is pushed to its owner -------------------------------------------------------------


def test_saving_a_note_pushes_it_on_commit(
    browser: Client, alice: User, pushes: Pushes, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post("/notes/", {"text": "buy milk"})
    assert response.status_code == 201
    pushes.assert_nothing_sent()  # not before the commit
    for callback in callbacks:
        callback()
    note_id = response.json()["id"]
    assert pushes.sent == [
        Sent(
            "uid",
            (str(alice.pk),),
            {"type": "note.saved", "id": note_id, "text": "buy milk", "created": True},
        )
    ]


def test_a_rolled_back_note_is_not_pushed(
    alice: User, pushes: Pushes, django_capture_on_commit_callbacks: Any
) -> None:
    from demo_project.demo.models import Note

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        contextlib.suppress(RuntimeError),
        transaction.atomic(),
    ):
        Note.objects.create(owner=alice, text="never")
        raise RuntimeError("rolled back")
    assert callbacks == []
    pushes.assert_nothing_sent()


def test_the_notes_page_lists_the_notes(browser: Client, alice: User) -> None:
    from demo_project.demo.models import Note

    note = Note.objects.create(owner=alice, text="call bob")
    assert f'<li data-note="{note.pk}">call bob</li>' in browser.get("/notes/").content.decode()


def test_an_invalid_note_is_refused(browser: Client, pushes: Pushes) -> None:
    response = browser.post("/notes/", {"text": ""})
    assert response.status_code == 400
    pushes.assert_nothing_sent()


# -- messages from pages ---------------------------------------------------------------------------------


def test_a_pages_message_is_echoed_to_its_connection(db: None, pushes: Pushes) -> None:
    client_id = new_client_id(new_node_id())
    message_received.send(sender=None, client_id=client_id, uid="1", data={"text": "ping?"})
    echo = {"type": "echo", "uid": "1", "data": {"text": "ping?"}}
    assert pushes.sent == [Sent("client", (client_id,), echo)]
