"""Daphne specifics, contained here: reaching the Twisted protocol behind an ASGI ``send``.

Daphne hands each application ``functools.partial(server.handle_reply, protocol)``. Through it:

- autobahn enforces the frame size limit itself: it closes with 1009 before buffering a huge frame (the
  ASGI ``websocket.close`` event cannot carry 1009 on daphne: autobahn only sends 1000 or 3000-4999);
- the hub writes a broadcast frame, encoded once, straight to each socket's transport, instead of letting
  autobahn frame the same payload again for every recipient (GatewayWorker's ``protocolAccelerate``).
  The transport's buffer then shows which clients do not keep up.
"""

from __future__ import annotations

import asyncio
import functools
import struct
import sys
from collections.abc import Callable, Coroutine
from typing import Any


def protocol_of(send: Any) -> Any | None:
    """The daphne WebSocketProtocol behind ``send``, or None on any other server."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    if type(protocol).__module__ != "daphne.ws_protocol":
        return None
    return protocol


def limit_message_size(protocol: Any, max_bytes: int) -> None:
    """Make autobahn close with 1009 on a message over ``max_bytes``."""
    protocol.maxMessagePayloadSize = max_bytes
    protocol.maxFramePayloadSize = max_bytes
    protocol.failByDrop = False  # send the close frame with its code instead of dropping the TCP connection


def encode_frame(text: str | None, data: bytes | None) -> bytes:
    """One unmasked, unfragmented server-to-client WebSocket frame (RFC 6455 section 5.2)."""
    if text is not None:
        opcode, body = 0x81, text.encode("utf-8")
    else:
        opcode, body = 0x82, data or b""
    size = len(body)
    if size < 126:
        return struct.pack("!BB", opcode, size) + body
    if size < 65536:
        return struct.pack("!BBH", opcode, 126, size) + body
    return struct.pack("!BBQ", opcode, 127, size) + body


def is_open(protocol: Any) -> bool:
    return bool(protocol.state == protocol.STATE_OPEN)


def close(protocol: Any, code: int) -> None:
    """Send a close frame with any code: autobahn's sendClose() refuses 1009 and 1012, its frame writer
    does not."""
    protocol.sendCloseFrame(code=code, isReply=False)


def write(transport: Any, frame: bytes) -> int:
    """Write ``frame`` to a Twisted TCP transport; return the bytes left waiting in its buffer.

    Twisted always buffers a write and registers the socket for writability, then unregisters it once
    flushed: two epoll_ctl calls per message per connection, the top cost of a broadcast. Like Workerman,
    try the socket first when nothing is buffered, and leave to Twisted only what the kernel did not take.
    """
    if (
        not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
        and transport.connected
        and not transport.disconnecting
        and not transport.TLS
    ):
        try:
            sent = transport.socket.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # a dead socket: Twisted's own write path notices and closes it
        if sent == len(frame):
            return 0
        frame = frame[sent:]
    transport.write(frame)
    return buffered_bytes(transport)


def buffered_bytes(transport: Any) -> int:
    """Bytes written to the socket's transport but not yet taken by the kernel (Twisted's buffers)."""
    size: int = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    return size


def on_shutdown(callback: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run ``callback`` when daphne shuts down gracefully (SIGTERM, SIGINT); False if not on daphne.

    Daphne implements no ASGI lifespan; Twisted's reactor waits for its "before shutdown" triggers.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False) or "daphne.server" not in sys.modules:
        return False
    from twisted.internet.defer import Deferred

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(callback()))
    )
    return True
