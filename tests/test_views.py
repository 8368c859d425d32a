"""The HTTP endpoints of pushapp.js: the token view and the bind view."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from pushapp import views
from pushapp.protocol.names import new_client_id, new_node_id
from pushapp.runtime.telemetry import WATCH_GROUP
from pushapp.tokens import client_proof, groups_grant, session_hash, verify_token

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db

TOKEN_URL = "/pushapp/token/"
BIND_URL = "/pushapp/bind/"
CSRF_SECRET = "a" * 32


@pytest.fixture(autouse=True)
def _urls(settings: Settings) -> None:
    settings.ROOT_URLCONF = "tests.urls"


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("bob", password="pw")


@pytest.fixture
def binds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Calls of ``gateway.bind_uid``, answering True (the connection exists)."""
    calls: list[tuple[str, Any]] = []

    def bind_uid(client_id: str, uid: Any) -> bool:
        calls.append((client_id, uid))
        return True

    monkeypatch.setattr(views.gateway, "bind_uid", bind_uid)
    return calls


def logged_in(user: User, *, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def connection() -> tuple[str, str]:
    client_id = new_client_id(new_node_id())
    return client_id, client_proof(client_id)


# -- token -----------------------------------------------------------------------------------------------


def test_token_for_the_session_user(alice: User) -> None:
    response = logged_in(alice).get(TOKEN_URL)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["max_age"] == 3600
    assert verify_token(body["token"]).uid == str(alice.pk)
    assert verify_token(body["token"]).groups == ()


def test_token_refused_to_anonymous_users() -> None:
    response = Client().get(TOKEN_URL)
    assert response.status_code == 403
    assert response.json()["error"] == "login_required"
    assert "no-store" in response["Cache-Control"]


def test_token_for_anonymous_users_when_allowed(settings: Settings) -> None:
    settings.PUSHAPP = {"ALLOW_ANONYMOUS": True, "TOKEN_MAX_AGE": 600}
    body = Client().get(TOKEN_URL).json()
    assert verify_token(body["token"]).uid is None
    assert body["max_age"] == 600


def test_token_keeps_the_groups_granted_by_the_script_tag(alice: User) -> None:
    query = urlencode({"groups": groups_grant(alice, ["news", "room 1"])})
    body = logged_in(alice).get(f"{TOKEN_URL}?{query}").json()
    assert verify_token(body["token"]).groups == ("news", "room 1")


def test_token_refuses_groups_granted_to_someone_else(alice: User, bob: User) -> None:
    for grant in (groups_grant(bob, ["bob's"]), groups_grant(AnonymousUser(), ["x"]), "forged"):
        response = logged_in(alice).get(TOKEN_URL, {"groups": grant})
        assert response.status_code == 400
        assert response.json()["error"] == "bad_groups"


def test_a_token_carries_the_session_it_was_minted_in(alice: User) -> None:
    client = logged_in(alice)
    token = client.get(TOKEN_URL).json()["token"]
    assert verify_token(token).session == session_hash(client.session.session_key)


def test_a_demoted_staff_user_cannot_mint_the_dashboards_group(alice: User) -> None:
    """The grant the dashboard page carried stays valid for GRANT_MAX_AGE; staff is checked at every mint."""
    alice.is_staff = True
    alice.save()
    query = {"groups": groups_grant(alice, [WATCH_GROUP])}
    client = logged_in(alice)
    assert verify_token(client.get(TOKEN_URL, query).json()["token"]).groups == (WATCH_GROUP,)
    alice.is_staff = False
    alice.save()
    response = client.get(TOKEN_URL, query)
    assert (response.status_code, response.json()["error"]) == (403, "staff_only")


def test_an_anonymous_grant_works_only_in_its_visitors_session(settings: Settings) -> None:
    """uid None is every anonymous visitor: the grant is bound to the session the page was rendered in."""
    settings.PUSHAPP = {"ALLOW_ANONYMOUS": True}
    visitor, stranger = Client(), Client()
    for client in (visitor, stranger):
        client.get("/pushapp/dashboard/")  # any request: each gets its own session below
        session = client.session
        session.save()
        client.cookies["sessionid"] = session.session_key
    grant = groups_grant(AnonymousUser(), ["lobby"], visitor.session.session_key)
    assert verify_token(visitor.get(TOKEN_URL, {"groups": grant}).json()["token"]).groups == ("lobby",)
    response = stranger.get(TOKEN_URL, {"groups": grant})
    assert (response.status_code, response.json()["error"]) == (400, "bad_groups")


def test_token_is_get_only(alice: User) -> None:
    assert logged_in(alice).post(TOKEN_URL).status_code == 405


# -- bind ------------------------------------------------------------------------------------------------


def test_bind_a_connection_with_its_proof(alice: User, binds: list[tuple[str, Any]]) -> None:
    client_id, proof = connection()
    response = logged_in(alice).post(BIND_URL, {"client_id": client_id, "proof": proof})
    assert response.status_code == 200
    assert response.json() == {"bound": True}
    assert binds == [(client_id, alice.pk)]


def test_bind_reports_a_connection_that_is_gone(alice: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views.gateway, "bind_uid", lambda client_id, uid: False)
    client_id, proof = connection()
    response = logged_in(alice).post(BIND_URL, {"client_id": client_id, "proof": proof})
    assert response.json() == {"bound": False}


def test_bind_refused_to_anonymous_users(binds: list[tuple[str, Any]]) -> None:
    client_id, proof = connection()
    response = Client().post(BIND_URL, {"client_id": client_id, "proof": proof})
    assert response.status_code == 403
    assert response.json()["error"] == "login_required"
    assert binds == []


def test_bind_enforces_csrf(alice: User, binds: list[tuple[str, Any]]) -> None:
    client_id, proof = connection()
    client = logged_in(alice, enforce_csrf=True)
    assert client.post(BIND_URL, {"client_id": client_id, "proof": proof}).status_code == 403
    assert binds == []
    client.cookies["csrftoken"] = CSRF_SECRET
    response = client.post(
        BIND_URL, {"client_id": client_id, "proof": proof}, headers={"X-CSRFToken": CSRF_SECRET}
    )
    assert response.status_code == 200
    assert binds == [(client_id, alice.pk)]


@pytest.mark.parametrize(
    "make_fields, field, code",
    [
        (lambda cid, proof: {"client_id": cid.upper(), "proof": proof}, "client_id", "bad_client_id"),
        (lambda cid, proof: {"client_id": cid[:-1], "proof": proof}, "client_id", "bad_client_id"),
        (lambda cid, proof: {"client_id": "../" + cid[3:], "proof": proof}, "client_id", "bad_client_id"),
        (lambda cid, proof: {"proof": proof}, "client_id", "required"),
        (lambda cid, proof: {"client_id": cid}, "proof", "required"),
        (lambda cid, proof: {"client_id": cid, "proof": proof[:-1] + "x"}, "__all__", "bad_proof"),
        (
            lambda cid, proof: {"client_id": cid, "proof": client_proof(connection()[0])},
            "__all__",
            "bad_proof",
        ),
    ],
)
def test_bind_rejects_bad_input(
    alice: User,
    binds: list[tuple[str, Any]],
    make_fields: Callable[[str, str], dict[str, str]],
    field: str,
    code: str,
) -> None:
    response = logged_in(alice).post(BIND_URL, make_fields(*connection()))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert [e["code"] for e in body["errors"][field]] == [code]
    assert binds == []


def test_bind_is_post_only(alice: User) -> None:
    assert logged_in(alice).get(BIND_URL).status_code == 405
