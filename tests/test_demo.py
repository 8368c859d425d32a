"""The demo project's views, receivers and migrations, with the gateway calls recorded by pushapp.testing.

tests.settings does not install the demo app: this module installs it, migrates it (which creates the demo
users alice and bob) and unmigrates it afterwards, so the rest of the suite never sees it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import post_save
from django.test import AsyncClient, Client, override_settings

from pushapp.hub import stop_hub
from pushapp.names import new_client_id, new_node_id
from pushapp.signals import message_received
from pushapp.testing import Operation, PushClient, Pushes, Sent
from pushapp.tokens import client_proof

if TYPE_CHECKING:
    from pytest_django import DjangoDbBlocker

REPO = Path(__file__).resolve().parent.parent
API_KEY = "test-demo-key"


@pytest.fixture(scope="module", autouse=True)
def demo_app(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    from demo_project import settings as demo_settings

    with override_settings(
        INSTALLED_APPS=[*settings.INSTALLED_APPS, "demo_project.demo"],
        ROOT_URLCONF="demo_project.urls",
        TEMPLATES=demo_settings.TEMPLATES,
        MIDDLEWARE=demo_settings.MIDDLEWARE,
        STATIC_URL="/static/",
        LOGIN_URL=demo_settings.LOGIN_URL,
        DEMO_API_KEY=API_KEY,
        PUSHAPP={"API_KEYS": {API_KEY: demo_settings.PUSHAPP["API_KEYS"][demo_settings.DEMO_API_KEY]}},
    ):
        with django_db_blocker.unblock():
            call_command("migrate", "demo", verbosity=0)
        try:
            yield
        finally:
            from demo_project.demo.models import Note

            post_save.disconnect(sender=Note, dispatch_uid="demo.push_saved_note")
            message_received.disconnect(dispatch_uid="demo.echo")
            with django_db_blocker.unblock():
                call_command("migrate", "demo", "zero", verbosity=0)


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


def test_index_loads_pushapp_for_the_user(browser: Client, alice: User) -> None:
    html = browser.get("/").content.decode()
    assert '<script src="/static/pushapp/pushapp.js" defer data-url="/ws/push/" data-token="' in html
    assert 'data-token-url="/pushapp/token/" data-bind-url="/pushapp/bind/"></script>' in html


def test_start_a_ride(browser: Client, alice: User) -> None:
    from demo_project.demo.models import BikeOrder

    response = browser.post("/orders/")
    assert response.status_code == 302
    order = BikeOrder.objects.get(owner=alice)
    assert order.status == "riding"
    assert f'"order_id": {order.pk}, "status": "locked"' in browser.get("/").content.decode()


def test_room_page(browser: Client) -> None:
    html = browser.get("/room/lobby/").content.decode()
    assert 'data-join-url="/room/lobby/join/" data-leave-url="/room/lobby/leave/"' in html


# -- (b) another service posts over HTTP -------------------------------------------------------------------

NOTIFY = {"type": "notify", "message": "hello"}


def test_the_index_page_shows_the_curl_of_the_push_api(browser: Client, alice: User) -> None:
    html = browser.get("/").content.decode()
    assert f"curl -H 'Authorization: apikey {API_KEY}' -H 'Content-Type: application/json'" in html
    assert f'"params": {{"uid": {alice.pk}, "data": {{"type": "notify"' in html
    assert "http://testserver/pushapp/api/</pre>" in html


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


def test_lock_callback_pushes_to_the_rider(alice: User, pushes: Pushes) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    response = service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"})
    assert response.json() == {"order_id": order.pk, "status": "locked"}
    assert pushes.sent == [Sent("uid", (str(alice.pk),), {"type": "bike.locked", "order_id": order.pk})]
    order.refresh_from_db()
    assert order.status == "locked"
    assert order.locked_at is not None


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


# -- (d) rooms -------------------------------------------------------------------------------------------


def test_join_a_room(browser: Client, pushes: Pushes) -> None:
    client_id, proof = connection()
    response = browser.post("/room/lobby/join/", {"client_id": client_id, "proof": proof})
    assert response.json() == {"joined": True}
    assert pushes.operations == [Operation("join_group", client_id, "room:lobby")]
    assert pushes.sent == [
        Sent(
            "group", ("room:lobby",), {"type": "room.joined", "room": "lobby", "user": "alice"}, (client_id,)
        )
    ]


def test_joining_a_gone_connection_announces_nothing(browser: Client, pushes: Pushes) -> None:
    client_id, proof = connection()
    pushes.offline(client_id)
    response = browser.post("/room/lobby/join/", {"client_id": client_id, "proof": proof})
    assert response.json() == {"joined": False}
    pushes.assert_nothing_sent()


def test_join_needs_the_connections_proof(browser: Client, pushes: Pushes) -> None:
    client_id, _ = connection()
    other_proof = connection()[1]
    response = browser.post("/room/lobby/join/", {"client_id": client_id, "proof": other_proof})
    assert response.status_code == 400
    pushes.assert_nothing_sent()


def test_join_needs_a_login(db: None, pushes: Pushes) -> None:
    client_id, proof = connection()
    assert Client().post("/room/lobby/join/", {"client_id": client_id, "proof": proof}).status_code == 302
    pushes.assert_nothing_sent()


def test_leave_a_room(browser: Client, pushes: Pushes) -> None:
    client_id, proof = connection()
    response = browser.post("/room/lobby/leave/", {"client_id": client_id, "proof": proof})
    assert response.json() == {"left": True}
    assert pushes.operations == [Operation("leave_group", client_id, "room:lobby")]


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
