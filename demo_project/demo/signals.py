"""Receivers: Django-side events pushed to pages, and pages' messages answered."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models.signals import post_save
from django.dispatch import receiver

from pushapp import gateway
from pushapp.signals import message_received, push_unacknowledged

from .models import Note


@receiver(post_save, sender=Note, dispatch_uid="demo.push_saved_note")
def push_saved_note(sender: type[Note], instance: Note, created: bool, **kwargs: Any) -> None:
    """Tell the owner's pages once the save is committed: a rolled-back note must not be announced."""
    data = {"type": "note.saved", "id": instance.pk, "text": instance.text, "created": created}
    gateway.send_to_uid(instance.owner_id, data, on_commit=True)


@receiver(message_received, dispatch_uid="demo.echo")
def echo(sender: Any, client_id: str, uid: str | None, data: Any, **kwargs: Any) -> None:
    """Answer what a page sent with ``pushapp.send()``: browser to Django and back, on one connection.

    pushapp runs sync receivers in a worker thread, so the sync gateway call is allowed here.
    """
    gateway.send_to_client(client_id, {"type": "echo", "uid": uid, "data": data})


@receiver(push_unacknowledged, dispatch_uid="demo.mail_unread_lock")
def mail_unread_lock(sender: Any, uid: str, data: Any, stream: str, offset: int, **kwargs: Any) -> None:
    """No page of the rider acknowledged the lock's push in time (none was open, or none was visible):
    e-mail it instead. Fired once in the whole cluster, by one server process (docs/delivery.md); the
    demo's mail goes to the console."""
    if not isinstance(data, dict) or data.get("type") != "bike.locked":
        return
    user = get_user_model().objects.filter(pk=uid).first()
    if user is None:
        return
    address = user.email or f"{user.get_username()}@example.com"
    body = f"Your bike (order {data.get('order_id')}) was locked at {data.get('locked_at')}."
    send_mail("Your bike is locked", body, "demo@example.com", [address])
