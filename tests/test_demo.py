"""The demo project's views, receivers and migrations, with the gateway calls recorded instead of sent.

tests.settings does not install the demo app: this module installs it, migrates it (which creates the demo
users alice and bob) and unmigrates it afterwards, so the rest of the suite never sees it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import post_save
from django.test import Client, override_settings

from pushapp import gateway
from pushapp.exceptions import InvalidUid
from pushapp.names import new_client_id, new_node_id
from pushapp.signals import message_received
from pushapp.tokens import client_proof

if TYPE_CHECKING:
    from pytest_django import DjangoDbBlocker

REPO = Path(__file__).resolve().parent.parent
API_KEY = "test-demo-key"

Calls = list[tuple[str, tuple[Any, ...], dict[str, Any]]]


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
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """The gateway calls the demo makes, answering True where the gateway returns a bool."""
    recorded: Calls = []

    def recorder(name: str, result: Any) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            recorded.append((name, args, kwargs))
            return result

        return call

    for name, result in [
        ("send_to_uid", None),
        ("send_to_group", None),
        ("send_to_client", None),
        ("join_group", True),
        ("leave_group", True),
    ]:
        monkeypatch.setattr(gateway, name, recorder(name, result))
    return recorded


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
    assert f"X-Demo-Key: {API_KEY}' -d uid={alice.pk} -d message=hello http://testserver/api/notify/" in html


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


@pytest.mark.parametrize("as_json", [True, False])
def test_notify_pushes_to_the_uid(db: None, calls: Calls, as_json: bool) -> None:
    response = service("/api/notify/", {"uid": "42", "message": "hello"}, as_json=as_json)
    assert response.status_code == 200
    assert response.json() == {"sent": True}
    assert calls == [("send_to_uid", ("42", {"type": "notify", "message": "hello"}), {})]


def test_notify_to_several_uids(db: None, calls: Calls) -> None:
    assert service("/api/notify/", {"uid": [1, 2], "message": "hi"}).status_code == 200
    assert calls == [("send_to_uid", ([1, 2], {"type": "notify", "message": "hi"}), {})]


@pytest.mark.parametrize("key", [None, "", "wrong"])
def test_notify_needs_the_key(db: None, calls: Calls, key: str | None) -> None:
    response = service("/api/notify/", {"uid": "42", "message": "hello"}, key=key)
    assert response.status_code == 403
    assert calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"message": "no uid"},
        {"uid": "1"},
        {"uid": "1", "message": ""},
        {"uid": "1", "message": 5},
        ["not", "an", "object"],
    ],
)
def test_notify_rejects_bad_bodies(db: None, calls: Calls, body: Any) -> None:
    assert service("/api/notify/", body).status_code == 400
    assert calls == []


def test_notify_rejects_bad_json(db: None, calls: Calls) -> None:
    response = Client().post(
        "/api/notify/", "{", content_type="application/json", headers={"X-Demo-Key": API_KEY}
    )
    assert response.status_code == 400


def test_notify_reports_a_bad_uid(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def send_to_uid(uid: Any, data: Any) -> None:
        raise InvalidUid("a uid must be a str or an int, got bool")

    monkeypatch.setattr(gateway, "send_to_uid", send_to_uid)
    response = service("/api/notify/", {"uid": True, "message": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_uid"


def test_notify_is_post_only(db: None) -> None:
    assert Client().get("/api/notify/", headers={"X-Demo-Key": API_KEY}).status_code == 405


# -- (c) the bike lock's callback ------------------------------------------------------------------------


def test_lock_callback_pushes_to_the_rider(alice: User, calls: Calls) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    response = service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"})
    assert response.json() == {"order_id": order.pk, "status": "locked"}
    assert calls == [("send_to_uid", (alice.pk, {"type": "bike.locked", "order_id": order.pk}), {})]
    order.refresh_from_db()
    assert order.status == "locked"
    assert order.locked_at is not None


def test_a_repeated_callback_keeps_the_first_lock_time(alice: User, calls: Calls) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    service("/api/bike/callback/", {"order_id": str(order.pk), "status": "locked"}, as_json=False)
    order.refresh_from_db()
    first = order.locked_at
    assert service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"}).status_code == 200
    order.refresh_from_db()
    assert order.locked_at == first
    assert len(calls) == 2


@pytest.mark.parametrize(
    "body, status",
    [
        ({"order_id": 999999, "status": "locked"}, 404),
        ({"order_id": "x", "status": "locked"}, 404),
        ({"status": "locked"}, 404),
        ({"order_id": 1, "status": "unlocked"}, 400),
    ],
)
def test_lock_callback_rejects(db: None, calls: Calls, body: dict[str, Any], status: int) -> None:
    assert service("/api/bike/callback/", body).status_code == status
    assert calls == []


def test_lock_callback_needs_the_key(alice: User, calls: Calls) -> None:
    from demo_project.demo.models import BikeOrder

    order = BikeOrder.objects.create(owner=alice)
    response = service("/api/bike/callback/", {"order_id": order.pk, "status": "locked"}, key="no")
    assert response.status_code == 403
    assert calls == []


# -- (d) rooms -------------------------------------------------------------------------------------------


def test_join_a_room(browser: Client, calls: Calls) -> None:
    client_id, proof = connection()
    response = browser.post("/room/lobby/join/", {"client_id": client_id, "proof": proof})
    assert response.json() == {"joined": True}
    assert calls == [
        ("join_group", (client_id, "room:lobby"), {}),
        (
            "send_to_group",
            ("room:lobby", {"type": "room.joined", "room": "lobby", "user": "alice"}),
            {"exclude": [client_id]},
        ),
    ]


def test_joining_a_gone_connection_announces_nothing(
    browser: Client, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway, "join_group", lambda client_id, group: False)
    client_id, proof = connection()
    response = browser.post("/room/lobby/join/", {"client_id": client_id, "proof": proof})
    assert response.json() == {"joined": False}
    assert calls == []


def test_join_needs_the_connections_proof(browser: Client, calls: Calls) -> None:
    client_id, _ = connection()
    other_proof = connection()[1]
    response = browser.post("/room/lobby/join/", {"client_id": client_id, "proof": other_proof})
    assert response.status_code == 400
    assert calls == []


def test_join_needs_a_login(db: None, calls: Calls) -> None:
    client_id, proof = connection()
    assert Client().post("/room/lobby/join/", {"client_id": client_id, "proof": proof}).status_code == 302
    assert calls == []


def test_leave_a_room(browser: Client, calls: Calls) -> None:
    client_id, proof = connection()
    response = browser.post("/room/lobby/leave/", {"client_id": client_id, "proof": proof})
    assert response.json() == {"left": True}
    assert calls == [("leave_group", (client_id, "room:lobby"), {})]


def test_send_to_a_room(browser: Client, calls: Calls) -> None:
    assert browser.post("/room/lobby/send/", {"text": "hi all"}).json() == {"sent": True}
    assert calls == [
        (
            "send_to_group",
            ("room:lobby", {"type": "room.message", "room": "lobby", "user": "alice", "text": "hi all"}),
            {},
        )
    ]
    assert browser.post("/room/lobby/send/", {"text": ""}).status_code == 400
    assert len(calls) == 1


# -- (e) a saved note is pushed to its owner -------------------------------------------------------------


def test_saving_a_note_pushes_it_on_commit(
    browser: Client, alice: User, calls: Calls, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post("/notes/", {"text": "buy milk"})
    assert response.status_code == 201
    assert calls == []  # not before the commit
    for callback in callbacks:
        callback()
    note_id = response.json()["id"]
    assert calls == [
        (
            "send_to_uid",
            (alice.pk, {"type": "note.saved", "id": note_id, "text": "buy milk", "created": True}),
            {},
        )
    ]


def test_a_rolled_back_note_is_not_pushed(
    alice: User, calls: Calls, django_capture_on_commit_callbacks: Any
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
    assert calls == []


def test_an_invalid_note_is_refused(browser: Client, calls: Calls) -> None:
    response = browser.post("/notes/", {"text": ""})
    assert response.status_code == 400
    assert calls == []


# -- messages from pages ---------------------------------------------------------------------------------


def test_a_pages_message_is_echoed_to_its_connection(db: None, calls: Calls) -> None:
    client_id = new_client_id(new_node_id())
    message_received.send(sender=None, client_id=client_id, uid="1", data={"text": "ping?"})
    echo = {"type": "echo", "uid": "1", "data": {"text": "ping?"}}
    assert calls == [("send_to_client", (client_id, echo), {})]
