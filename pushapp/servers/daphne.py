"""Daphne specifics, contained here: reaching the Twisted protocol behind an ASGI ``send``.

Daphne hands each application ``functools.partial(server.handle_reply, protocol)``. Through it:

- autobahn enforces the frame size limit itself: it closes with 1009 before buffering a huge frame (the
  ASGI ``websocket.close`` event cannot carry 1009 on daphne: autobahn only sends 1000 or 3000-4999);
- :class:`DaphneSink` writes a broadcast frame, encoded once, straight to each socket's transport, instead
  of letting autobahn frame the same payload again for every recipient (GatewayWorker's
  ``protocolAccelerate``). The transport's buffer then shows which clients do not keep up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .. import telemetry
from ..codes import CloseCode
from ..conf import push_settings
from ..limits import report
from ..protocol import Payload
from ..registry import Connection
from .base import Sink

logger = logging.getLogger(__name__)

#: Seconds a client closed for not reading (4005) has to read its backlog and the close frame.
SLOW_CLOSE_SECONDS = 10.0
#: Seconds the hub may take to stop on a graceful shutdown (a Redis that stopped answering must not keep
#: the process alive: presence expires on its own).
SHUTDOWN_SECONDS = 15.0


def protocol_of(send: Any) -> Any | None:
    """The daphne WebSocketProtocol behind ``send``, or None on any other server."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    if type(protocol).__module__ != "daphne.ws_protocol":
        return None
    return protocol


def reject(send: Any, status: int) -> bool:
    """Answer a pending handshake with HTTP ``status``, as daphne's own rejection does with 403 (its ASGI
    rejection knows no other status). False when ``send`` is not daphne's."""
    protocol = protocol_of(send)
    if protocol is None or not hasattr(protocol, "handshake_deferred"):
        return False
    from autobahn.websocket.types import ConnectionDeny

    protocol.handshake_deferred.errback(
        ConnectionDeny(code=status, reason="Not Found" if status == 404 else "")
    )
    del protocol.handshake_deferred
    protocol.server.protocol_disconnected(protocol)
    return True


class _Later:
    """A log argument computed only if the line is written: ``function(*args)`` when formatted."""

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args

    def __str__(self) -> str:
        return str(self.function(*self.args))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _later(function: Callable[..., Any], only: type | None = None) -> Callable[..., Any]:
    def deferred(*args: Any) -> Any:
        if only is not None and not isinstance(args[0], only):
            return function(*args)
        return _Later(function, args)

    deferred.__wrapped__ = function  # type: ignore[attr-defined]
    return deferred


#: autobahn's helpers that format debug log arguments, per module: each call is made eagerly, even with
#: debug logging off (pretty-printing 29 settings per accept, colouring names with click and printing the
#: close reason's traceback per close: a tenth of an accept's CPU, a quarter of a close's). Only lists
#: go to ``pformat`` as a log argument alone (a dict is formatted for a ``__str__``).
_EAGER_LOG_ARGUMENTS: dict[str, dict[str, type | None]] = {
    "autobahn.websocket.protocol": {"pformat": list, "hltype": None, "hlval": None},
    "autobahn.twisted.websocket": {"hltype": None, "hlval": None},
}


def _lean_protocols(factory: Any) -> None:
    """Once per daphne server, cut two costs autobahn adds to every connection:

    - its debug log arguments are computed only if a debug line is written (:data:`_EAGER_LOG_ARGUMENTS`);
    - it copies 29 settings from the factory onto each connection: the protocol class now carries the
      factory's values (final once daphne serves), so each connection keeps only what differs.
    """
    if getattr(factory, "_pushapp_lean", False):
        return
    factory._pushapp_lean = True
    for name, helpers in _EAGER_LOG_ARGUMENTS.items():
        module = sys.modules.get(name)
        for helper, only in helpers.items():
            function = getattr(module, helper, None)
            if function is not None and not hasattr(function, "__wrapped__"):
                setattr(module, helper, _later(function, only))
    base = factory.protocol
    settings = {}
    for name in getattr(base, "CONFIG_ATTRS", ()):
        value = getattr(factory, name)
        settings[name] = staticmethod(value) if callable(value) else value
    factory.protocol = type(base.__name__, (base,), {**settings, "__module__": base.__module__})


def limit_message_size(handle: Any, max_bytes: int) -> None:
    """Make autobahn (``handle`` is daphne's protocol) close with 1009 on a message over ``max_bytes``."""
    _lean_protocols(handle.factory)
    handle.maxMessagePayloadSize = max_bytes
    handle.maxFramePayloadSize = max_bytes
    handle.failByDrop = False  # send the close frame with its code instead of dropping the TCP connection


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

    async def bounded() -> None:
        try:
            await asyncio.wait_for(callback(), SHUTDOWN_SECONDS)
        except TimeoutError:
            logger.warning("pushapp: the hub did not stop within %s s; exiting anyway", SHUTDOWN_SECONDS)

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(bounded()))
    )
    return True


class _ServerFrame(bytes):
    """A queued frame of the server's own (welcome, pong, error): not a push, so never counted as one."""


#: What waits for one connection: a frame, or a list of them once there are several (a lone frame is not
#: wrapped: a fan-out to 10,000 then allocates no list, so no garbage-collector pass, per recipient).
Queued = bytes | list[bytes]


def _pushes(queued: Queued) -> int:
    if type(queued) is list:
        return sum(1 for frame in queued if type(frame) is bytes)
    return 1 if type(queued) is bytes else 0


#: Connections written at once when a push finds nothing queued: the first sockets of a fan-out do not
#: wait until the frame is queued for the last one (the rest go out once this loop iteration is over).
FIRST_SLICE = 64


class DaphneSink(Sink):
    """Frames encoded once per message, queued per connection, written once per loop iteration.

    A burst of messages thus costs one system call per connection, not one per message. Every frame to
    the connection, pushes and the server's own alike, goes through the same queue and the same limit:
    a client whose unsent bytes passed ``MAX_BUFFERED_BYTES`` before this iteration's frames is reported to
    ``on_slow`` (the hub closes it with 4005) and what it did not take is counted as dropped: bounded
    memory, no silent loss. Measured before the write, so one large push to a client that reads is fine.
    """

    limit_frame_size = staticmethod(limit_message_size)

    @staticmethod
    async def abort(handle: Any, code: int) -> None:
        close(handle, code)  # any code: the ASGI close event cannot carry 1013 on daphne

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outbox: dict[Connection, Queued] = {}
        self._flush_scheduled = False

    def _queue(self, conn: Connection, frame: bytes) -> None:
        queued = self._outbox.get(conn)
        if queued is None:
            self._outbox[conn] = frame
        elif type(queued) is list:
            queued.append(frame)
        else:
            self._outbox[conn] = [queued, frame]  # type: ignore[list-item]

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    async def deliver(self, conns: Sequence[Connection], payload: Payload) -> None:
        frame = encode_frame(*payload)
        self.counters.delivered += len(conns)
        outbox = self._outbox
        if not outbox and len(conns) > FIRST_SLICE:
            limit = push_settings.MAX_BUFFERED_BYTES
            for conn in conns[:FIRST_SLICE]:
                self._write(conn, frame, limit)
            conns = conns[FIRST_SLICE:]
        get = outbox.get
        for conn in conns:  # _queue() inlined: a method call per recipient is a fan-out's cost too
            queued = get(conn)
            if queued is None:
                outbox[conn] = frame
            elif type(queued) is list:
                queued.append(frame)
            else:
                outbox[conn] = [queued, frame]  # type: ignore[list-item]
        if conns:
            self._schedule()

    async def send(self, conn: Connection, text: str) -> None:
        self._queue(conn, _ServerFrame(encode_frame(text, None)))
        self._schedule()

    def flush(self) -> None:
        """Write every connection's queued frames."""
        outbox, self._outbox = self._outbox, {}
        self._flush_scheduled = False
        limit = push_settings.MAX_BUFFERED_BYTES
        for conn, queued in outbox.items():
            if isinstance(queued, list):
                self._write(conn, b"".join(queued), limit, queued)
            else:
                self._write(conn, queued, limit)

    def _write(self, conn: Connection, data: bytes, limit: int, queued: Queued | None = None) -> None:
        """Write ``data`` (``queued``, joined) to ``conn``, or count it as lost: closing, or too slow."""
        counters = self.counters
        protocol = conn.handle
        frames = data if queued is None else queued
        if not is_open(protocol):  # closing since: checked once per connection, not per frame
            lost = _pushes(frames)
            counters.delivered -= lost
            telemetry.stats.drops["closed"] += lost
            return
        transport = protocol.transport
        backlog = buffered_bytes(transport)
        if backlog > limit:
            # It has not taken what it was sent before: these frames, and what waits, are lost.
            lost = _pushes(frames)
            counters.delivered -= lost
            counters.dropped += lost
            counters.dropped_bytes += backlog + len(data)
            telemetry.stats.drops["slow"] += lost
            report("slow_client", f"{conn.client_id} does not read its messages ({backlog} bytes wait)")
            self.on_slow(conn)
            return
        try:
            write(transport, data)
        except Exception:
            lost = _pushes(frames)
            counters.delivered -= lost
            counters.dropped += lost
            logger.warning("pushapp: dropped a message to %s", conn.client_id, exc_info=True)
            telemetry.stats.drops["error"] += lost

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        protocol = conn.handle
        if code == CloseCode.TOO_SLOW:
            # Its close frame waits behind everything it has not read: give it time to get there, so a
            # reader that stalled and resumes learns why (memory stays bounded: nothing more is queued).
            protocol.closeHandshakeTimeout = SLOW_CLOSE_SECONDS
        queued = self._outbox.pop(conn, None)  # pushes of this loop iteration go out first
        frames: list[bytes] = [] if queued is None else queued if isinstance(queued, list) else [queued]
        if message is not None:
            frames.append(encode_frame(*message))
        if frames and is_open(protocol):
            write(protocol.transport, b"".join(frames))
        close(protocol, code)
