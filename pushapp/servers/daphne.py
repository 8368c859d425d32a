"""Daphne specifics, contained here: reaching the Twisted protocol behind an ASGI ``send``.

Daphne hands each application ``functools.partial(server.handle_reply, protocol)``. Through it we let
autobahn enforce the frame size limit itself (it closes with 1009 before buffering a huge frame, and the
ASGI ``websocket.close`` event cannot carry 1009 on daphne: autobahn only sends 1000 or 3000-4999).
"""

from __future__ import annotations

import functools
from typing import Any


def protocol_of(send: Any) -> Any | None:
    """The daphne WebSocketProtocol behind ``send``, or None on any other server."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    if type(protocol).__module__ != "daphne.ws_protocol":
        return None
    return protocol


def limit_message_size(send: Any, max_bytes: int) -> bool:
    """Make daphne close with 1009 on a message over ``max_bytes``; False when not on daphne."""
    protocol = protocol_of(send)
    if protocol is None:
        return False
    protocol.maxMessagePayloadSize = max_bytes
    protocol.maxFramePayloadSize = max_bytes
    return True
