"""The dashboard's views: staff only (anonymous users go to the login page, others get a 403).

Sync views: under ASGI Django runs them in a worker thread, where the sync gateway and queries are safe.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ... import gateway, queries
from ...exceptions import InvalidClientId, PushappError
from ...protocol.names import validate_client_id
from ...runtime.telemetry import WATCH_GROUP
from ..stats import snapshot
from .forms import DisconnectForm, SendForm

View = Callable[..., HttpResponse]


def staff_only(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user: Any = request.user
        if not user.is_authenticated:
            # Imported here: django.contrib.auth's views load its models, and pushapp.urls must not
            # need django.contrib.auth installed.
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("The pushapp dashboard is for staff.")
        return view(request, *args, **kwargs)

    return wrapped


def find(query: str) -> list[dict[str, Any]]:
    """The connections of a uid, or the one with that client id: uid, groups and session of each."""
    try:
        client_ids = [validate_client_id(query)]
    except InvalidClientId:
        client_ids = queries.get_client_id_by_uid(query)
    else:
        client_ids = client_ids if queries.is_online(query) else []
    if not client_ids:
        return []
    groups_of: dict[str, list[str]] = {}
    for group, members in queries.get_all_group_client_id_list().items():
        for client_id in members:
            groups_of.setdefault(client_id, []).append(group)
    return [
        {
            "client_id": client_id,
            "uid": queries.get_uid_by_client_id(client_id),
            "groups": sorted(groups_of.get(client_id, [])),
            "session": gateway.get_session(client_id),
        }
        for client_id in sorted(client_ids)
    ]


def _back(notice: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("pushapp:dashboard") + "?" + urlencode({"notice": notice}))


@require_GET
@never_cache
@staff_only
def dashboard(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    results: list[dict[str, Any]] | None = None
    error = None
    if query:
        try:
            results = find(query)
        except PushappError as err:
            error = str(err)
    context = {
        "data": snapshot(top=10),
        "query": query,
        "results": results,
        "error": error,
        "notice": request.GET.get("notice", ""),
        "send_form": SendForm(),
        "watch_group": WATCH_GROUP,
    }
    return render(request, "pushapp/dashboard.html", context)


@require_POST
@staff_only
def send(request: HttpRequest) -> HttpResponse:
    form = SendForm(request.POST)
    if not form.is_valid():
        return _back(f"not sent: {form.errors.as_text()}")
    target, name, message = (form.cleaned_data[k] for k in ("target", "name", "message"))
    try:
        if target == "uid":
            gateway.send_to_uid(name, message)
        else:
            gateway.send_to_group(name, message)
    except PushappError as err:
        return _back(f"not sent: {err}")
    return _back(f"sent to {target} {name!r}")


@require_POST
@staff_only
def disconnect(request: HttpRequest) -> HttpResponse:
    form = DisconnectForm(request.POST)
    if not form.is_valid():
        return _back(f"not disconnected: {form.errors.as_text()}")
    client_id = form.cleaned_data["client_id"]
    online = gateway.close_client(client_id)
    return _back(f"disconnected {client_id}" if online else f"{client_id} was not online")
