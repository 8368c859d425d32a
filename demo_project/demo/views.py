"""Pages of the logged-in user. Actions that must not reload the page (which would drop its connection,
and with it the room it is in and the very push being waited for) answer JSON to the page's fetch().
"""

import json

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pushapp import gateway

from .api import api_key
from .forms import NoteForm, RoomMessageForm
from .models import BikeOrder, Note


class UserRequest(HttpRequest):
    """A request that passed ``login_required``: its user is not anonymous."""

    user: User


def _invalid(form: NoteForm | RoomMessageForm) -> JsonResponse:
    return JsonResponse({"error": "invalid", "errors": form.errors.get_json_data()}, status=400)


def _room_group(name: str) -> str:
    return f"room:{name}"


def _members(name: str) -> list[dict[str, str]]:
    """Who is in the room now, in the whole cluster (presence), by name."""
    uids = gateway.get_uid_list_by_group(_room_group(name))
    users = User.objects.filter(pk__in=[int(uid) for uid in uids if uid.isdigit()]).order_by("username")
    return [{"uid": str(user.pk), "username": user.get_username()} for user in users]


@require_GET
@login_required
def index(request: UserRequest) -> HttpResponse:
    """Notifications: every push to this user, as toasts and a list; and another service pushing one."""
    notify = {"type": "notify", "message": "hello"}
    body = {"commands": [{"method": "send_to_uid", "params": {"uid": request.user.pk, "data": notify}}]}
    return render(
        request,
        "demo/index.html",
        {
            "api_key": api_key(),  # shown in the curl example: this is a demo
            "api_url": request.build_absolute_uri(reverse("pushapp:api")),
            "api_request": body,  # what the page's own button posts
            "api_body": json.dumps(body, separators=(",", ":")),  # as the page's JS writes it
        },
    )


@require_GET
@login_required
def bike(request: UserRequest) -> HttpResponse:
    """The user's rides; a ride's status turns to locked when the lock's provider calls back."""
    return render(
        request,
        "demo/bike.html",
        {
            "orders": BikeOrder.objects.filter(owner=request.user)[:10],
            "api_key": api_key(),
            "callback_url": request.build_absolute_uri(reverse("demo:bike_callback")),
        },
    )


@require_POST
@login_required
def create_order(request: UserRequest) -> HttpResponse:
    """Start a ride, so that the lock callback has an order to find."""
    BikeOrder.objects.create(owner=request.user)
    return redirect("demo:bike")


@require_http_methods(["GET", "POST"])
@login_required
def notes(request: UserRequest) -> HttpResponse:
    """GET: the user's notes. POST: save one; the post_save receiver pushes it once committed (signals.py),
    and the page shows it from that push. This answer only acknowledges."""
    if request.method == "GET":
        return render(
            request,
            "demo/notes.html",
            {"notes": Note.objects.filter(owner=request.user)[:20], "form": NoteForm()},
        )
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(form)
    form.instance.owner = request.user
    note = form.save()
    return JsonResponse({"id": note.pk}, status=201)


@require_GET
@login_required
def room(request: UserRequest, name: str) -> HttpResponse:
    """A room: the page enters it with ``pushapp.subscribe()``, allowed by demo/push.py."""
    return render(
        request,
        "demo/room.html",
        {"room": name, "group": _room_group(name), "members": _members(name), "form": RoomMessageForm()},
    )


@require_GET
@login_required
def room_members(request: UserRequest, name: str) -> JsonResponse:
    """Who is in the room now: the page's list when it enters, then presence frames keep it live."""
    return JsonResponse({"members": _members(name)})


@require_POST
@login_required
def room_send(request: UserRequest, name: str) -> JsonResponse:
    """Send to every connection in the room, the sender's included."""
    form = RoomMessageForm(request.POST)
    if not form.is_valid():
        return _invalid(form)
    gateway.send_to_group(
        _room_group(name),
        {
            "type": "room.message",
            "room": name,
            "user": request.user.get_username(),
            "text": form.cleaned_data["text"],
        },
    )
    return JsonResponse({"sent": True})
