"""``POST <prefix>sse-ticket/`` (url name ``pushapp:sse-ticket``): a token, in the body, for a one-time
ticket to open an SSE stream with (docs/sse.md)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..auth import get_authenticator
from ..conf import push_settings
from ..exceptions import AuthenticationFailed
from ..tokens import Identity
from . import tickets


def _token(request: HttpRequest) -> tuple[bool, str | None]:
    """Whether the body is well formed, and the token in it (form field or JSON ``{"token": …}``)."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return False, None
        if not isinstance(body, dict) or not isinstance(body.get("token", ""), (str, type(None))):
            return False, None
        return True, body.get("token") or None
    return True, request.POST.get("token") or None


def _scope(request: HttpRequest) -> dict[str, Any]:
    """The scope the authenticator reads (headers: cookies for the session authenticator)."""
    scope = getattr(request, "scope", None)
    if scope is not None:
        return dict(scope)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
    return {"type": "http", "headers": headers, "client": (request.META.get("REMOTE_ADDR"), 0)}


@csrf_exempt  # the answer is readable by the page that asked only (no CORS), and a ticket grants no more
@require_POST  # than the credentials that came with the request
@never_cache
async def sse_ticket(request: HttpRequest) -> JsonResponse:
    ok, token = _token(request)
    if not ok:
        return JsonResponse({"error": "bad_request"}, status=400)
    try:
        if token is None and push_settings.ALLOW_ANONYMOUS:
            identity = Identity()
        else:
            identity = await get_authenticator().aauthenticate(_scope(request), token)
    except AuthenticationFailed:
        return JsonResponse({"error": "bad_token"}, status=401)
    ticket, expires = tickets.issue(identity)
    return JsonResponse({"ticket": ticket, "expires": expires})
