"""The HTTP endpoints of pushapp.js: a fresh connection token, and binding a connection to the session user.

Both are sync views; under ASGI Django runs them in a worker thread, where the sync gateway calls are safe.
"""

from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from . import gateway
from .conf import push_settings
from .forms import ConnectionProofForm
from .runtime.telemetry import WATCH_GROUP
from .tokens import granted_groups, token_for_user, token_max_age


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


@require_GET
@never_cache
def token(request: HttpRequest) -> JsonResponse:
    """A token for the session user, with the groups granted by the page's script tag (``?groups=``)."""
    if not request.user.is_authenticated and not push_settings.ALLOW_ANONYMOUS:
        return _error(403, "login_required", "Log in to get a push token.")
    groups: list[str] = []
    grant = request.GET.get("groups")
    session_key = request.session.session_key if hasattr(request, "session") else None
    if grant:
        try:
            groups = granted_groups(request.user, grant, session_key)
        except signing.BadSignature:
            return _error(400, "bad_groups", "The groups were not granted to this user.")
        if WATCH_GROUP in groups and not request.user.is_staff:  # re-checked at every mint: demoted
            return _error(403, "staff_only", "The staff dashboard's group is for staff only.")
    return JsonResponse(
        {"token": token_for_user(request.user, groups, session_key), "max_age": token_max_age()}
    )


@require_POST
@csrf_protect
def bind(request: HttpRequest) -> JsonResponse:
    """Bind the posting page's connection (``client_id`` + ``proof``) to the session user's uid."""
    if not request.user.is_authenticated:
        return _error(403, "login_required", "Log in to bind a connection.")
    form = ConnectionProofForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": "invalid", "errors": form.errors.get_json_data()}, status=400)
    return JsonResponse({"bound": gateway.bind_uid(form.cleaned_data["client_id"], request.user.pk)})
