"""Daphne specifics, contained here: the Twisted protocol of each WebSocket, named in its scope.

Daphne's ``create_application`` is wrapped once (:func:`name_connections`) so that each WebSocket's scope
names its protocol, as pushapp's own server names itself. Through it:

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
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ...conf import push_settings
from ..limits import FrameRate, control_frame_refusal
from .base import EXTENSION, HTTP_EXTENSION
from .outbox import OutboxSink, close_linger

logger = logging.getLogger(__name__)

#: Seconds the hub may take to stop on a graceful shutdown (a Redis that stopped answering must not keep
#: the process alive: presence expires on its own).
SHUTDOWN_SECONDS = 15.0


class WebSocketProtocol(Protocol):
    """What pushapp uses of daphne's ``WebSocketProtocol`` (autobahn's, on Twisted): the handle of a
    :class:`DaphneSink` (tests/test_dependency_internals.py checks each name against the installed
    releases)."""

    factory: Any
    transport: Any
    server: Any
    state: int
    STATE_OPEN: int
    maxMessagePayloadSize: int
    maxFramePayloadSize: int
    failByDrop: bool
    closeHandshakeTimeout: float

    def sendCloseFrame(
        self, code: int | None = None, reasonUtf8: bytes | None = None, isReply: bool = False
    ) -> None: ...

    def processControlFrame(self) -> bool: ...


def name_connections() -> None:
    """Have daphne name the protocol of each WebSocket in its scope (the :data:`~.base.EXTENSION`), as
    pushapp's own server does, so that the consumer writes to its socket directly. Daphne has no hook
    for it: its ``Server.create_application`` is wrapped, once, when daphne's server is loaded (it is
    before any application instance is made, under ``daphne``, ``runserver`` and ``pushserve``).
    Otherwise connections are written to through ASGI ``send``: correct, and slower."""
    module = sys.modules.get("daphne.server")
    server = getattr(module, "Server", None)
    if server is None or getattr(server.create_application, "pushapp_names", False):
        return
    create_application = server.create_application

    def named(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        if scope.get("type") == "websocket":
            scope["extensions"] = {
                **(scope.get("extensions") or {}),
                EXTENSION: (DaphneSink, protocol),
            }
        elif scope.get("type") == "http" and scope.get("path", "").startswith(f"/{push_settings.PATH}sse/"):
            scope["extensions"] = {
                **(scope.get("extensions") or {}),
                HTTP_EXTENSION: {"backlog": lambda: request_backlog(protocol)},
            }
        return create_application(self, protocol, scope)

    named.pushapp_names = True  # type: ignore[attr-defined]
    server.create_application = named


def request_backlog(request: Any) -> int:
    """Bytes waiting unsent to the socket of daphne's HTTP ``request``; -1 once it is closed."""
    transport = getattr(getattr(request, "channel", None), "transport", None)
    if transport is None or getattr(transport, "disconnected", True):
        return -1
    try:
        return buffered_bytes(transport)
    except AttributeError:  # not a plain TCP transport (TLS): not measured
        return 0


def reject(protocol: WebSocketProtocol, status: int) -> bool:
    """Answer a pending handshake with HTTP ``status``, as daphne's own rejection does with 403 (its ASGI
    rejection knows no other status). False when the handshake is over."""
    if not hasattr(protocol, "handshake_deferred"):
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


def limit_message_size(handle: WebSocketProtocol, max_bytes: int) -> None:
    """Make autobahn (``handle`` is daphne's protocol) close with 1009 on a message over ``max_bytes``."""
    _lean_protocols(handle.factory)
    handle.maxMessagePayloadSize = max_bytes
    handle.maxFramePayloadSize = max_bytes
    handle.failByDrop = False  # send the close frame with its code instead of dropping the TCP connection


def limit_control_frames(handle: WebSocketProtocol, rate: FrameRate) -> None:
    """Count the control frames of ``handle`` (daphne's protocol) against ``rate`` and its pongs against
    MAX_BUFFERED_BYTES. autobahn reads every control frame in ``processControlFrame`` and answers a ping
    there (``onPing``: ``sendPong``) with no limit of its own: this connection's runs
    :func:`_control_frame` first."""
    handle.processControlFrame = functools.partial(_control_frame, handle, rate)  # type: ignore[method-assign]  # this connection's own


_PING = 0x9


def _control_frame(protocol: Any, rate: FrameRate) -> bool:
    if is_open(protocol):
        ping = protocol.current_frame.opcode == _PING
        code = control_frame_refusal(rate, ping, buffered_bytes(protocol.transport))
        if code is not None:
            DaphneSink.end(protocol, code, close_linger(code))  # closing: autobahn answers no more pings
    answered: bool = type(protocol).processControlFrame(protocol)
    return answered


def is_open(protocol: WebSocketProtocol) -> bool:
    return bool(protocol.state == protocol.STATE_OPEN)


def close(protocol: WebSocketProtocol, code: int) -> None:
    """Send a close frame with any code: autobahn's sendClose() refuses 1009 and 1012, its frame writer
    does not."""
    protocol.sendCloseFrame(code=code, isReply=False)


#: Per transport class: whether its socket may be written to directly. daphne's ``ssl:`` endpoints wrap the
#: TCP transport in Twisted's TLS protocol, which passes every attribute it lacks to the transport
#: underneath (``TLS`` too, which then reads False): bytes sent to that socket would go out unencrypted.
_PLAIN: dict[type, bool] = {}


def _plain(transport: Any) -> bool:
    kind = type(transport)
    plain = _PLAIN.get(kind)
    if plain is None:
        from twisted.internet.interfaces import ISSLTransport

        plain = _PLAIN[kind] = not ISSLTransport.providedBy(transport)
    return plain and not transport.TLS  # a plain TCP transport that started TLS itself


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
        and _plain(transport)
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


def adopt_connection(factory: Any) -> Callable[[Any, bytes], None]:
    """The front end's fallback (:mod:`.front`): Twisted serves the socket with daphne's ``factory``,
    starting from the bytes the front end already read off it."""
    from twisted.internet import reactor

    def fallback(sock: Any, data: bytes) -> None:
        transport = reactor.adoptStreamConnection(sock.fileno(), sock.family, factory)
        sock.close()  # Twisted holds its own duplicate
        if transport is not None:
            transport.protocol.dataReceived(data)

    return fallback


def forwarded_address(
    headers: list[tuple[bytes, bytes]], peer: list[Any] | None
) -> tuple[list[Any] | None, str]:
    """The client's address and scheme from a trusted proxy's X-Forwarded-For/-Port/-Proto, as daphne's
    ``--proxy-headers`` reads them (for pushapp's own server, :mod:`.native`): of a header sent twice, the
    first line, as daphne does (``dict(headers)`` kept the last: a client could pick its address)."""
    from daphne.utils import parse_x_forwarded_for

    first: dict[bytes, bytes] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    address, scheme = parse_x_forwarded_for(
        first, "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", peer, "ws"
    )
    return address, {"https": "wss", "http": "ws"}.get(scheme, scheme)


class DaphneSink(OutboxSink[WebSocketProtocol]):
    """Writes straight to the Twisted transports behind daphne's WebSocket protocols."""

    limit_frame_size = staticmethod(limit_message_size)
    limit_control_frames = staticmethod(limit_control_frames)

    @staticmethod
    async def abort(handle: WebSocketProtocol, code: int) -> None:
        close(handle, code)  # any code: the ASGI close event cannot carry 1013 on daphne

    @staticmethod
    def backlog(handle: WebSocketProtocol) -> int:
        return buffered_bytes(handle.transport) if is_open(handle) else -1

    @staticmethod
    def transmit(handle: WebSocketProtocol, data: bytes) -> None:
        write(handle.transport, data)

    @staticmethod
    def end(handle: WebSocketProtocol, code: int, linger: float | None) -> None:
        if linger is not None:
            handle.closeHandshakeTimeout = linger
        close(handle, code)
