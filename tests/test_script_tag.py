"""The exact HTML of ``{% pushapp_script %}``: what pushapp.js reads, what CSP and static storages need."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import include, path

from pushapp import script
from pushapp import urls as pushapp_urls
from pushapp.exceptions import InvalidGroup
from pushapp.middleware import TokenPageMiddleware
from pushapp.script import parse_groups, pushapp_script_html
from pushapp.tokens import granted_groups, groups_grant

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

#: A URLconf without pushapp.urls, for ``ROOT_URLCONF = __name__``.
urlpatterns: list[Any] = []

ALICE = SimpleNamespace(pk=42, is_authenticated=True)
BOB = SimpleNamespace(pk=43, is_authenticated=True)
ANONYMOUS = SimpleNamespace(pk=None, is_authenticated=False)

#: ``data-sse-ticket-url``, rendered once pushapp.urls routes the SSE ticket endpoint (pushapp:sse-ticket).
SSE_TICKET = (
    ' data-sse-ticket-url="/pushapp/sse-ticket/"'
    if any(getattr(p, "name", None) == "sse-ticket" for p in pushapp_urls.urlpatterns)
    else ""
)
TAG = (
    '<script src="/static/pushapp/pushapp.js" defer data-url="/ws/push/" data-token="token:42:" '
    'data-token-max-age="3600" data-token-url="/pushapp/token/" '
    f'data-bind-url="/pushapp/bind/"{SSE_TICKET}></script>'
)


def fake_token(user: Any, groups: Iterable[str] = (), session_key: str | None = None) -> str:
    return f"token:{user.pk}:{','.join(groups)}"


@pytest.fixture(autouse=True)
def _setup(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.STATIC_URL = "/static/"
    settings.ROOT_URLCONF = "tests.urls"
    monkeypatch.setattr(script, "token_for_user", fake_token)


def request_for(user: Any) -> HttpRequest:
    request = RequestFactory().get("/")
    request.user = user
    return request


def render(template: str, **context: Any) -> str:
    return Template("{% load pushapp %}" + template).render(Context(context))


def test_tag_for_a_user() -> None:
    assert pushapp_script_html(request_for(ALICE)) == TAG


def test_template_tag_renders_the_same() -> None:
    assert render("{% pushapp_script %}", request=request_for(ALICE)) == TAG


def test_lazy_and_groups_from_a_string() -> None:
    grant = urlencode({"groups": groups_grant(ALICE, ["news", "room 1"])})
    assert render('{% pushapp_script lazy=True groups="news, room 1" %}', request=request_for(ALICE)) == (
        '<script src="/static/pushapp/pushapp.js" defer data-url="/ws/push/" '
        'data-token="token:42:news,room 1" data-token-max-age="3600" '
        f'data-token-url="/pushapp/token/?{grant}" data-bind-url="/pushapp/bind/"{SSE_TICKET} '
        'data-lazy="true"></script>'
    )


def test_groups_from_a_list() -> None:
    html = render("{% pushapp_script groups=groups %}", request=request_for(ALICE), groups=["a,b", "c"])
    assert 'data-token="token:42:a,b,c"' in html
    assert urlencode({"groups": groups_grant(ALICE, ["a,b", "c"])}) in html


def test_attribute_values_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(script, "token_for_user", lambda user, groups, session_key: '"><script>&')
    assert 'data-token="&quot;&gt;&lt;script&gt;&amp;"' in pushapp_script_html(request_for(ALICE))


def test_nonce_argument() -> None:
    html = render('{% pushapp_script nonce="n0nce" %}', request=request_for(ALICE))
    assert html == TAG.replace("></script>", ' nonce="n0nce"></script>')


def test_nonce_from_django_csp_request_attribute() -> None:
    request = request_for(ALICE)
    request.csp_nonce = "from-request"  # type: ignore[attr-defined]
    html = render("{% pushapp_script %}", request=request, csp_nonce="from-context")
    assert html == TAG.replace("></script>", ' nonce="from-request"></script>')


def test_nonce_from_context() -> None:
    html = render("{% pushapp_script %}", request=request_for(ALICE), csp_nonce="from-context")
    assert html == TAG.replace("></script>", ' nonce="from-context"></script>')


def test_nonce_argument_wins() -> None:
    request = request_for(ALICE)
    request.csp_nonce = "from-request"  # type: ignore[attr-defined]
    assert 'nonce="mine"' in pushapp_script_html(request, nonce="mine")


def test_anonymous_users_get_nothing() -> None:
    assert pushapp_script_html(request_for(ANONYMOUS)) == ""
    assert render("{% pushapp_script %}", request=request_for(ANONYMOUS)) == ""


def test_anonymous_users_when_allowed(settings: Settings) -> None:
    settings.PUSHAPP = {"ALLOW_ANONYMOUS": True}
    assert pushapp_script_html(request_for(ANONYMOUS)) == TAG.replace("token:42:", "token:None:")


def test_settings_path_and_max_age(settings: Settings) -> None:
    settings.PUSHAPP = {"PATH": "/live/socket/", "TOKEN_MAX_AGE": 90.5}
    html = pushapp_script_html(request_for(ALICE))
    assert 'data-url="/live/socket/"' in html
    assert 'data-token-max-age="90.5"' in html


def test_urls_not_included(settings: Settings) -> None:
    settings.ROOT_URLCONF = __name__
    assert pushapp_script_html(request_for(ALICE)) == (
        '<script src="/static/pushapp/pushapp.js" defer data-url="/ws/push/" data-token="token:42:" '
        'data-token-max-age="3600"></script>'
    )


def test_bind_url_makes_the_response_set_the_csrf_cookie(settings: Settings) -> None:
    request = request_for(ALICE)
    pushapp_script_html(request)
    assert request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
    settings.ROOT_URLCONF = __name__
    request = request_for(ALICE)
    pushapp_script_html(request)
    assert "CSRF_COOKIE_NEEDS_UPDATE" not in request.META


def test_manifest_static_files_storage(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "staticfiles.json").write_text(
        json.dumps(
            {
                "version": "1.1",
                "hash": "0123456789ab",
                "paths": {"pushapp/pushapp.js": "pushapp/pushapp.5f1e2d3c4b5a.js"},
            }
        )
    )
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.staticfiles"]
    settings.STATIC_ROOT = str(tmp_path)
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    html = pushapp_script_html(request_for(ALICE))
    assert html == TAG.replace("/static/pushapp/pushapp.js", "/static/pushapp/pushapp.5f1e2d3c4b5a.js")


def test_template_without_request_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"context_processors\.request"):
        render("{% pushapp_script %}")


def test_parse_groups() -> None:
    assert parse_groups(" a, ,b ,") == ["a", "b"]
    assert parse_groups(["a, b", " c"]) == ["a, b", " c"]
    assert parse_groups("") == []
    with pytest.raises(InvalidGroup):
        parse_groups(["x" * 1025])


def test_groups_grant_is_bound_to_its_user() -> None:
    grant = groups_grant(ALICE, ["a", "b"])
    assert granted_groups(ALICE, grant) == ["a", "b"]
    visitor = groups_grant(ANONYMOUS, ["x"], "session-of-one-visitor")
    assert granted_groups(ANONYMOUS, visitor, "session-of-one-visitor") == ["x"]
    for other in ("session-of-another-visitor", None):  # uid None is every anonymous visitor: not enough
        with pytest.raises(signing.BadSignature):
            granted_groups(ANONYMOUS, visitor, other)
    with pytest.raises(signing.BadSignature):
        granted_groups(ANONYMOUS, groups_grant(ANONYMOUS, ["x"]))  # minted without a session: nobody's
    with pytest.raises(signing.BadSignature):
        granted_groups(BOB, grant)
    with pytest.raises(signing.BadSignature):
        granted_groups(ANONYMOUS, grant)
    with pytest.raises(signing.BadSignature):
        granted_groups(ALICE, grant[:-2] + "xx")


def test_a_page_that_embeds_a_token_is_private_and_not_stored() -> None:
    """A shared cache would hand one user's token to the next visitor; a back-forward cache would bring
    it back after logout."""

    def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse(pushapp_script_html(request))

    def plain(request: HttpRequest) -> HttpResponse:
        return HttpResponse("no token here")

    with_token = TokenPageMiddleware(page)(request_for(ALICE))
    assert "token:" in with_token.content.decode()
    assert set(with_token["Cache-Control"].split(", ")) >= {"private", "no-store"}
    assert not TokenPageMiddleware(plain)(request_for(ALICE)).has_header("Cache-Control")


def test_the_sse_ticket_url_once_routed(settings: Settings) -> None:
    """pushapp.js falls back to SSE only with a ticket URL: the tag gives it once it is routed."""
    ticket = ([path("sse-ticket/", lambda request: HttpResponse(), name="sse-ticket")], "pushapp")
    urlconf = ModuleType("sse_ticket_urls")
    urlconf.urlpatterns = [path("p/", include(ticket))]  # type: ignore[attr-defined]
    settings.ROOT_URLCONF = urlconf
    html = pushapp_script_html(request_for(ALICE))
    assert html.endswith(' data-sse-ticket-url="/p/sse-ticket/"></script>'), html
