"""Connection events, the equivalents of GatewayWorker's Events::onConnect, onClose and onMessage.

Receivers may be sync (they run in a worker thread, where the ORM is safe) or async (Django 5+).
The ``sender`` is :class:`pushapp.consumer.PushConsumer` (``None`` for the presence events).
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

# Presence events (docs/presence.md): each fired once in the whole cluster, by one process, with sender
# None. Connections without a uid have none.
#: A uid's first connection anywhere appeared. Arguments: ``uid``.
uid_online = Signal()
#: A uid's last connection is gone (closed, or its server crashed: within the presence bound). ``uid``.
uid_offline = Signal()
#: A uid's first connection in ``group`` joined it. Arguments: ``uid``, ``group``.
group_member_joined = Signal()
#: A uid's last connection in ``group`` left it (or closed, or its server crashed). ``uid``, ``group``.
group_member_left = Signal()

# Delivery (docs/delivery.md): fired once in the whole cluster, by one server process, with sender None.
#: A push sent with ``send_to_uid(…, ack_within=…)`` was not acknowledged in time by any connection of its
#: uid. Arguments: ``uid``, ``data`` (the push's data), ``stream``, ``offset``.
push_unacknowledged = Signal()


async def dispatch(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` from async code: one thread hop, and none at all when nobody listens."""
    if signal.has_listeners(sender):
        await database_sync_to_async(signal.send)(sender, **kwargs)
