"""Views that push, as a project's own views would: the README's promise, tested across processes."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from pushapp import gateway


def push(request: HttpRequest, uid: str) -> JsonResponse:
    """A sync view: under daphne it runs in a worker thread, and the sync helper is safe there."""
    gateway.send_to_uid(uid, {"from": "sync view"})
    return JsonResponse({"online": gateway.is_uid_online(uid)})


async def apush(request: HttpRequest, uid: str) -> JsonResponse:
    """An async view uses the async twins."""
    await gateway.asend_to_uid(uid, {"from": "async view"})
    return JsonResponse({"online": await gateway.ais_uid_online(uid)})
