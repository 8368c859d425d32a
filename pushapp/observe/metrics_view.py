"""The scrape URL, ``metrics/`` under ``pushapp.urls``: never open. Without ``METRICS_TOKEN`` and
``METRICS_ALLOWED_IPS`` it does not exist (404); with them, a scrape must pass every one configured."""

from __future__ import annotations

import hmac
import ipaddress

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..conf import push_settings


def _ip_allowed(request: HttpRequest, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


def _token_ok(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token, networks = push_settings.METRICS_TOKEN, push_settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        raise Http404("metrics are off: set PUSHAPP['METRICS_TOKEN'] or PUSHAPP['METRICS_ALLOWED_IPS']")
    if networks and not _ip_allowed(request, networks):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if token and not _token_ok(request, token):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="pushapp metrics"'
        return response
    from .metrics import CONTENT_TYPE, exposition  # the metrics extra: only needed once configured

    return HttpResponse(exposition(), content_type=CONTENT_TYPE)
