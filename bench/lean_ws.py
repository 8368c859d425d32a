"""A deliberately small client side of RFC 6455 on an asyncio Protocol, for holding 10,000 sockets.

Clients share two cores with the server and Redis. A general-purpose client (the ``websockets`` library)
spends tens of microseconds per received frame in its parser and task wake-ups, which would make the
clients, not the server, the bottleneck at 100k deliveries/s. This one parses frames straight out of
``data_received`` with no task per connection and no copy of complete frames, and hands each message to
a callback with the time the bytes were read. It speaks only what the benchmark needs: no extensions (so
no compression), no keepalive pings of its own (it answers the server's), no fragmentation on send.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import Callable
from time import time as _clock  # wall clock: the producer stamps messages with time.time()

from tests.support.rawws import client_frame

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 65536

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: ``on_message(connection, payload, received_at)``: one complete text or binary message.
OnMessage = Callable[["LeanWebSocket", bytes, float], None]


class HandshakeError(Exception):
    """The server refused the upgrade, or closed the socket before the welcome message."""


def upgrade_request(host: str, path: str, key: bytes, origin: str) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode('ascii')}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {origin}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class LeanWebSocket(asyncio.Protocol):
    """One client connection. ``opened`` resolves on the server's first message (the welcome frame).

    ``first_frame`` (a text message) is sent as soon as the upgrade is accepted: pushapp's auth frame.
    After the welcome every message goes to ``on_message``.
    """

    __slots__ = (
        "_buffer",
        "_first_frame",
        "_fragments",
        "_key",
        "_on_message",
        "_request",
        "close_code",
        "closed",
        "index",
        "opened",
        "received",
        "transport",
        "upgraded",
    )

    def __init__(
        self,
        index: int,
        host: str,
        path: str,
        origin: str,
        first_frame: bytes | None,
        on_message: OnMessage,
        opened: asyncio.Future[None],
        closed: asyncio.Future[None],
    ) -> None:
        self.index = index
        self._key = base64.b64encode(os.urandom(16))
        self._request = upgrade_request(host, path, self._key, origin)
        self._first_frame = first_frame
        self._on_message = on_message
        self._buffer = b""
        self._fragments: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.opened = opened
        self.closed = closed
        self.close_code: int | None = None
        self.received = 0  # messages of the current run; counted and reset by the client's sink

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost before the welcome ({exc!r})"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = _clock()
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = data
                if len(data) > _MAX_HEAD:
                    self._fail("the upgrade response is too long")
                return
            self._check_upgrade(data[:end])
            if self.transport is None:
                return
            data = data[end + 4 :]
        self._frames(data, now)

    # -- sending ---------------------------------------------------------------------------------------

    def send_text(self, text: bytes) -> None:
        if self.transport is not None:
            self.transport.write(client_frame(OP_TEXT, text))

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; the server's close frame (or a timeout) ends the connection."""
        if self.transport is not None and self.close_code is None:
            self.close_code = code
            self.transport.write(client_frame(OP_CLOSE, struct.pack("!H", code)))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- parsing ---------------------------------------------------------------------------------------

    def _check_upgrade(self, head: bytes) -> None:
        status, _, rest = head.partition(b"\r\n")
        if not status.startswith(b"HTTP/1.1 101"):
            self._fail(f"upgrade refused: {status.decode('latin-1')}")
            return
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest())
        headers = {}
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"sec-websocket-accept") != accept:
            self._fail("bad Sec-WebSocket-Accept")
            return
        self.upgraded = True
        if self._first_frame is not None:
            self.send_text(self._first_frame)

    def _frames(self, data: bytes, now: float) -> None:
        pos = 0
        size = len(data)
        while size - pos >= 2:
            first = data[pos]
            length = data[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            self._frame(first, data[start:end], now)
            pos = end
            if self.transport is None:
                return
        if pos < size:
            self._buffer = data[pos:]

    def _frame(self, first: int, payload: bytes, now: float) -> None:
        opcode = first & 0x0F
        if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if not first & 0x80:  # a fragment: keep it until the final one
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                self._fragments = []
            if self.opened.done():
                self._on_message(self, payload, now)
            elif b'"welcome"' in payload:
                self.opened.set_result(None)
            else:
                self._fail(f"expected a welcome frame, got {payload[:200]!r}")
        elif opcode == OP_PING:
            if self.transport is not None:
                self.transport.write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.close_code is None:  # the server started it: answer, as the RFC asks
                self.close_code = code
                if self.transport is not None:
                    self.transport.write(client_frame(OP_CLOSE, payload[:2]))
            if not self.opened.done():
                self.opened.set_exception(HandshakeError(f"closed with {code} before the welcome"))
            if self.transport is not None:
                self.transport.close()

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
        self.abort()
