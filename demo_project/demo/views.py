"""Pages of the logged-in user. Actions that must not reload the page (which would drop its connection,
and with it the group memberships and the very push being waited for) answer JSON to the page's fetch().
"""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pushapp import gateway
from pushapp.forms import ConnectionProofForm

from .api import api_key
from .forms import NoteForm, RoomMessageForm
from .models import BikeOrder, Note


class UserRequest(HttpRequest):
    """A request that passed ``login_required``: its user is not anonymous."""

    user: User


def _invalid(form: ConnectionProofForm | NoteForm | RoomMessageForm) -> JsonResponse:
    return JsonResponse({"error": "invalid", "errors": form.errors.get_json_data()}, status=400)


def _room_group(name: str) -> str:
    return f"room:{name}"


@require_GET
@login_required
def index(request: UserRequest) -> HttpResponse:
    """Live notifications: every push to this user appears here, along with the ways to cause one."""
    return render(
        request,
        "demo/index.html",
        {
            "orders": BikeOrder.objects.filter(owner=request.user)[:5],
            "notes": Note.objects.filter(owner=request.user)[:5],
            "note_form": NoteForm(),
            "api_key": api_key(),  # shown in the curl examples: this is a demo
            "api_url": request.build_absolute_uri(reverse("pushapp:api")),
            "callback_url": request.build_absolute_uri(reverse("demo:bike_callback")),
        },
    )


@require_POST
@login_required
def create_order(request: UserRequest) -> HttpResponse:
    """Start a ride, so that the lock callback has an order to find."""
    BikeOrder.objects.create(owner=request.user)
    return redirect(reverse("demo:index") + "#bike")


@require_POST
@login_required
def create_note(request: UserRequest) -> JsonResponse:
    """Save a note; the post_save receiver pushes it (signals.py), this answer only acknowledges."""
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(form)
    form.instance.owner = request.user
    note = form.save()
    return JsonResponse({"id": note.pk}, status=201)


@require_GET
@login_required
def room(request: UserRequest, name: str) -> HttpResponse:
    return render(request, "demo/room.html", {"room": name, "form": RoomMessageForm()})


@require_POST
@login_required
def room_join(request: UserRequest, name: str) -> JsonResponse:
    """Add the posting page's connection to the room, once it proved the connection is its own."""
    form = ConnectionProofForm(request.POST)
    if not form.is_valid():
        return _invalid(form)
    client_id = form.cleaned_data["client_id"]
    joined = gateway.join_group(client_id, _room_group(name))
    if joined:
        gateway.send_to_group(
            _room_group(name),
            {"type": "room.joined", "room": name, "user": request.user.get_username()},
            exclude=[client_id],
        )
    return JsonResponse({"joined": joined})


@require_POST
@login_required
def room_leave(request: UserRequest, name: str) -> JsonResponse:
    form = ConnectionProofForm(request.POST)
    if not form.is_valid():
        return _invalid(form)
    return JsonResponse({"left": gateway.leave_group(form.cleaned_data["client_id"], _room_group(name))})


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
