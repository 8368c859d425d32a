"""The ``<script>`` tag that loads pushapp.js, configured through its data attributes: rendering only.

Everything the page's client needs is decided here, on the server: the WebSocket path, a token for the
session user carrying the groups this page joins, and the URLs the client refreshes its token from and
binds its connection with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .conf import push_settings
from .middleware import EMBEDDED
from .protocol.names import validate_group
from .tokens import groups_grant, token_for_user, token_max_age


def parse_groups(groups: str | Iterable[str]) -> list[str]:
    """Groups from a list, or from ``"a,b"``: a template can only pass a string."""
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    return [validate_group(g) for g in groups]


def _reverse_or_none(name: str) -> str | None:
    """A pushapp URL, or None when the project did not include ``pushapp.urls``."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def pushapp_script_html(
    request: HttpRequest, *, lazy: bool = False, groups: str | Iterable[str] = (), nonce: str | None = None
) -> SafeString:
    """The tag for ``request.user``; empty for an anonymous user unless ``ALLOW_ANONYMOUS``.

    Rendering nothing rather than a token the server would refuse keeps anonymous visitors from opening
    a socket that is closed with 4001 at once.
    """
    user: Any = request.user
    if not user.is_authenticated and not push_settings.ALLOW_ANONYMOUS:
        return mark_safe("")
    group_list = parse_groups(groups)
    session = getattr(request, "session", None)
    if session is not None and group_list and not user.is_authenticated and not session.session_key:
        session.save()  # an anonymous visitor's grant is bound to its session: it needs one
    session_key = session.session_key if session is not None else None
    setattr(request, EMBEDDED, True)  # TokenPageMiddleware marks the response private, no-store
    attrs: list[tuple[str, Any]] = [
        ("data-url", "/" + push_settings.PATH),
        ("data-token", token_for_user(user, group_list, session_key)),
        ("data-token-max-age", token_max_age()),
    ]
    token_url = _reverse_or_none("pushapp:token")
    if token_url is not None:
        if group_list:
            token_url += "?" + urlencode({"groups": groups_grant(user, group_list, session_key)})
        attrs.append(("data-token-url", token_url))
    bind_url = _reverse_or_none("pushapp:bind")
    if bind_url is not None:
        get_token(request)  # bind() sends the csrftoken cookie back: make sure this response sets it
        attrs.append(("data-bind-url", bind_url))
    sse_ticket_url = _reverse_or_none("pushapp:sse-ticket")
    if sse_ticket_url is not None:
        attrs.append(("data-sse-ticket-url", sse_ticket_url))  # for the SSE fallback
    if lazy:
        attrs.append(("data-lazy", "true"))
    nonce = nonce or getattr(request, "csp_nonce", None)
    if nonce:
        attrs.append(("nonce", nonce))
    return format_html(
        '<script src="{}" defer{}></script>',
        static("pushapp/pushapp.js"),
        format_html_join("", ' {}="{}"', attrs),
    )
