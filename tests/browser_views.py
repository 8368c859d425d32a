"""Test-only views the browser tests load from daphne: a login shortcut and an instrumented page.

Never route these in a real project: ``login_as`` logs anyone in as anyone.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache

from pushapp.conf import push_settings
from pushapp.script import parse_groups, pushapp_script_html
from pushapp.tokens import token_for_user

#: Where ``/static/pushapp/pushapp.js`` comes from: the working tree's file, so the test runs what is edited.
STATIC_ROOT = Path(__file__).resolve().parent.parent / "pushapp" / "static"

_TOKEN_ATTR = re.compile(r'data-token="([^"]*)"')


@never_cache
def login_as(request: HttpRequest, username: str) -> HttpResponse:
    """Create ``username`` if needed and log the browser in as that user, then go to ``?next=``.

    Done by the server process itself, in the cluster's SQLite file: no user to create beforehand.
    """
    user, _ = get_user_model().objects.get_or_create(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    target = request.GET.get("next", "/browser/page/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/browser/page/"
    return HttpResponseRedirect(target)


def forged_script(html: SafeString) -> SafeString:
    """The script tag with its token's signature replaced: the server must refuse it (4001)."""

    def forge(match: re.Match[str]) -> str:
        payload, _signature = match.group(1).rsplit(":", 1)
        return f'data-token="{payload}:forged"'

    return mark_safe(_TOKEN_ATTR.sub(forge, html, count=1))


@never_cache
def page(request: HttpRequest) -> HttpResponse:
    """The page under test: ``{% pushapp_script groups=… %}`` plus a recorder of everything pushapp.js does.

    ``?groups=a,b`` become the tag's ``groups=``; ``?forged=1`` renders the tag with a tampered token;
    ``?block_websocket=1`` makes every WebSocket of the page fail before it opens, as behind a proxy that
    refuses the upgrade (the client then falls back to SSE); ``?latest=1`` sets pushapp.js's ``latest``
    option before it connects (docs/delivery.md).
    """
    groups = parse_groups(request.GET.get("groups", ""))
    forged = forged_script(pushapp_script_html(request, groups=groups)) if request.GET.get("forged") else None
    context = {
        "groups": groups,
        "forged_script": forged,
        "block_websocket": bool(request.GET.get("block_websocket")),
        "latest": bool(request.GET.get("latest")),
    }
    return render(request, "browser/page.html", context)


@never_cache
def esm_page(request: HttpRequest) -> HttpResponse:
    """A page that imports pushapp.mjs with ``<script type="module">`` and configures the client itself."""
    session_key = request.session.session_key if hasattr(request, "session") else None
    return render(
        request,
        "browser/esm.html",
        {"url": "/" + push_settings.PATH, "token": token_for_user(request.user, [], session_key)},
    )
