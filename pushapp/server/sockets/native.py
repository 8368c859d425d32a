"""pushapp's own WebSocket server for the push path: RFC 6455 on an asyncio Protocol, nothing more.

Daphne serves a WebSocket through Twisted, autobahn and an ASGI application queue: about 12 KB of Python
objects and 2 ms of CPU per connection before pushapp runs (docs/performance.md). A push connection needs
far less: a handshake, a frame parser for the few frames a client sends, and a socket the hub writes
broadcast frames to. This module is that, as a minimal ASGI WebSocket server: it runs the same ASGI
application as daphne (so the origin check, the consumer, its limits and close codes are the same code),
with ``receive`` and ``send`` implemented on the protocol object itself, no queue or task of its own.

It speaks only what a push connection needs: no extensions (permessage-deflate offers are declined), no
keepalive pings of its own (pushapp's heartbeat decides when a client is gone), no TLS (terminate it at
the proxy, as with daphne). Every violation of the protocol closes that connection with the code RFC 6455
gives (1002, 1007, 1009), or answers the handshake with an HTTP error, and touches nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from ...codes import CloseCode
from ..limits import FrameRate, control_frame_refusal
from .base import EXTENSION
from .handshake import MAX_HEAD, HandshakeError, accept_key, check_upgrade, http_error, parse_head
from .outbox import OutboxSink, close_linger, encode_frame

logger = logging.getLogger(__name__)

#: Seconds a new socket has to send its whole handshake.
HANDSHAKE_SECONDS = 10.0
#: Seconds the client has to answer our close frame before the socket is dropped.
CLOSE_SECONDS = 5.0
#: Largest message before the application sets its own limit (``limit_frame_size``).
DEFAULT_MAX_MESSAGE = 1 << 20
#: Receive events waiting for the application before the socket stops being read (backpressure).
MAX_PENDING_EVENTS = 64
#: The scope's ``asgi`` entry, shared by every connection (nothing writes to it).
ASGI = {"version": "3.0", "spec_version": "2.3"}

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PROTOCOL_ERROR, INVALID_DATA, MESSAGE_TOO_BIG, INTERNAL_ERROR = 1002, 1007, 1009, 1011
NO_STATUS, ABNORMAL = 1005, 1006

_HANDSHAKE, _CONNECTING, _OPEN, _CLOSING, _FAILED, _CLOSED = range(6)


def unmask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated, as one big-integer operation (C speed, no loop)."""
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def valid_close_code(code: int) -> bool:
    """Whether a client may send ``code`` in a close frame (RFC 6455 section 7.4)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or 3000 <= code <= 4999


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return control_frame(OP_CLOSE, code.to_bytes(2, "big") + reason.encode("utf-8")[:123])


#: ``client_address(headers, peer)``: the client's ``[host, port]`` and scheme (behind a trusted proxy, from
#: its X-Forwarded-* headers).
ClientAddress = Callable[[list[tuple[bytes, bytes]], list[Any] | None], tuple[list[Any] | None, str]]


def peer_address(headers: list[tuple[bytes, bytes]], peer: list[Any] | None) -> tuple[list[Any] | None, str]:
    """The socket's peer: no proxy headers are trusted."""
    return peer, "ws"


class NativeWebSocket(asyncio.Protocol):
    """One push connection: the handshake, the client's frames, and the ASGI ``receive``/``send`` the
    application runs on. The hub writes pushes to :attr:`transport` through :class:`NativeSink`."""

    #: Connections of this server open in this process (for the worker's garbage-collector policy).
    live = 0

    __slots__ = (
        "application",
        "buffer",
        "client_address",
        "close_code",
        "events",
        "fragment_opcode",
        "fragments",
        "fragments_size",
        "key",
        "max_message",
        "rate",
        "state",
        "task",
        "timer",
        "transport",
        "waiter",
    )

    def __init__(
        self, application: Any, data: bytes = b"", client_address: ClientAddress = peer_address
    ) -> None:
        self.application = application
        self.client_address = client_address
        self.buffer = bytearray(data)  # what the front end already read off the socket
        self.state = _HANDSHAKE
        self.transport: Any = None
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.waiter: asyncio.Future[dict[str, Any]] | None = None
        self.events: deque[dict[str, Any]] | None = None
        self.key = b""
        self.fragments: list[bytes] | None = None  # of a message not complete yet
        self.fragment_opcode = OP_TEXT
        self.fragments_size = 0
        self.max_message = DEFAULT_MAX_MESSAGE
        self.rate: FrameRate | None = None  # set by the application: control frames count against it
        self.close_code: int | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        NativeWebSocket.live += 1
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(HANDSHAKE_SECONDS, transport.abort)
        if self.buffer:
            self.data_received(b"")

    def data_received(self, data: bytes) -> None:
        if self.state == _FAILED:
            return  # read and dropped: closing a socket with unread bytes would reset it, close frame and all
        buffer = self.buffer
        buffer += data
        if self.state == _HANDSHAKE:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self.refuse(431, "the handshake's headers are too large")
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            self._handshake(head)
        elif self.state in (_OPEN, _CLOSING):
            self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        NativeWebSocket.live -= 1
        was = self.state
        self.state = _CLOSED
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if was != _HANDSHAKE and self.close_code is None:
            self.close_code = ABNORMAL
            self._emit({"type": "websocket.disconnect", "code": ABNORMAL})

    def pause_writing(self) -> None:
        """Nothing to do: the sink reads the transport's buffer and closes a client that stops reading."""

    def resume_writing(self) -> None:
        """See :meth:`pause_writing`."""

    # -- the handshake -------------------------------------------------------------------------------

    def _handshake(self, head: bytes) -> None:
        if len(head) > MAX_HEAD:
            self.refuse(431, "the handshake's headers are too large")
            return
        try:
            target, headers = parse_head(head)
            self.key, protocols = check_upgrade(headers)
        except HandshakeError as err:
            self.refuse(err.status, str(err), b"Sec-WebSocket-Version: 13\r\n")
            return
        raw_path, _, query = target.partition(b"?")
        peer = self.transport.get_extra_info("peername")
        local = self.transport.get_extra_info("sockname")
        client, scheme = self.client_address(headers, list(peer[:2]) if isinstance(peer, tuple) else None)
        scope = {
            "type": "websocket",
            "asgi": ASGI,
            "http_version": "1.1",
            "scheme": scheme,
            "path": raw_path.decode("latin-1"),  # percent-decoding: the push path has nothing to decode
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": client,
            "server": list(local[:2]) if isinstance(local, tuple) else None,
            "subprotocols": [p for p in protocols if p],
            "extensions": {EXTENSION: (NativeSink, self)},  # who serves it
        }
        self.state = _CONNECTING
        self._emit({"type": "websocket.connect"})
        self.task = asyncio.get_running_loop().create_task(self._run(scope))

    def refuse(self, status: int, detail: str, extra: bytes = b"") -> None:
        """Answer the handshake with HTTP ``status`` and close (:meth:`_linger`: a client still sending its
        head, one over MAX_HEAD in pieces, gets the answer rather than a reset)."""
        if self.state not in (_HANDSHAKE, _CONNECTING):
            return
        self.transport.write(http_error(status, detail, extra))
        self._linger()

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.application(scope, self.receive, self.send)
        except Exception:
            logger.exception("pushapp: the application failed on a WebSocket")
            if self.state == _CONNECTING:
                self.refuse(500, "internal error")
            else:
                self.close(INTERNAL_ERROR)
            return
        if self.state == _CONNECTING:
            self.refuse(403, "refused")  # the application returned without accepting
        elif self.state == _OPEN:
            self.close(CloseCode.NORMAL)

    # -- ASGI ----------------------------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        events = self.events
        if events:
            event = events.popleft()
            left = len(events)
            if left == MAX_PENDING_EVENTS - 1 and self.state != _CLOSED:
                self._frames()
                self.transport.resume_reading()
            if not left and self.events is events:
                self.events = None  # an empty deque is 600 bytes, and most connections are idle
            return event
        if self.state == _CLOSED and self.close_code is not None:
            return {"type": "websocket.disconnect", "code": self.close_code}
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        try:
            return await waiter
        finally:
            self.waiter = None

    def _emit(self, event: dict[str, Any]) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(event)
            return
        if self.events is None:
            self.events = deque()
        self.events.append(event)
        if len(self.events) == MAX_PENDING_EVENTS and self.state != _CLOSED:
            self.transport.pause_reading()  # the application is behind: stop reading the client

    async def send(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "websocket.accept":
            self._accept(event)
        elif kind == "websocket.send":
            if self.state == _OPEN:
                text = event.get("text")
                self.transport.write(encode_frame(text, None if text is not None else event.get("bytes")))
        elif kind == "websocket.close":
            if self.state == _CONNECTING:
                self.refuse(403, "refused")
            else:
                self.close(int(event.get("code") or CloseCode.NORMAL), event.get("reason") or "")
        else:
            raise ValueError(f"pushapp's WebSocket server cannot send {kind!r}")

    def _accept(self, event: dict[str, Any]) -> None:
        if self.state != _CONNECTING:
            return
        lines = [
            b"HTTP/1.1 101 Switching Protocols",
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Accept: " + accept_key(self.key),
        ]
        if event.get("subprotocol"):
            lines.append(b"Sec-WebSocket-Protocol: " + event["subprotocol"].encode("latin-1"))
        for name, value in event.get("headers") or ():
            lines.append(bytes(name) + b": " + bytes(value))
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n")
        self.state = _OPEN
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.buffer:
            self._frames()  # the client did not wait for the 101

    # -- frames --------------------------------------------------------------------------------------

    def _frames(self) -> None:
        """Parse every complete frame in the buffer."""
        buffer = self.buffer
        while len(buffer) >= 2 and self.state in (_OPEN, _CLOSING):
            if self.events is not None and len(self.events) >= MAX_PENDING_EVENTS:
                return  # the rest once the application has read what waits (receive)
            first, second = buffer[0], buffer[1]
            opcode, size, start = first & 0x0F, second & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if first & 0x70:
                return self._fail(PROTOCOL_ERROR)  # a reserved bit: no extension was agreed
            if not second & 0x80:
                return self._fail(PROTOCOL_ERROR)  # clients must mask (RFC 6455 section 5.1)
            if opcode >= OP_CLOSE:
                if not first & 0x80 or size > 125 or opcode > OP_PONG:
                    return self._fail(PROTOCOL_ERROR)
            elif opcode > OP_BINARY:
                return self._fail(PROTOCOL_ERROR)
            elif self.fragments_size + size > self.max_message:
                return self._fail(MESSAGE_TOO_BIG)  # before buffering it
            end = start + 4 + size
            if len(buffer) < end:
                return
            payload = unmask(bytes(buffer[start + 4 : end]), bytes(buffer[start : start + 4]))
            del buffer[:end]
            if opcode >= OP_CLOSE:
                self._control(opcode, payload)
            else:
                self._data(opcode, bool(first & 0x80), payload)

    def _data(self, opcode: int, final: bool, payload: bytes) -> None:
        fragments = self.fragments
        if opcode == OP_CONTINUATION:
            if fragments is None:
                return self._fail(PROTOCOL_ERROR)  # nothing to continue
            fragments.append(payload)
            self.fragments_size += len(payload)
            if not final:
                return None
            self.fragments, self.fragments_size = None, 0
            opcode, payload = self.fragment_opcode, b"".join(fragments)
        elif fragments is not None:
            return self._fail(PROTOCOL_ERROR)  # a new message inside a fragmented one
        elif not final:
            self.fragments, self.fragments_size, self.fragment_opcode = [payload], len(payload), opcode
            return None
        if self.state != _OPEN:
            return None  # closing: what the client sends now is not read (RFC 6455 section 1.4)
        if opcode == OP_TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                return self._fail(INVALID_DATA)
            self._emit({"type": "websocket.receive", "text": text})
        else:
            self._emit({"type": "websocket.receive", "bytes": payload})
        return None

    def _control(self, opcode: int, payload: bytes) -> None:
        if self.state == _OPEN and self.rate is not None:
            size = self.transport.get_write_buffer_size()
            code = control_frame_refusal(self.rate, opcode == OP_PING, size)
            if code is not None:
                self.close(code, linger=close_linger(code))  # closing: nothing more is answered
        if opcode == OP_PING:
            if self.state == _OPEN:
                self.transport.write(control_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self._closed_by_client(payload)

    def _closed_by_client(self, payload: bytes) -> None:
        if len(payload) == 1:
            return self._fail(PROTOCOL_ERROR)
        code = int.from_bytes(payload[:2], "big") if payload else NO_STATUS
        if payload and not valid_close_code(code):
            return self._fail(PROTOCOL_ERROR)
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(INVALID_DATA)
        if self.state == _OPEN:
            self.transport.write(close_frame(1000 if code == NO_STATUS else code))
        self.close_code = code
        self._emit({"type": "websocket.disconnect", "code": code})
        self.state = _CLOSING
        self.buffer.clear()  # nothing after a close frame is read
        if self.timer is None:  # close() waits for what the client has not read: not for ever
            self.timer = asyncio.get_running_loop().call_later(CLOSE_SECONDS, self.transport.abort)
        self.transport.close()  # the server closes the TCP connection first (RFC 6455 section 7.1.1)
        return None

    def _fail(self, code: int) -> None:
        """Fail the connection (RFC 6455 section 7.1.7): the close frame and the end of what we send, then
        what the client still sends is read and dropped until it closes too, or for CLOSE_SECONDS."""
        if self.state == _OPEN:
            self.transport.write(close_frame(code))
            self.close_code = code
            self._emit({"type": "websocket.disconnect", "code": code})
        self._linger()

    def _linger(self) -> None:
        """Stop sending (``FIN``) and drop what the client still sends until it closes too, for at most
        CLOSE_SECONDS: a socket closed with unread bytes is reset, and a reset discards what the client
        has not read yet, our last answer with it."""
        self.state = _FAILED
        self.buffer.clear()
        self.transport.write_eof()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(CLOSE_SECONDS, self.transport.abort)

    # -- closing, for the application and the hub --------------------------------------------------

    def close(self, code: int, reason: str = "", linger: float | None = None) -> None:
        """Send a close frame with any code; drop the socket if the client has not answered in time."""
        if self.state != _OPEN:
            return
        self.state = _CLOSING
        self.transport.write(close_frame(code, reason))
        self.timer = asyncio.get_running_loop().call_later(
            CLOSE_SECONDS if linger is None else linger, self.transport.abort
        )

    def backlog(self) -> int:
        """Bytes not yet taken by the kernel; -1 once closing (the sink's test before each write)."""
        if self.state != _OPEN:
            return -1
        size: int = self.transport.get_write_buffer_size()
        return size


class NativeSink(OutboxSink[NativeWebSocket]):
    """Writes to the asyncio transports of :class:`NativeWebSocket` connections (``handle`` is one).

    asyncio's socket transport writes to the socket at once when nothing waits, and buffers only what the
    kernel did not take: the batching of :class:`OutboxSink` and the transport's buffer size are all the
    slow-client check needs.
    """

    @staticmethod
    def limit_frame_size(handle: NativeWebSocket, max_bytes: int) -> None:
        handle.max_message = max_bytes

    @staticmethod
    def limit_control_frames(handle: NativeWebSocket, rate: FrameRate) -> None:
        handle.rate = rate

    @staticmethod
    async def abort(handle: NativeWebSocket, code: int) -> None:
        handle.close(code)

    @staticmethod
    def backlog(handle: NativeWebSocket) -> int:
        return handle.backlog()

    @staticmethod
    def transmit(handle: NativeWebSocket, data: bytes) -> None:
        handle.transport.write(data)

    @staticmethod
    def end(handle: NativeWebSocket, code: int, linger: float | None) -> None:
        handle.close(code, linger=linger)
