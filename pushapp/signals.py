"""Connection events, the equivalents of GatewayWorker's Events::onConnect, onClose and onMessage.

Receivers may be sync (they run in a worker thread, where the ORM is safe) or async (Django 5+).
The ``sender`` is :class:`pushapp.consumer.PushConsumer`.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.dispatch import Signal

#: A connection authenticated and was welcomed. Arguments: ``client_id``, ``uid``, ``scope``.
client_connected = Signal()
#: A connection closed; it has already left its groups and uid. Arguments: ``client_id``, ``uid``.
client_disconnected = Signal()
#: A client sent ``{"type": "message", "data": …}``. Arguments: ``client_id``, ``uid``, ``data``.
message_received = Signal()


async def dispatch(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` from async code: one thread hop, and none at all when nobody listens."""
    if signal.has_listeners(sender):
        await database_sync_to_async(signal.send)(sender, **kwargs)
