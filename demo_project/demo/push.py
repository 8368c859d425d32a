"""The demo's subscription hook (``PUSHAPP["AUTHORIZE_SUBSCRIBE"]``): who may enter which group."""

import re
from typing import Any

from pushapp.exceptions import SubscriptionRefused

ROOM = re.compile(r"room:[-a-zA-Z0-9_]+")  # the rooms of demo/urls.py: room:<slug>


def can_subscribe(uid: str | None, session: dict[str, Any], scope: dict[str, Any], group: str) -> bool:
    """Any logged-in user may enter any room; no other group is open to pages."""
    if uid is None:
        raise SubscriptionRefused("log in to enter a room")
    if not ROOM.fullmatch(group):
        raise SubscriptionRefused("only rooms are open")
    return True
