"""The bike lock provider's callback, authenticated by the shared ``X-Demo-Key`` header.

It is what GatewayWorker's articles describe: a third party calls a URL of its own design, and the
rider's web pages get the news over their WebSocket. Services of your own push through pushapp's HTTP
API instead (``POST /pushapp/api/`` with the same key, see settings.py and docs/http-api.md).
"""

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pushapp import gateway

from .models import BikeOrder

#: Seconds a rider's page has to acknowledge the lock's push before the rider is e-mailed.
LOCK_ACK_WITHIN = 30


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def api_key() -> str:
    return str(getattr(settings, "DEMO_API_KEY", "demo-key"))


def _key_ok(request: HttpRequest) -> bool:
    return constant_time_compare(request.headers.get("X-Demo-Key", ""), api_key())


def _body(request: HttpRequest) -> dict[str, Any] | None:
    """The posted fields, from a JSON object or a form; None when the JSON is not an object."""
    if request.content_type != "application/json":
        return request.POST.dict()
    try:
        data = json.loads(request.body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@csrf_exempt  # called by the lock's provider, not by browsers
@require_POST
def bike_callback(request: HttpRequest) -> JsonResponse:
    """``{"order_id": 7, "status": "locked"}``: the bike is locked; tell the rider, wherever they are."""
    if not _key_ok(request):
        return _error(403, "bad_key", "Send the shared secret in the X-Demo-Key header.")
    data = _body(request) or {}
    if data.get("status") != BikeOrder.Status.LOCKED:
        return _error(400, "bad_status", 'Only "locked" callbacks are handled.')
    try:
        order = BikeOrder.objects.get(pk=int(data.get("order_id", "")))
    except (TypeError, ValueError, BikeOrder.DoesNotExist):
        return _error(404, "no_order", "No such order.")
    if order.status != BikeOrder.Status.LOCKED:  # providers retry callbacks: keep the first lock time
        order.status = BikeOrder.Status.LOCKED
        order.locked_at = timezone.now()
        order.save(update_fields=["status", "locked_at"])
    # Providers retry callbacks: the version (the lock time, in ms) makes a repeated one push nothing, and
    # an older lock never overwrite a newer one on a page. A rider with no page that acknowledges it within
    # LOCK_ACK_WITHIN seconds gets an e-mail instead (demo/signals.py, push_unacknowledged).
    locked_at = order.locked_at or timezone.now()
    gateway.send_to_uid(
        order.owner_id,
        {"type": "bike.locked", "order_id": order.pk, "locked_at": order.locked_at},
        version=int(locked_at.timestamp() * 1000),
        ack_within=LOCK_ACK_WITHIN,
    )
    return JsonResponse({"order_id": order.pk, "status": order.status})
